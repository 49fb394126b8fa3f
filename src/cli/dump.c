/* SPDX-License-Identifier: MIT */
/* taskscope dump: a trace file's events as text or JSON lines, the process at an instant
 * (--at, in `ps --json`'s shape), or per-task totals (--summary). Output is formatted by hand
 * into a large buffer (event lines: trace/lines.c): dumping runs at millions of events per
 * second. */
#include "cli.h"
#include "out/json.h"
#include "out/out.h"
#include "out/task_json.h"
#include "trace/trace.h"
#include "trace/format.h"
#include "trace/lines.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <taskscope/taskscope.h>

/* A name for a text line, escaped (tsc_text), cut to maxw columns; returns its width. The
 * room is that of the longest string a trace holds: measuring each name first costs more. */
static size_t ob_text(struct tsc_json *o, const char *s, size_t maxw, unsigned flags)
{
	enum { ROOM = TSC_TEXT_SIZE(TF_STR_MAX + 32) };
	char *p = tsc_json_room(o, ROOM);
	size_t w;
	o->n += tsc_text(p, ROOM, s, maxw, flags, &w);
	return w;
}

/* A name in quotes: "worker-1" */
static void ob_name(struct tsc_json *o, const char *s)
{
	tsc_json_ch(o, '"');
	ob_text(o, s, SIZE_MAX, TSC_TEXT_QUOTED);
	tsc_json_ch(o, '"');
}

/* A table cell: s escaped, cut to w columns, padded to them, then a space. */
static void ob_cell(struct tsc_json *o, const char *s, size_t w)
{
	for (size_t k = ob_text(o, s, w, 0); k <= w; k++)
		tsc_json_ch(o, ' ');
}

/* ---- options ---- */

struct dump {
	const char *path;
	int json, summary, at_end;
	double at;
	int has_at;
	struct tsc_json *o;
	struct tsc_trace_reader *r;
	struct tsc_tstate st;
	struct tsc_lines *lines;  /* the events as text */
	uint64_t t0;              /* the header's start: times print relative to it */
	uint64_t last_ns;
	int execd;                /* the recording ended at an exec */
};

static void dump_usage(FILE *f)
{
	fprintf(f,
		"taskscope dump: print a trace file written by `taskscope record`.\n\n"
		"USAGE: taskscope dump [--json] [--at T | --summary] FILE\n\n"
		"  (default)     one line per event: seconds since the start, type, fields with\n"
		"                task names resolved; LOST lines where events were lost; an exec\n"
		"                line where the process exec'd (the recording ends there)\n"
		"  -j, --json    one JSON object per line (header, events, end; docs/json.md)\n"
		"  -a, --at T    the process at T seconds after the start (or \"end\"): live\n"
		"                tasks and each thread's current task; with --json in the shape\n"
		"                of `taskscope ps --json`\n"
		"  -s, --summary per task: lifetime, CPU time (its running slices), switches,\n"
		"                waits by reason; with lost-event counts; then per loop thread\n"
		"                the scheduling latency (ready to running: count, p50, p99, max,\n"
		"                exact; wakes and starts only in a trace from the event rings)\n"
		"  -h, --help    this help\n\n"
		"A damaged or cut file is read up to the fault; then the fault is reported and\n"
		"the exit status is 1. A file without its footer (the recorder was killed) is\n"
		"read to its last whole block and also ends with status 1.\n"
		"Names show escaped as in `taskscope ps` (\\e, \\n, \\x9b, \\u009b; README:\n"
		"output conventions).\n\n"
		"EXAMPLES:\n"
		"  taskscope dump run.tsc | less\n"
		"  taskscope dump --at 2.5 --json run.tsc | jq '.tasks[] | .name'\n"
		"  taskscope dump --summary run.tsc\n");
}

static const char *task_name(struct dump *d, uint64_t id)
{
	struct tsc_tstate_task *t = id ? tsc_tstate_task(&d->st, id) : NULL;
	return t ? t->name : "";
}

