/* SPDX-License-Identifier: MIT */
/*
 * taskscope record from the target's event rings (docs/rings.md), and --flight.
 *
 * The rings are located through the descriptor (ABI version 2 on), a backlog made ahead and a
 * copier thread started (target/rings_map.c: each mapped ring copied every millisecond);
 * then the rings probe is held (the kernel raises its semaphore: the loops make their rings
 * and start writing), the snapshot read and written, and the copies decoded by this thread
 * (target/rings.c), their events merged by time into the trace. At the end the probe is let
 * go (the kernel lowers the semaphore: the writing stops), the rings read up to where they
 * ended, and what each ring fired and never reached us, exact per type, is written as LOST
 * records.
 */
#include "cli.h"
#include "out/out.h"
#include "probes/ringsem.h"
#include "record.h"
#include "target/collect.h"
#include "target/remote.h"
#include "target/rings.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sys/resource.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* At the end, drains until the rings are read up to where they ended (each copies a
 * backlog's worth: a 16 MiB ring takes one), and no more than this many. */
#define FINAL_DRAINS 4096
#define DECODE_NICE 10

/* One ring event into the file: thread ids in our namespace (the same ids, mostly: then the
 * event goes as it is, not copied: a copy of what the decoder has just stored costs more
 * than the rest of the event's way). */
static int on_ring_event(void *ctx, const struct tsc_event *ev)
{
	struct rec *R = ctx;
	struct tsc_event e;
	int32_t tid = tsc_tidcache_outer(&R->tids, ev->tid, ev->ts_ns);
	if (tid != ev->tid || ev->type == TSC_EV_CREATE) {
		e = *ev;
		e.tid = tid;
		if (e.type == TSC_EV_CREATE)
			e.create.loop_tid = tsc_tidcache_outer(&R->tids, ev->create.loop_tid,
							       ev->ts_ns);
		else if (e.type == TSC_EV_THREAD_START || e.type == TSC_EV_THREAD_STOP)
			e.thread.tid = tid;
		ev = &e;
	}
	R->received[ev->type]++;
	int err = tsc_trace_event(R->w, ev);
	if (err && !R->err)
		R->err = err;
	return err;
}

/* What the rings fired and we never got: LOST records (with write), and with -v per thread
 * and per type. A lost READY has no LOST record (the file counts types 1..7): it is one
 * scheduling latency fewer, never a wrong one, and -v says how many. */
static int ring_losses(struct rec *R, struct tsc_rings *rings, uint64_t end, int write)
{
	struct tsc_ring_stats sum;
	uint64_t lost[TSC_EV_NR];
	for (size_t i = 0; i < tsc_rings_count(rings) && tsc_verbose; i++) {
		struct tsc_ring_stats st;
		tsc_rings_stats(rings, i, &st);
		uint64_t fired = 0, got = 0;
		for (int t = 1; t < TSC_EV_NR; t++)
			if (tsc_ring_is_event(t))
				fired += st.fired[t], got += st.received[t];
		fprintf(stderr, "taskscope: ring of thread %d (loop %" PRIu64 "): %" PRIu64
			" fired, %" PRIu64 " recorded, %" PRIu64 " slots overwritten unread, %"
			PRIu64 " malformed%s\n", (int)st.tid, st.loop_id, fired, got, st.lapped,
			st.malformed, st.bad ? ", no longer read" : "");
	}
	tsc_rings_totals(rings, &sum, lost);
	for (int t = 1; t <= TSC_EV_EVENTS_NR && write; t++) {
		if (!lost[t])
			continue;
		int err = tsc_trace_lost(R->w, (uint32_t)t, lost[t], end);
		if (err)
			return err;
		R->lost[t] += lost[t];
	}
	if (tsc_verbose && write) {
		fprintf(stderr, "taskscope: %-12s %12s %12s %12s\n", "event", "fired", "recorded",
			"lost");
		for (int t = 1; t < TSC_EV_NR; t++)
			if (tsc_ring_is_event(t))
				fprintf(stderr, "taskscope: %-12s %12" PRIu64 " %12" PRIu64 " %12" PRIu64
						"\n", tsc_ev_name((uint32_t)t), sum.fired[t], R->received[t],
					t <= TSC_EV_EVENTS_NR ? R->lost[t] : lost[t]);
	}
	return 0;
}

