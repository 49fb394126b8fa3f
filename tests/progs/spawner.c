/* SPDX-License-Identifier: MIT */
/*
 * spawner: a victim program for the probe tests. It uses only the public API and fires every
 * probe of the taskscope provider: loop threads start and stop (the ts_run loop and two
 * ts_loop_start loops), tasks are created locally, on other loops and from other loops, they
 * sleep, yield, await, wait on a queue, an event and a pipe, one is renamed, one is cancelled
 * and one fails. Two tasks play yield ping-pong, each checking a value chain it keeps live
 * across its yields. Everything it computes is deterministic.
 *
 *   spawner [-n WORKERS] [-y YIELDS] [GOFILE [HOLDFILE]]
 *
 * It prints "ready", then waits, so that a tracer can attach first: until GOFILE exists, or,
 * without GOFILE, for a line (or end of file) on stdin. Then it runs the workload and prints
 *
 *   created N finished N result R
 *   outcomes done D cancelled 1 failed 1
 *
 * N counts every task, the ts_run task included; R is a checksum of the tasks' results.
 * With HOLDFILE it then waits until HOLDFILE exists before exiting, so that a test can look
 * at the live process after the work is done. Exit status 0, or 1 when a check inside the
 * workload failed (the line "MISMATCH ..." says which), 2 on usage errors, 3 when a file it
 * waits for did not appear within a minute.
 *
 * -n WORKERS: tasks spawned onto each of the two loops (default 8); each spawns and awaits
 * one child on its own loop. -y YIELDS: yields of each ping-pong task (default 2000).
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

#define MAX_TASKS 4096

static int workers = 8;
static long yields = 2000;
static int failed_checks;

/* Every task spawned (not the ts_run task), with the reference ts_spawn returned, so that
 * after ts_run we can count the finished ones. Filled from several loop threads. */
static ts_task *all[MAX_TASKS];
static int nall;
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;

static ts_queue *queue;
static ts_event *event;
static int pipefd[2] = { -1, -1 };

static void mismatch(const char *what, unsigned long long got, unsigned long long want)
{
	printf("MISMATCH %s: got %llu, want %llu\n", what, got, want);
	fflush(stdout);
	__atomic_add_fetch(&failed_checks, 1, __ATOMIC_RELAXED);
}

static ts_task *keep(ts_task *t)
{
	if (!t) {
		printf("MISMATCH spawn failed: %s\n", strerror(errno));
		fflush(stdout);
		exit(1);
	}
	pthread_mutex_lock(&all_lock);
	if (nall == MAX_TASKS) {
		printf("MISMATCH too many tasks\n");
		exit(1);
	}
	all[nall++] = t;
	pthread_mutex_unlock(&all_lock);
	return t;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 1099511628211ull + 0x9e3779b97f4a7c15ull;
}

/* ---- the tasks ---- */

static void *square(void *arg)
{
	uint64_t i = (uintptr_t)arg;
	ts_yield();
	return (void *)(uintptr_t)(i * i);
}

/* Runs on one of the two extra loops: sleeps, yields, spawns a child there and awaits it,
 * then hands a value to the consumer on the main loop through the queue. */
static void *remote_worker(void *arg)
{
	uint64_t i = (uintptr_t)arg;
	if (ts_sleep_ms(1 + i % 3))
		mismatch("remote sleep", 1, 0);
	for (uint64_t k = 0; k < i % 4; k++)
		ts_yield();
	ts_task *child = keep(ts_spawn(square, (void *)(uintptr_t)i));
	void *r = NULL;
	int err = ts_await(child, &r);
	if (err || (uintptr_t)r != i * i)
		mismatch("remote await", (uintptr_t)r, i * i);
	if (ts_queue_put(queue, (void *)(uintptr_t)(i * i + i)))
		mismatch("queue put", 1, 0);
	return (void *)(uintptr_t)(i * i + 1);
}

