/* SPDX-License-Identifier: MIT */
/*
 * The reader of a target's task registry: the one place that knows how the debug descriptor
 * (taskscope/debug.h) lays out loops and tasks, what a valid task is, and how a walk retries.
 *
 *   decoding    tsc_reg_loop_decode, tsc_reg_task_decode and the field getters below: every
 *               field of a loop or a task is read through the descriptor here, and nowhere else
 *               (snapshot.c, top_reg.c and unwind.c all use them);
 *   validation  tsc_reg_task_check: live, finished or reused, or corrupt;
 *   the walk    tsc_reg_read_loops (the loop table and each loop's task array, each between two
 *               equal even generations), tsc_reg_threads, tsc_reg_ptrs (every task pointer
 *               once, in address order), tsc_reg_read_bodies and tsc_reg_settle (the tasks,
 *               read again until their seq holds still);
 *   retries     one policy: the tries in walk.h, the walk's time budget, tsc_walk_backoff.
 *
 * Two front ends: snapshot.c (ps, tree, record: one strict walk, where a task that never holds
 * still is an error) and top_reg.c (top: a walk per refresh that keeps what did not change and
 * lets a name caught mid-rename keep its last read). The coroutine names both show come from
 * one cache (coro.c). Everything read is hostile: bounded by walk.h's caps, validated here.
 */
#ifndef TSC_REGISTRY_H
#define TSC_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <taskscope/debug.h>
#include <taskscope/taskscope.h>

#include "target/walk.h"

struct tsc_remote;
struct tsc_tidset;
struct tsc_mem_req;
struct tsc_memsrc;

/* ---- decoding ---- */

static inline uint64_t tsc_reg_u64(const unsigned char *p, uint16_t off)
{
	uint64_t v;
	memcpy(&v, p + off, 8);
	return v;
}

static inline uint32_t tsc_reg_u32(const unsigned char *p, uint16_t off)
{
	uint32_t v;
	memcpy(&v, p + off, 4);
	return v;
}

/* Does the descriptor carry the wait-ages block (debug.h, TS_DEBUG_F_WAIT_AGES)? The reader
 * (remote.c) clears the bit in its copy when desc_size or the bytes it read do not cover the
 * block, so this one test says whether those offsets may be used. */
static inline int tsc_reg_has_ages(const struct ts_debug_desc *d)
{
	return (d->features & TS_DEBUG_F_WAIT_AGES) != 0;
}

/* A loop's fields; the ages block's are 0 without it. */
struct tsc_reg_loop_fields {
	uint64_t id, current_id, current, tasks, gen;
	uint64_t now_ns, lag_ns, lag_max_ns, lag_max_at_ns, timer_next_ns;
	uint32_t ntasks;
	int32_t tid;
};

static inline void tsc_reg_loop_decode(const struct ts_debug_desc *d, const unsigned char *p,
				       struct tsc_reg_loop_fields *l)
{
	l->id = tsc_reg_u64(p, d->loop_id);
	l->current_id = tsc_reg_u64(p, d->loop_current_id);
	l->current = tsc_reg_u64(p, d->loop_current);
	l->tasks = tsc_reg_u64(p, d->loop_tasks);
	l->gen = tsc_reg_u64(p, d->loop_gen);
	l->ntasks = tsc_reg_u32(p, d->loop_ntasks);
	l->tid = (int32_t)tsc_reg_u32(p, d->loop_tid);
	l->now_ns = l->lag_ns = l->lag_max_ns = l->lag_max_at_ns = l->timer_next_ns = 0;
	if (tsc_reg_has_ages(d)) {
		l->now_ns = tsc_reg_u64(p, d->loop_now);
		l->lag_ns = tsc_reg_u64(p, d->loop_lag);
		l->lag_max_ns = tsc_reg_u64(p, d->loop_lag_max);
		l->lag_max_at_ns = tsc_reg_u64(p, d->loop_lag_max_at);
		l->timer_next_ns = tsc_reg_u64(p, d->loop_timer_next);
	}
}

