/* SPDX-License-Identifier: MIT */
/* The README's first example kept alive, for taskscope to attach to: its ten tasks sleep in
 * a loop instead of returning, so main awaits them until the process is killed.
 *   cc -fno-omit-frame-pointer quickstart-live.c $(pkg-config --cflags --libs taskscope)
 *   ./a.out & taskscope ps $! */
#include <stdio.h>
#include <taskscope/taskscope.h>

static void *task_coro(void *arg)
{
	printf(">task %d executing\n", (int)(long)arg);
	fflush(stdout);
	while (ts_sleep_ms(1000) == 0)
		;
	return NULL;
}

static void *main_coro(void *arg)          /* runs as Task-1, like asyncio.run(main()) */
{
	ts_task **tasks;
	(void)arg;
	for (long i = 0; i < 10; i++)
		ts_spawn_detached(task_coro, (void *)i, NULL);   /* Task-2 … Task-11 */
	ts_sleep_ms(10);
	int n = ts_all_tasks(&tasks);                  /* not-yet-done tasks, me included */
	for (int i = 0; i < n; i++)
		if (tasks[i] != ts_current_task())     /* awaiting myself is -EDEADLK */
			ts_await(tasks[i], NULL);
	ts_tasks_free(tasks, n);
	return NULL;
}

int main(void) { ts_run(main_coro, NULL); }
