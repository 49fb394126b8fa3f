/* SPDX-License-Identifier: MIT */
/* ts_queue between loops: order, blocking both ways, close (-EPIPE), cancelled get and put. */
#include <errno.h>
#include <unistd.h>
#include <taskscope/taskscope.h>
#include "check.h"

#define N 20000

static ts_loop *b_loop, *c_loop;
static ts_queue *q;

/* Wait, as a task, until t is suspended in a wait: another loop's thread may take a while
 * to start it (much longer under TSan). */
static int until_waiting(ts_task *t)
{
	for (int i = 0; i < 20000 && ts_task_state(t) != TS_WAITING; i++)
		ts_sleep_ms(1);
	return ts_task_state(t) == TS_WAITING;
}

static void *produces(void *arg)
{
	long from = (long)arg;
	for (long i = 0; i < N; i++)
		CHECK_EQ(ts_queue_put(q, (void *)(from + i)), 0);
	return NULL;
}

static void *consumes_in_order(void *arg)
{
	(void)arg;
	ts_task *p = ts_spawn_on(b_loop, produces, (void *)1L, "producer");
	long bad = 0;
	for (long i = 0; i < N; i++) {
		void *item = NULL;
		CHECK_EQ(ts_queue_get(q, &item), 0);
		bad += (long)item != i + 1;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(ts_await(p, NULL), 0);
	ts_task_unref(p);
	return NULL;
}

TEST(producer_consumer_across_loops)
{
	b_loop = ts_loop_start();
	q = ts_queue_new(4); /* small: the producer blocks on full, the consumer on empty */
	ts_run(consumes_in_order, NULL);
	ts_queue_free(q);
	ts_loop_stop(b_loop);
}

/* two producers on two loops, one consumer: every item once */
static void *consumes_two(void *arg)
{
	(void)arg;
	ts_task *p1 = ts_spawn_on(b_loop, produces, (void *)0L, NULL);
	ts_task *p2 = ts_spawn_on(c_loop, produces, (void *)(long)N, NULL);
	static char seen[2 * N];
	long dup = 0;
	for (long i = 0; i < 2 * N; i++) {
		void *item = NULL;
		CHECK_EQ(ts_queue_get(q, &item), 0);
		long v = (long)item;
		if (v < 0 || v >= 2 * N || seen[v]++)
			dup++;
	}
	CHECK_EQ(dup, 0);
	ts_await(p1, NULL);
	ts_await(p2, NULL);
	ts_task_unref(p1);
	ts_task_unref(p2);
	return NULL;
}

TEST(two_producers_one_consumer)
{
	b_loop = ts_loop_start();
	c_loop = ts_loop_start();
	q = ts_queue_new(8);
	ts_run(consumes_two, NULL);
	ts_queue_free(q);
	ts_loop_stop(b_loop);
	ts_loop_stop(c_loop);
}

/* close: a blocked getter on another loop wakes with -EPIPE; items put before the close are
 * still delivered; put after close is -EPIPE */
static void *drains_until_closed(void *arg)
{
	(void)arg;
	long got = 0;
	void *item;
	int err;
	while ((err = ts_queue_get(q, &item)) == 0)
		got++;
	return (void *)(err == -EPIPE ? got : -1000 + err);
}

static void *closes(void *arg)
{
	(void)arg;
	ts_task *g = ts_spawn_on(b_loop, drains_until_closed, NULL, NULL);
	CHECK_EQ(ts_queue_put(q, (void *)1), 0);
	CHECK_EQ(ts_queue_put(q, (void *)2), 0);
	ts_sleep_ms(5); /* the getter takes both and blocks on the empty queue */
	CHECK_EQ(ts_queue_put(q, (void *)3), 0);
	ts_queue_close(q);
	CHECK_EQ(ts_queue_put(q, (void *)4), -EPIPE);
	void *r = NULL;
	CHECK_EQ(ts_await(g, &r), 0);
	CHECK_EQ((long)r, 3);
	void *item;
	CHECK_EQ(ts_queue_get(q, &item), -EPIPE); /* closed and drained */
	ts_task_unref(g);
	return NULL;
}

TEST(close_wakes_getter_with_epipe)
{
	b_loop = ts_loop_start();
	q = ts_queue_new(16);
	ts_run(closes, NULL);
	ts_queue_free(q);
	ts_loop_stop(b_loop);
}

/* close also wakes a producer blocked on a full queue */
static void *fills(void *arg)
{
	(void)arg;
	int err;
	long n = 0;
	while ((err = ts_queue_put(q, (void *)n)) == 0)
		n++;
	return (void *)(long)err;
}

static void *closes_on_putter(void *arg)
{
	(void)arg;
	ts_task *p = ts_spawn_on(b_loop, fills, NULL, NULL);
	CHECK(until_waiting(p));
	ts_queue_close(q);
	void *r = NULL;
	CHECK_EQ(ts_await(p, &r), 0);
	CHECK_EQ((long)r, -EPIPE);
	void *item;
	CHECK_EQ(ts_queue_get(q, &item), 0); /* what was in stays readable */
	CHECK_EQ((long)item, 0);
	ts_task_unref(p);
	return NULL;
}

TEST(close_wakes_putter_with_epipe)
{
	b_loop = ts_loop_start();
	q = ts_queue_new(2);
	ts_run(closes_on_putter, NULL);
	ts_queue_free(q);
	ts_loop_stop(b_loop);
}

/* cancel of a get blocked on an empty queue, from another loop and from the same loop */
static void *gets_one(void *arg)
{
	(void)arg;
	void *item;
	return (void *)(long)ts_queue_get(q, &item);
}

static void *cancels_getters(void *arg)
{
	(void)arg;
	ts_task *remote = ts_spawn_on(b_loop, gets_one, NULL, NULL);
	ts_task *local = ts_spawn(gets_one, NULL);
	CHECK(until_waiting(remote));
	CHECK(until_waiting(local));
	CHECK_EQ(ts_cancel(remote), 0);
	CHECK_EQ(ts_cancel(local), 0);
	void *r = NULL;
	CHECK_EQ(ts_await(remote, &r), -ECANCELED);
	CHECK_EQ(ts_await(local, &r), -ECANCELED);
	CHECK_EQ((long)ts_task_result(remote), -ECANCELED); /* what get returned inside */
	CHECK_EQ((long)ts_task_result(local), -ECANCELED);
	/* the queue still works, and no cancelled getter swallows an item */
	ts_task *g = ts_spawn_on(b_loop, gets_one, NULL, NULL);
	CHECK_EQ(ts_queue_put(q, (void *)9), 0);
	CHECK_EQ(ts_await(g, &r), 0);
	CHECK_EQ((long)r, 0);
	ts_task_unref(g);
	ts_task_unref(remote);
	ts_task_unref(local);
	return NULL;
}

TEST(cancel_blocked_get)
{
	b_loop = ts_loop_start();
	q = ts_queue_new(1);
	ts_run(cancels_getters, NULL);
	ts_queue_free(q);
	ts_loop_stop(b_loop);
}

/* A getter that a put chose, but that is cancelled before it runs, must pass the wakeup on:
 * otherwise the item sits in the queue while another getter sleeps (asyncio.Queue.get does
 * this hand-over on cancellation). Loop B is kept busy so that the cancel and the wake-up
 * reach it together, the cancel first. */
static int hog_release, hog_running;

static void *hogs(void *arg)
{
	(void)arg;
	__atomic_store_n(&hog_running, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&hog_release, __ATOMIC_ACQUIRE))
		usleep(100);
	return NULL;
}

