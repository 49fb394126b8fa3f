/* SPDX-License-Identifier: MIT */
/* What the profiler reads of the registry besides stacks: the loops (each thread's
 * current-task slot, for the BPF side), the tasks' names (for the roots) and their stacks
 * (owner.c: whose frames an on-CPU sample holds). */
#include "profile/prof.h"
#include "target/registry.h"
#include "target/remote.h"
#include "util.h"

#include <errno.h>
#include <string.h>

int prof_loops_read(struct tsc_remote *r, struct prof_loops *ls)
{
	struct tsc_reg g;
	int err = tsc_reg_init(&g, r);
	if (!err && !(err = tsc_reg_read_loops(&g)))
		err = tsc_reg_threads(&g, NULL, NULL);
	if (!err)
		err = tsc_grow((void **)&ls->l, &ls->cap, g.nloops + 1, sizeof(*ls->l));
	if (!err) {
		ls->n = 0;
		for (size_t i = 0; i < g.nloops; i++) {
			const struct tsc_reg_loop *l = &g.loops[i];
			if (l->done <= 0 || l->outer <= 0)
				continue; /* gone, or not started yet */
			ls->l[ls->n++] = (struct prof_loop){ .tid = l->outer, .id = l->f.id,
							     .slot = l->addr + r->desc.loop_current_id };
		}
	}
	tsc_reg_fini(&g);
	return err;
}

uint64_t prof_loops_id(const struct prof_loops *ls, int32_t tid)
{
	for (size_t i = 0; i < ls->n; i++) /* a few loops: a scan is the fastest */
		if (ls->l[i].tid == tid)
			return ls->l[i].id;
	return 0;
}

int prof_names_read(struct tsc_remote *r, struct prof_store *s, struct prof_loops *ls)
{
	struct tsc_snapshot snap;
	int err = tsc_remote_snapshot(r, &snap);
	if (err)
		return err; /* nothing is left to free */
	for (size_t i = 0; !err && i < snap.ntasks; i++)
		err = prof_store_task(s, snap.tasks[i].id, snap.tasks[i].name, snap.tasks[i].coro);
	if (!err)
		err = prof_loops_stacks(ls, snap.tasks, snap.ntasks, s->seed);
	tsc_snapshot_free(&snap);
	return err;
}
