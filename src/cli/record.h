/* SPDX-License-Identifier: MIT */
/* taskscope record's pieces: the options, what a recording keeps, and what its two ways of
 * getting events (the target's event rings, record_rings.c; the BPF uprobes, record.c) share:
 * the trace file opened with the snapshot, the timer-driven flush, the end and its summary. */
#ifndef TSC_RECORD_H
#define TSC_RECORD_H

#include <signal.h>
#include <stdint.h>
#include <time.h>

#include "out/outfile.h"
#include "target/model.h"
#include "target/tids.h"
#include "trace/trace.h"

#include "events.h" /* bpf/: TSC_NAME_LEN, TSC_CORO_LEN */

struct tsc_remote;

struct record_opts {
	const char *out;
	double duration;            /* 0: until a signal, or the target exits or execs */
	size_t rbsz;                /* 0: the default BPF ring buffer */
	int zlevel, zfixed, pid;
	int uprobes;                /* --uprobes: the BPF path, not the rings */
	int flight;                 /* --flight: what the rings hold now, at once */
	const char *core, *exe;     /* --core: the rings a core file holds (flight implied) */
};

struct rec {
	struct tsc_trace_writer *w;
	int err;                                  /* the writer's first error */
	uint64_t received[TSC_EV_NR];             /* by event type (READY: rings only) */
	uint64_t lost[TSC_EV_EVENTS_NR + 1];      /* written as LOST records */
	uint64_t malformed;                       /* records of unknown type or size */
	/* the target's thread ids are its pid namespace's; the file holds ours */
	struct tsc_tidcache tids;
	/* the target exec'd: the trace ends with that record; nothing after it is written */
	int execd;
	uint64_t after_exec;                      /* records that came after it anyway */
	char exe[TSC_NAME_LEN + TSC_CORO_LEN + 64];
	struct tsc_remote *r;
	struct tsc_outfile of;
	/* the recording's course */
	uint64_t t0, last_flush, last_cpu, last_zcheck, deadline;
	int zlevel, exited;
	int behind;                   /* events wait for us (a backlog): compress faster */
	int stored;                   /* a large backlog: blocks stored, not compressed */
};

extern volatile sig_atomic_t tsc_record_stop;

uint64_t tsc_rec_clock(clockid_t c);
static inline uint64_t tsc_rec_mono(void) { return tsc_rec_clock(CLOCK_MONOTONIC); }
/* The exec record, the last of the trace (tid as we know it, 0 unknown; file as exec got
 * it, or NULL). */
int tsc_rec_exec(struct rec *R, uint64_t ts, int32_t tid, const char *given);
/* R zeroed and the output file opened (named only once the snapshot is in). An exit code. */
int tsc_rec_init(struct rec *R, const struct record_opts *o);
/* The snapshot read, the file begun with it and named (of open already). An exit code. */
int tsc_rec_begin(struct rec *R, const struct record_opts *o, struct tsc_snapshot *snap);
/* From now on a signal ends the recording cleanly. */
void tsc_rec_signals(void);
/* What the wait before the next drain may be, in ms, at most max (0: drain now). */
int tsc_rec_wait_ms(const struct rec *R, int busy, int max);
/* A block at least once a second; compression at level 1 when it keeps us over half a CPU.
 * 0 or -errno. */
int tsc_rec_tick(struct rec *R, const struct record_opts *o);
/* Close the trace and say what it holds (hint: why events were lost, or NULL). An exit
 * code. */
int tsc_rec_end(struct rec *R, const struct record_opts *o, uint64_t end, const char *hint);
/* Free what R holds (the trace abandoned if still open). */
void tsc_rec_free(struct rec *R);

/* record_rings.c; tsc_record_rings returns -1 when the runtime has no rings */
int tsc_record_rings(const struct record_opts *o);
int tsc_record_flight(const struct record_opts *o);

#endif
