/* SPDX-License-Identifier: MIT */
/* ts_cancel on one loop: a sleeping task, a task not started yet, a finished one, an awaiter,
 * and the tasks still alive when ts_run's main returns. Across loops: test_thread_cancel.c. */
#include <errno.h>
#include <string.h>
#include <taskscope/taskscope.h>
#include "check.h"

#define MS 1000000ull

static int reached_end;

static void *sleeps_long(void *arg)
{
	(void)arg;
	int err = ts_sleep_ms(60000);
	CHECK_EQ(err, -ECANCELED);
	reached_end = 1; /* the task may clean up and return: it still finishes cancelled */
	return (void *)1;
}

static void *cancels_sleeper(void *arg)
{
	(void)arg;
	reached_end = 0;
	ts_task *t = ts_spawn(sleeps_long, NULL);
	ts_yield();
	CHECK_EQ(ts_task_state(t), TS_WAITING);
	uint64_t t0 = ts_now_ns();
	CHECK_EQ(ts_cancel(t), 0);
	CHECK_EQ(ts_await(t, NULL), -ECANCELED);
	CHECK(ts_now_ns() - t0 < 30000 * MS); /* woken by the cancel, not the timer */
	CHECK(reached_end);
	CHECK_EQ(ts_task_state(t), TS_CANCELLED);
	CHECK_EQ(ts_cancel(t), -EALREADY);
	ts_task_unref(t);
	return NULL;
}

TEST(cancel_sleeping_task) { ts_run(cancels_sleeper, NULL); }

static int started;

static void *never_starts(void *arg)
{
	(void)arg;
	started = 1;
	return NULL;
}

static void *cancels_unstarted(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn(never_starts, NULL);
	CHECK_EQ(ts_task_state(t), TS_PENDING);
	CHECK_EQ(ts_cancel(t), 0);
	CHECK_EQ(ts_await(t, NULL), -ECANCELED);
	CHECK(!started); /* its function never ran */
	CHECK_EQ(ts_task_state(t), TS_CANCELLED);
	ts_task **v;
	int n = ts_all_tasks(&v);
	CHECK_EQ(n, 1);
	ts_tasks_free(v, n);
	ts_task_unref(t);
	return NULL;
}

TEST(cancel_not_yet_started_task) { ts_run(cancels_unstarted, NULL); }

static void *returns_at_once(void *arg) { return arg; }

static void *cancels_finished(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn(returns_at_once, (void *)3);
	void *r = NULL;
	CHECK_EQ(ts_await(t, &r), 0);
	CHECK_EQ(ts_cancel(t), -EALREADY);
	CHECK_EQ(ts_task_state(t), TS_DONE); /* unchanged */
	CHECK_EQ(ts_await(t, &r), 0);
	CHECK(r == (void *)3);
	ts_task_unref(t);
	return NULL;
}

TEST(cancel_finished_task_is_ealready) { ts_run(cancels_finished, NULL); }

/* Cancelling a task blocked in ts_await cancels the awaiter, not the awaited. */
static ts_task *target;

static void *awaits_target(void *arg)
{
	(void)arg;
	CHECK_EQ(ts_await(target, NULL), -ECANCELED);
	CHECK(!ts_task_done(target));
	return NULL;
}

static void *sleeps_20ms(void *arg)
{
	(void)arg;
	CHECK_EQ(ts_sleep_ms(20), 0);
	return (void *)9;
}

static void *cancels_awaiter(void *arg)
{
	(void)arg;
	target = ts_spawn(sleeps_20ms, NULL);
	ts_task *w = ts_spawn(awaits_target, NULL);
	ts_yield();
	CHECK_EQ(ts_task_state(w), TS_WAITING);
	CHECK_EQ(ts_cancel(w), 0);
	CHECK_EQ(ts_await(w, NULL), -ECANCELED);
	void *r = NULL;
	CHECK_EQ(ts_await(target, &r), 0); /* the target ran on, unharmed */
	CHECK(r == (void *)9);
	ts_task_unref(w);
	ts_task_unref(target);
	return NULL;
}

TEST(cancel_awaiter_leaves_target) { ts_run(cancels_awaiter, NULL); }

/* A cancel requested while the task is ready (not waiting) waits for its next suspension. */
static int steps;

static void *counts_steps(void *arg)
{
	(void)arg;
	steps = 1;
	CHECK_EQ(ts_yield(), 0); /* cancelled while ready here: this yield had already returned */
	steps = 2;
	CHECK_EQ(ts_yield(), -ECANCELED);
	steps = 3;
	return NULL;
}

static void *cancels_ready(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn(counts_steps, NULL);
	ts_yield(); /* t runs to its first yield */
	CHECK_EQ(steps, 1);
	CHECK_EQ(ts_task_state(t), TS_READY);
	CHECK_EQ(ts_cancel(t), 0);
	CHECK_EQ(ts_await(t, NULL), -ECANCELED);
	CHECK_EQ(steps, 3);
	ts_task_unref(t);
	return NULL;
}

TEST(cancel_ready_task_at_next_suspension) { ts_run(cancels_ready, NULL); }

