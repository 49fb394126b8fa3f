/* SPDX-License-Identifier: MIT */
/* Switching between tasks on one loop: suspend, wake, cancel delivery, finish.
 * A task that suspends switches straight to the next ready task; only when none is ready,
 * or after TS_DIRECT_SWITCH_BUDGET direct switches, does it go back to the scheduler. */
#include "internal.h"
#include "ctx.h"

#include <errno.h>
#include <stdlib.h>

#ifdef TS_ASAN
#include <sanitizer/asan_interface.h>
#endif
#ifdef TS_TSAN
#include <sanitizer/tsan_interface.h>
#endif

static inline struct ts_ctx *ctx_of(ts_loop *loop, ts_task *t)
{
	return t ? &t->ctx : &loop->sched;
}

/* Inlined into the yield and suspend paths: every nanosecond of a switch shows. */
static inline __attribute__((always_inline)) void do_switch(ts_loop *loop, ts_task *from,
							    ts_task *to, bool traced)
{
	struct ts_ctx *fc = ctx_of(loop, from), *tc = ctx_of(loop, to);

	if (traced)
		ts__trace_switch(loop, from, to);
	loop->current = to;
	ts_store(&loop->current_id, to ? to->id : 0);
	if (to) {
		to->switches++;
		ts_store(&to->state, TS_RUNNING);
	}
#ifdef TS_ASAN
	/* A finished task never comes back: NULL tells ASan to drop its fake stack. */
	bool dying = from && ts_load(&from->state) >= TS_DONE;
	__sanitizer_start_switch_fiber(dying ? NULL : &fc->asan_fake_stack, tc->stack.lo,
				       (size_t)((char *)tc->stack.hi - (char *)tc->stack.lo));
#endif
#ifdef TS_TSAN
	__tsan_switch_to_fiber(tc->tsan_fiber, 0);
#endif
	ts__ctx_switch(&fc->sp, tc->sp);
	ts__after_switch(loop);
}

void ts__switch(ts_loop *loop, ts_task *from, ts_task *to)
{
	do_switch(loop, from, to, TS_TRACING());
}

/* Runs first in whichever context was just resumed. */
static void release_dead(ts_loop *loop);

/* The scheduler runs on the thread's own stack; sanitizers need to know it as a fiber too. */
void ts__sched_init(ts_loop *loop)
{
#ifdef TS_TSAN
	if (!loop->sched.tsan_fiber)
		loop->sched.tsan_fiber = __tsan_get_current_fiber();
#endif
#ifdef TS_ASAN
	pthread_attr_t attr;
	void *lo;
	size_t size;
	if (!loop->sched.stack.lo && !pthread_getattr_np(pthread_self(), &attr)) {
		if (!pthread_attr_getstack(&attr, &lo, &size)) {
			loop->sched.stack.lo = lo;
			loop->sched.stack.hi = (char *)lo + size;
		}
		pthread_attr_destroy(&attr);
	}
#endif
	(void)loop;
}

void ts__after_switch(ts_loop *loop)
{
#ifdef TS_ASAN
	struct ts_ctx *c = ctx_of(loop, loop->current);
	__sanitizer_finish_switch_fiber(c->asan_fake_stack, NULL, NULL);
#endif
	if (__builtin_expect(loop->dead != NULL, 0))
		release_dead(loop);
}

static void release_dead(ts_loop *loop)
{
	ts_task *dead = loop->dead;
	loop->dead = NULL;
	ts__stack_put(&loop->pool, &dead->ctx.stack);
	ts_task_unref(dead); /* the loop's reference */
}

/* Leave the current task (already queued or waiting) for the next ready one. */
static inline __attribute__((always_inline)) void schedule_away(ts_loop *loop, ts_task *self,
								  bool traced)
{
	ts_task *next = ts__ready_pop(loop);
	if (next == self)
		return ts_store(&self->state, TS_RUNNING); /* alone: a yield is a no-op */
	do_switch(loop, self, next, traced);
}

static inline __attribute__((always_inline)) int take_cancel(ts_task *t)
{
	/* A plain load first: the locked exchange is paid only when a cancel is pending. */
	if (ts_load(&t->cancel_pending) &&
	    __atomic_exchange_n(&t->cancel_pending, 0, __ATOMIC_ACQ_REL)) {
		t->cancelled = true;
		return -ECANCELED;
	}
	return 0;
}

int ts__take_cancel(ts_task *t)
{
	return take_cancel(t);
}

uint32_t ts__wait_begin(ts_task *t)
{
	return ++t->wait_seq;
}

/* traced is a constant in each copy: the wait and the switch it leads to test the hot word
 * once, in suspend(), and the untraced copy has no test left. */
static inline __attribute__((always_inline)) int suspend_(ts_loop *loop, ts_task *t,
							    enum ts_wait reason, uint64_t obj,
							    const bool traced)
{
	int err = take_cancel(t);
	if (err)
		return err;
	/* relaxed atomics: ts_task_wait() may read them from another thread */
	__atomic_store_n(&t->wait, reason, __ATOMIC_RELAXED);
	__atomic_store_n(&t->wait_obj, obj, __ATOMIC_RELAXED);
	t->wake_result = 0;
	if (traced)
		ts__trace_wait(loop, t, reason, obj);
	/* ages from the loop's cached clock: a load and a store, no clock read here */
	if (reason == TS_WAIT_YIELD) {
		t->ready_since_ns = loop->now_ns;
		ts_store(&t->state, TS_READY);
		ts__ready_push(loop, t);
	} else {
		t->wait_since_ns = loop->now_ns;
		ts_store(&t->state, TS_WAITING);
	}
	schedule_away(loop, t, traced);
	__atomic_store_n(&t->wait, TS_WAIT_NONE, __ATOMIC_RELAXED);
	__atomic_store_n(&t->wait_obj, 0, __ATOMIC_RELAXED);
	err = t->wake_result;
	/* Back from a wait that no cancellation ended: if one was delivered earlier, the task
	 * swallowed it and went on (as catching CancelledError does): it finishes done. */
	if (err != -ECANCELED)
		t->cancelled = false;
	return err;
}

