/* SPDX-License-Identifier: MIT */
/*
 * blocked_loop: a loop whose thread is stuck in a synchronous call, so that its timers fire
 * late: loop lag, for the metrics tests.
 *
 *   blocked_loop
 *
 * On the ts_run loop, a "ticker" task sleeps 10 ms at a time. Once it has ticked a few
 * times, the main task prints "ready" and blocks the loop's thread in pause() without
 * suspending: the ticker's next timer is overdue from then on, by the time since "ready"
 * (less 10 ms at most).
 */
#include <stdio.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

static int ticks;

static void *ticker(void *arg)
{
	(void)arg;
	for (;;) {
		__atomic_add_fetch(&ticks, 1, __ATOMIC_RELAXED);
		ts_sleep_ms(10);
	}
	return NULL;
}

static void *main_task(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn(ticker, NULL);
	while (__atomic_load_n(&ticks, __ATOMIC_RELAXED) < 3)
		ts_sleep_ms(5);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause(); /* the loop's thread, held: no task runs, no timer fires */
	ts_task_unref(t);
	return NULL;
}

int main(void)
{
	ts_run(main_task, NULL);
	return 0;
}
