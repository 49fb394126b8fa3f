/* SPDX-License-Identifier: MIT */
/* ts_event between loops: one set wakes waiters on every loop; clear; cancelled waits. */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include <taskscope/taskscope.h>
#include "check.h"

static ts_loop *b_loop, *c_loop;
static ts_event *ev;

/* Wait, as a task, until t is suspended in a wait: another loop's thread may take a while
 * to start it (much longer under TSan). */
static int until_waiting(ts_task *t)
{
	for (int i = 0; i < 20000 && ts_task_state(t) != TS_WAITING; i++)
		ts_sleep_ms(1);
	return ts_task_state(t) == TS_WAITING;
}

static void *waits(void *arg)
{
	(void)arg;
	return (void *)(long)ts_event_wait(ev);
}

static void *sets_for_all(void *arg)
{
	(void)arg;
	ts_task *t[3] = {
		ts_spawn_on(b_loop, waits, NULL, NULL),
		ts_spawn_on(c_loop, waits, NULL, NULL),
		ts_spawn(waits, NULL),
	};
	for (int i = 0; i < 3; i++)
		CHECK(until_waiting(t[i]));
	CHECK(!ts_event_is_set(ev));
	ts_event_set(ev);
	CHECK(ts_event_is_set(ev));
	for (int i = 0; i < 3; i++) {
		void *r = (void *)1;
		CHECK_EQ(ts_await(t[i], &r), 0);
		CHECK_EQ((long)r, 0);
		ts_task_unref(t[i]);
	}
	/* set: waiting returns at once, on any loop */
	CHECK_EQ(ts_event_wait(ev), 0);
	ts_task *late = ts_spawn_on(b_loop, waits, NULL, NULL);
	CHECK_EQ(ts_await(late, NULL), 0);
	ts_task_unref(late);
	return NULL;
}

TEST(set_wakes_waiters_on_all_loops)
{
	b_loop = ts_loop_start();
	c_loop = ts_loop_start();
	ev = ts_event_new();
	ts_run(sets_for_all, NULL);
	ts_event_free(ev);
	ts_loop_stop(b_loop);
	ts_loop_stop(c_loop);
}

/* set from a task on another loop wakes a waiter here */
static void *sets_later(void *arg)
{
	(void)arg;
	ts_sleep_ms(5);
	ts_event_set(ev);
	return NULL;
}

static void *waits_for_remote_set(void *arg)
{
	(void)arg;
	uint64_t t0 = ts_now_ns(); /* before the spawn: the setter may start at once */
	ts_task *s = ts_spawn_on(b_loop, sets_later, NULL, NULL);
	CHECK_EQ(ts_event_wait(ev), 0);
	CHECK(ts_now_ns() - t0 >= 5000000ull);
	ts_await(s, NULL);
	ts_task_unref(s);
	return NULL;
}

TEST(set_from_other_loop)
{
	b_loop = ts_loop_start();
	ev = ts_event_new();
	ts_run(waits_for_remote_set, NULL);
	ts_event_free(ev);
	ts_loop_stop(b_loop);
}

/* clear: waiters block again */
static void *clears(void *arg)
{
	(void)arg;
	ts_event_set(ev);
	ts_event_clear(ev);
	CHECK(!ts_event_is_set(ev));
	ts_task *w = ts_spawn_on(b_loop, waits, NULL, NULL);
	CHECK(until_waiting(w));
	ts_event_set(ev);
	CHECK_EQ(ts_await(w, NULL), 0);
	ts_task_unref(w);
	return NULL;
}

TEST(clear_blocks_again)
{
	b_loop = ts_loop_start();
	ev = ts_event_new();
	ts_run(clears, NULL);
	ts_event_free(ev);
	ts_loop_stop(b_loop);
}

/* a cancelled waiter leaves; the others still get the set */
static void *cancels_one_waiter(void *arg)
{
	(void)arg;
	ts_task *a = ts_spawn_on(b_loop, waits, NULL, NULL);
	ts_task *b = ts_spawn_on(b_loop, waits, NULL, NULL);
	CHECK(until_waiting(a) && until_waiting(b));
	CHECK_EQ(ts_cancel(a), 0);
	CHECK_EQ(ts_await(a, NULL), -ECANCELED);
	CHECK_EQ((long)ts_task_result(a), -ECANCELED);
	CHECK_EQ(ts_task_state(b), TS_WAITING);
	ts_event_set(ev);
	void *r = (void *)1;
	CHECK_EQ(ts_await(b, &r), 0);
	CHECK_EQ((long)r, 0);
	ts_task_unref(a);
	ts_task_unref(b);
	return NULL;
}

TEST(cancelled_wait_across_loops)
{
	b_loop = ts_loop_start();
	ev = ts_event_new();
	ts_run(cancels_one_waiter, NULL);
	ts_event_free(ev);
	ts_loop_stop(b_loop);
}

/* set from a thread that runs no loop */
static void *plain_thread_sets(void *arg)
{
	usleep(2000);
	ts_event_set(arg);
	return NULL;
}

static void *waits_for_plain_thread(void *arg)
{
	(void)arg;
	pthread_t th;
	ts_task *w = ts_spawn_on(b_loop, waits, NULL, NULL);
	CHECK(until_waiting(w));
	CHECK_EQ(pthread_create(&th, NULL, plain_thread_sets, ev), 0);
	CHECK_EQ(ts_event_wait(ev), 0);
	CHECK_EQ(ts_await(w, NULL), 0);
	pthread_join(th, NULL);
	ts_task_unref(w);
	return NULL;
}

TEST(set_from_plain_thread)
{
	b_loop = ts_loop_start();
	ev = ts_event_new();
	ts_run(waits_for_plain_thread, NULL);
	ts_event_free(ev);
	ts_loop_stop(b_loop);
}

TEST(wait_outside_task)
{
	ev = ts_event_new();
	CHECK_EQ(ts_event_wait(ev), -EPERM);
	ts_event_free(ev);
	ts_event_free(NULL);
}

int main(void)
{
	RUN(set_wakes_waiters_on_all_loops);
	RUN(set_from_other_loop);
	RUN(clear_blocks_again);
	RUN(cancelled_wait_across_loops);
	RUN(set_from_plain_thread);
	RUN(wait_outside_task);
	return DONE();
}
