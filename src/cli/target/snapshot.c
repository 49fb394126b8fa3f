/* SPDX-License-Identifier: MIT */
/*
 * The snapshot: the strict, one-shot front end of the registry reader (registry.h), for ps,
 * tree and record. One walk; every task is read until its seq holds still, and a registry
 * that never does is an error, never a guess.
 *
 * Memory follows what is really there: the loops' claims are summed and capped before any
 * array is allocated (walk.h), each task address is read once however often the arrays list
 * it, and task bodies are read a chunk at a time, so only live tasks are kept whole.
 */
#include "target/registry.h"
#include "target/remote.h"
#include "target/tids.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_BYTES (8u << 20) /* of task bodies read at once */

/* Turn a live task read whole into the model, and collect its coroutine's address. */
static void convert(const struct tsc_reg_task_fields *f, uint64_t addr, int32_t tid,
		    struct tsc_task *t)
{
	memset(t, 0, sizeof(*t));
	t->id = f->id;
	t->parent = f->parent;
	snprintf(t->name, sizeof(t->name), "%s", f->name);
	t->state = f->state;
	t->wait = f->wait;
	t->wait_obj = f->wait_obj;
	t->tid = tid;
	t->created_ns = f->created_ns;
	t->switches = f->switches;
	t->ctx_sp = f->ctx_sp;
	t->stack_lo = f->stack_lo;
	t->stack_hi = f->stack_hi;
	t->wait_since_ns = f->wait_since_ns;
	t->ready_since_ns = f->ready_since_ns;
	t->spawn_pc = f->spawn_pc;
	t->addr = addr;
}

/* Room for one more task in s (and its coroutine address), growing by half. */
static int room_for_task(struct tsc_snapshot *s, size_t *cap, uint64_t **coro)
{
	if (s->ntasks < *cap)
		return 0;
	size_t c = *cap ? *cap + *cap / 2 : 1024;
	struct tsc_task *t = realloc(s->tasks, c * sizeof(*t));
	if (t)
		s->tasks = t;
	uint64_t *a = realloc(*coro, c * sizeof(*a));
	if (a)
		*coro = a;
	if (!t || !a)
		return -ENOMEM;
	*cap = c;
	return 0;
}

/* The threads of the loops still in the walk. */
static int take_threads(struct tsc_reg *g, struct tsc_snapshot *s)
{
	s->threads = calloc(g->nloops ? g->nloops : 1, sizeof(*s->threads));
	if (!s->threads)
		return -ENOMEM;
	for (size_t i = 0; i < g->nloops; i++) {
		const struct tsc_reg_loop *l = &g->loops[i];
		if (l->done > 0)
			s->threads[s->nthreads++] = (struct tsc_thread){
				.tid = l->outer, .loop_id = l->f.id, .current = l->f.current_id,
			};
	}
	return 0;
}

/* Each thread's loop lag as of the snapshot's time, in take_threads' order. */
static void take_lags(const struct tsc_reg *g, struct tsc_snapshot *s)
{
	for (size_t i = 0, k = 0; i < g->nloops && k < s->nthreads; i++)
		if (g->loops[i].done > 0)
			s->threads[k++].lag_ns = tsc_reg_loop_lag(&g->loops[i].f, s->taken_ns);
}

/* Room for a chunk of task bodies. */
struct chunk {
	size_t n;                  /* addresses per chunk at most */
	uint64_t *addr;            /* its distinct addresses */
	size_t *slot;
	unsigned char *raw;        /* tsz bytes each */
};

static void chunk_free(struct chunk *c)
{
	free(c->addr);
	free(c->slot);
	free(c->raw);
}

static int chunk_alloc(struct chunk *c, size_t np, size_t tsz)
{
	c->n = CHUNK_BYTES / tsz;
	if (c->n > np)
		c->n = np ? np : 1;
	c->addr = malloc(c->n * sizeof(*c->addr));
	c->slot = malloc(c->n * sizeof(*c->slot));
	c->raw = malloc(c->n * tsz);
	return c->addr && c->slot && c->raw ? 0 : -ENOMEM;
}

