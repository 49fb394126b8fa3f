/* SPDX-License-Identifier: MIT */
/*
 * The registry walk, from outside: the loop table, each loop's task array, each task.
 *
 * A loop's array is taken only between two equal, even reads of the loop's generation, so it
 * is the registry as it was at one instant. Tasks are read after that: one that finished
 * since shows a freed magic or a finished state and is dropped; one whose seq was odd or moved
 * (a rename, a finish) is read again. Every count and length is bounded, every retry too
 * (walk.h): the tries of each kind and the walk's time budget.
 */
#include "target/registry.h"
#include "target/remote.h"
#include "target/tids.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Below this many tasks, one iovec each; from it, through the spans of the heap. */
#define SPANS_FROM 64

int tsc_reg_read_err(struct tsc_remote *r, int err, const char *what)
{
	if (err == -ESRCH)
		snprintf(r->err, sizeof(r->err), "process %d exited", r->pid);
	else
		snprintf(r->err, sizeof(r->err), "cannot read %s of process %d: %s", what, r->pid,
			 strerror(-err));
	return err;
}

static int rread(struct tsc_reg *g, struct tsc_mem_req *q, size_t n)
{
	return n >= SPANS_FROM ? tsc_mem_read_many(g->mem, q, n) : tsc_mem_read(g->mem, q, n);
}

int tsc_reg_init(struct tsc_reg *g, struct tsc_remote *r)
{
	memset(g, 0, sizeof(*g));
	g->r = r;
	g->mem = r->mem;
	g->d = &r->desc;
	g->tsz = tsc_reg_task_size(g->d);
	g->table = calloc(g->d->max_loops, sizeof(*g->table));
	g->loops = calloc(g->d->max_loops, sizeof(*g->loops));
	return g->table && g->loops ? 0 : -ENOMEM;
}

void tsc_reg_fini(struct tsc_reg *g)
{
	for (size_t i = 0; g->loops && i < g->d->max_loops; i++) {
		free(g->loops[i].raw);
		free(g->loops[i].ptrs);
	}
	free(g->loops);
	free(g->table);
	free(g->q);
	free(g->seq2);
	memset(g, 0, sizeof(*g));
}

/* Charge the time since the last charge to the walk's budget: 0 while some is left. */
static int charge(struct tsc_reg *g)
{
	return tsc_walk_charge(&g->budget, &g->mark);
}

/* The loop table: its pointers, between two equal even generations. */
static int read_table(struct tsc_reg *g, uint32_t *nloops)
{
	struct tsc_remote *r = g->r;
	const struct ts_debug_desc *d = g->d;
	int attempt;
	g->mark = tsc_now_ns();
	for (attempt = 0; attempt < TSC_WALK_TABLE_TRIES; attempt++) {
		uint64_t g1 = 0, g2 = 0;
		/* one call reads them in this order: the second generation after the table */
		struct tsc_mem_req q[4] = {
			{ d->loops_gen_addr, &g1, 8 },
			{ d->nloops_addr, nloops, 4 },
			{ d->loops_addr, g->table, (size_t)d->max_loops * 8 },
			{ d->loops_gen_addr, &g2, 8 },
		};
		int err = tsc_mem_read(g->mem, q, 4);
		if (err)
			return tsc_reg_read_err(r, err, "the loop table");
		if (!q[0].ok || !q[1].ok || !q[2].ok || !q[3].ok) {
			snprintf(r->err, sizeof(r->err), "the loop table of process %d is unreadable",
				 r->pid);
			return -EPROTO;
		}
		if (!(g1 & 1) && g1 == g2 && *nloops <= d->max_loops)
			return 0;
		g->retries++;
		if (g->mem->frozen || charge(g))
			break; /* a core never changes: what did not hold still never will */
		tsc_walk_backoff(attempt);
	}
	snprintf(r->err, sizeof(r->err), "the loop table of process %d kept changing (%d tries)",
		 r->pid, attempt + 1 < TSC_WALK_TABLE_TRIES ? attempt + 1 : TSC_WALK_TABLE_TRIES);
	return -EAGAIN;
}

