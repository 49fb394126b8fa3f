/* SPDX-License-Identifier: MIT */
/* Tasks: spawn, await, cancel, accessors, and ts_run. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <taskscope/probes.h>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define TS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#include <sanitizer/tsan_interface.h>
#define TS_TSAN 1
#endif
#endif

uint64_t ts__next_task_id = 1;     /* ids: from 1, never reused; in the descriptor */
static uint64_t next_name_no = 1;   /* "Task-N" for tasks spawned without a name */

static void set_name(ts_task *t, const char *name)
{
	ts__seq_begin(t);
	/* strncpy would not NUL-terminate a long name; snprintf truncates cleanly. */
	snprintf(t->name, sizeof(t->name), "%s", name);
	ts__seq_end(t);
}

/* "Task-N" by hand: snprintf was a third of a spawn's instructions. */
static void default_name(char *out, uint64_t no)
{
	char digits[20];
	int n = 0;
	do
		digits[n++] = (char)('0' + no % 10);
	while (no /= 10);
	memcpy(out, "Task-", 5);
	out += 5;
	while (n)
		*out++ = digits[--n];
	*out = 0;
}

ts_task *ts_spawn_(ts_loop *loop, ts_fn fn, const char *coro, void *arg, const char *name)
{
	ts_loop *here = ts__tls_loop;
	if (!loop)
		loop = here;
	if (!loop || !fn) {
		errno = loop ? EINVAL : EPERM;
		return NULL;
	}
	ts_task *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (ts__stack_get(loop, t)) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->magic = TS_TASK_MAGIC;
	t->id = __atomic_fetch_add(&ts__next_task_id, 1, __ATOMIC_RELAXED);
	t->parent = here && here->current ? here->current->id : 0;
	if (name) {
		set_name(t, name);
	} else {
		default_name(t->name, __atomic_fetch_add(&next_name_no, 1, __ATOMIC_RELAXED));
	}
	t->coro = coro;
	t->fn = fn;
	t->arg = arg;
	t->loop = loop;
	t->tid = loop->tid;
	t->refs = 2; /* the caller's and the loop's, dropped when the task finishes */
	t->reg_index = -1;
	t->timer_index = -1;
	t->created_ns = ts__coarse_now_ns(); /* a task's age needs no better than ~4 ms */
	pthread_mutex_init(&t->lock, NULL);
	TASKSCOPE_TASK_CREATE(t->id, t->parent, t->name, t->coro, t->tid);
	if (loop == here)
		ts__start_local(loop, t);
	else
		ts__loop_post(loop, TS_MSG_SPAWN, t, 0, 0);
	return t;
}

ts_task *ts_task_ref(ts_task *t)
{
	__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
	return t;
}

void ts_task_unref(ts_task *t)
{
	if (!t || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL))
		return;
#ifdef TS_TSAN
	if (t->ctx.tsan_fiber)
		__tsan_destroy_fiber(t->ctx.tsan_fiber);
#endif
	pthread_mutex_destroy(&t->lock);
	__atomic_store_n(&t->magic, TS_TASK_FREED, __ATOMIC_RELEASE);
	free(t);
}

int ts_await(ts_task *t, void **result)
{
	ts_task *self = ts_current_task();
	if (!self)
		return -EPERM;
	if (t == self)
		return -EDEADLK;
	struct ts_waiter w = { 0 };
	int err = 0;
	pthread_mutex_lock(&t->lock);
	if (ts_load(&t->state) < TS_DONE) {
		ts__waiter_add(&t->waiters, &w, self, ts__wait_begin(self));
		pthread_mutex_unlock(&t->lock);
		err = ts__suspend(TS_WAIT_AWAIT, t->id);
		pthread_mutex_lock(&t->lock);
		ts__waiter_del(&w);
	}
	pthread_mutex_unlock(&t->lock);
	if (err)
		return err;
	switch (ts_load(&t->state)) {
	case TS_CANCELLED:
		return -ECANCELED;
	case TS_FAILED:
		return -t->fail_err;
	default:
		if (result)
			*result = t->result;
		return 0;
	}
}

int ts_cancel(ts_task *t)
{
	if (ts_load(&t->state) >= TS_DONE)
		return -EALREADY;
	ts_store(&t->cancel_pending, 1);
	if (t->loop == ts__tls_loop)
		ts__cancel_local(t);
	else
		ts__loop_post(t->loop, TS_MSG_CANCEL, t, 0, 0);
	return 0;
}

void ts_fail(int err)
{
	ts_task *t = ts_current_task();
	if (!t)
		abort(); /* ts_fail outside a task is a programming error */
	t->fail_err = err > 0 ? err : EIO;
	ts__finish(t, TS_FAILED);
}