/* "5 "worker-0-0"", or "scheduler" for 0 */
static void text_task(struct dump *d, uint64_t id)
{
	if (!id) {
		tsc_json_raw(d->o, "scheduler");
		return;
	}
	tsc_json_raw_u64(d->o, id);
	tsc_json_ch(d->o, ' ');
	ob_name(d->o, task_name(d, id));
}

static void json_task_ref(struct dump *d, const char *key, const char *name_key, uint64_t id)
{
	struct tsc_json *o = d->o;
	tsc_json_key(o, key);
	tsc_json_id(o, id);
	if (id) {
		tsc_json_key(o, name_key);
		tsc_json_string(o, task_name(d, id));
	}
}

static void json_event(struct dump *d, const struct tsc_event *ev)
{
	struct tsc_json *o = d->o;
	tsc_json_obj(o);
	tsc_json_key(o, "t");
	tsc_json_secs(o, (int64_t)(ev->ts_ns - d->t0));
	tsc_json_key(o, "ts_ns");
	tsc_json_u64(o, ev->ts_ns);
	tsc_json_key(o, "type");
	tsc_json_lit(o, tsc_ev_name(ev->type));
	if (ev->type == TSC_EV_LOST) {
		tsc_json_key(o, "event");
		tsc_json_lit(o, tsc_ev_name(ev->lost.type));
		tsc_json_key(o, "count");
		tsc_json_u64(o, ev->lost.count);
		tsc_json_end_obj(o);
		tsc_json_ch(o, '\n');
		return;
	}
	tsc_json_key(o, "tid");
	tsc_json_i64(o, ev->tid);
	switch (ev->type) {
	case TSC_EV_CREATE:
		tsc_json_key(o, "id");
		tsc_json_u64(o, ev->create.id);
		tsc_json_key(o, "name");
		tsc_json_string(o, ev->create.name);
		tsc_json_key(o, "coro");
		tsc_json_string(o, ev->create.coro);
		json_task_ref(d, "parent", "parent_name", ev->create.parent);
		tsc_json_key(o, "loop_tid");
		tsc_json_i64(o, ev->create.loop_tid);
		break;
	case TSC_EV_SWITCH:
		json_task_ref(d, "prev", "prev_name", ev->sw.prev);
		json_task_ref(d, "next", "next_name", ev->sw.next);
		break;
	case TSC_EV_FINISH:
		json_task_ref(d, "id", "id_name", ev->finish.id);
		tsc_json_key(o, "outcome");
		tsc_json_lit(o, tsc_state_name(ev->finish.outcome));
		break;
	case TSC_EV_RENAME:
		json_task_ref(d, "id", "id_name", ev->rename.id);
		tsc_json_key(o, "name");
		tsc_json_string(o, ev->rename.name);
		break;
	case TSC_EV_WAIT:
		json_task_ref(d, "id", "id_name", ev->wait.id);
		tsc_json_key(o, "reason");
		tsc_json_lit(o, tsc_wait_name(ev->wait.reason));
		tsc_json_key(o, "object");
		tsc_json_u64(o, ev->wait.object);
		if (ev->wait.reason == TS_WAIT_AWAIT)
			json_task_ref(d, "awaiting", "awaiting_name", ev->wait.object);
		break;
	case TSC_EV_THREAD_START:
	case TSC_EV_THREAD_STOP:
		tsc_json_key(o, "loop");
		tsc_json_u64(o, ev->thread.loop);
		tsc_json_key(o, "thread");
		tsc_json_i64(o, ev->thread.tid);
		break;
	case TSC_EV_EXEC:
		tsc_json_key(o, "file");
		tsc_json_string(o, ev->exec.file);
		break;
	case TSC_EV_READY:
		json_task_ref(d, "id", "id_name", ev->ready.id);
		break;
	}
	tsc_json_end_obj(o);
	tsc_json_ch(o, '\n');
}

