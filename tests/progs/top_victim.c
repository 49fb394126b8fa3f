/* SPDX-License-Identifier: MIT */
/*
 * top_victim: a victim for `taskscope top`'s tests and benchmark.
 *
 *   top_victim [--pingpong] [--report MS]
 *
 * Reads commands on stdin, one per line, run by the ts_run task:
 *   spawn NAME    a task NAME (coroutine idler) that sleeps until finished; prints
 *                 "spawned ID NAME NS", NS the CLOCK_MONOTONIC time once it is in the registry
 *   finish NAME   cancels the task NAME and awaits it; prints "finished ID NAME NS", NS the
 *                 time once it has left the registry
 *   spin NAME     a task NAME that runs 3 s without yielding, then sleeps as idler does;
 *                 prints "spinning ID NAME" just before it runs
 *   quit          (or end of input) exits 0
 * It prints "ready" first. With --pingpong, two tasks "ping" and "pong" on a loop thread of
 * their own yield to each other as fast as they can, and a plain thread prints every MS
 * milliseconds (default 100) "rate MONOTONIC_MS PER_SECOND PER_CPU_SECOND" for the last period:
 * switches per second of wall time, and per second the loop thread was on a CPU (what a
 * tracer's cost shows in on a machine where other work takes CPUs away).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

#define MAX_NAMED 1024

static struct {
	char name[64];
	ts_task *task;
} named[MAX_NAMED];

static uint64_t switches;    /* ping-pong yields, read by the reporter thread */
static long report_ms = 100;
static int pingpong_tid;

/* CPU time of a thread of ours, from the kernel's accounting (schedstat: ns on a CPU). */
static uint64_t thread_cpu_ns(int tid)
{
	char path[64];
	unsigned long long ns = 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
	FILE *f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%llu", &ns) != 1)
			ns = 0;
		fclose(f);
	}
	return ns;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *spinner(void *arg)
{
	(void)arg;
	uint64_t end = now_ns() + 3000000000ull;
	while (now_ns() < end)
		;
	while (ts_sleep_ms(3600 * 1000) == 0)
		;
	return NULL;
}

static void *idler(void *arg)
{
	(void)arg;
	while (ts_sleep_ms(3600 * 1000) == 0)
		;
	return NULL;
}

static void *pinger(void *arg)
{
	(void)arg;
	for (;;) {
		if (ts_yield())
			return NULL;
		__atomic_store_n(&switches, switches + 1, __ATOMIC_RELAXED);
	}
}

static void *reporter(void *arg)
{
	(void)arg;
	uint64_t last = 0, t0 = now_ns(), c0 = thread_cpu_ns(pingpong_tid);
	for (;;) {
		struct timespec ts = { report_ms / 1000, report_ms % 1000 * 1000000L };
		nanosleep(&ts, NULL);
		uint64_t t1 = now_ns(), s = __atomic_load_n(&switches, __ATOMIC_RELAXED);
		uint64_t c1 = thread_cpu_ns(pingpong_tid);
		printf("rate %llu %.0f %.0f\n", (unsigned long long)(t1 / 1000000),
		       (double)(s - last) * 1e9 / (double)(t1 - t0),
		       c1 > c0 ? (double)(s - last) * 1e9 / (double)(c1 - c0) : 0.0);
		fflush(stdout);
		last = s;
		t0 = t1;
		c0 = c1;
	}
	return NULL;
}

/* One line from fd 0, waiting in the loop (other tasks run meanwhile). 0 at end of input. */
static int read_line(char *buf, size_t n)
{
	size_t len = 0;
	while (len + 1 < n) {
		if (ts_wait_fd(0, TS_READ, -1) < 0) /* the ready events, or -errno */
			return 0;
		ssize_t r = read(0, buf + len, 1);
		if (r <= 0)
			return 0;
		if (buf[len] == '\n')
			break;
		len++;
	}
	buf[len] = 0;
	return 1;
}

static void *main_task(void *arg)
{
	int pingpong = (int)(intptr_t)arg;
	char line[256];
	if (pingpong) {
		ts_loop *loop = ts_loop_start();
		pthread_t th;
		if (loop)
			pingpong_tid = ts_loop_tid(loop);
		if (!loop || !ts_spawn_on(loop, pinger, NULL, "ping") ||
		    !ts_spawn_on(loop, pinger, NULL, "pong") ||
		    pthread_create(&th, NULL, reporter, NULL)) {
			perror("top_victim: pingpong");
			exit(1);
		}
	}
	printf("ready\n");
	fflush(stdout);
	while (read_line(line, sizeof(line))) {
		char *name = strchr(line, ' ');
		if (name)
			*name++ = 0;
		if (!strcmp(line, "quit"))
			break;
		if (!name || !*name || strlen(name) >= sizeof(named[0].name)) {
			printf("error: spawn NAME, spin NAME, finish NAME or quit\n");
			fflush(stdout);
			continue;
		}
		int k;
		for (k = 0; k < MAX_NAMED && (!named[k].task || strcmp(named[k].name, name)); k++)
			;
		if (!strcmp(line, "spawn") || !strcmp(line, "spin")) {
			int spin = !strcmp(line, "spin");
			for (k = 0; k < MAX_NAMED && named[k].task; k++)
				;
			ts_task *t = k >= MAX_NAMED ? NULL : spin ? ts_spawn_named(spinner, NULL, name)
							      : ts_spawn_named(idler, NULL, name);
			if (!t) {
				printf("error: cannot spawn %s\n", name);
			} else if (spin) {
				named[k].task = t;
				snprintf(named[k].name, sizeof(named[k].name), "%s", name);
				printf("spinning %llu %s\n", (unsigned long long)ts_task_id(t), name);
				fflush(stdout);
				ts_yield(); /* it runs now, 3 s */
				continue;
			} else {
				ts_yield(); /* let it run up to its sleep */
				named[k].task = t;
				snprintf(named[k].name, sizeof(named[k].name), "%s", name);
				printf("spawned %llu %s %llu\n", (unsigned long long)ts_task_id(t), name,
				       (unsigned long long)now_ns());
			}
		} else if (!strcmp(line, "finish") && k < MAX_NAMED) {
			uint64_t id = ts_task_id(named[k].task);
			ts_cancel(named[k].task);
			ts_await(named[k].task, NULL);
			ts_task_unref(named[k].task);
			named[k].task = NULL;
			printf("finished %llu %s %llu\n", (unsigned long long)id, name,
			       (unsigned long long)now_ns());
		} else {
			printf("error: no task %s\n", name);
		}
		fflush(stdout);
	}
	/* the ping-pong loop never stops by itself: leave without tearing it down */
	fflush(stdout);
	_exit(0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pingpong", no_argument, NULL, 'p' },
		{ "report", required_argument, NULL, 'r' },
		{ 0 },
	};
	int c, pingpong = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pingpong = 1; break;
		case 'r': report_ms = atol(optarg); break;
		default:
			fprintf(stderr, "usage: top_victim [--pingpong] [--report MS]\n");
			return 2;
		}
	}
	if (report_ms < 10 || report_ms > 60000) {
		fprintf(stderr, "top_victim: --report takes 10 to 60000 ms\n");
		return 2;
	}
	ts_run(main_task, (void *)(intptr_t)pingpong);
	return 0;
}
