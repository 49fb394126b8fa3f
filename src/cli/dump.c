/* SPDX-License-Identifier: MIT */
/* taskscope dump: a trace file's events as text or JSON lines, the process at an instant
 * (--at, in `ps --json`'s shape), or per-task totals (--summary). Output is formatted by hand
 * into a large buffer: dumping runs at tens of millions of events per second. */
#include "cli.h"
#include "out.h"
#include "trace.h"
#include "trace_fmt.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <taskscope/taskscope.h>

/* ---- output buffer ---- */

struct obuf {
	FILE *f;
	size_t n;
	char b[1 << 16];
};

static void ob_flush(struct obuf *o)
{
	if (o->n)
		fwrite(o->b, 1, o->n, o->f);
	o->n = 0;
}

/* Room for n bytes; n stays far below the buffer's size. */
static inline char *ob_room(struct obuf *o, size_t n)
{
	if (o->n + n > sizeof(o->b))
		ob_flush(o);
	return o->b + o->n;
}

static inline void ob_mem(struct obuf *o, const char *s, size_t n)
{
	if (n > 4096) {
		ob_flush(o);
		fwrite(s, 1, n, o->f);
		return;
	}
	memcpy(ob_room(o, n), s, n);
	o->n += n;
}

static inline void ob_str(struct obuf *o, const char *s)
{
	ob_mem(o, s, strlen(s));
}

static inline void ob_ch(struct obuf *o, char c)
{
	*ob_room(o, 1) = c;
	o->n++;
}

static inline void ob_u64(struct obuf *o, uint64_t v)
{
	char t[24], *p = t + sizeof(t);
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	ob_mem(o, p, (size_t)(t + sizeof(t) - p));
}

static inline void ob_i64(struct obuf *o, int64_t v)
{
	if (v < 0) {
		ob_ch(o, '-');
		ob_u64(o, (uint64_t)0 - (uint64_t)v);
	} else {
		ob_u64(o, (uint64_t)v);
	}
}

/* Seconds with microseconds, from a signed nanosecond count: "12.345678", "-0.000100". */
static void ob_secs(struct obuf *o, int64_t ns)
{
	uint64_t a = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
	uint64_t us = a / 1000, s = us / 1000000, frac = us % 1000000;
	char t[8];
	if (ns < 0)
		ob_ch(o, '-');
	ob_u64(o, s);
	ob_ch(o, '.');
	for (int i = 5; i >= 0; i--, frac /= 10)
		t[i] = (char)('0' + frac % 10);
	ob_mem(o, t, 6);
}

/* A JSON string (tsc_json_part: the one JSON escaper). */
static void ob_json(struct obuf *o, const char *s)
{
	ob_ch(o, '"');
	while (*s) {
		size_t n;
		s = tsc_json_part(s, ob_room(o, 512), 512, &n);
		o->n += n;
	}
	ob_ch(o, '"');
}

/* A name for a text line, escaped (tsc_text), cut to maxw columns; returns its width. The
 * room is that of the longest string a trace holds: measuring each name first costs more. */
static size_t ob_text(struct obuf *o, const char *s, size_t maxw, unsigned flags)
{
	enum { ROOM = TSC_TEXT_SIZE(TF_STR_MAX + 32) };
	char *p = ob_room(o, ROOM);
	size_t w;
	o->n += tsc_text(p, ROOM, s, maxw, flags, &w);
	return w;
}

/* A name in quotes: "worker-1" */
static void ob_name(struct obuf *o, const char *s)
{
	ob_ch(o, '"');
	ob_text(o, s, SIZE_MAX, TSC_TEXT_QUOTED);
	ob_ch(o, '"');
}

/* A table cell: s escaped, cut to w columns, padded to them, then a space. */
static void ob_cell(struct obuf *o, const char *s, size_t w)
{
	for (size_t k = ob_text(o, s, w, 0); k <= w; k++)
		ob_ch(o, ' ');
}

static const char *state_name(uint32_t s)
{
	static const char *const n[] = { "pending", "ready", "running", "waiting",
					 "done", "cancelled", "failed" };
	return s < 7 ? n[s] : "?";
}

