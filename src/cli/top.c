/* SPDX-License-Identifier: MIT */
/*
 * taskscope top: a live view of a process's tasks.
 *
 * At each refresh the registry is read again from outside (states, waits, names, switch
 * counts: top/registry.c), the lifecycle probes' counters give created/s and finished/s (tasks too
 * short to be seen by any read included) and the losses, and the sampler or the switch probe
 * gives each task's CPU (probes/sampler.c). A loss (an event dropped, a map full) is shown at once
 * and answered by a resync: the lifecycle probes are attached anew, with fresh maps, before
 * the old ones go, and the next registry read starts from scratch.
 *
 * --exact reads the target's event rings when its runtime has them (top/exact.c): no BPF at
 * all, the rings drained between refreshes, the counters from what the rings fired, a lapped
 * ring's thread resynced at its next switch. --uprobes, or a runtime without rings, takes the
 * task_switch uprobe and the lifecycle probes instead.
 */
#include "top/top.h"
#include "probes/attach.h"
#include "cli.h"
#include "target/collect.h"
#include "opts.h"
#include "target/remote.h"
#include "target/rings.h"
#include "util.h"
#include <linux/types.h>
#include "events.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

struct top_opts {
	int pid;
	double interval;
	int hz, exact, uprobes, batch, json, use_bpf;
	uint64_t warn_run, warn_wait, warn_lag; /* the warnings' thresholds, ns */
	long frames;                /* 0 = until quit */
	struct top_view view;
};

struct top {
	struct top_opts o;
	struct tsc_remote *r;
	struct tsc_bpf *b;          /* the lifecycle probes */
	struct top_bpf *s;          /* the sampler or the switch accounting */
	struct top_exact *x;        /* --exact from the event rings, drained between refreshes */
	uint64_t next_drain;        /* CLOCK_MONOTONIC ns */
	struct top_reg *g;
	struct top_model m;
	uint64_t base[TSC_C_NR];    /* counters of the attachments before a resync */
	uint64_t lifecycle_lost;    /* the lifecycle probes' losses and map-full failures */
	int sfd;                    /* signalfd: SIGINT, SIGTERM, SIGHUP */
	char mode[48];
};