/* The tasks at p[0..np) (sorted), a chunk of distinct addresses at a time: only live tasks
 * are kept. Their coroutines' addresses go to *coro, one per task. */
static int read_tasks(struct tsc_reg *g, struct tsc_walk_ptr *p, size_t np,
		      struct tsc_snapshot *s, uint64_t **coro)
{
	const struct ts_debug_desc *d = g->d;
	struct chunk c = { 0 };
	size_t cap = 0;
	int err;

	if ((err = chunk_alloc(&c, np, g->tsz)))
		goto cleanup;
	for (size_t i = 0; i < np;) {
		size_t na = 0, j = i;
		for (; j < np && (na < c.n || p[j].addr == c.addr[na - 1]); j++) {
			if (!na || p[j].addr != c.addr[na - 1])
				c.addr[na++] = p[j].addr;
			p[j].flag = (uint32_t)(na - 1);
		}
		/* every body, then every seq again (settle reorders addr and slot, not raw) */
		for (size_t k = 0; k < na; k++)
			c.slot[k] = k;
		if ((err = tsc_reg_read_bodies(g, c.addr, NULL, na, c.raw)) ||
		    (err = tsc_reg_settle(g, c.addr, c.slot, na, c.raw, 1)))
			goto cleanup;
		/* after the tasks: every id they hold was handed out before this read */
		uint64_t next_id = 0;
		if ((err = tsc_reg_next_id(g, &next_id)))
			goto cleanup;
		for (; i < j; i++) {
			const struct tsc_reg_loop *l = &g->loops[p[i].loop];
			const unsigned char *raw = c.raw + (size_t)p[i].flag * g->tsz;
			struct tsc_reg_task_fields f;
			int ok = tsc_reg_task_check(d, raw, l->f.tid, next_id);
			if (ok < 0)
				g->bad++;
			if (ok <= 0)
				continue;
			if ((err = room_for_task(s, &cap, coro)))
				goto cleanup;
			tsc_reg_task_decode(d, raw, &f);
			convert(&f, p[i].addr, l->outer, &s->tasks[s->ntasks]);
			(*coro)[s->ntasks++] = f.coro;
		}
	}
cleanup:
	chunk_free(&c);
	return err;
}

/* Every task's coroutine name, through a cache of the distinct ones. */
static int read_coros(struct tsc_reg *g, struct tsc_snapshot *s, uint64_t *coro)
{
	struct tsc_coros cc = { 0 };
	uint64_t *want = malloc((s->ntasks ? s->ntasks : 1) * sizeof(*want));
	int err = -ENOMEM;
	if (!want)
		goto cleanup;
	memcpy(want, coro, s->ntasks * sizeof(*want));
	if ((err = tsc_coros_add(&cc, g->r, want, s->ntasks)))
		goto cleanup;
	for (size_t i = 0; i < s->ntasks; i++) {
		const char *cn = tsc_coros_find(&cc, coro[i]);
		snprintf(s->tasks[i].coro, sizeof(s->tasks[i].coro), "%s", cn ? cn : "?");
	}
cleanup:
	free(want);
	tsc_coros_free(&cc);
	return err;
}

/* A core holds no clock: the last instant it proves is its newest task's creation, and ages
 * and time left count from there. */
static uint64_t newest(const struct tsc_snapshot *s)
{
	uint64_t t = 0;
	for (size_t i = 0; i < s->ntasks; i++)
		t = s->tasks[i].created_ns > t ? s->tasks[i].created_ns : t;
	return t;
}

/* One walk. *vanished: 1 when a loop's thread is not the target's, 2 when it was at `seen`
 * but is gone now. */
