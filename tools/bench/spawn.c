/* SPDX-License-Identifier: MIT */
/* Spawn + run + finish of an empty task, ns per task. The main task spawns a batch of empty
 * tasks (default "Task-N" names), awaits each and drops its reference; batches no larger
 * than the loop's stack pool, so after the warm-up every stack comes from the pool. */
#include <taskscope/taskscope.h>

#include "bench.h"

static long tasks = 200000, batch = 256, rounds = 7, warmup = 1;

static void *empty(void *arg)
{
	return arg;
}

static uint64_t one_round(void)
{
	ts_task *t[1024];
	uint64_t t0 = bench_now();
	for (long done = 0; done < tasks; done += batch) {
		long n = tasks - done < batch ? tasks - done : batch;
		for (long i = 0; i < n; i++) {
			t[i] = ts_spawn(empty, NULL);
			if (!t[i]) {
				perror("ts_spawn");
				exit(1);
			}
		}
		for (long i = 0; i < n; i++) {
			ts_await(t[i], NULL);
			ts_task_unref(t[i]);
		}
	}
	return bench_now() - t0;
}

static void *bench_main(void *arg)
{
	(void)arg;
	double ns[64];
	for (long r = 0; r < warmup; r++)
		one_round();
	for (long r = 0; r < rounds; r++)
		ns[r] = (double)one_round() / (double)tasks;
	double med = bench_median(ns, (int)rounds);
	printf("BENCH spawn impl=taskscope probes=%d ns_per_task=%.3f median=%.3f rounds=%ld "
	       "tasks=%ld batch=%ld\n",
	       BENCH_PROBES, ns[0], med, rounds, tasks, batch);
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opt opts[] = {
		{ "tasks", &tasks, "tasks per round" },
		{ "batch", &batch, "tasks spawned before awaiting them (at most 1024)" },
		{ "rounds", &rounds, "timed rounds; the best and the median are printed" },
		{ "warmup", &warmup, "untimed rounds first" },
		{ 0 },
	};
	bench_parse(argc, argv, "spawn: spawn + run + finish of an empty task, ns per task", opts);
	if (rounds < 1 || rounds > 64 || tasks < 1 || batch < 1 || batch > 1024) {
		fprintf(stderr, "spawn: need 1..64 rounds, tasks >= 1, batch 1..1024\n");
		return 2;
	}
	ts_run(bench_main, NULL);
	return 0;
}
