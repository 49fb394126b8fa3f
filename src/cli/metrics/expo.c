/* SPDX-License-Identifier: MIT */
/*
 * The exposition: every family once, with every process's samples under it, labelled pid and
 * exe. Two formats of one content: Prometheus text 0.0.4 (node_exporter's textfile collector,
 * promtool, any scraper) and OpenMetrics 1.0 (what Prometheus asks for first): they differ in
 * a counter's TYPE name (with or without _total), UNIT lines and the closing "# EOF".
 */
#include "metrics/metrics.h"
#include "out/out.h"
#include "target/procstat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <taskscope/taskscope.h>

const char *mx_content_type(enum mx_format f)
{
	return f == MX_OPENMETRICS ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
				   : "text/plain; version=0.0.4; charset=utf-8";
}

/* A label value: valid UTF-8 (the target named its executable), \\, \" and \n escaped. */
static void label_value(FILE *f, const char *s)
{
	char clean[3 * PATH_MAX + 1];
	tsc_utf8_clean(clean, sizeof(clean), s);
	for (const char *p = clean; *p; p++) {
		if (*p == '\\' || *p == '"')
			fputc('\\', f), fputc(*p, f);
		else if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
}

static void family(FILE *f, enum mx_format fmt, const char *name, const char *type,
		   const char *unit, const char *help)
{
	int counter = !strcmp(type, "counter");
	if (fmt == MX_OPENMETRICS) {
		fprintf(f, "# TYPE %s %s\n", name, type);
		if (unit)
			fprintf(f, "# UNIT %s %s\n", name, unit);
		fprintf(f, "# HELP %s %s\n", name, help);
	} else {
		fprintf(f, "# HELP %s%s %s\n", name, counter ? "_total" : "", help);
		fprintf(f, "# TYPE %s%s %s\n", name, counter ? "_total" : "", type);
	}
}

/* name{pid="..",exe=".." then the caller's labels and the value */
static void sample(FILE *f, const char *name, const struct mx_target *t)
{
	fprintf(f, "%s{pid=\"%d\",exe=\"", name, t->pid);
	label_value(f, t->exe);
	fputc('"', f);
}

static void u64_sample(FILE *f, const char *name, const struct mx_target *t, uint64_t v)
{
	sample(f, name, t);
	fprintf(f, "} %llu\n", (unsigned long long)v);
}

static void secs_sample(FILE *f, const char *name, const struct mx_target *t, double v)
{
	sample(f, name, t);
	fprintf(f, "} %.6f\n", v);
}

static int ok(const struct mx_target *t)
{
	return !t->error && t->counted;
}

/* Whether each process could be read, how long that took, since when it runs, its loops. */
static void expose_health(FILE *f, const struct mx_set *s, enum mx_format fmt)
{
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	double wall = (double)rt.tv_sec + (double)rt.tv_nsec / 1e9;
	double boot = (double)tsc_boottime_ns() / 1e9;
	size_t i;

	family(f, fmt, "taskscope_up", "gauge", NULL,
	       "1 when the last scrape read the process's task registry, else 0.");
	for (i = 0; i < s->n; i++)
		u64_sample(f, "taskscope_up", s->t[i], ok(s->t[i]));
	family(f, fmt, "taskscope_scrape_error", "gauge", NULL,
	       "1 with the reason the last scrape of the process failed: exited, exec, inconsistent "
	       "(the registry kept changing), invalid, abi, access, memory, read.");
	for (i = 0; i < s->n; i++) {
		if (!s->t[i]->error)
			continue;
		sample(f, "taskscope_scrape_error", s->t[i]);
		fprintf(f, ",reason=\"%s\"} 1\n", s->t[i]->error);
	}
	family(f, fmt, "taskscope_scrape_duration_seconds", "gauge", "seconds",
	       "Time the last scrape of the process took.");
	for (i = 0; i < s->n; i++)
		secs_sample(f, "taskscope_scrape_duration_seconds", s->t[i], s->t[i]->scrape_s);
	family(f, fmt, "taskscope_process_start_time_seconds", "gauge", "seconds",
	       "When the process started, in seconds since the epoch.");
	for (i = 0; i < s->n; i++)
		if (s->t[i]->start_ns)
			secs_sample(f, "taskscope_process_start_time_seconds", s->t[i],
				    wall - (boot - (double)s->t[i]->start_ns / 1e9));
	family(f, fmt, "taskscope_loops", "gauge", NULL, "Event loop threads of the process.");
	for (i = 0; i < s->n; i++)
		if (ok(s->t[i]))
			u64_sample(f, "taskscope_loops", s->t[i], s->t[i]->m.nthreads);
}

/* The tasks: by state, created, finished, switched in. */
static void expose_tasks(FILE *f, const struct mx_set *s, enum mx_format fmt)
{
	static const uint32_t states[] = { TS_PENDING, TS_READY, TS_RUNNING, TS_WAITING };
	size_t i;

	family(f, fmt, "taskscope_tasks", "gauge", NULL,
	       "Live tasks, by state: pending (never ran), ready, running, waiting.");
	for (i = 0; i < s->n; i++) {
		if (!ok(s->t[i]))
			continue;
		for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
			sample(f, "taskscope_tasks", s->t[i]);
			fprintf(f, ",state=\"%s\"} %zu\n", tsc_state_name(states[k]),
				s->t[i]->m.nstate[states[k]]);
		}
	}
	family(f, fmt, "taskscope_tasks_created", "counter", NULL,
	       "Tasks created since the process started (the runtime's next task id, less one).");
	for (i = 0; i < s->n; i++)
		if (ok(s->t[i]))
			u64_sample(f, "taskscope_tasks_created_total", s->t[i], s->t[i]->created);
	family(f, fmt, "taskscope_tasks_finished", "counter", NULL,
	       "Tasks finished since the process started: created before the read and not live.");
	for (i = 0; i < s->n; i++)
		if (ok(s->t[i]))
			u64_sample(f, "taskscope_tasks_finished_total", s->t[i], s->t[i]->finished);
	family(f, fmt, "taskscope_task_switches", "counter", NULL,
	       "Switches into tasks, counted by the runtime per task: those of the tasks live at "
	       "some scrape, up to the last scrape that saw each.");
	for (i = 0; i < s->n; i++)
		if (ok(s->t[i]))
			u64_sample(f, "taskscope_task_switches_total", s->t[i], s->t[i]->switches);
}

