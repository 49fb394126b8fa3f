/* SPDX-License-Identifier: MIT */
/*
 * The registry walk: loop table, each loop's task array, each task, from outside.
 *
 * A loop's array is taken only between two equal, even reads of the loop's generation, so it
 * is the registry as it was at one instant. Tasks are read after that: one that finished
 * since shows a freed magic or a finished state and is dropped; one whose name was changing
 * (odd or moved seq) is read again. Every count and length is bounded, every retry too; a
 * registry that never holds still is an error, never a guess.
 */
#include "remote.h"
#include "tids.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

#define TABLE_TRIES 200
#define LOOP_TRIES 200
#define TASK_TRIES 50
#define MAX_TASKS_PER_LOOP (1u << 24)
#define MAX_TASKS_TOTAL (1u << 25)

struct loopw {
	uint64_t addr;
	unsigned char *raw;        /* the loop's fields, desc.loop_size bytes */
	uint64_t gen, gen2;
	uint64_t *ptrs;            /* its task array */
	uint32_t nptrs;
	int done, tries;
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

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Let the writer finish: yield first, then sleep a little longer each time (<= 1 ms). */
static void backoff(int attempt)
{
	if (attempt < 4) {
		sched_yield();
		return;
	}
	long us = 20L << (attempt < 10 ? attempt - 4 : 6);
	struct timespec ts = { 0, (us > 1000 ? 1000 : us) * 1000 };
	nanosleep(&ts, NULL);
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
static int read_table(struct tsc_remote *r, uint64_t *loops, uint32_t *nloops, uint32_t *retries)
{
	const struct ts_debug_desc *d = &r->desc;
	for (int attempt = 0; attempt < TABLE_TRIES; attempt++) {
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
		backoff(attempt);
	}
	snprintf(r->err, sizeof(r->err), "the loop table of process %d kept changing (%d tries)",
		 r->pid, TABLE_TRIES);
	return -EAGAIN;
}

/* One round over the loops not done yet: fields, task array, generation again. */
static int loops_round(struct tsc_remote *r, struct loopw *lw, size_t nl, struct tsc_rreq *q)
{
	const struct ts_debug_desc *d = &r->desc;
	size_t n = 0;
	int err;

	for (size_t i = 0; i < nl; i++)
		if (!lw[i].done)
			q[n++] = (struct tsc_rreq){ lw[i].addr, lw[i].raw, d->loop_size };
	if ((err = tsc_rread(r->pid, q, n)))
		return read_err(r, err, "a loop");
	n = 0;
	for (size_t i = 0, k = 0; i < nl; i++) {
		struct loopw *l = &lw[i];
		if (l->done)
			continue;
		if (!q[k++].ok) {
			l->done = -1; /* the loop was freed since the table was read */
			continue;
		}
		l->gen = get64(l->raw, d->loop_gen);
		uint32_t nt = get32(l->raw, d->loop_ntasks);
		uint64_t arr = get64(l->raw, d->loop_tasks);
		if ((l->gen & 1) || nt > MAX_TASKS_PER_LOOP || (nt && !arr)) {
			l->gen = 1; /* odd: retry this loop */
			continue;
		}
		if (nt > l->nptrs || !l->ptrs) {
			uint64_t *p = realloc(l->ptrs, ((size_t)nt + 1) * 8);
			if (!p)
				return -ENOMEM;
			l->ptrs = p;
		}
		l->nptrs = nt;
		q[n++] = (struct tsc_rreq){ arr, l->ptrs, (size_t)nt * 8 };
	}
	if ((err = tsc_rread(r->pid, q, n)))
		return read_err(r, err, "a task array");
	n = 0;
	for (size_t i = 0, k = 0; i < nl; i++) {
		struct loopw *l = &lw[i];
		if (l->done || (l->gen & 1))
			continue;
		if (!q[k++].ok)
			l->gen = 1; /* the array was replaced and freed: retry */
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
		if (!(l->gen & 1) && q[k++].ok && l->gen2 == l->gen)
			l->done = 1;
		else
			l->tries++;
	}
	return 0;
}

static int read_loops(struct tsc_remote *r, struct loopw *lw, size_t nl, uint32_t *retries)
{
	struct tsc_rreq *q = calloc(nl ? nl : 1, sizeof(*q));
	int err = 0;
	if (!q)
		return -ENOMEM;
	for (int attempt = 0;; attempt++) {
		if ((err = loops_round(r, lw, nl, q)))
			goto cleanup;
		size_t pending = 0;
		for (size_t i = 0; i < nl; i++) {
			if (lw[i].done)
				continue;
			pending++;
			if (lw[i].tries >= LOOP_TRIES) {
				uint64_t g = get64(lw[i].raw, r->desc.loop_gen);
				snprintf(r->err, sizeof(r->err),
					 "the task registry of the loop on thread %d of process %d "
					 "never held still in %d reads (generation %s)",
					 (int32_t)get32(lw[i].raw, r->desc.loop_tid), r->pid,
					 LOOP_TRIES, g & 1 ? "stuck odd: a writer stopped mid-change?"
						    : "kept moving");
				err = -EAGAIN;
				goto cleanup;
			}
		}
		if (!pending)
			break;
		*retries += (uint32_t)pending;
		backoff(attempt);
	}
cleanup:
	free(q);
	return err;
}

/* Tasks: read all, then all their seqs; a task whose seq was odd or moved between the two is read
 * again on its own until it holds still. Two bulk reads cost less than one per task. */
static int read_tasks(struct tsc_remote *r, const uint64_t *addrs, size_t n, unsigned char *raw,
		      size_t tsz, int *ok, uint32_t *retries)
{
	const struct ts_debug_desc *d = &r->desc;
	struct tsc_rreq *q = calloc(n ? n : 1, sizeof(*q));
	uint64_t *again = malloc((n ? n : 1) * 8);
	size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	size_t m = 0;
	int err = -ENOMEM;
	if (!q || !again || !idx)
		goto cleanup;
	for (size_t i = 0; i < n; i++)
		q[i] = (struct tsc_rreq){ addrs[i], raw + i * tsz, tsz };
	if ((err = tsc_rread_many(r->pid, q, n)))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		ok[i] = q[i].ok;
		q[i] = (struct tsc_rreq){ addrs[i] + d->task_seq, &again[i], 8 };
	}
	if ((err = tsc_rread_many(r->pid, q, n)))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (!ok[i])
			continue;
		uint64_t s1 = get64(raw + i * tsz, d->task_seq);
		if (!q[i].ok || get64(raw + i * tsz, d->task_magic) != TS_TASK_MAGIC)
			ok[i] = 0; /* freed meanwhile: it finished */
		else if ((s1 & 1) || s1 != again[i])
			idx[m++] = i;
	}
	for (int attempt = 0; m; attempt++) {
		*retries += (uint32_t)m;
		if (attempt >= TASK_TRIES) {
			snprintf(r->err, sizeof(r->err),
				 "%zu task(s) of process %d kept changing (%d tries)", m, r->pid,
				 TASK_TRIES);
			err = -EAGAIN;
			goto cleanup;
		}
		backoff(attempt);
		size_t c = 0;
		for (size_t k = 0; k < m; k++) {
			size_t i = idx[k];
			uint64_t s2;
			if ((err = tsc_rread1(r->pid, addrs[i], raw + i * tsz, tsz)) == 0)
				err = tsc_rread1(r->pid, addrs[i] + d->task_seq, &s2, 8);
			if (err == -EFAULT) {
				ok[i] = 0;
				continue;
			}
			if (err)
				goto fail;
			uint64_t s1 = get64(raw + i * tsz, d->task_seq);
			if (get64(raw + i * tsz, d->task_magic) != TS_TASK_MAGIC)
				ok[i] = 0;
			else if ((s1 & 1) || s1 != s2)
				idx[c++] = i;
		}
		m = c;
	}
	err = 0;
	goto cleanup;
fail:
	read_err(r, err, "a task");
cleanup:
	free(q);
	free(again);
	free(idx);
	return err;
}

