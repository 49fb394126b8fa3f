/* SPDX-License-Identifier: MIT */
/* Many tasks: ten thousand spawned and awaited, nested spawns, stack reuse; no leaks (the
 * ASan run checks that every task and stack is freed). */
#include <errno.h>
#include <taskscope/taskscope.h>
#include "check.h"

#define N 10000

static void *square(void *arg)
{
	long x = (long)arg;
	ts_yield(); /* every task suspends at least once */
	return (void *)(x * x);
}

static void *spawns_many(void *arg)
{
	(void)arg;
	static ts_task *t[N];
	for (long i = 0; i < N; i++) {
		t[i] = ts_spawn(square, (void *)i);
		CHECK(t[i] != NULL);
		if (!t[i])
			return NULL;
	}
	ts_task **v;
	int n = ts_all_tasks(&v);
	CHECK_EQ(n, N + 1);
	ts_tasks_free(v, n);
	long bad = 0;
	uint64_t prev = 0;
	for (long i = 0; i < N; i++) {
		void *r = NULL;
		CHECK_EQ(ts_await(t[i], &r), 0);
		bad += (long)r != i * i;
		bad += ts_task_id(t[i]) <= prev;
		prev = ts_task_id(t[i]);
		ts_task_unref(t[i]);
	}
	CHECK_EQ(bad, 0);
	n = ts_all_tasks(&v);
	CHECK_EQ(n, 1);
	ts_tasks_free(v, n);
	return NULL;
}

TEST(ten_thousand_spawned_and_awaited) { ts_run(spawns_many, NULL); }

static long done_count;

static void *counts(void *arg)
{
	(void)arg;
	ts_sleep_ms(1);
	done_count++;
	return NULL;
}

static void *spawns_detached(void *arg)
{
	(void)arg;
	for (int i = 0; i < N; i++)
		CHECK_EQ(ts_spawn_detached(counts, NULL, NULL), 0);
	ts_task **v;
	int n = ts_all_tasks(&v);
	CHECK_EQ(n, N + 1);
	for (int i = 0; i < n; i++)
		if (v[i] != ts_current_task())
			ts_await(v[i], NULL);
	ts_tasks_free(v, n);
	CHECK_EQ(done_count, N);
	return NULL;
}

TEST(ten_thousand_detached) { ts_run(spawns_detached, NULL); }

/* a binary tree of tasks, each awaiting its two children */
static void *tree(void *arg)
{
	long depth = (long)arg;
	if (!depth)
		return (void *)1L;
	ts_task *l = ts_spawn(tree, (void *)(depth - 1)), *r = ts_spawn(tree, (void *)(depth - 1));
	void *a = NULL, *b = NULL;
	CHECK_EQ(ts_await(l, &a), 0);
	CHECK_EQ(ts_await(r, &b), 0);
	ts_task_unref(l);
	ts_task_unref(r);
	return (void *)((long)a + (long)b);
}

TEST(nested_spawn_tree) { CHECK_EQ((long)ts_run(tree, (void *)12L), 1L << 12); }

/* one at a time, many times: stacks come back from the pool */
static void *one_at_a_time(void *arg)
{
	(void)arg;
	for (long i = 0; i < N; i++) {
		ts_task *t = ts_spawn(square, (void *)i);
		void *r;
		CHECK_EQ(ts_await(t, &r), 0);
		ts_task_unref(t);
	}
	return NULL;
}

TEST(sequential_spawns_reuse_stacks) { ts_run(one_at_a_time, NULL); }

/* a task may hold its handle past ts_run: results stay readable */
static ts_task *kept;

static void *keeps(void *arg)
{
	(void)arg;
	kept = ts_spawn_named(square, (void *)12L, "kept");
	ts_await(kept, NULL);
	return NULL;
}

TEST(handle_outlives_loop)
{
	ts_run(keeps, NULL);
	CHECK_EQ((long)ts_task_result(kept), 144);
	CHECK_STR(ts_task_name(kept), "kept");
	CHECK_EQ(ts_task_state(kept), TS_DONE);
	ts_task_unref(kept);
}

/* a bigger stack when asked for */
static void *uses_big_stack(void *arg)
{
	(void)arg;
	volatile char buf[512 * 1024];
	for (size_t i = 0; i < sizeof(buf); i += 4096)
		buf[i] = (char)i;
	return (void *)(long)buf[4096];
}

TEST(set_stack_size)
{
	ts_set_stack_size(1024 * 1024);
	CHECK_EQ((long)ts_run(uses_big_stack, NULL), (char)4096);
	ts_set_stack_size(64 * 1024);
	CHECK(ts_run(square, (void *)3L) == (void *)9L); /* pooled stacks of the old size go */
}

int main(void)
{
	RUN(ten_thousand_spawned_and_awaited);
	RUN(ten_thousand_detached);
	RUN(nested_spawn_tree);
	RUN(sequential_spawns_reuse_stacks);
	RUN(handle_outlives_loop);
	RUN(set_stack_size);
	return DONE();
}
