/* SPDX-License-Identifier: MIT */
/*
 * prof_victim: a victim for `taskscope profile`: on one loop thread, task "burn-a" burns CPU
 * in burn_a() and task "burn-b" in burn_b(), in a 3:1 ratio of work: each round, burn-a does
 * three units of work and yields, burn-b one unit and yields (a unit's length is random, the
 * same on average for both). Both run on the same thread,
 * one at a time, so whatever else the machine runs takes time from both alike: the ratio of
 * their CPU time is the ratio of their work. Prints "ready" once both run; runs until killed.
 *
 *   prof_victim [--sleepers N] [--odd-name] [--pingpong]
 *
 * With --sleepers N, N tasks ("sleeper") sleep 20 us at a time, over and over, instead of
 * the two that burn: the loop then spends much of its time outside any task, running their
 * timers and polling. --odd-name adds a task that sleeps for good, named with what the
 * output formats must escape: a ';' (the folded separator), XML's '<', '>', '&', '"', a
 * newline, an escape, a byte that is not UTF-8 and U+FFFE (valid UTF-8 that XML refuses).
 * With --pingpong, tasks "ping" and "pong" (in ping_task and pong_task) yield to each other
 * with next to no work between: the thread spends most of its time switching, where a sample
 * can land between the loop's current-task store and the new frames.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <taskscope/taskscope.h>

#define UNIT 200000 /* iterations, on average: a few hundred microseconds */

static volatile uint64_t sink;

/* A unit's iterations: from half a UNIT to one and a half, at random. Units of one length
 * would make a round as long every time, and a round about as long as the sampling period
 * (999 Hz) takes its samples at nearly the same point of the round for seconds on end: the
 * split came out 2.3:1 or 3.9:1. Random lengths, alike for both tasks, keep the 3:1 of the
 * work and spread the samples over the round. */
static long unit(uint32_t *seed)
{
	*seed ^= *seed << 13;
	*seed ^= *seed >> 17;
	*seed ^= *seed << 5;
	return UNIT / 2 + (long)(*seed % UNIT);
}

/* noipa: kept whole and apart (never folded with the other, never inlined) so that each
 * shows in the stacks under its own name */
__attribute__((noinline, noipa)) static void burn_a(long iterations)
{
	uint64_t x = sink;
	for (long i = 0; i < iterations; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	sink = x;
}

__attribute__((noinline, noipa)) static void burn_b(long iterations)
{
	uint64_t x = sink;
	for (long i = 0; i < iterations; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	sink = x ^ 1;
}

static void *task_a(void *arg)
{
	uint32_t seed = 1;
	(void)arg;
	for (;;) {
		burn_a(unit(&seed) + unit(&seed) + unit(&seed));
		if (ts_yield())
			return NULL;
	}
}

static void *task_b(void *arg)
{
	uint32_t seed = 2;
	(void)arg;
	for (;;) {
		burn_b(unit(&seed));
		if (ts_yield())
			return NULL;
	}
}

static void *sleeper(void *arg)
{
	(void)arg;
	while (ts_sleep_ns(20000) == 0)
		;
	return NULL;
}

/* --pingpong: a few instructions of work between switches */
__attribute__((noinline, noipa)) static void *ping_task(void *arg)
{
	(void)arg;
	for (uint64_t i = 0;; i++) {
		sink += i;
		if (ts_yield())
			return NULL;
	}
}

__attribute__((noinline, noipa)) static void *pong_task(void *arg)
{
	(void)arg;
	for (uint64_t i = 0;; i++) {
		sink ^= i;
		if (ts_yield())
			return NULL;
	}
}

static int odd_name, pingpong;

static void *main_coro(void *arg)
{
	long sleepers = (long)arg;
	if (odd_name)
		ts_spawn_detached(sleeper, NULL, "odd;<b>&\"q\"\n\x1b[31m\xff\xef\xbf\xbe");
	if (sleepers) {
		for (long i = 0; i < sleepers; i++)
			ts_spawn_detached(sleeper, NULL, "sleeper");
		printf("ready\n");
		fflush(stdout);
		return (void *)(long)ts_sleep_ms(INT32_MAX); /* until killed */
	}
	ts_task *a = pingpong ? ts_spawn_named(ping_task, NULL, "ping") :
				ts_spawn_named(task_a, NULL, "burn-a");
	ts_task *b = pingpong ? ts_spawn_named(pong_task, NULL, "pong") :
				ts_spawn_named(task_b, NULL, "burn-b");
	ts_yield(); /* both have run once */
	printf("ready\n");
	fflush(stdout);
	ts_await(a, NULL);
	ts_await(b, NULL);
	return NULL;
}

int main(int argc, char **argv)
{
	long sleepers = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--sleepers") && i + 1 < argc)
			sleepers = atol(argv[++i]);
		else if (!strcmp(argv[i], "--odd-name"))
			odd_name = 1;
		else if (!strcmp(argv[i], "--pingpong"))
			pingpong = 1;
	}
	ts_run(main_coro, (void *)sleepers);
	return 0;
}
