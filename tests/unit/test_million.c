/* SPDX-License-Identifier: MIT */
/* A million live sleeping tasks in one process, on whatever vm.max_map_count the machine has
 * (65530 by default, which allowed ~32,000 tasks when each stack took two mappings): stacks
 * come from slabs, a few mappings in all. Then all of them cancelled and freed: the resident
 * memory goes back near where it started. Under ASan a smaller crowd, still far beyond the old
 * limit, and no check of the memory given back: ASan keeps the shadow of every stack page. */
#include <errno.h>
#include <taskscope/taskscope.h>
#include "check.h"
#include "internal.h"

#ifdef TS_ASAN
#define N 200000
#else
#define N 1000000
#endif

static ts_task **tasks;
static long started, sleeping, cancelled, spawn_failed;
static long peak_rss, peak_maps;

/* "VmRSS:   1234 kB" in bytes */
static long rss_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb * 1024;
}

static long count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	static char buf[65536];
	long n = 0;
	size_t got;
	if (!f)
		return -1;
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
		for (size_t i = 0; i < got; i++)
			n += buf[i] == '\n';
	fclose(f);
	return n;
}

static void *sleeper(void *arg)
{
	(void)arg;
	started++;
	return (void *)(long)ts_sleep_ms(3600 * 1000);
}

static void *crowd(void *arg)
{
	(void)arg;
	for (long i = 0; i < N; i++) {
		if (!(tasks[i] = ts_spawn(sleeper, NULL))) {
			printf("#   spawn %ld failed: %s\n", i + 1, strerror(errno));
			spawn_failed = 1;
			return NULL; /* ts_run cancels the others */
		}
	}
	while (started < N)
		ts_yield();
	for (long i = 0; i < N; i++)
		sleeping += ts_task_state(tasks[i]) == TS_WAITING;
	peak_rss = rss_bytes();
	peak_maps = count_maps();
	for (long i = 0; i < N; i++)
		ts_cancel(tasks[i]);
	for (long i = 0; i < N; i++) {
		cancelled += ts_await(tasks[i], NULL) == -ECANCELED;
		ts_task_unref(tasks[i]);
	}
	return NULL;
}

static void *nothing(void *arg) { return arg; }

TEST(million_sleeping_tasks_then_memory_back)
{
	ts_run(nothing, NULL); /* the first stack decides how guards are made */
	if (strcmp(ts__stack_guard_name(), "madvise"))
		SKIP("no MADV_GUARD_INSTALL (Linux 6.13): two mappings per task stack");
	tasks = calloc(N, sizeof(*tasks));
	CHECK(tasks != NULL);
	if (!tasks)
		return;
	memset(tasks, 0xff, N * sizeof(*tasks)); /* resident before the first reading */
	long rss0 = rss_bytes(), maps0 = count_maps();
	ts_run(crowd, NULL);
	long rss1 = rss_bytes();
	free(tasks);
	printf("# %d tasks: resident %.1f MiB at start, %.1f with all asleep, %.1f after; "
	       "%ld mappings added\n", N, rss0 / 1048576.0, peak_rss / 1048576.0,
	       rss1 / 1048576.0, peak_maps - maps0);
	CHECK(!spawn_failed);
	CHECK_EQ(sleeping, N);
	CHECK_EQ(cancelled, N);
	CHECK(peak_rss - rss0 > (long)N * 4096); /* each stack's page really was there */
	CHECK(peak_maps - maps0 < 5000);          /* not one or two per task */
#ifndef TS_ASAN /* ASan keeps the shadow of every stack page, and freed tasks in quarantine */
	CHECK(rss1 - rss0 < 32l << 20);           /* given back, but for pools and caches */
#endif
}

/* Slabs that stay in use cannot be unmapped: the stacks given back to them lose their pages
 * instead (MADV_DONTNEED), a run of neighbours at a time, once many wait in the depot. */
#define M 20000
#define KEEP_EVERY 100

static long kept_rss_before, kept_rss_after;

static void *touches_and_sleeps(void *arg)
{
	volatile char buf[32 * 1024]; /* a deep stack: 8 pages each */
	for (size_t i = 0; i < sizeof(buf); i += 4096)
		buf[i] = 1;
	(void)arg;
	return (void *)(long)ts_sleep_ms(3600 * 1000) + buf[0];
}

static void *some_stay(void *arg)
{
	(void)arg;
	long before = rss_bytes();
	for (long i = 0; i < M; i++)
		tasks[i] = ts_spawn(touches_and_sleeps, NULL);
	ts_sleep_ms(1); /* all run up to their sleep */
	kept_rss_before = rss_bytes() - before;
	for (long i = 0; i < M; i++)
		if (i % KEEP_EVERY)
			ts_cancel(tasks[i]);
	for (long i = 0; i < M; i++)
		if (i % KEEP_EVERY)
			ts_await(tasks[i], NULL);
	kept_rss_after = rss_bytes() - before;
	for (long i = 0; i < M; i++) {
		ts_cancel(tasks[i]);
		ts_await(tasks[i], NULL);
		ts_task_unref(tasks[i]);
	}
	return NULL;
}

TEST(stacks_given_back_to_slabs_in_use_lose_their_pages)
{
	tasks = calloc(M, sizeof(*tasks));
	CHECK(tasks != NULL);
	if (!tasks)
		return;
	ts_run(some_stay, NULL);
	free(tasks);
	printf("# %d tasks with 8 stack pages each: %.1f MiB; one in %d left: %.1f MiB\n", M,
	       kept_rss_before / 1048576.0, KEEP_EVERY, kept_rss_after / 1048576.0);
	CHECK(kept_rss_before > (long)M * 8 * 4096);
#ifndef TS_ASAN
	CHECK(kept_rss_after < kept_rss_before / 8);
#endif
}

int main(void)
{
	RUN(million_sleeping_tasks_then_memory_back);
	RUN(stacks_given_back_to_slabs_in_use_lose_their_pages);
	return DONE();
}