static void print_header(struct dump *d)
{
	const struct tsc_trace_header *h = tsc_trace_header(d->r);
	const struct tsc_snapshot *s = tsc_trace_snapshot(d->r);
	char when[64] = "?";
	time_t sec = (time_t)(h->real_ns / 1000000000ull);
	struct tm tm;
	if (gmtime_r(&sec, &tm)) {
		size_t k = strftime(when, 40, "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(when + k, sizeof(when) - k, ".%06uZ",
			 (unsigned)(h->real_ns % 1000000000ull / 1000));
	}
	if (d->json) {
		struct tsc_json *o = d->o;
		char version[32];
		snprintf(version, sizeof(version), "%u.%u", h->major, h->minor);
		tsc_json_obj(o);
		tsc_json_key(o, "type");
		tsc_json_lit(o, "header");
		tsc_json_schema(o);
		tsc_json_key(o, "version");
		tsc_json_lit(o, version);
		tsc_json_key(o, "pid");
		tsc_json_i64(o, h->pid);
		tsc_json_key(o, "program");
		tsc_json_string(o, h->program);
		tsc_json_key(o, "binary");
		tsc_json_string(o, h->binary);
		tsc_json_key(o, "mono_ns");
		tsc_json_u64(o, h->mono_ns);
		tsc_json_key(o, "real_ns");
		tsc_json_u64(o, h->real_ns);
		tsc_json_key(o, "started");
		tsc_json_string(o, when);
		tsc_json_key(o, "snapshot");
		tsc_json_obj(o);
		tsc_json_key(o, "t");
		tsc_json_secs(o, (int64_t)(s->taken_ns - d->t0));
		tsc_json_key(o, "threads");
		tsc_json_u64(o, s->nthreads);
		tsc_json_key(o, "tasks");
		tsc_json_u64(o, s->ntasks);
		tsc_json_end_obj(o);
		tsc_json_end_obj(o);
		tsc_json_ch(o, '\n');
	} else {
		char line[256];
		snprintf(line, sizeof(line), "# taskscope trace %u.%u: pid %d, ", h->major, h->minor,
			 h->pid);
		tsc_json_raw(d->o, line);
		/* the program; the runtime's ELF too when it is another file (a library) */
		ob_text(d->o, h->program[0] ? h->program : h->binary[0] ? h->binary : "?", SIZE_MAX,
			0);
		if (h->program[0] && h->binary[0] && strcmp(h->program, h->binary)) {
			tsc_json_raw(d->o, " (runtime ");
			ob_text(d->o, h->binary, SIZE_MAX, 0);
			tsc_json_ch(d->o, ')');
		}
		snprintf(line, sizeof(line), ", started %s\n# snapshot at %+.6f s: %zu threads, "
			 "%zu tasks\n", when, (double)(int64_t)(s->taken_ns - d->t0) / 1e9,
			 s->nthreads, s->ntasks);
		tsc_json_raw(d->o, line);
	}
}

/* The closing JSON line: totals, lost counts by type, and whether the file was whole. */
static void print_end_json(struct dump *d, int rc)
{
	const struct tsc_trace_rstats *st = tsc_trace_stats(d->r);
	struct tsc_json *o = d->o;
	uint64_t events = 0, lost = 0;
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++)
		events += st->events[t], lost += st->lost[t];
	tsc_json_obj(o);
	tsc_json_key(o, "type");
	tsc_json_lit(o, "end");
	tsc_json_schema(o);
	tsc_json_key(o, "events");
	tsc_json_u64(o, events);
	tsc_json_key(o, "lost_total");
	tsc_json_u64(o, lost);
	tsc_json_key(o, "lost");
	tsc_json_obj(o);
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++) {
		if (!st->lost[t])
			continue;
		tsc_json_key(o, tsc_ev_name((uint32_t)t));
		tsc_json_u64(o, st->lost[t]);
	}
	tsc_json_end_obj(o);
	tsc_json_key(o, "skipped");
	tsc_json_u64(o, st->skipped);
	tsc_json_key(o, "exec");
	tsc_json_bool(o, d->execd);
	tsc_json_key(o, "complete");
	tsc_json_bool(o, rc == 0);
	if (rc) {
		tsc_json_key(o, "error");
		tsc_json_string(o, tsc_trace_reader_error(d->r));
	}
	tsc_json_end_obj(o);
	tsc_json_ch(o, '\n');
}