/* How late a loop's timers are as of now_ns (CLOCK_MONOTONIC, the target's clock = ours): the
 * latest of its recent window (the current one or the one before), or how far now is past its
 * earliest deadline when that is later: a loop blocked right now cannot fire a timer to say
 * so. 0 without the ages block. */
static inline uint64_t tsc_reg_loop_lag(const struct tsc_reg_loop_fields *l, uint64_t now_ns)
{
	uint64_t lag = 0;
	if (l->lag_max_at_ns && now_ns - l->lag_max_at_ns < 2 * TS_DEBUG_LAG_WINDOW_NS &&
	    now_ns >= l->lag_max_at_ns)
		lag = l->lag_max_ns;
	if (l->timer_next_ns && now_ns > l->timer_next_ns && now_ns - l->timer_next_ns > lag)
		lag = now_ns - l->timer_next_ns;
	return lag;
}

/* A task's fields; name points into the bytes read (name_max of them, maybe no NUL). The ages
 * block's (wait_since_ns, ready_since_ns, spawn_pc) are 0 without it. */
struct tsc_reg_task_fields {
	uint64_t magic, seq, id, parent, coro, wait_obj, created_ns, switches;
	uint64_t ctx_sp, stack_lo, stack_hi;
	uint64_t wait_since_ns, ready_since_ns, spawn_pc;
	uint32_t state, wait;
	int32_t tid;
	const char *name;
};

static inline void tsc_reg_task_decode(const struct ts_debug_desc *d, const unsigned char *p,
				       struct tsc_reg_task_fields *t)
{
	t->magic = tsc_reg_u64(p, d->task_magic);
	t->seq = tsc_reg_u64(p, d->task_seq);
	t->id = tsc_reg_u64(p, d->task_id);
	t->parent = tsc_reg_u64(p, d->task_parent);
	t->coro = tsc_reg_u64(p, d->task_coro);
	t->wait_obj = tsc_reg_u64(p, d->task_wait_obj);
	t->created_ns = tsc_reg_u64(p, d->task_created_ns);
	t->switches = tsc_reg_u64(p, d->task_switches);
	t->ctx_sp = tsc_reg_u64(p, d->task_ctx_sp);
	t->stack_lo = tsc_reg_u64(p, d->task_stack_lo);
	t->stack_hi = tsc_reg_u64(p, d->task_stack_hi);
	t->state = tsc_reg_u32(p, d->task_state);
	t->wait = tsc_reg_u32(p, d->task_wait);
	t->tid = (int32_t)tsc_reg_u32(p, d->task_tid);
	t->name = (const char *)p + d->task_name;
	t->wait_since_ns = t->ready_since_ns = t->spawn_pc = 0;
	if (tsc_reg_has_ages(d)) {
		t->wait_since_ns = tsc_reg_u64(p, d->task_wait_since);
		t->ready_since_ns = tsc_reg_u64(p, d->task_ready_since);
		t->spawn_pc = tsc_reg_u64(p, d->task_spawn_pc);
	}
}

/* The few fields a walk looks at for every task, without decoding the rest. */
static inline uint64_t tsc_reg_task_magic(const struct ts_debug_desc *d, const unsigned char *p)
{
	return tsc_reg_u64(p, d->task_magic);
}
static inline uint64_t tsc_reg_task_seq(const struct ts_debug_desc *d, const unsigned char *p)
{
	return tsc_reg_u64(p, d->task_seq);
}
static inline uint64_t tsc_reg_task_id(const struct ts_debug_desc *d, const unsigned char *p)
{
	return tsc_reg_u64(p, d->task_id);
}
/* Mark a task read as gone (freed and unmapped: it finished). */
static inline void tsc_reg_task_forget(const struct ts_debug_desc *d, unsigned char *p)
{
	memset(p + d->task_magic, 0, 8);
}

/* One past the last byte of a task that holds a field we read (remote.c caps it with
 * TSC_WALK_MAX_TASK_FIELDS); tsc_reg_task_size: that, rounded up to 8, what a walk reads. */