static const char *wait_name(uint32_t w)
{
	static const char *const n[] = { "none", "sleep", "fd", "await", "queue", "event",
					 "yield" };
	return w < 7 ? n[w] : "?";
}

/* ---- options ---- */

struct dump {
	const char *path;
	int json, summary, at_end;
	double at;
	int has_at;
	struct obuf *o;
	struct tsc_trace_reader *r;
	struct tsc_tstate st;
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
		"  --json        one JSON object per line (header, events, end)\n"
		"  --at T        the process at T seconds after the start (or \"end\"): live\n"
		"                tasks and each thread's current task; with --json in the shape\n"
		"                of `taskscope ps --json`\n"
		"  --summary     per task: lifetime, CPU time (its running slices), switches,\n"
		"                waits by reason; with lost-event counts\n\n"
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
		ob_str(d->o, "scheduler");
		return;
	}
	ob_u64(d->o, id);
	ob_ch(d->o, ' ');
	ob_name(d->o, task_name(d, id));
}

static void text_event(struct dump *d, const struct tsc_event *ev)
{
	struct obuf *o = d->o;
	ob_secs(o, (int64_t)(ev->ts_ns - d->t0));
	if (ev->type == TSC_EV_LOST) {
		ob_str(o, " LOST ");
		ob_u64(o, ev->lost.count);
		ob_ch(o, ' ');
		ob_str(o, tsc_ev_name(ev->lost.type));
		ob_str(o, " events\n");
		return;
	}
	ob_ch(o, ' ');
	ob_str(o, tsc_ev_name(ev->type));
	ob_str(o, " tid=");
	ob_i64(o, ev->tid);
	ob_ch(o, ' ');
	switch (ev->type) {
	case TSC_EV_CREATE:
		ob_u64(o, ev->create.id);
		ob_ch(o, ' ');
		ob_name(o, ev->create.name);
		ob_str(o, " coro=");
		ob_name(o, ev->create.coro);
		ob_str(o, " parent=");
		text_task(d, ev->create.parent);
		if (ev->create.loop_tid != ev->tid) {
			ob_str(o, " loop_tid=");
			ob_i64(o, ev->create.loop_tid);
		}
		break;
	case TSC_EV_SWITCH:
		text_task(d, ev->sw.prev);
		ob_str(o, " -> ");
		text_task(d, ev->sw.next);
		break;
	case TSC_EV_FINISH:
		text_task(d, ev->finish.id);
		ob_ch(o, ' ');
		ob_str(o, state_name(ev->finish.outcome));
		break;
	case TSC_EV_RENAME:
		text_task(d, ev->rename.id);
		ob_str(o, " -> ");
		ob_name(o, ev->rename.name);
		break;
	case TSC_EV_WAIT:
		text_task(d, ev->wait.id);
		ob_ch(o, ' ');
		ob_str(o, wait_name(ev->wait.reason));
		switch (ev->wait.reason) {
		case TS_WAIT_SLEEP:
			ob_str(o, " until=");
			ob_secs(o, (int64_t)(ev->wait.object - d->t0));
			break;
		case TS_WAIT_FD:
			ob_str(o, " fd=");
			ob_u64(o, ev->wait.object);
			break;
		case TS_WAIT_AWAIT:
			ob_str(o, " task=");
			text_task(d, ev->wait.object);
			break;
		case TS_WAIT_YIELD:
			break;
		default: {
			char h[24];
			snprintf(h, sizeof(h), " obj=0x%" PRIx64, ev->wait.object);
			ob_str(o, h);
		}
		}
		break;
	case TSC_EV_THREAD_START:
	case TSC_EV_THREAD_STOP:
		ob_str(o, "loop=");
		ob_u64(o, ev->thread.loop);
		ob_str(o, " thread=");
		ob_i64(o, ev->thread.tid);
		break;
	case TSC_EV_EXEC:
		ob_str(o, "file=");
		ob_name(o, ev->exec.file);
		break;
	}
	ob_ch(o, '\n');
}