/* A ring that failed validation, or slots that did (the writer never leaves one that would,
 * in what we keep): the target wrote over its rings. An exit code, said. */
static int rings_broken(struct tsc_rings *rings)
{
	const char *why = tsc_rings_error(rings);
	int rc = 0;
	if (why) {
		fprintf(stderr, "taskscope: %s: the process wrote over it; its events from then "
				"on are not in the trace\n", why);
		rc = TSC_EXIT_INCONSISTENT;
	}
	for (size_t i = 0; i < tsc_rings_count(rings); i++) {
		struct tsc_ring_stats st;
		tsc_rings_stats(rings, i, &st);
		if (!st.malformed)
			continue;
		fprintf(stderr, "taskscope: %" PRIu64 " slots of the event ring of thread %d failed "
				"validation: the process wrote over its ring; they are left out\n",
			st.malformed, (int)st.tid);
		rc = TSC_EXIT_INCONSISTENT;
	}
	return rc;
}

/* Open the target, find its rings: an exit code, or -1 when its runtime has none. */
static int rings_open(struct rec *R, const struct record_opts *o, enum tsc_rings_from from,
		      struct tsc_rings **rings)
{
	struct tsc_bpf *none;
	int rc, err;
	if (o->core ? (rc = tsc_open_core(o->core, o->exe, &R->r)) :
		      (rc = tsc_attach_target(o->pid, NULL, &R->r, &none)))
		return rc;
	/* a thread not known yet reads the map again, at most every 10 ms */
	tsc_tidcache_init(&R->tids, R->r->procfd, 10000000ull);
	if ((err = tsc_rings_new(R->r->mem, &R->r->desc, from, rings)) == -ENOTSUP)
		return -1;
	/* --flight reads once: none of this. Otherwise the rings are mapped, their backlogs
	 * faulted in now, and copied by a thread of ours from now on (the snapshot too can
	 * take long): drains decode a budget at a time */
	int live = !o->core && from == TSC_RINGS_FROM_NOW;
	if (!err && live) {
		uint64_t cpu = tsc_rec_clock(CLOCK_PROCESS_CPUTIME_ID);
		tsc_rings_map(*rings, R->r->procfd, o->rbsz ? o->rbsz : TSC_RINGS_AHEAD);
		tsc_rings_budget(*rings, TSC_RINGS_BUSY);
		if (tsc_verbose)
			fprintf(stderr, "taskscope: backlog made ahead: %zu MiB in %.3f s of CPU\n",
				tsc_rings_ahead_bytes(*rings) >> 20,
				(double)(tsc_rec_clock(CLOCK_PROCESS_CPUTIME_ID) - cpu) / 1e9);
	}
	if (!err)
		err = tsc_rings_scan(*rings);
	if (!err && live)
		err = tsc_rings_copier_start(*rings);
	/* The copier before the decoding, when both want the CPU: a burst is copied at up to
	 * 3 GB/s, more than half a CPU here, and a slot not copied in time is lost, where
	 * decoding later loses nothing. So this thread (the decoding one, not the copier made
	 * above) runs at a lower priority: never above anyone's, ours alone. */
	if (!err && live)
		setpriority(PRIO_PROCESS, (id_t)gettid(), DECODE_NICE);
	return err ? tsc_remote_report(R->r, err, 1) : TSC_EXIT_OK;
}

/* With -v, the rings found since the last call: which are read through a mapping. */
static void rings_new_say(struct tsc_rings *rings, size_t *seen)
{
	for (; *seen < tsc_rings_count(rings); ++*seen) {
		struct tsc_ring_stats st;
		tsc_rings_stats(rings, *seen, &st);
		if (tsc_verbose)
			fprintf(stderr, "taskscope: reading the event ring of thread %d (loop %" PRIu64
				") %s\n", (int)st.tid, st.loop_id,
				st.mapped ? "through a mapping of it" : "with process_vm_readv");
	}
}

/* The rest decoded whole, up to where each ring ended (a flight recorder keeps its rings
 * written): from our mappings alone when the process has gone (exited, or exec'd: its rings
 * went with its old program). */
