/* SPDX-License-Identifier: MIT */
/* One event loop per thread: ready queue, timer heap, epoll, and an inbox (mutex + eventfd)
 * through which other threads spawn, wake and cancel this loop's tasks. */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <taskscope/probes.h>

__thread ts_loop *ts__tls_loop __attribute__((tls_model("initial-exec")));
static uint64_t next_loop_id = 1;

uint64_t ts_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t ts__coarse_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

ts_loop *ts__loop_new(void)
{
	/* A child made without fork()'s handlers (raw clone(), _Fork()) gets its probes back
	 * here, before its first loop runs (include/taskscope/probes.h, "Forked children"). */
	TASKSCOPE_AFTER_FORK();
	ts_loop *loop = aligned_alloc(_Alignof(ts_loop), sizeof(*loop)); /* ringw's cache line */
	if (!loop)
		return NULL;
	memset(loop, 0, sizeof(*loop));
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epfd < 0 || loop->evfd < 0)
		goto fail;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->evfd, &ev))
		goto fail;
	loop->id = __atomic_fetch_add(&next_loop_id, 1, __ATOMIC_RELAXED);
	loop->inbox_tail = &loop->inbox_head;
	pthread_mutex_init(&loop->inbox_lock, NULL);
	pthread_mutex_init(&loop->start_lock, NULL);
	pthread_cond_init(&loop->start_cond, NULL);
	loop->slot = -1;
	loop->now_ns = ts__coarse_now_ns();
	return loop;
fail:
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->evfd > 0)
		close(loop->evfd);
	free(loop);
	return NULL;
}

void ts__loop_free(ts_loop *loop)
{
	if (!loop)
		return;
	/* the ring first: its entry in ring.c's table is the loop's slot + 1, which another
	 * loop may take as soon as this one leaves the table */
	ts__ring_free(loop);
	ts__loop_table_del(loop);
	for (struct ts_msg *m = loop->inbox_head, *next; m; m = next) {
		next = m->next;
		ts_task_unref(m->task);
		free(m);
	}
	ts__stack_pool_drain(&loop->pool);
	ts__task_cache_free(loop);
	close(loop->epfd);
	close(loop->evfd);
	free(loop->tasks);
	free(loop->timers);
	pthread_mutex_destroy(&loop->inbox_lock);
	pthread_mutex_destroy(&loop->start_lock);
	pthread_cond_destroy(&loop->start_cond);
	free(loop);
}

/* ---- timers: a binary min-heap by deadline, each task in it at most once ---- */

static void heap_set(ts_loop *loop, uint32_t i, struct ts_timer tm)
{
	loop->timers[i] = tm;
	tm.task->timer_index = (int32_t)i;
	if (i == 0) /* for outside readers: how late the loop is while it cannot look */
		loop->timer_next_ns = tm.deadline;
}

static void heap_up(ts_loop *loop, uint32_t i)
{
	struct ts_timer tm = loop->timers[i];
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (loop->timers[p].deadline <= tm.deadline)
			break;
		heap_set(loop, i, loop->timers[p]);
		i = p;
	}
	heap_set(loop, i, tm);
}

static void heap_down(ts_loop *loop, uint32_t i)
{
	struct ts_timer tm = loop->timers[i];
	uint32_t n = loop->ntimers;
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && loop->timers[c + 1].deadline < loop->timers[c].deadline)
			c++;
		if (tm.deadline <= loop->timers[c].deadline)
			break;
		heap_set(loop, i, loop->timers[c]);
		i = c;
	}
	heap_set(loop, i, tm);
}

void ts__timer_add(ts_loop *loop, ts_task *t, uint64_t deadline)
{
	if (loop->ntimers == loop->timers_cap) {
		uint32_t cap = loop->timers_cap ? loop->timers_cap * 2 : 64;
		struct ts_timer *n = realloc(loop->timers, cap * sizeof(*n));
		if (!n)
			abort();
		loop->timers = n;
		loop->timers_cap = cap;
	}
	loop->timers[loop->ntimers] = (struct ts_timer){ deadline, t };
	heap_up(loop, loop->ntimers++);
}

