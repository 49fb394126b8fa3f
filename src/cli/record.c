/* SPDX-License-Identifier: MIT */
/*
 * taskscope record: every probe event of a process into a trace file (docs/trace-format.md).
 *
 * Probes first (with the ring buffer on), then the registry snapshot, then the file opened with
 * that snapshot, while spool.c drains the ring buffer into memory; then the ring buffer is
 * drained on a timer (the BPF side submits without
 * wakeups: a wakeup per event would cost the target microseconds), each record becoming one
 * event, and a block is flushed at least once a second. Ring-buffer drops are counted in BPF
 * per type and written as LOST records; at the end, after the probes are released and the
 * buffer drained, every event the probes counted and that never arrived is accounted for the
 * same way, so recorded + lost == fired, per type. The recorder never blocks the target.
 */
#include "probes/attach.h"
#include "cli.h"
#include "target/collect.h"
#include "opts.h"
#include "out/out.h"
#include "out/outfile.h"
#include "target/remote.h"
#include "trace/spool.h"
#include "target/tids.h"
#include "trace/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/types.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "events.h" /* bpf/: the ring buffer's records and the counters */

_Static_assert((int)TSC_REC_CREATE == (int)TSC_EV_CREATE && (int)TSC_REC_SWITCH == (int)TSC_EV_SWITCH &&
		       (int)TSC_REC_FINISH == (int)TSC_EV_FINISH && (int)TSC_REC_RENAME == (int)TSC_EV_RENAME &&
		       (int)TSC_REC_WAIT == (int)TSC_EV_WAIT && (int)TSC_REC_THREAD_START == (int)TSC_EV_THREAD_START &&
		       (int)TSC_REC_THREAD_STOP == (int)TSC_EV_THREAD_STOP,
	       "ring-buffer record types are trace event types");
_Static_assert(TSC_C_TASK_CREATE + TSC_EV_EVENTS_NR - 1 == TSC_C_THREAD_STOP &&
		       TSC_C_RB_DROP_CREATE + TSC_EV_EVENTS_NR - 1 == TSC_C_RB_DROP_THREAD_STOP,
	       "per-type counters in event-type order");

#define DRAIN_MS 50               /* the ring buffer is read this often ... */
#define FLUSH_NS 900000000ull     /* ... and a block ends at least this often */
#define DRAIN_BUDGET 262144       /* records per drain before the timers are checked again */
#define ZLEVEL_DEFAULT 6          /* zlib's own default: 9 costs 4x the CPU for 4% less */
#define CPU_HIGH 0.5              /* above this share of a CPU, compress at level 1 */
#define SPOOL_LIMIT (512u << 20)  /* events kept in memory while the snapshot is taken */

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

struct rec {
	struct tsc_trace_writer *w;
	int err;                                  /* the writer's first error */
	uint64_t received[TSC_EV_EVENTS_NR + 1];  /* by event type */
	uint64_t lost[TSC_EV_EVENTS_NR + 1];      /* written as LOST records */
	uint64_t malformed;                       /* records of unknown type or size */
	/* task_create's loop thread is the target's id (its pid namespace); the file holds ours */
	struct tsc_tidcache tids;
	/* the target exec'd: the trace ends with that record; nothing after it is written */
	int execd;
	uint64_t after_exec;                      /* records that came after it anyway */
	char exe[TSC_NAME_LEN + TSC_CORO_LEN + 64];
	struct tsc_remote *r;
};

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}


/* The exec record: the last of the trace. The file as the process names it now, or else as
 * exec was given it (a path like /proc/self/exe says little). */
