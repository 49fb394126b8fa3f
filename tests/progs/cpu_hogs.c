/* SPDX-License-Identifier: MIT */
/*
 * cpu_hogs: a victim for top's CPU accounting. On loop threads of their own:
 *
 *   "hog"             spins and never yields, after the idle tasks "idle-h0".."idle-h2" of its
 *                     loop went to sleep: nothing on that thread switches again;
 *   "half-a" "half-b" take turns: each spins 1 ms, then blocks the thread 1 ms in nanosleep
 *                     without suspending, then yields to the other. Each is switched in half
 *                     the time, and on a CPU half of that: time switched in is not CPU time.
 *                     Beside them sleep "idle-s0" and "idle-s1".
 *
 * The main loop holds "idle-m0" and "idle-m1", asleep. Prints "ready HOG_TID HALF_TID" once
 * every task has started, then stays so until killed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <taskscope/taskscope.h>

static int asleep, hog_started, halves_started;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void spin_ns(uint64_t ns)
{
	uint64_t end = now_ns() + ns;
	while (now_ns() < end)
		;
}

static void *idler(void *arg)
{
	(void)arg;
	/* no suspension between the count and the sleep: once counted, it waits */
	__atomic_add_fetch(&asleep, 1, __ATOMIC_RELEASE);
	while (ts_sleep_ms(3600 * 1000) == 0)
		;
	return NULL;
}

static void *hog(void *arg)
{
	(void)arg;
	__atomic_store_n(&hog_started, 1, __ATOMIC_RELEASE);
	for (;;)
		spin_ns(1000000);
	return NULL;
}

static void *half(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&halves_started, 1, __ATOMIC_RELEASE);
	do {
		spin_ns(1000000);
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	} while (ts_yield() == 0);
	return NULL;
}

/* Wait, in a task, until *v reaches n. */
static void await_count(int *v, int n)
{
	while (__atomic_load_n(v, __ATOMIC_ACQUIRE) < n)
		ts_sleep_ms(1);
}

static void fail(const char *what)
{
	perror(what);
	exit(1);
}

static void *main_task(void *arg)
{
	char name[16];
	ts_loop *hl = ts_loop_start(), *sl = ts_loop_start();
	(void)arg;
	if (!hl || !sl)
		fail("cpu_hogs: ts_loop_start");
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "idle-h%d", i);
		if (!ts_spawn_on(hl, idler, NULL, name))
			fail("cpu_hogs: spawn");
	}
	for (int i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "idle-s%d", i);
		if (!ts_spawn_on(sl, idler, NULL, name))
			fail("cpu_hogs: spawn");
		snprintf(name, sizeof(name), "idle-m%d", i);
		if (!ts_spawn_named(idler, NULL, name))
			fail("cpu_hogs: spawn");
	}
	await_count(&asleep, 7);
	if (!ts_spawn_on(hl, hog, NULL, "hog") || !ts_spawn_on(sl, half, NULL, "half-a") ||
	    !ts_spawn_on(sl, half, NULL, "half-b"))
		fail("cpu_hogs: spawn");
	await_count(&hog_started, 1);
	await_count(&halves_started, 2);
	printf("ready %d %d\n", ts_loop_tid(hl), ts_loop_tid(sl));
	fflush(stdout);
	for (;;)
		ts_sleep_ms(3600 * 1000);
	return NULL;
}

int main(void)
{
	ts_run(main_task, NULL);
	return 0;
}
