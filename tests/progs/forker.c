/* SPDX-License-Identifier: MIT */
/*
 * forker: a victim whose children fire the taskscope probes with the parent's task ids.
 *
 *   forker [-n TASKS] TRUTHFILE
 *
 * The parent runs TASKS long-lived tasks "parent-K" on one loop thread and writes them to
 * TRUTHFILE (one JSON line each: id, name, tid, coro), then, from a plain thread, forks a child
 * every 20 ms. Each child is a copy of the parent, its task id counter included (its probes
 * are reset at the fork by probes.h's fork handler: tests/bats/22-fork-safety.bats). A child
 * renames its copies of the parent's tasks to "child-renamed-K" (task_rename with the parent's
 * ids), runs a loop with tasks "child-task-K" that finish (ids the parent will use too), and
 * exits. A tracer of the parent must see none of that.
 *
 * It also starts, every 20 ms, a child that shares its memory (clone with CLONE_VM, another
 * tgid): there the kernel's per-process uprobe filter, which goes by address space, lets the
 * probes through, and only the tracer's own tgid check keeps them out. That child fires, with
 * the probe macros alone and touching no runtime state, task_finish for every parent task,
 * task_rename of each to "clone-renamed-K" and task_create of tasks "clone-task-K".
 *
 * On SIGUSR1 it spawns three more long-lived tasks "late-K", renames parent-0 to "renamed-0",
 * and writes TRUTHFILE.late: the late tasks and the renamed one, as JSON lines like the truth.
 *
 * Runs until SIGTERM or SIGINT, exit 0.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <taskscope/probes.h>
#include <taskscope/taskscope.h>

#define MAX_TASKS 256

static ts_task *tasks[MAX_TASKS];
static uint64_t task_ids[MAX_TASKS];
static int ntasks = 8;
static volatile sig_atomic_t stop, late;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		late = 1;
	else
		stop = 1;
}

static void *parent_task(void *arg)
{
	(void)arg;
	while (ts_sleep_ms(10) == 0)
		;
	return NULL;
}

static void *child_task(void *arg)
{
	ts_sleep_ms((int)(intptr_t)arg);
	return NULL;
}

static void *child_main(void *arg)
{
	(void)arg;
	char name[32];
	ts_task *t[16];
	for (int i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "child-task-%d", i);
		t[i] = ts_spawn_named(child_task, (void *)(intptr_t)(1 + i % 4), name);
	}
	for (int i = 0; i < 16; i++) {
		if (t[i]) {
			ts_await(t[i], NULL);
			ts_task_unref(t[i]);
		}
	}
	return NULL;
}

static void child(void)
{
	char name[32];
	for (int i = 0; i < ntasks; i++) {
		snprintf(name, sizeof(name), "child-renamed-%d", i);
		ts_task_rename(tasks[i], name);
	}
	ts_run(child_main, NULL);
	_exit(0);
}

/* In a child sharing our memory: only the probes, no runtime call (that would change ours). */
static int clone_vm_child(void *arg)
{
	static const char *const names[] = { "clone-renamed-0", "clone-renamed-1", "clone-renamed-2",
					     "clone-renamed-3" };
	(void)arg;
	for (int i = 0; i < ntasks; i++) {
		TASKSCOPE_TASK_RENAME(task_ids[i], names[i % 4]);
		TASKSCOPE_TASK_FINISH(task_ids[i], TS_DONE);
		TASKSCOPE_TASK_CREATE(task_ids[ntasks - 1] + 1000 + i, task_ids[i], "clone-task-K",
				      "clone_child", 1);
	}
	return 0;
}

static void run_clone_vm_child(void)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	pid_t pid = clone(clone_vm_child, stack + sizeof(stack), CLONE_VM | SIGCHLD, NULL);
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
}

int main(int argc, char **argv)
{
	int opt;
	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt == 'n' && atoi(optarg) > 0 && atoi(optarg) <= MAX_TASKS) {
			ntasks = atoi(optarg);
		} else {
			fprintf(stderr, "usage: forker [-n TASKS] TRUTHFILE\n");
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: forker [-n TASKS] TRUTHFILE\n");
		return 2;
	}
	const char *truth = argv[optind];
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);

	ts_loop *loop = ts_loop_start();
	if (!loop) {
		perror("forker: ts_loop_start");
		return 1;
	}
	char tmp[4096], name[32];
	snprintf(tmp, sizeof(tmp), "%s.tmp", truth);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		perror(tmp);
		return 1;
	}
	for (int i = 0; i < ntasks; i++) {
		snprintf(name, sizeof(name), "parent-%d", i);
		tasks[i] = ts_spawn_on(loop, parent_task, NULL, name);
		if (!tasks[i]) {
			perror("forker: ts_spawn_on");
			return 1;
		}
		task_ids[i] = ts_task_id(tasks[i]);
		fprintf(f, "{\"id\":%llu,\"name\":\"%s\",\"tid\":%d,\"coro\":\"%s\"}\n",
			(unsigned long long)ts_task_id(tasks[i]), ts_task_name(tasks[i]),
			ts_loop_tid(loop), ts_task_coro(tasks[i]));
	}
	if (fclose(f) || rename(tmp, truth)) {
		perror(truth);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);

	/* The main thread runs no loop: what a child inherits of it is a plain thread. */
	unsigned long forks = 0;
	ts_task *late_tasks[3] = { NULL, NULL, NULL };
	while (!stop) {
		if (late && !late_tasks[0]) {
			char path[4096];
			snprintf(path, sizeof(path), "%s.late", truth);
			snprintf(tmp, sizeof(tmp), "%s.late.tmp", truth);
			FILE *lf = fopen(tmp, "w");
			if (!lf) {
				perror(tmp);
				return 1;
			}
			ts_task_rename(tasks[0], "renamed-0");
			fprintf(lf, "{\"id\":%llu,\"name\":\"renamed-0\",\"tid\":%d,\"coro\":\"%s\"}\n",
				(unsigned long long)task_ids[0], ts_loop_tid(loop), ts_task_coro(tasks[0]));
			for (int i = 0; i < 3; i++) {
				snprintf(name, sizeof(name), "late-%d", i);
				late_tasks[i] = ts_spawn_on(loop, parent_task, NULL, name);
				if (!late_tasks[i]) {
					perror("forker: ts_spawn_on");
					return 1;
				}
				fprintf(lf, "{\"id\":%llu,\"name\":\"%s\",\"tid\":%d,\"coro\":\"%s\"}\n",
					(unsigned long long)ts_task_id(late_tasks[i]), name,
					ts_loop_tid(loop), ts_task_coro(late_tasks[i]));
			}
			if (fclose(lf) || rename(tmp, path)) {
				perror(path);
				return 1;
			}
		}
		pid_t pid = fork();
		if (pid == 0)
			child();
		if (pid > 0) {
			forks++;
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		run_clone_vm_child();
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < ntasks; i++) {
		ts_cancel(tasks[i]);
		ts_task_unref(tasks[i]);
	}
	for (int i = 0; i < 3; i++) {
		if (late_tasks[i]) {
			ts_cancel(late_tasks[i]);
			ts_task_unref(late_tasks[i]);
		}
	}
	ts_loop_stop(loop);
	printf("forks %lu\n", forks);
	return 0;
}