static int snapshot_once(struct tsc_remote *r, struct tsc_snapshot *s,
			 const struct tsc_tidset *seen, int *vanished)
{
	struct tsc_reg g;
	struct tsc_walk_ptr *p = NULL, *tmp = NULL;
	uint64_t *coro = NULL;
	int err;

	memset(s, 0, sizeof(*s));
	s->pid = r->pid;
	if ((err = tsc_reg_init(&g, r)) || (err = tsc_reg_read_loops(&g)) ||
	    (err = tsc_reg_threads(&g, seen, vanished)) || (err = take_threads(&g, s)))
		goto cleanup;
	/* each (task, loop) once, in address order: a pointer listed many times costs its
	 * entries, not a read and a model each */
	size_t total = tsc_reg_nptrs(&g);
	p = malloc((total + 1) * sizeof(*p));
	tmp = malloc((total + 1) * sizeof(*tmp));
	if (!p || !tmp) {
		err = -ENOMEM;
		goto cleanup;
	}
	size_t np = tsc_reg_ptrs(&g, p, tmp);
	free(tmp);
	tmp = NULL;
	if ((err = read_tasks(&g, p, np, s, &coro)))
		goto cleanup;
	if (g.bad) {
		snprintf(r->err, sizeof(r->err),
			 "%zu task(s) of process %d failed validation (bad pointer, id or name): "
			 "its registry looks corrupt", g.bad, r->pid);
		err = -EPROTO;
		goto cleanup;
	}
	if ((err = read_coros(&g, s, coro)))
		goto cleanup;
	/* in id order, each id once (the same task seen at two addresses, or in two loops) */
	tsc_snapshot_sort(s);
	/* a thread's current task is one of its own live tasks, or none */
	for (size_t i = 0; i < s->nthreads; i++) {
		struct tsc_task *t = tsc_snapshot_find(s, s->threads[i].current);
		if (!t || t->tid != s->threads[i].tid)
			s->threads[i].current = 0;
	}
	s->taken_ns = r->mem->frozen ? newest(s) : tsc_now_ns();
	s->wait_ages = tsc_reg_has_ages(g.d);
	take_lags(&g, s);
cleanup:
	if (err == -ENOMEM)
		snprintf(r->err, sizeof(r->err), "out of memory");
	s->retries = g.retries;
	tsc_reg_fini(&g);
	free(p);
	free(tmp);
	free(coro);
	if (err)
		tsc_snapshot_free(s);
	return err;
}

/* A loop whose thread is not the target's: a forked child holds its parent's registry, whose
 * threads are not its own, and those loops are rightly left out. But it is also what an
 * exiting process looks like (exit_group takes threads one by one; the pidfd turns readable
 * only after the last), and a loop stopping (its owner frees it just after joining the
 * thread). An exiting process is reported as exited, never shown with loops missing; a loop
 * whose thread ended while we walked is walked again after a short wait. */
#define VANISHED_TRIES 20
#define VANISHED_WAIT_MS 50

int tsc_remote_snapshot(struct tsc_remote *r, struct tsc_snapshot *s)
{
	struct tsc_tidset seen;
	int err, vanished = 0;
	if (r->mem->frozen) /* a core: its loops' threads are all there is, nothing comes back */
		return snapshot_once(r, s, NULL, &vanished);
	if ((err = tsc_tidset_read(r->procfd, &seen))) {
		memset(s, 0, sizeof(*s));
		return tsc_reg_read_err(r, err == -ENOENT ? -ESRCH : err, "the threads");
	}
	for (int attempt = 0; attempt < VANISHED_TRIES; attempt++) {
		vanished = 0;
		if ((err = snapshot_once(r, s, &seen, &vanished)) || !vanished)
			break;
		if (tsc_threads_exiting(r->procfd) || !tsc_remote_alive(r)) {
			tsc_snapshot_free(s);
			err = tsc_reg_read_err(r, -ESRCH, "the registry");
			break;
		}
		if (!(vanished & 2) || attempt == VANISHED_TRIES - 1)
			break;
		tsc_snapshot_free(s);
		struct pollfd p = { .fd = r->pidfd, .events = POLLIN };
		if (poll(&p, 1, VANISHED_WAIT_MS) != 0) {
			err = tsc_reg_read_err(r, -ESRCH, "the registry");
			break;
		}
	}
	tsc_tidset_free(&seen);
	return err;
}