/* Cancelling twice before delivery is one cancellation. */
static void *cancelled_once(void *arg)
{
	(void)arg;
	ts_task *self = ts_current_task();
	CHECK_EQ(ts_cancel(self), 0);
	CHECK_EQ(ts_cancel(self), 0);
	CHECK_EQ(ts_yield(), -ECANCELED);
	CHECK_EQ(ts_yield(), 0);
	return NULL;
}

static void *runs_cancelled_once(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn(cancelled_once, NULL);
	CHECK_EQ(ts_await(t, NULL), 0); /* it went on after -ECANCELED: swallowed, done */
	ts_task_unref(t);
	return NULL;
}

TEST(double_cancel_delivered_once) { ts_run(runs_cancelled_once, NULL); }

/* When main returns, ts_run cancels the tasks still waiting, as asyncio.run does. (A task
 * spawned just before main returns is ready and runs first, as in asyncio.) */
static ts_task *leftover[2];
static int leftover_saw;

static void *sleeps_and_notes(void *arg)
{
	(void)arg;
	if (ts_sleep_ms(60000) == -ECANCELED)
		leftover_saw++;
	return NULL;
}

static void *leaves_tasks(void *arg)
{
	(void)arg;
	leftover[0] = ts_spawn(sleeps_and_notes, NULL);
	ts_yield();
	leftover[1] = ts_spawn(sleeps_and_notes, NULL); /* runs before the loop checks main */
	return (void *)11;
}

TEST(run_cancels_leftover_tasks)
{
	leftover_saw = 0;
	uint64_t t0 = ts_now_ns();
	CHECK(ts_run(leaves_tasks, NULL) == (void *)11);
	CHECK(ts_now_ns() - t0 < 30000 * MS);
	CHECK_EQ(leftover_saw, 2);
	CHECK_EQ(ts_task_state(leftover[0]), TS_CANCELLED);
	CHECK_EQ(ts_task_state(leftover[1]), TS_CANCELLED);
	ts_task_unref(leftover[0]);
	ts_task_unref(leftover[1]);
}

/* How a cancelled task finishes is its choice, as in asyncio: returning right after
 * -ECANCELED lets the cancellation through (cancelled, above); going on after it swallows it. */
static int swallow_steps;

static void *swallows(void *arg)
{
	(void)arg;
	CHECK_EQ(ts_sleep_ms(60000), -ECANCELED);
	swallow_steps = 1;
	CHECK_EQ(ts_sleep_ms(1), 0); /* carries on: a wait that no cancellation ended */
	swallow_steps = 2;
	return (void *)42;
}

/* Cleans up with a wait, then cancels itself again to finish cancelled (asyncio's `raise`). */
static void *cleans_up_and_reraises(void *arg)
{
	(void)arg;
	CHECK_EQ(ts_sleep_ms(60000), -ECANCELED);
	CHECK_EQ(ts_sleep_ms(1), 0); /* the clean-up */
	ts_cancel(ts_current_task());
	return (void *)43;
}

/* Cancelled while running, returns without passing a suspension point: still cancelled. */
static void *cancels_self_and_returns(void *arg)
{
	(void)arg;
	CHECK_EQ(ts_cancel(ts_current_task()), 0);
	return (void *)44;
}

static void *cancels_each(void *arg)
{
	(void)arg;
	char buf[256];
	ts_task *s = ts_spawn_named(swallows, NULL, "swallower");
	ts_task *c = ts_spawn(cleans_up_and_reraises, NULL);
	ts_task *p = ts_spawn(cancels_self_and_returns, NULL);
	ts_yield(); /* s and c asleep, p done */
	CHECK_EQ(ts_cancel(s), 0);
	CHECK_EQ(ts_cancel(c), 0);

	void *r = NULL;
	CHECK_EQ(ts_await(s, &r), 0);
	CHECK_EQ((long)r, 42);
	CHECK_EQ(swallow_steps, 2);
	CHECK_EQ(ts_task_state(s), TS_DONE);
	ts_task_format(s, buf, sizeof(buf));
	CHECK(strncmp(buf, "<Task finished name='swallower' coro=<swallows()> result=", 57) == 0);

	CHECK_EQ(ts_await(c, NULL), -ECANCELED);
	CHECK_EQ(ts_task_state(c), TS_CANCELLED);
	CHECK_EQ(ts_await(p, NULL), -ECANCELED);
	CHECK_EQ(ts_task_state(p), TS_CANCELLED);
	ts_task_unref(s);
	ts_task_unref(c);
	ts_task_unref(p);
	return NULL;
}

TEST(swallowed_cancel_finishes_done) { ts_run(cancels_each, NULL); }

int main(void)
{
	RUN(cancel_sleeping_task);
	RUN(cancel_not_yet_started_task);
	RUN(cancel_finished_task_is_ealready);
	RUN(cancel_awaiter_leaves_target);
	RUN(cancel_ready_task_at_next_suspension);
	RUN(double_cancel_delivered_once);
	RUN(run_cancels_leftover_tasks);
	RUN(swallowed_cancel_finishes_done);
	return DONE();
}