/* The fields of the loops not done yet, and what the loops claim. */
static int loops_fields(struct tsc_reg *g, uint64_t *claimed)
{
	const struct ts_debug_desc *d = g->d;
	struct tsc_mem_req *q = g->q;
	uint64_t claim = 0;
	size_t n = 0;
	int err;

	for (size_t i = 0; i < g->nloops; i++)
		if (!g->loops[i].done)
			q[n++] = (struct tsc_mem_req){ g->loops[i].addr, g->loops[i].raw, d->loop_size };
	if ((err = tsc_mem_read(g->mem, q, n)))
		return tsc_reg_read_err(g->r, err, "a loop");
	for (size_t i = 0, k = 0; i < g->nloops; i++) {
		struct tsc_reg_loop *l = &g->loops[i];
		if (l->done) {
			claim += l->done > 0 ? l->nptrs : 0;
			continue;
		}
		if (!q[k++].ok) {
			l->done = -1; /* the loop was freed since the table was read */
			continue;
		}
		tsc_reg_loop_decode(d, l->raw, &l->f);
		if ((l->f.gen & 1) || (l->f.ntasks && !l->f.tasks)) {
			l->why = l->f.gen & 1 ? "generation stuck odd: a writer stopped mid-change?"
					      : "no task array";
			l->f.gen = 1; /* odd: retry this loop */
			continue;
		}
		claim += l->f.ntasks;
	}
	*claimed = claim;
	return 0;
}

/* One round over the loops not done yet: fields, task array, generation again. What the
 * loops claim is summed, and checked against the cap, before any array is allocated. */
static int loops_round(struct tsc_reg *g)
{
	struct tsc_remote *r = g->r;
	const struct ts_debug_desc *d = g->d;
	struct tsc_mem_req *q = g->q;
	size_t n = 0;
	int err;

	uint64_t claim = 0;
	if ((err = loops_fields(g, &claim)))
		return err;
	if (claim > TSC_WALK_MAX_TASKS) {
		snprintf(r->err, sizeof(r->err), "the loops of process %d claim %llu tasks: more "
			 "than the %u taskscope reads", r->pid, (unsigned long long)claim,
			 TSC_WALK_MAX_TASKS);
		return -EPROTO;
	}
	for (size_t i = 0; i < g->nloops; i++) {
		struct tsc_reg_loop *l = &g->loops[i];
		if (l->done || (l->f.gen & 1))
			continue;
		/* room to grow between walks, but not for a claim long gone */
		if (l->f.ntasks + 1 > l->cap || l->f.ntasks + 1 < l->cap / 4) {
			size_t c = ((size_t)l->f.ntasks + 1) * 2;
			uint64_t *p = realloc(l->ptrs, c * 8);
			if (!p)
				return -ENOMEM;
			l->ptrs = p;
			l->cap = (uint32_t)c;
		}
		l->nptrs = l->f.ntasks;
		q[n++] = (struct tsc_mem_req){ l->f.tasks, l->ptrs, (size_t)l->f.ntasks * 8 };
	}
	if ((err = tsc_mem_read(g->mem, q, n)))
		return tsc_reg_read_err(r, err, "a task array");
	for (size_t i = 0, k = 0; i < g->nloops; i++) {
		struct tsc_reg_loop *l = &g->loops[i];
		if (l->done || (l->f.gen & 1))
			continue;
		if (!q[k++].ok) {
			l->why = "its task array was unreadable";
			l->f.gen = 1; /* the array was replaced and freed: retry */
		}
	}
	n = 0;
	for (size_t i = 0; i < g->nloops; i++)
		if (!g->loops[i].done && !(g->loops[i].f.gen & 1))
			q[n++] = (struct tsc_mem_req){ g->loops[i].addr + d->loop_gen, &g->loops[i].gen2,
						    8 };
	if ((err = tsc_mem_read(g->mem, q, n)))
		return tsc_reg_read_err(r, err, "a loop");
	for (size_t i = 0, k = 0; i < g->nloops; i++) {
		struct tsc_reg_loop *l = &g->loops[i];
		if (l->done)
			continue;
		if (!(l->f.gen & 1) && q[k++].ok && l->gen2 == l->f.gen) {
			l->done = 1;
			continue;
		}
		if (!(l->f.gen & 1))
			l->why = "generation kept moving";
		l->tries++;
	}
	return 0;
}

