/* SPDX-License-Identifier: MIT */
/*
 * taskscope export: a trace file as Perfetto TrackEvent protobuf (the default) or Chrome JSON.
 * One track per loop thread; a slice for each run of a task, from its switch in to its switch
 * out; flows from a task's creation to its first run (spawn) and from a wait on a task to that
 * task's finish (await).
 *
 * The protobuf is written by hand: a Trace is a run of `packet` fields (1, length-delimited),
 * each a TracePacket. Field numbers, from Perfetto's protos/perfetto/trace/ (the subset the
 * tests decode with is tests/proto/perfetto_trace.proto):
 *   TracePacket: timestamp 8, timestamp_clock_id 58, track_event 11,
 *                trusted_packet_sequence_id 10, sequence_flags 13, track_descriptor 60
 *   TrackDescriptor: uuid 1, name 2, process 3 {pid 1, process_name 6},
 *                    thread 4 {pid 1, tid 2, thread_name 5}
 *   TrackEvent: type 9 (1 begin, 2 end, 3 instant), track_uuid 11, name 23, categories 22,
 *               debug_annotations 4 {name 10, uint_value 3, string_value 6},
 *               flow_ids 47 (fixed64), terminating_flow_ids 48 (fixed64)
 *
 * Chrome JSON goes through the one JSON writer (out/json.h). Every event of it has category
 * "task": DevTools binds a flow to a slice of the flow's own category.
 */
#include "cli.h"
#include "out/json.h"
#include "out/out.h"
#include "out/outfile.h"
#include "trace/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

#define PROCESS_UUID 1ull
#define THREAD_UUID(tid) (0x100000000ull | (uint32_t)(tid))
#define SPAWN_FLOW(id) ((id) << 1)
#define SEQ_ID 1
/* ClockSnapshot.BuiltinClocks: the probes' clock (bpf_ktime_get_ns) and so every time of a
 * trace file. Perfetto assumes BOOTTIME when no clock is named; named, a taskscope trace
 * lines up with a system trace of the same machine. */
#define BUILTIN_CLOCK_MONOTONIC 3
#define CHROME_CAT "task"

struct flow { uint64_t awaited, id; };

struct slice { int32_t tid; uint64_t task, since; int open; };

struct exp {
	FILE *f;
	struct tsc_json *w;          /* Chrome JSON: the writer onto f */
	int chrome, first;
	int pid;
	const char *process;         /* the program's name */
	uint64_t t0;                 /* Chrome JSON: time 0, at or before every event */
	struct tsc_tstate st;
	struct slice *sl;            /* one per thread seen */
	size_t nsl, slcap;
	struct flow *flows;          /* pending await flows */
	size_t nflows, flcap;
	uint64_t next_flow;
	uint64_t slices, instants, nflow_out;
	int err;
};

/* ---- protobuf ---- */

/* A message being built. Only its n is set when it starts: an initializer would zero all
 * 16 KiB, for every event. */
struct pb {
	uint8_t b[16384];
	size_t n;
};

static void pb_varint(struct pb *p, uint64_t v)
{
	if (p->n + 10 > sizeof(p->b))
		return;
	while (v >= 0x80) {
		p->b[p->n++] = (uint8_t)v | 0x80;
		v >>= 7;
	}
	p->b[p->n++] = (uint8_t)v;
}

static void pb_tag(struct pb *p, unsigned field, unsigned wire)
{
	pb_varint(p, (uint64_t)field << 3 | wire);
}

static void pb_uint(struct pb *p, unsigned field, uint64_t v)
{
	pb_tag(p, field, 0);
	pb_varint(p, v);
}

static void pb_bytes(struct pb *p, unsigned field, const void *data, size_t n)
{
	if (p->n + n + 20 > sizeof(p->b))
		return;
	pb_tag(p, field, 2);
	pb_varint(p, n);
	memcpy(p->b + p->n, data, n);
	p->n += n;
}

/* A protobuf string must be UTF-8: names from the target get U+FFFD for each bad byte. */
static void pb_string(struct pb *p, unsigned field, const char *s)
{
	char clean[3 * 4096 + 1];
	pb_bytes(p, field, clean, tsc_utf8_clean(clean, sizeof(clean), s));
}

static void pb_fixed64(struct pb *p, unsigned field, uint64_t v)
{
	if (p->n + 20 > sizeof(p->b))
		return;
	pb_tag(p, field, 1);
	memcpy(p->b + p->n, &v, 8);
	p->n += 8;
}

