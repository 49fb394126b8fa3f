/* SPDX-License-Identifier: MIT */
/* Waiting on all tasks but myself: take ts_all_tasks(), drop the current task (awaiting it
 * would be an error), and await the rest, as the tutorial does with asyncio.wait(). */
#include <stdio.h>
#include <string.h>
#include <taskscope/taskscope.h>

#define NTASKS 10

static void *task_coro(void *arg)
{
	printf(">task %d executing\n", (int)(long)arg);
	ts_sleep_ms(50);
	return NULL;
}

static void *main_coro(void *arg)
{
	ts_task **tasks;
	(void)arg;
	printf("main coroutine started\n");
	for (long i = 0; i < NTASKS; i++)
		if (ts_spawn_detached(task_coro, (void *)i, NULL))
			return perror("ts_spawn"), NULL;
	ts_sleep_ms(10); /* long enough for all to start, shorter than their sleep */
	int n = ts_all_tasks(&tasks);
	if (n < 0) {
		fprintf(stderr, "ts_all_tasks: %s\n", strerror(-n));
		return NULL;
	}
	ts_task *self = ts_current_task();
	printf("main waiting for %d tasks...\n", n - 1);
	for (int i = 0; i < n; i++) {
		int err = tasks[i] == self ? 0 : ts_await(tasks[i], NULL);
		if (err)
			fprintf(stderr, "ts_await: %s\n", strerror(-err));
	}
	ts_tasks_free(tasks, n);
	printf("main coroutine done\n");
	return NULL;
}

int main(void)
{
	ts_run(main_coro, NULL);
	return 0;
}
