/* SPDX-License-Identifier: MIT */
/*
 * taskscope record: every task event of a process into a trace file (docs/trace-format.md).
 *
 * By default the events come from the target's own event rings (record_rings.c, docs/
 * rings.md); --flight writes what the rings hold at once; --uprobes, or a runtime without
 * rings, takes them from the probes with BPF, which is this file's own path:
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
#include "record.h"
#include "target/rings.h"

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
#define ZCHECK_NS 5000000ull      /* that share is looked at this often: a burst is short */
#define SPOOL_LIMIT (512u << 20)  /* events kept in memory while the snapshot is taken */

volatile sig_atomic_t tsc_record_stop;

static void on_signal(int sig)
{
	tsc_record_stop = sig;
}

uint64_t tsc_rec_clock(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}


/* The exec record: the last of the trace. The file as the process names it now, or else as
 * exec was given it (a path like /proc/self/exe says little). */
int tsc_rec_exec(struct rec *R, uint64_t ts, int32_t tid, const char *given)
{
	R->execd = 1;
	tsc_remote_exe(R->r, R->exe, sizeof(R->exe));
	if (!strcmp(R->exe, "another program"))
		snprintf(R->exe, sizeof(R->exe), "%s",
			 given && given[0] ? given : "another program");
	int err = tsc_trace_exec(R->w, ts, tid, R->exe);
	if (err && !R->err)
		R->err = err;
	return err;
}

static int on_exec(struct rec *R, const struct tsc_rec_event *r, uint64_t ts)
{
	char given[TSC_NAME_LEN + TSC_CORO_LEN];
	memcpy(given, r ? r->str : "", r ? sizeof(given) : 1);
	given[sizeof(given) - 1] = 0;
	return tsc_rec_exec(R, ts, r ? (int32_t)r->hdr.tid : 0, given);
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
	uint64_t now = tsc_rec_mono();
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
		"USAGE: taskscope record [-d S] [-u [-b SIZE]] [-z N] [-v] -o FILE [-p] PID\n"
		"       taskscope record --flight [-z N] [-v] -o FILE [-p] PID\n"
		"       taskscope record --core CORE [--exe PATH] [-z N] [-v] -o FILE\n\n"
		"  -p, --pid PID        the process (or its PID alone, as the last argument)\n"
		"  -c, --core CORE      write what the event rings held in a core file of the\n"
		"                       process (its flight recorder: the last events before the\n"
		"                       crash), after the snapshot from the core; offline, no\n"
		"                       privileges (README: post-mortem)\n"
		"  -e, --exe PATH       with --core: the executable the process ran\n"
		"  -o, --output FILE    the trace file, mode 0600 (task names may be sensitive);\n"
		"                       a regular file there is replaced, a symbolic link or\n"
		"                       anything else refused; read it with `taskscope dump`\n"
		"  -d, --duration S     stop after S seconds (default: until SIGINT or SIGTERM, or\n"
		"                       until the process exits or execs; either signal before\n"
		"                       the recording starts ends taskscope at once)\n"
		"  -F, --flight         write what the process's event rings hold now (the flight\n"
		"                       recorder: TASKSCOPE_FLIGHT_RECORDER=SIZE in its\n"
		"                       environment keeps them on) after a snapshot, and stop\n"
		"  -u, --uprobes        take the events from the probes with BPF (a uprobe per\n"
		"                       event), not from the event rings; the way for a runtime\n"
		"                       that offers only the probes, and taken by itself then\n"
		"  -b, --buffer-size SIZE\n"
		"                       in bytes with K, M or G: with the rings, the backlog made\n"
		"                       ahead in taskscope's memory for the first loop that bursts,\n"
		"                       where its events wait to be decoded rather than be lost\n"
		"                       (default 96M, about 3 million events; 256M at most);\n"
		"                       with --uprobes, the BPF ring buffer, rounded up to a power\n"
		"                       of two (default 16M, about 300,000 events)\n"
		"  -z, --compress N     zlib level of the blocks, 0 (none) to 9 (default 6; 1\n"
		"                       while compressing takes over half a CPU)\n"
		"  -v, --verbose        more detail on stderr: per event type (and per thread\n"
		"                       with the rings), the events fired, recorded and lost\n"
		"  -h, --help           this help\n\n"
		"Every event is recorded: task create, switch, finish, rename, wait, and loop\n"
		"thread start and stop, after a snapshot of the tasks alive at the start. By\n"
		"default each loop thread of the process writes its events into its own ring in\n"
		"its memory while taskscope holds the rings probe (the kernel lets go of it when\n"
		"taskscope exits, even killed, and the writing stops), and taskscope reads the\n"
		"rings from outside. The process never waits for the recorder: events it could\n"
		"not keep are counted per type and written to the file as LOST records that every\n"
		"reader shows. With the rings, a process that exits keeps its last events:\n"
		"taskscope maps each ring (a sealed memfd; this takes CAP_SYS_ADMIN or\n"
		"CAP_CHECKPOINT_RESTORE) and reads what it held after the process has gone. A ring\n"
		"it cannot map it reads with process_vm_readv, and what that held since its last\n"
		"read (10 ms at most) goes with the process, uncounted: --uprobes records a\n"
		"program to its very end. A block is written at least once a second, so a\n"
		"recorder that is killed leaves a file readable up to its last second. When the\n"
		"process execs another program, the trace ends with an exec record (the file is\n"
		"complete) and record exits with status 11. Costs the process about 7 ns per\n"
		"event of its CPU time with the rings (the writes alone, the flight recorder's,\n"
		"about 4 ns), and 70 times that with --uprobes; on a busy machine the recorder's\n"
		"own CPU comes on top, about 30 ns per event recorded. A thread of taskscope's\n"
		"copies each ring every millisecond into a backlog in its own memory, at the\n"
		"lowest real-time priority where it may (its copies are short; a ring laps in a\n"
		"few milliseconds at full speed); a burst waits there to be decoded, its blocks\n"
		"stored uncompressed until taskscope has caught up. Needs root, or CAP_PERFMON\n"
		"and CAP_SYS_PTRACE (with --uprobes CAP_BPF too). Exit codes: taskscope --help.\n\n"
		"EXAMPLES:\n"
		"  taskscope record -o run.tsc 1234               until Ctrl-C or the process exits\n"
		"  taskscope record --duration 10 -o run.tsc 1234\n"
		"  taskscope record --flight -o last.tsc 1234     the last events, at once\n"
		"  taskscope record --core core.1234 -o last.tsc  the last events before a crash\n"
		"  taskscope dump --summary run.tsc\n");
}