static void json_task_ref(struct dump *d, const char *key, uint64_t id)
{
	struct obuf *o = d->o;
	ob_str(o, ",\"");
	ob_str(o, key);
	ob_str(o, "\":");
	if (!id) {
		ob_str(o, "null");
		return;
	}
	ob_u64(o, id);
	ob_str(o, ",\"");
	ob_str(o, key);
	ob_str(o, "_name\":");
	ob_json(o, task_name(d, id));
}

static void json_event(struct dump *d, const struct tsc_event *ev)
{
	struct obuf *o = d->o;
	ob_str(o, "{\"t\":");
	ob_secs(o, (int64_t)(ev->ts_ns - d->t0));
	ob_str(o, ",\"ts_ns\":");
	ob_u64(o, ev->ts_ns);
	ob_str(o, ",\"type\":\"");
	ob_str(o, tsc_ev_name(ev->type));
	ob_ch(o, '"');
	if (ev->type == TSC_EV_LOST) {
		ob_str(o, ",\"event\":\"");
		ob_str(o, tsc_ev_name(ev->lost.type));
		ob_str(o, "\",\"count\":");
		ob_u64(o, ev->lost.count);
		ob_str(o, "}\n");
		return;
	}
	ob_str(o, ",\"tid\":");
	ob_i64(o, ev->tid);
	switch (ev->type) {
	case TSC_EV_CREATE:
		ob_str(o, ",\"id\":");
		ob_u64(o, ev->create.id);
		ob_str(o, ",\"name\":");
		ob_json(o, ev->create.name);
		ob_str(o, ",\"coro\":");
		ob_json(o, ev->create.coro);
		json_task_ref(d, "parent", ev->create.parent);
		ob_str(o, ",\"loop_tid\":");
		ob_i64(o, ev->create.loop_tid);
		break;
	case TSC_EV_SWITCH:
		json_task_ref(d, "prev", ev->sw.prev);
		json_task_ref(d, "next", ev->sw.next);
		break;
	case TSC_EV_FINISH:
		json_task_ref(d, "id", ev->finish.id);
		ob_str(o, ",\"outcome\":\"");
		ob_str(o, state_name(ev->finish.outcome));
		ob_ch(o, '"');
		break;
	case TSC_EV_RENAME:
		json_task_ref(d, "id", ev->rename.id);
		ob_str(o, ",\"name\":");
		ob_json(o, ev->rename.name);
		break;
	case TSC_EV_WAIT:
		json_task_ref(d, "id", ev->wait.id);
		ob_str(o, ",\"reason\":\"");
		ob_str(o, wait_name(ev->wait.reason));
		ob_str(o, "\",\"object\":");
		ob_u64(o, ev->wait.object);
		if (ev->wait.reason == TS_WAIT_AWAIT)
			json_task_ref(d, "awaiting", ev->wait.object);
		break;
	case TSC_EV_THREAD_START:
	case TSC_EV_THREAD_STOP:
		ob_str(o, ",\"loop\":");
		ob_u64(o, ev->thread.loop);
		ob_str(o, ",\"thread\":");
		ob_i64(o, ev->thread.tid);
		break;
	case TSC_EV_EXEC:
		ob_str(o, ",\"file\":");
		ob_json(o, ev->exec.file);
		break;
	}
	ob_str(o, "}\n");
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
		struct obuf *o = d->o;
		ob_str(o, "{\"type\":\"header\",\"version\":\"");
		ob_u64(o, h->major);
		ob_ch(o, '.');
		ob_u64(o, h->minor);
		ob_str(o, "\",\"pid\":");
		ob_i64(o, h->pid);
		ob_str(o, ",\"binary\":");
		ob_json(o, h->binary);
		ob_str(o, ",\"mono_ns\":");
		ob_u64(o, h->mono_ns);
		ob_str(o, ",\"real_ns\":");
		ob_u64(o, h->real_ns);
		ob_str(o, ",\"started\":\"");
		ob_str(o, when);
		ob_str(o, "\",\"snapshot\":{\"t\":");
		ob_secs(o, (int64_t)(s->taken_ns - d->t0));
		ob_str(o, ",\"threads\":");
		ob_u64(o, s->nthreads);
		ob_str(o, ",\"tasks\":");
		ob_u64(o, s->ntasks);
		ob_str(o, "}}\n");
	} else {
		char line[256];
		snprintf(line, sizeof(line), "# taskscope trace %u.%u: pid %d, ", h->major, h->minor,
			 h->pid);
		ob_str(d->o, line);
		ob_text(d->o, h->binary[0] ? h->binary : "?", SIZE_MAX, 0);
		snprintf(line, sizeof(line), ", started %s\n# snapshot at %+.6f s: %zu threads, "
			 "%zu tasks\n", when, (double)(int64_t)(s->taken_ns - d->t0) / 1e9,
			 s->nthreads, s->ntasks);
		ob_str(d->o, line);
	}
}

