/* SPDX-License-Identifier: MIT */
/*
 * waits: a victim for wait ages: tasks parked for times it knows, tasks that never wait long,
 * and a loop blocked by a synchronous call while a timer of it is due.
 *
 *   waits --truth FILE [--block]
 *
 * "stuck" tasks wait for good, each in another way: stuck-event (an event nobody sets),
 * stuck-fd (a pipe nobody writes), stuck-queue (an empty queue), stuck-sleep (an hour's
 * sleep), stuck-await (awaits stuck-sleep), spread over two loop threads and the ts_run loop.
 * Each reads the clock just before it waits. "busy" tasks wait 20 ms at a time, forever. Once
 * every stuck task waits, and a second later (so that they are at least that old), FILE gets
 * one JSON line per task: {"id", "name", "kind": "stuck"|"busy", "wait", "since_ns" (the
 * clock just before its wait, CLOCK_MONOTONIC), "tid", "spawn_line" (the line of its spawn
 * in this file, in spawn_group)}; Task-1 then waits 20 ms at a time too. With --block, a
 * third loop runs a task that sleeps 5 ms at a time and one that then blocks its thread in
 * read(2) for good; FILE gets the line {"kind": "blocked", "tid", "since_ns" (the clock
 * before the read)}. Then "ready" on stdout.
 *
 * The tests build it twice: against today's runtime, and against one whose descriptor is the
 * first form of ABI version 1, without wait ages (waits-v1, TS_DEBUG_FORM_V1).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

#define NSTUCK 5
#define NBUSY 4

struct parked {
	const char *name, *wait;
	ts_task *t;
	uint64_t since;
	int line;            /* of its ts_spawn in spawn_group */
	ts_loop *loop;
	volatile int waiting;
};

static struct parked stuck[NSTUCK], busy[NBUSY];
static ts_event *never_set;
static ts_queue *empty;
static int pipe_fds[2], block_fds[2];
static uint64_t block_since;
static volatile int blocking;
static ts_loop *blocked_loop;

static void *stuck_task(void *arg)
{
	struct parked *p = arg;
	void *item;
	p->since = ts_now_ns();
	p->waiting = 1;
	if (!strcmp(p->wait, "event"))
		ts_event_wait(never_set);
	else if (!strcmp(p->wait, "fd"))
		ts_wait_fd(pipe_fds[0], TS_READ, -1);
	else if (!strcmp(p->wait, "queue"))
		ts_queue_get(empty, &item);
	else if (!strcmp(p->wait, "sleep"))
		ts_sleep_ms(3600 * 1000);
	else
		ts_await(stuck[3].t, NULL); /* stuck-sleep */
	return NULL;
}

static void *busy_task(void *arg)
{
	struct parked *p = arg;
	p->since = ts_now_ns();
	p->waiting = 1;
	while (ts_sleep_ms(20) == 0)
		;
	return NULL;
}

static void *ticker(void *arg)
{
	(void)arg;
	while (ts_sleep_ms(5) == 0)
		;
	return NULL;
}

static void *blocker(void *arg)
{
	ts_task *ticker_task = arg;
	char c;
	/* the ticker waits on its timer, due within 5 ms, which cannot fire from now on */
	while (ts_task_state(ticker_task) != TS_WAITING)
		ts_yield();
	block_since = ts_now_ns();
	blocking = 1;
	while (read(block_fds[0], &c, 1) != 0) /* blocks the loop's thread: nobody writes */
		;
	return NULL;
}

/* The spawns, each on a line of its own: the truth names these lines. */
#define SPAWN(p, fn) ((p)->line = __LINE__, (p)->t = ts_spawn_on((p)->loop, fn, (p), (p)->name))

static __attribute__((noinline)) int spawn_group(void)
{
	for (int i = 0; i < NSTUCK; i++)
		if (!SPAWN(&stuck[i], stuck_task))
			return -1;
	for (int i = 0; i < NBUSY; i++)
		if (!SPAWN(&busy[i], busy_task))
			return -1;
	return 0;
}

static void line_of(FILE *f, const struct parked *p, const char *kind)
{
	fprintf(f, "{\"id\":%llu,\"name\":\"%s\",\"kind\":\"%s\",\"wait\":\"%s\",\"since_ns\":%llu,"
		"\"tid\":%d,\"spawn_line\":%d}\n", (unsigned long long)ts_task_id(p->t), p->name,
		kind, p->wait, (unsigned long long)p->since, ts_task_tid(p->t), p->line);
}

static int write_truth(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	for (int i = 0; i < NSTUCK; i++)
		line_of(f, &stuck[i], "stuck");
	for (int i = 0; i < NBUSY; i++)
		line_of(f, &busy[i], "busy");
	if (blocked_loop)
		fprintf(f, "{\"kind\":\"blocked\",\"tid\":%d,\"since_ns\":%llu}\n",
			ts_loop_tid(blocked_loop), (unsigned long long)block_since);
	if (fclose(f))
		return -1;
	return rename(tmp, path); /* readers never see a partial file */
}

static const char *truth;
static int block;

static void *main_coro(void *arg)
{
	(void)arg;
	static const char *const names[NSTUCK] = { "stuck-event", "stuck-fd", "stuck-queue",
						   "stuck-sleep", "stuck-await" };
	static const char *const waits[NSTUCK] = { "event", "fd", "queue", "sleep", "await" };
	ts_loop *l0 = ts_loop_start(), *l1 = ts_loop_start();
	never_set = ts_event_new();
	empty = ts_queue_new(1);
	if (!l0 || !l1 || !never_set || !empty || pipe(pipe_fds) || pipe(block_fds)) {
		perror("waits: setup");
		exit(1);
	}
	ts_loop *where[NSTUCK] = { l0, l0, l1, l1, NULL };
	for (int i = 0; i < NSTUCK; i++)
		stuck[i] = (struct parked){ .name = names[i], .wait = waits[i], .loop = where[i] };
	for (int i = 0; i < NBUSY; i++) {
		static char bn[NBUSY][16];
		snprintf(bn[i], sizeof(bn[i]), "busy-%d", i);
		busy[i] = (struct parked){ .name = bn[i], .wait = "sleep", .loop = i % 2 ? l1 : l0 };
	}
	if (spawn_group()) {
		perror("waits: spawn");
		exit(1);
	}
	for (int i = 0; i < NSTUCK; i++)
		while (!stuck[i].waiting)
			ts_sleep_ms(1);
	if (block) {
		blocked_loop = ts_loop_start();
		ts_task *tick = blocked_loop ? ts_spawn_on(blocked_loop, ticker, NULL, "ticker")
					     : NULL;
		if (!tick || !ts_spawn_on(blocked_loop, blocker, tick, "blocker")) {
			perror("waits: block");
			exit(1);
		}
		while (!blocking)
			ts_sleep_ms(1);
	}
	ts_sleep_ms(1000); /* every stuck task is at least a second old */
	if (write_truth(truth)) {
		perror("waits: truth");
		exit(1);
	}
	printf("ready\n");
	fflush(stdout);
	while (ts_sleep_ms(20) == 0) /* never waiting long: not one of the stuck */
		;
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "truth", required_argument, NULL, 't' },
		{ "block", no_argument, NULL, 'b' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': truth = optarg; break;
		case 'b': block = 1; break;
		default:
			fprintf(stderr, "usage: waits --truth FILE [--block]\n");
			return 2;
		}
	}
	if (!truth) {
		fprintf(stderr, "usage: waits --truth FILE [--block]\n");
		return 2;
	}
	ts_run(main_coro, NULL);
	return 0;
}
