/* SPDX-License-Identifier: MIT */
/*
 * crasher: a victim that crashes inside a task, for the post-mortem tests (70-core.bats).
 *
 *   crasher segv|abort
 *
 * On a loop thread started with ts_loop_start it parks "sleeper" (in a sleep), "waiter" (on
 * a queue) and "awaiter" (awaiting "sleeper"); then "worker-3", on the same loop, crashes:
 * `segv` dereferences NULL in crash_here() (marker @crash:segv), `abort` calls abort() there
 * (marker @crash:abort). It prints "tid N" (the loop thread's) before the crash. The main
 * thread runs its own loop, its Task-1 parked on an event that is never set.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <taskscope/taskscope.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noipa))
#endif

static int do_abort;
static int parked;
static ts_task *main_t;
static volatile int *volatile nowhere;
static volatile uint64_t sink;

NOINLINE static int crash_here(int n)
{
	if (do_abort)
		abort(); /* @crash:abort */
	int v = *nowhere; /* @crash:segv */
	sink += (uint64_t)v;
	return v + n;
}

static void *worker(void *arg)
{
	(void)arg;
	/* the others park first, Task-1 too (on the other thread) */
	while (parked < 3 || ts_task_state(main_t) != TS_WAITING)
		ts_yield();
	/* A yield with nothing else ready switches nowhere: had the last one been such, the
	 * thread's last event would be its wait. One real wait makes it the switch back here. */
	ts_sleep_ms(1);
	printf("tid %ld\n", (long)syscall(SYS_gettid));
	fflush(stdout);
	int r = crash_here(3); /* @call:crash */
	sink += (uint64_t)r;
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	parked++;
	ts_sleep_ms(3600 * 1000);
	return NULL;
}

static void *waiter(void *arg)
{
	void *item;
	parked++;
	ts_queue_get(arg, &item);
	return NULL;
}

static void *awaiter(void *arg)
{
	parked++;
	ts_await(arg, NULL);
	return NULL;
}

#define spawn(l, fn, arg, name) spawn_(l, (ts_fn)(fn), #fn, arg, name)
static ts_task *spawn_(ts_loop *l, ts_fn fn, const char *coro, void *arg, const char *name)
{
	struct ts_spawn_opts o = { .name = name, .loop = l };
	ts_task *t = ts_spawn_opts_(fn, coro, arg, &o, sizeof(o));
	if (!t) {
		fprintf(stderr, "crasher: spawn %s: %s\n", name, strerror(errno));
		exit(1);
	}
	return t;
}

static void *main_task(void *arg)
{
	(void)arg;
	main_t = ts_current_task();
	ts_loop *l = ts_loop_start();
	ts_queue *q = ts_queue_new(1);
	ts_event *never = ts_event_new();
	if (!l || !q || !never) {
		fprintf(stderr, "crasher: %s\n", strerror(errno));
		exit(1);
	}
	ts_task *sl = spawn(l, sleeper, NULL, "sleeper");
	spawn(l, waiter, q, "waiter");
	spawn(l, awaiter, sl, "awaiter");
	spawn(l, worker, NULL, "worker-3");
	ts_event_wait(never);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "segv") && strcmp(argv[1], "abort"))) {
		fprintf(stderr, "usage: crasher segv|abort\n");
		return 2;
	}
	do_abort = !strcmp(argv[1], "abort");
	setvbuf(stdout, NULL, _IOLBF, 0);
	ts_run(main_task, NULL);
	return 0;
}
