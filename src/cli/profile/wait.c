/* SPDX-License-Identifier: MIT */
/* The wait profile: at each tick the registry is read (the strict snapshot of ps) and every
 * suspended task's stack unwound from outside (unwind.h, as ps --stacks does). What a tick saw
 * stands for the time until the next tick (or the end), and is counted with that time once it
 * is known: a task that sat at one await for the whole run gets the whole run, a wall-clock
 * flame graph of where tasks wait, like Go's goroutine profile. */
#include "profile/prof.h"
#include "stacks/unwind.h"
#include "target/remote.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A suspended task as the last tick saw it; its stack in pcs[pc .. pc + n). */
struct seen {
	uint64_t task, loop;
	size_t pc;
	unsigned n;
};

struct prof_wait {
	struct tsc_remote *r;
	struct tsc_unwinder *u;
	struct tsc_stack *stacks;
	size_t cap;
	struct seen *seen;          /* the last tick's, not counted yet */
	size_t nseen, seen_cap;
	uint64_t *pcs;
	size_t npcs, pcs_cap;
	uint64_t seen_ns;           /* when that tick was taken */
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
	free(w->seen);
	free(w->pcs);
	free(w);
}

int prof_wait_flush(struct prof_wait *w, struct prof_store *s, uint64_t now_ns)
{
	uint64_t dt = now_ns > w->seen_ns ? now_ns - w->seen_ns : 0;
	int err = 0;
	for (size_t i = 0; i < w->nseen; i++) {
		const struct seen *e = &w->seen[i];
		int e2 = prof_store_add(s, e->task, e->loop, &w->pcs[e->pc], e->n, dt);
		err = err ? err : e2;
	}
	w->nseen = w->npcs = 0;
	return err;
}

int prof_wait_tick(struct prof_wait *w, struct prof_store *s, uint64_t now_ns)
{
	struct tsc_snapshot snap;
	int err = tsc_remote_snapshot(w->r, &snap);
	if (err)
		return err; /* the last tick's stacks stand on */
	/* what the last tick saw lasted until now */
	if ((err = prof_wait_flush(w, s, now_ns)))
		goto out;
	w->seen_ns = now_ns;
	if ((err = tsc_grow((void **)&w->stacks, &w->cap, snap.ntasks + 1, sizeof(*w->stacks))) ||
	    (err = tsc_grow((void **)&w->seen, &w->seen_cap, snap.ntasks + 1, sizeof(*w->seen))))
		goto out;
	/* one unwinder for the run: its read budget grows by each tick's tasks */
	tsc_unwind_tasks(w->u, snap.tasks, snap.ntasks, w->stacks);
	for (size_t i = 0; i < snap.ntasks; i++) {
		const struct tsc_task *t = &snap.tasks[i];
		const struct tsc_stack *st = &w->stacks[i];
		if ((err = prof_store_task(s, t->id, t->name, t->coro)))
			break;
		if (!st->n || st->end == TSC_STACK_RUNNING || st->end == TSC_STACK_NOT_STARTED)
			continue; /* on a CPU (the CPU profile's), or never ran: not waiting */
		if ((err = tsc_grow((void **)&w->pcs, &w->pcs_cap, w->npcs + st->n, sizeof(*w->pcs))))
			break;
		struct seen *e = &w->seen[w->nseen++];
		e->task = t->id;
		e->loop = 0;
		for (size_t k = 0; k < snap.nthreads; k++)
			if (snap.threads[k].tid == t->tid)
				e->loop = snap.threads[k].loop_id;
		e->n = st->n;
		e->pc = w->npcs;
		memcpy(&w->pcs[w->npcs], st->pc, st->n * sizeof(*st->pc));
		w->npcs += st->n;
	}
out:
	tsc_snapshot_free(&snap);
	return err;
}
