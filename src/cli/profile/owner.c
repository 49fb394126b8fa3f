/* SPDX-License-Identifier: MIT */
/* Whose frames an on-CPU sample holds: the task its loop's slot names, unless the sample's
 * frame pointer says it was taken mid-switch (prof.h, prof_loops_task). */
#include "profile/prof.h"
#include "target/model.h"
#include "util.h"

#include <stdlib.h>

static int stk_by_lo(const void *a, const void *b)
{
	const struct prof_stk *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

int prof_loops_stacks(struct prof_loops *ls, const struct tsc_task *t, size_t n, uint64_t seed)
{
	int err = tsc_grow((void **)&ls->stk, &ls->stk_cap, n + 1, sizeof(*ls->stk));
	ls->nstk = 0;
	if (!err) {
		for (size_t i = 0; i < n; i++)
			if (t[i].id && t[i].stack_lo < t[i].stack_hi)
				ls->stk[ls->nstk++] = (struct prof_stk){ t[i].stack_lo, t[i].stack_hi,
									 t[i].id };
		qsort(ls->stk, ls->nstk, sizeof(*ls->stk), stk_by_lo);
		err = tsc_idmap_reset(&ls->stk_of, ls->nstk, seed);
		for (size_t i = 0; !err && i < ls->nstk; i++)
			err = tsc_idmap_put(&ls->stk_of, ls->stk[i].id, i);
	}
	if (err) { /* no stacks known: every sample keeps its slot's task */
		ls->nstk = 0;
		tsc_idmap_free(&ls->stk_of);
	}
	return err;
}

/* The live task whose stack holds address a, or NULL. */
static const struct prof_stk *stk_at(const struct prof_loops *ls, uint64_t a)
{
	size_t lo = 0, hi = ls->nstk;
	while (lo < hi) { /* the first stack that starts above a */
		size_t m = lo + (hi - lo) / 2;
		if (ls->stk[m].lo <= a)
			lo = m + 1;
		else
			hi = m;
	}
	return lo && a < ls->stk[lo - 1].hi ? &ls->stk[lo - 1] : NULL;
}

uint64_t prof_loops_task(const struct prof_loops *ls, uint64_t claimed, uint64_t fp,
			 uint64_t sp)
{
	const uint64_t *i = claimed ? tsc_idmap_get(&ls->stk_of, claimed) : NULL;
	const struct prof_stk *c = i ? &ls->stk[*i] : NULL;
	if (!fp || (claimed && !c))
		return claimed; /* in the kernel, or a task too new to know its stack */
	if (c && fp >= c->lo && fp < c->hi)
		return claimed;
	/* the frames are another task's (a switch between the slot's store and the new frame
	 * pointer's load), or the loop's own (its thread's stack, in no task's), or, in code
	 * built without frame pointers, fp is any value while sp is in the claimed task's */
	const struct prof_stk *o = stk_at(ls, fp);
	if (o)
		return o->id;
	return c && sp >= c->lo && sp < c->hi ? claimed : 0;
}

void prof_loops_fini(struct prof_loops *ls)
{
	free(ls->l);
	free(ls->stk);
	tsc_idmap_free(&ls->stk_of);
}
