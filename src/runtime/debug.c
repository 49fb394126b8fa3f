/* SPDX-License-Identifier: MIT */
/* The debug descriptor that lets readers outside the process find every loop and task, and the
 * writer side of what it describes: the loop table and each loop's task array (debug.h). */
#include "internal.h"
#include "ctx.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static ts_loop *loops[TS_MAX_LOOPS];
static uint32_t nloops;     /* one past the highest used slot */
static uint64_t loops_gen;  /* odd while the table changes */
static pthread_mutex_t loops_lock = PTHREAD_MUTEX_INITIALIZER;
extern uint64_t ts__next_task_id;

#define OFF(type, field) ((uint16_t)offsetof(type, field))

/* TS_DEBUG_FORM_V1 builds the descriptor as the first ABI version 1 writers wrote it: no
 * wait-ages block, desc_size ending before it, no rings (those came with version 2). The tests keep such a runtime as an older
 * target that readers must still read (without ages); nothing else uses it. */
#ifdef TS_DEBUG_FORM_V1
#define DESC_ABI 1
#define DESC_SIZE offsetof(struct ts_debug_desc, task_wait_since)
#define DESC_FEATURES TS_DEBUG_F_PENDING
#elif defined(TS_DEBUG_FORM_V2)
/* ABI version 2: as now, but its rings' header has version 2's layout (ring.c): the tests'
 * target that readers must still read */
#define DESC_ABI 2
#define DESC_SIZE sizeof(struct ts_debug_desc)
#define DESC_FEATURES (TS_DEBUG_F_PENDING | TS_DEBUG_F_WAIT_AGES)
#else
#define DESC_ABI TS_DEBUG_ABI_VERSION
#define DESC_SIZE sizeof(struct ts_debug_desc)
#define DESC_FEATURES (TS_DEBUG_F_PENDING | TS_DEBUG_F_WAIT_AGES)
#endif
_Static_assert(offsetof(struct ts_debug_desc, task_wait_since) == 120,
	       "the wait-ages block starts where the first form's descriptor ended");

/* Not const: in a PIE its pointers are relocated at load. A section of its own survives strip. */
__attribute__((used, section(TS_DEBUG_SECTION))) struct ts_debug_desc ts__debug_desc = {
	.magic = TS_DEBUG_MAGIC,
	.abi_version = DESC_ABI,
	.desc_size = DESC_SIZE,
	.loops_addr = (uint64_t)(uintptr_t)loops,
	.nloops_addr = (uint64_t)(uintptr_t)&nloops,
	.loops_gen_addr = (uint64_t)(uintptr_t)&loops_gen,
	.next_id_addr = (uint64_t)(uintptr_t)&ts__next_task_id,
	.max_loops = TS_MAX_LOOPS,
	.name_max = TS_NAME_MAX,
	.loop_size = sizeof(struct ts_loop),
	.loop_id = OFF(struct ts_loop, id),
	.loop_tid = OFF(struct ts_loop, tid),
	.loop_current_id = OFF(struct ts_loop, current_id),
	.loop_current = OFF(struct ts_loop, current),
	.loop_tasks = OFF(struct ts_loop, tasks),
	.loop_ntasks = OFF(struct ts_loop, ntasks),
	.loop_gen = OFF(struct ts_loop, gen),
	.task_size = sizeof(struct ts_task),
	.task_magic = OFF(struct ts_task, magic),
	.task_seq = OFF(struct ts_task, seq),
	.task_id = OFF(struct ts_task, id),
	.task_parent = OFF(struct ts_task, parent),
	.task_name = OFF(struct ts_task, name),
	.task_coro = OFF(struct ts_task, coro),
	.task_state = OFF(struct ts_task, state),
	.task_wait = OFF(struct ts_task, wait),
	.task_wait_obj = OFF(struct ts_task, wait_obj),
	.task_tid = OFF(struct ts_task, tid),
	.task_created_ns = OFF(struct ts_task, created_ns),
	.task_switches = OFF(struct ts_task, switches),
	.task_ctx_sp = OFF(struct ts_task, ctx.sp),
	.task_stack_lo = OFF(struct ts_task, ctx.stack.lo),
	.task_stack_hi = OFF(struct ts_task, ctx.stack.hi),
	.frame_rbp = TS_FRAME_RBP,
	.frame_ret = TS_FRAME_RET,
	.features = DESC_FEATURES,
#ifndef TS_DEBUG_FORM_V1
	.task_wait_since = OFF(struct ts_task, wait_since_ns),
	.task_ready_since = OFF(struct ts_task, ready_since_ns),
	.task_spawn_pc = OFF(struct ts_task, spawn_pc),
	.loop_now = OFF(struct ts_loop, now_ns),
	.loop_lag = OFF(struct ts_loop, lag_ns),
	.loop_lag_max = OFF(struct ts_loop, lag_max_ns),
	.loop_lag_max_at = OFF(struct ts_loop, lag_max_at_ns),
	.loop_timer_next = OFF(struct ts_loop, timer_next_ns),
	.loop_ring = OFF(struct ts_loop, ring),
#endif
};

