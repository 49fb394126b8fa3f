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

#define TS_MAX_LOOPS 256
#define TS_DIRECT_SWITCH_BUDGET 64 /* task-to-task switches before the loop polls I/O */

#define ts_load(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ts_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* A suspended execution context: its saved stack pointer and, for sanitizers, its stack. */
struct ts_ctx {
	void *sp;
	void *stack_lo;
	size_t stack_size;
	void *asan_fake_stack;
	void *tsan_fiber;
};

/* A task waiting in some object's list (await, queue, event). Lives on the waiter's stack;
 * added and removed under the object's lock, so a waker never touches a node whose task left. */
struct ts_waiter {
	struct ts_waiter *next, **pprev;
	ts_task *task;
	uint64_t seq;
};

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
	struct ts_ctx ctx;
	void *stack_hi;

	ts_loop *loop;
	ts_fn fn;
	void *arg;
	void *result;
	int fail_err;
	int wake_result;           /* what the current suspension returns */
	uint64_t wait_seq;         /* bumped at each wait; stale wakes carry an old one */
	uint32_t cancel_pending;   /* atomic: a cancel not delivered yet */
	bool cancelled;            /* a cancel was delivered */
	int32_t reg_index;         /* index in loop->tasks, -1 when not registered */
	int32_t timer_index;       /* index in loop's timer heap, -1 when not armed */
	ts_task *next_ready;
	pthread_mutex_t lock;      /* guards waiters and the move to a finished state */
	struct ts_waiter *waiters;
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
	uint64_t seq;
	int result;
};

struct ts_loop {
	/* read from outside through the descriptor */
	uint64_t id;
	int32_t tid;
	uint32_t ntasks;
	uint64_t current_id;
	ts_task *current;
	ts_task **tasks;
	uint64_t gen;

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
	void *stack_pool;          /* struct ts_pooled_stack[], stack.c */
	void *altstack;            /* signal stack for the overflow handler */
	size_t altstack_size;
	uint32_t npool;
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

/* loop.c */
uint64_t ts__coarse_now_ns(void); /* CLOCK_MONOTONIC_COARSE: cheap, ~4 ms steps */
ts_loop *ts__loop_new(void);
void ts__loop_free(ts_loop *loop);
/* Until `until` is done, or (until == NULL) until stopping and no task is left. */
void ts__loop_run(ts_loop *loop, ts_task *until);
void ts__loop_post(ts_loop *loop, enum ts_msg_kind kind, ts_task *t, uint64_t seq, int result);
void ts__registry_add(ts_loop *loop, ts_task *t);
void ts__registry_del(ts_loop *loop, ts_task *t);
void ts__timer_add(ts_loop *loop, ts_task *t, uint64_t deadline);
void ts__timer_del(ts_loop *loop, ts_task *t);

/* sched.c */
void ts__sched_init(ts_loop *loop);
int ts__suspend(enum ts_wait reason, uint64_t obj);  /* current task; returns wake_result */
uint64_t ts__wait_begin(ts_task *t);                  /* new wait_seq for a waiter node */
void ts__wake(ts_task *t, uint64_t seq, int result);  /* from any thread */
void ts__wake_local(ts_task *t, uint64_t seq, int result);
void ts__cancel_local(ts_task *t);
void ts__start_local(ts_loop *loop, ts_task *t);
void ts__switch(ts_loop *loop, ts_task *from, ts_task *to);  /* NULL = the scheduler */
void ts__after_switch(ts_loop *loop);
__attribute__((noreturn)) void ts__finish(ts_task *t, enum ts_state outcome);
int ts__take_cancel(ts_task *t);                      /* -ECANCELED if one was pending */

/* waiters */
void ts__waiter_add(struct ts_waiter **head, struct ts_waiter *w, ts_task *t, uint64_t seq);
void ts__waiter_del(struct ts_waiter *w);
void ts__waiters_wake_all(struct ts_waiter **head, int result);
bool ts__waiters_wake_one(struct ts_waiter **head, int result);

/* stack.c */
int ts__stack_get(ts_loop *loop, ts_task *t);
void ts__stack_put(ts_loop *loop, ts_task *t);
void ts__stack_pool_free(ts_loop *loop);
void ts__overflow_handler_install(ts_loop *loop);
void ts__overflow_handler_remove(ts_loop *loop);

/* debug.c */
int ts__loop_table_add(ts_loop *loop);
void ts__loop_table_del(ts_loop *loop);

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