static __attribute__((noinline, cold)) int suspend_traced(ts_loop *loop, ts_task *t,
							   enum ts_wait reason, uint64_t obj)
{
	return suspend_(loop, t, reason, obj, true);
}

static inline __attribute__((always_inline)) int suspend(ts_loop *loop, ts_task *t,
							   enum ts_wait reason, uint64_t obj)
{
	if (TS_TRACING())
		return suspend_traced(loop, t, reason, obj);
	return suspend_(loop, t, reason, obj, false);
}

int ts__suspend(enum ts_wait reason, uint64_t obj)
{
	ts_loop *loop = ts__tls_loop;
	return suspend(loop, loop->current, reason, obj);
}

int ts_yield(void)
{
	ts_loop *loop = ts__tls_loop;
	ts_task *t = loop ? loop->current : NULL;
	if (!t)
		return -EPERM;
	return suspend(loop, t, TS_WAIT_YIELD, 0);
}

void ts__wake_local(ts_task *t, uint32_t seq, int result)
{
	if (ts_load(&t->state) != TS_WAITING || t->wait_seq != seq)
		return; /* stale: the task already left that wait */
	t->wake_result = result;
	t->wait_seq++;
	t->ready_since_ns = t->loop->now_ns;
	ts_store(&t->state, TS_READY);
	ts__ready_push(t->loop, t);
	if (TS_TRACING()) /* the instant it became ready: scheduling latency's start */
		ts__trace_ready(t->loop, t);
}

void ts__wake(ts_task *t, uint32_t seq, int result)
{
	if (t->loop == ts__tls_loop)
		ts__wake_local(t, seq, result);
	else
		ts__loop_post(t->loop, TS_MSG_WAKE, t, seq, result);
}

void ts__cancel_local(ts_task *t)
{
	if (ts_load(&t->state) == TS_WAITING && ts__take_cancel(t))
		ts__wake_local(t, t->wait_seq, -ECANCELED);
}

static void task_entry(void *arg)
{
	ts_task *t = arg;
	ts_loop *loop = t->loop;
	ts__after_switch(loop);
	if (ts__take_cancel(t)) {
		t->result = NULL;
		ts__finish(t, TS_CANCELLED); /* cancelled before it ever ran */
	}
	t->result = t->fn(t->arg);
	/* A cancel pending when it returns counts too, as in asyncio. */
	ts__finish(t, t->cancelled || ts__take_cancel(t) ? TS_CANCELLED : TS_DONE);
}

void ts__start_local(ts_loop *loop, ts_task *t)
{
	t->ctx.sp = ts__ctx_make(t->ctx.stack.lo, t->ctx.stack.hi, task_entry, t);
#ifdef TS_TSAN
	t->ctx.tsan_fiber = __tsan_create_fiber(0);
#endif
	ts__registry_add(loop, t);
	t->ready_since_ns = loop->now_ns;
	ts_store(&t->state, TS_PENDING); /* queued, but pending until it first runs */
	ts__ready_push(loop, t);
	if (TS_TRACING())
		ts__trace_ready(loop, t);
}

void ts__finish(ts_task *t, enum ts_state outcome)
{
	ts_loop *loop = t->loop;

	if (t->timer_index >= 0)
		ts__timer_del(loop, t);
	ts__registry_del(loop, t);
	/* One store of the state tells outside readers: no seq around it. Under the lock, so an
	 * awaiter either sees it done or is in the list woken here. */
	pthread_mutex_t *lock = ts__task_lock(t);
	pthread_mutex_lock(lock);
	ts_store(&t->state, outcome);
	ts__waiters_wake_all(&t->waiters, 0);
	pthread_mutex_unlock(lock);
	if (TS_TRACING_OR(task_finish))
		ts__trace_finish(loop, t, outcome);

	loop->dead = t; /* the next context releases our stack; we are still on it */
	ts__switch(loop, t, ts__ready_pop(loop));
	abort(); /* unreachable: nothing resumes a finished task */
}

void ts__waiter_add(struct ts_waiter **head, struct ts_waiter *w, ts_task *t, uint32_t seq)
{
	w->task = t;
	w->seq = seq;
	w->next = *head;
	w->pprev = head;
	if (*head)
		(*head)->pprev = &w->next;
	*head = w;
}

/* Wake every waiter and unlink it, so that its owner's later ts__waiter_del is a no-op. */
void ts__waiters_wake_all(struct ts_waiter **head, int result)
{
	struct ts_waiter *w = *head, *next;
	*head = NULL;
	for (; w; w = next) {
		next = w->next;
		w->pprev = NULL;
		ts__wake(w->task, w->seq, result);
	}
}

/* Wake the oldest waiter (the list's tail) and unlink it; false when there is none. */
bool ts__waiters_wake_one(struct ts_waiter **head, int result)
{
	struct ts_waiter *w = *head;
	if (!w)
		return false;
	while (w->next)
		w = w->next;
	ts__waiter_del(w);
	ts__wake(w->task, w->seq, result);
	return true;
}

void ts__waiter_del(struct ts_waiter *w)
{
	if (!w->pprev)
		return;
	*w->pprev = w->next;
	if (w->next)
		w->next->pprev = w->pprev;
	w->pprev = NULL;
}
