/* SPDX-License-Identifier: MIT */
/*
 * record's spool: while the registry snapshot is read and written (seconds for 300,000 tasks),
 * a thread keeps draining the BPF ring buffer into memory, so that the buffer never fills
 * then; the records are handed on, in their order, once the trace file can take events.
 */
#ifndef TSC_SPOOL_H
#define TSC_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "probes/attach.h"

struct tsc_spool;

/* Start draining b (opened with tsc_bpf_events_open) on a thread, keeping up to limit bytes
 * of records; past that it stops draining, and the ring buffer's own drop counters account
 * for what then falls. b's consumer is the spool's until tsc_spool_finish. 0 or -errno. */
int tsc_spool_start(struct tsc_bpf *b, size_t limit, struct tsc_spool **out);
struct tsc_spool_stats {
	uint64_t records, bytes, drains;
	int full;                  /* the limit was reached */
};

/* Stop the thread, give b's ring buffer back to fn, then hand fn every record kept, oldest
 * first, and free the spool; its figures in *st (may be NULL). fn NULL: drop them (b must
 * not be drained again). Returns 0 or the first error of fn. Accepts NULL. */
int tsc_spool_finish(struct tsc_spool *s, tsc_bpf_rec_fn fn, void *ctx,
		     struct tsc_spool_stats *st);

#endif
