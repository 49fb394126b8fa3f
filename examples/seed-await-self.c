/* SPDX-License-Identifier: MIT */
/* A task awaiting itself gets an error at once (asyncio raises RuntimeError) instead of
 * hanging forever, and goes on running. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <taskscope/taskscope.h>

static void *main_coro(void *arg)
{
	char buf[256];
	(void)arg;
	printf("main coroutine started\n");
	ts_task *self = ts_current_task();
	ts_task_format(self, buf, sizeof(buf));
	int err = ts_await(self, NULL);
	if (err == -EDEADLK)
		printf("error: a task cannot await itself: %s (%s)\n", buf, strerror(-err));
	else
		printf("unexpected: ts_await returned %d\n", err);
	printf("main coroutine done\n");
	return NULL;
}

int main(void)
{
	ts_run(main_coro, NULL);
	return 0;
}
