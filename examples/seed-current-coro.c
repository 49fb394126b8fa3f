/* SPDX-License-Identifier: MIT */
/* The current task seen from a plain function that the task calls: still the calling task,
 * as asyncio's current_task() is inside a coroutine awaited (not wrapped in a task) by main. */
#include <stdio.h>
#include <taskscope/taskscope.h>

static void print_current(void)
{
	char buf[256];
	ts_task_format(ts_current_task(), buf, sizeof(buf));
	printf("%s\n", buf);
}

static void other_coro(void)
{
	printf("other coroutine running\n");
	print_current();
}

static void *main_coro(void *arg)
{
	(void)arg;
	printf("main coroutine started\n");
	print_current();
	other_coro();
	printf("main coroutine done\n");
	return NULL;
}

int main(void)
{
	ts_run(main_coro, NULL);
	return 0;
}
