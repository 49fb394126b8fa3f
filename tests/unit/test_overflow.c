/* SPDX-License-Identifier: MIT */
/* A task that overflows its stack must die by SIGSEGV with a message naming the task, not
 * run on in corrupted memory. The overflow happens in a child process. */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <taskscope/taskscope.h>
#include "check.h"

/* Small frames touched one after another, so the first fault lands in the guard page.
 * alloca keeps the frame on the real stack even when ASan moves locals to fake stacks. */
static __attribute__((noinline)) long recurse(long depth)
{
	volatile char *frame = __builtin_alloca(256);
	frame[0] = (char)depth;
	if (depth == -1) /* never: keeps the compiler from calling the recursion infinite */
		return 0;
	return recurse(depth + 1) + frame[0];
}

/* Frames bigger than the guard page: a touch may land past it, below the stack. */
static __attribute__((noinline)) long recurse_big(long depth)
{
	volatile char *frame = __builtin_alloca(20000);
	frame[0] = (char)depth; /* the lowest address first */
	if (depth == -1)
		return 0;
	return recurse_big(depth + 1) + frame[0];
}

static void *deep_big(void *arg)
{
	return (void *)recurse_big((long)arg);
}

static void *deep(void *arg)
{
	return (void *)recurse((long)arg);
}

static void *main_coro(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn_named(deep, NULL, "deep-diver");
	ts_await(t, NULL);
	return NULL;
}

static void *main_big(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn_named(deep_big, NULL, "big-frames");
	ts_await(t, NULL);
	return NULL;
}

/* Run the overflow in a child; returns its wait status and its stderr in err. */
static int run_child(ts_fn fn, char *err, size_t size)
{
	int p[2];
	if (pipe(p))
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		close(p[1]);
		ts_run_(fn, "main_coro", NULL);
		_exit(0); /* not reached if the overflow is caught */
	}
	close(p[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < size && (r = read(p[0], err + n, size - 1 - n)) > 0)
		n += (size_t)r;
	err[n] = 0;
	close(p[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	return st;
}

TEST(overflow_in_spawned_task)
{
	static char err[65536];
	int st = run_child(main_coro, err, sizeof(err));
	CHECK(WIFSIGNALED(st));
	CHECK_EQ(WIFSIGNALED(st) ? WTERMSIG(st) : -1, SIGSEGV);
	CHECK(strstr(err, "stack overflow in task") != NULL);
	CHECK(strstr(err, "deep-diver") != NULL);
	if (!strstr(err, "deep-diver"))
		printf("# child stderr: %.300s\n", err);
}

TEST(overflow_in_main_task)
{
	static char err[65536];
	int st = run_child(deep, err, sizeof(err));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	CHECK(strstr(err, "stack overflow in task 'Task-1'") != NULL);
}

TEST(overflow_with_frames_larger_than_guard)
{
	static char err[65536];
	int st = run_child(main_big, err, sizeof(err));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	CHECK(strstr(err, "stack overflow in task 'big-frames'") != NULL);
}

/* On a loop thread of its own: that thread has its own signal stack for the handler. */
static void *on_loop_thread(void *arg)
{
	(void)arg;
	ts_loop *loop = ts_loop_start();
	if (!loop)
		return NULL;
	ts_task *t = ts_spawn_on(loop, deep, NULL, "thread-diver");
	(void)t;
	for (;;)
		pause(); /* the overflow kills the whole process */
	return NULL;
}

TEST(overflow_on_loop_thread)
{
	static char err[65536];
	int st = run_child(on_loop_thread, err, sizeof(err));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	CHECK(strstr(err, "stack overflow in task 'thread-diver'") != NULL);
}

/* A fault that is not an overflow is not reported as one (not NULL: UBSan would stop first). */
static volatile uintptr_t bad_addr = 16;

static void *bad_deref(void *arg)
{
	(void)arg;
	return (void *)(long)*(volatile int *)bad_addr;
}

TEST(other_segv_not_called_overflow)
{
	static char err[65536];
	int st = run_child(bad_deref, err, sizeof(err));
	CHECK(!(WIFEXITED(st) && WEXITSTATUS(st) == 0)); /* under ASan, its report and exit 1 */
	CHECK(strstr(err, "stack overflow") == NULL);
}

int main(void)
{
	RUN(overflow_in_spawned_task);
	RUN(overflow_in_main_task);
	RUN(overflow_on_loop_thread);
	RUN(overflow_with_frames_larger_than_guard);
	RUN(other_segv_not_called_overflow);
	return DONE();
}