static void top_usage(FILE *f)
{
	fprintf(f,
		"taskscope top: a live view of a process's tasks and what runs on each thread.\n\n"
		"USAGE: taskscope top [-d SECS] [--hz HZ | --exact [-u]] [-b [-n N] | --json\n"
		"                     [-n N]] [-s KEY] [-f TEXT] [--no-bpf] [-v] [-p] PID\n\n"
		"  -p, --pid PID     the process (or its PID alone, as the last argument)\n"
		"  -d, --delay SECS  refresh interval (default 1)\n"
		"  --hz HZ           sampling mode (the default): samples per second per CPU of\n"
		"                    the running task of each thread (default 99); the target\n"
		"                    pays nothing per task switch\n"
		"  --exact           shares from each switch's timestamps instead, read from the\n"
		"                    process's event rings: exact, for a few ns per event on the\n"
		"                    target; with each loop thread's scheduling latency over\n"
		"                    the interval (LAT-N samples, LAT-P50, LAT-P99, LAT-MAX:\n"
		"                    ready to running). A runtime without rings takes the\n"
		"                    --uprobes way (no latency), saying so in the header\n"
		"  -u, --uprobes     with --exact: from the task_switch probe, a uprobe per\n"
		"                    switch (hundreds of ns each): for a runtime with only\n"
		"                    probes.h\n"
		"  -b, --batch       plain text frames, one per refresh, like top -b; as wide as\n"
		"                    COLUMNS or the terminal when either is known\n"
		"  --json            one JSON object per frame and line\n"
		"  -n, --frames N    stop after N frames (batch and JSON; default: until killed)\n"
		"  -W, --warn-run DURATION  warn of a task that runs longer without yielding\n"
		"                    (default 100ms; 30s, 500ms, 2m; a number alone is\n"
		"                    seconds); sampling sees it current at consecutive\n"
		"                    refreshes, so at least one interval; --exact knows when it\n"
		"                    was switched in\n"
		"  --warn-wait DURATION  warn of tasks waiting longer (default 60s)\n"
		"  --warn-lag DURATION   warn of a loop whose timers fire later (default 100ms)\n"
		"  -s, --sort KEY    cpu (default), age, name, id, switches or waited (the\n"
		"                    longest wait first; WAITED: \"fd 11 for 4m12s\")\n"
		"  -f, --filter TEXT only tasks whose name holds TEXT\n"
		"  --no-bpf          the registry alone: states and switches/s, no CPU, no probes\n"
		"                    (no privileges beyond ptrace access to the process)\n"
		"  -v, --verbose     more detail on stderr\n"
		"  -h, --help        this help\n\n"
		"KEYS: c a n i s w  sort by cpu, age, name, id, switches, waited (again: reverse)\n"
		"      /  filter by name    t  await tree    Enter  details    p  pause\n"
		"      arrows, PgUp/PgDn, Home/End  move    ?  help    q  quit\n\n"
		"A task's CPU%% is CPU time, in both modes: its thread's, read from the kernel at\n"
		"each refresh, shared among the thread's tasks by their samples or time switched in.\n"
		"Ring records overwritten before top read them (a loop switching millions of\n"
		"times a second) are counted (LOST) and said in a note; that thread's CPU is then\n"
		"shared by the time its records told of.\n\n"
		"WARNINGS under the header, each with the task and the evidence: a task running\n"
		"without yielding (starving its loop), the task waiting longest past the\n"
		"threshold (and how many do), a loop whose timers fire late, await cycles.\n\n"
		"The first frame comes after one interval. When the target exits, top says so and\n"
		"exits with status 7; when it execs another program, with status 11. Exit codes:\n"
		"taskscope --help.\n\n"
		"EXAMPLES:\n"
		"  taskscope top 1234\n"
		"  taskscope top --exact -d 0.5 1234\n"
		"  taskscope top --exact --json -n 1 1234 | jq '.threads[].sched_latency'\n"
		"  taskscope top -b -n 3 1234\n"
		"  taskscope top --json -n 1 1234 | jq '.tasks[] | select(.cpu_pct > 50)'\n");
}

/* The lifecycle probes, attached before the registry is read (a task created meanwhile is
 * counted); with an attachment already there, the new one comes first and the old one goes
 * after, its counts kept, so that no event falls between the two. */
static int attach_lifecycle(struct top *t)
{
	struct tsc_bpf *nb = NULL;
	uint64_t next_id, sums[TSC_C_NR];
	int err = tsc_bpf_attach(t->r, TSC_PROBES_LIFECYCLE, &nb);
	if (!err && !(err = tsc_remote_next_id(t->r, &next_id)))
		err = tsc_bpf_set_next_id(nb, next_id);
	if (err) {
		tsc_bpf_detach(nb);
		return err;
	}
	if (t->b) {
		if (!tsc_bpf_counters(t->b, sums, TSC_C_NR))
			for (int c = 0; c < TSC_C_NR; c++)
				t->base[c] += sums[c];
		tsc_bpf_detach(t->b);
	}
	t->b = nb;
	return 0;
}

/* The counters from what the rings fired: exact, lost records or not. */
static void ring_counters(struct top *t)
{
	struct top_model *m = &t->m;
	struct top_exact_counts c;
	top_exact_counts(t->x, &c);
	if (m->dt > 0) {
		m->created_rate = (double)(c.created - m->created) / m->dt;
		m->finished_rate = (double)(c.finished - m->finished) / m->dt;
		m->events_rate = (double)(c.events - m->events) / m->dt;
	}
	uint64_t lost = c.lost + c.malformed;
	if (c.error)
		snprintf(m->note, sizeof(m->note), "%.120s: no longer read", c.error);
	else if (c.malformed)
		snprintf(m->note, sizeof(m->note), "%llu ring slots failed validation: the "
			 "process wrote over its rings", (unsigned long long)c.malformed);
	else if (lost > m->lost)
		snprintf(m->note, sizeof(m->note), "%llu events overwritten in the rings before "
			 "they were read: resynced", (unsigned long long)(lost - m->lost));
	m->created = c.created;
	m->finished = c.finished;
	m->renamed = c.renamed;
	m->events = c.events;
	m->lost = lost;
	m->map_full = m->s_full;
	m->resyncs = c.resyncs;
}

