/* SPDX-License-Identifier: MIT */
/*
 * states: a victim whose tasks stay in each live state for good, on the ts_run loop alone.
 *
 *   "Task-1"     running: it blocks the thread in pause() without suspending, so nothing else
 *                ever runs again;
 *   "yielded"    ready: it ran once, yielded, and never got the thread back;
 *   "sleeper"    waiting: asleep for an hour;
 *   "never-ran"  pending: spawned last, its function never started.
 *
 * Prints "ready" once the runtime itself reports those four states (else exits 1), then stays
 * so until killed. ps and top must show the same.
 */
#include <stdio.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

static void *yields_forever(void *arg)
{
	(void)arg;
	for (;;)
		ts_yield();
	return NULL;
}

static void *sleeps(void *arg)
{
	(void)arg;
	while (ts_sleep_ms(3600 * 1000) == 0)
		;
	return NULL;
}

static void *never_runs(void *arg)
{
	return arg;
}

static void *main_coro(void *arg)
{
	(void)arg;
	ts_task *y = ts_spawn_named(yields_forever, NULL, "yielded");
	ts_task *s = ts_spawn_named(sleeps, NULL, "sleeper");
	ts_yield(); /* "yielded" runs and yields, "sleeper" goes to sleep, then back here */
	ts_task *p = ts_spawn_named(never_runs, NULL, "never-ran");
	if (!y || !s || !p || ts_task_state(y) != TS_READY || ts_task_state(s) != TS_WAITING ||
	    ts_task_state(p) != TS_PENDING || ts_task_state(ts_current_task()) != TS_RUNNING) {
		fprintf(stderr, "states: not in the expected states\n");
		return (void *)1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
	return NULL;
}

int main(void)
{
	return ts_run(main_coro, NULL) ? 1 : 0;
}
