/* SPDX-License-Identifier: MIT */
/*
 * The await graph of a snapshot: who awaits whom, and its cycles (deadlocks). A task awaits
 * at most one other, so the graph is a set of chains that may merge and may end in a cycle.
 * `tree` draws it; `ps --warnings` names its cycles.
 */
#ifndef TSC_AWAITS_H
#define TSC_AWAITS_H

#include <stddef.h>

#include "target/model.h"

#define TSC_AWAITS_NONE ((size_t)-1)

struct tsc_awaits {
	const struct tsc_snapshot *s;
	size_t *next;        /* index of the awaited live task, or TSC_AWAITS_NONE */
	size_t *nawaiters;   /* how many live tasks await it */
	int *cycle;          /* 1 + index of its cycle in cycles, 0 if none */
	size_t **cycles;     /* each: member indices, in await order, from its lowest id */
	size_t *cycle_len;
	size_t ncycles;
};

/* The graph of s's tasks: 0 or -ENOMEM (then g holds nothing). */
int tsc_awaits_build(const struct tsc_snapshot *s, struct tsc_awaits *g);
void tsc_awaits_free(struct tsc_awaits *g);

#endif