struct key {
	uint64_t id;
	size_t i;
};

static int cmp_key(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id ? 1 : x->i < y->i ? -1 : x->i > y->i;
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

/* Only the prefix of a task that holds the fields we use. */
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

/* One walk. *vanished: 1 when a loop's thread is not the target's, 2 when it was at `seen`
 * but is gone now. */
static int snapshot_once(struct tsc_remote *r, struct tsc_snapshot *s,
			 const struct tsc_tidset *seen, int *vanished)
{
	const struct ts_debug_desc *d = &r->desc;
	uint64_t *table = calloc(d->max_loops, 8), *addrs = NULL, *coro = NULL, next_id = 0;
	struct loopw *lw = calloc(d->max_loops, sizeof(*lw));
	int32_t *owner = NULL, *owner_outer = NULL;
	struct tsc_tidmap tids = { 0 };
	struct key *keys = NULL;
	unsigned char *raw = NULL;
	int *ok = NULL;
	uint32_t nloops = 0;
	size_t nl = 0, total = 0, tsz = task_read_size(d), bad = 0;
	int err = -ENOMEM;

	memset(s, 0, sizeof(*s));
	s->pid = r->pid;
	if (!table || !lw)
		goto cleanup;
	if ((err = read_table(r, table, &nloops, &s->retries)))
		goto cleanup;
	for (uint32_t i = 0; i < nloops; i++) {
		if (!table[i])
			continue;
		lw[nl].addr = table[i];
		if (!(lw[nl].raw = calloc(1, d->loop_size))) {
			err = -ENOMEM;
			goto cleanup;
		}
		nl++;
	}
	if ((err = read_loops(r, lw, nl, &s->retries)))
		goto cleanup;
	if ((err = tsc_tidmap_read(r->procfd, &tids))) {
		read_err(r, err, "the threads");
		goto cleanup;
	}

	s->threads = calloc(nl ? nl : 1, sizeof(*s->threads));
	if (!s->threads)
		goto nomem;
	for (size_t i = 0; i < nl; i++) {
		if (lw[i].done < 0)
			continue;
		/* its thread must be one of the target's: a forked child holds a copy of its
		 * parent's registry, whose threads are not its own; tid 0: not started yet */
		int32_t inner = (int32_t)get32(lw[i].raw, d->loop_tid);
		int32_t tid = tsc_tidmap_outer(&tids, inner);
		if (!tid) {
			*vanished |= tsc_tidset_has(seen, inner) ? 2 : 1;
			lw[i].done = -1;
			continue;
		}
		s->threads[s->nthreads++] = (struct tsc_thread){
			.tid = tid,
			.loop_id = get64(lw[i].raw, d->loop_id),
			.current = get64(lw[i].raw, d->loop_current_id),
		};
		total += lw[i].nptrs;
	}
	if (total > MAX_TASKS_TOTAL) {
		snprintf(r->err, sizeof(r->err), "process %d claims %zu tasks: more than we read",
			 r->pid, total);
		err = -EPROTO;
		goto cleanup;
	}
	addrs = calloc(total ? total : 1, 8);
	owner = calloc(total ? total : 1, sizeof(*owner));
	owner_outer = calloc(total ? total : 1, sizeof(*owner_outer));
	ok = calloc(total ? total : 1, sizeof(*ok));
	raw = malloc((total ? total : 1) * tsz);
	coro = calloc(total ? total : 1, 8);
	keys = malloc((total ? total : 1) * sizeof(*keys));
	s->tasks = calloc(total ? total : 1, sizeof(*s->tasks));
	if (!addrs || !owner || !owner_outer || !ok || !raw || !coro || !keys || !s->tasks)
		goto nomem;
	total = 0;
	for (size_t i = 0; i < nl; i++) {
		int32_t tid = (int32_t)get32(lw[i].raw, d->loop_tid);
		if (lw[i].done < 0)
			continue;
		int32_t outer = tsc_tidmap_outer(&tids, tid);
		for (uint32_t k = 0; k < lw[i].nptrs; k++) {
			if (!lw[i].ptrs[k] || (lw[i].ptrs[k] & 7)) {
				bad++;
				continue;
			}
			addrs[total] = lw[i].ptrs[k];
			owner[total] = tid;
			owner_outer[total++] = outer;
		}
	}
	if ((err = read_tasks(r, addrs, total, raw, tsz, ok, &s->retries)))
		goto cleanup;
	/* after the tasks: every id they hold was handed out before this read */
	if ((err = tsc_rread1(r->pid, d->next_id_addr, &next_id, 8))) {
		read_err(r, err, "the next task id");
		goto cleanup;
	}
	/* in id order, each id once (a task moved within an array while we read it was seen
	 * twice): order small keys rather than the big model afterwards */
	size_t nk = 0;
	for (size_t i = 0; i < total; i++)
		if (ok[i])
			keys[nk++] = (struct key){ get64(raw + i * tsz, d->task_id), i };
	size_t k;
	for (k = 1; k < nk && keys[k - 1].id < keys[k].id; k++)
		;
	if (k < nk)
		qsort(keys, nk, sizeof(*keys), cmp_key);
	for (k = 0; k < nk; k++) {
		size_t i = keys[k].i;
		struct tsc_task *t = &s->tasks[s->ntasks];
		if (s->ntasks && t[-1].id == keys[k].id)
			continue;
		memset(t, 0, sizeof(*t));
		int c = convert(d, raw + i * tsz, addrs[i], owner[i], next_id, t, &coro[s->ntasks]);
		if (c > 0) {
			t->tid = owner_outer[i];
			s->ntasks++;
		}
		else if (c < 0)
			bad++;
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
	/* a thread's current task is one of its own live tasks, or none */
	for (size_t i = 0; i < s->nthreads; i++) {
		struct tsc_task *t = tsc_snapshot_find(s, s->threads[i].current);
		if (!t || t->tid != s->threads[i].tid)
			s->threads[i].current = 0;
	}
	s->taken_ns = now_ns();
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
	free(addrs);
	free(owner);
	free(owner_outer);
	tsc_tidmap_free(&tids);
	free(ok);
	free(raw);
	free(coro);
	free(keys);
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
