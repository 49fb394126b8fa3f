/* SPDX-License-Identifier: MIT */
/*
 * parked_stacks: a victim whose tasks park at known places, for the stack tests.
 *
 *   parked_stacks [-c] [-d DEPTH] [-n IDLE]
 *
 * On one loop (the ts_run thread) it spawns, and lets run until each is parked:
 *
 *   sleeper          sleep_here()  in ts_sleep_ms          (marker @park:sleep)
 *   awaiter          await_here()  awaiting "sleeper"      (marker @park:await)
 *   fd-waiter        fd_here()     on a pipe never written (marker @park:fd)
 *   deep             recurse()     DEPTH calls deep, then sleeps (markers @park:deep, @park:recurse)
 *   idle-K           idle_here()   IDLE more sleeping tasks, for benchmarks (marker @park:idle)
 *
 * then prints "ready" and parks the ts_run task itself, awaiting "fd-waiter" (@park:main): the
 * await tree is two chains, Task-1 -> fd-waiter and awaiter -> sleeper.
 * Each marker is a comment on the line of the call that parks (or recurses); tests find the
 * lines with grep -n. The callers' lines carry @call:NAME.
 *
 * -c adds two tasks whose saved frame chain it corrupts before printing "ready", to prove that
 * a reader ends such a stack with a marker: in "corrupt-garbage" the saved rbp of
 * corrupt_here()'s caller becomes an address outside any stack; in "corrupt-loop" it points at
 * itself. Neither task ever resumes, so the program never runs on the corrupted chain.
 *
 * Every function on a parking path is kept out of line and uses its callee's result after the
 * call, so that no frame vanishes into its caller or into a tail call.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

#if defined(__clang__)
#define PARK __attribute__((noinline))
#else
#define PARK __attribute__((noinline, noipa))
#endif

#define HOUR_MS (3600 * 1000)

static int depth = 200;
static int nidle;
static int corrupt;
static int pipefd[2] = { -1, -1 };
static volatile uint64_t sink;
static int parked; /* tasks about to park; all of them parked once the ts_run task runs again */
static uint64_t *corrupt_fp[2];

static void about_to_park(void)
{
	parked++;
}

PARK static int sleep_here(void)
{
	about_to_park();
	int r = ts_sleep_ms(HOUR_MS); /* @park:sleep */
	sink += (uint64_t)r;
	return r;
}

static void *sleeper(void *arg)
{
	(void)arg;
	int r = sleep_here(); /* @call:sleep */
	sink += (uint64_t)r;
	return NULL;
}

PARK static int await_here(ts_task *t)
{
	about_to_park();
	int r = ts_await(t, NULL); /* @park:await */
	sink += (uint64_t)r;
	return r;
}

static void *awaiter(void *arg)
{
	int r = await_here(arg); /* @call:await */
	sink += (uint64_t)r;
	return NULL;
}

PARK static int fd_here(int fd)
{
	about_to_park();
	int r = ts_wait_fd(fd, TS_READ, -1); /* @park:fd */
	sink += (uint64_t)r;
	return r;
}

static void *fd_waiter(void *arg)
{
	(void)arg;
	int r = fd_here(pipefd[0]); /* @call:fd */
	sink += (uint64_t)r;
	return NULL;
}

PARK static int recurse(int n)
{
	volatile int here = n;
	int r;
	if (n == 0) {
		about_to_park();
		r = ts_sleep_ms(HOUR_MS); /* @park:deep */
	} else {
		r = recurse(n - 1); /* @park:recurse */
	}
	return r + here;
}

static void *deep(void *arg)
{
	(void)arg;
	int r = recurse(depth); /* @call:deep */
	sink += (uint64_t)r;
	return NULL;
}

PARK static int idle_here(void)
{
	about_to_park();
	int r = ts_sleep_ms(HOUR_MS); /* @park:idle */
	sink += (uint64_t)r;
	return r;
}

static void *idle(void *arg)
{
	(void)arg;
	int r = idle_here(); /* @call:idle */
	sink += (uint64_t)r;
	return NULL;
}

/* Remembers its frame pointer, so that the ts_run task can corrupt the saved rbp in it: the
 * frame record [fp] = caller's rbp, [fp + 8] = return address. */
PARK static int corrupt_here(int which)
{
	corrupt_fp[which] = __builtin_frame_address(0);
	about_to_park();
	int r = ts_sleep_ms(HOUR_MS); /* @park:corrupt */
	sink += (uint64_t)r;
	return r;
}

static void *corrupted(void *arg)
{
	int r = corrupt_here((int)(intptr_t)arg); /* @call:corrupt */
	sink += (uint64_t)r;
	return NULL;
}

static ts_task *spawn(void *(*fn)(void *), const char *coro, void *arg, const char *name)
{
	ts_task *t = ts_spawn_(NULL, fn, coro, arg, name);
	if (!t) {
		fprintf(stderr, "parked_stacks: spawn %s: %s\n", name, strerror(errno));
		exit(1);
	}
	return t;
}

static void *main_task(void *arg)
{
	(void)arg;
	int expected = 4 + nidle + (corrupt ? 2 : 0);
	if (pipe(pipefd)) {
		perror("parked_stacks: pipe");
		exit(1);
	}
	ts_task *sl = spawn(sleeper, "sleeper", NULL, "sleeper");
	spawn(awaiter, "awaiter", sl, "awaiter");
	ts_task *fdw = spawn(fd_waiter, "fd_waiter", NULL, "fd-waiter");
	spawn(deep, "deep", NULL, "deep");
	for (int k = 0; k < nidle; k++) {
		char name[32];
		snprintf(name, sizeof(name), "idle-%d", k);
		spawn(idle, "idle", NULL, name);
	}
	if (corrupt) {
		spawn(corrupted, "corrupted", (void *)0, "corrupt-garbage");
		spawn(corrupted, "corrupted", (void *)1, "corrupt-loop");
	}
	while (parked < expected) /* each runs until it parks, then the next one */
		ts_yield();
	if (corrupt) {
		*corrupt_fp[0] = 0xdeadbeefdeadbee8ull;
		*corrupt_fp[1] = (uint64_t)(uintptr_t)corrupt_fp[1];
	}
	printf("ready\n");
	fflush(stdout);
	int r = ts_await(fdw, NULL); /* @park:main */
	sink += (uint64_t)r;
	return NULL;
}

int main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "cd:n:")) != -1) {
		switch (c) {
		case 'c': corrupt = 1; break;
		case 'd': depth = atoi(optarg); break;
		case 'n': nidle = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (optind != argc || depth < 0 || depth > 10000 || nidle < 0 || nidle > 1000000)
		goto usage;
	ts_set_stack_size((size_t)depth * 128 + 64 * 1024);
	ts_run(main_task, NULL);
	return 0;
usage:
	fprintf(stderr, "usage: parked_stacks [-c] [-d DEPTH] [-n IDLE]\n");
	return 2;
}
