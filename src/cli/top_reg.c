/* SPDX-License-Identifier: MIT */
/*
 * top's read of the registry at each refresh, from outside (process_vm_readv): the loop
 * table, each loop's task array, then every task's fields in one pass over the heap.
 *
 * Unlike a one-shot snapshot it keeps what does not change between refreshes: its buffers,
 * the coroutine names (read once per string), and each task's name, which is read again only
 * when the task's seq moved (the runtime bumps it around renames and finishes; states change
 * without it, for speed, so a state read may mix two neighbouring states: harmless here).
 * Task pointers are visited in address order, so the heap is read in a few big spans.
 * What the loops claim is capped before anything is allocated for it, each address is read
 * once however often the arrays list it, and retries share one budget per refresh (walk.h).
 */
#include "top.h"
#include "remote.h"
#include "tids.h"
#include "walk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <taskscope/taskscope.h>

#define TABLE_TRIES 100
#define LOOP_TRIES 100
#define NAME_TRIES 8
#define CORO_MAX 64
#define CORO_KEEP 4096 /* cached names kept beyond the ones in use */

struct loopr {
	uint64_t addr;
	unsigned char *raw;     /* desc.loop_size bytes */
	uint64_t *ptrs;
	uint32_t nptrs, cap;
	uint32_t want;          /* the count its fields claim, read this round */
	uint64_t arr;
	uint64_t gen, gen2;
	int done;               /* 1 read, -1 gone, 0 to (re)read */
	int32_t outer;          /* its thread, as this process numbers it */
	const char *why;        /* why its last read did not hold */
	int tries;
};

/* a task pointer: loop is its index in g->loops, flag 1 for a live task of that loop */
#define ptr tsc_walk_ptr

struct coro_ent {
	uint64_t addr;
	char *s;                /* its own allocation: tasks point at it while they use it */
	int used;
};

struct top_reg {
	struct tsc_remote *r;
	size_t tsz;             /* bytes of a task we read */
	uint64_t *table;
	struct loopr *loops;
	size_t nloops;
	struct tsc_rreq *q;     /* requests, reused */
	size_t qcap;
	struct ptr *p, *tmp;    /* task pointers, and radix sort scratch */
	size_t pcap, tmpcap, np, bad_ptrs;
	uint64_t *cat, *cat_prev; /* every loop's array end to end: this refresh's and the last */
	size_t catcap, catprevcap, ncat_prev;
	int sorted_ok;          /* p holds the sorted pointers of cat_prev */
	unsigned char *raw;     /* tsz bytes per pointer */
	size_t rawcap;
	uint64_t *seq2;
	size_t *again;
	uint32_t *match;        /* each pointer's task in the last refresh's model */
	size_t seqcap, againcap, matchcap;
	struct prev {           /* the last refresh's tasks, in its (address) order */
		uint64_t addr, id, seq;
	} *prev;
	size_t nprev, prevcap;
	struct coro_ent *coros; /* sorted by addr */
	size_t ncoros, corocap;
	struct coro_ent *cnew;  /* names first met at this refresh, merged in once */
	size_t cnewcap;
	struct tsc_walk_budget budget; /* this refresh's */
};

static uint64_t get64(const unsigned char *p, uint16_t off)
{
	uint64_t v;
	memcpy(&v, p + off, 8);
	return v;
}

static uint32_t get32(const unsigned char *p, uint16_t off)
{
	uint32_t v;
	memcpy(&v, p + off, 4);
	return v;
}

static int grow(void **p, size_t *cap, size_t want, size_t elem)
{
	if (want <= *cap)
		return 0;
	size_t c = *cap ? *cap : 64;
	while (c < want)
		c *= 2;
	void *n = realloc(*p, c * elem);
	if (!n)
		return -ENOMEM;
	*p = n;
	*cap = c;
	return 0;
}

static int read_err(struct tsc_remote *r, int err, const char *what)
{
	if (err == -ESRCH)
		snprintf(r->err, sizeof(r->err), "process %d exited", r->pid);
	else
		snprintf(r->err, sizeof(r->err), "cannot read %s of process %d: %s", what, r->pid,
			 strerror(-err));
	return err;
}