/* The closing line: totals, lost counts, and whether the file was whole. */
static void print_end(struct dump *d, int rc)
{
	const struct tsc_trace_rstats *st = tsc_trace_stats(d->r);
	struct obuf *o = d->o;
	uint64_t events = 0, lost = 0;
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++)
		events += st->events[t], lost += st->lost[t];
	if (d->json) {
		ob_str(o, "{\"type\":\"end\",\"events\":");
		ob_u64(o, events);
		ob_str(o, ",\"lost_total\":");
		ob_u64(o, lost);
		ob_str(o, ",\"lost\":{");
		for (int t = 1, first = 1; t <= TSC_EV_EVENTS_NR; t++) {
			if (!st->lost[t])
				continue;
			ob_str(o, first ? "\"" : ",\"");
			ob_str(o, tsc_ev_name((uint32_t)t));
			ob_str(o, "\":");
			ob_u64(o, st->lost[t]);
			first = 0;
		}
		ob_str(o, "},\"skipped\":");
		ob_u64(o, st->skipped);
		ob_str(o, ",\"exec\":");
		ob_str(o, d->execd ? "true" : "false");
		ob_str(o, ",\"complete\":");
		ob_str(o, rc == 0 ? "true" : "false");
		if (rc) {
			ob_str(o, ",\"error\":");
			ob_json(o, tsc_trace_reader_error(d->r));
		}
		ob_str(o, "}\n");
		return;
	}
	ob_str(o, "# ");
	ob_u64(o, events);
	ob_str(o, " events, ");
	ob_u64(o, lost);
	ob_str(o, " lost");
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++) {
		if (!st->lost[t])
			continue;
		ob_ch(o, ' ');
		ob_str(o, tsc_ev_name((uint32_t)t));
		ob_ch(o, '=');
		ob_u64(o, st->lost[t]);
	}
	if (d->execd)
		ob_str(o, ", ended by an exec");
	ob_str(o, rc == 0 ? ", complete\n" : ", INCOMPLETE (see the error)\n");
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