static int on_exec(struct rec *R, const struct tsc_rec_event *r, uint64_t ts)
{
	char given[TSC_NAME_LEN + TSC_CORO_LEN];
	memcpy(given, r ? r->str : "", r ? sizeof(given) : 1);
	given[sizeof(given) - 1] = 0;
	R->execd = 1;
	tsc_remote_exe(R->r, R->exe, sizeof(R->exe));
	if (!strcmp(R->exe, "another program"))
		snprintf(R->exe, sizeof(R->exe), "%s", given[0] ? given : "another program");
	int err = tsc_trace_exec(R->w, ts, r ? (int32_t)r->hdr.tid : 0, R->exe);
	if (err && !R->err)
		R->err = err;
	return err;
}

/* One ring-buffer record: one event in the file. */
static int on_record(void *ctx, const void *data, size_t size)
{
	struct rec *R = ctx;
	struct tsc_rec_event buf;
	const struct tsc_rec_event *r = data;

	if (size < TSC_REC_SHORT) {
		R->malformed++;
		return 0;
	}
	if (size < sizeof(buf)) {
		memcpy(&buf, data, size);
		memset((char *)&buf + size, 0, sizeof(buf) - size);
		r = &buf;
	}
	if (R->execd) {
		R->after_exec++; /* another program's (the BPF side sends none): not ours */
		return 0;
	}
	if (r->hdr.type == TSC_REC_EXEC)
		return on_exec(R, r, r->hdr.ts_ns);
	struct tsc_event ev = { .ts_ns = r->hdr.ts_ns, .type = r->hdr.type,
				.tid = (int32_t)r->hdr.tid };
	char name[TSC_NAME_LEN], coro[TSC_CORO_LEN];
	switch (r->hdr.type) {
	case TSC_REC_CREATE:
		memcpy(name, r->str, sizeof(name));
		name[sizeof(name) - 1] = 0;
		memcpy(coro, r->str2, sizeof(coro));
		coro[sizeof(coro) - 1] = 0;
		ev.create.id = r->a[0];
		ev.create.parent = r->a[1];
		ev.create.name = name;
		ev.create.coro = coro;
		ev.create.loop_tid = tsc_tidcache_outer(&R->tids, (int32_t)r->a[4], r->hdr.ts_ns);
		break;
	case TSC_REC_SWITCH:
		ev.sw.prev = r->a[0];
		ev.sw.next = r->a[1];
		break;
	case TSC_REC_FINISH:
		ev.finish.id = r->a[0];
		ev.finish.outcome = (uint32_t)r->a[1];
		break;
	case TSC_REC_RENAME:
		memcpy(name, r->str, sizeof(name));
		name[sizeof(name) - 1] = 0;
		ev.rename.id = r->a[0];
		ev.rename.name = name;
		break;
	case TSC_REC_WAIT:
		ev.wait.id = r->a[0];
		ev.wait.reason = (uint32_t)r->a[1];
		ev.wait.object = r->a[2];
		break;
	case TSC_REC_THREAD_START:
	case TSC_REC_THREAD_STOP:
		/* fired by the loop thread itself: its id as we know it is the record's */
		ev.thread.loop = r->a[0];
		ev.thread.tid = (int32_t)r->hdr.tid;
		break;
	default:
		R->malformed++;
		return 0;
	}
	R->received[r->hdr.type]++;
	int err = tsc_trace_event(R->w, &ev);
	if (err && !R->err)
		R->err = err;
	return err;
}

/* LOST records for ring-buffer drops counted since the last call. */
static int write_drops(struct rec *R, const uint64_t *c)
{
	uint64_t now = mono_ns();
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++) {
		uint64_t dropped = c[TSC_C_RB_DROP_FIRST + t - 1];
		if (dropped <= R->lost[t])
			continue;
		int err = tsc_trace_lost(R->w, (uint32_t)t, dropped - R->lost[t], now);
		if (err)
			return err;
		R->lost[t] = dropped;
	}
	return 0;
}

