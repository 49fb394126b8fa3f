/* SPDX-License-Identifier: MIT */
/* Cold: what the flight recorder adds to a yield (a wait and two switch records) when the
 * caches have gone cold, as they have when a loop wakes from a sleep on a busy machine. Before
 * each timed yield the bench writes a line in every 64 bytes of a buffer larger than the
 * last-level cache (--sweep MiB), which leaves the recorder's ring, its header and the loop
 * in memory, and their pages out of the TLB. The recorder is on and off by turns in quads (off
 * on on off), one timed yield each, so that a drift in the machine's load falls on both sides;
 * prints the median over quads of (on - off), its 95% interval (order statistics), and the
 * median yield with the recorder off. With --wake 1, a loop's way out of a sleep instead: the
 * task waits on a pipe, and another thread on the same CPU (the bench runs pinned) writes
 * through the buffer, as another process would while the loop sleeps, then wakes it; timed
 * from epoll_wait's return (the kernel's wake-up left out: its noise is larger than the
 * recorder's cost) to the task running again, the ready and the switch records between.
 * tools/bench/flight runs both. */
#include <taskscope/taskscope.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

static long quads = 1500, sweep_mib = 64, ring_mib = 16, wake;
static volatile char *sweep;
static int to_helper[2], to_loop[2];   /* --wake: the pipes between the loop and its helper */
static uint64_t woken_at;              /* --wake: when the loop's epoll_wait came back */

/* The runtime's epoll_wait (this program's own is the one its loop calls): the time it came
 * back, so that a wake-up is timed from there, without the kernel's way to it (its noise). */
int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	long n = syscall(SYS_epoll_wait, epfd, evs, max, timeout);
	__atomic_store_n(&woken_at, bench_now(), __ATOMIC_RELAXED);
	return (int)n;
}

static void sweep_caches(void)
{
	size_t n = (size_t)sweep_mib << 20;
	for (size_t i = 0; i < n; i += 64)
		sweep[i]++;
}

/* --wake: the other thread on the loop's CPU (the bench runs pinned), as another process
 * would be while the loop sleeps: it writes through the caches, then wakes the loop. */
static void *helper(void *arg)
{
	char c;
	(void)arg;
	while (read(to_helper[0], &c, 1) == 1) {
		sweep_caches();
		if (write(to_loop[1], &c, 1) != 1)
			break;
	}
	return NULL;
}

/* One yield, timed after the sweep, with the recorder on or off; with --wake, one sleep in
 * epoll_wait, timed from its return to the task running again. */
static double cold_yield(bool on)
{
	ts_flight_recorder(on ? (size_t)ring_mib << 20 : 0);
	ts_yield(); /* with the recorder as it now is, the loop's way warm once */
	if (wake) {
		char c = 0;
		if (write(to_helper[1], &c, 1) != 1 || ts_wait_fd(to_loop[0], TS_READ, -1) < 0)
			abort();
		uint64_t t1 = bench_now();
		if (read(to_loop[0], &c, 1) != 1)
			abort();
		return (double)(t1 - __atomic_load_n(&woken_at, __ATOMIC_RELAXED));
	}
	sweep_caches();
	uint64_t t0 = bench_now();
	ts_yield();
	return (double)(bench_now() - t0);
}

static void *bench_main(void *arg)
{
	(void)arg;
	double *d = calloc((size_t)quads, sizeof(*d)), *off = calloc((size_t)quads, sizeof(*off));
	if (!d || !off) {
		fprintf(stderr, "cold: out of memory\n");
		return (void *)1;
	}
	cold_yield(true); /* the ring made, its pages faulted in */
	for (long q = 0; q < quads; q++) {
		double a = cold_yield(false), b = cold_yield(true), c = cold_yield(true),
		       e = cold_yield(false);
		d[q] = (b + c - a - e) / 2;
		off[q] = (a + e) / 2;
	}
	ts_flight_recorder(0);
	qsort(d, (size_t)quads, sizeof(*d), bench_cmp_double);
	/* the ranks of the median's 95% interval (normal approximation to the binomial) */
	double r = (double)quads; /* its square root, without libm */
	for (int i = 0; i < 40; i++)
		r = (r + (double)quads / r) / 2;
	double z = 0.98 * r;
	long lo = (long)((double)quads / 2 - z), hi = (long)((double)quads / 2 + z + 1);
	lo = lo < 1 ? 1 : lo;
	hi = hi > quads ? quads : hi;
	printf("BENCH flight_%s quads=%ld sweep_mib=%ld ns_added=%.0f ci_lo=%.0f ci_hi=%.0f "
	       "ns_yield_off=%.0f\n",
	       wake ? "wake" : "cold", quads, sweep_mib, bench_median(d, (int)quads), d[lo - 1], d[hi - 1],
	       bench_median(off, (int)quads));
	free(d);
	free(off);
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opt opts[] = {
		{ "quads", &quads, "quads (off on on off) of timed yields" },
		{ "sweep", &sweep_mib, "MiB written through before each timed yield" },
		{ "ring", &ring_mib, "the flight recorder's ring size, MiB" },
		{ "wake", &wake, "1: time a wake-up from epoll_wait, the sweep made by another thread" },
		{ 0 },
	};
	bench_parse(argc, argv,
		    "cold: what the flight recorder adds to a yield after the caches went cold", opts);
	if (quads < 8 || sweep_mib < 1 || ring_mib < 1) {
		fprintf(stderr, "cold: need at least 8 quads, 1 MiB to sweep, a 1 MiB ring\n");
		return 2;
	}
	int err = ts_flight_recorder((size_t)ring_mib << 20);
	if (err) {
		fprintf(stderr, "cold: no flight recorder in this build: %s\n", strerror(-err));
		return 2;
	}
	ts_flight_recorder(0);
	if (!(sweep = malloc((size_t)sweep_mib << 20))) {
		fprintf(stderr, "cold: out of memory\n");
		return 1;
	}
	memset((void *)sweep, 1, (size_t)sweep_mib << 20);
	pthread_t th;
	if (wake && (pipe(to_helper) || pipe(to_loop) || pthread_create(&th, NULL, helper, NULL))) {
		fprintf(stderr, "cold: --wake: cannot start the helper: %s\n", strerror(errno));
		return 1;
	}
	return ts_run(bench_main, NULL) ? 1 : 0;
}
