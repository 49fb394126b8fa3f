/* SPDX-License-Identifier: MIT */
/*
 * What top/exact.c (the event rings, drained) and top/replay.c (their events replayed into
 * the switch accounting and the scheduling latency: pure, unit-tested) share: the state.
 */
#ifndef TSC_TOP_EXACT_H
#define TSC_TOP_EXACT_H

#include "top/top.h"
#include "target/rings.h"
#include "sampler.h"

struct xthread {
	int32_t tid;                /* the ring's thread, the target's pid namespace */
	struct tss_thread v;
	uint64_t last_ns;           /* its last record's time: its state held until then */
	/* time no record tells of: from the last record before a lost stretch of its ring to
	 * the first switch after it */
	uint64_t gap_ns, gap_since; /* up to gap_since, and since then (0: none now) */
	uint64_t resync_ns;         /* its first record after its last lost stretch */
	struct tsc_lat lat;         /* scheduling latency since the last refresh */
};

/* Samples kept per refresh (the percentiles are of those; count and max of every one), per
 * thread and in all: 1 MiB and 8 MiB; a thread's room above LAT_ROOM goes at each refresh. */
#define LAT_KEEP (1u << 18)
#define LAT_KEEP_ALL (1u << 21)
#define LAT_ROOM (1u << 16)

struct top_exact {
	struct tsc_rings *rings;    /* exact.c: the source */
	int semfd;                  /* the rings probe, held */
	uint64_t last_scan;
	uint64_t fired[TSC_RINGS_MAX]; /* each ring's records, as of the last drain */
	uint64_t period_ns;         /* the next drain is due this long after it */
	/* replay.c: the accounting */
	uint64_t attach_ns;         /* the rings on from then (as the BPF side's attach_ns) */
	uint64_t read_ns;           /* the last drain began: every record before is read */
	uint64_t prev_read_ns;      /* ... and the one before it */
	struct xthread th[TSC_RINGS_MAX]; /* a thread per ring at most: a ring has one tid */
	size_t nth;
	struct tsc_idmap th_idx;    /* tid -> index in th */
	struct tsc_idmap tasks;     /* task id -> ns switched in, up to its last switch out */
	struct tsc_idmap ready;     /* task id -> since when it is ready, not switched in yet */
	uint64_t full;              /* records not kept: TSS_MAX_TASKS tasks, or no memory */
	uint64_t lat_kept;          /* latency samples kept since the last refresh */
	uint64_t gaps;              /* resyncs: a thread's records overwritten before read */
};

/* The replay's state, empty, for rings on since attach_ns: 0 or -ENOMEM. */
int top_replay_init(struct top_exact *x, uint64_t attach_ns);
void top_replay_free(struct top_exact *x);
/* Before a drain that began at now (every record written before it will be read). */
void top_replay_begin(struct top_exact *x, uint64_t now);
/* One drained event (a tsc_rings_fn): always 0 (a record without room is counted full). */
int top_replay_event(void *ctx, const struct tsc_event *ev);

#endif