static void record_usage(FILE *f)
{
	fprintf(f,
		"taskscope record: write every task event of a process to a trace file.\n\n"
		"USAGE: taskscope record [-d S] [-b SIZE] [-z N] [-v] -o FILE [-p] PID\n\n"
		"  -p, --pid PID        the process (or its PID alone, as the last argument)\n"
		"  -o, --output FILE    the trace file, mode 0600 (task names may be sensitive);\n"
		"                       a regular file there is replaced, a symbolic link or\n"
		"                       anything else refused; read it with `taskscope dump`\n"
		"  -d, --duration S     stop after S seconds (default: until SIGINT or SIGTERM, or\n"
		"                       until the process exits or execs; either signal before\n"
		"                       the recording starts ends taskscope at once)\n"
		"  -b, --buffer-size SIZE\n"
		"                       the BPF ring buffer, in bytes with K, M or G; rounded up to\n"
		"                       a power of two (default 16M, about 300,000 events)\n"
		"  -z, --compress N     zlib level of the blocks, 0 (none) to 9 (default 6; 1\n"
		"                       while compressing takes over half a CPU)\n"
		"  -v, --verbose        more detail on stderr: per event type, the events the\n"
		"                       probes counted, recorded and lost\n"
		"  -h, --help           this help\n\n"
		"Every event is recorded: task create, switch, finish, rename, wait, and loop\n"
		"thread start and stop, after a snapshot of the tasks alive at the start. The\n"
		"process never waits for the recorder: when the ring buffer is full, events are\n"
		"dropped, counted per type, and written to the file as LOST records that every\n"
		"reader shows. A block is written at least once a second, so a recorder that is\n"
		"killed leaves a file readable up to its last second. When the process execs\n"
		"another program, the trace ends with an exec record (the file is complete)\n"
		"and record exits with status 11. Costs the process about 625 ns per event\n"
		"while recording. Needs root or CAP_BPF+CAP_PERFMON+CAP_SYS_PTRACE. Exit\n"
		"codes: taskscope --help.\n\n"
		"EXAMPLES:\n"
		"  taskscope record -o run.tsc 1234               until Ctrl-C or the process exits\n"
		"  taskscope record --duration 10 -o run.tsc 1234\n"
		"  taskscope dump --summary run.tsc\n");
}

struct record_opts {
	const char *out;
	double duration;            /* 0: until a signal, or the target exits or execs */
	size_t rbsz;                /* 0: the default ring buffer */
	int zlevel, zfixed, pid;
};

/* Options into o: -1 to go on, else the exit code (0 after --help). */
static int parse_record_opts(int argc, char **argv, struct record_opts *o)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "duration", required_argument, NULL, 'd' },
		{ "buffer-size", required_argument, NULL, 'b' },
		{ "compress", required_argument, NULL, 'z' },
		{ "pid", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *pid_opt = NULL;
	long z;
	int c;
	*o = (struct record_opts){ .zlevel = ZLEVEL_DEFAULT };
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:d:b:z:p:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': o->out = optarg; break;
		case 'd':
			if (tsc_parse_double(optarg, 0, 1e9, &o->duration) || !(o->duration > 0)) {
				fprintf(stderr, "taskscope record: --duration takes seconds > 0, not "
						"'%s'\n", optarg);
				goto usage;
			}
			break;
		case 'b':
			if (!(o->rbsz = tsc_parse_size(optarg))) {
				fprintf(stderr, "taskscope record: --buffer-size takes bytes (with K, M "
						"or G) up to 1G, not '%s'\n", optarg);
				goto usage;
			}
			break;
		case 'z':
			if (tsc_parse_long(optarg, 0, 9, &z)) {
				fprintf(stderr, "taskscope record: --compress takes a level from 0 to "
						"9, not '%s'\n", optarg);
				goto usage;
			}
			o->zlevel = (int)z;
			o->zfixed = 1;
			break;
		case 'p': pid_opt = optarg; break;
		case 'v': tsc_verbose++; break;
		case 'h': record_usage(stdout); return TSC_EXIT_OK;
		default:
			tsc_opts_bad("record", c, argc, argv);
			goto usage;
		}
	}
	if ((o->pid = tsc_opts_pid("record", pid_opt, argc, argv, optind, NULL)) < 0)
		goto usage;
	if (!o->out) {
		fprintf(stderr, "taskscope record: no output file given (-o FILE)\n");
		goto usage;
	}
	return -1;
