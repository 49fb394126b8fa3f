/* SPDX-License-Identifier: MIT */
/*
 * The record benchmark's ping-pong with an LTTng-UST tracepoint per switch, for comparison
 * (tools/bench/record): two taskscope tasks on one loop yield to each other, and each yield
 * fires tsbench:task_switch first. Traced (a session with the event enabled) minus untraced is
 * LTTng's cost per event. Prints "BENCH lttng ns_per_switch=BEST median=MEDIAN".
 *   pingpong-lttng [--switches N] [--rounds R]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <taskscope/taskscope.h>

#include "tp.h"

static long per_task = 500000;

static void *pinger(void *arg)
{
	uint64_t me = (uint64_t)(uintptr_t)arg;
	for (long i = 0; i < per_task; i++) {
		lttng_ust_tracepoint(tsbench, task_switch, me, me ^ 3);
		ts_yield();
	}
	return NULL;
}

static double ns[64];
static int rounds = 5;

static void *main_task(void *arg)
{
	(void)arg;
	for (int r = -1; r < rounds; r++) {
		uint64_t t0 = ts_now_ns();
		ts_task *a = ts_spawn(pinger, (void *)1), *b = ts_spawn(pinger, (void *)2);
		ts_await(a, NULL);
		ts_await(b, NULL);
		ts_task_unref(a);
		ts_task_unref(b);
		if (r >= 0)
			ns[r] = (double)(ts_now_ns() - t0) / (double)(2 * per_task);
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--switches"))
			per_task = atol(argv[i + 1]) / 2;
		else if (!strcmp(argv[i], "--rounds"))
			rounds = atoi(argv[i + 1]);
	}
	if (per_task < 1 || rounds < 1 || rounds > 64) {
		fprintf(stderr, "usage: pingpong-lttng [--switches N] [--rounds 1..64]\n");
		return 2;
	}
	ts_run(main_task, NULL);
	qsort(ns, (size_t)rounds, sizeof(ns[0]), cmp);
	printf("BENCH lttng ns_per_switch=%.1f median=%.1f\n", ns[0], ns[rounds / 2]);
	return 0;
}
