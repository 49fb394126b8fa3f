/* SPDX-License-Identifier: MIT */
/* Wake: two tasks on one loop handing a turn to each other through two events (set the
 * other's, wait on its own, clear it); ns per hand-over: one wake, one wait, one switch. The
 * wake path is the one the yields of `switch` never take (a ready record when traced). Built
 * twice by the Makefile: probes compiled in (detached: nobody attached) and compiled out. */
#include <taskscope/taskscope.h>

#include "bench.h"

static long wakes = 1000000, rounds = 7, warmup = 1;
static ts_event *ev_a, *ev_b;

static void *side_a(void *arg)
{
	long n = (long)(intptr_t)arg;
	for (long i = 0; i < n; i++) {
		ts_event_set(ev_b);
		ts_event_wait(ev_a);
		ts_event_clear(ev_a);
	}
	ts_event_set(ev_b); /* b's last wait */
	return NULL;
}

static void *side_b(void *arg)
{
	long n = (long)(intptr_t)arg;
	for (long i = 0; i < n; i++) {
		ts_event_wait(ev_b);
		ts_event_clear(ev_b);
		ts_event_set(ev_a);
	}
	return NULL;
}

/* One round: 2 * per_side hand-overs. */
static uint64_t one_round(long per_side)
{
	return bench_pair_ns(side_a, side_b, (void *)(intptr_t)per_side);
}

static void *bench_main(void *arg)
{
	(void)arg;
	long per_side = wakes / 2;
	double ns[64];
	ev_a = ts_event_new();
	ev_b = ts_event_new();
	if (!ev_a || !ev_b) {
		perror("ts_event_new");
		exit(1);
	}
	for (long r = 0; r < warmup; r++)
		one_round(per_side);
	for (long r = 0; r < rounds; r++)
		ns[r] = (double)one_round(per_side) / (double)(2 * per_side);
	double med = bench_median(ns, (int)rounds);
	printf("BENCH wake impl=taskscope probes=%d ns_per_wake=%.3f median=%.3f rounds=%ld "
	       "wakes=%ld\n",
	       BENCH_PROBES, ns[0], med, rounds, 2 * per_side);
	ts_event_free(ev_a);
	ts_event_free(ev_b);
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opt opts[] = {
		{ "wakes", &wakes, "hand-overs per round (each side wakes the other half of them)" },
		{ "rounds", &rounds, "timed rounds; the best and the median are printed" },
		{ "warmup", &warmup, "untimed rounds first" },
		{ 0 },
	};
	bench_parse(argc, argv, "wake: two tasks handing a turn over through events, ns per wake",
		    opts);
	if (rounds < 1 || rounds > 64 || wakes < 2) {
		fprintf(stderr, "wake: need 1..64 rounds and at least 2 wakes\n");
		return 2;
	}
	ts_run(bench_main, NULL);
	return 0;
}
