/* SPDX-License-Identifier: MIT */
/* top --exact's replay of ring events (src/cli/top/replay.c) without a target: events in, the
 * switch accounting (struct tss_thread, each task's time switched in) and each thread's
 * scheduling latency out. The rules: the first switch credits its prev since the rings came
 * on; a lost stretch credits the running task up to the drain before it and nothing after it
 * until the next switch, and that time is counted apart; a ready instant from before a lost
 * stretch gives no latency; what the target supplies never grows without bound. */
#include "check.h"
#include "top/exact.h"

#include <stdlib.h>
#include <string.h>
#include <taskscope/taskscope.h>

#define TID 7
#define A 11
#define B 12
#define C 13

static struct top_exact *fresh(uint64_t attach_ns)
{
	struct top_exact *x = calloc(1, sizeof(*x));
	if (x && top_replay_init(x, attach_ns)) {
		free(x);
		return NULL;
	}
	return x;
}

static void gone(struct top_exact *x)
{
	top_replay_free(x);
	free(x);
}

static void sw(struct top_exact *x, uint64_t ts, uint64_t prev, uint64_t next)
{
	struct tsc_event ev = { .ts_ns = ts, .type = TSC_EV_SWITCH, .tid = TID,
				.sw = { .prev = prev, .next = next } };
	top_replay_event(x, &ev);
}

static void lost(struct top_exact *x, uint64_t ts)
{
	struct tsc_event ev = { .ts_ns = ts, .type = TSC_EV_LOST, .tid = TID,
				.lost = { .type = 0, .count = 100 } };
	top_replay_event(x, &ev);
}

static void ready(struct top_exact *x, uint64_t ts, uint64_t id)
{
	struct tsc_event ev = { .ts_ns = ts, .type = TSC_EV_READY, .tid = TID, .ready = { id } };
	top_replay_event(x, &ev);
}

static void wait_(struct top_exact *x, uint64_t ts, uint64_t id, uint32_t reason)
{
	struct tsc_event ev = { .ts_ns = ts, .type = TSC_EV_WAIT, .tid = TID,
				.wait = { .id = id, .reason = reason } };
	top_replay_event(x, &ev);
}

/* Task id's time switched in so far (its last run closed), or -1 without a record. */
static long long task_ns(const struct top_exact *x, uint64_t id)
{
	const uint64_t *v = tsc_idmap_get(&x->tasks, id);
	return v ? (long long)*v : -1;
}

TEST(switches_credit_time_switched_in)
{
	struct top_exact *x = fresh(1000);
	struct tss_thread th;
	CHECK(x != NULL);
	/* A ran since before the rings came on: credited from then */
	sw(x, 3000, A, 0);
	sw(x, 4000, 0, B);
	sw(x, 4500, B, C);
	sw(x, 7000, C, 0);
	CHECK_EQ(task_ns(x, A), 2000);
	CHECK_EQ(task_ns(x, B), 500);
	CHECK_EQ(task_ns(x, C), 2500);
	CHECK_EQ(top_exact_thread(x, TID, &th), 0);
	CHECK_EQ(th.run_ns, 5000);
	CHECK_EQ(th.switches, 4);
	CHECK_EQ(th.current, 0);
	CHECK_EQ(top_exact_gap_ns(x, TID, 9000), 0);
	CHECK(top_exact_thread(x, TID + 1, &th) != 0);
	gone(x);
}

