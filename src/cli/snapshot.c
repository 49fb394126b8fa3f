/* SPDX-License-Identifier: MIT */
/*
 * The registry walk: loop table, each loop's task array, each task, from outside.
 *
 * A loop's array is taken only between two equal, even reads of the loop's generation, so it
 * is the registry as it was at one instant. Tasks are read after that: one that finished
 * since shows a freed magic or a finished state and is dropped; one whose name was changing
 * (odd or moved seq) is read again. Every count and length is bounded, every retry too; a
 * registry that never holds still is an error, never a guess.
 *
 * Memory follows what is really there: the loops' claims are summed and capped before any
 * array is allocated (walk.h), each task address is read once however often the arrays list
 * it, and task bodies are read a chunk at a time, so only live tasks are kept whole.
 */
#include "remote.h"
#include "tids.h"
#include "walk.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

#define TABLE_TRIES 200
#define LOOP_TRIES 200
#define TASK_TRIES 50
#define CHUNK_BYTES (8u << 20) /* of task bodies read at once */

struct loopw {
	uint64_t addr;
	unsigned char *raw;        /* the loop's fields, desc.loop_size bytes */
	uint64_t gen, gen2;
	uint64_t *ptrs;            /* its task array */
	uint32_t nptrs, cap;
	uint32_t want;             /* the count its fields claim, read this round */
	uint64_t arr;              /* where its array is, read this round */
	int done, tries;
	const char *why;           /* why the last read did not hold */
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

static int read_err(struct tsc_remote *r, int err, const char *what)
{
	if (err == -ESRCH)
		snprintf(r->err, sizeof(r->err), "process %d exited", r->pid);
	else
		snprintf(r->err, sizeof(r->err), "cannot read %s of process %d: %s", what, r->pid,
			 strerror(-err));
	return err;
}

/* The loop table: its pointers, between two equal even generations. */
static int read_table(struct tsc_remote *r, uint64_t *loops, uint32_t *nloops, uint32_t *retries,
		      struct tsc_walk_budget *b)
{
	const struct ts_debug_desc *d = &r->desc;
	uint64_t mark = tsc_walk_now_ns();
	int attempt;
	for (attempt = 0; attempt < TABLE_TRIES; attempt++) {
		uint64_t g1 = 0, g2 = 0;
		struct tsc_rreq q[3] = {
			{ d->loops_gen_addr, &g1, 8 },
			{ d->nloops_addr, nloops, 4 },
			{ d->loops_addr, loops, (size_t)d->max_loops * 8 },
		};
		int err = tsc_rread(r->pid, q, 3);
		if (!err)
			err = tsc_rread1(r->pid, d->loops_gen_addr, &g2, 8);
		if (err)
			return read_err(r, err, "the loop table");
		if (!q[0].ok || !q[1].ok || !q[2].ok) {
			snprintf(r->err, sizeof(r->err), "the loop table of process %d is unreadable",
				 r->pid);
			return -EPROTO;
		}
		if (!(g1 & 1) && g1 == g2 && *nloops <= d->max_loops)
			return 0;
		(*retries)++;
		if (tsc_walk_charge(b, &mark))
			break;
		tsc_walk_backoff(attempt);
	}
	snprintf(r->err, sizeof(r->err), "the loop table of process %d kept changing (%d tries)",
		 r->pid, attempt + 1 < TABLE_TRIES ? attempt + 1 : TABLE_TRIES);
	return -EAGAIN;
}

/* One round over the loops not done yet: fields, task array, generation again. What the loops
 * claim is summed, and checked against the cap, before any array is allocated. */
static int loops_round(struct tsc_remote *r, struct loopw *lw, size_t nl, struct tsc_rreq *q)
{
	const struct ts_debug_desc *d = &r->desc;
	uint64_t claim = 0;
	size_t n = 0;
	int err;

	for (size_t i = 0; i < nl; i++)
		if (!lw[i].done)
			q[n++] = (struct tsc_rreq){ lw[i].addr, lw[i].raw, d->loop_size };
	if ((err = tsc_rread(r->pid, q, n)))
		return read_err(r, err, "a loop");
	for (size_t i = 0, k = 0; i < nl; i++) {
		struct loopw *l = &lw[i];
		if (l->done) {
			claim += l->done > 0 ? l->nptrs : 0;
			continue;
		}
		if (!q[k++].ok) {
			l->done = -1; /* the loop was freed since the table was read */
			continue;
		}
		l->gen = get64(l->raw, d->loop_gen);
		l->want = get32(l->raw, d->loop_ntasks);
		l->arr = get64(l->raw, d->loop_tasks);
		if ((l->gen & 1) || (l->want && !l->arr)) {
			l->why = l->gen & 1 ? "generation stuck odd: a writer stopped mid-change?"
					    : "no task array";
			l->gen = 1; /* odd: retry this loop */
			continue;
		}
		claim += l->want;
	}
	if (claim > TSC_WALK_MAX_TASKS) {
		snprintf(r->err, sizeof(r->err), "the loops of process %d claim %llu tasks: more "
			 "than the %u taskscope reads", r->pid, (unsigned long long)claim,
			 TSC_WALK_MAX_TASKS);
		return -EPROTO;
	}
	n = 0;
	for (size_t i = 0; i < nl; i++) {
		struct loopw *l = &lw[i];
		if (l->done || (l->gen & 1))
			continue;
		/* room for this claim, and not much more: claims may shrink */
		if (l->want > l->cap || l->want < l->cap / 4) {
			uint64_t *p = realloc(l->ptrs, ((size_t)l->want + 1) * 8);
			if (!p)
				return -ENOMEM;
			l->ptrs = p;
			l->cap = l->want + 1;
		}
		l->nptrs = l->want;
		q[n++] = (struct tsc_rreq){ l->arr, l->ptrs, (size_t)l->want * 8 };
	}
	if ((err = tsc_rread(r->pid, q, n)))
		return read_err(r, err, "a task array");
	n = 0;
	for (size_t i = 0, k = 0; i < nl; i++) {
		struct loopw *l = &lw[i];
		if (l->done || (l->gen & 1))
			continue;
		if (!q[k++].ok) {
			l->why = "its task array was unreadable";
			l->gen = 1; /* the array was replaced and freed: retry */
		}
	}
	for (size_t i = 0; i < nl; i++)
		if (!lw[i].done && !(lw[i].gen & 1))
			q[n++] = (struct tsc_rreq){ lw[i].addr + d->loop_gen, &lw[i].gen2, 8 };
	if ((err = tsc_rread(r->pid, q, n)))
		return read_err(r, err, "a loop");
	for (size_t i = 0, k = 0; i < nl; i++) {
		struct loopw *l = &lw[i];
		if (l->done)
			continue;
		if (!(l->gen & 1) && q[k++].ok && l->gen2 == l->gen) {
			l->done = 1;
			continue;
		}
		if (!(l->gen & 1))
			l->why = "generation kept moving";
		l->tries++;
	}
	return 0;
}

static int read_loops(struct tsc_remote *r, struct loopw *lw, size_t nl, uint32_t *retries,
		      struct tsc_walk_budget *b)
{
	struct tsc_rreq *q = calloc(nl ? nl : 1, sizeof(*q));
	uint64_t mark = tsc_walk_now_ns();
	int err = 0;
	if (!q)
		return -ENOMEM;
	for (int attempt = 0;; attempt++) {
		if ((err = loops_round(r, lw, nl, q)))
			goto cleanup;
		size_t pending = 0, first = 0;
		for (size_t i = 0; i < nl; i++)
			if (!lw[i].done && !pending++)
				first = i;
		if (!pending)
			break;
		*retries += (uint32_t)pending;
		if (lw[first].tries >= LOOP_TRIES || tsc_walk_charge(b, &mark)) {
			snprintf(r->err, sizeof(r->err),
				 "the task registry of the loop on thread %d of process %d never held "
				 "still in %d reads (%s)", (int32_t)get32(lw[first].raw, r->desc.loop_tid),
				 r->pid, lw[first].tries, lw[first].why);
			err = -EAGAIN;
			goto cleanup;
		}
		tsc_walk_backoff(attempt);
	}
cleanup:
	free(q);
	return err;
}

/* Tasks at addrs[0..n) (ascending), each read once: every body, then every seq. Those whose
 * seq was odd or moved between the two are read again, together, until they hold still or the
 * walk's retry budget is spent: the budget is the walk's, not each task's. ok[i] says a task
 * was read; when not, it finished since. q, seq2 and idx: room for n. */
static int read_tasks(struct tsc_remote *r, const uint64_t *addrs, size_t n, unsigned char *raw,
		      size_t tsz, int *ok, struct tsc_rreq *q, uint64_t *seq2, size_t *idx,
		      uint32_t *retries, struct tsc_walk_budget *b)
{
	const struct ts_debug_desc *d = &r->desc;
	uint64_t mark = tsc_walk_now_ns();
	size_t m = n;
	int err;

	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	for (int attempt = 0; m; attempt++) {
		if (attempt) {
			*retries += (uint32_t)m;
			if (attempt > TASK_TRIES || tsc_walk_charge(b, &mark)) {
				snprintf(r->err, sizeof(r->err), "%zu task(s) of process %d kept "
					 "changing (%d tries)", m, r->pid, attempt);
				return -EAGAIN;
			}
			tsc_walk_backoff(attempt - 1);
		}
		for (size_t k = 0; k < m; k++)
			q[k] = (struct tsc_rreq){ addrs[idx[k]], raw + idx[k] * tsz, tsz };
		/* many: through the spans of the heap; a few: one iovec each */
		if ((err = m > 64 ? tsc_rread_many(r->pid, q, m) : tsc_rread(r->pid, q, m)))
			return read_err(r, err, "a task");
		for (size_t k = 0; k < m; k++) {
			ok[idx[k]] = q[k].ok;
			q[k] = (struct tsc_rreq){ addrs[idx[k]] + d->task_seq, &seq2[k], 8 };
		}
		if ((err = m > 64 ? tsc_rread_many(r->pid, q, m) : tsc_rread(r->pid, q, m)))
			return read_err(r, err, "a task");
		size_t c = 0;
		for (size_t k = 0; k < m; k++) {
			size_t i = idx[k];
			if (!ok[i])
				continue;
			uint64_t s1 = get64(raw + i * tsz, d->task_seq);
			if (!q[k].ok || get64(raw + i * tsz, d->task_magic) != TS_TASK_MAGIC)
				ok[i] = 0; /* freed meanwhile: it finished */
			else if ((s1 & 1) || s1 != seq2[k])
				idx[c++] = i;
		}
		m = c;
	}
	return 0;
}

/* Validate one task read whole and turn it into the model; 0 when it is not a live task. */
static int convert(const struct ts_debug_desc *d, const unsigned char *p, uint64_t addr,
		   int32_t loop_tid, uint64_t next_id, struct tsc_task *t, uint64_t *coro)
{
	if (get64(p, d->task_magic) != TS_TASK_MAGIC)
		return 0;
	t->id = get64(p, d->task_id);
	t->state = get32(p, d->task_state);
	t->tid = (int32_t)get32(p, d->task_tid);
	/* reused memory (another loop's task) or a task finished since the array was read */
	if (t->tid != loop_tid || t->state >= TS_DONE)
		return 0;
	if (!t->id || t->id >= next_id)
		return -1;
	const char *name = (const char *)p + d->task_name;
	size_t nmax = d->name_max;
	if (!memchr(name, 0, nmax))
		return -1;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->parent = get64(p, d->task_parent);
	if (t->parent >= next_id)
		return -1;
	t->wait = get32(p, d->task_wait);
	t->wait_obj = get64(p, d->task_wait_obj);
	t->created_ns = get64(p, d->task_created_ns);
	t->switches = get64(p, d->task_switches);
	t->ctx_sp = get64(p, d->task_ctx_sp);
	t->stack_lo = get64(p, d->task_stack_lo);
	t->stack_hi = get64(p, d->task_stack_hi);
	t->addr = addr;
	*coro = get64(p, d->task_coro);
	return 1;
}

/* Only the prefix of a task that holds the fields we use (remote.c caps it). */
static size_t task_read_size(const struct ts_debug_desc *d)
{
	const uint16_t f64[] = { d->task_magic, d->task_seq, d->task_id, d->task_parent,
				 d->task_coro, d->task_wait_obj, d->task_created_ns,
				 d->task_switches, d->task_ctx_sp, d->task_stack_lo,
				 d->task_stack_hi };
	const uint16_t f32[] = { d->task_state, d->task_wait, d->task_tid };
	size_t end = (size_t)d->task_name + d->name_max;
	for (size_t i = 0; i < sizeof(f64) / sizeof(f64[0]); i++)
		end = f64[i] + 8u > end ? f64[i] + 8u : end;
	for (size_t i = 0; i < sizeof(f32) / sizeof(f32[0]); i++)
		end = f32[i] + 4u > end ? f32[i] + 4u : end;
	return (end + 7) & ~(size_t)7;
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

/* One walk. *vanished: 1 when a loop's thread is not the target's, 2 when it was at `seen`
 * but is gone now. */
static int snapshot_once(struct tsc_remote *r, struct tsc_snapshot *s,
			 const struct tsc_tidset *seen, int *vanished)
{
	const struct ts_debug_desc *d = &r->desc;
	uint64_t *table = calloc(d->max_loops, 8), *addrs = NULL, *coro = NULL, *seq2 = NULL;
	struct loopw *lw = calloc(d->max_loops, sizeof(*lw));
	struct tsc_walk_ptr *p = NULL, *tmp = NULL;
	struct tsc_walk_budget budget = { 0 };
	struct tsc_tidmap tids = { 0 };
	struct tsc_rreq *q = NULL;
	int32_t *inner = NULL, *outer = NULL;
	unsigned char *raw = NULL;
	size_t *idx = NULL;
	int *ok = NULL;
	uint32_t nloops = 0;
	size_t nl = 0, total = 0, np = 0, cap = 0, tsz = task_read_size(d), bad = 0;
	int err = -ENOMEM;

	memset(s, 0, sizeof(*s));
	s->pid = r->pid;
	if (!table || !lw)
		goto nomem;
	if ((err = read_table(r, table, &nloops, &s->retries, &budget)))
		goto cleanup;
	for (uint32_t i = 0; i < nloops; i++) {
		if (!table[i])
			continue;
		if (table[i] & 7) {
			bad++;
			continue;
		}
		lw[nl].addr = table[i];
		if (!(lw[nl].raw = calloc(1, d->loop_size)))
			goto nomem;
		nl++;
	}
	if ((err = read_loops(r, lw, nl, &s->retries, &budget)))
		goto cleanup;
	if ((err = tsc_tidmap_read(r->procfd, &tids))) {
		read_err(r, err, "the threads");
		goto cleanup;
	}

	s->threads = calloc(nl ? nl : 1, sizeof(*s->threads));
	inner = calloc(nl ? nl : 1, sizeof(*inner));
	outer = calloc(nl ? nl : 1, sizeof(*outer));
	if (!s->threads || !inner || !outer)
		goto nomem;
	for (size_t i = 0; i < nl; i++) {
		if (lw[i].done < 0)
			continue;
		/* its thread must be one of the target's: a forked child holds a copy of its
		 * parent's registry, whose threads are not its own; tid 0: not started yet */
		inner[i] = (int32_t)get32(lw[i].raw, d->loop_tid);
		outer[i] = tsc_tidmap_outer(&tids, inner[i]);
		if (!outer[i]) {
			*vanished |= tsc_tidset_has(seen, inner[i]) ? 2 : 1;
			lw[i].done = -1;
			continue;
		}
		s->threads[s->nthreads++] = (struct tsc_thread){
			.tid = outer[i],
			.loop_id = get64(lw[i].raw, d->loop_id),
			.current = get64(lw[i].raw, d->loop_current_id),
		};
		total += lw[i].nptrs; /* at most TSC_WALK_MAX_TASKS: read_loops checked */
	}

	/* each (task, loop) once, in address order: a pointer listed many times costs its
	 * entries, not a read and a model each */
	p = malloc((total + 1) * sizeof(*p));
	tmp = malloc((total + 1) * sizeof(*tmp));
	if (!p || !tmp)
		goto nomem;
	for (size_t i = 0; i < nl; i++) {
		for (uint32_t k = 0; lw[i].done > 0 && k < lw[i].nptrs; k++) {
			uint64_t a = lw[i].ptrs[k];
			if (!a || (a & 7))
				bad++;
			else
				p[np++] = (struct tsc_walk_ptr){ a, (uint32_t)i, 0 };
		}
		free(lw[i].ptrs);
		lw[i].ptrs = NULL;
	}
	tsc_walk_sort_ptrs(p, tmp, np); /* stable: one address's loops stay in loop order */
	free(tmp);
	tmp = NULL;
	size_t u = 0;
	for (size_t i = 0; i < np; i++)
		if (!u || p[u - 1].addr != p[i].addr || p[u - 1].loop != p[i].loop)
			p[u++] = p[i];
	np = u;

	/* the bodies a chunk of distinct addresses at a time: only live tasks are kept */
	size_t chunk = CHUNK_BYTES / tsz;
	if (chunk > np)
		chunk = np ? np : 1;
	addrs = malloc(chunk * sizeof(*addrs));
	raw = malloc(chunk * tsz);
	ok = malloc(chunk * sizeof(*ok));
	q = malloc(chunk * sizeof(*q));
	seq2 = malloc(chunk * sizeof(*seq2));
	idx = malloc(chunk * sizeof(*idx));
	if (!addrs || !raw || !ok || !q || !seq2 || !idx)
		goto nomem;
	for (size_t i = 0; i < np;) {
		size_t na = 0, j = i;
		for (; j < np && (na < chunk || p[j].addr == addrs[na - 1]); j++) {
			if (!na || p[j].addr != addrs[na - 1])
				addrs[na++] = p[j].addr;
			p[j].flag = (uint32_t)(na - 1);
		}
		if ((err = read_tasks(r, addrs, na, raw, tsz, ok, q, seq2, idx, &s->retries,
				      &budget)))
			goto cleanup;
		/* after the tasks: every id they hold was handed out before this read */
		uint64_t next_id = 0;
		if ((err = tsc_rread1(r->pid, d->next_id_addr, &next_id, 8))) {
			read_err(r, err, "the next task id");
			goto cleanup;
		}
		for (; i < j; i++) {
			uint32_t a = p[i].flag;
			if (!ok[a])
				continue;
			if (room_for_task(s, &cap, &coro))
				goto nomem;
			struct tsc_task *t = &s->tasks[s->ntasks];
			memset(t, 0, sizeof(*t));
			int c = convert(d, raw + (size_t)a * tsz, addrs[a], inner[p[i].loop], next_id,
					t, &coro[s->ntasks]);
			if (c > 0) {
				t->tid = outer[p[i].loop];
				s->ntasks++;
			} else if (c < 0) {
				bad++;
			}
		}
	}
	if (bad) {
		snprintf(r->err, sizeof(r->err),
			 "%zu task(s) of process %d failed validation (bad pointer, id or name): "
			 "its registry looks corrupt", bad, r->pid);
		err = -EPROTO;
		goto cleanup;
	}
	if ((err = tsc_remote_read_coros(r, s, coro)))
		goto cleanup;
	/* in id order, each id once (the same task seen at two addresses, or in two loops) */
	tsc_snapshot_sort(s);
	/* a thread's current task is one of its own live tasks, or none */
	for (size_t i = 0; i < s->nthreads; i++) {
		struct tsc_task *t = tsc_snapshot_find(s, s->threads[i].current);
		if (!t || t->tid != s->threads[i].tid)
			s->threads[i].current = 0;
	}
	s->taken_ns = tsc_walk_now_ns();
	err = 0;
	goto cleanup;
nomem:
	err = -ENOMEM;
	snprintf(r->err, sizeof(r->err), "out of memory");
cleanup:
	for (size_t i = 0; lw && i < nl; i++) {
		free(lw[i].raw);
		free(lw[i].ptrs);
	}
	free(lw);
	free(table);
	free(inner);
	free(outer);
	free(p);
	free(tmp);
	free(addrs);
	free(raw);
	free(ok);
	free(q);
	free(seq2);
	free(idx);
	free(coro);
	tsc_tidmap_free(&tids);
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
	if ((err = tsc_tidset_read(r->procfd, &seen))) {
		memset(s, 0, sizeof(*s));
		return read_err(r, err == -ENOENT ? -ESRCH : err, "the threads");
	}
	for (int attempt = 0; attempt < VANISHED_TRIES; attempt++) {
		vanished = 0;
		if ((err = snapshot_once(r, s, &seen, &vanished)) || !vanished)
			break;
		if (tsc_threads_exiting(r->procfd) || !tsc_remote_alive(r)) {
			tsc_snapshot_free(s);
			err = read_err(r, -ESRCH, "the registry");
			break;
		}
		if (!(vanished & 2) || attempt == VANISHED_TRIES - 1)
			break;
		tsc_snapshot_free(s);
		struct pollfd p = { .fd = r->pidfd, .events = POLLIN };
		if (poll(&p, 1, VANISHED_WAIT_MS) != 0) {
			err = read_err(r, -ESRCH, "the registry");
			break;
		}
	}
	tsc_tidset_free(&seen);
	return err;
}