static void drain_to_end(struct rec *R, struct tsc_rings *rings, int gone)
{
	tsc_rings_budget(rings, 0);
	if (gone)
		tsc_rings_target_gone(rings);
	if (tsc_rings_end(rings) && !gone)
		return;
	long n = 0;
	for (int k = 0; k < FINAL_DRAINS &&
			((n = tsc_rings_drain(rings, 0, on_ring_event, R)) > 0 || tsc_rings_backlog(rings));
	     k++)
		;
	if (n < 0 && !R->err && (gone || tsc_remote_alive(R->r)))
		R->err = (int)n;
}

/* The process exec'd: what its old program's rings held is read first (the exec record is
 * the trace's last). */
static int on_exec(struct rec *R, const struct record_opts *o, struct tsc_rings *rings)
{
	uint64_t at = tsc_rec_mono();
	drain_to_end(R, rings, 1);
	return tsc_rec_exec(R, at, o->pid, NULL);
}

/* A scan or a drain failed with err: a fault, or the target went away while we read. An
 * exec ends the trace at it; an exit (even in the moment between dropping its memory and
 * becoming a zombie) ends it as an exit, the rest read from our mappings of its rings. */
static int read_failed(struct rec *R, const struct record_opts *o, struct tsc_rings *rings,
		       int err)
{
	if (!R->err && tsc_remote_execd(R->r))
		return on_exec(R, o, rings);
	if (R->err || (tsc_remote_alive(R->r) && !tsc_remote_leaving(R->r)))
		return err;
	R->exited = 1;
	return 0;
}

/* A burst the decoder cannot keep up with (a backlog of STORE_AT slots) has its blocks
 * stored, not compressed, until the backlog is empty: compressing is a third of our work
 * per event, and a file larger for a while loses nothing, where a full backlog would. */
#define STORE_AT (4 * TSC_RINGS_BUSY)
static void store_when_behind(struct rec *R, const struct record_opts *o,
			      struct tsc_rings *rings)
{
	uint64_t held = tsc_rings_backlog(rings);
	int store = held >= STORE_AT ? 1 : held ? R->stored : 0;
	if (o->zfixed || store == R->stored)
		return;
	R->stored = store;
	tsc_trace_set_compression(R->w, store ? 0 : R->zlevel);
	if (tsc_verbose && store)
		fprintf(stderr, "taskscope: behind by %" PRIu64 " events: blocks stored "
			"uncompressed until caught up\n", held);
}

/* Drain until the end: 0 or -errno. */
static int rings_loop(struct rec *R, const struct record_opts *o, struct tsc_rings *rings)
{
	uint64_t last_scan = tsc_rec_mono();
	size_t seen = 0;
	int err, busy = 0, wait_ms = (int)tsc_rings_period_ms(rings);
	rings_new_say(rings, &seen);
	for (;;) {
		struct pollfd p = { .fd = R->r->pidfd, .events = POLLIN };
		if (poll(&p, 1, tsc_rec_wait_ms(R, busy, wait_ms)) > 0 &&
		    (p.revents & (POLLIN | POLLHUP | POLLERR)))
			R->exited = 1;
		if (R->exited)
			return 0; /* its memory is gone with it: what was read is all there is */
		if (tsc_remote_execd(R->r)) /* the thread left after an exec is the leader */
			return on_exec(R, o, rings);
		uint64_t now = tsc_rec_mono();
		if (now - last_scan >= TSC_RINGS_SCAN_NS) {
			if ((err = tsc_rings_scan(rings)))
				return read_failed(R, o, rings, err);
			last_scan = now;
			rings_new_say(rings, &seen);
		}
		long n = tsc_rings_drain(rings, 0, on_ring_event, R);
		if (n < 0)
			return read_failed(R, o, rings, (int)n);
		busy = n >= TSC_RINGS_BUSY || tsc_rings_backlog(rings);
		/* a writer that filled an eighth of its ring since the last drain would lap it
		 * within a sleep: come back at once; and never sleep as long as a writer at full
		 * speed takes to lap a ring (a burst from idle) */
		unsigned fill = tsc_rings_pressure(rings);
		busy |= fill >= 128;
		wait_ms = fill >= 16 ? 1 : (int)tsc_rings_period_ms(rings);
		R->behind |= tsc_rings_backlog(rings) > 0;
		store_when_behind(R, o, rings);
		if ((err = tsc_rec_tick(R, o)))
			return err;
		if (tsc_record_stop || tsc_rec_mono() >= R->deadline)
			return 0;
	}
}