TEST(a_lost_stretch_credits_up_to_the_drain_before_and_counts_the_rest_apart)
{
	struct top_exact *x = fresh(0);
	struct tss_thread th;
	top_replay_begin(x, 10000);
	sw(x, 9000, 0, A);             /* A runs when the first drain begins */
	top_replay_begin(x, 20000);
	lost(x, 18000);                /* the ring lapped: its next record is at 18000 */
	sw(x, 18000, B, C);            /* B ran in the stretch: nobody knows since when */
	CHECK_EQ(task_ns(x, A), 1000); /* 9000 to the drain at 10000, no more */
	CHECK_EQ(task_ns(x, B), -1);
	CHECK_EQ(top_exact_thread(x, TID, &th), 0);
	CHECK_EQ(th.current, C);
	CHECK_EQ(th.since_ns, 18000);
	CHECK_EQ(th.run_ns, 1000);
	CHECK_EQ(top_exact_gap_ns(x, TID, 19000), 8000);
	/* C runs through a drain with no record, then its ring laps: credited up to that
	 * drain; the stretch still open counts up to now */
	top_replay_begin(x, 30000);
	top_replay_begin(x, 40000);
	lost(x, 39000);
	CHECK_EQ(task_ns(x, C), 30000 - 18000);
	CHECK_EQ(top_exact_gap_ns(x, TID, 41000), 8000 + 11000);
	CHECK_EQ(x->gaps, 2);
	gone(x);
}

TEST(latency_from_ready_or_a_yield_to_the_switch_in)
{
	struct top_exact *x = fresh(0);
	struct top_thread t = { .tid = 1, .inner_tid = TID };
	struct top_model m = { .threads = &t, .nthreads = 1 };
	ready(x, 100, A);
	sw(x, 150, 0, A);              /* 50 */
	wait_(x, 200, A, TS_WAIT_YIELD);
	sw(x, 201, A, 0);
	sw(x, 260, 0, A);              /* 60 */
	wait_(x, 300, A, TS_WAIT_SLEEP);
	sw(x, 301, A, 0);
	sw(x, 400, 0, A);              /* no ready instant: none */
	ready(x, 500, B);
	top_replay_begin(x, 550);
	lost(x, 600);
	sw(x, 600, A, B);              /* ready before the lost stretch: none */
	top_exact_latency(x, &m);
	CHECK_EQ(t.lat_known, 1);
	CHECK_EQ(t.lat.count, 2);
	CHECK_EQ(t.lat.p50, 50);
	CHECK_EQ(t.lat.max, 60);
	/* each refresh its own */
	ready(x, 700, C);
	sw(x, 710, B, C);
	top_exact_latency(x, &m);
	CHECK_EQ(t.lat.count, 1);
	CHECK_EQ(t.lat.max, 10);
	top_exact_latency(x, &m);
	CHECK_EQ(t.lat.count, 0);
	gone(x);
}

TEST(what_the_target_names_stays_bounded)
{
	struct top_exact *x = fresh(0);
	/* more threads than rings: the rest counted, not kept */
	for (int32_t tid = 1; tid <= TSC_RINGS_MAX + 50; tid++) {
		struct tsc_event ev = { .ts_ns = 10, .type = TSC_EV_SWITCH, .tid = tid,
					.sw = { .prev = 0, .next = A } };
		top_replay_event(x, &ev);
	}
	CHECK_EQ(x->nth, TSC_RINGS_MAX);
	CHECK_EQ(x->full, 50);
	/* ready ids no switch ever takes: at most TSS_MAX_TASKS of them */
	for (uint64_t id = 1; id <= TSS_MAX_TASKS + 10; id++)
		ready(x, 20, id);
	CHECK_EQ(x->ready.n, TSS_MAX_TASKS);
	CHECK_EQ(x->full, 60);
	/* and forgotten with their tasks */
	uint64_t ids[3] = { 1, 2, 3 };
	top_exact_forget(x, ids, 3);
	CHECK_EQ(x->ready.n, TSS_MAX_TASKS - 3);
	gone(x);
}

int main(void)
{
	RUN(switches_credit_time_switched_in);
	RUN(a_lost_stretch_credits_up_to_the_drain_before_and_counts_the_rest_apart);
	RUN(latency_from_ready_or_a_yield_to_the_switch_in);
	RUN(what_the_target_names_stays_bounded);
	return DONE();
}