/* The closing line: totals, lost counts, and whether the file was whole. */
static void print_end(struct dump *d, int rc)
{
	const struct tsc_trace_rstats *st = tsc_trace_stats(d->r);
	struct tsc_json *o = d->o;
	uint64_t events = 0, lost = 0;
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++)
		events += st->events[t], lost += st->lost[t];
	if (d->json) {
		print_end_json(d, rc);
		return;
	}
	tsc_json_raw(o, "# ");
	tsc_json_raw_u64(o, events);
	tsc_json_raw(o, " events, ");
	tsc_json_raw_u64(o, lost);
	tsc_json_raw(o, " lost");
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++) {
		if (!st->lost[t])
			continue;
		tsc_json_ch(o, ' ');
		tsc_json_raw(o, tsc_ev_name((uint32_t)t));
		tsc_json_ch(o, '=');
		tsc_json_raw_u64(o, st->lost[t]);
	}
	if (d->execd)
		tsc_json_raw(o, ", ended by an exec");
	tsc_json_raw(o, rc == 0 ? ", complete\n" : ", INCOMPLETE (see the error)\n");
}

/* ---- --at ---- */

static int cmp_task(const void *a, const void *b)
{
	const struct tsc_tstate_task *x = *(struct tsc_tstate_task *const *)a,
				     *y = *(struct tsc_tstate_task *const *)b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static struct tsc_tstate_task **sorted_tasks(struct dump *d, int live_only, size_t *n)
{
	struct tsc_tstate_task **v = malloc((d->st.n + 1) * sizeof(*v));
	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < d->st.cap; i++) {
		struct tsc_tstate_task *t = d->st.tasks[i].t;
		if (t && (!live_only || t->live))
			v[(*n)++] = t;
	}
	qsort(v, *n, sizeof(*v), cmp_task);
	return v;
}

/* A clock value relative to the start, without wrapping at either end of the clock. */
static int64_t rel_ns(const struct dump *d, uint64_t ns)
{
	if (ns >= d->t0)
		return ns - d->t0 > INT64_MAX ? INT64_MAX : (int64_t)(ns - d->t0);
	return d->t0 - ns > INT64_MAX ? INT64_MIN + 1 : -(int64_t)(d->t0 - ns);
}

/* The process at at_ns in the shape of `ps --json`: the same thread and task objects. */
static void print_at_json(struct dump *d, uint64_t at_ns, struct tsc_tstate_task **v, size_t n,
			  uint64_t lost)
{
	struct tsc_json *o = d->o;
	tsc_json_obj(o);
	tsc_json_snapshot_head(o, d->st.pid, 0, at_ns);
	tsc_json_key(o, "events");
	tsc_json_u64(o, d->st.events);
	tsc_json_key(o, "lost");
	tsc_json_u64(o, lost);
	tsc_json_key(o, "map_full");
	tsc_json_u64(o, 0);
	tsc_json_key(o, "retries");
	tsc_json_u64(o, 0);
	tsc_json_key(o, "at");
	tsc_json_secs(o, rel_ns(d, at_ns));
	tsc_json_key(o, "threads");
	tsc_json_arr(o);
	for (size_t i = 0; i < d->st.nthreads; i++) {
		struct tsc_tstate_thread *th = &d->st.threads[i];
		if (th->live)
			tsc_thread_json(o, th->tid, th->loop_id, th->current, -1);
	}
	tsc_json_end_arr(o);
	tsc_json_key(o, "tasks");
	tsc_json_arr(o);
	for (size_t i = 0; i < n; i++) {
		const struct tsc_tstate_task *t = v[i];
		struct tsc_task_view tv = {
			.id = t->id, .parent = t->parent, .name = t->name, .coro = t->coro,
			.state = t->state, .wait = t->wait, .wait_obj = t->wait_obj, .tid = t->tid,
			.created_ns = t->created_ns, .switches = t->switches,
		};
		tsc_json_nl(o);
		tsc_json_obj(o);
		tsc_task_json(o, &tv, at_ns);
		tsc_json_end_obj(o);
	}
	tsc_json_ch(o, '\n');
	tsc_json_end_arr(o);
	tsc_json_end_obj(o);
	tsc_json_ch(o, '\n');
}

