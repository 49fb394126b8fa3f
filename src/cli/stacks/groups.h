/* SPDX-License-Identifier: MIT */
/*
 * Tasks with identical stacks, grouped, as panicparse groups goroutines: ten thousand workers
 * parked at the same line are one stack and a count, not ten thousand copies. Two tasks are
 * in one group when they have the same state, wait reason, spawn site and stack (the same
 * addresses, ended the same way).
 */
#ifndef TSC_STACK_GROUPS_H
#define TSC_STACK_GROUPS_H

#include <stddef.h>
#include <stdio.h>

#include "target/model.h"
#include "stacks/sites.h"
#include "stacks/stacks.h"

struct tsc_stack_group {
	size_t *member;   /* indices into the snapshot's tasks, in id order */
	size_t n;
};

struct tsc_stack_groups {
	struct tsc_stack_group *g; /* the largest group first, then by lowest id */
	size_t n;
	size_t *members;           /* every task's index once: the groups' arrays point here */
};

/* Group the tasks of s by st (their stacks), those for which keep(task, ctx) says so (keep
 * NULL: every task). 0 or -ENOMEM. */
int tsc_stack_groups_build(const struct tsc_snapshot *s, const struct tsc_stacks *st,
			   int (*keep)(const struct tsc_task *t, const void *ctx), const void *ctx,
			   struct tsc_stack_groups *out);
void tsc_stack_groups_free(struct tsc_stack_groups *gs);

/* Each group: a blank line, "N tasks waiting sleep: a b c d … z (ids 5-10004)", then its
 * stack (flags as for tsc_stacks_print) and where its tasks were created (sites). */
void tsc_stack_groups_print(FILE *f, const struct tsc_snapshot *s, struct tsc_stacks *st,
			    const struct tsc_sites *sites, const struct tsc_stack_groups *gs,
			    unsigned flags);

/* "stack_groups": [{"count", "tasks": [ids], "state", "wait", "stack", "stack_end",
 * "spawned_at"}] into the object w has open. */
struct tsc_json;
void tsc_stack_groups_json(struct tsc_json *w, const struct tsc_snapshot *s,
			   struct tsc_stacks *st, const struct tsc_sites *sites,
			   const struct tsc_stack_groups *gs);

#endif
