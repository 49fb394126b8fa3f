/* SPDX-License-Identifier: MIT */
/*
 * top's read of the registry at each refresh: the incremental front end of the registry
 * reader (registry.h), which does the loop table, the loops' arrays, the decoding and the
 * checks; this keeps what does not change between refreshes.
 *
 * Kept: its buffers, the coroutine names (one cache, read once per string), each task's name,
 * read again only when the task's seq moved (the runtime bumps it around renames and
 * finishes; states change without it, for speed, so a state read may mix two neighbouring
 * states: harmless here), and the sorted task pointers when no loop's array changed. Task
 * pointers are visited in address order (a radix sort), so the heap is read in a few big
 * spans, and matched with the last refresh's tasks by a merge on address, not a lookup each.
 */
#include "top/top.h"
#include "target/registry.h"
#include "target/remote.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ptr tsc_walk_ptr /* loop: its index in reg.loops; flag 1 for a live task of it */

struct top_reg {
	struct tsc_reg reg;
	struct ptr *p, *tmp;    /* task pointers, and radix sort scratch */
	size_t pcap, tmpcap, np, bad_ptrs;
	uint64_t *cat, *cat_prev; /* every loop's array end to end: this refresh's and the last */
	size_t catcap, catprevcap, ncat_prev;
	int sorted_ok;          /* p holds the sorted pointers of cat_prev */
	unsigned char *raw;     /* tsz bytes per pointer */
	size_t rawcap;
	uint64_t *again_addr;   /* the tasks whose name needs settling, and their slots */
	size_t *again;
	uint32_t *match;        /* each pointer's task in the last refresh's model */
	size_t againaddrcap, againcap, matchcap;
	struct prev {           /* the last refresh's tasks, in its (address) order */
		uint64_t addr, id, seq;
	} *prev;
	size_t nprev, prevcap;
	struct tsc_coros coros;
	uint64_t *want;         /* coroutine names to read */
	size_t wantcap;
};

/* What one refresh builds before it replaces the model's. */
struct refresh {
	struct top_thread *th;
	size_t nth;
	size_t n;               /* task pointers */
	uint64_t next_id_before, next_id;
	uint64_t taken;
	double dt;
	size_t valid;           /* live tasks */
	int same;               /* the same tasks as last time, in the same order */
	struct top_task *nt;
	size_t kept;
	struct tsc_idmap idx;
};

int top_reg_new(struct tsc_remote *r, struct top_reg **out)
{
	struct top_reg *g = calloc(1, sizeof(*g));
	*out = NULL;
	if (!g)
		return -ENOMEM;
	if (tsc_reg_init(&g->reg, r)) {
		top_reg_free(g);
		return -ENOMEM;
	}
	*out = g;
	return 0;
}

void top_reg_free(struct top_reg *g)
{
	if (!g)
		return;
	tsc_reg_fini(&g->reg);
	free(g->p);
	free(g->tmp);
	free(g->cat);
	free(g->cat_prev);
	free(g->raw);
	free(g->again_addr);
	free(g->again);
	free(g->match);
	free(g->prev);
	tsc_coros_free(&g->coros);
	free(g->want);
	free(g);
}

/* The loops, and their threads carrying what was measured of each. */
static int read_loops(struct top_reg *g, const struct top_model *m, struct refresh *f)
{
	struct tsc_reg *reg = &g->reg;
	int err;
	if ((err = tsc_reg_next_id(reg, &f->next_id_before)) || (err = tsc_reg_read_loops(reg)) ||
	    (err = tsc_reg_threads(reg, NULL, NULL)))
		return err;
	if (!(f->th = calloc(reg->nloops ? reg->nloops : 1, sizeof(*f->th))))
		return -ENOMEM;
	for (size_t i = 0; i < reg->nloops; i++) {
		const struct tsc_reg_loop *l = &reg->loops[i];
		if (l->done <= 0)
			continue;
		struct top_thread *t = &f->th[f->nth++];
		for (size_t k = 0; k < m->nthreads; k++)
			if (m->threads[k].tid == l->outer && m->threads[k].loop_addr == l->addr)
				*t = m->threads[k];
		t->tid = l->outer;
		t->inner_tid = l->f.tid;
		t->loop_id = l->f.id;
		t->loop_addr = l->addr;
		t->current = l->f.current_id;
		t->lag_ns = tsc_reg_loop_lag(&l->f, tsc_now_ns());
	}
	return 0;
}

