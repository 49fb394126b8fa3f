/* SPDX-License-Identifier: MIT */
/* ts_cancel of a task on another loop: sleeping, waiting on an fd, awaiting across threads,
 * and cancels racing with the task finishing. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <taskscope/taskscope.h>
#include "check.h"

static ts_loop *b_loop;

/* Wait, as a task, until t is suspended in a wait: another loop's thread may take a while
 * to start it (much longer under TSan). */
static int until_waiting(ts_task *t)
{
	for (int i = 0; i < 20000 && ts_task_state(t) != TS_WAITING; i++)
		ts_sleep_ms(1);
	return ts_task_state(t) == TS_WAITING;
}

static void *sleeps_long(void *arg)
{
	(void)arg;
	return (void *)(long)ts_sleep_ms(60000);
}

static void *cancels_remote_sleeper(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn_on(b_loop, sleeps_long, NULL, "sleeper");
	CHECK(until_waiting(t));
	uint64_t t0 = ts_now_ns();
	CHECK_EQ(ts_cancel(t), 0);
	CHECK_EQ(ts_await(t, NULL), -ECANCELED);
	CHECK(ts_now_ns() - t0 < 30ull * 1000000000ull);
	CHECK_EQ((long)ts_task_result(t), -ECANCELED);
	CHECK_EQ(ts_task_state(t), TS_CANCELLED);
	CHECK_EQ(ts_cancel(t), -EALREADY);
	ts_task_unref(t);
	return NULL;
}

TEST(cancel_sleeping_task_on_other_loop)
{
	b_loop = ts_loop_start();
	ts_run(cancels_remote_sleeper, NULL);
	ts_loop_stop(b_loop);
}

static int fds[2];

static void *waits_fd(void *arg)
{
	(void)arg;
	return (void *)(long)ts_wait_fd(fds[0], TS_READ, -1);
}

static void *cancels_remote_fd_waiter(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn_on(b_loop, waits_fd, NULL, NULL);
	CHECK(until_waiting(t));
	CHECK_EQ(ts_cancel(t), 0);
	CHECK_EQ(ts_await(t, NULL), -ECANCELED);
	CHECK_EQ((long)ts_task_result(t), -ECANCELED);
	ts_task_unref(t);
	/* the fd left B's epoll set: a new waiter there gets the data */
	t = ts_spawn_on(b_loop, waits_fd, NULL, NULL);
	CHECK(until_waiting(t));
	CHECK_EQ(write(fds[1], "x", 1), 1);
	void *r = NULL;
	CHECK_EQ(ts_await(t, &r), 0);
	CHECK_EQ((long)r, TS_READ);
	ts_task_unref(t);
	return NULL;
}

TEST(cancel_fd_waiter_on_other_loop)
{
	CHECK_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	b_loop = ts_loop_start();
	ts_run(cancels_remote_fd_waiter, NULL);
	ts_loop_stop(b_loop);
	close(fds[0]);
	close(fds[1]);
}

/* a task on B awaits a task on A; cancelling the awaiter from A */
static ts_task *a_task;

static void *awaits_a(void *arg)
{
	(void)arg;
	return (void *)(long)ts_await(a_task, NULL);
}

static void *cancels_remote_awaiter(void *arg)
{
	(void)arg;
	a_task = ts_spawn(sleeps_long, NULL);
	ts_task *w = ts_spawn_on(b_loop, awaits_a, NULL, NULL);
	CHECK(until_waiting(w));
	CHECK_EQ(ts_cancel(w), 0);
	CHECK_EQ(ts_await(w, NULL), -ECANCELED);
	CHECK_EQ((long)ts_task_result(w), -ECANCELED);
	CHECK(!ts_task_done(a_task)); /* the awaited one goes on */
	ts_cancel(a_task);
	CHECK_EQ(ts_await(a_task, NULL), -ECANCELED);
	ts_task_unref(w);
	ts_task_unref(a_task);
	return NULL;
}

TEST(cancel_cross_thread_awaiter)
{
	b_loop = ts_loop_start();
	ts_run(cancels_remote_awaiter, NULL);
	ts_loop_stop(b_loop);
}

/* cancels racing with tasks that finish on their own: each ends done or cancelled, and an
 * awaiter on the other loop always learns which */
#define RACES 2000

static void *short_sleep(void *arg)
{
	ts_sleep_ns((uint64_t)(long)arg * 1000);
	return (void *)1;
}

static void *races(void *arg)
{
	(void)arg;
	long done = 0, cancelled = 0, other = 0;
	for (long i = 0; i < RACES; i++) {
		ts_task *t = ts_spawn_on(b_loop, short_sleep, (void *)(i % 50), NULL);
		if (i % 3)
			ts_yield();
		ts_cancel(t);
		int err = ts_await(t, NULL);
		enum ts_state s = ts_task_state(t);
		if (err == 0 && s == TS_DONE)
			done++;
		else if (err == -ECANCELED && s == TS_CANCELLED)
			cancelled++;
		else
			other++;
		ts_task_unref(t);
	}
	CHECK_EQ(other, 0);
	CHECK_EQ(done + cancelled, RACES);
	return NULL;
}

TEST(cancel_races_finish)
{
	b_loop = ts_loop_start();
	ts_run(races, NULL);
	ts_loop_stop(b_loop);
}

int main(void)
{
	RUN(cancel_sleeping_task_on_other_loop);
	RUN(cancel_fd_waiter_on_other_loop);
	RUN(cancel_cross_thread_awaiter);
	RUN(cancel_races_finish);
	return DONE();
}
