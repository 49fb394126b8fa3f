/* SPDX-License-Identifier: MIT */
/* A task cancelling itself: the request succeeds, is delivered at the task's next suspension
 * point, and the task finishes as cancelled (asyncio.run would raise CancelledError). */
#include <stdio.h>
#include <string.h>
#include <taskscope/taskscope.h>

static ts_task *main_task; /* kept past ts_run() to show how main finished */

static void *main_coro(void *arg)
{
	(void)arg;
	printf("main coroutine started\n");
	main_task = ts_task_ref(ts_current_task());
	int err = ts_cancel(main_task);
	printf("cancel requested: %s\n", err ? strerror(-err) : "ok");
	err = ts_sleep_ms(100);
	if (err) {
		printf("sleep interrupted: %s\n", strerror(-err));
		return NULL;
	}
	printf("main coroutine done\n"); /* not reached: the cancel was pending */
	return NULL;
}

int main(void)
{
	char buf[256];
	ts_run(main_coro, NULL);
	if (!main_task)
		return 1;
	ts_task_format(main_task, buf, sizeof(buf));
	printf("%s\n", buf);
	ts_task_unref(main_task);
	return 0;
}