/* Every task pointer, in address order, into g->p; when no loop's array changed since the
 * last refresh (a quiet process), last time's order holds. */
static int order_ptrs(struct top_reg *g, struct refresh *f)
{
	struct tsc_reg *reg = &g->reg;
	size_t total = tsc_reg_nptrs(reg), ncat = 0;
	int err;
	if ((err = tsc_grow((void **)&g->cat, &g->catcap, total + 2 * reg->nloops + 1,
			    sizeof(*g->cat))))
		return err;
	for (size_t i = 0; i < reg->nloops; i++) {
		const struct tsc_reg_loop *l = &reg->loops[i];
		if (l->done <= 0)
			continue;
		/* each loop and its count first: two layouts never give the same list */
		g->cat[ncat++] = i;
		g->cat[ncat++] = l->nptrs;
		memcpy(g->cat + ncat, l->ptrs, (size_t)l->nptrs * 8);
		ncat += l->nptrs;
	}
	if (g->sorted_ok && ncat == g->ncat_prev &&
	    !memcmp(g->cat, g->cat_prev, ncat * sizeof(*g->cat))) {
		f->n = g->np;
		reg->bad += g->bad_ptrs;
		return 0;
	}
	if ((err = tsc_grow((void **)&g->p, &g->pcap, total + 1, sizeof(*g->p))) ||
	    (err = tsc_grow((void **)&g->tmp, &g->tmpcap, total + 1, sizeof(*g->tmp))))
		return err;
	size_t bad = reg->bad;
	f->n = g->np = tsc_reg_ptrs(reg, g->p, g->tmp);
	g->bad_ptrs = reg->bad - bad;
	uint64_t *t = g->cat_prev;
	size_t tc = g->catprevcap;
	g->cat_prev = g->cat;
	g->catprevcap = g->catcap;
	g->cat = t;
	g->catcap = tc;
	g->ncat_prev = ncat;
	g->sorted_ok = 1;
	return 0;
}

/* Every task's fields, in one pass over the heap; then the names that may have changed since
 * the last read, read until they hold still (or keep their last read). */
static int read_fields(struct top_reg *g, struct refresh *f)
{
	const struct ts_debug_desc *d = g->reg.d;
	size_t n = f->n, tsz = g->reg.tsz, nagain = 0, j = 0;
	int err;
	if ((err = tsc_grow((void **)&g->raw, &g->rawcap, (n + 1) * tsz, 1)) ||
	    (err = tsc_grow((void **)&g->again_addr, &g->againaddrcap, n + 1, 8)) ||
	    (err = tsc_grow((void **)&g->again, &g->againcap, n + 1, sizeof(*g->again))) ||
	    (err = tsc_grow((void **)&g->match, &g->matchcap, n + 1, sizeof(*g->match))))
		return err;
	for (size_t i = 0; i < n; i++)
		g->again_addr[i] = g->p[i].addr;
	if ((err = tsc_reg_read_bodies(&g->reg, g->again_addr, NULL, n, g->raw)))
		return err;
	/* Each pointer's task of the last refresh, if it is still there: both lists are in
	 * address order, so a merge over a compact copy of the last one's addresses and ids,
	 * not a lookup per task (for 100k tasks, those cost more than the read itself). */
	for (size_t i = 0; i < n; i++) {
		const unsigned char *raw = g->raw + i * tsz;
		g->match[i] = UINT32_MAX;
		if (tsc_reg_task_magic(d, raw) != TS_TASK_MAGIC)
			continue; /* finished */
		while (j < g->nprev && g->prev[j].addr < g->p[i].addr)
			j++;
		uint64_t id = tsc_reg_task_id(d, raw), s = tsc_reg_task_seq(d, raw);
		if (j < g->nprev && g->prev[j].addr == g->p[i].addr && g->prev[j].id == id)
			g->match[i] = (uint32_t)j;
		/* the name only needs settling when it may have changed since we last read it */
		if ((s & 1) || g->match[i] == UINT32_MAX || g->prev[j].seq != s) {
			g->again_addr[nagain] = g->p[i].addr;
			g->again[nagain++] = i;
		}
	}
	return tsc_reg_settle(&g->reg, g->again_addr, g->again, nagain, g->raw, 0);
}