static void pb_msg(struct pb *p, unsigned field, const struct pb *m)
{
	pb_bytes(p, field, m->b, m->n);
}

/* Write one TracePacket as a `packet` field of the Trace. */
static void put_packet(struct exp *e, uint64_t ts, unsigned field, const struct pb *body)
{
	static struct pb pk;
	pk.n = 0;
	if (ts) {
		pb_uint(&pk, 8, ts);
		pb_uint(&pk, 58, BUILTIN_CLOCK_MONOTONIC);
	}
	pb_uint(&pk, 10, SEQ_ID);
	if (e->first) {
		pb_uint(&pk, 13, 1); /* SEQ_INCREMENTAL_STATE_CLEARED */
		e->first = 0;
	}
	pb_msg(&pk, field, body);
	uint8_t hdr[12];
	size_t k = 0;
	hdr[k++] = 1 << 3 | 2;
	for (uint64_t v = pk.n; ; v >>= 7) {
		hdr[k++] = (uint8_t)(v & 0x7f) | (v >= 0x80 ? 0x80 : 0);
		if (v < 0x80)
			break;
	}
	if (fwrite(hdr, 1, k, e->f) != k || fwrite(pk.b, 1, pk.n, e->f) != pk.n)
		e->err = -EIO;
}

/* ---- Chrome JSON ---- */

/* key: microseconds, exact to the nanosecond ("12.345"). Never negative: Perfetto drops an
 * event with a negative time. */
static void chrome_us(struct exp *e, const char *key, uint64_t ns)
{
	tsc_json_key(e->w, key);
	char *p = tsc_json_fmt_u64(tsc_json_elem(e->w, 24), ns / 1000);
	*p++ = '.';
	for (int i = 2; i >= 0; i--, ns /= 10)
		p[i] = (char)('0' + ns % 10);
	tsc_json_done(e->w, p + 3, 1);
}

/* Open the object of one trace event, one per line: ph, cat, pid, tid, ts (ts_ns 0: none). */
static void chrome_event(struct exp *e, const char *ph, int32_t tid, uint64_t ts_ns)
{
	struct tsc_json *w = e->w;
	tsc_json_nl(w);
	tsc_json_obj(w);
	tsc_json_key(w, "ph");
	tsc_json_lit(w, ph);
	tsc_json_key(w, "cat");
	tsc_json_lit(w, CHROME_CAT);
	tsc_json_key(w, "pid");
	tsc_json_i64(w, e->pid);
	if (tid) {
		tsc_json_key(w, "tid");
		tsc_json_i64(w, tid);
	}
	if (ts_ns)
		chrome_us(e, "ts", ts_ns > e->t0 ? ts_ns - e->t0 : 0);
}

/* A flow's start ("s") or end ("f", bound to the enclosing slice), named after its kind. */
static void chrome_flow(struct exp *e, const char *ph, const char *kind, uint64_t id,
			int32_t tid, uint64_t ts_ns)
{
	chrome_event(e, ph, tid, ts_ns);
	if (ph[0] == 'f') {
		tsc_json_key(e->w, "bp");
		tsc_json_lit(e->w, "e");
	}
	tsc_json_key(e->w, "name");
	tsc_json_lit(e->w, kind);
	tsc_json_key(e->w, "id");
	tsc_json_u64(e->w, id);
	tsc_json_end_obj(e->w);
}

/* A metadata event: name (process_name, thread_name) with args {"name": value}. */
static void chrome_meta(struct exp *e, int32_t tid, const char *name, const char *value)
{
	chrome_event(e, "M", tid, 0);
	tsc_json_key(e->w, "name");
	tsc_json_lit(e->w, name);
	tsc_json_key(e->w, "args");
	tsc_json_obj(e->w);
	tsc_json_key(e->w, "name");
	tsc_json_string(e->w, value);
	tsc_json_end_obj(e->w);
	tsc_json_end_obj(e->w);
}

/* ---- tracks, slices, instants in either format ---- */

static const char *name_of(struct exp *e, uint64_t id)
{
	struct tsc_tstate_task *t = tsc_tstate_task(&e->st, id);
	return t && t->name[0] ? t->name : "?";
}