/* The loops and the waits: CPU, wait ages, lag, and how the registry read went. */
static void expose_loops(FILE *f, const struct mx_set *s, enum mx_format fmt)
{
	size_t i;

	family(f, fmt, "taskscope_loop_cpu_seconds", "counter", "seconds",
	       "CPU time of each loop thread (user and system), from /proc.");
	for (i = 0; i < s->n; i++) {
		if (!ok(s->t[i]))
			continue;
		for (size_t k = 0; k < s->t[i]->nloops; k++) {
			sample(f, "taskscope_loop_cpu_seconds_total", s->t[i]);
			fprintf(f, ",tid=\"%d\"} %.6f\n", s->t[i]->loops[k].tid,
				(double)s->t[i]->loops[k].cpu_ns / 1e9);
		}
	}
	family(f, fmt, "taskscope_task_wait_longest_seconds", "gauge", "seconds",
	       "The longest current wait of a task: since it began waiting (0: none waits). "
	       "Absent for a runtime that does not publish wait ages.");
	for (i = 0; i < s->n; i++)
		if (ok(s->t[i]) && s->t[i]->ages)
			secs_sample(f, "taskscope_task_wait_longest_seconds", s->t[i],
				    (double)s->t[i]->wait_longest_ns / 1e9);
	family(f, fmt, "taskscope_tasks_waiting_longer_than", "gauge", NULL,
	       "Tasks waiting longer than each threshold (label seconds; --wait-thresholds).");
	for (i = 0; i < s->n; i++) {
		if (!ok(s->t[i]) || !s->t[i]->ages)
			continue;
		for (size_t k = 0; k < s->nthresholds; k++) {
			sample(f, "taskscope_tasks_waiting_longer_than", s->t[i]);
			fprintf(f, ",seconds=\"%g\"} %zu\n", s->thresholds[k],
				s->t[i]->waiting_over[k]);
		}
	}
	family(f, fmt, "taskscope_loop_lag_seconds", "gauge", "seconds",
	       "How late each loop thread's timers fire: the latest of the last 10 to 20 s, or how "
	       "far its earliest timer is overdue now (a blocked loop).");
	for (i = 0; i < s->n; i++) {
		if (!ok(s->t[i]) || !s->t[i]->ages)
			continue;
		for (size_t k = 0; k < s->t[i]->nloops; k++) {
			sample(f, "taskscope_loop_lag_seconds", s->t[i]);
			fprintf(f, ",tid=\"%d\"} %.6f\n", s->t[i]->loops[k].tid,
				(double)s->t[i]->loops[k].lag_ns / 1e9);
		}
	}
	family(f, fmt, "taskscope_registry_retries", "counter", NULL,
	       "Registry reads retried because the process changed it under the read.");
	for (i = 0; i < s->n; i++)
		if (ok(s->t[i]))
			u64_sample(f, "taskscope_registry_retries_total", s->t[i], s->t[i]->m.retries);
	family(f, fmt, "taskscope_registry_invalid", "gauge", NULL,
	       "Loop and task pointers of the registry that failed validation at the last scrape "
	       "(a corrupt or hostile registry): those tasks are not counted.");
	for (i = 0; i < s->n; i++)
		if (ok(s->t[i]))
			u64_sample(f, "taskscope_registry_invalid", s->t[i], s->t[i]->m.invalid);
}