/* The loops of the table, each slot reused from the last walk. */
static int take_table(struct tsc_reg *g, uint32_t nloops)
{
	g->nloops = 0;
	for (uint32_t i = 0; i < nloops; i++) {
		if (!g->table[i])
			continue;
		if (g->table[i] & 7) {
			g->bad++;
			continue;
		}
		struct tsc_reg_loop *l = &g->loops[g->nloops];
		if (!l->raw && !(l->raw = calloc(1, g->d->loop_size)))
			return -ENOMEM;
		l->addr = g->table[i];
		l->done = 0;
		l->tries = 0;
		l->nptrs = 0;
		l->outer = 0;
		g->nloops++;
	}
	return 0;
}

int tsc_reg_read_loops(struct tsc_reg *g)
{
	struct tsc_remote *r = g->r;
	uint32_t nloops = 0;
	int err;

	g->budget = (struct tsc_walk_budget){ 0 };
	g->retries = 0;
	g->bad = 0;
	if ((err = read_table(g, &nloops)) || (err = take_table(g, nloops)))
		return err;
	if ((err = tsc_grow((void **)&g->q, &g->qcap, g->nloops + 1, sizeof(*g->q))))
		return err;
	g->mark = tsc_now_ns();
	for (int attempt = 0;; attempt++) {
		if ((err = loops_round(g)))
			return err;
		size_t pending = 0;
		for (size_t i = 0; i < g->nloops; i++) {
			struct tsc_reg_loop *l = &g->loops[i];
			if (l->done)
				continue;
			pending++;
			if (l->tries >= TSC_WALK_LOOP_TRIES || g->mem->frozen || charge(g)) {
				snprintf(r->err, sizeof(r->err), "the task registry of the loop on "
					 "thread %d of process %d never held still in %d reads (%s)",
					 l->f.tid, r->pid, l->tries, l->why);
				return -EAGAIN;
			}
		}
		if (!pending)
			return 0;
		g->retries += (uint32_t)pending;
		tsc_walk_backoff(attempt);
	}
}

int tsc_reg_threads(struct tsc_reg *g, const struct tsc_tidset *seen, int *vanished)
{
	struct tsc_tidmap tids = { 0 };
	int err = tsc_mem_threads(g->mem, &tids);
	if (err)
		return tsc_reg_read_err(g->r, err, "the threads");
	for (size_t i = 0; i < g->nloops; i++) {
		struct tsc_reg_loop *l = &g->loops[i];
		if (l->done < 0)
			continue;
		l->outer = tsc_tidmap_outer(&tids, l->f.tid);
		if (!l->outer) {
			if (vanished)
				*vanished |= seen && tsc_tidset_has(seen, l->f.tid) ? 2 : 1;
			l->done = -1;
		}
	}
	tsc_tidmap_free(&tids);
	return 0;
}

size_t tsc_reg_nptrs(const struct tsc_reg *g)
{
	size_t total = 0;
	for (size_t i = 0; i < g->nloops; i++)
		total += g->loops[i].done > 0 ? g->loops[i].nptrs : 0;
	return total; /* at most TSC_WALK_MAX_TASKS: loops_round checked */
}

