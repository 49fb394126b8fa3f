/* SPDX-License-Identifier: MIT */
/* The current task from the main coroutine: the function given to ts_run() is Task-1.
 * Port of asyncio's `print(asyncio.current_task())` inside main(). */
#include <stdio.h>
#include <taskscope/taskscope.h>

static void *main_coro(void *arg)
{
	char buf[256];
	(void)arg;
	printf("main coroutine started\n");
	ts_task_format(ts_current_task(), buf, sizeof(buf));
	printf("%s\n", buf);
	return NULL;
}

int main(void)
{
	ts_run(main_coro, NULL);
	return 0;
}
