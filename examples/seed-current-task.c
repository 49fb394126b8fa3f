/* SPDX-License-Identifier: MIT */
/* The current task from another task: a spawned task is Task-2, and inside it
 * ts_current_task() is itself, not the task that spawned it. */
#include <stdio.h>
#include <string.h>
#include <taskscope/taskscope.h>

static void print_current(void)
{
	char buf[256];
	ts_task_format(ts_current_task(), buf, sizeof(buf));
	printf("%s\n", buf);
}

static void *task_coro(void *arg)
{
	(void)arg;
	printf("executing the task\n");
	print_current();
	return NULL;
}

static void *main_coro(void *arg)
{
	(void)arg;
	printf("main coroutine started\n");
	print_current();
	ts_task *task = ts_spawn(task_coro, NULL);
	if (!task) {
		perror("ts_spawn");
		return NULL;
	}
	int err = ts_await(task, NULL);
	if (err)
		fprintf(stderr, "ts_await: %s\n", strerror(-err));
	ts_task_unref(task);
	printf("main coroutine done\n");
	return NULL;
}

int main(void)
{
	ts_run(main_coro, NULL);
	return 0;
}