/* Gets one value per remote worker from the queue (capacity 2, so putters block too). */
static void *consumer(void *arg)
{
	long n = (long)(intptr_t)arg;
	uint64_t sum = 0;
	for (long k = 0; k < n; k++) {
		void *v;
		if (ts_queue_get(queue, &v)) {
			mismatch("queue get", 1, 0);
			break;
		}
		sum += (uintptr_t)v;
	}
	return (void *)(uintptr_t)sum;
}

static void *event_waiter(void *arg)
{
	(void)arg;
	if (ts_event_wait(event))
		mismatch("event wait", 1, 0);
	return (void *)(uintptr_t)7;
}

/* Renames itself, then sleeps while the main task renames it again. */
static void *sleeper(void *arg)
{
	(void)arg;
	ts_task_rename(ts_current_task(), "sleeper-self");
	if (ts_sleep_ms(5))
		mismatch("sleeper sleep", 1, 0);
	return (void *)(uintptr_t)(strcmp(ts_task_name(ts_current_task()), "renamed-sleeper") == 0
					    ? 11 : 13);
}

static void *fd_reader(void *arg)
{
	(void)arg;
	int ev = ts_wait_fd(pipefd[0], TS_READ, 5 * 1000000000ll);
	if (ev != TS_READ) {
		mismatch("wait fd", (unsigned long long)ev, TS_READ);
		return NULL;
	}
	unsigned char c = 0;
	if (read(pipefd[0], &c, 1) != 1)
		mismatch("pipe read", 0, 1);
	return (void *)(uintptr_t)c;
}

static void *forever(void *arg)
{
	(void)arg;
	ts_sleep_ms(60000); /* cancelled long before */
	return (void *)(uintptr_t)99;
}

static void *failer(void *arg)
{
	(void)arg;
	ts_yield();
	ts_fail(42);
}

/* Yield ping-pong: a value chain kept in locals across every yield, checked afterwards
 * against the same chain computed without yielding. */
static void *pingpong(void *arg)
{
	uint64_t seed = (uintptr_t)arg, x = seed, acc = 0;
	volatile uint64_t spill[4] = { seed, ~seed, seed * 3, seed ^ 0x5555 };
	for (long i = 0; i < yields; i++) {
		x = x * 6364136223846793005ull + (uint64_t)i;
		if (ts_yield()) {
			mismatch("yield", 1, 0);
			break;
		}
		acc ^= x >> 7;
		spill[i & 3] += x;
	}
	uint64_t y = seed, want = 0, ws[4] = { seed, ~seed, seed * 3, seed ^ 0x5555 };
	for (long i = 0; i < yields; i++) {
		y = y * 6364136223846793005ull + (uint64_t)i;
		want ^= y >> 7;
		ws[i & 3] += y;
	}
	if (acc != want)
		mismatch("ping-pong chain", acc, want);
	for (int k = 0; k < 4; k++)
		if (spill[k] != ws[k])
			mismatch("ping-pong spill", spill[k], ws[k]);
	return (void *)(uintptr_t)(acc ^ spill[0] ^ spill[3]);
}

/* ---- the ts_run task ---- */