static void print_at(struct dump *d, uint64_t at_ns)
{
	struct obuf *o = d->o;
	size_t n;
	struct tsc_tstate_task **v = sorted_tasks(d, 1, &n);
	uint64_t lost = 0;
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++)
		lost += d->st.lost[t];
	if (!v)
		return;
	if (d->json) {
		ob_str(o, "{\"pid\":");
		ob_i64(o, d->st.pid);
		ob_str(o, ",\"reconciled\":false,\"events\":");
		ob_u64(o, d->st.events);
		ob_str(o, ",\"lost\":");
		ob_u64(o, lost);
		ob_str(o, ",\"map_full\":0,\"retries\":0,\"taken_ns\":");
		ob_u64(o, at_ns);
		ob_str(o, ",\"at\":");
		ob_secs(o, rel_ns(d, at_ns));
		ob_str(o, ",\"threads\":[");
		for (size_t i = 0, k = 0; i < d->st.nthreads; i++) {
			struct tsc_tstate_thread *th = &d->st.threads[i];
			if (!th->live)
				continue;
			ob_str(o, k++ ? ",{\"tid\":" : "{\"tid\":");
			ob_i64(o, th->tid);
			ob_str(o, ",\"loop\":");
			ob_u64(o, th->loop_id);
			ob_str(o, ",\"current\":");
			if (th->current)
				ob_u64(o, th->current);
			else
				ob_str(o, "null");
			ob_ch(o, '}');
		}
		ob_str(o, "],\"tasks\":[");
		for (size_t i = 0; i < n; i++) {
			struct tsc_tstate_task *t = v[i];
			int waiting = t->state == TS_WAITING;
			ob_str(o, i ? ",\n{\"id\":" : "\n{\"id\":");
			ob_u64(o, t->id);
			ob_str(o, ",\"name\":");
			ob_json(o, t->name);
			ob_str(o, ",\"coro\":");
			ob_json(o, t->coro);
			ob_str(o, ",\"state\":\"");
			ob_str(o, state_name(t->state));
			ob_str(o, "\",\"thread\":");
			ob_i64(o, t->tid);
			ob_str(o, ",\"parent\":");
			if (t->parent)
				ob_u64(o, t->parent);
			else
				ob_str(o, "null");
			ob_str(o, ",\"awaiting\":[");
			if (waiting && t->wait == TS_WAIT_AWAIT && t->wait_obj)
				ob_u64(o, t->wait_obj);
			ob_str(o, "],\"wait\":\"");
			ob_str(o, wait_name(waiting ? t->wait : TS_WAIT_NONE));
			ob_ch(o, '"');
			if (waiting && t->wait != TS_WAIT_NONE) {
				ob_str(o, ",\"wait_obj\":");
				ob_u64(o, t->wait_obj);
			}
			ob_str(o, ",\"created_ns\":");
			ob_u64(o, t->created_ns);
			ob_str(o, ",\"age_ms\":");
			ob_u64(o, at_ns > t->created_ns ? (at_ns - t->created_ns) / 1000000 : 0);
			ob_str(o, ",\"switches\":");
			ob_u64(o, t->switches);
			ob_ch(o, '}');
		}
		ob_str(o, "\n]}\n");
	} else {
		char line[512];
		snprintf(line, sizeof(line), "# at %+.6f s: %zu live tasks, %" PRIu64 " lost events\n",
			 (double)rel_ns(d, at_ns) / 1e9, n, lost);
		ob_str(o, line);
		ob_str(o, "THREAD   LOOP  CURRENT\n");
		for (size_t i = 0; i < d->st.nthreads; i++) {
			struct tsc_tstate_thread *th = &d->st.threads[i];
			if (!th->live)
				continue;
			snprintf(line, sizeof(line), "%-8d %4" PRIu64 "  ", th->tid, th->loop_id);
			ob_str(o, line);
			text_task(d, th->current);
			ob_ch(o, '\n');
		}
		ob_str(o, "\n      ID NAME                 STATE    WAIT     THREAD   PARENT  CORO\n");
		for (size_t i = 0; i < n; i++) {
			struct tsc_tstate_task *t = v[i];
			int waiting = t->state == TS_WAITING;
			char parent[24] = "-";
			if (t->parent)
				snprintf(parent, sizeof(parent), "%" PRIu64, t->parent);
			snprintf(line, sizeof(line), "%8" PRIu64 " ", t->id);
			ob_str(o, line);
			ob_cell(o, t->name, 20);
			snprintf(line, sizeof(line), "%-8s %-8s %-8d %-7s ", state_name(t->state),
				 waiting ? wait_name(t->wait) : "-", t->tid, parent);
			ob_str(o, line);
			ob_text(o, t->coro, SIZE_MAX, 0);
			ob_ch(o, '\n');
		}
	}
	free(v);
}

/* ---- --summary ---- */

static void fmt_dur(char *b, size_t n, uint64_t ns)
{
	if (ns < 1000000ull)
		snprintf(b, n, "%.1fus", (double)ns / 1e3);
	else if (ns < 1000000000ull)
		snprintf(b, n, "%.2fms", (double)ns / 1e6);
	else
		snprintf(b, n, "%.3fs", (double)ns / 1e9);
}