static void *cancel_races_put(void *arg)
{
	(void)arg;
	ts_task *g1 = ts_spawn_on(b_loop, gets_one, NULL, "g1");
	CHECK(until_waiting(g1));
	ts_task *g2 = ts_spawn_on(b_loop, gets_one, NULL, "g2");
	CHECK(until_waiting(g2));
	ts_task *h = ts_spawn_on(b_loop, hogs, NULL, NULL);
	while (!__atomic_load_n(&hog_running, __ATOMIC_ACQUIRE))
		ts_sleep_ms(1);
	CHECK_EQ(ts_cancel(g1), 0);
	CHECK_EQ(ts_queue_put(q, (void *)5), 0); /* wakes the oldest getter: g1 */
	__atomic_store_n(&hog_release, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2000 && !ts_task_done(g2); i++)
		ts_sleep_ms(1);
	CHECK(ts_task_done(g2)); /* the item went to g2 */
	ts_queue_close(q);      /* unblock g2 if it was left asleep */
	CHECK_EQ(ts_await(g1, NULL), -ECANCELED);
	CHECK_EQ(ts_await(g2, NULL), 0);
	ts_await(h, NULL);
	ts_task_unref(g1);
	ts_task_unref(g2);
	ts_task_unref(h);
	return NULL;
}

