/* SPDX-License-Identifier: MIT */
/* Internal structures of libtaskscope. Fields read from outside the process are described
 * to readers through the debug descriptor (debug.c); change them only together. */
#ifndef TS_INTERNAL_H
#define TS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <taskscope/debug.h>
#include <taskscope/taskscope.h>

#include "stack.h"
#include <taskscope/probes.h>

/* Sanitizers that must be told about fibers (sched.c), by GCC's and by clang's spelling. */
#if defined(__SANITIZE_ADDRESS__)
#define TS_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define TS_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(TS_ASAN)
#define TS_ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(TS_TSAN)
#define TS_TSAN 1
#endif
#endif

#define TS_MAX_LOOPS 256
#define TS_DIRECT_SWITCH_BUDGET 64 /* task-to-task switches before the loop polls I/O */

#define ts_load(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ts_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* A suspended execution context: its saved stack pointer and its stack. */
struct ts_ctx {
	void *sp;
	struct ts_stack stack;
#ifdef TS_ASAN
	void *asan_fake_stack;
#endif
#ifdef TS_TSAN
	void *tsan_fiber;
#endif
};

/* A task waiting in some object's list (await, queue, event). Lives on the waiter's stack;
 * added and removed under the object's lock, so a waker never touches a node whose task left. */
struct ts_waiter {
	struct ts_waiter *next, **pprev;
	ts_task *task;
	uint32_t seq;
};

/* Kept small: a task's allocation is a third of what a sleeping task costs beside its stack
 * page (a million of them is the benchmark). */
struct ts_task {
	uint64_t magic;            /* TS_TASK_MAGIC; TS_TASK_FREED once freed */
	uint64_t seq;              /* odd while name/state change (for outside readers) */
	uint64_t id;
	uint64_t parent;
	char name[TS_NAME_MAX];
	const char *coro;
	uint32_t state;            /* enum ts_state, atomic */
	uint32_t wait;             /* enum ts_wait */
	uint64_t wait_obj;
	int32_t tid;
	int32_t refs;              /* atomic */
	uint64_t created_ns;
	uint64_t switches;
	uint64_t wait_since_ns;    /* loop clock when its current wait began */
	uint64_t ready_since_ns;   /* loop clock when it last became ready (or was queued) */
	uint64_t spawn_pc;         /* the return address into the caller of ts_spawn* */
	struct ts_ctx ctx;

	ts_loop *loop;
	union {
		ts_fn fn;          /* until it runs */
		void *result;      /* once it returned */
	};
	void *arg;
	union {
		int wake_result;   /* alive: what the current suspension returns */
		int fail_err;      /* failed: the error given to ts_fail */
	};
	uint32_t wait_seq;         /* bumped at each wait; stale wakes carry an old one */
	uint32_t cancel_pending;   /* atomic: a cancel not delivered yet */
	int32_t reg_index;         /* index in loop->tasks, -1 when not registered */
	int32_t timer_index;       /* index in loop's timer heap, -1 when not armed */
	bool cancelled;            /* a cancel was delivered and not swallowed (see suspend) */
	ts_task *next_ready;
	struct ts_waiter *waiters; /* under ts__task_lock(t), as is the move to a finished state */
};

struct ts_timer {
	uint64_t deadline;
	ts_task *task;
};

/* A message to a loop from another thread. */
enum ts_msg_kind { TS_MSG_SPAWN, TS_MSG_WAKE, TS_MSG_CANCEL };
struct ts_msg {
	struct ts_msg *next;
	enum ts_msg_kind kind;
	ts_task *task;             /* holds a reference */
	uint32_t seq;
	int result;
};

/* What the loop's thread needs to write its ring (ring.c), in one cache line of the loop.
 * After a sleep a record costs the cache misses it waits for one after another: with the head
 * and the size kept here, the slot's address is known from this line alone, and the fork
 * check (ring.c's table) and the header's fired count miss beside the stores, not before. */