/* Options into o: -1 to go on, else the exit code (0 after --help). */
static int parse_record_opts(int argc, char **argv, struct record_opts *o)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "duration", required_argument, NULL, 'd' },
		{ "buffer-size", required_argument, NULL, 'b' },
		{ "compress", required_argument, NULL, 'z' },
		{ "pid", required_argument, NULL, 'p' },
		{ "uprobes", no_argument, NULL, 'u' },
		{ "flight", no_argument, NULL, 'F' },
		{ "core", required_argument, NULL, 'c' },
		{ "exe", required_argument, NULL, 'e' },
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
	while ((c = getopt_long(argc, argv, ":o:d:b:z:p:uFc:e:vh", opts, NULL)) != -1) {
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
		case 'u': o->uprobes = 1; break;
		case 'F': o->flight = 1; break;
		case 'c': o->core = optarg; break;
		case 'e': o->exe = optarg; break;
		case 'v': tsc_verbose++; break;
		case 'h': record_usage(stdout); return TSC_EXIT_OK;
		default:
			tsc_opts_bad("record", c, argc, argv);
			goto usage;
		}
	}
	if (o->exe && !o->core) {
		fprintf(stderr, "taskscope record: --exe goes with --core\n");
		goto usage;
	}
	if (o->core) { /* what the core's rings held: the flight recorder, offline */
		if (pid_opt || optind < argc || o->uprobes || o->duration > 0 || o->rbsz) {
			fprintf(stderr, "taskscope record: --core reads what a core file holds: no "
					"PID, --uprobes, --duration or --buffer-size with it\n");
			goto usage;
		}
		o->flight = 1;
	} else if ((o->pid = tsc_opts_pid("record", pid_opt, argc, argv, optind, NULL)) < 0) {
		goto usage;
	}
	if (!o->out) {
		fprintf(stderr, "taskscope record: no output file given (-o FILE)\n");
		goto usage;
	}
	if (o->flight && (o->uprobes || o->duration > 0 || o->rbsz)) {
		fprintf(stderr, "taskscope record: --flight writes what the rings hold at once: "
				"no --uprobes, --duration or --buffer-size with it\n");
		goto usage;
	}
	if (o->rbsz && !o->uprobes && o->rbsz > TSC_RINGS_BACKLOG) {
		fprintf(stderr, "taskscope record: --buffer-size takes 256M at most with the "
				"rings\n");
		goto usage;
	}
	return -1;
usage:
	fprintf(stderr, "Usage: taskscope record [-d S] [-u] [-b SIZE] [-z N] -o FILE [-p] PID "
			"(see taskscope record --help)\n");
	return TSC_EXIT_USAGE;
}

