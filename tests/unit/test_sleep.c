/* SPDX-License-Identifier: MIT */
/* ts_sleep and ts_yield: wake-up order, the lower bound of a sleep, round-robin yields.
 * No upper bounds on time: a loaded CI machine may run late, never early. */
#include <errno.h>
#include <taskscope/taskscope.h>
#include "check.h"

#define MS 1000000ull

static int order[16], norder;

static void *sleep_then_log(void *arg)
{
	long ms = (long)arg;
	uint64_t t0 = ts_now_ns();
	CHECK_EQ(ts_sleep_ms(ms), 0);
	CHECK(ts_now_ns() - t0 >= (uint64_t)ms * MS); /* never early */
	order[norder++] = (int)ms;
	return NULL;
}

static void *sleepers(void *arg)
{
	(void)arg;
	static const long ms[] = { 40, 10, 30, 5, 20, 15 };
	ts_task *t[6];
	for (int i = 0; i < 6; i++)
		t[i] = ts_spawn(sleep_then_log, (void *)ms[i]);
	for (int i = 0; i < 6; i++) {
		CHECK_EQ(ts_await(t[i], NULL), 0);
		ts_task_unref(t[i]);
	}
	static const int want[] = { 5, 10, 15, 20, 30, 40 };
	CHECK_EQ(norder, 6);
	for (int i = 0; i < 6; i++)
		CHECK_EQ(order[i], want[i]);
	return NULL;
}

TEST(sleep_wakes_in_deadline_order) { ts_run(sleepers, NULL); }

static void *sleeps_lower_bound(void *arg)
{
	(void)arg;
	static const uint64_t ns[] = { 1, 1000, 999999, MS, 3 * MS + 1, 25 * MS };
	for (int i = 0; i < 6; i++) {
		uint64_t t0 = ts_now_ns();
		CHECK_EQ(ts_sleep_ns(ns[i]), 0);
		CHECK(ts_now_ns() - t0 >= ns[i]);
	}
	return NULL;
}

TEST(sleep_lower_bound) { ts_run(sleeps_lower_bound, NULL); }

/* ---- sleep(0) is a yield: others run, then the sleeper, without a timer ---- */

static int zero_flag;

static void *sets_flag(void *arg)
{
	(void)arg;
	zero_flag = 1;
	return NULL;
}

static void *sleeps_zero(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn(sets_flag, NULL);
	CHECK(!zero_flag);
	CHECK_EQ(ts_sleep_ns(0), 0);
	CHECK(zero_flag);
	CHECK_EQ(ts_sleep_ns(0), 0); /* alone: returns at once */
	ts_task_unref(t);
	return NULL;
}

TEST(sleep_zero_yields) { ts_run(sleeps_zero, NULL); }

/* ---- yield fairness: strict round-robin among ready tasks, across many budgets ---- */

#define NY 4
#define ROUNDS 500 /* several times the direct-switch budget, so the loop polls in between */

static int trace[NY * ROUNDS], ntrace;

static void *yielder(void *arg)
{
	for (int i = 0; i < ROUNDS; i++) {
		trace[ntrace++] = (int)(long)arg;
		CHECK_EQ(ts_yield(), 0);
	}
	return NULL;
}

static void *yielders(void *arg)
{
	(void)arg;
	ts_task *t[NY];
	for (long i = 0; i < NY; i++)
		t[i] = ts_spawn(yielder, (void *)i);
	for (int i = 0; i < NY; i++) {
		CHECK_EQ(ts_await(t[i], NULL), 0);
		ts_task_unref(t[i]);
	}
	CHECK_EQ(ntrace, NY * ROUNDS);
	int bad = 0;
	for (int i = 0; i < ntrace; i++)
		bad += trace[i] != i % NY;
	CHECK_EQ(bad, 0);
	return NULL;
}

TEST(yield_round_robin) { ts_run(yielders, NULL); }

/* A yielder never starves a sleeper whose deadline passed. */
static int woke;

static void *short_sleeper(void *arg)
{
	(void)arg;
	ts_sleep_ms(2);
	woke = 1;
	return NULL;
}

static void *spins(void *arg)
{
	(void)arg;
	ts_task *s = ts_spawn(short_sleeper, NULL);
	uint64_t t0 = ts_now_ns();
	long n = 0;
	while (!woke && ts_now_ns() - t0 < 10000 * MS) {
		ts_yield();
		n++;
	}
	CHECK(woke);
	CHECK(n > 0);
	ts_await(s, NULL);
	ts_task_unref(s);
	return NULL;
}

TEST(yield_does_not_starve_timers) { ts_run(spins, NULL); }

/* A sleep interrupted by cancel returns at once; a later sleep works again. */
static void *sleeps_long(void *arg)
{
	(void)arg;
	CHECK_EQ(ts_sleep_ms(10000), -ECANCELED);
	uint64_t t0 = ts_now_ns();
	CHECK_EQ(ts_sleep_ms(2), 0);
	CHECK(ts_now_ns() - t0 >= 2 * MS);
	return NULL;
}

static void *cancels_sleeper(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn(sleeps_long, NULL);
	ts_sleep_ms(1);
	CHECK_EQ(ts_task_state(t), TS_WAITING);
	CHECK_EQ(ts_cancel(t), 0);
	/* it slept again after -ECANCELED: swallowed, as catching CancelledError is: done */
	CHECK_EQ(ts_await(t, NULL), 0);
	ts_task_unref(t);
	return NULL;
}

TEST(sleep_after_cancelled_sleep) { ts_run(cancels_sleeper, NULL); }

/* A sleep too long to add to the clock must saturate ("forever"), not wrap into the past. */
static void *sleeps_max(void *arg)
{
	(void)arg;
	return (void *)(long)ts_sleep_ns(UINT64_MAX);
}

static void *huge_sleep(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn(sleeps_max, NULL);
	ts_sleep_ms(20);
	CHECK_EQ(ts_task_state(t), TS_WAITING); /* still asleep */
	ts_cancel(t);
	CHECK_EQ(ts_await(t, NULL), -ECANCELED);
	CHECK_EQ((long)ts_task_result(t), -ECANCELED);
	ts_task_unref(t);
	return NULL;
}

TEST(huge_sleep_does_not_wrap) { ts_run(huge_sleep, NULL); }

int main(void)
{
	RUN(sleep_wakes_in_deadline_order);
	RUN(sleep_lower_bound);
	RUN(sleep_zero_yields);
	RUN(yield_round_robin);
	RUN(yield_does_not_starve_timers);
	RUN(sleep_after_cancelled_sleep);
	RUN(huge_sleep_does_not_wrap);
	return DONE();
}
