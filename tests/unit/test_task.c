/* SPDX-License-Identifier: MIT */
/* Task identity and life cycle: ids, default names, rename (cut at a UTF-8 character), states
 * (pending until the first run), the wait and loop accessors, ts_spawn_opts, the formatter,
 * ts_fail. */
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>
#include <taskscope/taskscope.h>
#include <taskscope/debug.h>
#include "check.h"
#include "internal.h"

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

static void *ret_arg(void *arg) { return arg; }

/* ---- ids: from 1, strictly increasing, never reused (stacks are, ids are not) ---- */

#define NIDS 300

static void *spawns_ids(void *arg)
{
	uint64_t *ids = arg, prev = ts_task_id(ts_current_task());
	CHECK_EQ(prev, 1);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < NIDS / 3; i++) {
			ts_task *t = ts_spawn(ret_arg, NULL);
			uint64_t id = ts_task_id(t);
			CHECK(id > prev);
			prev = id;
			ids[round * (NIDS / 3) + i] = id;
			/* finishing before the next spawn frees its stack for reuse */
			CHECK_EQ(ts_await(t, NULL), 0);
			ts_task_unref(t);
		}
	}
	return NULL;
}

static void ids_fresh(void)
{
	static uint64_t ids[NIDS];
	ts_run(spawns_ids, ids);
	for (int i = 0; i < NIDS; i++)
		CHECK_EQ(ids[i], i + 2); /* dense too: nothing else takes ids */
}

TEST(ids_start_at_1_increase_never_reused) { in_fresh("ids_fresh"); }

static uint64_t main_id;

static void *record_id(void *arg)
{
	(void)arg;
	main_id = ts_task_id(ts_current_task());
	return NULL;
}

TEST(ids_keep_increasing_across_runs)
{
	ts_run(record_id, NULL);
	uint64_t a = main_id;
	ts_run(record_id, NULL);
	CHECK(main_id > a);
}

/* ---- default names: Task-N from one process-wide counter; named spawns take no number ---- */

static void *names(void *arg)
{
	(void)arg;
	CHECK_STR(ts_task_name(ts_current_task()), "Task-1");
	ts_task *a = ts_spawn(ret_arg, NULL);
	ts_task *n = ts_spawn_named(ret_arg, NULL, "worker");
	ts_task *b = ts_spawn(ret_arg, NULL);
	CHECK_STR(ts_task_name(a), "Task-2");
	CHECK_STR(ts_task_name(n), "worker");
	CHECK_STR(ts_task_name(b), "Task-3");
	CHECK(ts_task_id(n) > ts_task_id(a) && ts_task_id(b) > ts_task_id(n));
	ts_task *v[] = { a, n, b };
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(ts_await(v[i], NULL), 0);
		ts_task_unref(v[i]);
	}
	return NULL;
}

static void names_fresh(void)
{
	ts_run(names, NULL);
	ts_run(record_id, NULL); /* a second run's main continues the counter */
	CHECK_EQ(main_id, 5);
}

TEST(default_names_task_n) { in_fresh("names_fresh"); }

/* ---- rename ---- */