usage:
	fprintf(stderr, "Usage: taskscope record [-d S] [-b SIZE] [-z N] -o FILE [-p] PID "
			"(see taskscope record --help)\n");
	return TSC_EXIT_USAGE;
}

static int run_record(const struct record_opts *o)
{
	const char *out = o->out;
	double duration = o->duration;
	size_t rbsz = o->rbsz;
	int zlevel = o->zlevel, zfixed = o->zfixed, pid = o->pid;
	struct tsc_remote *r = NULL;
	struct tsc_bpf *b = NULL;
	struct tsc_snapshot snap = { 0 };
	struct rec R = { 0 };
	struct tsc_outfile of;
	struct tsc_spool *spool = NULL;
	int rc, err;

	/* Before attaching: fail early when the file cannot be created. It gets its name once
	 * the header and the snapshot are in it, so it never exists unreadable. */
	if ((err = tsc_outfile_open(&of, out))) {
		fprintf(stderr, "taskscope record: cannot write %s: %s\n", out,
			tsc_outfile_strerror(err));
		tsc_outfile_close(&of);
		return TSC_EXIT_ERROR;
	}
	/* Until the recording starts, SIGINT and SIGTERM keep their default action: they end us
	 * at once, whatever we wait for (the kernel releases the probes; the output file may
	 * stay, empty). */
	signal(SIGPIPE, SIG_IGN);

	/* probes first: whatever changes after this is in the ring buffer. (The test hook keeps
	 * the task maps too, as ps does, to measure what they cost.) */
	struct tsc_bpf_opts bo = { .probes = TSC_PROBES_ALL, .emit = 1, .ringbuf_bytes = rbsz,
				   .events_only = !tsc_testhooks()->record_state };
	if ((rc = tsc_attach_target(pid, &bo, &r, &b)))
		goto cleanup;
	/* From here the spool drains the ring buffer while the snapshot is read and written:
	 * with 300,000 tasks that takes seconds, which a 16 MiB buffer may not hold. */
	/* a thread not known yet reads the map again, at most every 10 ms */
	tsc_tidcache_init(&R.tids, r->procfd, 10000000ull);
	R.r = r;
	if ((err = tsc_bpf_events_open(b, on_record, &R)) ||
	    (err = tsc_spool_start(b, SPOOL_LIMIT, &spool))) {
		fprintf(stderr, "taskscope record: cannot drain the ring buffer: %s\n",
			strerror(-err));
		rc = TSC_EXIT_ERROR;
		goto cleanup;
	}
	tsc_test_snapshot_delay();
	uint64_t ts0 = mono_ns();
	if ((err = tsc_remote_snapshot(r, &snap))) {
		rc = tsc_remote_report(r, err, 1);
		goto cleanup;
	}
	tsc_snapshot_sort(&snap);
	/* an exec before this point: the snapshot may be the new program's; no trace */
	if ((rc = tsc_report_exec(r)))
		goto cleanup;
	uint64_t ts1 = mono_ns();
	char program[PATH_MAX];
	tsc_remote_program(r, program, sizeof(program));
	err = tsc_trace_begin(of.fd, pid, r->target_path[0] ? r->target_path : tsc_remote_binary(r),
			      program, &R.w);
	if (!err)
		tsc_trace_set_compression(R.w, zlevel);
	if (!err && !(err = tsc_trace_write_snapshot(R.w, &snap)))
		err = tsc_outfile_publish(&of);
	if (err) {
		fprintf(stderr, "taskscope record: cannot write %s: %s\n", out,
			tsc_outfile_strerror(err));
		rc = TSC_EXIT_ERROR;
		goto cleanup;
	}
	uint64_t ts2 = mono_ns();
	struct tsc_spool_stats sst;
	err = tsc_spool_finish(spool, on_record, &R, &sst);
	spool = NULL;
	if (err) {
		fprintf(stderr, "taskscope record: writing %s failed: %s\n", out, strerror(-err));
		rc = TSC_EXIT_ERROR;
		goto cleanup;
	}
	if (tsc_verbose)
		fprintf(stderr, "taskscope: snapshot read in %.1f ms, written in %.1f ms; %" PRIu64
			" events drained meanwhile (%.1f MiB)%s\n", (double)(ts1 - ts0) / 1e6,
			(double)(ts2 - ts1) / 1e6, sst.records, (double)sst.bytes / 1048576.0,
			sst.full ? ", up to the spool's limit" : "");
	/* A signal from now on ends the recording cleanly: the trace gets its last block. */
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (tsc_verbose)
		fprintf(stderr, "taskscope: recording process %d (%zu threads, %zu tasks) to %s\n",
			pid, snap.nthreads, snap.ntasks, out);

	/* ---- the recording ---- */
	uint64_t t0 = mono_ns(), last_flush = t0, last_cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	uint64_t deadline = duration > 0 ? t0 + (uint64_t)(duration * 1e9) : UINT64_MAX;
	uint64_t counters[TSC_C_NR];
	int exited = 0, busy = 0, exec_unrecorded = 0;
	for (;;) {
		struct pollfd p = { .fd = r->pidfd, .events = POLLIN };
		uint64_t now = mono_ns();
		int wait_ms = busy || stop_signal ? 0 : DRAIN_MS;
		if (deadline != UINT64_MAX && deadline <= now)
			wait_ms = 0;
		else if (deadline - now < (uint64_t)wait_ms * 1000000ull)
			wait_ms = (int)((deadline - now) / 1000000ull);
		if (poll(&p, 1, wait_ms) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
			exited = 1;
		long n = tsc_bpf_drain(b, DRAIN_BUDGET);
		if (n < 0) {
			err = (int)n;
			break;
		}
		busy = n == DRAIN_BUDGET;
		if ((err = tsc_bpf_counters(b, counters, TSC_C_NR)) || (err = write_drops(&R, counters)))
			break;
		if (R.execd)
			break; /* the exec record came: the trace ends there */
		/* An exec without its record (the tracepoint missing, or the buffer full for it),
		 * seen by the counter or by the target's memory, twice so that a record on its
		 * way is not overtaken: the trace ends now. */
		if ((counters[TSC_C_EXEC] || tsc_remote_execd(r)) && ++exec_unrecorded >= 2) {
			err = on_exec(&R, NULL, mono_ns());
			break;
		}
		now = mono_ns();
		if (now - last_flush >= FLUSH_NS) {
			if ((err = tsc_trace_flush(R.w)))
				break;
			/* Compressing is most of our work: when it keeps over half a CPU busy, a
			 * faster level keeps up with the target (about 3x the speed of 6). */
			uint64_t cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
			if (!zfixed && zlevel > 1 &&
			    (double)(cpu - last_cpu) > CPU_HIGH * (double)(now - last_flush)) {
				zlevel = 1;
				tsc_trace_set_compression(R.w, zlevel);
				if (tsc_verbose)
					fprintf(stderr, "taskscope: busy: compressing at level 1 from "
							"now on\n");
			}
			last_cpu = cpu;
			last_flush = now;
		}
		if (!busy && (exited || stop_signal || now >= deadline))
			break;
	}
	if (err && !R.err)
		R.err = err;

	/* ---- the end: probes off, the rest drained, every event accounted for ---- */
	tsc_bpf_unlink(b);
	long n;
	while (!R.err && (n = tsc_bpf_drain(b, 0)) > 0)
		;
	if (!R.err && (err = tsc_bpf_counters(b, counters, TSC_C_NR)))
		R.err = err;
	if (!R.err)
		R.err = write_drops(&R, counters);
	/* Fired but neither received nor counted as dropped (should not happen): lost too. */
	uint64_t end = mono_ns(), total = 0, lost = 0;
	for (int t = 1; t <= TSC_EV_EVENTS_NR && !R.err; t++) {
		uint64_t fired = counters[TSC_C_TASK_CREATE + t - 1];
		if (fired > R.received[t] + R.lost[t]) {
			uint64_t k = fired - R.received[t] - R.lost[t];
			if (tsc_verbose)
				fprintf(stderr, "taskscope: %" PRIu64 " %s events fired, never arrived\n",
					k, tsc_ev_name((uint32_t)t));
			R.err = tsc_trace_lost(R.w, (uint32_t)t, k, end);
			R.lost[t] += k;
		}
	}
	struct tsc_trace_wstats ws;
	tsc_trace_writer_stats(R.w, &ws);
	err = tsc_trace_close(R.w);
	R.w = NULL;
	if (!R.err)
		R.err = err;
	if (R.err) {
		fprintf(stderr, "taskscope record: writing %s failed: %s\n", out, strerror(-R.err));
		rc = TSC_EXIT_ERROR;
		goto cleanup;
	}
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++)
		total += R.received[t], lost += R.lost[t];
	if (tsc_verbose) {
		fprintf(stderr, "taskscope: %-12s %12s %12s %12s\n", "event", "fired", "recorded",
			"lost");
		for (int t = 1; t <= TSC_EV_EVENTS_NR; t++)
			fprintf(stderr, "taskscope: %-12s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "\n",
				tsc_ev_name((uint32_t)t), counters[TSC_C_TASK_CREATE + t - 1],
				R.received[t], R.lost[t]);
		if (R.malformed)
			fprintf(stderr, "taskscope: %" PRIu64 " malformed ring-buffer records\n",
				R.malformed);
	}
	struct stat st;
	uint64_t bytes = fstat(of.fd, &st) == 0 ? (uint64_t)st.st_size : ws.file_bytes;
	char safe[TSC_TEXT_SIZE(sizeof(R.exe))];
	tsc_esc(safe, sizeof(safe), R.exe); /* the target chose that name */
	if (R.execd)
		fprintf(stderr, "taskscope: target %d exec'd %s; stopping (the trace ends there, "
				"complete)\n", pid, safe);
	else if (exited)
		fprintf(stderr, "taskscope: target %d exited; trace complete\n", pid);
	fprintf(stderr, "taskscope: %" PRIu64 " events recorded, %" PRIu64 " lost, in %.1f s: %"
		PRIu64 " bytes (%.2f bytes per event) in %s\n", total, lost,
		(double)(end - t0) / 1e9, bytes, total ? (double)bytes / (double)total : 0.0, out);
	if (lost)
		fprintf(stderr, "taskscope: events were lost (the ring buffer was full); a larger "
				"--buffer-size keeps more\n");
	if (R.after_exec && tsc_verbose)
		fprintf(stderr, "taskscope: %" PRIu64 " records after the exec left out\n",
			R.after_exec);
	rc = R.execd ? TSC_EXIT_EXECED : TSC_EXIT_OK;

cleanup:
	tsc_spool_finish(spool, NULL, NULL, NULL);
	if (R.w) {
		tsc_trace_abandon(R.w);
		R.w = NULL;
	}
	tsc_bpf_detach(b);
	tsc_tidcache_free(&R.tids);
	tsc_snapshot_free(&snap);
	tsc_remote_close(r);
	tsc_outfile_close(&of);
	return rc;
}

int tsc_cmd_record(int argc, char **argv)
{
	struct record_opts o;
	int rc = parse_record_opts(argc, argv, &o);
	return rc >= 0 ? rc : run_record(&o);
}