size_t tsc_reg_ptrs(struct tsc_reg *g, struct tsc_walk_ptr *p, struct tsc_walk_ptr *tmp)
{
	size_t np = 0, u = 0;
	for (size_t i = 0; i < g->nloops; i++) {
		const struct tsc_reg_loop *l = &g->loops[i];
		for (uint32_t k = 0; l->done > 0 && k < l->nptrs; k++) {
			uint64_t a = l->ptrs[k];
			if (!a || (a & 7))
				g->bad++;
			else
				p[np++] = (struct tsc_walk_ptr){ a, (uint32_t)i, 0 };
		}
	}
	tsc_walk_sort_ptrs(p, tmp, np); /* stable: one address's loops stay in loop order */
	for (size_t i = 0; i < np; i++)
		if (!u || p[u - 1].addr != p[i].addr || p[u - 1].loop != p[i].loop)
			p[u++] = p[i];
	return u;
}

int tsc_reg_read_bodies(struct tsc_reg *g, const uint64_t *addr, const size_t *slot, size_t n,
			unsigned char *raw)
{
	int err;
	if ((err = tsc_grow((void **)&g->q, &g->qcap, n + 1, sizeof(*g->q))))
		return err;
	for (size_t k = 0; k < n; k++)
		g->q[k] = (struct tsc_mem_req){ addr[k], raw + (slot ? slot[k] : k) * g->tsz, g->tsz };
	if ((err = rread(g, g->q, n)))
		return tsc_reg_read_err(g->r, err, "a task");
	for (size_t k = 0; k < n; k++)
		if (!g->q[k].ok) /* freed and unmapped since the array was read: finished */
			tsc_reg_task_forget(g->d, g->q[k].buf);
	return 0;
}

int tsc_reg_settle(struct tsc_reg *g, uint64_t *addr, size_t *slot, size_t n, unsigned char *raw,
		   int strict)
{
	const struct ts_debug_desc *d = g->d;
	size_t m = n;
	int err;

	if (!n)
		return 0;
	if ((err = tsc_grow((void **)&g->q, &g->qcap, n, sizeof(*g->q))) ||
	    (err = tsc_grow((void **)&g->seq2, &g->seqcap, n, sizeof(*g->seq2))))
		return err;
	g->mark = tsc_now_ns();
	for (int attempt = 0; m; attempt++) {
		if (attempt) {
			if (attempt > TSC_WALK_TASK_TRIES || g->mem->frozen || charge(g)) {
				if (!strict)
					return 0; /* their last read stands */
				snprintf(g->r->err, sizeof(g->r->err), g->mem->frozen ?
					 "%zu task(s) of process %d were caught mid-change by its core" :
					 "%zu task(s) of process %d kept changing (%d tries)", m, g->r->pid,
					 attempt);
				return -EAGAIN;
			}
			g->retries += (uint32_t)m;
			tsc_walk_backoff(attempt - 1);
			if ((err = tsc_reg_read_bodies(g, addr, slot, m, raw)))
				return err;
		}
		for (size_t k = 0; k < m; k++)
			g->q[k] = (struct tsc_mem_req){ addr[k] + d->task_seq, &g->seq2[k], 8 };
		if ((err = rread(g, g->q, m)))
			return tsc_reg_read_err(g->r, err, "a task");
		size_t c = 0;
		for (size_t k = 0; k < m; k++) {
			unsigned char *p = raw + slot[k] * g->tsz;
			uint64_t s1 = tsc_reg_task_seq(d, p);
			if (tsc_reg_task_magic(d, p) != TS_TASK_MAGIC)
				continue; /* finished */
			if (!g->q[k].ok) {
				tsc_reg_task_forget(d, p); /* freed meanwhile: it finished */
			} else if ((s1 & 1) || s1 != g->seq2[k]) {
				addr[c] = addr[k];
				slot[c++] = slot[k];
			}
		}
		m = c;
	}
	return 0;
}

int tsc_reg_next_id(struct tsc_reg *g, uint64_t *id)
{
	int err = tsc_mem_read1(g->mem, g->d->next_id_addr, id, 8);
	return err ? tsc_reg_read_err(g->r, err, "the next task id") : 0;
}