/* Counters into the model: lifecycle events, losses, and rates over the interval. */
static void update_counters(struct top *t)
{
	struct top_model *m = &t->m;
	uint64_t sums[TSC_C_NR] = { 0 };
	if (t->x)
		return ring_counters(t);
	if (t->b && tsc_bpf_counters(t->b, sums, TSC_C_NR))
		memset(sums, 0, sizeof(sums));
	for (int c = 0; c < TSC_C_NR; c++)
		sums[c] += t->base[c];
	uint64_t created = sums[TSC_C_TASK_CREATE], finished = sums[TSC_C_TASK_FINISH];
	uint64_t events = sums[TSC_C_TASK_CREATE] + sums[TSC_C_TASK_FINISH] +
			  sums[TSC_C_TASK_RENAME] + m->s_switch;
	if (m->dt > 0) {
		m->created_rate = (double)(created - m->created) / m->dt;
		m->finished_rate = (double)(finished - m->finished) / m->dt;
		m->events_rate = (double)(events - m->events) / m->dt;
	}
	m->created = created;
	m->finished = finished;
	m->renamed = sums[TSC_C_TASK_RENAME];
	m->events = events;
	t->lifecycle_lost = sums[TSC_C_RB_DROPS] + sums[TSC_C_READ_ERR] + sums[TSC_C_LIVE_FULL] +
			    sums[TSC_C_FINISHED_FULL] + sums[TSC_C_THREADS_FULL] +
			    sums[TSC_C_MAP_ERR];
	m->lost = sums[TSC_C_RB_DROPS] + sums[TSC_C_READ_ERR] + m->s_err;
	m->map_full = sums[TSC_C_LIVE_FULL] + sums[TSC_C_FINISHED_FULL] +
		      sums[TSC_C_THREADS_FULL] + sums[TSC_C_MAP_ERR] + m->s_full;
}

/* One refresh: the registry, the CPU accounting, the counters; a loss seen now resyncs.
 * Returns 0, or an error that ends top (the target gone, or a read it cannot recover). */
static int refresh(struct top *t)
{
	struct top_model *m = &t->m;
	/* the rings up to now first: the switch accounting as of the registry read */
	long drained = t->x ? top_exact_drain(t->x) : 0;
	int err = top_reg_refresh(t->g, m);
	/* another program now: nothing read of it is about the tasks we showed */
	if (tsc_remote_execd(t->r))
		return -ENOEXEC;
	if (err) {
		if (err == -ESRCH || !tsc_remote_alive(t->r))
			return -ESRCH;
		if (err == -ENOMEM)
			return err;
		/* a registry that would not hold still, or failed validation: keep the last */
		snprintf(m->note, sizeof(m->note), "registry not read: %.130s", t->r->err);
		return 0;
	}
	if (drained < 0) {
		if (drained == -ESRCH || !tsc_remote_alive(t->r))
			return -ESRCH;
		snprintf(m->note, sizeof(m->note), "event rings not read: %s",
			 strerror((int)-drained));
	}
	if (t->s) {
		if ((err = top_bpf_set_slots(t->s, m)) || (err = top_bpf_read(t->s, m)))
			snprintf(m->note, sizeof(m->note), "sampler: %s", strerror(-err));
	}
	if (t->x)
		top_exact_latency(t->x, m);
	top_warnings_update(m);
	uint64_t before = t->lifecycle_lost;
	update_counters(t);
	if (t->b && t->lifecycle_lost > before) {
		/* Fresh maps for the lifecycle probes; the registry is read whole every time.
		 * (The sampler's losses need nothing: its records are re-read each refresh.) */
		if (!(err = attach_lifecycle(t))) {
			m->resyncs++;
			snprintf(m->note, sizeof(m->note), "events lost or a map full: resynced");
		} else {
			snprintf(m->note, sizeof(m->note), "events lost or a map full; the resync "
				 "failed: %s", strerror(-err));
		}
	}
	return 0;
}

