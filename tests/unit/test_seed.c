/* SPDX-License-Identifier: MIT */
/* The seed semantics from the asyncio tutorials, one case each. Cases that depend on the
 * process-wide counters (Task-1, Task-2...) run in a fresh child process. */
#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <taskscope/taskscope.h>
#include "check.h"

/* Run a FRESH() function in a new process (this binary again) so that it sees the
 * process-wide counters (ids, Task-N) untouched; its failed CHECKs fail the case. */
static void in_fresh(const char *name)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "fresh", "--fresh", name, (char *)NULL);
		_exit(127);
	}
	int st = -1;
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

struct fresh { const char *name; void (*fn)(void); };
#define FRESH(fn) { #fn, fn }

static int run_fresh(const struct fresh *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i].name, name)) {
			v[i].fn();
			return check_case_failed;
		}
	}
	return 127;
}

/* ---- the function given to ts_run is Task-1, and current_task() inside returns it ---- */

static ts_task *seen;

static void *main_coro(void *arg)
{
	seen = ts_current_task();
	CHECK(seen != NULL);
	CHECK_STR(ts_task_name(seen), "Task-1");
	CHECK_EQ(ts_task_id(seen), 1);
	CHECK_STR(ts_task_coro(seen), "main_coro");
	CHECK_EQ(ts_task_state(seen), TS_RUNNING);
	char buf[128];
	ts_task_format(seen, buf, sizeof(buf));
	CHECK_STR(buf, "<Task pending name='Task-1' coro=<main_coro()>>");
	return arg;
}

static void run_is_task1(void)
{
	int token;
	CHECK(ts_run(main_coro, &token) == &token); /* ts_run returns main's result */
	CHECK(seen != NULL);
}

TEST(run_fn_is_task_1) { in_fresh("run_is_task1"); }

/* ---- current_task() from a plain function called by a task is the calling task ---- */

static ts_task *plain_function(void) { return ts_current_task(); }

static void *calls_plain(void *arg)
{
	(void)arg;
	CHECK(plain_function() == ts_current_task());
	CHECK_STR(ts_task_name(plain_function()), "Task-1");
	ts_yield(); /* still the same task after a suspension */
	CHECK(plain_function() == ts_current_task());
	return NULL;
}

static void current_from_plain(void) { ts_run(calls_plain, NULL); }

TEST(current_from_plain_function) { in_fresh("current_from_plain"); }

/* ---- spawned tasks are Task-2, Task-3..., and each sees itself as current ---- */

static ts_task *handles[3];
static int ran[3];

static void *child_coro(void *arg)
{
	long i = (long)arg;
	CHECK(ts_current_task() == handles[i]);
	ran[i] = 1;
	return NULL;
}

static void *spawner(void *arg)
{
	(void)arg;
	char want[16];
	for (long i = 0; i < 3; i++) {
		handles[i] = ts_spawn(child_coro, (void *)i);
		CHECK(handles[i] != NULL);
		snprintf(want, sizeof(want), "Task-%ld", i + 2);
		CHECK_STR(ts_task_name(handles[i]), want);
		CHECK_STR(ts_task_coro(handles[i]), "child_coro");
	}
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(ts_await(handles[i], NULL), 0);
		CHECK(ran[i]);
		ts_task_unref(handles[i]);
	}
	CHECK_STR(ts_task_name(ts_current_task()), "Task-1");
	return NULL;
}

static void spawned_names(void) { ts_run(spawner, NULL); }

TEST(spawned_tasks_are_task_2_3_and_current) { in_fresh("spawned_names"); }

/* ---- current_task() outside any task is NULL ---- */

static void *thread_current(void *arg)
{
	(void)arg;
	return ts_current_task();
}

static void *noop(void *arg) { return arg; }

TEST(current_outside_task_is_null)
{
	CHECK(ts_current_task() == NULL);
	ts_run(noop, NULL);
	CHECK(ts_current_task() == NULL); /* after the loop is gone too */
	pthread_t th;
	void *r = (void *)1;
	CHECK_EQ(pthread_create(&th, NULL, thread_current, NULL), 0);
	pthread_join(th, &r);
	CHECK(r == NULL);
}

/* ---- all_tasks: current + not-yet-started, never finished, each once ---- */

static void *short_coro(void *arg) { return arg; }

static int contains(ts_task **v, int n, ts_task *t)
{
	int c = 0;
	for (int i = 0; i < n; i++)
		c += v[i] == t;
	return c;
}

static void *lists_tasks(void *arg)
{
	(void)arg;
	ts_task *self = ts_current_task(), **v;
	int n = ts_all_tasks(&v);
	CHECK_EQ(n, 1);
	CHECK(n == 1 && v[0] == self);
	ts_tasks_free(v, n);

	ts_task *a = ts_spawn(short_coro, NULL), *b = ts_spawn(short_coro, NULL);
	n = ts_all_tasks(&v);
	CHECK_EQ(n, 3);
	CHECK_EQ(contains(v, n, self), 1);
	CHECK_EQ(contains(v, n, a), 1);
	CHECK_EQ(contains(v, n, b), 1);
	CHECK_EQ(ts_task_state(a), TS_PENDING); /* listed though it has not started */
	ts_tasks_free(v, n);

	CHECK_EQ(ts_await(a, NULL), 0);
	n = ts_all_tasks(&v);
	CHECK_EQ(contains(v, n, a), 0); /* finished: never listed again */
	CHECK_EQ(contains(v, n, self), 1);
	ts_tasks_free(v, n);

	CHECK_EQ(ts_await(b, NULL), 0);
	n = ts_all_tasks(&v);
	CHECK_EQ(n, 1);
	ts_tasks_free(v, n);
	ts_task_unref(a);
	ts_task_unref(b);
	return NULL;
}