static void *main_task(void *arg)
{
	(void)arg;
	uint64_t h = 0;
	ts_loop *loops[2];
	for (int l = 0; l < 2; l++)
		if (!(loops[l] = ts_loop_start())) {
			mismatch("ts_loop_start", 0, 1);
			return NULL;
		}
	queue = ts_queue_new(2);
	event = ts_event_new();
	if (!queue || !event || pipe(pipefd)) {
		mismatch("setup", 0, 1);
		return NULL;
	}

	int nremote = 2 * workers;
	ts_task **remote = calloc(nremote, sizeof(*remote));
	for (int i = 0; i < nremote; i++) {
		char name[32];
		snprintf(name, sizeof(name), "worker-%d", i);
		remote[i] = keep(ts_spawn_on(loops[i % 2], remote_worker, (void *)(uintptr_t)i,
					     i % 2 ? name : NULL));
	}
	ts_task *cons = keep(ts_spawn_named(consumer, (void *)(intptr_t)nremote, "consumer"));
	ts_task *evw = keep(ts_spawn(event_waiter, NULL));
	ts_task *sl = keep(ts_spawn(sleeper, NULL));
	ts_task *fdr = keep(ts_spawn_named(fd_reader, NULL, "fd-reader"));
	ts_task *fo = keep(ts_spawn(forever, NULL));
	ts_task *fa = keep(ts_spawn(failer, NULL));
	ts_task *pp[2];
	for (int k = 0; k < 2; k++)
		pp[k] = keep(ts_spawn(pingpong, (void *)(uintptr_t)(k + 1)));

	ts_yield(); /* let them all start */
	if (ts_sleep_ms(1))
		mismatch("main sleep", 1, 0);
	ts_task_rename(sl, "renamed-sleeper");
	ts_event_set(event);
	if (write(pipefd[1], "A", 1) != 1)
		mismatch("pipe write", 0, 1);
	if (ts_cancel(fo))
		mismatch("cancel", 1, 0);

	void *r;
	for (int i = 0; i < nremote; i++) {
		r = NULL;
		if (ts_await(remote[i], &r))
			mismatch("await remote", 1, 0);
		h = mix(h, (uintptr_t)r);
	}
	ts_task *local[] = { cons, evw, sl, fdr, pp[0], pp[1] };
	for (size_t k = 0; k < sizeof(local) / sizeof(local[0]); k++) {
		r = NULL;
		if (ts_await(local[k], &r))
			mismatch("await local", 1, 0);
		h = mix(h, (uintptr_t)r);
	}
	int err = ts_await(fo, NULL);
	if (err != -ECANCELED)
		mismatch("await cancelled", (unsigned long long)-err, ECANCELED);
	h = mix(h, (uint64_t)-err);
	err = ts_await(fa, NULL);
	if (err != -42)
		mismatch("await failed", (unsigned long long)-err, 42);
	h = mix(h, (uint64_t)-err);

	for (int l = 0; l < 2; l++)
		if (ts_loop_stop(loops[l]))
			mismatch("ts_loop_stop", 1, 0);
	free(remote);
	ts_queue_free(queue);
	ts_event_free(event);
	close(pipefd[0]);
	close(pipefd[1]);
	return (void *)(uintptr_t)h;
}

/* ---- waiting for the go ---- */

static int wait_file(const char *path)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	for (int i = 0; i < 30000; i++) { /* a minute */
		if (access(path, F_OK) == 0)
			return 0;
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "spawner: %s did not appear\n", path);
	return -1;
}

int main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "n:y:")) != -1) {
		switch (c) {
		case 'n': workers = atoi(optarg); break;
		case 'y': yields = atol(optarg); break;
		default: goto usage;
		}
	}
	if (workers < 1 || workers > 1000 || yields < 0 || argc - optind > 2)
		goto usage;
	const char *gofile = optind < argc ? argv[optind] : NULL;
	const char *holdfile = optind + 1 < argc ? argv[optind + 1] : NULL;

	printf("ready\n");
	fflush(stdout);
	if (gofile) {
		if (wait_file(gofile))
			return 3;
	} else {
		char line[64];
		(void)!fgets(line, sizeof(line), stdin); /* a line or end of file: go */
	}

	void *r = ts_run(main_task, NULL);
	int done = 1, cancelled = 0, failed = 0, other = 0; /* the ts_run task returned */
	for (int k = 0; k < nall; k++) {
		switch (ts_task_state(all[k])) {
		case TS_DONE: done++; break;
		case TS_CANCELLED: cancelled++; break;
		case TS_FAILED: failed++; break;
		default: other++; break;
		}
		ts_task_unref(all[k]);
	}
	if (other)
		mismatch("unfinished tasks", (unsigned long long)other, 0);
	printf("created %d finished %d result %llu\n", nall + 1, done + cancelled + failed,
	       (unsigned long long)(uintptr_t)r);
	printf("outcomes done %d cancelled %d failed %d\n", done, cancelled, failed);
	fflush(stdout);
	if (holdfile && wait_file(holdfile))
		return 3;
	return failed_checks ? 1 : 0;

usage:
	fprintf(stderr, "usage: spawner [-n WORKERS] [-y YIELDS] [GOFILE [HOLDFILE]]\n");
	return 2;
}