static struct slice *thread_track(struct exp *e, int32_t tid, uint64_t loop)
{
	for (size_t i = 0; i < e->nsl; i++)
		if (e->sl[i].tid == tid)
			return &e->sl[i];
	if (e->nsl == e->slcap) {
		size_t n = e->slcap ? e->slcap * 2 : 16;
		void *p = realloc(e->sl, n * sizeof(*e->sl));
		if (!p) {
			e->err = -ENOMEM;
			return NULL;
		}
		e->sl = p;
		e->slcap = n;
	}
	struct slice *s = &e->sl[e->nsl++];
	*s = (struct slice){ .tid = tid };
	char name[64];
	if (loop)
		snprintf(name, sizeof(name), "loop %" PRIu64 " (tid %d)", loop, tid);
	else
		snprintf(name, sizeof(name), "tid %d", tid);
	if (e->chrome) {
		chrome_meta(e, tid, "thread_name", name);
	} else {
		struct pb td, th;
		td.n = th.n = 0;
		pb_uint(&th, 1, (uint64_t)(uint32_t)e->pid);
		pb_uint(&th, 2, (uint64_t)(uint32_t)tid);
		pb_string(&th, 5, name);
		pb_uint(&td, 1, THREAD_UUID(tid));
		pb_string(&td, 2, name);
		pb_msg(&td, 4, &th);
		put_packet(e, 0, 60, &td);
	}
	return s;
}

static void process_track(struct exp *e)
{
	char name[300];
	snprintf(name, sizeof(name), "%.255s (pid %d)", e->process, e->pid);
	if (e->chrome) {
		chrome_meta(e, 0, "process_name", name);
	} else {
		struct pb td, pr;
		td.n = pr.n = 0;
		pb_uint(&pr, 1, (uint64_t)(uint32_t)e->pid);
		pb_string(&pr, 6, name);
		pb_uint(&td, 1, PROCESS_UUID);
		pb_string(&td, 2, name);
		pb_msg(&td, 3, &pr);
		put_packet(e, 0, 60, &td);
	}
}

static void begin_slice(struct exp *e, struct slice *s, uint64_t ts, uint64_t task,
			uint64_t end_flow)
{
	s->open = 1;
	s->task = task;
	s->since = ts;
	if (e->chrome) {
		if (end_flow)
			chrome_flow(e, "f", "spawn", end_flow, s->tid, ts);
		return; /* the X event is written at the end of the slice */
	}
	struct pb ev, a;
	ev.n = a.n = 0;
	struct tsc_tstate_task *t = tsc_tstate_task(&e->st, task);
	pb_uint(&ev, 9, 1);
	pb_uint(&ev, 11, THREAD_UUID(s->tid));
	pb_string(&ev, 22, "task");
	pb_string(&ev, 23, name_of(e, task));
	pb_string(&a, 10, "task_id");
	pb_uint(&a, 3, task);
	pb_msg(&ev, 4, &a);
	if (t && t->coro[0]) {
		a.n = 0;
		pb_string(&a, 10, "coro");
		pb_string(&a, 6, t->coro);
		pb_msg(&ev, 4, &a);
	}
	if (end_flow)
		pb_fixed64(&ev, 48, end_flow);
	put_packet(e, ts, 11, &ev);
}

static void end_slice(struct exp *e, struct slice *s, uint64_t ts)
{
	if (!s->open)
		return;
	s->open = 0;
	e->slices++;
	if (e->chrome) {
		struct tsc_tstate_task *t = tsc_tstate_task(&e->st, s->task);
		chrome_event(e, "X", s->tid, s->since);
		chrome_us(e, "dur", ts >= s->since ? ts - s->since : 0);
		tsc_json_key(e->w, "name");
		tsc_json_string(e->w, name_of(e, s->task));
		tsc_json_key(e->w, "args");
		tsc_json_obj(e->w);
		tsc_json_key(e->w, "task_id");
		tsc_json_u64(e->w, s->task);
		tsc_json_key(e->w, "coro");
		tsc_json_string(e->w, t ? t->coro : "");
		tsc_json_end_obj(e->w);
		tsc_json_end_obj(e->w);
		return;
	}
	struct pb ev;
	ev.n = 0;
	pb_uint(&ev, 9, 2);
	pb_uint(&ev, 11, THREAD_UUID(s->tid));
	put_packet(e, ts, 11, &ev);
}

