/* SPDX-License-Identifier: MIT */
/* All tasks after spawning ten: the set holds main and the ten spawned tasks, which have not
 * started yet. With --hold, it then lets them start, prints "ready" and sleeps forever with
 * all eleven alive, so that a tool outside the process can list them.
 *   seed-all-tasks-ten [--hold] */
#include <stdio.h>
#include <string.h>
#include <taskscope/taskscope.h>

#define NTASKS 10

static int hold;

static void *task_coro(void *arg)
{
	printf("task %d is running\n", (int)(long)arg);
	while (ts_sleep_ms(hold ? 3600 * 1000 : 10) == 0 && hold)
		;
	return NULL;
}

static void print_all_tasks(void)
{
	char buf[256];
	ts_task **tasks;
	int n = ts_all_tasks(&tasks);
	if (n < 0) {
		fprintf(stderr, "ts_all_tasks: %s\n", strerror(-n));
		return;
	}
	for (int i = 0; i < n; i++) {
		ts_task_format(tasks[i], buf, sizeof(buf));
		printf("> %s\n", buf);
	}
	ts_tasks_free(tasks, n);
}

static void *main_coro(void *arg)
{
	ts_task *started[NTASKS];
	(void)arg;
	printf("main coroutine started\n");
	for (long i = 0; i < NTASKS; i++)
		if (!(started[i] = ts_spawn(task_coro, (void *)i)))
			return perror("ts_spawn"), NULL;
	print_all_tasks();
	if (hold) {
		ts_yield(); /* the ten run up to their sleep, then main comes back */
		printf("ready\n");
		fflush(stdout);
		while (ts_sleep_ms(3600 * 1000) == 0)
			;
	}
	for (int i = 0; i < NTASKS; i++) {
		ts_await(started[i], NULL);
		ts_task_unref(started[i]);
	}
	printf("main coroutine done\n");
	return NULL;
}

int main(int argc, char **argv)
{
	hold = argc > 1 && !strcmp(argv[1], "--hold");
	ts_run(main_coro, NULL);
	return 0;
}