/* --exact from the event rings, when the runtime has them: no BPF. An exit code, or -1 to
 * take the uprobes (the lifecycle probes attached then, first), the mode saying why. */
static int open_rings(struct top *t)
{
	int err = tsc_attach_target(t->o.pid, NULL, &t->r, &t->b);
	if (err)
		return err;
	if (!(err = top_exact_open(t->r, &t->x))) {
		t->m.rings = 1;
		return TSC_EXIT_OK;
	}
	if (err != -ENOTSUP)
		return tsc_bpf_exit_code(t->r, err);
	snprintf(t->mode, sizeof(t->mode), "exact, uprobes (no event rings)");
	if (tsc_verbose)
		fprintf(stderr, "taskscope top: process %d offers no event rings (a runtime with "
				"the probes alone, or an older one): --exact with uprobes\n", t->o.pid);
	if ((err = tsc_check_bpf_caps()))
		return err;
	if ((err = attach_lifecycle(t)))
		return tsc_bpf_exit_code(t->r, err);
	return -1;
}

static int open_target(struct top *t)
{
	const struct tsc_bpf_opts lifecycle = { .probes = TSC_PROBES_LIFECYCLE };
	int err;
	if (t->o.exact && !t->o.uprobes)
		err = open_rings(t);
	else
		err = tsc_attach_target(t->o.pid, t->o.use_bpf ? &lifecycle : NULL, &t->r, &t->b);
	if (err > 0)
		return err;
	if (t->o.use_bpf && (err = top_bpf_open(&t->m, t->r, t->x, &t->s)))
		return tsc_bpf_exit_code(t->r, err);
	if ((err = top_reg_new(t->r, &t->g))) {
		fprintf(stderr, "taskscope top: out of memory\n");
		return TSC_EXIT_ERROR;
	}
	tsc_test_snapshot_delay();
	/* the baseline: rates need two refreshes */
	if ((err = top_reg_refresh(t->g, &t->m)))
		return tsc_remote_report(t->r, err, 1);
	if ((err = tsc_report_exec(t->r)))
		return err;
	long drained = t->x ? top_exact_drain(t->x) : 0;
	if (drained < 0)
		return tsc_remote_report(t->r, (int)drained, 1);
	if (t->s && ((err = top_bpf_set_slots(t->s, &t->m)) || (err = top_bpf_read(t->s, &t->m)))) {
		fprintf(stderr, "taskscope top: cannot read the sampler's maps: %s\n",
			strerror(-err));
		return tsc_bpf_exit_code(t->r, err);
	}
	if (t->x)
		top_exact_latency(t->x, &t->m); /* the first interval's from here */
	update_counters(t);
	top_warnings_update(&t->m); /* the first reads of what runs, for the next refresh */
	return 0;
}

static void close_target(struct top *t)
{
	top_bpf_close(t->s);
	top_exact_close(t->x);
	tsc_bpf_detach(t->b);
	top_reg_free(t->g);
	top_model_free(&t->m);
	tsc_remote_close(t->r);
}

enum wake { WAKE_TIMER, WAKE_SIGNAL, WAKE_EXITED, WAKE_INPUT };

/* With the rings, drain them when due (top_exact_period_ns: before a ring wraps at its
 * pace). Returns when the next is due. */
static uint64_t drain_due(struct top *t, uint64_t now)
{
	if (!t->x)
		return UINT64_MAX;
	if (now < t->next_drain)
		return t->next_drain;
	/* an error: the next refresh reads the rings again and says what is wrong */
	(void)top_exact_drain(t->x);
	t->next_drain = top_exact_read_ns(t->x) + top_exact_period_ns(t->x);
	return t->next_drain;
}

/* Wait until deadline (CLOCK_MONOTONIC ns) for a signal, the target's exit or, with
 * input, a key; the rings drained meanwhile. */