static void print_summary(struct dump *d, uint64_t end_ns)
{
	struct obuf *o = d->o;
	size_t n;
	struct tsc_tstate_task **v = sorted_tasks(d, 0, &n);
	char line[512], life[24], cpu[24], created[24];
	if (!v)
		return;
	if (!d->json)
		ob_str(o, "      ID NAME                 CORO             CREATED     LIFETIME   "
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
			ob_str(o, "{\"id\":");
			ob_u64(o, t->id);
			ob_str(o, ",\"name\":");
			ob_json(o, t->name);
			ob_str(o, ",\"coro\":");
			ob_json(o, t->coro);
			ob_str(o, ",\"from_snapshot\":");
			ob_str(o, t->from_snapshot ? "true" : "false");
			ob_str(o, ",\"created\":");
			ob_secs(o, (int64_t)(t->created_ns - d->t0));
			ob_str(o, ",\"finished\":");
			if (t->finished_ns)
				ob_secs(o, (int64_t)(t->finished_ns - d->t0));
			else
				ob_str(o, "null");
			ob_str(o, ",\"outcome\":");
			if (t->finished_ns) {
				ob_ch(o, '"');
				ob_str(o, state_name(t->state));
				ob_ch(o, '"');
			} else {
				ob_str(o, "null");
			}
			ob_str(o, ",\"lifetime_ns\":");
			ob_u64(o, lifetime);
			ob_str(o, ",\"cpu_ns\":");
			ob_u64(o, cpu_ns);
			ob_str(o, ",\"switches\":");
			ob_u64(o, sw);
			ob_str(o, ",\"waits\":{");
			for (int w = 0, first = 1; w < 8; w++) {
				if (!t->waits[w])
					continue;
				ob_str(o, first ? "\"" : ",\"");
				ob_str(o, w ? wait_name((uint32_t)w) : "other");
				ob_str(o, "\":");
				ob_u64(o, t->waits[w]);
				first = 0;
			}
			ob_str(o, "}}\n");
			continue;
		}
		char waits[160] = "", *p = waits;
		for (int w = 0; w < 8; w++)
			if (t->waits[w])
				p += snprintf(p, (size_t)(waits + sizeof(waits) - p), "%s%s=%" PRIu64,
					      p == waits ? "" : " ", w ? wait_name((uint32_t)w) : "other",
					      t->waits[w]);
		fmt_dur(life, sizeof(life), lifetime);
		fmt_dur(cpu, sizeof(cpu), cpu_ns);
		snprintf(created, sizeof(created), "%+.6f", (double)(int64_t)(t->created_ns - d->t0) / 1e9);
		snprintf(line, sizeof(line), "%8" PRIu64 " ", t->id);
		ob_str(o, line);
		ob_cell(o, t->name, 20);
		ob_cell(o, t->coro, 16);
		snprintf(line, sizeof(line), "%-11s %-10s %-10s %8" PRIu64 " %s%s\n", created, life,
			 cpu, sw, waits[0] ? waits : "-", t->finished_ns ? "" : " (live)");
		ob_str(o, line);
	}
	free(v);
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

