/* SPDX-License-Identifier: MIT */
/*
 * What bounds a walk of a target's task registry (registry.c, for the snapshot and top's
 * refresh): caps on what a registry may claim, the time a walk may spend retrying and how,
 * the order of task pointers, and a hash the target cannot aim at. Everything the registry
 * says is hostile input: memory follows what is really there, up to these caps, and time
 * follows the work plus at most the retry budget.
 */
#ifndef TSC_WALK_H
#define TSC_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Task pointers in all loops' arrays together, checked before anything is allocated for
 * them: twice the million tasks the runtime is measured with. */
#define TSC_WALK_MAX_TASKS (1u << 21)
/* What a descriptor may describe (remote.c); beyond these it is an ABI we do not read. */
#define TSC_WALK_MAX_LOOPS 1024       /* slots of the loop table */
#define TSC_WALK_MAX_LOOP_SIZE 4096   /* bytes of a loop, read whole */
#define TSC_WALK_MAX_TASK_FIELDS 512  /* bytes of a task that hold every field we read */
#define TSC_WALK_MAX_NAME 256         /* name_max */
/* Wall time one walk may spend on reads again (the first pass is never cut short). */
#define TSC_WALK_RETRY_NS 1000000000ull
/* Reads of one thing before the walk gives up on it, whatever budget is left: the loop table,
 * a loop's array (each between two equal even generations), a set of tasks (until each seq
 * holds still). One policy for every walk (registry.h); the budget usually ends it first. */
#define TSC_WALK_TABLE_TRIES 200
#define TSC_WALK_LOOP_TRIES 200
#define TSC_WALK_TASK_TRIES 50

struct tsc_walk_budget {
	uint64_t spent_ns;
};

/* Charge the time since *mark to the budget and set *mark to now: 0 while some is left,
 * -EAGAIN once it is spent. */
int tsc_walk_charge(struct tsc_walk_budget *b, uint64_t *mark);
/* Let a writer finish: yield first, then sleep a little longer each time (<= 1 ms). */
void tsc_walk_backoff(int attempt);

/* A task pointer and the loop whose array held it. */
struct tsc_walk_ptr {
	uint64_t addr;
	uint32_t loop;
	uint32_t flag;
};

/* Sort p[0..n) by address, in O(n) (LSD radix over the bits that differ); equal addresses
 * keep their order. tmp: scratch room for n. */
void tsc_walk_sort_ptrs(struct tsc_walk_ptr *p, struct tsc_walk_ptr *tmp, size_t n);

/* For hash tables keyed by values the target chooses (task ids, addresses): a multiplicative
 * hash alone lets it pick keys that all land in one slot. Keyed per run (walk.c). */
extern uint64_t tsc_hash_key;
static inline uint64_t tsc_hash64(uint64_t x)
{
	return tsc_hash_mix(x ^ tsc_hash_key);
}

#endif