/* The exporter's own figures. */
static void expose_exporter(FILE *f, const struct mx_set *s, enum mx_format fmt)
{
	family(f, fmt, "taskscope_exporter_scrape_duration_seconds", "gauge", "seconds",
	       "Time the last scrape of every process took, discovery included.");
	fprintf(f, "taskscope_exporter_scrape_duration_seconds %.6f\n", s->scrape_s);
	family(f, fmt, "taskscope_exporter_targets", "gauge", NULL, "Processes watched.");
	fprintf(f, "taskscope_exporter_targets %zu\n", s->n);
	if (s->all) {
		family(f, fmt, "taskscope_exporter_unreadable_processes", "gauge", NULL,
		       "Processes --all passed over: no ptrace access to them.");
		fprintf(f, "taskscope_exporter_unreadable_processes %zu\n", s->unreadable);
		family(f, fmt, "taskscope_exporter_discovery_seconds", "gauge", "seconds",
		       "Time the last scrape spent finding the runtime processes of /proc.");
		fprintf(f, "taskscope_exporter_discovery_seconds %.6f\n", s->discovery_s);
	}
	if (fmt == MX_OPENMETRICS)
		fputs("# EOF\n", f);
}

void mx_expose(FILE *f, const struct mx_set *s, enum mx_format fmt)
{
	expose_health(f, s, fmt);
	expose_tasks(f, s, fmt);
	expose_loops(f, s, fmt);
	expose_exporter(f, s, fmt);
}

int mx_render(struct mx_set *s, enum mx_format fmt, char **buf, size_t *len)
{
	uint64_t t0 = tsc_boottime_ns();
	int err = mx_set_refresh(s);
	if (err)
		return err;
	mx_scrape_all(s);
	s->scrape_s = (double)(tsc_boottime_ns() - t0) / 1e9;
	*buf = NULL;
	FILE *f = open_memstream(buf, len);
	if (!f)
		return -errno;
	mx_expose(f, s, fmt);
	if (fclose(f)) {
		free(*buf);
		*buf = NULL;
		return -ENOMEM;
	}
	return 0;
}