TEST(cancelled_getter_passes_wakeup_on)
{
	b_loop = ts_loop_start();
	q = ts_queue_new(4);
	ts_run(cancel_races_put, NULL);
	ts_queue_free(q);
	ts_loop_stop(b_loop);
}

/* The same on one loop: the cancel wakes g1 but leaves its waiter node in the list, so the
 * put picks g1 again, finds it already woken, and wakes nobody. */
static void *cancel_then_put_locally(void *arg)
{
	(void)arg;
	ts_task *g1 = ts_spawn_named(gets_one, NULL, "g1");
	ts_task *g2 = ts_spawn_named(gets_one, NULL, "g2");
	ts_yield(); /* both block on the empty queue */
	CHECK_EQ(ts_task_state(g2), TS_WAITING);
	CHECK_EQ(ts_cancel(g1), 0);
	CHECK_EQ(ts_queue_put(q, (void *)5), 0);
	CHECK_EQ(ts_await(g1, NULL), -ECANCELED);
	for (int i = 0; i < 100 && !ts_task_done(g2); i++)
		ts_sleep_ms(1);
	CHECK(ts_task_done(g2)); /* the item went to g2 */
	ts_queue_close(q);
	CHECK_EQ(ts_await(g2, NULL), 0);
	ts_task_unref(g1);
	ts_task_unref(g2);
	return NULL;
}

TEST(cancelled_getter_passes_wakeup_on_same_loop)
{
	q = ts_queue_new(4);
	ts_run(cancel_then_put_locally, NULL);
	ts_queue_free(q);
}

static void *cancels_putter(void *arg)
{
	(void)arg;
	CHECK_EQ(ts_queue_put(q, (void *)1), 0); /* full now */
	ts_task *p = ts_spawn_on(b_loop, fills, NULL, NULL);
	CHECK(until_waiting(p));
	CHECK_EQ(ts_cancel(p), 0);
	CHECK_EQ(ts_await(p, NULL), -ECANCELED);
	CHECK_EQ((long)ts_task_result(p), -ECANCELED);
	void *item;
	CHECK_EQ(ts_queue_get(q, &item), 0);
	CHECK_EQ((long)item, 1);
	ts_task_unref(p);
	return NULL;
}

TEST(cancel_blocked_put)
{
	b_loop = ts_loop_start();
	q = ts_queue_new(1);
	ts_run(cancels_putter, NULL);
	ts_queue_free(q);
	ts_loop_stop(b_loop);
}

TEST(queue_misuse)
{
	void *item;
	errno = 0;
	CHECK(ts_queue_new(0) == NULL);
	CHECK_EQ(errno, EINVAL);
	q = ts_queue_new(1);
	CHECK_EQ(ts_queue_put(q, NULL), -EPERM); /* not in a task */
	CHECK_EQ(ts_queue_get(q, &item), -EPERM);
	ts_queue_free(q);
	ts_queue_free(NULL); /* destroy functions accept NULL */
}

int main(void)
{
	RUN(producer_consumer_across_loops);
	RUN(two_producers_one_consumer);
	RUN(close_wakes_getter_with_epipe);
	RUN(close_wakes_putter_with_epipe);
	RUN(cancel_blocked_get);
	RUN(cancel_blocked_put);
	RUN(cancelled_getter_passes_wakeup_on);
	RUN(cancelled_getter_passes_wakeup_on_same_loop);
	RUN(queue_misuse);
	return DONE();
}
