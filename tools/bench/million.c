/* SPDX-License-Identifier: MIT */
/* One million live sleeping tasks in one process: the time to create them (spawn, then run
 * each until it sleeps), the resident memory each costs (VmRSS before and after, from
 * /proc/self/status; page tables reported apart, as VmPTE; the kernel's own memory for the
 * mappings estimated from the system-wide Slab of /proc/meminfo), then the time to cancel
 * them all.
 *
 * Task stacks come from slabs guarded with MADV_GUARD_INSTALL: a slab is one mapping for
 * hundreds of stacks, so a million tasks fit under the default vm.max_map_count (65530).
 * maps_per_task says so (about 0.002). With TASKSCOPE_STACK_GUARD=mprotect each stack takes
 * two mappings again, and spawning fails once the sysctl's limit is reached. */
#include <taskscope/taskscope.h>

#include <errno.h>

#include "bench.h"

static long tasks = 1000000, stack_kib = 0, sleep_s = 3600;
static long started;
static ts_task **handles;

static long count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	static char buf[65536]; /* not on the task stack: it is only 64 KiB */
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

/* A field of /proc/meminfo in bytes: system-wide, so only an estimate of our share. */
static long meminfo_bytes(const char *field)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long kb = -1;
	size_t len = strlen(field);
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':') {
			kb = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

/* A field of /proc/self/status in bytes ("VmRSS:   1234 kB"). */
static long status_bytes(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	size_t len = strlen(field);
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':') {
			kb = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

static void *sleeper(void *arg)
{
	(void)arg;
	started++;
	int err = ts_sleep_ns((uint64_t)sleep_s * 1000000000ull);
	return (void *)(intptr_t)err; /* -ECANCELED expected */
}

static void *bench_main(void *arg)
{
	(void)arg;
	long rss0 = status_bytes("VmRSS"), pte0 = status_bytes("VmPTE");
	long maps0 = count_maps(), slab0 = meminfo_bytes("Slab");

	uint64_t t0 = bench_now();
	for (long i = 0; i < tasks; i++) {
		handles[i] = ts_spawn(sleeper, NULL);
		if (!handles[i]) {
			fprintf(stderr, "million: spawn %ld of %ld failed: %s\n", i + 1, tasks,
				strerror(errno));
			exit(1);
		}
	}
	uint64_t t1 = bench_now();
	/* The main task queues behind every new task: a yield lets them all run to their sleep. */
	while (started < tasks)
		ts_yield();
	uint64_t t2 = bench_now();

	long rss1 = status_bytes("VmRSS"), pte1 = status_bytes("VmPTE");
	long maps1 = count_maps(), slab1 = meminfo_bytes("Slab");
	ts_task **all;
	int live = ts_all_tasks(&all);
	long sleeping = 0;
	for (int i = 0; i < live; i++)
		sleeping += ts_task_state(all[i]) == TS_WAITING;
	ts_tasks_free(all, live);

	uint64_t t3 = bench_now();
	long cancelled = 0;
	for (long i = 0; i < tasks; i++)
		ts_cancel(handles[i]);
	for (long i = 0; i < tasks; i++) {
		cancelled += ts_await(handles[i], NULL) == -ECANCELED;
		ts_task_unref(handles[i]);
	}
	uint64_t t4 = bench_now();

	if (sleeping != tasks || cancelled != tasks) {
		fprintf(stderr, "million: %ld of %ld tasks were sleeping, %ld cancelled\n",
			sleeping, tasks, cancelled);
		exit(1);
	}
	printf("BENCH million tasks=%ld create_s=%.3f "
	       "create_ns_per_task=%.1f spawn_ns_per_task=%.1f rss_bytes_per_task=%.0f "
	       "pte_bytes_per_task=%.0f rss_total_mib=%.1f teardown_ns_per_task=%.1f "
	       "stack_kib=%ld maps_per_task=%.2f kernel_slab_bytes_per_task=%.0f probes=%d\n",
	       tasks, (double)(t2 - t0) / 1e9, (double)(t2 - t0) / (double)tasks,
	       (double)(t1 - t0) / (double)tasks, (double)(rss1 - rss0) / (double)tasks,
	       (double)(pte1 - pte0) / (double)tasks, (double)(rss1 - rss0) / 1048576.0,
	       (double)(t4 - t3) / (double)tasks, stack_kib, (double)(maps1 - maps0) / (double)tasks,
	       (double)(slab1 - slab0) / (double)tasks, BENCH_PROBES);
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opt opts[] = {
		{ "tasks", &tasks, "live sleeping tasks" },
		{ "stack-kib", &stack_kib, "task stack size in KiB (0: the runtime's default)" },
		{ 0 },
	};
	bench_parse(argc, argv,
		    "million: a million live sleeping tasks: create time, resident memory per task",
		    opts);
	if (tasks < 1) {
		fprintf(stderr, "million: need at least one task\n");
		return 2;
	}
	if (stack_kib)
		ts_set_stack_size((size_t)stack_kib * 1024);
	else
		stack_kib = 64; /* the runtime's documented default */
	/* allocated and touched before the first VmRSS reading: the bench's array is not the
	 * runtime's cost */
	handles = calloc((size_t)tasks, sizeof(*handles));
	if (!handles) {
		perror("million: calloc");
		return 1;
	}
	memset(handles, 0xff, (size_t)tasks * sizeof(*handles));
	ts_run(bench_main, NULL);
	free(handles);
	return 0;
}