int tsc_cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },   { "at", required_argument, NULL, 'a' },
		{ "summary", no_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dump d = { 0 };
	struct tsc_event ev;
	int c, rc, err = 0, status;

	optind = 0;
	while ((c = getopt_long(argc, argv, "ja:sh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': d.json = 1; break;
		case 's': d.summary = 1; break;
		case 'a':
			d.has_at = 1;
			if (parse_at(optarg, &d)) {
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
	if (optind != argc - 1 || (d.has_at && d.summary)) {
		fprintf(stderr, optind != argc - 1 ? "taskscope dump: one trace FILE is needed\n"
						   : "taskscope dump: --at and --summary exclude each other\n");
		fprintf(stderr, "Try 'taskscope dump --help'.\n");
		return TSC_EXIT_USAGE;
	}
	d.path = argv[optind];
	d.o = malloc(sizeof(*d.o));
	d.r = tsc_trace_reader_new(NULL, NULL);
	if (!d.o || !d.r) {
		fprintf(stderr, "taskscope dump: out of memory\n");
		status = TSC_EXIT_ERROR;
		goto cleanup;
	}
	d.o->f = stdout;
	d.o->n = 0;
	rc = tsc_trace_reader_open_file(d.r, d.path);
	if (rc) {
		fprintf(stderr, "taskscope dump: %s: %s\n", d.path, tsc_trace_reader_error(d.r));
		status = TSC_EXIT_ERROR;
		goto cleanup;
	}
	d.t0 = tsc_trace_header(d.r)->mono_ns;
	if (tsc_tstate_init(&d.st, tsc_trace_snapshot(d.r))) {
		fprintf(stderr, "taskscope dump: out of memory\n");
		status = TSC_EXIT_ERROR;
		goto cleanup;
	}
	int events_out = !d.has_at && !d.summary;
	if (!d.summary)
		tsc_tstate_forget_finished(&d.st);
	uint64_t at_ns = at_clock(d.t0, d.at);
	/* events come nearly in time order: across CPUs by up to a few microseconds */
	uint64_t stop_ns = at_ns > UINT64_MAX - 100000000ull ? UINT64_MAX : at_ns + 100000000ull;
	if (events_out)
		print_header(&d);
	d.last_ns = tsc_trace_snapshot(d.r)->taken_ns;
	while ((rc = tsc_trace_next(d.r, &ev)) == 1) {
		if (d.has_at && !d.at_end) {
			if (ev.ts_ns > stop_ns)
				break;
			if (ev.ts_ns > at_ns)
				continue;
		}
		if (events_out) {
			if (d.json)
				json_event(&d, &ev);
			else
				text_event(&d, &ev);
		}
		if (ev.ts_ns > d.last_ns)
			d.last_ns = ev.ts_ns;
		if (ev.type == TSC_EV_EXEC)
			d.execd = 1;
		if ((err = tsc_tstate_apply(&d.st, &ev)))
			break;
	}
	if (rc == 1)
		rc = 0; /* stopped early on purpose (--at) */
	if (err) {
		ob_flush(d.o);
		fprintf(stderr, "taskscope dump: out of memory\n");
		status = TSC_EXIT_ERROR;
		goto cleanup;
	}
	uint64_t end_ns = tsc_trace_stats(d.r)->footer ? tsc_trace_stats(d.r)->end_ns : d.last_ns;
	if (end_ns < d.last_ns)
		end_ns = d.last_ns;
	if (events_out)
		print_end(&d, rc);
	else if (d.has_at)
		print_at(&d, d.at_end ? end_ns : at_ns);
	else
		print_summary(&d, end_ns);
	if (d.summary && d.json)
		print_end(&d, rc);
	if (d.summary && !d.json) {
		uint64_t lost = 0;
		char line[256];
		for (int t = 1; t <= TSC_EV_EVENTS_NR; t++)
			lost += tsc_trace_stats(d.r)->lost[t];
		snprintf(line, sizeof(line), "# %" PRIu64 " lost events%s\n", lost,
			 lost ? " (per-task figures miss what they held)" : "");
		ob_str(d.o, line);
	}
	ob_flush(d.o);
	fflush(stdout);
	if (rc < 0) {
		fprintf(stderr, "taskscope dump: %s: %s\n", d.path, tsc_trace_reader_error(d.r));
		status = TSC_EXIT_ERROR;
	} else {
		status = TSC_EXIT_OK;
	}
	/* lost events are shown by every reader, also when only a state was asked for */
	if (!events_out) {
		const struct tsc_trace_rstats *st = tsc_trace_stats(d.r);
		for (int t = 1; t <= TSC_EV_EVENTS_NR; t++)
			if (st->lost[t] && !d.summary)
				fprintf(stderr, "taskscope dump: LOST %" PRIu64 " %s events\n",
					st->lost[t], tsc_ev_name((uint32_t)t));
	}
cleanup:
	tsc_tstate_free(&d.st);
	tsc_trace_reader_free(d.r);
	free(d.o);
	return status;
}
