/* SPDX-License-Identifier: MIT */
/*
 * stack_groups: many tasks parked at exactly three places, for grouped stacks.
 *
 *   stack_groups [-n N]
 *
 * A loop thread (ts_loop_start) runs every task; the main thread is no task: it spawns them
 * all onto that loop from three functions, each its own spawn site, then waits until every
 * task has parked and prints "ready". So the process holds exactly three groups:
 *
 *   alpha-K  N/2 tasks     spawned by spawn_alpha() (@spawn:alpha), parked in ts_sleep_ms
 *                          in park_alpha() (@park:alpha)
 *   beta-K   3N/10 tasks   spawned by spawn_beta() (@spawn:beta), parked in ts_event_wait
 *                          in park_beta() (@park:beta)
 *   gamma-K  the rest      spawned by spawn_gamma() (@spawn:gamma), parked in ts_sleep_ms
 *                          in park_gamma() (@park:gamma)
 *
 * Markers are comments on the lines of the calls; tests find them with grep -n.
 */
#include <errno.h>
#include <stdatomic.h>
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

static atomic_int parked;
static volatile uint64_t sink;
static ts_event *never;

PARK static int park_alpha(void)
{
	atomic_fetch_add(&parked, 1);
	int r = ts_sleep_ms(HOUR_MS); /* @park:alpha */
	sink += (uint64_t)r;
	return r;
}

static void *alpha(void *arg)
{
	(void)arg;
	sink += (uint64_t)park_alpha();
	return NULL;
}

PARK static int park_beta(void)
{
	atomic_fetch_add(&parked, 1);
	int r = ts_event_wait(never); /* @park:beta */
	sink += (uint64_t)r;
	return r;
}

static void *beta(void *arg)
{
	(void)arg;
	sink += (uint64_t)park_beta();
	return NULL;
}

PARK static int park_gamma(void)
{
	atomic_fetch_add(&parked, 1);
	int r = ts_sleep_ms(HOUR_MS); /* @park:gamma */
	sink += (uint64_t)r;
	return r;
}

static void *gamma_(void *arg)
{
	(void)arg;
	sink += (uint64_t)park_gamma();
	return NULL;
}

static void check(ts_task *t, const char *name)
{
	if (!t) {
		fprintf(stderr, "stack_groups: spawn %s: %s\n", name, strerror(errno));
		exit(1);
	}
	ts_task_unref(t);
}

PARK static void spawn_alpha(ts_loop *loop, int k)
{
	char name[32];
	snprintf(name, sizeof(name), "alpha-%d", k);
	check(ts_spawn_on(loop, alpha, NULL, name), name); /* @spawn:alpha */
}

PARK static void spawn_beta(ts_loop *loop, int k)
{
	char name[32];
	snprintf(name, sizeof(name), "beta-%d", k);
	check(ts_spawn_on(loop, beta, NULL, name), name); /* @spawn:beta */
}

PARK static void spawn_gamma(ts_loop *loop, int k)
{
	char name[32];
	snprintf(name, sizeof(name), "gamma-%d", k);
	check(ts_spawn_on(loop, gamma_, NULL, name), name); /* @spawn:gamma */
}

int main(int argc, char **argv)
{
	int c, n = 10000;
	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c != 'n')
			goto usage;
		n = atoi(optarg);
	}
	if (optind != argc || n < 3 || n > 1000000)
		goto usage;
	int na = n / 2, nb = 3 * n / 10, ng = n - na - nb;
	ts_loop *loop = ts_loop_start();
	never = ts_event_new();
	if (!loop || !never) {
		fprintf(stderr, "stack_groups: %s\n", strerror(errno));
		return 1;
	}
	for (int k = 0; k < na; k++)
		spawn_alpha(loop, k);
	for (int k = 0; k < nb; k++)
		spawn_beta(loop, k);
	for (int k = 0; k < ng; k++)
		spawn_gamma(loop, k);
	while (atomic_load(&parked) < n)
		usleep(1000);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
usage:
	fprintf(stderr, "usage: stack_groups [-n N]\n");
	return 2;
}