/* Which tasks are still live (p[i].flag), and whether they are the same ones as last time in
 * the same order (a quiet process): then the model is updated where it is. */
static void select_live(struct top_reg *g, const struct top_model *m, struct refresh *f)
{
	const struct ts_debug_desc *d = g->reg.d;
	f->valid = 0;
	f->same = 1;
	for (size_t i = 0; i < f->n; i++) {
		const unsigned char *raw = g->raw + i * g->reg.tsz;
		const struct tsc_reg_loop *l = &g->reg.loops[g->p[i].loop];
		int c = tsc_reg_task_check(d, raw, l->f.tid, f->next_id);
		if (c < 0)
			g->reg.bad++;
		g->p[i].flag = c > 0;
		if (c <= 0)
			continue;
		/* read again since the match: the memory may hold another task now */
		if (g->match[i] != UINT32_MAX &&
		    g->prev[g->match[i]].id != tsc_reg_task_id(d, raw))
			g->match[i] = UINT32_MAX;
		f->same &= g->match[i] == f->valid;
		f->valid++;
	}
	f->same &= f->valid == m->ntasks && m->ntasks == g->nprev && m->by_id.cap;
}

/* The coroutine names of the tasks new at this refresh that the cache lacks. */
static int read_coros(struct top_reg *g, const struct refresh *f)
{
	size_t nwant = 0;
	int err;
	if ((err = tsc_grow((void **)&g->want, &g->wantcap, f->n + 1, sizeof(*g->want))))
		return err;
	for (size_t i = 0; i < f->n; i++) {
		if (!g->p[i].flag || g->match[i] != UINT32_MAX)
			continue;
		uint64_t a = tsc_reg_u64(g->raw + i * g->reg.tsz, g->reg.d->task_coro);
		if (!tsc_coros_find(&g->coros, a))
			g->want[nwant++] = a;
	}
	return nwant ? tsc_coros_add(&g->coros, g->reg.r, g->want, nwant) : 0;
}

/* The live tasks into f->nt (the model's own array when the same, else its spare): known
 * ones carry what was measured, new ones start from their fields. */
static void fill_tasks(struct top_reg *g, struct top_model *m, struct refresh *f)
{
	const struct ts_debug_desc *d = g->reg.d;
	memset(m->nstate, 0, sizeof(m->nstate));
	f->kept = 0;
	for (size_t i = 0; i < f->n; i++) {
		if (!g->p[i].flag)
			continue;
		struct tsc_reg_task_fields rf;
		tsc_reg_task_decode(d, g->raw + i * g->reg.tsz, &rf);
		struct top_task *t = &f->nt[f->kept];
		uint32_t o = g->match[i];
		int fresh = o == UINT32_MAX;
		if (!f->same && !fresh) {
			*t = m->tasks[o];
		} else if (fresh) {
			memset(t, 0, sizeof(*t));
			t->id = rf.id;
			t->created_ns = rf.created_ns;
			t->coro_addr = rf.coro;
			const char *cn = tsc_coros_find(&g->coros, rf.coro);
			t->coro = cn ? cn : "?";
			t->tid = g->reg.loops[g->p[i].loop].outer;
		}
		if (fresh || t->seq != rf.seq) {
			size_t nl = strnlen(rf.name, sizeof(t->name) - 1);
			memcpy(t->name, rf.name, nl);
			t->name[nl] = 0;
		}
		t->known = !fresh;
		t->addr = g->p[i].addr;
		t->seq = rf.seq;
		t->parent = rf.parent;
		t->state = rf.state;
		t->wait = rf.wait;
		t->wait_obj = rf.wait_obj;
		t->wait_since_ns = rf.wait_since_ns;
		t->ready_since_ns = rf.ready_since_ns;
		t->switches = rf.switches;
		t->sw_rate = t->known && f->dt > 0 && t->switches >= t->sw_prev ?
				     (double)(t->switches - t->sw_prev) / f->dt : 0;
		t->sw_prev = t->switches;
		m->nstate[t->state < 8 ? t->state : 7]++;
		g->prev[f->kept] = (struct prev){ t->addr, t->id, rf.seq };
		f->kept++;
	}
	g->nprev = f->kept;
}

