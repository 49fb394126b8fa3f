/* SPDX-License-Identifier: MIT */
/*
 * sched_latency: a victim whose scheduling latencies are known. On one loop, N tasks wait on
 * one event; a go sets it, so all N become ready at the same instant, and each, when it runs,
 * spins (on the clock, not on CPU time: the same wall time whatever the machine's load) for
 * BURN ms before it finishes. The k-th to run waits about k × BURN.
 *
 *   sched_latency [--tasks N] [--burn MS] [--yields K] FIFO
 *
 * Prints "ready" once the N tasks wait; then Task-1 waits for a line on FIFO (opened
 * read-write: no writer is needed to open it, and none closing it wakes us), reads the clock,
 * sets the event, and waits on a second event that the last task sets. Each task measures its
 * own delay: from that clock read to its first instruction. Then it prints
 *   delays_ns D1 D2 ... DN      the tasks' delays, in the order they ran
 *   extra 2                     other ready -> running samples the trace holds: Task-1's wake
 *                               by the FIFO and by the second event, each within microseconds
 * and "done", and then sleeps until killed (a recorder reads its rings to the end). With
 * --yields K each task yields K times after its burn (more samples, which it does not measure:
 * for a trace without ready events, where yields alone give latencies).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

static long ntasks = 20, burn_ms = 5, yields;
static ts_event *go, *all_done;
static uint64_t set_ns, *delay;
static long nran;

static void *burner(void *arg)
{
	(void)arg;
	if (ts_event_wait(go))
		return NULL;
	uint64_t t = ts_now_ns();
	delay[nran++] = t - set_ns;
	while (ts_now_ns() - t < (uint64_t)burn_ms * 1000000ull)
		;
	for (long i = 0; i < yields; i++)
		ts_yield();
	if (nran == ntasks)
		ts_event_set(all_done);
	return NULL;
}

static void *main_task(void *arg)
{
	const char *fifo = arg;
	int fd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		perror("sched_latency: open");
		exit(1);
	}
	go = ts_event_new();
	all_done = ts_event_new();
	delay = calloc((size_t)ntasks, sizeof(*delay));
	ts_task **t = calloc((size_t)ntasks, sizeof(*t));
	if (!go || !all_done || !delay || !t)
		exit(1);
	for (long i = 0; i < ntasks; i++)
		if (!(t[i] = ts_spawn(burner, NULL))) {
			perror("sched_latency: spawn");
			exit(1);
		}
	/* every task waits on go before we say ready: their starts are before any recording */
	for (long i = 0; i < ntasks; i++)
		while (ts_task_wait(t[i]) != TS_WAIT_EVENT)
			ts_yield();
	printf("ready\n");
	fflush(stdout);
	int r = ts_wait_fd(fd, POLLIN, -1);
	if (r < 0) {
		fprintf(stderr, "sched_latency: wait_fd: %d\n", r);
		exit(1);
	}
	set_ns = ts_now_ns();
	ts_event_set(go);
	ts_event_wait(all_done);
	printf("delays_ns");
	for (long i = 0; i < ntasks; i++)
		printf(" %llu", (unsigned long long)delay[i]);
	printf("\nextra 2\ndone\n");
	fflush(stdout);
	/* and stay, so that a recorder reads our rings to the end: killed by the test */
	while (ts_sleep_ms(3600 * 1000) == 0)
		;
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "tasks", required_argument, NULL, 'n' },
					      { "burn", required_argument, NULL, 'b' },
					      { "yields", required_argument, NULL, 'y' },
					      { 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': ntasks = atol(optarg); break;
		case 'b': burn_ms = atol(optarg); break;
		case 'y': yields = atol(optarg); break;
		default: return 2;
		}
	}
	if (optind != argc - 1 || ntasks < 1 || ntasks > 100000 || burn_ms < 0 || yields < 0) {
		fprintf(stderr, "usage: sched_latency [--tasks N] [--burn MS] [--yields K] FIFO\n");
		return 2;
	}
	return ts_run(main_task, argv[optind]) ? 1 : 0;
}