TEST(all_tasks_current_and_unstarted_never_finished) { ts_run(lists_tasks, NULL); }

TEST(all_tasks_outside_task_fails)
{
	ts_task **v = (ts_task **)1;
	CHECK_EQ(ts_all_tasks(&v), -EPERM);
	CHECK(v == NULL);
}

/* ---- a task awaiting itself gets -EDEADLK at once, and goes on ---- */

static void *awaits_self(void *arg)
{
	(void)arg;
	void *r = (void *)1;
	CHECK_EQ(ts_await(ts_current_task(), &r), -EDEADLK);
	CHECK(r == (void *)1); /* result untouched */
	CHECK_EQ(ts_sleep_ms(1), 0);  /* not hung: it still runs and suspends normally */
	CHECK_EQ(ts_task_state(ts_current_task()), TS_RUNNING);
	return (void *)42;
}

static void *awaits_selfish(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn(awaits_self, NULL);
	void *r = NULL;
	CHECK_EQ(ts_await(t, &r), 0);
	CHECK(r == (void *)42);
	CHECK_EQ(ts_task_state(t), TS_DONE);
	ts_task_unref(t);
	return NULL;
}

TEST(await_self_is_an_error_not_a_hang)
{
	ts_run(awaits_self, NULL);
	ts_run(awaits_selfish, NULL);
}

/* ---- awaiting "all tasks but myself" ---- */

static int finished;

static void *sleeper(void *arg)
{
	ts_sleep_ms((long)arg);
	finished++;
	return NULL;
}

static void *waits_all(void *arg)
{
	(void)arg;
	ts_task **v;
	for (long i = 0; i < 10; i++)
		CHECK_EQ(ts_spawn_detached(sleeper, (void *)(10 - i), NULL), 0);
	ts_sleep_ms(1);
	int n = ts_all_tasks(&v);
	CHECK_EQ(n, 11);
	ts_task *self = ts_current_task();
	for (int i = 0; i < n; i++)
		if (v[i] != self)
			CHECK_EQ(ts_await(v[i], NULL), 0);
	CHECK_EQ(finished, 10);
	for (int i = 0; i < n; i++)
		if (v[i] != self)
			CHECK_EQ(ts_task_state(v[i]), TS_DONE);
	ts_tasks_free(v, n);
	n = ts_all_tasks(&v);
	CHECK_EQ(n, 1);
	ts_tasks_free(v, n);
	return NULL;
}

TEST(await_all_tasks_but_myself) { ts_run(waits_all, NULL); }

/* ---- a task cancelling itself ---- */

static int after_cancel_ran, after_sleep_ran;

static void *cancels_self(void *arg)
{
	(void)arg;
	ts_task *self = ts_current_task();
	CHECK_EQ(ts_cancel(self), 0);   /* the request succeeds */
	after_cancel_ran = 1;           /* and is not delivered before a suspension point */
	CHECK_EQ(ts_task_state(self), TS_RUNNING);
	uint64_t t0 = ts_now_ns();
	CHECK_EQ(ts_sleep_ms(1000), -ECANCELED);
	CHECK(ts_now_ns() - t0 < 500000000ull); /* delivered at once, not after the sleep */
	after_sleep_ran = 1;
	return (void *)7;
}

static void *awaits_canceller(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn(cancels_self, NULL);
	CHECK_EQ(ts_await(t, NULL), -ECANCELED);
	CHECK_EQ(ts_task_state(t), TS_CANCELLED);
	CHECK(after_cancel_ran && after_sleep_ran);
	char buf[128];
	ts_task_format(t, buf, sizeof(buf));
	CHECK(strstr(buf, "<Task cancelled name='Task-") == buf);
	ts_task_unref(t);
	return NULL;
}

TEST(cancel_self_delivered_at_next_suspension) { ts_run(awaits_canceller, NULL); }

static ts_task *main_task;

static void *main_cancels_self(void *arg)
{
	(void)arg;
	main_task = ts_task_ref(ts_current_task());
	CHECK_EQ(ts_cancel(main_task), 0);
	CHECK_EQ(ts_yield(), -ECANCELED);
	return NULL; /* lets the cancellation through, as a coroutine does by not catching it */
}

TEST(run_main_cancelling_itself_finishes_cancelled)
{
	ts_run(main_cancels_self, NULL);
	CHECK(main_task != NULL);
	CHECK_EQ(ts_task_state(main_task), TS_CANCELLED);
	CHECK_EQ(ts_cancel(main_task), -EALREADY);
	ts_task_unref(main_task);
}

static const struct fresh fresh[] = {
	FRESH(run_is_task1),
	FRESH(current_from_plain),
	FRESH(spawned_names),
};

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--fresh"))
		return run_fresh(fresh, sizeof(fresh) / sizeof(fresh[0]), argv[2]);
	RUN(run_fn_is_task_1);
	RUN(current_from_plain_function);
	RUN(spawned_tasks_are_task_2_3_and_current);
	RUN(current_outside_task_is_null);
	RUN(all_tasks_current_and_unstarted_never_finished);
	RUN(all_tasks_outside_task_fails);
	RUN(await_self_is_an_error_not_a_hang);
	RUN(await_all_tasks_but_myself);
	RUN(cancel_self_delivered_at_next_suspension);
	RUN(run_main_cancelling_itself_finishes_cancelled);
	return DONE();
}