static void print_at(struct dump *d, uint64_t at_ns)
{
	struct tsc_json *o = d->o;
	size_t n;
	struct tsc_tstate_task **v = sorted_tasks(d, 1, &n);
	uint64_t lost = 0;
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++)
		lost += d->st.lost[t];
	if (!v)
		return;
	if (d->json) {
		print_at_json(d, at_ns, v, n, lost);
	} else {
		char line[512];
		snprintf(line, sizeof(line), "# at %+.6f s: %zu live tasks, %" PRIu64 " lost events\n",
			 (double)rel_ns(d, at_ns) / 1e9, n, lost);
		tsc_json_raw(o, line);
		tsc_json_raw(o, "THREAD   LOOP  CURRENT\n");
		for (size_t i = 0; i < d->st.nthreads; i++) {
			struct tsc_tstate_thread *th = &d->st.threads[i];
			if (!th->live)
				continue;
			snprintf(line, sizeof(line), "%-8d %4" PRIu64 "  ", th->tid, th->loop_id);
			tsc_json_raw(o, line);
			text_task(d, th->current);
			tsc_json_ch(o, '\n');
		}
		tsc_json_raw(o, "\n      ID NAME                 STATE    WAIT     THREAD   PARENT  CORO\n");
		for (size_t i = 0; i < n; i++) {
			struct tsc_tstate_task *t = v[i];
			int waiting = t->state == TS_WAITING;
			char parent[24] = "-";
			if (t->parent)
				snprintf(parent, sizeof(parent), "%" PRIu64, t->parent);
			snprintf(line, sizeof(line), "%8" PRIu64 " ", t->id);
			tsc_json_raw(o, line);
			ob_cell(o, t->name, 20);
			snprintf(line, sizeof(line), "%-8s %-8s %-8d %-7s ", tsc_state_name(t->state),
				 waiting ? tsc_wait_name(t->wait) : "-", t->tid, parent);
			tsc_json_raw(o, line);
			ob_text(o, t->coro, SIZE_MAX, 0);
			tsc_json_ch(o, '\n');
		}
	}
	free(v);
}

/* ---- --summary ---- */

/* One task's totals as a JSON line. */
static void summary_json(struct dump *d, const struct tsc_tstate_task *t, uint64_t lifetime,
			 uint64_t cpu_ns, uint64_t sw)
{
	struct tsc_json *o = d->o;
	tsc_json_obj(o);
	tsc_json_schema(o);
	tsc_json_key(o, "id");
	tsc_json_u64(o, t->id);
	tsc_json_key(o, "name");
	tsc_json_string(o, t->name);
	tsc_json_key(o, "coro");
	tsc_json_string(o, t->coro);
	tsc_json_key(o, "from_snapshot");
	tsc_json_bool(o, t->from_snapshot);
	tsc_json_key(o, "created");
	tsc_json_secs(o, (int64_t)(t->created_ns - d->t0));
	tsc_json_key(o, "finished");
	if (t->finished_ns)
		tsc_json_secs(o, (int64_t)(t->finished_ns - d->t0));
	else
		tsc_json_null(o);
	tsc_json_key(o, "outcome");
	if (t->finished_ns)
		tsc_json_lit(o, tsc_state_name(t->state));
	else
		tsc_json_null(o);
	tsc_json_key(o, "lifetime_ns");
	tsc_json_u64(o, lifetime);
	tsc_json_key(o, "cpu_ns");
	tsc_json_u64(o, cpu_ns);
	tsc_json_key(o, "switches");
	tsc_json_u64(o, sw);
	tsc_json_key(o, "waits");
	tsc_json_obj(o);
	for (int w = 0; w < 8; w++) {
		if (!t->waits[w])
			continue;
		tsc_json_key(o, w ? tsc_wait_name((uint32_t)w) : "other");
		tsc_json_u64(o, t->waits[w]);
	}
	tsc_json_end_obj(o);
	tsc_json_end_obj(o);
	tsc_json_ch(o, '\n');
}

