/* SPDX-License-Identifier: MIT */
/* Several loops: spawn onto another thread's loop, await across threads both ways, ids and
 * names unique process-wide, a remote task still pending, ts_loop_stop, detached spawns onto
 * another loop, ts_spawn_opts with a loop. */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include <taskscope/taskscope.h>
#include "check.h"

static ts_loop *other;

struct where {
	pid_t tid;
	ts_loop *loop;
};

static void *records_thread(void *arg)
{
	struct where *w = arg;
	w->tid = gettid();
	w->loop = ts_current_loop();
	ts_sleep_ms(1);
	return (void *)77;
}

/* ---- a task on loop A spawns onto loop B and awaits it there ---- */

static void *spawns_remote(void *arg)
{
	(void)arg;
	struct where w = { 0 };
	ts_task *t = ts_spawn_on(other, records_thread, &w, "remote");
	CHECK(t != NULL);
	void *r = NULL;
	CHECK_EQ(ts_await(t, &r), 0);
	CHECK(r == (void *)77);
	CHECK_EQ(w.tid, ts_loop_tid(other));
	CHECK(w.tid != gettid());
	CHECK(w.loop == other);
	CHECK_STR(ts_task_name(t), "remote");
	CHECK_STR(ts_task_coro(t), "records_thread");
	CHECK_EQ(ts_task_state(t), TS_DONE);
	ts_task_unref(t);
	return NULL;
}

TEST(spawn_on_other_loop_and_await)
{
	other = ts_loop_start();
	CHECK(other != NULL);
	CHECK(ts_loop_tid(other) > 0 && ts_loop_tid(other) != gettid());
	ts_run(spawns_remote, NULL);
	CHECK_EQ(ts_loop_stop(other), 0);
}

/* ---- a task on loop B awaits a task on loop A ---- */

static void *sleeps_then_returns(void *arg)
{
	ts_sleep_ms(10);
	return arg;
}

static void *awaits_handle(void *arg)
{
	void *r = NULL;
	int err = ts_await(arg, &r);
	return err ? (void *)(long)err : r;
}

static void *awaited_from_remote(void *arg)
{
	(void)arg;
	ts_task *local = ts_spawn(sleeps_then_returns, (void *)5);
	ts_task *remote = ts_spawn_on(other, awaits_handle, local, NULL);
	void *r = NULL;
	CHECK_EQ(ts_await(remote, &r), 0);
	CHECK(r == (void *)5); /* B saw A's task finish, with its result */
	CHECK(ts_task_done(local));
	ts_task_unref(remote);
	ts_task_unref(local);
	return NULL;
}

TEST(await_across_threads_both_ways)
{
	other = ts_loop_start();
	ts_run(awaited_from_remote, NULL);
	CHECK_EQ(ts_loop_stop(other), 0);
}

/* ---- a failure on loop B reaches the awaiter on loop A as -err ---- */

static void *fails_remotely(void *arg)
{
	ts_sleep_ms(1);
	ts_fail((int)(long)arg);
}

static void *awaits_remote_failure(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn_on(other, fails_remotely, (void *)(long)ECONNRESET, NULL);
	void *r = (void *)1;
	CHECK_EQ(ts_await(t, &r), -ECONNRESET);
	CHECK(r == (void *)1);
	CHECK_EQ(ts_task_state(t), TS_FAILED);
	ts_task_unref(t);
	return NULL;
}

TEST(fail_across_threads)
{
	other = ts_loop_start();
	ts_run(awaits_remote_failure, NULL);
	CHECK_EQ(ts_loop_stop(other), 0);
}

/* ---- ping-pong: loop B spawns back onto loop A ---- */

static ts_loop *home;

static void *bounce(void *arg)
{
	long n = (long)arg;
	if (!n)
		return (void *)0L;
	ts_loop *to = ts_current_loop() == home ? other : home;
	ts_task *t = ts_spawn_on(to, bounce, (void *)(n - 1), NULL);
	void *r = NULL;
	CHECK_EQ(ts_await(t, &r), 0);
	ts_task_unref(t);
	return (void *)((long)r + 1);
}

static void *starts_bounce(void *arg)
{
	home = ts_current_loop();
	return bounce(arg);
}

TEST(spawn_back_and_forth)
{
	other = ts_loop_start();
	CHECK_EQ((long)ts_run(starts_bounce, (void *)100L), 100);
	CHECK_EQ(ts_loop_stop(other), 0);
}

/* ---- ids and names are unique across threads spawning at the same time ---- */

#define NLOOPS 4
#define PER 1000

static uint64_t ids[NLOOPS][PER];
static char names[NLOOPS][PER][16];