/* An instant on a thread, starting flow `out` and ending the flows `in` (either may be 0). */
static void instant(struct exp *e, struct slice *s, uint64_t ts, const char *name,
		    const char *flow_kind, uint64_t out, const uint64_t *in, size_t nin)
{
	e->instants++;
	if (e->chrome) {
		chrome_event(e, "i", s->tid, ts);
		tsc_json_key(e->w, "s");
		tsc_json_lit(e->w, "t");
		tsc_json_key(e->w, "name");
		tsc_json_string(e->w, name);
		tsc_json_end_obj(e->w);
		if (out)
			chrome_flow(e, "s", flow_kind, out, s->tid, ts);
		for (size_t i = 0; i < nin; i++)
			chrome_flow(e, "f", "await", in[i], s->tid, ts);
		return;
	}
	struct pb ev;
	ev.n = 0;
	pb_uint(&ev, 9, 3);
	pb_uint(&ev, 11, THREAD_UUID(s->tid));
	pb_string(&ev, 22, "task");
	pb_string(&ev, 23, name);
	if (out)
		pb_fixed64(&ev, 47, out);
	for (size_t i = 0; i < nin; i++)
		pb_fixed64(&ev, 48, in[i]);
	put_packet(e, ts, 11, &ev);
}

/* ---- the walk ---- */

static void on_event(struct exp *e, const struct tsc_event *ev)
{
	char name[TS_NAME_MAX + 32];
	struct slice *s;
	struct tsc_tstate_task *t;

	switch (ev->type) {
	case TSC_EV_SWITCH: {
		if (!(s = thread_track(e, ev->tid, 0)))
			return;
		end_slice(e, s, ev->ts_ns);
		if (!ev->sw.next)
			break;
		t = tsc_tstate_task(&e->st, ev->sw.next);
		/* a task created in this trace and running for the first time ends its spawn flow */
		uint64_t flow = t && !t->from_snapshot && !t->first_run_ns && t->created_ns
					? SPAWN_FLOW(ev->sw.next)
					: 0;
		begin_slice(e, s, ev->ts_ns, ev->sw.next, flow);
		break;
	}
	case TSC_EV_CREATE:
		if (!(s = thread_track(e, ev->tid, 0)))
			return;
		snprintf(name, sizeof(name), "spawn %s", ev->create.name);
		instant(e, s, ev->ts_ns, name, "spawn", SPAWN_FLOW(ev->create.id), NULL, 0);
		e->nflow_out++;
		break;
	case TSC_EV_WAIT:
		if (ev->wait.reason != TS_WAIT_AWAIT || !(s = thread_track(e, ev->tid, 0)))
			break;
		if (e->nflows == e->flcap) {
			size_t n = e->flcap ? e->flcap * 2 : 64;
			void *p = realloc(e->flows, n * sizeof(*e->flows));
			if (!p) {
				e->err = -ENOMEM;
				return;
			}
			e->flows = p;
			e->flcap = n;
		}
		uint64_t id = (++e->next_flow << 1) | 1;
		e->flows[e->nflows++] = (struct flow){ .awaited = ev->wait.object, .id = id };
		snprintf(name, sizeof(name), "await %s", name_of(e, ev->wait.object));
		instant(e, s, ev->ts_ns, name, "await", id, NULL, 0);
		e->nflow_out++;
		break;
	case TSC_EV_FINISH: {
		uint64_t in[64];
		size_t nin = 0;
		if (!(s = thread_track(e, ev->tid, 0)))
			return;
		for (size_t i = 0; i < e->nflows;) {
			if (e->flows[i].awaited == ev->finish.id && nin < 64) {
				in[nin++] = e->flows[i].id;
				e->flows[i] = e->flows[--e->nflows];
			} else {
				i++;
			}
		}
		snprintf(name, sizeof(name), "finish %s", name_of(e, ev->finish.id));
		instant(e, s, ev->ts_ns, name, "await", 0, in, nin);
		break;
	}
	case TSC_EV_THREAD_START:
		thread_track(e, ev->thread.tid, ev->thread.loop);
		break;
	case TSC_EV_THREAD_STOP:
		if ((s = thread_track(e, ev->thread.tid, ev->thread.loop)))
			end_slice(e, s, ev->ts_ns);
		break;
	case TSC_EV_LOST:
		if (e->nsl) {
			snprintf(name, sizeof(name), "LOST %" PRIu64 " %s events", ev->lost.count,
				 tsc_ev_name(ev->lost.type));
			instant(e, &e->sl[0], ev->ts_ns, name, "", 0, NULL, 0);
		}
		break;
	case TSC_EV_EXEC:
		/* the old program is gone: every run ends here */
		if (e->nsl) {
			snprintf(name, sizeof(name), "exec %.80s", ev->exec.file);
			instant(e, &e->sl[0], ev->ts_ns, name, "", 0, NULL, 0);
		}
		for (size_t i = 0; i < e->nsl; i++)
			end_slice(e, &e->sl[i], ev->ts_ns);
		break;
	}
}