static void print_summary(struct dump *d, uint64_t end_ns)
{
	struct tsc_json *o = d->o;
	size_t n;
	struct tsc_tstate_task **v = sorted_tasks(d, 0, &n);
	char line[512], life[24], cpu[24], created[24];
	if (!v)
		return;
	if (!d->json)
		tsc_json_raw(o, "      ID NAME                 CORO             CREATED     LIFETIME   "
			  "CPU        SWITCHES WAITS\n");
	for (size_t i = 0; i < n; i++) {
		struct tsc_tstate_task *t = v[i];
		uint64_t until = t->finished_ns ? t->finished_ns : end_ns;
		uint64_t lifetime = t->created_ns && until > t->created_ns ? until - t->created_ns : 0;
		uint64_t cpu_ns = t->cpu_ns;
		if (t->run_since && end_ns > t->run_since)
			cpu_ns += end_ns - t->run_since; /* still running at the end */
		uint64_t sw = t->switches - t->switches0;
		if (d->json) {
			summary_json(d, t, lifetime, cpu_ns, sw);
			continue;
		}
		char waits[160] = "", *p = waits;
		for (int w = 0; w < 8; w++)
			if (t->waits[w])
				p += snprintf(p, (size_t)(waits + sizeof(waits) - p), "%s%s=%" PRIu64,
					      p == waits ? "" : " ", w ? tsc_wait_name((uint32_t)w) : "other",
					      t->waits[w]);
		tsc_fmt_dur(life, sizeof(life), lifetime);
		tsc_fmt_dur(cpu, sizeof(cpu), cpu_ns);
		snprintf(created, sizeof(created), "%+.6f", (double)(int64_t)(t->created_ns - d->t0) / 1e9);
		snprintf(line, sizeof(line), "%8" PRIu64 " ", t->id);
		tsc_json_raw(o, line);
		ob_cell(o, t->name, 20);
		ob_cell(o, t->coro, 16);
		snprintf(line, sizeof(line), "%-11s %-10s %-10s %8" PRIu64 " %s%s\n", created, life,
			 cpu, sw, waits[0] ? waits : "-", t->finished_ns ? "" : " (live)");
		tsc_json_raw(o, line);
	}
	free(v);
}

/* Scheduling latency per loop thread: ready (a READY event, or a yield's WAIT) to the switch
 * into the task on that thread, every sample kept, so p50, p99 and max are exact. */
static void latency_json(struct dump *d, struct tsc_tstate_thread *th)
{
	struct tsc_json *o = d->o;
	struct tsc_lat_figs f;
	tsc_lat_figs(&th->latency, &f);
	tsc_json_obj(o);
	tsc_json_schema(o);
	tsc_json_key(o, "thread");
	tsc_json_i64(o, th->tid);
	tsc_json_key(o, "loop");
	tsc_json_u64(o, th->loop_id);
	tsc_json_key(o, "ready_events");
	tsc_json_u64(o, th->ready_events);
	tsc_json_key(o, "sched_latency");
	tsc_json_lat(o, &f);
	tsc_json_end_obj(o);
	tsc_json_ch(o, '\n');
}

static void print_latency(struct dump *d)
{
	struct tsc_json *o = d->o;
	char line[256], p50[24], p99[24], max[24];
	uint64_t ready = 0;
	int header = 0;
	for (size_t i = 0; i < d->st.nthreads; i++) {
		struct tsc_tstate_thread *th = &d->st.threads[i];
		if (!th->latency.count && !th->ready_events)
			continue;
		if (d->json) {
			latency_json(d, th);
			continue;
		}
		if (!header++)
			tsc_json_raw(o, "\n# scheduling latency per loop: ready -> running, exact\n"
					"     TID     LOOP    SAMPLES        P50        P99        MAX\n");
		struct tsc_lat_figs f;
		tsc_lat_figs(&th->latency, &f);
		ready += th->ready_events;
		tsc_fmt_dur(p50, sizeof(p50), f.p50);
		tsc_fmt_dur(p99, sizeof(p99), f.p99);
		tsc_fmt_dur(max, sizeof(max), f.max);
		snprintf(line, sizeof(line), "%8d %8" PRIu64 " %10" PRIu64 " %10s %10s %10s%s\n",
			 (int)th->tid, th->loop_id, f.count, p50, p99, max,
			 f.kept < f.count ? " (percentiles of the first samples)" : "");
		tsc_json_raw(o, line);
	}
	if (header && !ready)
		tsc_json_raw(o, "# no ready events in this trace (recorded with --uprobes?): only "
				"yields count; `record` from the rings sees wakes and starts too\n");
}

