/* SPDX-License-Identifier: MIT */
/* A task that swallows its cancellation: its sleep returns -ECANCELED, it carries on with
 * another wait, which returns normally, and it returns a result. It finishes done, with that
 * result, as an asyncio coroutine that catches CancelledError and returns does. A task that
 * returns right after -ECANCELED finishes cancelled instead (see seed-cancel-self). */
#include <stdio.h>
#include <string.h>
#include <taskscope/taskscope.h>

static void *task_coro(void *arg)
{
	(void)arg;
	printf("task started\n");
	int err = ts_sleep_ms(10000);
	printf("sleep interrupted: %s\n", err ? strerror(-err) : "no");
	printf("carrying on\n");
	err = ts_sleep_ms(10); /* no cancellation ends this one: the first is swallowed */
	printf("second sleep: %s\n", err ? strerror(-err) : "ok");
	return (void *)"done anyway";
}

static void *main_coro(void *arg)
{
	(void)arg;
	char buf[256];
	ts_task *task = ts_spawn(task_coro, NULL);
	if (!task) {
		perror("ts_spawn");
		return NULL;
	}
	ts_sleep_ms(10); /* the task runs up to its sleep */
	int err = ts_cancel(task);
	printf("cancel requested: %s\n", err ? strerror(-err) : "ok");
	void *result = NULL;
	err = ts_await(task, &result);
	printf("await: %s, result: %s\n", err ? strerror(-err) : "ok",
	       err ? "none" : (const char *)result);
	ts_task_format(task, buf, sizeof(buf));
	printf("%s\n", buf);
	ts_task_unref(task);
	return NULL;
}

int main(void)
{
	ts_run(main_coro, NULL);
	return 0;
}