static void *renames(void *arg)
{
	(void)arg;
	ts_task *self = ts_current_task();
	char buf[256];
	CHECK_EQ(ts_task_rename(self, "accept-loop"), 0);
	CHECK_STR(ts_task_name(self), "accept-loop");
	ts_task_format(self, buf, sizeof(buf));
	CHECK_STR(buf, "<Task pending name='accept-loop' coro=<renames()>>");
	CHECK_EQ(ts_task_rename(self, NULL), -EINVAL);
	CHECK_STR(ts_task_name(self), "accept-loop");

	/* too long: truncated, NUL-terminated */
	char longname[TS_NAME_MAX * 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	CHECK_EQ(ts_task_rename(self, longname), 0);
	CHECK_EQ(strlen(ts_task_name(self)), TS_NAME_MAX - 1);

	/* another task, even one not started yet */
	ts_task *t = ts_spawn(ret_arg, NULL);
	CHECK_EQ(ts_task_rename(t, "renamed"), 0);
	CHECK_EQ(ts_await(t, NULL), 0);
	CHECK_STR(ts_task_name(t), "renamed");
	ts_task_unref(t);
	return NULL;
}

TEST(rename) { ts_run(renames, NULL); }

/* A name of `ascii` ASCII bytes then `ch` (one UTF-8 character), then more ASCII. */
static void make_name(char *out, size_t ascii, const char *ch)
{
	memset(out, 'a', ascii);
	strcpy(out + ascii, ch);
	strcat(out, "zzzzzzzzzzzzzzzz");
}

/* Names longer than 63 bytes are cut before the character that does not fit whole, at
 * spawn and at rename, never inside it. */
static void *cuts_names(void *arg)
{
	(void)arg;
	static const char *const chars[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
	ts_task *self = ts_current_task();
	char name[128], want[128];
	for (int c = 0; c < 3; c++) {
		size_t len = strlen(chars[c]);
		/* every place of the character around the 63-byte edge */
		for (size_t ascii = 63 - len - 1; ascii <= 63; ascii++) {
			make_name(name, ascii, chars[c]);
			/* 63 bytes when the character fits whole in them, else up to it */
			size_t n = ascii + len <= 63 ? 63 : ascii;
			memcpy(want, name, n);
			want[n] = 0;
			CHECK_EQ(ts_task_rename(self, name), 0);
			CHECK_STR(ts_task_name(self), want);
			struct ts_spawn_opts o = { .name = name };
			ts_task *t = ts_spawn_opts(ret_arg, NULL, &o);
			CHECK_STR(ts_task_name(t), want);
			ts_task *u = ts_spawn_named(ret_arg, NULL, name);
			CHECK_STR(ts_task_name(u), want);
			ts_await(t, NULL);
			ts_await(u, NULL);
			ts_task_unref(t);
			ts_task_unref(u);
		}
	}
	/* exactly 63 bytes ending with a 4-byte character: kept whole */
	memset(name, 'a', 59);
	strcpy(name + 59, chars[2]);
	CHECK_EQ(ts_task_rename(self, name), 0);
	CHECK_STR(ts_task_name(self), name);
	return NULL;
}

TEST(long_names_cut_at_a_character) { ts_run(cuts_names, NULL); }

/* ---- what a task waits on, and where it runs ---- */

static ts_event *ev;
static ts_queue *q;

static void *waits_on_event(void *arg) { (void)arg; return (void *)(long)ts_event_wait(ev); }
static void *waits_on_queue(void *arg)
{
	void *item;
	(void)arg;
	return (void *)(long)ts_queue_get(q, &item);
}
static void *sleeps_20ms(void *arg) { (void)arg; return (void *)(long)ts_sleep_ms(20); }
static void *awaits_arg(void *arg) { return (void *)(long)ts_await(arg, NULL); }
static void *yields_once(void *arg) { (void)arg; return (void *)(long)ts_yield(); }

static void *inspects_waits(void *arg)
{
	(void)arg;
	ev = ts_event_new();
	q = ts_queue_new(1);
	ts_task *e = ts_spawn(waits_on_event, NULL), *g = ts_spawn(waits_on_queue, NULL);
	ts_task *s = ts_spawn(sleeps_20ms, NULL), *a = ts_spawn(awaits_arg, s);
	ts_task *y = ts_spawn(yields_once, NULL);
	/* never run yet: no wait */
	CHECK_EQ(ts_task_wait(e), TS_WAIT_NONE);
	CHECK_EQ(ts_task_wait_obj(e), 0);
	uint64_t before = ts_now_ns();
	ts_yield(); /* each runs up to its wait; y yields and is ready again */
	CHECK_EQ(ts_task_wait(e), TS_WAIT_EVENT);
	CHECK(ts_task_wait_obj(e) == (uint64_t)(uintptr_t)ev);
	CHECK_STR(ts_wait_name(ts_task_wait(e)), "event");
	CHECK_EQ(ts_task_wait(g), TS_WAIT_QUEUE);
	CHECK(ts_task_wait_obj(g) == (uint64_t)(uintptr_t)q);
	CHECK_EQ(ts_task_wait(s), TS_WAIT_SLEEP);
	CHECK(ts_task_wait_obj(s) >= before + 20 * 1000000ull); /* the deadline */
	CHECK(ts_task_wait_obj(s) <= ts_now_ns() + 20 * 1000000ull);
	CHECK_EQ(ts_task_wait(a), TS_WAIT_AWAIT);
	CHECK_EQ(ts_task_wait_obj(a), ts_task_id(s));
	CHECK_EQ(ts_task_state(y), TS_READY);
	CHECK_EQ(ts_task_wait(y), TS_WAIT_YIELD);
	/* the current task is not waiting */
	CHECK_EQ(ts_task_wait(ts_current_task()), TS_WAIT_NONE);
	/* where they run */
	CHECK(ts_task_loop(e) == ts_current_loop());
	CHECK_EQ(ts_task_tid(e), gettid());
	CHECK_EQ(ts_task_tid(e), ts_loop_tid(ts_current_loop()));

	ts_event_set(ev);
	CHECK_EQ(ts_queue_put(q, NULL), 0);
	ts_task *all[] = { e, g, s, a, y };
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(ts_await(all[i], NULL), 0);
		CHECK_EQ(ts_task_wait(all[i]), TS_WAIT_NONE); /* done: waits no more */
	}
	for (int i = 0; i < 5; i++) /* not before: a awaits s through our reference */
		ts_task_unref(all[i]);
	ts_event_free(ev);
	ts_queue_free(q);
	return NULL;
}

TEST(wait_reason_object_loop_and_thread) { ts_run(inspects_waits, NULL); }

/* ---- ts_spawn_opts ---- */

static size_t stack_bytes(const ts_task *t)
{
	return (size_t)((char *)t->ctx.stack.hi - (char *)t->ctx.stack.lo);
}

/* Uses most of a 256 KiB stack: more than the default 64 KiB holds. */
static void *uses_200k(void *arg)
{
	(void)arg;
	volatile char buf[200 * 1024];
	for (size_t i = 0; i < sizeof(buf); i += 4096)
		buf[i] = (char)i;
	return (void *)(long)buf[8192];
}

static long ran_detached;
static void *counts_run(void *arg) { (void)arg; ran_detached++; return NULL; }

static void *spawns_with_options(void *arg)
{
	(void)arg;
	struct ts_spawn_opts big = { .name = "big", .stack_size = 256 * 1024 };
	ts_task *t = ts_spawn_opts(uses_200k, NULL, &big);
	CHECK(t != NULL);
	CHECK_STR(ts_task_name(t), "big");
	CHECK_STR(ts_task_coro(t), "uses_200k");
	CHECK_EQ(stack_bytes(t), 256 * 1024);
	CHECK(ts_task_loop(t) == ts_current_loop());
	ts_task *d = ts_spawn(ret_arg, NULL); /* the default, beside it */
	CHECK_EQ(stack_bytes(d), 64 * 1024);
	struct ts_spawn_opts odd = { .stack_size = 100 * 1024 + 1 }; /* rounded up to pages */
	ts_task *o = ts_spawn_opts(ret_arg, NULL, &odd);
	CHECK_EQ(stack_bytes(o), 104 * 1024);
	CHECK(strncmp(ts_task_name(o), "Task-", 5) == 0);
	void *r = NULL;
	CHECK_EQ(ts_await(t, &r), 0);
	CHECK_EQ((long)r, (char)8192);
	ts_task *tasks[] = { t, d, o };
	for (int i = 0; i < 3; i++) {
		if (i)
			CHECK_EQ(ts_await(tasks[i], NULL), 0);
		ts_task_unref(tasks[i]);
	}
	/* a second big one reuses the first's stack, a default one gets a default one */
	t = ts_spawn_opts(uses_200k, NULL, &big);
	CHECK_EQ(stack_bytes(t), 256 * 1024);
	CHECK_EQ(ts_await(t, NULL), 0);
	ts_task_unref(t);

	struct ts_spawn_opts det = { .detached = 1 };
	CHECK(ts_spawn_opts(counts_run, NULL, &det) != NULL);
	CHECK_EQ(ts_spawn_detached(counts_run, NULL, "det"), 0);
	CHECK_EQ(ts_spawn_on_detached(ts_current_loop(), counts_run, NULL, NULL), 0);
	ts_sleep_ms(1);
	CHECK_EQ(ran_detached, 3);

	struct ts_spawn_opts huge = { .stack_size = (size_t)2 << 30 };
	errno = 0;
	CHECK(ts_spawn_opts(ret_arg, NULL, &huge) == NULL);
	CHECK_EQ(errno, EINVAL);
	return NULL;
}

TEST(spawn_opts_name_stack_size_detached) { ts_run(spawns_with_options, NULL); }

TEST(spawn_opts_outside_a_loop)
{
	struct ts_spawn_opts o = { .name = "x" };
	errno = 0;
	CHECK(ts_spawn_opts(ret_arg, NULL, &o) == NULL);
	CHECK_EQ(errno, EPERM);
	CHECK_EQ(ts_spawn_detached(ret_arg, NULL, NULL), -EPERM);
}

/* ---- states: pending -> running -> waiting -> ready -> running -> done / cancelled / failed ---- */

static ts_task *watched;
static enum ts_state seen_inside;

static void *sleeps_a_bit(void *arg)
{
	(void)arg;
	seen_inside = ts_task_state(ts_current_task());
	ts_sleep_ms(20);
	return (void *)5;
}

static void *yields_twice(void *arg)
{
	(void)arg;
	ts_yield();
	ts_yield();
	return NULL;
}

static void *watches(void *arg)
{
	(void)arg;
	watched = ts_spawn(sleeps_a_bit, NULL);
	CHECK_EQ(ts_task_state(watched), TS_PENDING); /* queued, never run yet */
	CHECK_STR(ts_state_name(ts_task_state(watched)), "pending");
	CHECK(!ts_task_done(watched));
	ts_yield(); /* it runs up to its sleep */
	CHECK_EQ(seen_inside, TS_RUNNING);
	CHECK_EQ(ts_task_state(watched), TS_WAITING);
	CHECK_EQ(ts_await(watched, NULL), 0);
	CHECK_EQ(ts_task_state(watched), TS_DONE);
	CHECK(ts_task_done(watched));
	CHECK(ts_task_result(watched) == (void *)5);
	ts_task_unref(watched);

	/* a yielding task is ready, not waiting, while another runs */
	ts_task *y = ts_spawn(yields_twice, NULL);
	ts_yield();
	CHECK_EQ(ts_task_state(y), TS_READY);
	CHECK_EQ(ts_await(y, NULL), 0);
	ts_task_unref(y);
	return NULL;
}

TEST(state_transitions) { ts_run(watches, NULL); }

TEST(state_names)
{
	CHECK_STR(ts_state_name(TS_PENDING), "pending");
	CHECK_STR(ts_state_name(TS_READY), "ready");
	CHECK_STR(ts_state_name(TS_RUNNING), "running");
	CHECK_STR(ts_state_name(TS_WAITING), "waiting");
	CHECK_STR(ts_state_name(TS_DONE), "done");
	CHECK_STR(ts_state_name(TS_CANCELLED), "cancelled");
	CHECK_STR(ts_state_name(TS_FAILED), "failed");
	CHECK_STR(ts_wait_name(TS_WAIT_SLEEP), "sleep");
	CHECK_STR(ts_wait_name(TS_WAIT_AWAIT), "await");
}

/* ---- ts_fail: the awaiter gets -err, the state is failed ---- */

static int after_fail;

static void *fails(void *arg)
{
	ts_sleep_ms(1);
	ts_fail((int)(long)arg);
	after_fail = 1; /* not reached */
	return NULL;
}

static void *awaits_failures(void *arg)
{
	(void)arg;
	char buf[256];
	ts_task *t = ts_spawn_named(fails, (void *)(long)ENOENT, "failing");
	void *r = (void *)1;
	CHECK_EQ(ts_await(t, &r), -ENOENT);
	CHECK(r == (void *)1);
	CHECK_EQ(ts_task_state(t), TS_FAILED);
	CHECK_EQ(ts_await(t, NULL), -ENOENT); /* again, once finished */
	ts_task_format(t, buf, sizeof(buf));
	CHECK(strstr(buf, "<Task finished name='failing' coro=<fails()>") == buf);
	CHECK(strstr(buf, "error=2") != NULL);
	ts_task_unref(t);

	/* a bogus error still fails the task, with some error */
	t = ts_spawn(fails, (void *)0L);
	int err = ts_await(t, NULL);
	CHECK(err < 0);
	CHECK_EQ(ts_task_state(t), TS_FAILED);
	ts_task_unref(t);
	CHECK(!after_fail);
	return NULL;
}

TEST(fail_and_await_returns_minus_err) { ts_run(awaits_failures, NULL); }

/* ---- the formatter ---- */

static void *formats(void *arg)
{
	(void)arg;
	char buf[256];
	ts_task *t = ts_spawn_named(ret_arg, (void *)0x10, "fmt");
	ts_task_format(t, buf, sizeof(buf));
	CHECK_STR(buf, "<Task pending name='fmt' coro=<ret_arg()>>");
	ts_await(t, NULL);
	ts_task_format(t, buf, sizeof(buf));
	CHECK(strstr(buf, "<Task finished name='fmt' coro=<ret_arg()> result=") == buf);
	/* snprintf semantics: the full length, truncated output */
	int n = ts_task_format(t, buf, 8);
	CHECK(n > 8);
	CHECK_EQ(strlen(buf), 7);
	ts_task_unref(t);
	return NULL;
}

TEST(format) { ts_run(formats, NULL); }

/* ---- misuse outside a task ---- */

static void *nested_run(void *arg)
{
	(void)arg;
	errno = 0;
	CHECK(ts_run(ret_arg, (void *)1) == NULL);
	CHECK_EQ(errno, EBUSY);
	return NULL;
}

TEST(outside_a_task)
{
	errno = 0;
	CHECK(ts_spawn(ret_arg, NULL) == NULL);
	CHECK_EQ(errno, EPERM);
	CHECK_EQ(ts_sleep_ms(1), -EPERM);
	CHECK_EQ(ts_yield(), -EPERM);
	ts_run(nested_run, NULL);
}

static const struct fresh fresh[] = {
	FRESH(ids_fresh),
	FRESH(names_fresh),
};

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--fresh"))
		return run_fresh(fresh, sizeof(fresh) / sizeof(fresh[0]), argv[2]);
	RUN(ids_start_at_1_increase_never_reused);
	RUN(ids_keep_increasing_across_runs);
	RUN(default_names_task_n);
	RUN(rename);
	RUN(long_names_cut_at_a_character);
	RUN(wait_reason_object_loop_and_thread);
	RUN(spawn_opts_name_stack_size_detached);
	RUN(spawn_opts_outside_a_loop);
	RUN(state_transitions);
	RUN(state_names);
	RUN(fail_and_await_returns_minus_err);
	RUN(format);
	RUN(outside_a_task);
	return DONE();
}