/* ---- the command ---- */

static int parse_at(const char *s, struct dump *d)
{
	char *end;
	if (!strcmp(s, "end")) {
		d->at_end = 1;
		return 0;
	}
	d->at = strtod(s, &end);
	if (end == s || *end || d->at != d->at)
		return -1;
	return 0;
}

/* T seconds after the clock base t0, as a clock value, saturated: a T before the clock's zero
 * (a machine up for less than -T seconds) is 0, the earliest instant, never a wrap around to
 * the far future; likewise past the clock's end. */
static uint64_t at_clock(uint64_t t0, double at)
{
	double x = at * 1e9; /* rounded: "0.023807412" means that nanosecond */
	if (x <= -9e18 || x <= -(double)t0)
		return 0;
	if (x >= 9e18)
		return UINT64_MAX;
	int64_t k = (int64_t)(x < 0 ? x - 0.5 : x + 0.5);
	if (k < 0)
		return (uint64_t)-k > t0 ? 0 : t0 - (uint64_t)-k;
	return (uint64_t)k > UINT64_MAX - t0 ? UINT64_MAX : t0 + (uint64_t)k;
}

/* Options into d: -1 to go on, else the exit code (0 after --help). */
static int parse_dump_opts(int argc, char **argv, struct dump *d)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },   { "at", required_argument, NULL, 'a' },
		{ "summary", no_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "ja:sh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': d->json = 1; break;
		case 's': d->summary = 1; break;
		case 'a':
			d->has_at = 1;
			if (parse_at(optarg, d)) {
				fprintf(stderr, "taskscope dump: --at takes seconds or \"end\", not '%s'\n",
					optarg);
				return TSC_EXIT_USAGE;
			}
			break;
		case 'h': dump_usage(stdout); return TSC_EXIT_OK;
		default:
			fprintf(stderr, "Try 'taskscope dump --help'.\n");
			return TSC_EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || (d->has_at && d->summary)) {
		fprintf(stderr, optind != argc - 1 ? "taskscope dump: one trace FILE is needed\n"
						   : "taskscope dump: --at and --summary exclude each other\n");
		fprintf(stderr, "Try 'taskscope dump --help'.\n");
		return TSC_EXIT_USAGE;
	}
	d->path = argv[optind];
	return -1;
}

/* Read the events (up to shortly after at_ns for --at), printing them unless only a state
 * is asked for, applying each to the state. Returns the reader's status (0 or < 0), or 1
 * when the state ran out of memory. */
static int read_events(struct dump *d, uint64_t at_ns)
{
	struct tsc_event ev;
	int rc, events_out = !d->has_at && !d->summary;
	/* events come nearly in time order: across CPUs by up to a few microseconds */
	uint64_t stop_ns = at_ns > UINT64_MAX - 100000000ull ? UINT64_MAX : at_ns + 100000000ull;
	d->last_ns = tsc_trace_snapshot(d->r)->taken_ns;
	while ((rc = tsc_trace_next(d->r, &ev)) == 1) {
		if (d->has_at && !d->at_end) {
			if (ev.ts_ns > stop_ns)
				break;
			if (ev.ts_ns > at_ns)
				continue;
		}
		if (events_out) {
			if (d->json)
				json_event(d, &ev);
			else
				tsc_lines_event(d->lines, &ev);
		}
		if (ev.ts_ns > d->last_ns)
			d->last_ns = ev.ts_ns;
		if (ev.type == TSC_EV_EXEC)
			d->execd = 1;
		if (tsc_tstate_apply(&d->st, &ev))
			return 1;
	}
	return rc == 1 ? 0 : rc; /* 1: stopped early on purpose (--at) */
}

