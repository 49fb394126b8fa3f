/* SPDX-License-Identifier: MIT */
/* Reconciliation: a registry snapshot plus what the probes saw since attach, into the live
 * set. A pure function of its inputs (the BPF maps' contents come in as arrays), so that the
 * rules below are unit-tested without BPF (tests/unit/test_reconcile.c). */
#ifndef TSC_RECONCILE_H
#define TSC_RECONCILE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "target/model.h"
#include "events.h" /* bpf/: the map records */

/* What the probes saw since attach. The maps were read in this order: live, threads,
 * finished (a task finished at any moment before the end of the reading is then known as
 * finished), and born after live. */
struct tsc_probe_view {
	const struct tsc_task_rec *live;      /* the `live` map's values */
	size_t nlive;
	const __u32 *thread_tids;             /* the `threads` map: keys, */
	const struct tsc_thread_rec *threads; /* and values */
	size_t nthreads;
	const __u64 *finished;                /* the `finished` map's keys */
	size_t nfinished;
	/* the `born` bitmap: bit (id - born_base) set when id's creation was seen, in `live`
	 * then; born_base 0 = none seen */
	const volatile uint64_t *born;
	size_t born_bits;
	uint64_t born_base;
	uint64_t next_id;                     /* tasks from this id on were created under the
					       * probes (tsc_bpf_set_next_id); 0 = unknown */
	/* Our thread id for a task_create's loop tid (the target's pid namespace); NULL = the
	 * same. */
	int32_t (*outer_tid)(void *ctx, int32_t inner);
	void *tid_ctx;
	const uint64_t *counters;             /* TSC_C_NR sums over CPUs */
};

/*
 * Merge v into snap:
 *   - snapshot tasks in `finished` are dropped, and so are those born under the probes (their
 *     bit in `born`, or from next_id on) that are no longer in `live`: they finished. A
 *     finished task is never resurrected;
 *   - live records created since attach and absent from the snapshot are added; each task
 *     appears once;
 *   - renames since attach replace the name; switch/wait events newer than the snapshot
 *     replace state and wait;
 *   - a thread's current task comes from its last switch when one was seen, and becomes 0
 *     when that task is not in the result; loops started since attach are added.
 * Sets snap->reconciled, events, lost and map_full. 0 or -ENOMEM (snap unchanged then).
 */
int tsc_reconcile(struct tsc_snapshot *snap, const struct tsc_probe_view *v);

#endif