/* ---- what both ways share ---- */

int tsc_rec_begin(struct rec *R, const struct record_opts *o, struct tsc_snapshot *snap)
{
	struct tsc_remote *r = R->r;
	int err, rc;
	tsc_test_snapshot_delay();
	uint64_t ts0 = tsc_rec_mono();
	if ((err = tsc_remote_snapshot(r, snap)))
		return tsc_remote_report(r, err, 1);
	tsc_snapshot_sort(snap);
	/* an exec before this point: the snapshot may be the new program's; no trace */
	if ((rc = tsc_report_exec(r)))
		return rc;
	uint64_t ts1 = tsc_rec_mono();
	char program[PATH_MAX];
	tsc_remote_program(r, program, sizeof(program));
	err = tsc_trace_begin(R->of.fd, o->pid,
			      r->target_path[0] ? r->target_path : tsc_remote_binary(r), program,
			      &R->w);
	if (!err)
		tsc_trace_set_compression(R->w, R->zlevel);
	if (!err && !(err = tsc_trace_write_snapshot(R->w, snap)))
		err = tsc_outfile_publish(&R->of);
	if (err) {
		fprintf(stderr, "taskscope record: cannot write %s: %s\n", o->out,
			tsc_outfile_strerror(err));
		return TSC_EXIT_ERROR;
	}
	if (tsc_verbose)
		fprintf(stderr, "taskscope: snapshot read in %.1f ms, written in %.1f ms\n",
			(double)(ts1 - ts0) / 1e6, (double)(tsc_rec_mono() - ts1) / 1e6);
	return TSC_EXIT_OK;
}

void tsc_rec_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int tsc_rec_wait_ms(const struct rec *R, int busy, int max)
{
	uint64_t now = tsc_rec_mono();
	if (busy || tsc_record_stop || R->deadline <= now)
		return 0;
	if (R->deadline - now < (uint64_t)max * 1000000ull)
		return (int)((R->deadline - now) / 1000000ull);
	return max;
}

int tsc_rec_tick(struct rec *R, const struct record_opts *o)
{
	uint64_t now = tsc_rec_mono();
	/* Compressing is most of our work: when it keeps over half a CPU busy, a faster level
	 * keeps up with the target (level 6 costs 41 ns per ring event, 1 costs 12: tools/bench/
	 * record). Looked at every few milliseconds, so that a burst of events is not all
	 * compressed at the slow level. */
	if (!o->zfixed && R->zlevel > 1 && now - R->last_zcheck >= ZCHECK_NS) {
		uint64_t cpu = tsc_rec_clock(CLOCK_PROCESS_CPUTIME_ID);
		if (R->behind ||
		    (double)(cpu - R->last_cpu) > CPU_HIGH * (double)(now - R->last_zcheck)) {
			R->zlevel = 1;
			if (!R->stored)
				tsc_trace_set_compression(R->w, R->zlevel);
			if (tsc_verbose)
				fprintf(stderr, "taskscope: busy: compressing at level 1 from now on\n");
		}
		R->last_cpu = cpu;
		R->last_zcheck = now;
	}
	if (now - R->last_flush < FLUSH_NS)
		return 0;
	R->last_flush = now;
	return tsc_trace_flush(R->w);
}

int tsc_rec_end(struct rec *R, const struct record_opts *o, uint64_t end, const char *hint)
{
	struct tsc_trace_wstats ws;
	uint64_t total = 0, lost = 0;
	tsc_trace_writer_stats(R->w, &ws);
	int err = tsc_trace_close(R->w);
	R->w = NULL;
	if (!R->err)
		R->err = err;
	if (R->err) {
		fprintf(stderr, "taskscope record: writing %s failed: %s\n", o->out,
			strerror(-R->err));
		return TSC_EXIT_ERROR;
	}
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++)
		total += R->received[t], lost += R->lost[t];
	struct stat st;
	uint64_t bytes = fstat(R->of.fd, &st) == 0 ? (uint64_t)st.st_size : ws.file_bytes;
	char safe[TSC_TEXT_SIZE(sizeof(R->exe))];
	tsc_esc(safe, sizeof(safe), R->exe); /* the target chose that name */
	if (R->execd)
		fprintf(stderr, "taskscope: target %d exec'd %s; stopping (the trace ends there, "
				"complete)\n", o->pid, safe);
	else if (R->exited)
		fprintf(stderr, "taskscope: target %d exited; trace complete\n", o->pid);
	fprintf(stderr, "taskscope: %" PRIu64 " events recorded, %" PRIu64 " lost, in %.1f s: %"
		PRIu64 " bytes (%.2f bytes per event) in %s\n", total, lost,
		(double)(end - R->t0) / 1e9, bytes, total ? (double)bytes / (double)total : 0.0,
		o->out);
	if (lost && hint)
		fprintf(stderr, "taskscope: events were lost (%s)\n", hint);
	if (R->after_exec && tsc_verbose)
		fprintf(stderr, "taskscope: %" PRIu64 " records after the exec left out\n",
			R->after_exec);
	return R->execd ? TSC_EXIT_EXECED : TSC_EXIT_OK;
}

