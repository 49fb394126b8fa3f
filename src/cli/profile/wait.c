/* SPDX-License-Identifier: MIT */
/* The wait profile: at each tick the registry is read (the strict snapshot of ps) and every
 * suspended task's stack unwound from outside (unwind.h, as ps --stacks does), each counted
 * with the time since the last tick. A task that sat at one await for the whole run gets the
 * whole run: a wall-clock flame graph of where tasks wait, like Go's goroutine profile. */
#include "profile/prof.h"
#include "stacks/unwind.h"
#include "target/remote.h"

#include <errno.h>
#include <stdlib.h>

struct prof_wait {
	struct tsc_remote *r;
	struct tsc_unwinder *u;
	struct tsc_stack *stacks;
	size_t cap;
};

int prof_wait_open(struct tsc_remote *r, struct prof_wait **out)
{
	struct prof_wait *w = calloc(1, sizeof(*w));
	int err;
	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->r = r;
	if ((err = tsc_unwinder_new(r->mem, &r->desc, &w->u))) {
		free(w);
		return err;
	}
	*out = w;
	return 0;
}

void prof_wait_close(struct prof_wait *w)
{
	if (!w)
		return;
	tsc_unwinder_free(w->u);
	free(w->stacks);
	free(w);
}

int prof_wait_tick(struct prof_wait *w, struct prof_store *s, uint64_t dt_ns)
{
	struct tsc_snapshot snap;
	int err = tsc_remote_snapshot(w->r, &snap);
	if (err)
		return err;
	if ((err = tsc_grow((void **)&w->stacks, &w->cap, snap.ntasks + 1, sizeof(*w->stacks))))
		goto out;
	/* one unwinder for the run: its read budget grows by each tick's tasks */
	tsc_unwind_tasks(w->u, snap.tasks, snap.ntasks, w->stacks);
	for (size_t i = 0; i < snap.ntasks && !err; i++) {
		const struct tsc_task *t = &snap.tasks[i];
		const struct tsc_stack *st = &w->stacks[i];
		if ((err = prof_store_task(s, t->id, t->name, t->coro)))
			break;
		if (!st->n || st->end == TSC_STACK_RUNNING || st->end == TSC_STACK_NOT_STARTED)
			continue; /* on a CPU (the CPU profile's), or never ran: not waiting */
		uint64_t loop = 0;
		for (size_t k = 0; k < snap.nthreads; k++)
			if (snap.threads[k].tid == t->tid)
				loop = snap.threads[k].loop_id;
		err = prof_store_add(s, t->id, loop, st->pc, st->n, dt_ns);
	}
out:
	tsc_snapshot_free(&snap);
	return err;
}