/* What comes after the events: the end line, the state at --at, or the summary. */
static void print_tail(struct dump *d, uint64_t at_ns, int rc)
{
	const struct tsc_trace_rstats *st = tsc_trace_stats(d->r);
	uint64_t end_ns = st->footer ? st->end_ns : d->last_ns;
	if (end_ns < d->last_ns)
		end_ns = d->last_ns;
	if (!d->has_at && !d->summary) {
		print_end(d, rc);
		return;
	}
	if (d->has_at) {
		print_at(d, d->at_end ? end_ns : at_ns);
		return;
	}
	print_summary(d, end_ns);
	print_latency(d);
	if (d->json) {
		print_end(d, rc);
		return;
	}
	uint64_t lost = 0;
	char line[256];
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++)
		lost += st->lost[t];
	snprintf(line, sizeof(line), "# %" PRIu64 " lost events%s\n", lost,
		 lost ? " (per-task figures miss what they held)" : "");
	tsc_json_raw(d->o, line);
}

static int run_dump(struct dump *d)
{
	int rc, status;
	d->o = tsc_json_new(stdout);
	d->r = tsc_trace_reader_new(NULL, NULL);
	if (!d->o || !d->r) {
		fprintf(stderr, "taskscope dump: out of memory\n");
		status = TSC_EXIT_ERROR;
		goto cleanup;
	}
	rc = tsc_trace_reader_open_file(d->r, d->path);
	if (rc) {
		fprintf(stderr, "taskscope dump: %s: %s\n", d->path, tsc_trace_reader_error(d->r));
		status = TSC_EXIT_ERROR;
		goto cleanup;
	}
	d->t0 = tsc_trace_header(d->r)->mono_ns;
	if (tsc_tstate_init(&d->st, tsc_trace_snapshot(d->r))) {
		fprintf(stderr, "taskscope dump: out of memory\n");
		status = TSC_EXIT_ERROR;
		goto cleanup;
	}
	if (!d->summary)
		tsc_tstate_forget_finished(&d->st);
	else
		tsc_tstate_keep_latency(&d->st);
	if (!d->json && !d->has_at && !d->summary &&
	    !(d->lines = tsc_lines_new(d->o, &d->st, d->t0))) {
		fprintf(stderr, "taskscope dump: out of memory\n");
		status = TSC_EXIT_ERROR;
		goto cleanup;
	}
	uint64_t at_ns = at_clock(d->t0, d->at);
	if (!d->has_at && !d->summary)
		print_header(d);
	if ((rc = read_events(d, at_ns)) == 1) {
		tsc_json_flush(d->o);
		fprintf(stderr, "taskscope dump: out of memory\n");
		status = TSC_EXIT_ERROR;
		goto cleanup;
	}
	print_tail(d, at_ns, rc);
	tsc_json_flush(d->o);
	fflush(stdout);
	if (rc < 0) {
		fprintf(stderr, "taskscope dump: %s: %s\n", d->path, tsc_trace_reader_error(d->r));
		status = TSC_EXIT_ERROR;
	} else {
		status = TSC_EXIT_OK;
	}
	/* lost events are shown by every reader, also when only a state was asked for */
	if (d->has_at) {
		const struct tsc_trace_rstats *st = tsc_trace_stats(d->r);
		for (int t = 1; t <= TSC_EV_EVENTS_NR; t++)
			if (st->lost[t])
				fprintf(stderr, "taskscope dump: LOST %" PRIu64 " %s events\n",
					st->lost[t], tsc_ev_name((uint32_t)t));
	}
cleanup:
	tsc_lines_free(d->lines);
	tsc_tstate_free(&d->st);
	tsc_trace_reader_free(d->r);
	tsc_json_free(d->o);
	return status;
}

int tsc_cmd_dump(int argc, char **argv)
{
	struct dump d = { 0 };
	int rc = parse_dump_opts(argc, argv, &d);
	return rc >= 0 ? rc : run_dump(&d);
}