void tsc_rec_free(struct rec *R)
{
	if (R->w) {
		tsc_trace_abandon(R->w);
		R->w = NULL;
	}
	tsc_tidcache_free(&R->tids);
	tsc_remote_close(R->r);
	R->r = NULL;
	tsc_outfile_close(&R->of);
}

/* Before attaching: fail early when the file cannot be created. It gets its name once the
 * header and the snapshot are in it, so it never exists unreadable. An exit code. */
int tsc_rec_init(struct rec *R, const struct record_opts *o)
{
	int err;
	*R = (struct rec){ .tids.procfd = -1, .zlevel = o->zlevel, .deadline = UINT64_MAX };
	if ((err = tsc_outfile_open(&R->of, o->out))) {
		fprintf(stderr, "taskscope record: cannot write %s: %s\n", o->out,
			tsc_outfile_strerror(err));
		tsc_outfile_close(&R->of);
		return TSC_EXIT_ERROR;
	}
	/* Until the recording starts, SIGINT and SIGTERM keep their default action: they end us
	 * at once, whatever we wait for (the kernel releases the probes; the output file may
	 * stay, empty). */
	signal(SIGPIPE, SIG_IGN);
	return TSC_EXIT_OK;
}

/* ---- the uprobes: a BPF ring buffer ---- */

/* Attach, start the spool, and write the snapshot while it drains. An exit code. */
static int uprobes_start(struct rec *R, const struct record_opts *o, struct tsc_bpf **bp,
			 struct tsc_snapshot *snap)
{
	struct tsc_spool *spool = NULL;
	int err, rc;
	/* probes first: whatever changes after this is in the ring buffer. (The test hook keeps
	 * the task maps too, as ps does, to measure what they cost.) */
	struct tsc_bpf_opts bo = { .probes = TSC_PROBES_ALL, .emit = 1, .ringbuf_bytes = o->rbsz,
				   .events_only = !tsc_testhooks()->record_state };
	if ((rc = tsc_attach_target(o->pid, &bo, &R->r, bp)))
		return rc;
	/* From here the spool drains the ring buffer while the snapshot is read and written:
	 * with 300,000 tasks that takes seconds, which a 16 MiB buffer may not hold. */
	/* a thread not known yet reads the map again, at most every 10 ms */
	tsc_tidcache_init(&R->tids, R->r->procfd, 10000000ull);
	if ((err = tsc_bpf_events_open(*bp, on_record, R)) ||
	    (err = tsc_spool_start(*bp, SPOOL_LIMIT, &spool))) {
		fprintf(stderr, "taskscope record: cannot drain the ring buffer: %s\n",
			strerror(-err));
		return TSC_EXIT_ERROR;
	}
	rc = tsc_rec_begin(R, o, snap);
	struct tsc_spool_stats sst;
	err = tsc_spool_finish(spool, rc ? NULL : on_record, R, &sst);
	if (rc)
		return rc;
	if (err) {
		fprintf(stderr, "taskscope record: writing %s failed: %s\n", o->out, strerror(-err));
		return TSC_EXIT_ERROR;
	}
	if (tsc_verbose)
		fprintf(stderr, "taskscope: %" PRIu64 " events drained during the snapshot (%.1f "
			"MiB)%s\n", sst.records, (double)sst.bytes / 1048576.0,
			sst.full ? ", up to the spool's limit" : "");
	return TSC_EXIT_OK;
}