static inline size_t tsc_reg_task_end(const struct ts_debug_desc *d)
{
	const uint16_t f64[] = { d->task_magic, d->task_seq, d->task_id, d->task_parent,
				 d->task_coro, d->task_wait_obj, d->task_created_ns,
				 d->task_switches, d->task_ctx_sp, d->task_stack_lo,
				 d->task_stack_hi };
	const uint16_t f32[] = { d->task_state, d->task_wait, d->task_tid };
	const uint16_t ages[] = { d->task_wait_since, d->task_ready_since, d->task_spawn_pc };
	size_t end = (size_t)d->task_name + d->name_max;
	for (size_t i = 0; i < sizeof(f64) / sizeof(f64[0]); i++)
		end = f64[i] + 8u > end ? f64[i] + 8u : end;
	for (size_t i = 0; tsc_reg_has_ages(d) && i < sizeof(ages) / sizeof(ages[0]); i++)
		end = ages[i] + 8u > end ? ages[i] + 8u : end;
	for (size_t i = 0; i < sizeof(f32) / sizeof(f32[0]); i++)
		end = f32[i] + 4u > end ? f32[i] + 4u : end;
	return end;
}
static inline size_t tsc_reg_task_size(const struct ts_debug_desc *d)
{
	return (tsc_reg_task_end(d) + 7) & ~(size_t)7;
}

/* Are the bytes p, read from a task pointer of the loop on thread loop_tid (the target's
 * numbering), a live task of it? 1 yes; 0 when it finished, or its memory now holds another
 * loop's task; -1 when it fails validation (an id the target has not handed out yet, a name
 * without its NUL). next_id: the target's next id, read after the task. Only the fields it
 * needs are read: a walk checks every task, and decodes the live ones. */
static inline int tsc_reg_task_check(const struct ts_debug_desc *d, const unsigned char *p,
				     int32_t loop_tid, uint64_t next_id)
{
	if (tsc_reg_u64(p, d->task_magic) != TS_TASK_MAGIC)
		return 0;
	if ((int32_t)tsc_reg_u32(p, d->task_tid) != loop_tid ||
	    tsc_reg_u32(p, d->task_state) >= TS_DONE)
		return 0;
	uint64_t id = tsc_reg_u64(p, d->task_id);
	if (!id || id >= next_id || tsc_reg_u64(p, d->task_parent) >= next_id)
		return -1;
	return memchr(p + d->task_name, 0, d->name_max) ? 1 : -1;
}

/* ---- the walk ---- */

/* One loop of the registry, as this walk read it. */
struct tsc_reg_loop {
	uint64_t addr;
	unsigned char *raw;        /* its fields, desc.loop_size bytes */
	struct tsc_reg_loop_fields f;
	uint64_t gen2;             /* its generation read again after its array */
	uint64_t *ptrs;            /* its task array */
	uint32_t nptrs, cap;
	int done;                  /* 1 read, -1 gone or not the target's, 0 to (re)read */
	int tries;
	const char *why;           /* why its last read did not hold */
	int32_t outer;             /* its thread as this process numbers it (tsc_reg_threads) */
};

struct tsc_reg {
	struct tsc_remote *r;      /* the target; errors are said in r->err */
	const struct tsc_memsrc *mem; /* where its memory is read: r->mem */
	const struct ts_debug_desc *d;
	size_t tsz;                /* tsc_reg_task_size */
	uint64_t *table;           /* the loop table, max_loops slots */
	struct tsc_reg_loop *loops;/* the loops found in it, nloops of them */
	size_t nloops;
	size_t bad;                /* loop or task pointers that failed validation this walk */
	struct tsc_mem_req *q;        /* requests, reused */
	size_t qcap;
	uint64_t *seq2;            /* tsc_reg_settle's seqs, reused */
	size_t seqcap;
	uint64_t mark;             /* when the current retry loop last charged the budget */
	struct tsc_walk_budget budget; /* this walk's */
	uint32_t retries;          /* reads retried this walk because the registry moved */
};

/* Returns 0 or -errno; tsc_reg_fini accepts one that failed or was zeroed. */
int tsc_reg_init(struct tsc_reg *g, struct tsc_remote *r);
void tsc_reg_fini(struct tsc_reg *g);

