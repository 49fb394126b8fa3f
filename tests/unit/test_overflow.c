/* SPDX-License-Identifier: MIT */
/* A task that overflows its stack must die by SIGSEGV with a message naming the task, not
 * run on in corrupted memory, whichever way the guards are made: guard markers in a slab
 * (MADV_GUARD_INSTALL) or, with TASKSCOPE_STACK_GUARD=mprotect, a PROT_NONE mapping each.
 * Each case runs in a child process, once per way. And in the mprotect way, running out of
 * memory mappings fails the spawn with a message that names vm.max_map_count. */
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <taskscope/taskscope.h>
#include "check.h"
#include "internal.h"

/* In the child's stderr, so the parent knows which way its guards were made. */
static void say_guard(void)
{
	fprintf(stderr, "guard=%s\n", ts__stack_guard_name());
	fflush(stderr);
}

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
	say_guard();
	return (void *)recurse_big((long)arg);
}

static void *deep(void *arg)
{
	say_guard();
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

/* A stack of its own size: 16 KiB, the smallest */
static void *main_small(void *arg)
{
	(void)arg;
	struct ts_spawn_opts o = { .name = "small-stack", .stack_size = 16 * 1024 };
	ts_task *t = ts_spawn_opts(deep, NULL, &o);
	ts_await(t, NULL);
	return NULL;
}

static const char *guard_way = "madvise";

/* Whether this kernel has guard markers (Linux 6.13): if not, both ways are mprotect's. */
static int kernel_has_guard_markers(void)
{
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	int ok = !madvise(p, 4096, 102 /* MADV_GUARD_INSTALL */);
	munmap(p, 8192);
	return ok;
}

/* Run fn as the main task in a child whose guards are made guard_way's way; returns its wait
 * status and its stderr in err. */
static int run_child(ts_fn fn, char *err, size_t size)
{
	int p[2];
	if (pipe(p))
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		/* read at the first stack, which the child makes: this process never made one */
		if (!strcmp(guard_way, "mprotect"))
			setenv("TASKSCOPE_STACK_GUARD", "mprotect", 1);
		else
			unsetenv("TASKSCOPE_STACK_GUARD");
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

/* The child died of SIGSEGV saying `what`, with its guards made guard_way's way. */
static void check_overflow(ts_fn fn, const char *what)
{
	static char err[65536];
	char way[64];
	int st = run_child(fn, err, sizeof(err));
	CHECK(WIFSIGNALED(st));
	CHECK_EQ(WIFSIGNALED(st) ? WTERMSIG(st) : -1, SIGSEGV);
	CHECK(strstr(err, what) != NULL);
	snprintf(way, sizeof(way), "guard=%s\n",
		 kernel_has_guard_markers() ? guard_way : "mprotect");
	CHECK(strstr(err, way) != NULL);
	if (!strstr(err, what) || !strstr(err, way))
		printf("# %s guards: child stderr: %.300s\n", guard_way, err);
}

/* Each case once with guard markers in slabs, once with a mapping per guard. */
#define BOTH_WAYS(stmt)                  \
	do {                             \
		guard_way = "madvise";   \
		stmt;                    \
		guard_way = "mprotect";  \
		stmt;                    \
	} while (0)

TEST(overflow_in_spawned_task)
{
	BOTH_WAYS(check_overflow(main_coro, "stack overflow in task 'deep-diver' (id 2)"));
}

TEST(overflow_in_main_task)
{
	BOTH_WAYS(check_overflow(deep, "stack overflow in task 'Task-1' (id 1)"));
}

TEST(overflow_with_frames_larger_than_guard)
{
	BOTH_WAYS(check_overflow(main_big, "stack overflow in task 'big-frames'"));
}

TEST(overflow_of_a_small_stack_given_at_spawn)
{
	BOTH_WAYS(check_overflow(main_small, "stack overflow in task 'small-stack'"));
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
	BOTH_WAYS(check_overflow(on_loop_thread, "stack overflow in task 'thread-diver'"));
}

/* A fault that is not an overflow is not reported as one (not NULL: UBSan would stop first). */
static volatile uintptr_t bad_addr = 16;

static void *bad_deref(void *arg)
{
	(void)arg;
	return (void *)(long)*(volatile int *)bad_addr;
}

static void check_other_segv(void)
{
	static char err[65536];
	int st = run_child(bad_deref, err, sizeof(err));
	CHECK(!(WIFEXITED(st) && WEXITSTATUS(st) == 0)); /* under ASan, its report and exit 1 */
	CHECK(strstr(err, "stack overflow") == NULL);
}

TEST(other_segv_not_called_overflow) { BOTH_WAYS(check_other_segv()); }

static long read_long(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* Spawns (never-run tasks, 16 KiB stacks) until a spawn fails; reports it on stdout's pipe,
 * that is its stderr, and leaves at once: nothing else is sure to work at the limit. */
static void *spawns_until_it_fails(void *arg)
{
	(void)arg;
	struct ts_spawn_opts o = { .stack_size = 16 * 1024 };
	if (read_long("/proc/sys/vm/max_map_count") > 200000) {
		/* raised on this machine: run out of address space instead, well before */
		struct rlimit r = { 1l << 33, 1l << 33 };
		setrlimit(RLIMIT_AS, &r);
	}
	for (long i = 0; i < 10000000; i++) {
		if (!ts_spawn_opts(deep, NULL, &o)) {
			int e = errno;
			fprintf(stderr, "\nspawn %ld failed: errno=%d\n", i + 1, e);
			fflush(stderr);
			_exit(0);
		}
	}
	_exit(1);
}

/* Two mappings per stack: the default vm.max_map_count (65530) ends it near 32,000 tasks, with
 * ENOMEM and one line that names the sysctl. */
TEST(out_of_mappings_names_the_sysctl)
{
	static char err[65536];
	guard_way = "mprotect";
	int st = run_child(spawns_until_it_fails, err, sizeof(err));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	char want[64];
	snprintf(want, sizeof(want), "errno=%d\n", ENOMEM);
	CHECK(strstr(err, want) != NULL);
	CHECK(strstr(err, "taskscope: cannot map a task stack") != NULL);
	CHECK(strstr(err, "vm.max_map_count") != NULL);
	if (!strstr(err, "vm.max_map_count") || !strstr(err, want))
		printf("# child stderr: %.400s\n", err);
}

int main(void)
{
	RUN(overflow_in_spawned_task);
	RUN(overflow_in_main_task);
	RUN(overflow_on_loop_thread);
	RUN(overflow_with_frames_larger_than_guard);
	RUN(overflow_of_a_small_stack_given_at_spawn);
	RUN(other_segv_not_called_overflow);
	RUN(out_of_mappings_names_the_sysctl);
	return DONE();
}