int ts__loop_table_add(ts_loop *loop)
{
	int err = -EMFILE;
	pthread_mutex_lock(&loops_lock);
	for (uint32_t i = 0; i < TS_MAX_LOOPS; i++) {
		if (loops[i])
			continue;
		__atomic_add_fetch(&loops_gen, 1, __ATOMIC_RELEASE);
		ts_store(&loops[i], loop);
		if (i >= nloops)
			ts_store(&nloops, i + 1);
		__atomic_add_fetch(&loops_gen, 1, __ATOMIC_RELEASE);
		loop->slot = (int)i;
		err = 0;
		break;
	}
	pthread_mutex_unlock(&loops_lock);
	return err;
}

void ts__loop_table_each(void (*fn)(ts_loop *))
{
	/* the lock if it is free: in a child made by a raw clone a parent's thread may have
	 * held it, and is gone */
	int locked = pthread_mutex_trylock(&loops_lock) == 0;
	uint32_t n = __atomic_load_n(&nloops, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n && i < TS_MAX_LOOPS; i++) {
		ts_loop *l = __atomic_load_n(&loops[i], __ATOMIC_ACQUIRE);
		if (l)
			fn(l);
	}
	if (locked)
		pthread_mutex_unlock(&loops_lock);
}

void ts__loop_table_del(ts_loop *loop)
{
	if (loop->slot < 0)
		return;
	pthread_mutex_lock(&loops_lock);
	__atomic_add_fetch(&loops_gen, 1, __ATOMIC_RELEASE);
	ts_store(&loops[loop->slot], NULL);
	while (nloops && !loops[nloops - 1])
		nloops--;
	__atomic_add_fetch(&loops_gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&loops_lock);
	loop->slot = -1;
}

/* ---- each loop's task array: what outside readers walk ---- */

/* Only the loop's thread writes gen, so a plain store does (a locked add cost as much as the
 * rest of a spawn). The readers are outside the process: what matters is that the stores
 * reach memory in program order, which x86 keeps; the compiler barrier keeps the array's
 * stores after the odd bump, the release store keeps them before the even one. */
static void gen_begin(ts_loop *loop)
{
	__atomic_store_n(&loop->gen, loop->gen + 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static void gen_end(ts_loop *loop)
{
	__atomic_store_n(&loop->gen, loop->gen + 1, __ATOMIC_RELEASE);
}

/* Move the array to one of cap entries, publishing the new one before freeing the old, so
 * that readers see one or the other. */
static void registry_resize(ts_loop *loop, uint32_t cap)
{
	ts_task **n = malloc(cap * sizeof(*n));
	if (!n) {
		if (cap < loop->cap)
			return; /* shrinking is only to give memory back */
		abort(); /* out of memory in the scheduler: nothing sane to do */
	}
	if (loop->ntasks)
		memcpy(n, loop->tasks, loop->ntasks * sizeof(*n));
	ts_task **old = loop->tasks;
	gen_begin(loop);
	ts_store(&loop->tasks, n);
	loop->cap = cap;
	gen_end(loop);
	free(old);
}

void ts__registry_add(ts_loop *loop, ts_task *t)
{
	if (loop->ntasks == loop->cap)
		registry_resize(loop, loop->cap ? loop->cap * 2 : 64);
	gen_begin(loop);
	t->reg_index = (int32_t)loop->ntasks;
	loop->tasks[loop->ntasks] = t;
	ts_store(&loop->ntasks, loop->ntasks + 1);
	gen_end(loop);
}

void ts__registry_del(ts_loop *loop, ts_task *t)
{
	if (t->reg_index < 0)
		return;
	gen_begin(loop);
	uint32_t last = loop->ntasks - 1;
	ts_task *moved = loop->tasks[last];
	loop->tasks[t->reg_index] = moved;
	moved->reg_index = t->reg_index;
	ts_store(&loop->ntasks, last);
	t->reg_index = -1;
	gen_end(loop);
	/* after a burst, give the memory back (a quarter full: no back and forth at the edge) */
	if (loop->cap > 1024 && last < loop->cap / 4)
		registry_resize(loop, loop->cap / 2);
}