/* Begin a walk (retries and budget from 0) and read the loop table and every loop's fields
 * and task array. What the loops claim is capped (TSC_WALK_MAX_TASKS) before anything is
 * allocated for it. Returns 0, -EAGAIN when it kept changing, -EPROTO, or -errno. */
int tsc_reg_read_loops(struct tsc_reg *g);

/* Each loop's thread in our pid namespace (loops[i].outer); a loop whose thread is not one of
 * the target's is dropped (done = -1): a forked child holds a copy of its parent's registry,
 * whose threads are not its own; tid 0: not started yet. With seen (the target's threads at
 * some earlier instant), *vanished gets 1 for such a loop, 2 when its thread was in seen.
 * Returns 0 or -errno. */
int tsc_reg_threads(struct tsc_reg *g, const struct tsc_tidset *seen, int *vanished);

/* Every (task pointer, loop) of the loops read, once, in address order (p[k].loop indexes
 * g->loops; a pointer listed twice in one array counts once). p and tmp: room for every
 * loop's nptrs; returns how many. A null or misaligned pointer is counted in g->bad. */
size_t tsc_reg_ptrs(struct tsc_reg *g, struct tsc_walk_ptr *p, struct tsc_walk_ptr *tmp);
/* Sum of the nptrs of the loops still in the walk. */
size_t tsc_reg_nptrs(const struct tsc_reg *g);

/* Read tsz bytes of each task at addr[k] into raw + slot[k] * tsz (slot NULL: k). One that
 * cannot be read is marked gone (tsc_reg_task_forget). Returns 0 or -errno. */
int tsc_reg_read_bodies(struct tsc_reg *g, const uint64_t *addr, const size_t *slot, size_t n,
			unsigned char *raw);
/* Read the seq of each task at addr[k] (its bytes at raw + slot[k] * tsz) again: one whose seq
 * was odd or moved is read whole again, together with the others, until it holds still. When
 * some never do within the tries and the walk's budget: strict, -EAGAIN; otherwise they keep
 * their last read, and 0. addr and slot are reordered. Returns 0 or -errno. */
int tsc_reg_settle(struct tsc_reg *g, uint64_t *addr, size_t *slot, size_t n, unsigned char *raw,
		   int strict);

/* The target's next task id (every task with a lower id was created before this read). */
int tsc_reg_next_id(struct tsc_reg *g, uint64_t *id);

/* r->err = "cannot read WHAT of process PID: ..." (or "process PID exited"); returns err. */
int tsc_reg_read_err(struct tsc_remote *r, int err, const char *what);

/* ---- coroutine names (coro.c) ----
 * Each task points at a string in the target; there are few distinct ones. The cache reads
 * each once, never across into a page that might not be mapped, and keeps it at a stable
 * address (tasks point at it). A name that cannot be read is "?", a null pointer "". */
#define TSC_CORO_MAX 64

struct tsc_coro_ent {
	uint64_t addr;
	char *s;
	int used;
};

struct tsc_coros {
	struct tsc_coro_ent *e;    /* sorted by addr */
	size_t n, cap;
	struct tsc_coro_ent *fresh;/* names first met in this batch, merged in once */
	size_t freshcap;
};

/* Read the names at want[0..n) that the cache lacks (want is sorted and may be reordered). */
int tsc_coros_add(struct tsc_coros *c, struct tsc_remote *r, uint64_t *want, size_t n);
/* The name at addr: "" for 0, NULL when not in the cache. */
const char *tsc_coros_find(const struct tsc_coros *c, uint64_t addr);
/* Names no task uses any more go once they outnumber the rest by TSC_CORO_KEEP: a target
 * whose tasks keep pointing at new strings must not grow the cache without end. When
 * tsc_coros_crowded says so, mark the names in use, then sweep the others. */
#define TSC_CORO_KEEP 4096
static inline int tsc_coros_crowded(const struct tsc_coros *c, size_t in_use)
{
	return c->n > 2 * in_use + TSC_CORO_KEEP;
}
void tsc_coros_mark(struct tsc_coros *c, uint64_t addr);
void tsc_coros_sweep(struct tsc_coros *c);
void tsc_coros_free(struct tsc_coros *c);

#endif