int ts_sleep_ns(uint64_t ns)
{
	ts_task *t = ts_current_task();
	if (!t)
		return -EPERM;
	if (ns == 0)
		return ts_yield();
	uint64_t now = ts_now_ns();
	uint64_t deadline = ns > UINT64_MAX - now ? UINT64_MAX : now + ns; /* huge = forever */
	ts__wait_begin(t);
	ts__timer_add(t->loop, t, deadline);
	int err = ts__suspend(TS_WAIT_SLEEP, deadline);
	if (t->timer_index >= 0)
		ts__timer_del(t->loop, t);
	return err == -ETIMEDOUT ? 0 : err;
}

ts_task *ts_current_task(void)
{
	ts_loop *loop = ts__tls_loop;
	return loop ? loop->current : NULL;
}

int ts_all_tasks(ts_task ***out)
{
	ts_loop *loop = ts__tls_loop;
	*out = NULL;
	if (!loop)
		return -EPERM;
	ts_task **v = malloc((loop->ntasks ? loop->ntasks : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < loop->ntasks; i++)
		v[i] = ts_task_ref(loop->tasks[i]);
	*out = v;
	return (int)loop->ntasks;
}

void ts_tasks_free(ts_task **tasks, int n)
{
	for (int i = 0; i < n; i++)
		ts_task_unref(tasks[i]);
	free(tasks);
}

uint64_t ts_task_id(const ts_task *t) { return t->id; }
const char *ts_task_name(const ts_task *t) { return t->name; }
const char *ts_task_coro(const ts_task *t) { return t->coro; }
enum ts_state ts_task_state(const ts_task *t) { return ts_load(&t->state); }
int ts_task_done(const ts_task *t) { return ts_load(&t->state) >= TS_DONE; }
void *ts_task_result(const ts_task *t) { return t->result; }

int ts_task_rename(ts_task *t, const char *name)
{
	if (!name)
		return -EINVAL;
	set_name(t, name);
	TASKSCOPE_TASK_RENAME(t->id, t->name);
	return 0;
}

const char *ts_state_name(enum ts_state s)
{
	static const char *const names[] = { "pending", "ready", "running", "waiting",
					     "done", "cancelled", "failed" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *ts_wait_name(enum ts_wait w)
{
	static const char *const names[] = { "", "sleep", "fd", "await", "queue", "event",
					     "yield" };
	return (unsigned)w < sizeof(names) / sizeof(names[0]) ? names[w] : "?";
}

int ts_task_format(const ts_task *t, char *buf, size_t size)
{
	/* asyncio's words: a task is "pending" until done, then "finished" or "cancelled". */
	switch (ts_load(&t->state)) {
	case TS_DONE:
		return snprintf(buf, size, "<Task finished name='%s' coro=<%s()> result=%p>",
				t->name, t->coro, t->result);
	case TS_FAILED:
		return snprintf(buf, size, "<Task finished name='%s' coro=<%s()> error=%d>",
				t->name, t->coro, t->fail_err);
	case TS_CANCELLED:
		return snprintf(buf, size, "<Task cancelled name='%s' coro=<%s()>>", t->name,
				t->coro);
	default:
		return snprintf(buf, size, "<Task pending name='%s' coro=<%s()>>", t->name,
				t->coro);
	}
}

void *ts_run_(ts_fn fn, const char *coro, void *arg)
{
	if (ts__tls_loop) {
		errno = EBUSY; /* asyncio.run cannot be called from a running event loop */
		return NULL;
	}
	ts_loop *loop = ts__loop_new();
	if (!loop)
		return NULL;
	loop->tid = gettid();
	ts__tls_loop = loop;
	ts__overflow_handler_install(loop);
	if (ts__loop_table_add(loop)) {
		ts__overflow_handler_remove(loop);
		ts__tls_loop = NULL;
		ts__loop_free(loop);
		errno = EMFILE;
		return NULL;
	}
	TASKSCOPE_THREAD_START(loop->id, loop->tid);
	ts_task *main = ts_spawn_(loop, fn, coro, arg, NULL);
	void *result = NULL;
	if (main) {
		/* Run until main finishes, then, as asyncio.run does, cancel what is left. */
		ts__loop_run(loop, main);
		result = main->result;
		ts_store(&loop->stopping, 1);
		ts__loop_run(loop, NULL);
		ts_task_unref(main);
	}
	TASKSCOPE_THREAD_STOP(loop->id, loop->tid);
	ts__overflow_handler_remove(loop);
	ts__tls_loop = NULL;
	ts__loop_free(loop);
	return result;
}