/* Drain until the end: 0 or -errno. */
static int uprobes_loop(struct rec *R, const struct record_opts *o, struct tsc_bpf *b,
			uint64_t *counters)
{
	int busy = 0, exec_unrecorded = 0, err = 0;
	for (;;) {
		struct pollfd p = { .fd = R->r->pidfd, .events = POLLIN };
		if (poll(&p, 1, tsc_rec_wait_ms(R, busy, DRAIN_MS)) > 0 &&
		    (p.revents & (POLLIN | POLLHUP | POLLERR)))
			R->exited = 1;
		long n = tsc_bpf_drain(b, DRAIN_BUDGET);
		if (n < 0)
			return (int)n;
		busy = n == DRAIN_BUDGET;
		if ((err = tsc_bpf_counters(b, counters, TSC_C_NR)) || (err = write_drops(R, counters)))
			return err;
		if (R->execd)
			return 0; /* the exec record came: the trace ends there */
		/* An exec without its record (the tracepoint missing, or the buffer full for it),
		 * seen by the counter or by the target's memory, twice so that a record on its
		 * way is not overtaken: the trace ends now. */
		if ((counters[TSC_C_EXEC] || tsc_remote_execd(R->r)) && ++exec_unrecorded >= 2)
			return on_exec(R, NULL, tsc_rec_mono());
		if ((err = tsc_rec_tick(R, o)))
			return err;
		if (!busy && (R->exited || tsc_record_stop || tsc_rec_mono() >= R->deadline))
			return 0;
	}
}

/* Probes off, the rest drained, every event accounted for: recorded + lost == fired. */
static void uprobes_finish(struct rec *R, struct tsc_bpf *b, uint64_t *counters, uint64_t end)
{
	int err;
	tsc_bpf_unlink(b);
	while (!R->err && tsc_bpf_drain(b, 0) > 0)
		;
	if (!R->err && (err = tsc_bpf_counters(b, counters, TSC_C_NR)))
		R->err = err;
	if (!R->err)
		R->err = write_drops(R, counters);
	/* Fired but neither received nor counted as dropped (should not happen): lost too. */
	for (int t = 1; t <= TSC_EV_EVENTS_NR && !R->err; t++) {
		uint64_t fired = counters[TSC_C_TASK_CREATE + t - 1];
		if (fired > R->received[t] + R->lost[t]) {
			uint64_t k = fired - R->received[t] - R->lost[t];
			if (tsc_verbose)
				fprintf(stderr, "taskscope: %" PRIu64 " %s events fired, never arrived\n",
					k, tsc_ev_name((uint32_t)t));
			R->err = tsc_trace_lost(R->w, (uint32_t)t, k, end);
			R->lost[t] += k;
		}
	}
	if (!tsc_verbose)
		return;
	fprintf(stderr, "taskscope: %-12s %12s %12s %12s\n", "event", "fired", "recorded", "lost");
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++)
		fprintf(stderr, "taskscope: %-12s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "\n",
			tsc_ev_name((uint32_t)t), counters[TSC_C_TASK_CREATE + t - 1], R->received[t],
			R->lost[t]);
	if (R->malformed)
		fprintf(stderr, "taskscope: %" PRIu64 " malformed ring-buffer records\n", R->malformed);
}

static int record_uprobes(const struct record_opts *o)
{
	struct tsc_bpf *b = NULL;
	struct tsc_snapshot snap = { 0 };
	struct rec R;
	uint64_t counters[TSC_C_NR] = { 0 };
	int rc, err;

	if ((rc = tsc_rec_init(&R, o)))
		return rc;
	if ((rc = uprobes_start(&R, o, &b, &snap)))
		goto cleanup;
	/* A signal from now on ends the recording cleanly: the trace gets its last block. */
	tsc_rec_signals();
	if (tsc_verbose)
		fprintf(stderr, "taskscope: recording process %d (%zu threads, %zu tasks) to %s\n",
			o->pid, snap.nthreads, snap.ntasks, o->out);
	R.t0 = R.last_flush = R.last_zcheck = tsc_rec_mono();
	R.last_cpu = tsc_rec_clock(CLOCK_PROCESS_CPUTIME_ID);
	if (o->duration > 0)
		R.deadline = R.t0 + (uint64_t)(o->duration * 1e9);
	if ((err = uprobes_loop(&R, o, b, counters)) && !R.err)
		R.err = err;
	uint64_t end = tsc_rec_mono();
	uprobes_finish(&R, b, counters, end);
	rc = tsc_rec_end(&R, o, end, "the ring buffer was full; a larger --buffer-size keeps more");
cleanup:
	tsc_bpf_detach(b);
	tsc_snapshot_free(&snap);
	tsc_rec_free(&R);
	return rc;
}

int tsc_cmd_record(int argc, char **argv)
{
	struct record_opts o;
	int rc = parse_record_opts(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (o.flight)
		return tsc_record_flight(&o);
	if (o.uprobes)
		return record_uprobes(&o);
	rc = tsc_record_rings(&o);
	if (rc != -1)
		return rc;
	fprintf(stderr, "taskscope: process %d offers no event rings (a runtime with the probes "
			"alone, or an older one): recording with uprobes\n", o.pid);
	return record_uprobes(&o);
}