/* The prefix of a task holding every field we use. */
static size_t task_read_size(const struct ts_debug_desc *d)
{
	const uint16_t f64[] = { d->task_magic, d->task_seq, d->task_id, d->task_parent,
				 d->task_coro, d->task_wait_obj, d->task_created_ns,
				 d->task_switches };
	const uint16_t f32[] = { d->task_state, d->task_wait, d->task_tid };
	size_t end = (size_t)d->task_name + d->name_max;
	for (size_t i = 0; i < sizeof(f64) / sizeof(f64[0]); i++)
		end = f64[i] + 8u > end ? f64[i] + 8u : end;
	for (size_t i = 0; i < sizeof(f32) / sizeof(f32[0]); i++)
		end = f32[i] + 4u > end ? f32[i] + 4u : end;
	return (end + 7) & ~(size_t)7;
}

int top_reg_new(struct tsc_remote *r, struct top_reg **out)
{
	struct top_reg *g = calloc(1, sizeof(*g));
	*out = NULL;
	if (!g)
		return -ENOMEM;
	g->r = r;
	g->tsz = task_read_size(&r->desc);
	g->table = calloc(r->desc.max_loops, sizeof(*g->table));
	g->loops = calloc(r->desc.max_loops, sizeof(*g->loops));
	if (!g->table || !g->loops) {
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
	for (size_t i = 0; g->loops && i < g->r->desc.max_loops; i++) {
		free(g->loops[i].raw);
		free(g->loops[i].ptrs);
	}
	free(g->loops);
	free(g->table);
	free(g->q);
	free(g->p);
	free(g->tmp);
	free(g->cat);
	free(g->cat_prev);
	free(g->raw);
	free(g->seq2);
	free(g->again);
	free(g->match);
	free(g->prev);
	for (size_t i = 0; i < g->ncoros; i++)
		free(g->coros[i].s);
	free(g->coros);
	free(g->cnew);
	free(g);
}

/* The loop table, between two equal even generations. */
static int read_table(struct top_reg *g, uint32_t *nloops, uint32_t *retries)
{
	struct tsc_remote *r = g->r;
	const struct ts_debug_desc *d = &r->desc;
	uint64_t mark = tsc_walk_now_ns();
	for (int attempt = 0; attempt < TABLE_TRIES; attempt++) {
		uint64_t g1 = 0, g2 = 0;
		struct tsc_rreq q[4] = {
			{ d->loops_gen_addr, &g1, 8 },
			{ d->nloops_addr, nloops, 4 },
			{ d->loops_addr, g->table, (size_t)d->max_loops * 8 },
			{ d->loops_gen_addr, &g2, 8 },
		};
		int err = tsc_rread(r->pid, q, 4);
		if (err)
			return read_err(r, err, "the loop table");
		if (!q[0].ok || !q[1].ok || !q[2].ok || !q[3].ok) {
			snprintf(r->err, sizeof(r->err), "the loop table of process %d is unreadable",
				 r->pid);
			return -EPROTO;
		}
		if (!(g1 & 1) && g1 == g2 && *nloops <= d->max_loops)
			return 0;
		(*retries)++;
		if (tsc_walk_charge(&g->budget, &mark))
			break;
		tsc_walk_backoff(attempt);
	}
	snprintf(r->err, sizeof(r->err), "the loop table of process %d kept changing", r->pid);
	return -EAGAIN;
}

/* Each loop's fields and task array, between two equal even generations of that loop. */
static int read_loops(struct top_reg *g, uint32_t *retries)
{
	struct tsc_remote *r = g->r;
	const struct ts_debug_desc *d = &r->desc;
	size_t nl = g->nloops;
	int err;

	uint64_t mark = tsc_walk_now_ns();
	if ((err = grow((void **)&g->q, &g->qcap, nl + 1, sizeof(*g->q))))
		return err;
	for (int attempt = 0;; attempt++) {
		struct tsc_rreq *q = g->q;
		size_t n = 0, pending = 0;
		uint64_t claim = 0;
		for (size_t i = 0; i < nl; i++)
			if (!g->loops[i].done)
				q[n++] = (struct tsc_rreq){ g->loops[i].addr, g->loops[i].raw,
							    d->loop_size };
		if (!n)
			return 0;
		if ((err = tsc_rread(r->pid, q, n)))
			return read_err(r, err, "a loop");
		n = 0;
		for (size_t i = 0, k = 0; i < nl; i++) {
			struct loopr *l = &g->loops[i];
			if (l->done) {
				claim += l->done > 0 ? l->nptrs : 0;
				continue;
			}
			if (!q[k++].ok) {
				l->done = -1; /* freed since the table was read */
				continue;
			}
			l->gen = get64(l->raw, d->loop_gen);
			l->want = get32(l->raw, d->loop_ntasks);
			l->arr = get64(l->raw, d->loop_tasks);
			if ((l->gen & 1) || (l->want && !l->arr)) {
				l->why = l->gen & 1 ? "generation stuck odd: a writer stopped "
						      "mid-change?" : "no task array";
				l->gen = 1;
			} else {
				claim += l->want;
			}
		}
		/* summed before any array is allocated for them */
		if (claim > TSC_WALK_MAX_TASKS) {
			snprintf(r->err, sizeof(r->err), "the loops of process %d claim %llu tasks: "
				 "more than the %u taskscope reads", r->pid,
				 (unsigned long long)claim, TSC_WALK_MAX_TASKS);
			return -EPROTO;
		}
		for (size_t i = 0; i < nl; i++) {
			struct loopr *l = &g->loops[i];
			if (l->done || (l->gen & 1))
				continue;
			/* room to grow between refreshes, but not for a claim long gone */
			if (l->want + 1 > l->cap || l->want + 1 < l->cap / 4) {
				size_t c = ((size_t)l->want + 1) * 2;
				uint64_t *np = realloc(l->ptrs, c * 8);
				if (!np)
					return -ENOMEM;
				l->ptrs = np;
				l->cap = (uint32_t)c;
			}
			l->nptrs = l->want;
			q[n++] = (struct tsc_rreq){ l->arr, l->ptrs, (size_t)l->want * 8 };
		}
		if ((err = tsc_rread(r->pid, q, n)))
			return read_err(r, err, "a task array");
		for (size_t i = 0, k = 0; i < nl; i++) {
			struct loopr *l = &g->loops[i];
			if (l->done || (l->gen & 1))
				continue;
			if (!q[k++].ok) {
				l->why = "its task array was unreadable";
				l->gen = 1; /* the array was replaced and freed: again */
			}
		}
		n = 0;
		for (size_t i = 0; i < nl; i++)
			if (!g->loops[i].done && !(g->loops[i].gen & 1))
				q[n++] = (struct tsc_rreq){ g->loops[i].addr + d->loop_gen,
							    &g->loops[i].gen2, 8 };
		if ((err = tsc_rread(r->pid, q, n)))
			return read_err(r, err, "a loop");
		for (size_t i = 0, k = 0; i < nl; i++) {
			struct loopr *l = &g->loops[i];
			if (l->done)
				continue;
			if (!(l->gen & 1) && q[k++].ok && l->gen2 == l->gen) {
				l->done = 1;
				continue;
			}
			pending++;
			if (!(l->gen & 1))
				l->why = "generation kept moving";
			if (++l->tries >= LOOP_TRIES || tsc_walk_charge(&g->budget, &mark)) {
				snprintf(r->err, sizeof(r->err), "the task registry of the loop on "
					 "thread %d of process %d never held still in %d reads (%s)",
					 (int32_t)get32(l->raw, d->loop_tid), r->pid, l->tries, l->why);
				return -EAGAIN;
			}
		}
		*retries += (uint32_t)pending;
		tsc_walk_backoff(attempt);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_coro(const void *a, const void *b)
{
	uint64_t x = ((const struct coro_ent *)a)->addr, y = ((const struct coro_ent *)b)->addr;
	return x < y ? -1 : x > y;
}

static const char *coro_find(const struct top_reg *g, uint64_t addr)
{
	struct coro_ent key = { .addr = addr };
	const struct coro_ent *e =
		g->ncoros ? bsearch(&key, g->coros, g->ncoros, sizeof(*e), cmp_coro) : NULL;
	return e ? e->s : NULL;
}

/* The coroutine names of this refresh's new tasks that the cache lacks: read together, each
 * once, then merged into the sorted cache in one pass (a sort per name would make thousands
 * of distinct names quadratic). A name that cannot be read is "?". */
static int coro_add(struct top_reg *g, uint64_t *want, size_t n)
{
	struct tsc_rreq *q = NULL;
	char *buf = NULL;
	size_t u = 0, nq = 0;
	int err = -ENOMEM;

	qsort(want, n, sizeof(*want), cmp_u64);
	for (size_t i = 0; i < n; i++)
		if (!u || want[u - 1] != want[i])
			want[u++] = want[i];
	if (!u)
		return 0;
	q = malloc(2 * u * sizeof(*q));
	buf = calloc(u, CORO_MAX);
	if (!q || !buf || grow((void **)&g->cnew, &g->cnewcap, u, sizeof(*g->cnew)) ||
	    grow((void **)&g->coros, &g->corocap, g->ncoros + u, sizeof(*g->coros)))
		goto cleanup;
	/* up to the end of its page first: the next page may not be mapped */
	for (size_t i = 0; i < u; i++) {
		uint64_t a = want[i], room = 4096 - (a & 4095);
		size_t len = room < CORO_MAX - 1 ? (size_t)room : CORO_MAX - 1;
		q[nq++] = (struct tsc_rreq){ a, buf + i * CORO_MAX, len };
		if (len < CORO_MAX - 1)
			q[nq++] = (struct tsc_rreq){ a + len, buf + i * CORO_MAX + len,
						     CORO_MAX - 1 - len };
	}
	if ((err = tsc_rread(g->r->pid, q, nq))) {
		read_err(g->r, err, "the coroutine names");
		goto cleanup;
	}
	for (size_t i = 0, k = 0; i < u; i++) {
		char *sn = buf + i * CORO_MAX;
		size_t len = q[k].len;
		int head_ok = q[k++].ok;
		if (len < CORO_MAX - 1) {
			/* the tail on the next page only counts if the head had no NUL */
			if (!q[k++].ok)
				memset(sn + len, 0, CORO_MAX - 1 - len);
		}
		if (!head_ok)
			strcpy(sn, "?");
		sn[CORO_MAX - 1] = 0;
		if (!(g->cnew[i].s = strdup(sn))) {
			while (i--)
				free(g->cnew[i].s);
			err = -ENOMEM;
			goto cleanup;
		}
		g->cnew[i].addr = want[i];
	}
	/* merge from the back: both are sorted, and none of the new is in the cache */
	size_t a = g->ncoros, b = u, w = g->ncoros + u;
	while (b) {
		if (a && g->coros[a - 1].addr > g->cnew[b - 1].addr)
			g->coros[--w] = g->coros[--a];
		else
			g->coros[--w] = g->cnew[--b];
	}
	g->ncoros += u;
	err = 0;
cleanup:
	free(q);
	free(buf);
	return err;
}

/* Names no task of the model uses any more go once they outnumber the rest: a target whose
 * tasks keep pointing at new strings must not grow the cache for as long as top runs. */
static void coro_prune(struct top_reg *g, const struct top_model *m)
{
	if (g->ncoros <= 2 * m->ntasks + CORO_KEEP)
		return;
	for (size_t i = 0; i < g->ncoros; i++)
		g->coros[i].used = 0;
	for (size_t i = 0; i < m->ntasks; i++) {
		struct coro_ent key = { .addr = m->tasks[i].coro_addr }, *e;
		e = bsearch(&key, g->coros, g->ncoros, sizeof(*e), cmp_coro);
		if (e)
			e->used = 1;
	}
	size_t w = 0;
	for (size_t i = 0; i < g->ncoros; i++) {
		if (g->coros[i].used)
			g->coros[w++] = g->coros[i];
		else
			free(g->coros[i].s);
	}
	g->ncoros = w;
}

/* Is raw a live task of the loop on thread inner_tid? 1 yes, 0 finished or reused, -1 bad. */
static int check_task(const struct ts_debug_desc *d, const unsigned char *raw, int32_t inner_tid,
		      uint64_t next_id)
{
	if (get64(raw, d->task_magic) != TS_TASK_MAGIC)
		return 0;
	uint64_t id = get64(raw, d->task_id);
	if ((int32_t)get32(raw, d->task_tid) != inner_tid || get32(raw, d->task_state) >= TS_DONE)
		return 0;
	if (!id || id >= next_id || get64(raw, d->task_parent) >= next_id)
		return -1;
	if (!memchr(raw + d->task_name, 0, d->name_max))
		return -1;
	return 1;
}

/* Re-read the seq of tasks idx[0..n) after their fields: those whose seq was odd or moved
 * are read whole again, together, a few times or until the refresh's retry budget is spent,
 * until one read holds still. A task that never does keeps its last read (its name may be
 * mid-rename; its state is a guess either way). */
static int settle_names(struct top_reg *g, struct ptr *p, size_t *idx, size_t n, uint32_t *retries)
{
	struct tsc_remote *r = g->r;
	const struct ts_debug_desc *d = &r->desc;
	uint64_t mark = tsc_walk_now_ns();
	size_t m = n;
	int err;
	if (!n)
		return 0;
	if ((err = grow((void **)&g->q, &g->qcap, n, sizeof(*g->q))))
		return err;
	for (int attempt = 0; m; attempt++) {
		if (attempt) {
			if (attempt > NAME_TRIES || tsc_walk_charge(&g->budget, &mark))
				break;
			*retries += (uint32_t)m;
			tsc_walk_backoff(attempt - 1);
			for (size_t k = 0; k < m; k++)
				g->q[k] = (struct tsc_rreq){ p[idx[k]].addr, g->raw + idx[k] * g->tsz,
							     g->tsz };
			err = m > 4096 ? tsc_rread_many(r->pid, g->q, m) : tsc_rread(r->pid, g->q, m);
			if (err)
				return read_err(r, err, "a task");
			for (size_t k = 0; k < m; k++)
				if (!g->q[k].ok) /* freed since: finished */
					memset(g->raw + idx[k] * g->tsz + d->task_magic, 0, 8);
		}
		for (size_t k = 0; k < m; k++)
			g->q[k] = (struct tsc_rreq){ p[idx[k]].addr + d->task_seq, &g->seq2[k], 8 };
		/* many: through the spans of the heap; few: one iovec each */
		err = m > 4096 ? tsc_rread_many(r->pid, g->q, m) : tsc_rread(r->pid, g->q, m);
		if (err)
			return read_err(r, err, "a task");
		size_t c = 0;
		for (size_t k = 0; k < m; k++) {
			unsigned char *raw = g->raw + idx[k] * g->tsz;
			uint64_t s1 = get64(raw, d->task_seq);
			if (get64(raw, d->task_magic) != TS_TASK_MAGIC)
				continue;
			if (!g->q[k].ok)
				memset(raw + d->task_magic, 0, 8);
			else if ((s1 & 1) || s1 != g->seq2[k])
				idx[c++] = idx[k];
		}
		m = c;
	}
	return 0;
}

int top_reg_refresh(struct top_reg *g, struct top_model *m)
{
	struct tsc_remote *r = g->r;
	const struct ts_debug_desc *d = &r->desc;
	struct tsc_tidmap tids = { 0 };
	struct top_task *nt;
	struct top_thread *nth = NULL;
	struct top_idx nidx;
	uint32_t nloops = 0, retries = 0;
	size_t total = 0, bad = 0, bad_loops = 0;
	uint64_t next_id = 0;
	int err;

	r->err[0] = 0;
	g->budget = (struct tsc_walk_budget){ 0 };
	uint64_t next_id_before = 0;
	if ((err = tsc_rread1(r->pid, d->next_id_addr, &next_id_before, 8)))
		return read_err(r, err, "the next task id");
	if ((err = read_table(g, &nloops, &retries)))
		return err;
	for (size_t i = 0; i < g->nloops; i++)
		g->loops[i].done = 0, g->loops[i].tries = 0;
	g->nloops = 0;
	for (uint32_t i = 0; i < nloops; i++) {
		if (!g->table[i])
			continue;
		if (g->table[i] & 7) {
			bad_loops++;
			continue;
		}
		struct loopr *l = &g->loops[g->nloops];
		if (!l->raw && !(l->raw = calloc(1, d->loop_size)))
			return -ENOMEM;
		l->addr = g->table[i];
		l->done = 0;
		l->tries = 0;
		g->nloops++;
	}
	if ((err = read_loops(g, &retries)))
		return err;
	if ((err = tsc_tidmap_read(r->procfd, &tids)))
		return read_err(r, err, "the threads");

	/* threads, carrying what was measured of each */
	nth = calloc(g->nloops ? g->nloops : 1, sizeof(*nth));
	if (!nth) {
		err = -ENOMEM;
		goto cleanup;
	}
	size_t nthreads = 0;
	for (size_t i = 0; i < g->nloops; i++) {
		struct loopr *l = &g->loops[i];
		if (l->done < 0)
			continue;
		int32_t inner = (int32_t)get32(l->raw, d->loop_tid);
		int32_t outer = tsc_tidmap_outer(&tids, inner);
		l->outer = outer;
		if (!outer) {
			l->done = -1; /* not started yet, or a forked child's copy of its parent's */
			continue;
		}
		struct top_thread *t = &nth[nthreads++];
		for (size_t k = 0; k < m->nthreads; k++)
			if (m->threads[k].tid == outer && m->threads[k].loop_addr == l->addr)
				*t = m->threads[k];
		t->tid = outer;
		t->inner_tid = inner;
		t->loop_id = get64(l->raw, d->loop_id);
		t->loop_addr = l->addr;
		t->current = get64(l->raw, d->loop_current_id);
		total += l->nptrs;
	}

	/* every task pointer, in address order; when no loop's array changed since the last
	 * refresh (a quiet process), last time's order holds */
	if ((err = grow((void **)&g->cat, &g->catcap, total + 2 * g->nloops + 1, sizeof(*g->cat))))
		goto cleanup;
	size_t ncat = 0;
	for (size_t i = 0; i < g->nloops; i++) {
		struct loopr *l = &g->loops[i];
		if (l->done < 0)
			continue;
		/* each loop and its count first: two layouts never give the same list */
		g->cat[ncat++] = i;
		g->cat[ncat++] = l->nptrs;
		memcpy(g->cat + ncat, l->ptrs, (size_t)l->nptrs * 8);
		ncat += l->nptrs;
	}
	size_t n;
	if (g->sorted_ok && ncat == g->ncat_prev &&
	    !memcmp(g->cat, g->cat_prev, ncat * sizeof(*g->cat))) {
		n = g->np;
		bad = g->bad_ptrs;
	} else {
		if ((err = grow((void **)&g->p, &g->pcap, total + 1, sizeof(*g->p))) ||
		    (err = grow((void **)&g->tmp, &g->tmpcap, total + 1, sizeof(*g->tmp))))
			goto cleanup;
		n = 0;
		for (size_t i = 0; i < ncat;) {
			uint32_t loop = (uint32_t)g->cat[i++];
			size_t end = i + g->cat[i] + 1;
			for (i++; i < end; i++) {
				uint64_t a = g->cat[i];
				if (!a || (a & 7)) {
					bad++;
					continue;
				}
				g->p[n++] = (struct ptr){ a, loop, 0 };
			}
		}
		tsc_walk_sort_ptrs(g->p, g->tmp, n);
		size_t u = 0;
		for (size_t i = 0; i < n; i++) /* a task moved within its array was seen twice */
			if (!u || g->p[u - 1].addr != g->p[i].addr)
				g->p[u++] = g->p[i];
		n = u;
		g->np = n;
		g->bad_ptrs = bad;
		uint64_t *t = g->cat_prev;
		size_t tc = g->catprevcap;
		g->cat_prev = g->cat;
		g->catprevcap = g->catcap;
		g->cat = t;
		g->catcap = tc;
		g->ncat_prev = ncat;
		g->sorted_ok = 1;
	}

	/* every task's fields: one pass over the heap */
	if ((err = grow((void **)&g->raw, &g->rawcap, (n + 1) * g->tsz, 1)) ||
	    (err = grow((void **)&g->q, &g->qcap, n + 1, sizeof(*g->q))) ||
	    (err = grow((void **)&g->seq2, &g->seqcap, n + 1, sizeof(*g->seq2))) ||
	    (err = grow((void **)&g->again, &g->againcap, n + 1, sizeof(*g->again))) ||
	    (err = grow((void **)&g->match, &g->matchcap, n + 1, sizeof(*g->match))))
		goto cleanup;
	for (size_t i = 0; i < n; i++)
		g->q[i] = (struct tsc_rreq){ g->p[i].addr, g->raw + i * g->tsz, g->tsz };
	if ((err = tsc_rread_many(r->pid, g->q, n))) {
		read_err(r, err, "a task");
		goto cleanup;
	}
	/* Each pointer's task of the last refresh, if it is still there: both lists are in
	 * address order, so a merge over a compact copy of the last one's addresses and ids,
	 * not a lookup per task (for 100k tasks, those cost more than the read itself). */
	size_t nagain = 0, j = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char *raw = g->raw + i * g->tsz;
		g->match[i] = UINT32_MAX;
		if (!g->q[i].ok) {
			memset(raw + d->task_magic, 0, 8); /* freed and unmapped: finished */
			continue;
		}
		while (j < g->nprev && g->prev[j].addr < g->p[i].addr)
			j++;
		uint64_t id = get64(raw, d->task_id), s = get64(raw, d->task_seq);
		if (j < g->nprev && g->prev[j].addr == g->p[i].addr && g->prev[j].id == id)
			g->match[i] = (uint32_t)j;
		/* the name only needs settling when it may have changed since we last read it */
		if ((s & 1) || g->match[i] == UINT32_MAX || g->prev[j].seq != s)
			g->again[nagain++] = i;
	}
	if ((err = settle_names(g, g->p, g->again, nagain, &retries)))
		goto cleanup;
	/* after the tasks: every id they hold was handed out before this read */
	if ((err = tsc_rread1(r->pid, d->next_id_addr, &next_id, 8))) {
		read_err(r, err, "the next task id");
		goto cleanup;
	}
	uint64_t taken = tsc_walk_now_ns();
	double dt = m->taken_ns ? (double)(taken - m->taken_ns) / 1e9 : 0;

	/* the tasks that are still live; the same ones as last time, in the same order (a quiet
	 * process), are updated where they are, and the id index still holds */
	size_t valid = 0;
	int same = 1;
	for (size_t i = 0; i < n; i++) {
		const unsigned char *raw = g->raw + i * g->tsz;
		struct loopr *l = &g->loops[g->p[i].loop];
		int c = check_task(d, raw, (int32_t)get32(l->raw, d->loop_tid), next_id);
		if (c < 0)
			bad++;
		g->p[i].flag = c > 0;
		if (c <= 0)
			continue;
		/* read again since the match: the memory may hold another task now */
		if (g->match[i] != UINT32_MAX && g->prev[g->match[i]].id != get64(raw, d->task_id))
			g->match[i] = UINT32_MAX;
		same &= g->match[i] == valid;
		valid++;
	}
	same &= valid == m->ntasks && m->ntasks == g->nprev && m->by_id.cap;
	/* the coroutine names of the tasks new at this refresh that the cache lacks */
	size_t nwant = 0;
	for (size_t i = 0; i < n; i++) {
		if (!g->p[i].flag || g->match[i] != UINT32_MAX)
			continue;
		uint64_t a = get64(g->raw + i * g->tsz, d->task_coro);
		if (a && !coro_find(g, a))
			g->seq2[nwant++] = a; /* free by now: settle_names is done with it */
	}
	if (nwant && (err = coro_add(g, g->seq2, nwant)))
		goto cleanup;
	if (!same && (err = grow((void **)&m->spare, &m->spare_cap, valid + 1, sizeof(*m->spare))))
		goto cleanup;
	if ((err = grow((void **)&g->prev, &g->prevcap, valid + 1, sizeof(*g->prev))))
		goto cleanup;
	nt = same ? m->tasks : m->spare;
	memset(m->nstate, 0, sizeof(m->nstate));
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (!g->p[i].flag)
			continue;
		const unsigned char *raw = g->raw + i * g->tsz;
		struct top_task *t = &nt[kept];
		uint32_t o = g->match[i];
		uint64_t seq = get64(raw, d->task_seq);
		int fresh = o == UINT32_MAX;
		if (!same && !fresh) {
			*t = m->tasks[o];
		} else if (fresh) {
			memset(t, 0, sizeof(*t));
			t->id = get64(raw, d->task_id);
			t->created_ns = get64(raw, d->task_created_ns);
			t->coro_addr = get64(raw, d->task_coro);
			const char *cn = t->coro_addr ? coro_find(g, t->coro_addr) : "";
			t->coro = cn ? cn : "?";
			t->tid = g->loops[g->p[i].loop].outer;
		}
		if (fresh || t->seq != seq) {
			const char *name = (const char *)raw + d->task_name;
			size_t nl = strnlen(name, sizeof(t->name) - 1);
			memcpy(t->name, name, nl);
			t->name[nl] = 0;
		}
		t->known = !fresh;
		t->addr = g->p[i].addr;
		t->seq = seq;
		t->parent = get64(raw, d->task_parent);
		t->state = get32(raw, d->task_state);
		t->wait = get32(raw, d->task_wait);
		t->wait_obj = get64(raw, d->task_wait_obj);
		t->switches = get64(raw, d->task_switches);
		t->sw_rate = t->known && dt > 0 && t->switches >= t->sw_prev ?
				     (double)(t->switches - t->sw_prev) / dt : 0;
		t->sw_prev = t->switches;
		m->nstate[t->state < 8 ? t->state : 7]++;
		g->prev[kept] = (struct prev){ t->addr, t->id, seq };
		kept++;
	}
	g->nprev = kept;
	if (same) {
		nidx = m->by_id;
	} else {
		/* rebuild the index; an id seen twice (memory reused under a stale pointer)
		 * keeps its first task */
		if ((err = top_idx_reset(&m->spare_idx, kept)))
			goto cleanup;
		nidx = m->spare_idx;
		size_t w = 0;
		for (size_t i = 0; i < kept; i++) {
			if (top_idx_get(&nidx, nt[i].id))
				continue;
			if (w != i) {
				nt[w] = nt[i];
				g->prev[w] = g->prev[i];
			}
			top_idx_put(&nidx, nt[w].id, (uint32_t)w);
			w++;
		}
		kept = g->nprev = w;
		m->spare_idx = m->by_id;
	}
	/* a thread's current task is one of its own live tasks, or none */
	for (size_t k = 0; k < nthreads; k++) {
		uint64_t *at = nth[k].current ? top_idx_get(&nidx, nth[k].current) : NULL;
		if (!at || nt[*at].tid != nth[k].tid)
			nth[k].current = 0;
	}

	if (!same) {
		m->spare = m->tasks;
		m->tasks = nt;
		size_t c = m->cap;
		m->cap = m->spare_cap;
		m->spare_cap = c;
	}
	m->ntasks = kept;
	m->by_id = nidx;
	free(m->threads);
	m->threads = nth;
	m->nthreads = nthreads;
	nth = NULL;
	m->prev_ns = m->taken_ns;
	m->taken_ns = taken;
	m->dt = dt;
	m->next_id = next_id;
	m->next_id_before = next_id_before;
	m->retries += retries;
	m->note[0] = 0;
	bad += bad_loops;
	if (bad)
		snprintf(m->note, sizeof(m->note), "%zu task(s) failed validation and are not shown",
			 bad);
	coro_prune(g, m);
	err = 0;
cleanup:
	tsc_tidmap_free(&tids);
	free(nth);
	return err;
}
