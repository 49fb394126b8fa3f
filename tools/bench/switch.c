/* SPDX-License-Identifier: MIT */
/* Task switch: two tasks on one loop yielding to each other; ns per switch (one ts_yield
 * from one task to the other), best and median of several rounds. Built twice by the
 * Makefile: probes compiled in (detached: nobody attached) and compiled out. */
#include <taskscope/taskscope.h>

#include "bench.h"

static long switches = 2000000, rounds = 7, warmup = 1;

static void *pinger(void *arg)
{
	long n = (long)(intptr_t)arg;
	for (long i = 0; i < n; i++)
		ts_yield();
	return NULL;
}

/* One round: 2 * per_task yields, each a switch to the other task. */
static uint64_t one_round(long per_task)
{
	return bench_pair_ns(pinger, pinger, (void *)(intptr_t)per_task);
}

static void *bench_main(void *arg)
{
	(void)arg;
	long per_task = switches / 2;
	double ns[64];
	for (long r = 0; r < warmup; r++)
		one_round(per_task);
	for (long r = 0; r < rounds; r++)
		ns[r] = (double)one_round(per_task) / (double)(2 * per_task);
	double med = bench_median(ns, (int)rounds);
	printf("BENCH switch impl=taskscope probes=%d ns_per_switch=%.3f median=%.3f "
	       "rounds=%ld switches=%ld\n",
	       BENCH_PROBES, ns[0], med, rounds, 2 * per_task);
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opt opts[] = {
		{ "switches", &switches, "switches per round (two tasks yield half each)" },
		{ "rounds", &rounds, "timed rounds; the best and the median are printed" },
		{ "warmup", &warmup, "untimed rounds first" },
		{ 0 },
	};
	bench_parse(argc, argv, "switch: two tasks ping-ponging with ts_yield, ns per switch",
		    opts);
	if (rounds < 1 || rounds > 64 || switches < 2) {
		fprintf(stderr, "switch: need 1..64 rounds and at least 2 switches\n");
		return 2;
	}
	ts_run(bench_main, NULL);
	return 0;
}