/* The id index: the model's when the same; else rebuilt, where an id seen twice (memory
 * reused under a stale pointer) keeps its first task. */
static int index_tasks(struct top_reg *g, struct top_model *m, struct refresh *f)
{
	int err;
	if (f->same) {
		f->idx = m->by_id;
		return 0;
	}
	if ((err = tsc_idmap_reset(&m->spare_idx, f->kept, tsc_hash_key)))
		return err;
	f->idx = m->spare_idx;
	size_t w = 0;
	for (size_t i = 0; i < f->kept; i++) {
		if (tsc_idmap_get(&f->idx, f->nt[i].id))
			continue;
		if (w != i) {
			f->nt[w] = f->nt[i];
			g->prev[w] = g->prev[i];
		}
		/* reset for f->kept keys: it never grows here, so never fails */
		(void)tsc_idmap_put(&f->idx, f->nt[w].id, (uint32_t)w);
		w++;
	}
	f->kept = g->nprev = w;
	m->spare_idx = m->by_id;
	return 0;
}

/* The refresh's threads and tasks become the model's. */
static void commit(struct top_reg *g, struct top_model *m, struct refresh *f)
{
	/* a thread's current task is one of its own live tasks, or none */
	for (size_t k = 0; k < f->nth; k++) {
		uint64_t *at = f->th[k].current ? tsc_idmap_get(&f->idx, f->th[k].current) : NULL;
		if (!at || f->nt[*at].tid != f->th[k].tid)
			f->th[k].current = 0;
	}
	if (!f->same) {
		m->spare = m->tasks;
		m->tasks = f->nt;
		size_t c = m->cap;
		m->cap = m->spare_cap;
		m->spare_cap = c;
	}
	m->ntasks = f->kept;
	m->by_id = f->idx;
	free(m->threads);
	m->threads = f->th;
	m->nthreads = f->nth;
	f->th = NULL;
	m->prev_ns = m->taken_ns;
	m->taken_ns = f->taken;
	m->dt = f->dt;
	m->next_id = f->next_id;
	m->next_id_before = f->next_id_before;
	m->retries += g->reg.retries;
	m->invalid = g->reg.bad;
	m->note[0] = 0;
	if (g->reg.bad)
		snprintf(m->note, sizeof(m->note), "%zu task(s) failed validation and are not shown",
			 g->reg.bad);
	/* names no task of the model uses any more go once they outnumber the rest */
	if (tsc_coros_crowded(&g->coros, m->ntasks)) {
		for (size_t i = 0; i < m->ntasks; i++)
			tsc_coros_mark(&g->coros, m->tasks[i].coro_addr);
		tsc_coros_sweep(&g->coros);
	}
}

int top_reg_refresh(struct top_reg *g, struct top_model *m)
{
	struct refresh f = { 0 };
	int err;

	g->reg.r->err[0] = 0;
	if ((err = read_loops(g, m, &f)) || (err = order_ptrs(g, &f)) ||
	    (err = read_fields(g, &f)))
		goto cleanup;
	/* after the tasks: every id they hold was handed out before this read */
	if ((err = tsc_reg_next_id(&g->reg, &f.next_id)))
		goto cleanup;
	f.taken = tsc_now_ns();
	f.dt = m->taken_ns ? (double)(f.taken - m->taken_ns) / 1e9 : 0;
	select_live(g, m, &f);
	if ((err = read_coros(g, &f)))
		goto cleanup;
	if (!f.same &&
	    (err = tsc_grow((void **)&m->spare, &m->spare_cap, f.valid + 1, sizeof(*m->spare))))
		goto cleanup;
	if ((err = tsc_grow((void **)&g->prev, &g->prevcap, f.valid + 1, sizeof(*g->prev))))
		goto cleanup;
	f.nt = f.same ? m->tasks : m->spare;
	fill_tasks(g, m, &f);
	if ((err = index_tasks(g, m, &f)))
		goto cleanup;
	commit(g, m, &f);
cleanup:
	free(f.th);
	return err;
}