struct ts_ring_writer {
	struct ts_ring_hdr *h;     /* the ring it writes, while ring.c's table still has it */
	uint64_t head;             /* the ring's head: its writer's copy, never loaded from it */
	uint64_t mask;             /* the ring's nslots - 1 */
	uint64_t last_ts;          /* the time of the record that ends at last_end: a wait or a */
	uint64_t last_end;         /* finish (last_id 0), whose switch takes it, or the create */
	uint64_t last_id;          /* of task last_id, whose ready takes it */
	struct ts_ring_hdr *const *live; /* its entry in ring.c's table of this process's rings */
	uint32_t idx;              /* that entry's index, or 0 */
	bool tsc;                  /* its times are the TSC's */
	bool failed;               /* the ring could not be made: no retry at each event */
} __attribute__((aligned(64)));
/* a record after a sleep finds it cold: one line, and the globals it needs copied into it */
_Static_assert(sizeof(struct ts_ring_writer) == 64, "the ring writer is one cache line");

struct ts_loop {
	/* read from outside through the descriptor */
	uint64_t id;
	int32_t tid;
	uint32_t ntasks;
	uint64_t current_id;
	ts_task *current;
	ts_task **tasks;
	uint64_t gen;
	uint64_t now_ns;           /* the loop's cached clock: read once per scheduler pass */
	uint64_t lag_ns;           /* how late the last timer fired */
	uint64_t lag_max_ns;       /* the latest one of the window that began at lag_max_at_ns */
	uint64_t lag_max_at_ns;
	uint64_t timer_next_ns;    /* deadline of the earliest timer, 0 = none */
	struct ts_ring_hdr *ring;  /* its event ring (ring.c), made at its first event */

	struct ts_ring_writer ringw; /* its ring's writer */
	uint32_t cap;
	int slot;                  /* index in the global loop table */
	int epfd, evfd;
	struct ts_ctx sched;
	ts_task *ready_head, *ready_tail;
	int budget;
	uint32_t nfd_waits;        /* tasks suspended in ts_wait_fd */
	ts_task *dead;             /* finished task whose stack awaits release */
	struct ts_timer *timers;
	uint32_t ntimers, timers_cap;
	struct ts_stack_pool pool; /* stacks of finished tasks, for the next spawns */
	ts_task *free_tasks;       /* freed tasks for the next spawns, through next_ready */
	uint32_t nfree_tasks;
	void *altstack;            /* signal stack for the overflow handler */
	size_t altstack_size;
	pthread_mutex_t inbox_lock;
	struct ts_msg *inbox_head, **inbox_tail;
	uint32_t stopping;         /* atomic */
	bool own_thread;
	pthread_t thread;
	int start_err;
	pthread_mutex_t start_lock;
	pthread_cond_t start_cond;
	bool started;
};

extern __thread ts_loop *ts__tls_loop __attribute__((tls_model("initial-exec")));
extern size_t ts__stack_size;

/* The lock of a task's waiters, from a small table: a lock in each task would be a sixth of
 * its size, and each critical section is a few instructions on one task's list. */
#define TS_TASK_LOCKS 64
extern struct ts_lock_slot {
	pthread_mutex_t m;
} __attribute__((aligned(64))) ts__task_locks[TS_TASK_LOCKS];

static inline pthread_mutex_t *ts__task_lock(const ts_task *t)
{
	uintptr_t h = (uintptr_t)t >> 4;
	return &ts__task_locks[(h ^ h >> 6 ^ h >> 12) % TS_TASK_LOCKS].m;
}

/* loop.c */
uint64_t ts__coarse_now_ns(void); /* CLOCK_MONOTONIC_COARSE: cheap, ~4 ms steps */
ts_loop *ts__loop_new(void);
void ts__loop_free(ts_loop *loop);
/* Until `until` is done, or (until == NULL) until stopping and no task is left. */
void ts__loop_run(ts_loop *loop, ts_task *until);
void ts__loop_post(ts_loop *loop, enum ts_msg_kind kind, ts_task *t, uint32_t seq, int result);
void ts__timer_add(ts_loop *loop, ts_task *t, uint64_t deadline);
void ts__timer_del(ts_loop *loop, ts_task *t);