static void export_usage(FILE *f)
{
	fprintf(f,
		"taskscope export: convert a trace file for a timeline viewer.\n\n"
		"USAGE: taskscope export FILE [--format perfetto|chrome] -o OUT\n\n"
		"  -f, --format FORMAT    perfetto (the default): Perfetto TrackEvent protobuf;\n"
		"                         open OUT in the Perfetto UI (ui.perfetto.dev) or\n"
		"                         trace_processor. chrome: Chrome JSON trace events\n"
		"                         (chrome://tracing, Perfetto's legacy JSON importer)\n"
		"  -o, --output OUT       the output file (\"-\" for standard output), mode 0600;\n"
		"                         a regular file there is replaced once the conversion\n"
		"                         is written, a symbolic link or anything else refused\n"
		"  -v, --verbose          counts of slices, instants and flows on stderr\n"
		"  -h, --help             this help\n\n"
		"One track per loop thread, a slice per run of a task, flows from a task's creation\n"
		"to its first run and from a wait on a task to that task's finish. A damaged file\n"
		"is converted up to the fault; the exit status is then 1.\n\n"
		"EXAMPLES:\n"
		"  taskscope export run.tsc -o run.pftrace\n"
		"  taskscope export run.tsc --format chrome -o run.json\n");
}

struct export_opts {
	const char *path, *out;
	int chrome;
};

/* Chrome JSON's time 0: the start of the recording, or the earliest time of the file when
 * something came before it (the snapshot, and the events the ring buffer held from the attach
 * on, are older than the file's header). One more pass over the events: a Chrome trace has
 * no negative times, and stays readable as seconds since the start. */
static uint64_t chrome_origin(const char *path, uint64_t t0)
{
	struct tsc_trace_reader *r = tsc_trace_reader_new(NULL, NULL);
	struct tsc_event ev;
	if (r && !tsc_trace_reader_open_file(r, path)) {
		if (tsc_trace_snapshot(r)->taken_ns && tsc_trace_snapshot(r)->taken_ns < t0)
			t0 = tsc_trace_snapshot(r)->taken_ns;
		while (tsc_trace_next(r, &ev) == 1)
			if (ev.ts_ns < t0)
				t0 = ev.ts_ns;
	}
	tsc_trace_reader_free(r);
	return t0;
}