int tsc_record_rings(const struct record_opts *o)
{
	struct tsc_rings *rings = NULL;
	struct tsc_snapshot snap = { 0 };
	struct rec R;
	int rc, err, semfd = -1;

	if ((rc = tsc_rec_init(&R, o)))
		return rc;
	if ((rc = rings_open(&R, o, TSC_RINGS_FROM_NOW, &rings)))
		goto cleanup;
	semfd = tsc_ringsem_hold("taskscope record", tsc_remote_binary(R.r), o->pid);
	if (semfd == -ENOENT)
		rc = -1;
	else if (semfd < 0)
		rc = tsc_bpf_exit_code(R.r, semfd);
	if (rc)
		goto cleanup;
	if ((rc = tsc_rec_begin(&R, o, &snap)))
		goto cleanup;
	tsc_rec_signals();
	if (tsc_verbose)
		fprintf(stderr, "taskscope: recording process %d (%zu threads, %zu tasks) to %s "
			"from its event rings\n", o->pid, snap.nthreads, snap.ntasks, o->out);
	R.t0 = R.last_flush = R.last_zcheck = tsc_rec_mono();
	R.last_cpu = tsc_rec_clock(CLOCK_PROCESS_CPUTIME_ID);
	if (o->duration > 0)
		R.deadline = R.t0 + (uint64_t)(o->duration * 1e9);
	if ((err = rings_loop(&R, o, rings)) && !R.err)
		R.err = err;
	/* the end: the kernel lowers the semaphore, the loops stop writing; the rest drained */
	close(semfd);
	semfd = -1;
	if (!R.err && !R.execd && (R.exited || !tsc_rings_scan(rings)))
		drain_to_end(&R, rings, R.exited);
	uint64_t end = tsc_rec_mono();
	if (!R.err)
		R.err = ring_losses(&R, rings, end, 1);
	if (R.exited && tsc_rings_unmapped(rings))
		fprintf(stderr, "taskscope: the process exited: what its rings held since their "
				"last read (%d ms at most) went with it, uncounted\n", TSC_RINGS_DRAIN_MS);
	int broken = rings_broken(rings);
	rc = tsc_rec_end(&R, o, end, "the rings were overwritten before they were read");
	if (!rc && broken)
		rc = broken;
cleanup:
	if (semfd >= 0)
		close(semfd);
	tsc_rings_free(rings);
	tsc_snapshot_free(&snap);
	tsc_rec_free(&R);
	return rc;
}

int tsc_record_flight(const struct record_opts *given)
{
	struct tsc_rings *rings = NULL;
	struct tsc_snapshot snap = { 0 };
	struct record_opts oc = *given, *o = &oc;
	struct rec R;
	int rc;

	if ((rc = tsc_rec_init(&R, o)))
		return rc;
	rc = rings_open(&R, o, TSC_RINGS_FROM_OLDEST, &rings);
	if (R.r)
		o->pid = R.r->pid; /* a core's process */
	if (rc == -1) {
		fprintf(stderr, "taskscope record: process %d has no event rings (its runtime's "
				"debug descriptor is ABI version %u): no flight recorder\n", o->pid,
			R.r->desc.abi_version);
		rc = TSC_EXIT_ERROR;
	}
	if (rc)
		goto cleanup;
	if (!tsc_rings_count(rings)) {
		fprintf(stderr, "taskscope record: process %d holds no event ring: start it with "
				"TASKSCOPE_FLIGHT_RECORDER=SIZE in its environment (or call "
				"ts_flight_recorder) to keep its last events\n", o->pid);
		rc = TSC_EXIT_ERROR;
		goto cleanup;
	}
	/* The snapshot first (the file begins with it), then everything the rings hold: the
	 * events before it and the few since. */
	if ((rc = tsc_rec_begin(&R, o, &snap)))
		goto cleanup;
	R.t0 = tsc_rec_mono();
	long n = tsc_rings_drain(rings, 0, on_ring_event, &R);
	if (n < 0 && !R.err)
		R.err = (int)n;
	int broken = rings_broken(rings);
	if (tsc_verbose)
		ring_losses(&R, rings, R.t0, 0); /* the per-thread lines: older events are not lost */
	rc = tsc_rec_end(&R, o, tsc_rec_mono(), NULL);
	if (!rc && broken)
		rc = broken;
cleanup:
	tsc_rings_free(rings);
	tsc_snapshot_free(&snap);
	tsc_rec_free(&R);
	return rc;
}