void ts__timer_del(ts_loop *loop, ts_task *t)
{
	uint32_t i = (uint32_t)t->timer_index;
	t->timer_index = -1;
	uint32_t last = --loop->ntimers;
	if (last == 0)
		loop->timer_next_ns = 0;
	if (i != last) {
		heap_set(loop, i, loop->timers[last]);
		if (i > 0 && loop->timers[(i - 1) / 2].deadline > loop->timers[i].deadline)
			heap_up(loop, i);
		else
			heap_down(loop, i);
	}
	if (loop->timers_cap > 1024 && loop->ntimers < loop->timers_cap / 4) {
		struct ts_timer *n = realloc(loop->timers, loop->timers_cap / 2 * sizeof(*n));
		if (n) { /* else keep the larger heap */
			loop->timers = n;
			loop->timers_cap /= 2;
		}
	}
}

/* How late a timer fired: the last one, and the latest of the current window (debug.h). */
static void note_lag(ts_loop *loop, uint64_t now, uint64_t late)
{
	loop->lag_ns = late;
	if (now - loop->lag_max_at_ns >= TS_DEBUG_LAG_WINDOW_NS) {
		loop->lag_max_at_ns = now;
		loop->lag_max_ns = late;
	} else if (late > loop->lag_max_ns) {
		loop->lag_max_ns = late;
	}
}

static void run_timers(ts_loop *loop, uint64_t now)
{
	while (loop->ntimers && loop->timers[0].deadline <= now) {
		ts_task *t = loop->timers[0].task;
		note_lag(loop, now, now - loop->timers[0].deadline);
		ts__timer_del(loop, t);
		ts__wake_local(t, t->wait_seq, -ETIMEDOUT);
	}
}

/* ---- inbox ---- */

void ts__loop_post(ts_loop *loop, enum ts_msg_kind kind, ts_task *t, uint32_t seq, int result)
{
	struct ts_msg *m = malloc(sizeof(*m));
	if (!m)
		abort();
	*m = (struct ts_msg){ .kind = kind, .task = ts_task_ref(t), .seq = seq, .result = result };
	pthread_mutex_lock(&loop->inbox_lock);
	__atomic_store_n(loop->inbox_tail, m, __ATOMIC_RELEASE); /* may be inbox_head: peeked */
	loop->inbox_tail = &m->next;
	pthread_mutex_unlock(&loop->inbox_lock);
	uint64_t one = 1;
	/* EAGAIN means the counter is already non-zero: the loop is being woken anyway. */
	(void)!write(loop->evfd, &one, sizeof(one));
}

static void drain_inbox(ts_loop *loop)
{
	if (!__atomic_load_n(&loop->inbox_head, __ATOMIC_ACQUIRE))
		return; /* an unlocked peek: a message posted after it is found on the next pass */
	pthread_mutex_lock(&loop->inbox_lock);
	struct ts_msg *m = loop->inbox_head;
	__atomic_store_n(&loop->inbox_head, NULL, __ATOMIC_RELAXED);
	loop->inbox_tail = &loop->inbox_head;
	pthread_mutex_unlock(&loop->inbox_lock);
	while (m) {
		struct ts_msg *next = m->next;
		switch (m->kind) {
		case TS_MSG_SPAWN:
			/* spawned from a thread with no ring: recorded here, where it lands */
			if (m->result && TS_TRACING())
				ts__ring_create(m->task);
			ts__start_local(loop, m->task);
			break;
		case TS_MSG_WAKE:
			ts__wake_local(m->task, m->seq, m->result);
			break;
		case TS_MSG_CANCEL:
			ts__cancel_local(m->task);
			break;
		}
		ts_task_unref(m->task);
		free(m);
		m = next;
	}
}

/* ---- the scheduler ---- */

static void cancel_all(ts_loop *loop)
{
	for (uint32_t i = 0; i < loop->ntasks; i++)
		ts_cancel(loop->tasks[i]);
}