static enum wake wait_until(struct top *t, uint64_t deadline, int input)
{
	for (;;) {
		uint64_t now = tsc_now_ns(), due = drain_due(t, now);
		if (due > deadline)
			due = deadline;
		int ms = due > now ? (int)((due - now + 999999) / 1000000) : 0;
		struct pollfd p[3] = {
			{ .fd = t->sfd, .events = POLLIN },
			{ .fd = t->r->pidfd, .events = POLLIN },
			{ .fd = input ? 0 : -1, .events = POLLIN },
		};
		int n = poll(p, 3, ms);
		if (n < 0 && errno == EINTR) {
			if (input)
				return WAKE_INPUT; /* SIGWINCH: curses has a KEY_RESIZE for us */
			continue;
		}
		if (p[0].revents & POLLIN)
			return WAKE_SIGNAL;
		if (p[1].revents & (POLLIN | POLLHUP))
			return WAKE_EXITED;
		if (p[2].revents)
			return WAKE_INPUT;
		if ((n == 0 && due == deadline) || tsc_now_ns() >= deadline)
			return WAKE_TIMER;
	}
}

static uint64_t interval_ns(const struct top *t)
{
	return (uint64_t)(t->o.interval * 1e9 + 0.5);
}

/* 0, or -errno when the output went wrong (said, unless the reader just left: EPIPE) */
static int output_failed(void)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	int err = errno ? -errno : -EIO;
	if (err != -EPIPE)
		fprintf(stderr, "taskscope top: writing the output: %s\n", strerror(-err));
	return err;
}

static int run_batch(struct top *t)
{
	uint64_t next = tsc_now_ns() + interval_ns(t);
	for (long frame = 0; !t->o.frames || frame < t->o.frames; frame++) {
		enum wake w = wait_until(t, next, 0);
		if (w == WAKE_SIGNAL)
			return TSC_EXIT_OK;
		if (w == WAKE_EXITED)
			goto exited;
		next += interval_ns(t);
		int err = refresh(t);
		if (err == -ESRCH)
			goto exited;
		if (err == -ENOEXEC) {
			fflush(stdout);
			return tsc_report_exec(t->r) ? TSC_EXIT_EXECED : TSC_EXIT_ERROR;
		}
		if (err) {
			fprintf(stderr, "taskscope top: %s\n", strerror(-err));
			return TSC_EXIT_ERROR;
		}
		if (t->o.json)
			top_print_json(&t->m, &t->o.view, t->mode, (uint64_t)frame);
		else
			top_print_text(&t->m, &t->o.view, t->mode);
		if ((err = output_failed()))
			return err == -EPIPE ? TSC_EXIT_OK : TSC_EXIT_ERROR;
		/* a late refresh (a slow read, a stopped terminal) does not bunch up frames */
		if (next < tsc_now_ns())
			next = tsc_now_ns() + interval_ns(t);
	}
	return TSC_EXIT_OK;
exited:
	fflush(stdout);
	fprintf(stderr, "taskscope top: process %d exited\n", t->o.pid);
	return TSC_EXIT_EXITED;
}

static int run_ui(struct top *t)
{
	struct top_ui *ui;
	int err = top_ui_start(&ui);
	if (err) {
		fprintf(stderr, "taskscope top: cannot start the full-screen view: %s; use -b for "
				"plain text frames\n", strerror(-err));
		return TSC_EXIT_ERROR;
	}
	*top_ui_view(ui) = t->o.view;
	int rc = TSC_EXIT_OK, exited = 0;
	uint64_t next = tsc_now_ns() + interval_ns(t);
	top_ui_draw(ui, &t->m, t->mode);
	for (;;) {
		enum wake w = wait_until(t, next, 1);
		if (w == WAKE_SIGNAL)
			break;
		if (w == WAKE_EXITED) {
			exited = 1;
			break;
		}
		if (w == WAKE_INPUT) {
			if (top_ui_keys(ui, &t->m))
				break;
			top_ui_draw(ui, &t->m, t->mode);
			continue;
		}
		next += interval_ns(t);
		if (next < tsc_now_ns())
			next = tsc_now_ns() + interval_ns(t);
		if (top_ui_paused(ui))
			continue;
		if ((err = refresh(t)) == -ESRCH) {
			exited = 1;
			break;
		}
		if (err == -ENOEXEC) {
			top_ui_end(ui);
			return tsc_report_exec(t->r) ? TSC_EXIT_EXECED : TSC_EXIT_ERROR;
		}
		if (err) {
			top_ui_end(ui);
			fprintf(stderr, "taskscope top: %s\n", strerror(-err));
			return TSC_EXIT_ERROR;
		}
		top_ui_draw(ui, &t->m, t->mode);
	}
	top_ui_end(ui);
	if (exited) {
		fprintf(stderr, "taskscope top: process %d exited\n", t->o.pid);
		rc = TSC_EXIT_EXITED;
	}
	return rc;
}