static int run_export(const struct export_opts *o)
{
	struct exp e = { .first = 1, .chrome = o->chrome };
	struct tsc_trace_reader *r = NULL;
	struct tsc_event ev;
	const char *out = o->out, *path = o->path;
	struct tsc_outfile of = { .fd = -1, .dirfd = -1 };
	int rc = 0, err, status = TSC_EXIT_ERROR;

	if (!(r = tsc_trace_reader_new(NULL, NULL)))
		goto cleanup;
	if (tsc_trace_reader_open_file(r, path)) {
		fprintf(stderr, "taskscope export: %s: %s\n", path, tsc_trace_reader_error(r));
		goto cleanup;
	}
	if (!strcmp(out, "-")) {
		e.f = stdout;
	} else {
		int fd, err = tsc_outfile_open(&of, out);
		if (!err && ((fd = fcntl(of.fd, F_DUPFD_CLOEXEC, 0)) < 0 || !(e.f = fdopen(fd, "w")))) {
			err = -errno;
			if (fd >= 0)
				close(fd);
		}
		if (err) {
			fprintf(stderr, "taskscope export: cannot create %s: %s\n", out,
				tsc_outfile_strerror(err));
			goto cleanup;
		}
	}
	const struct tsc_trace_header *h = tsc_trace_header(r);
	const struct tsc_snapshot *snap = tsc_trace_snapshot(r);
	e.pid = h->pid;
	e.process = tsc_trace_process_name(h);
	if (e.chrome && !(e.w = tsc_json_new(e.f))) {
		e.err = -ENOMEM;
		goto finish;
	}
	if (tsc_tstate_init(&e.st, snap)) {
		e.err = -ENOMEM;
		goto finish;
	}
	tsc_tstate_forget_finished(&e.st);
	if (e.chrome) {
		e.t0 = chrome_origin(path, h->mono_ns);
		tsc_json_obj(e.w);
		tsc_json_key(e.w, "displayTimeUnit");
		tsc_json_lit(e.w, "ns");
		tsc_json_key(e.w, "traceEvents");
		tsc_json_arr(e.w);
	}
	process_track(&e);
	for (size_t i = 0; i < snap->nthreads; i++) {
		struct slice *s = thread_track(&e, snap->threads[i].tid, snap->threads[i].loop_id);
		if (s && snap->threads[i].current)
			begin_slice(&e, s, snap->taken_ns, snap->threads[i].current, 0);
	}
	uint64_t last = snap->taken_ns;
	while ((rc = tsc_trace_next(r, &ev)) == 1 && !e.err) {
		on_event(&e, &ev);
		if (ev.ts_ns > last)
			last = ev.ts_ns;
		if (tsc_tstate_apply(&e.st, &ev))
			e.err = -ENOMEM;
	}
	if (tsc_trace_stats(r)->footer && tsc_trace_stats(r)->end_ns > last)
		last = tsc_trace_stats(r)->end_ns;
	for (size_t i = 0; i < e.nsl; i++)
		end_slice(&e, &e.sl[i], last);
	if (e.chrome) {
		tsc_json_ch(e.w, '\n');
		tsc_json_end_arr(e.w);
		tsc_json_end_obj(e.w);
		tsc_json_ch(e.w, '\n');
	}
finish:
	tsc_json_free(e.w);
	if (fflush(e.f) || ferror(e.f))
		e.err = -EIO;
	/* the name is given only to a whole conversion (of a damaged file too, up to its
	 * fault): a failed write leaves whatever was there before */
	if (e.f != stdout && !e.err && (err = tsc_outfile_publish(&of)))
		e.err = err;
	if (e.f != stdout)
		fclose(e.f);
	if (e.err) {
		fprintf(stderr, "taskscope export: writing %s: %s\n", out,
			tsc_outfile_strerror(e.err));
	} else if (rc < 0) {
		fprintf(stderr, "taskscope export: %s: %s (converted up to there)\n", path,
			tsc_trace_reader_error(r));
	} else {
		status = TSC_EXIT_OK;
	}
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++)
		if (tsc_trace_stats(r)->lost[t])
			fprintf(stderr, "taskscope export: LOST %" PRIu64 " %s events\n",
				tsc_trace_stats(r)->lost[t], tsc_ev_name((uint32_t)t));
	if (tsc_verbose)
		fprintf(stderr, "taskscope export: %" PRIu64 " slices, %" PRIu64 " instants, %" PRIu64
				" flows\n", e.slices, e.instants, e.nflow_out);
cleanup:
	tsc_outfile_close(&of);
	tsc_tstate_free(&e.st);
	free(e.sl);
	free(e.flows);
	tsc_trace_reader_free(r);
	return status;
}

/* Options into o: -1 to go on, else the exit code (0 after --help). */
static int parse_export_opts(int argc, char **argv, struct export_opts *o)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' }, { "output", required_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },      { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "f:o:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "chrome") || !strcmp(optarg, "json")) {
				o->chrome = 1;
			} else if (strcmp(optarg, "perfetto") && strcmp(optarg, "protobuf")) {
				fprintf(stderr, "taskscope export: unknown format '%s': perfetto or "
						"chrome\n", optarg);
				return TSC_EXIT_USAGE;
			}
			break;
		case 'o': o->out = optarg; break;
		case 'v': tsc_verbose++; break;
		case 'h': export_usage(stdout); return TSC_EXIT_OK;
		default:
			fprintf(stderr, "Try 'taskscope export --help'.\n");
			return TSC_EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || !o->out) {
		fprintf(stderr, "taskscope export: %s\nTry 'taskscope export --help'.\n",
			optind != argc - 1 ? "one trace FILE is needed" : "-o OUT is needed");
		return TSC_EXIT_USAGE;
	}
	o->path = argv[optind];
	return -1;
}

int tsc_cmd_export(int argc, char **argv)
{
	struct export_opts o = { 0 };
	int rc = parse_export_opts(argc, argv, &o);
	return rc >= 0 ? rc : run_export(&o);
}