static void *nothing(void *arg) { return arg; }

static void *spawns_many(void *arg)
{
	long k = (long)arg;
	for (int i = 0; i < PER; i++) {
		ts_task *t = ts_spawn(nothing, NULL);
		ids[k][i] = ts_task_id(t);
		snprintf(names[k][i], sizeof(names[k][i]), "%s", ts_task_name(t));
		if (i % 64 == 0)
			ts_yield();
		ts_task_unref(t);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void *spawns_on_all(void *arg)
{
	ts_loop **loops = arg;
	ts_task *t[NLOOPS];
	for (long k = 0; k < NLOOPS; k++)
		t[k] = ts_spawn_on(loops[k], spawns_many, (void *)k, NULL);
	for (int k = 0; k < NLOOPS; k++) {
		CHECK_EQ(ts_await(t[k], NULL), 0);
		ts_task_unref(t[k]);
	}
	return NULL;
}

TEST(ids_and_names_unique_across_threads)
{
	ts_loop *loops[NLOOPS];
	for (int k = 0; k < NLOOPS; k++)
		CHECK((loops[k] = ts_loop_start()) != NULL);
	ts_run(spawns_on_all, loops);
	for (int k = 0; k < NLOOPS; k++)
		CHECK_EQ(ts_loop_stop(loops[k]), 0);

	int bad = 0;
	for (int k = 0; k < NLOOPS; k++)
		for (int i = 1; i < PER; i++)
			bad += ids[k][i] <= ids[k][i - 1]; /* increasing as seen by each thread */
	CHECK_EQ(bad, 0);
	static uint64_t all[NLOOPS * PER], nums[NLOOPS * PER];
	for (int k = 0; k < NLOOPS; k++) {
		for (int i = 0; i < PER; i++) {
			all[k * PER + i] = ids[k][i];
			CHECK(sscanf(names[k][i], "Task-%lu", (unsigned long *)&nums[k * PER + i]) == 1);
		}
	}
	qsort(all, NLOOPS * PER, sizeof(all[0]), cmp_u64);
	qsort(nums, NLOOPS * PER, sizeof(nums[0]), cmp_u64);
	for (int i = 1; i < NLOOPS * PER; i++) {
		bad += all[i] == all[i - 1];
		bad += nums[i] == nums[i - 1];
	}
	CHECK_EQ(bad, 0); /* one process-wide counter each: never the same twice */
}

/* ---- a task spawned onto a busy loop is pending until that loop reads its inbox ---- */

static int release, blocker_running, p_ran, c_ran;

static void *blocks_thread(void *arg)
{
	(void)arg;
	__atomic_store_n(&blocker_running, 1, __ATOMIC_RELEASE);
	/* hog the thread without suspending: the loop cannot read its inbox meanwhile */
	while (!__atomic_load_n(&release, __ATOMIC_ACQUIRE))
		usleep(100);
	return NULL;
}

static void *late(void *arg)
{
	__atomic_store_n((int *)arg, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *pending_remote(void *arg)
{
	(void)arg;
	ts_task *b = ts_spawn_on(other, blocks_thread, NULL, "blocker");
	while (!__atomic_load_n(&blocker_running, __ATOMIC_ACQUIRE))
		ts_sleep_ms(1);
	ts_task *p = ts_spawn_on(other, late, &p_ran, NULL);
	ts_task *c = ts_spawn_on(other, late, &c_ran, NULL);
	CHECK_EQ(ts_task_state(p), TS_PENDING);
	CHECK_EQ(ts_task_state(c), TS_PENDING);
	CHECK_EQ(ts_cancel(c), 0); /* cancel of a remote task that has not started */
	__atomic_store_n(&release, 1, __ATOMIC_RELEASE);
	CHECK_EQ(ts_await(b, NULL), 0);
	CHECK_EQ(ts_await(c, NULL), -ECANCELED);
	CHECK_EQ(ts_task_state(c), TS_CANCELLED);
	CHECK_EQ(ts_await(p, NULL), 0);
	CHECK(__atomic_load_n(&p_ran, __ATOMIC_ACQUIRE));
	CHECK(!__atomic_load_n(&c_ran, __ATOMIC_ACQUIRE)); /* c's function never ran */
	ts_task_unref(b);
	ts_task_unref(p);
	ts_task_unref(c);
	return NULL;
}

TEST(remote_task_pending_then_cancelled_before_start)
{
	other = ts_loop_start();
	ts_run(pending_remote, NULL);
	CHECK_EQ(ts_loop_stop(other), 0);
}

/* ---- spawning from a thread that runs no loop ---- */

TEST(spawn_on_from_plain_thread)
{
	other = ts_loop_start();
	struct where w = { 0 };
	ts_task *t = ts_spawn_on(other, records_thread, &w, "from-outside");
	CHECK(t != NULL);
	CHECK_EQ(ts_await(t, NULL), -EPERM); /* no task here to wait in */
	/* ts_loop_stop lets a started task finish; this one sleeps 1 ms, then returns */
	while (!ts_task_done(t))
		usleep(1000);
	CHECK_EQ(ts_loop_stop(other), 0);
	CHECK_EQ(ts_task_state(t), TS_DONE);
	CHECK_EQ(w.tid > 0 && w.tid != gettid(), 1);
	ts_task_unref(t);
}

/* ---- ts_loop_stop cancels what is still waiting and returns ---- */

static void *sleeps_forever(void *arg)
{
	(void)arg;
	while (ts_sleep_ms(3600 * 1000) == 0)
		;
	return NULL;
}

static void *stops_self(void *arg)
{
	(void)arg;
	CHECK_EQ(ts_loop_stop(ts_current_loop()), -EINVAL); /* a ts_run loop: not ours to stop */
	return NULL;
}

static void *stops_own_loop(void *arg)
{
	(void)arg;
	CHECK_EQ(ts_loop_stop(ts_current_loop()), -EDEADLK);
	return NULL;
}

TEST(loop_stop_cancels_waiting_tasks)
{
	other = ts_loop_start();
	ts_task *t = ts_spawn_on(other, sleeps_forever, NULL, NULL);
	usleep(2000);
	uint64_t t0 = ts_now_ns();
	CHECK_EQ(ts_loop_stop(other), 0);
	CHECK(ts_now_ns() - t0 < 60ull * 1000000000ull);
	CHECK_EQ(ts_task_state(t), TS_CANCELLED);
	ts_task_unref(t);

	CHECK_EQ(ts_loop_stop(NULL), -EINVAL);
	ts_run(stops_self, NULL);
	other = ts_loop_start();
	ts_task *s = ts_spawn_on(other, stops_own_loop, NULL, NULL);
	while (!ts_task_done(s))
		usleep(1000);
	ts_task_unref(s);
	CHECK_EQ(ts_loop_stop(other), 0);
}

/* ---- detached onto another loop, from a task and from a plain thread ---- */

static int detached_ran;

static void *counts_and_checks(void *arg)
{
	(void)arg;
	CHECK(ts_current_loop() == other);
	__atomic_add_fetch(&detached_ran, 1, __ATOMIC_ACQ_REL);
	return NULL;
}

static void *spawns_detached_remote(void *arg)
{
	(void)arg;
	CHECK_EQ(ts_spawn_on_detached(other, counts_and_checks, NULL, "det-1"), 0);
	struct ts_spawn_opts o = { .loop = other, .detached = 1, .stack_size = 128 * 1024 };
	CHECK(ts_spawn_opts(counts_and_checks, NULL, &o) != NULL);
	/* with a reference: where it runs, as the accessors say */
	struct ts_spawn_opts k = { .loop = other, .name = "kept" };
	ts_task *t = ts_spawn_opts(counts_and_checks, NULL, &k);
	CHECK(ts_task_loop(t) == other);
	CHECK_EQ(ts_task_tid(t), ts_loop_tid(other));
	CHECK_EQ(ts_await(t, NULL), 0);
	ts_task_unref(t);
	while (__atomic_load_n(&detached_ran, __ATOMIC_ACQUIRE) < 3)
		ts_sleep_ms(1);
	return NULL;
}

TEST(detached_spawns_onto_another_loop)
{
	other = ts_loop_start();
	ts_run(spawns_detached_remote, NULL);
	CHECK_EQ(ts_spawn_on_detached(other, counts_and_checks, NULL, NULL), 0); /* no loop here */
	while (__atomic_load_n(&detached_ran, __ATOMIC_ACQUIRE) < 4)
		usleep(1000);
	CHECK_EQ(ts_loop_stop(other), 0);
	CHECK_EQ(detached_ran, 4);
}

int main(void)
{
	RUN(spawn_on_other_loop_and_await);
	RUN(await_across_threads_both_ways);
	RUN(fail_across_threads);
	RUN(spawn_back_and_forth);
	RUN(ids_and_names_unique_across_threads);
	RUN(remote_task_pending_then_cancelled_before_start);
	RUN(spawn_on_from_plain_thread);
	RUN(loop_stop_cancels_waiting_tasks);
	RUN(detached_spawns_onto_another_loop);
	return DONE();
}