static void on_signal(int sig)
{
	(void)sig;
}

/* The options that exclude each other, and the terminal the live view needs: 0, or -1
 * after saying what is wrong. */
static int top_opts_check(const struct top_opts *o, int hz_given)
{
	if (o->exact && hz_given) {
		fprintf(stderr, "taskscope top: --hz is for sampling; --exact samples nothing\n");
		return -1;
	}
	if (o->uprobes && !o->exact) {
		fprintf(stderr, "taskscope top: --uprobes is where --exact reads switches from: "
				"use both\n");
		return -1;
	}
	if (!o->use_bpf && (o->exact || hz_given)) {
		fprintf(stderr, "taskscope top: --no-bpf measures no CPU: no --exact or --hz\n");
		return -1;
	}
	if (o->frames && !o->batch && !o->json) {
		fprintf(stderr, "taskscope top: -n is for batch (-b) or JSON (--json) output\n");
		return -1;
	}
	if (!o->batch && !o->json && (!isatty(0) || !isatty(1))) {
		fprintf(stderr, "taskscope top: the live view needs a terminal; use -b or --json\n");
		return -1;
	}
	return 0;
}

/* Options into o: -1 to go on, else the exit code (0 after --help). */
static int parse_top_opts(int argc, char **argv, struct top_opts *o)
{
	static const struct option opts[] = {
		{ "delay", required_argument, NULL, 'd' },
		{ "hz", required_argument, NULL, 'H' },
		{ "exact", no_argument, NULL, 'x' },
		{ "uprobes", no_argument, NULL, 'u' },
		{ "batch", no_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "frames", required_argument, NULL, 'n' },
		{ "sort", required_argument, NULL, 's' },
		{ "filter", required_argument, NULL, 'f' },
		{ "no-bpf", no_argument, NULL, 'N' },
		{ "warn-run", required_argument, NULL, 'W' },
		{ "warn-wait", required_argument, NULL, 'A' },
		{ "warn-lag", required_argument, NULL, 'L' },
		{ "pid", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *pid_opt = NULL;
	int c, hz_given = 0;
	double v;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "d:ubn:s:f:W:p:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (tsc_parse_double(optarg, 0.05, 3600, &o->interval)) {
				fprintf(stderr, "taskscope top: -d takes seconds, 0.05 to 3600\n");
				goto usage;
			}
			break;
		case 'H':
			if (tsc_parse_double(optarg, 1, 10000, &v) || v != (double)(long)v) {
				fprintf(stderr, "taskscope top: --hz takes a whole number, 1 to 10000\n");
				goto usage;
			}
			o->hz = (int)v;
			hz_given = 1;
			break;
		case 'x': o->exact = 1; break;
		case 'u': o->uprobes = 1; break;
		case 'b': o->batch = 1; break;
		case 'j': o->json = 1; break;
		case 'n':
			if (tsc_parse_double(optarg, 1, 1e12, &v) || v != (double)(long)v) {
				fprintf(stderr, "taskscope top: -n takes a number of frames, at least 1\n");
				goto usage;
			}
			o->frames = (long)v;
			break;
		case 's':
			if (top_sort_parse(optarg, &o->view.sort)) {
				fprintf(stderr, "taskscope top: sort by cpu, age, name, id, switches or "
						"waited\n");
				goto usage;
			}
			break;
		case 'f':
			snprintf(o->view.filter, sizeof(o->view.filter), "%s", optarg);
			break;
		case 'N': o->use_bpf = 0; break;
		case 'W':
		case 'A':
		case 'L':
			if (tsc_parse_duration(optarg, c == 'W' ? &o->warn_run : c == 'A' ?
					       &o->warn_wait : &o->warn_lag)) {
				fprintf(stderr, "taskscope top: --warn-%s takes a duration: 30s, 500ms, "
						"2m\n", c == 'W' ? "run" : c == 'A' ? "wait" : "lag");
				goto usage;
			}
			break;
		case 'p': pid_opt = optarg; break;
		case 'v': tsc_verbose++; break;
		case 'h': top_usage(stdout); return TSC_EXIT_OK;
		default:
			if (optopt && strchr("dnsfWp", optopt))
				fprintf(stderr, "taskscope top: option '-%c' needs a value\n", optopt);
			else
				fprintf(stderr, "taskscope top: unknown option '%s'\n", argv[optind - 1]);
			goto usage;
		}
	}
	if ((o->pid = tsc_opts_pid("top", pid_opt, argc, argv, optind, NULL)) < 0)
		goto usage;
	if (top_opts_check(o, hz_given))
		goto usage;
	return -1;