void ts__loop_run(ts_loop *loop, ts_task *until)
{
	struct epoll_event evs[64];
	bool cancelled_all = false;

	ts__sched_init(loop);
	for (;;) {
		/* The loop's cached clock, read once a pass (a clock read costs more than many
		 * switches): the ages of waits and ready tasks come from it. Timers need the
		 * precise clock; without them the coarse one does. */
		if (loop->ntimers)
			loop->now_ns = ts_now_ns();
		else
			loop->now_ns = ts__coarse_now_ns();
		drain_inbox(loop);
		if (loop->ntimers)
			run_timers(loop, loop->now_ns);
		if (loop->ready_head) {
			loop->budget = TS_DIRECT_SWITCH_BUDGET;
			ts__switch(loop, NULL, ts__ready_pop(loop));
			/* back when no task is ready, or the budget is spent: poll without blocking */
		}
		if (until && ts_load(&until->state) >= TS_DONE)
			break;
		if (ts_load(&loop->stopping)) {
			if (loop->ntasks == 0 && !loop->ready_head)
				break;
			if (!cancelled_all) {
				cancel_all(loop);
				cancelled_all = true;
				continue;
			}
		}
		int timeout = -1;
		if (loop->ready_head) {
			/* Tasks are ready: poll only if some task waits on a file descriptor
			 * (messages from other threads are found by drain_inbox's peek). */
			if (!loop->nfd_waits)
				continue;
			timeout = 0;
		} else if (loop->ntimers) {
			uint64_t now = ts_now_ns(), d = loop->timers[0].deadline;
			uint64_t ms = d <= now ? 0 : (d - now) / 1000000 + 1;
			timeout = ms > INT_MAX ? INT_MAX : (int)ms;
		}
		int n = epoll_wait(loop->epfd, evs, 64, timeout);
		if (timeout && n > 0) /* it may have slept: the tasks it wakes became ready now */
			loop->now_ns = ts__coarse_now_ns();
		for (int i = 0; i < n; i++) {
			ts_task *t = evs[i].data.ptr;
			if (!t) {
				uint64_t v;
				(void)!read(loop->evfd, &v, sizeof(v));
				continue;
			}
			int r = 0;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				r |= TS_READ;
			if (evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
				r |= TS_WRITE;
			ts__wake_local(t, t->wait_seq, r);
		}
	}
}

/* ---- loop threads ---- */

static void *loop_thread(void *arg)
{
	ts_loop *loop = arg;
	loop->tid = gettid();
	ts__tls_loop = loop;
	ts__overflow_handler_install(loop);
	pthread_mutex_lock(&loop->start_lock);
	loop->start_err = ts__loop_table_add(loop);
	loop->started = true;
	pthread_cond_signal(&loop->start_cond);
	pthread_mutex_unlock(&loop->start_lock);
	if (loop->start_err) {
		ts__overflow_handler_remove(loop);
		return NULL;
	}
	if (TS_TRACING_OR(thread_start))
		ts__trace_thread(loop, false);
	ts__loop_run(loop, NULL);
	if (TS_TRACING_OR(thread_stop))
		ts__trace_thread(loop, true);
	ts__overflow_handler_remove(loop);
	ts__tls_loop = NULL;
	return NULL;
}

ts_loop *ts_loop_start(void)
{
	ts_loop *loop = ts__loop_new();
	if (!loop)
		return NULL;
	loop->own_thread = true;
	int err = pthread_create(&loop->thread, NULL, loop_thread, loop);
	if (err) {
		ts__loop_free(loop);
		errno = err;
		return NULL;
	}
	pthread_mutex_lock(&loop->start_lock);
	while (!loop->started)
		pthread_cond_wait(&loop->start_cond, &loop->start_lock);
	pthread_mutex_unlock(&loop->start_lock);
	if (loop->start_err) {
		pthread_join(loop->thread, NULL);
		errno = -loop->start_err;
		ts__loop_free(loop);
		return NULL;
	}
	return loop;
}

int ts_loop_stop(ts_loop *loop)
{
	if (!loop || !loop->own_thread)
		return -EINVAL;
	if (loop == ts__tls_loop)
		return -EDEADLK;
	ts_store(&loop->stopping, 1);
	uint64_t one = 1;
	(void)!write(loop->evfd, &one, sizeof(one));
	pthread_join(loop->thread, NULL);
	ts__loop_free(loop);
	return 0;
}

ts_loop *ts_current_loop(void)
{
	return ts__tls_loop;
}

int ts_loop_tid(const ts_loop *loop)
{
	return loop ? loop->tid : -1;
}
