/* SPDX-License-Identifier: MIT */
/* All tasks while only the main task exists: the set holds the current task itself. */
#include <stdio.h>
#include <string.h>
#include <taskscope/taskscope.h>

static void *main_coro(void *arg)
{
	char buf[256];
	ts_task **tasks;
	(void)arg;
	printf("main coroutine started\n");
	int n = ts_all_tasks(&tasks);
	if (n < 0) {
		fprintf(stderr, "ts_all_tasks: %s\n", strerror(-n));
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		ts_task_format(tasks[i], buf, sizeof(buf));
		printf("> %s\n", buf);
	}
	ts_tasks_free(tasks, n);
	return NULL;
}

int main(void)
{
	ts_run(main_coro, NULL);
	return 0;
}