/* sched.c */
void ts__sched_init(ts_loop *loop);
int ts__suspend(enum ts_wait reason, uint64_t obj);  /* current task; returns wake_result */
uint32_t ts__wait_begin(ts_task *t);                  /* new wait_seq for a waiter node */
void ts__wake(ts_task *t, uint32_t seq, int result);  /* from any thread */
void ts__wake_local(ts_task *t, uint32_t seq, int result);
void ts__cancel_local(ts_task *t);
void ts__start_local(ts_loop *loop, ts_task *t);
void ts__switch(ts_loop *loop, ts_task *from, ts_task *to);  /* NULL = the scheduler */
void ts__after_switch(ts_loop *loop);
__attribute__((noreturn)) void ts__finish(ts_task *t, enum ts_state outcome);
int ts__take_cancel(ts_task *t);                      /* -ECANCELED if one was pending */

/* waiters */
void ts__waiter_add(struct ts_waiter **head, struct ts_waiter *w, ts_task *t, uint32_t seq);
void ts__waiter_del(struct ts_waiter *w);
void ts__waiters_wake_all(struct ts_waiter **head, int result);
bool ts__waiters_wake_one(struct ts_waiter **head, int result);

/* task.c */
void ts__task_cache_free(ts_loop *loop);

/* ring.c: the traced path of each event, out of line; called only once TS_TRACING() (or, for
 * the events of a task's life, its own probe's semaphore) is up. */
void ts__trace_switch(ts_loop *loop, ts_task *from, ts_task *to);
void ts__trace_wait(ts_loop *loop, ts_task *t, enum ts_wait reason, uint64_t obj);
void ts__trace_finish(ts_loop *loop, ts_task *t, enum ts_state outcome);
void ts__trace_thread(ts_loop *loop, bool stop);
/* t went on loop's ready queue other than by yielding (a yield's wait is its ready instant);
 * called on loop's own thread. Cold: the wake path pays only the hot word's test. */
__attribute__((cold)) void ts__trace_ready(ts_loop *loop, ts_task *t);
void ts__trace_rename(ts_task *t);
/* false: the calling thread has no ring; the task's loop records it when it takes it in */
bool ts__trace_create(ts_task *t);
bool ts__ring_create(ts_task *t);
void ts__ring_free(ts_loop *loop);
/* The hot word (probes.h): one load for the switch path. The others test their own too. */
#define TS_TRACING() TASKSCOPE_HOT()
#define TS_TRACING_OR(probe) (TASKSCOPE_ENABLED(probe) | TASKSCOPE_HOT())

/* debug.c */
int ts__loop_table_add(ts_loop *loop);
void ts__loop_table_del(ts_loop *loop);
/* fn on every loop in the table, for a forked child: under the table's lock only if it is
 * free (a parent's thread that held it is gone from the child) */
void ts__loop_table_each(void (*fn)(ts_loop *));
void ts__registry_add(ts_loop *loop, ts_task *t);
void ts__registry_del(ts_loop *loop, ts_task *t);

/* The ready queue: FIFO, intrusive, touched only by the loop's thread; inline because every
 * switch goes through it. */
static inline void ts__ready_push(ts_loop *loop, ts_task *t)
{
	t->next_ready = NULL;
	if (loop->ready_tail)
		loop->ready_tail->next_ready = t;
	else
		loop->ready_head = t;
	loop->ready_tail = t;
}

/* NULL when empty or when the direct-switch budget is spent (then the scheduler polls I/O). */
static inline ts_task *ts__ready_pop(ts_loop *loop)
{
	ts_task *t = loop->ready_head;
	if (!t || loop->budget <= 0)
		return NULL;
	loop->ready_head = t->next_ready;
	if (!loop->ready_head)
		loop->ready_tail = NULL;
	t->next_ready = NULL;
	loop->budget--;
	return t;
}

static inline void ts__seq_begin(ts_task *t) { __atomic_add_fetch(&t->seq, 1, __ATOMIC_RELEASE); }
static inline void ts__seq_end(ts_task *t) { __atomic_add_fetch(&t->seq, 1, __ATOMIC_RELEASE); }

#endif