usage:
	fprintf(stderr, "Usage: taskscope top [-d SECS] [--hz HZ | --exact [-u]] [-b|--json] [-n N] "
			"PID (see taskscope top --help)\n");
	return TSC_EXIT_USAGE;
}

static int run_top(struct top *t)
{
	t->m.pid = t->o.pid;
	t->m.interval = t->o.interval;
	t->m.exact = t->o.exact;
	t->m.warn_run_ns = t->o.warn_run;
	t->m.warn_wait_ns = t->o.warn_wait;
	t->m.warn_lag_ns = t->o.warn_lag;
	t->m.hz = t->o.use_bpf && !t->o.exact ? t->o.hz : 0;
	if (!t->o.use_bpf)
		snprintf(t->mode, sizeof(t->mode), "registry only");
	else if (t->o.exact)
		snprintf(t->mode, sizeof(t->mode), "exact, %s", t->o.uprobes ? "uprobes" :
			 "event rings");
	else
		snprintf(t->mode, sizeof(t->mode), "sampling %d Hz", t->o.hz);

	/* Until the target is open and the probes attached, SIGINT and SIGTERM keep their
	 * default action: they end us at once, whatever we wait for (the kernel releases the
	 * probes), since nothing on the terminal needs restoring yet. */
	signal(SIGPIPE, SIG_IGN);
	int rc = open_target(t);
	/* Then they arrive through a signalfd the loop polls: the terminal is restored in
	 * order. A handler of our own (never run: the signals stay blocked) keeps curses from
	 * installing its own, which would exit on them. */
	struct sigaction sa = { .sa_handler = on_signal }, old_sa[3];
	sigaction(SIGINT, &sa, &old_sa[0]);
	sigaction(SIGTERM, &sa, &old_sa[1]);
	sigaction(SIGHUP, &sa, &old_sa[2]);
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);
	t->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (!rc && t->sfd < 0) {
		perror("taskscope top: signalfd");
		rc = TSC_EXIT_ERROR;
	} else if (!rc) {
		static char outbuf[1 << 16];
		setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
		rc = t->o.batch || t->o.json ? run_batch(t) : run_ui(t);
	}
	close_target(t);
	if (t->sfd >= 0)
		close(t->sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	sigaction(SIGINT, &old_sa[0], NULL);
	sigaction(SIGTERM, &old_sa[1], NULL);
	sigaction(SIGHUP, &old_sa[2], NULL);
	return rc;
}

int tsc_cmd_top(int argc, char **argv)
{
	struct top t = { .o = { .interval = 1, .hz = 99, .use_bpf = 1, .warn_run = TSC_WARN_RUN_NS,
			       .warn_wait = TSC_WARN_WAIT_NS, .warn_lag = TSC_WARN_LAG_NS },
		       .sfd = -1 };
	int rc = parse_top_opts(argc, argv, &t.o);
	return rc >= 0 ? rc : run_top(&t);
}
