/* SPDX-License-Identifier: MIT */
/* Tasks: spawn, await, cancel, accessors, and ts_run. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <taskscope/probes.h>

#ifdef TS_TSAN
#include <sanitizer/tsan_interface.h>
#endif

uint64_t ts__next_task_id = 1;     /* ids: from 1, never reused; in the descriptor */
static uint64_t next_name_no = 1;   /* "Task-N" for tasks spawned without a name */

struct ts_lock_slot ts__task_locks[TS_TASK_LOCKS] = {
	[0 ... TS_TASK_LOCKS - 1] = { PTHREAD_MUTEX_INITIALIZER },
};

/* A name into out[TS_NAME_MAX]; a longer one is cut before the character that does not fit
 * whole (a UTF-8 character is at most 4 bytes: at most 3 steps back over continuation bytes). */
static void copy_name(char *out, const char *name)
{
	size_t n = strnlen(name, TS_NAME_MAX);
	if (n == TS_NAME_MAX) {
		n = TS_NAME_MAX - 1;
		for (int k = 0; k < 3 && n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80; k++)
			n--;
	}
	memcpy(out, name, n);
	out[n] = 0;
}

/* "Task-N" by hand, two digits a step: snprintf was a third of a spawn's instructions. */
static void default_name(char *out, uint64_t no)
{
	static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930"
				    "31323334353637383940414243444546474849505152535455565758596061"
				    "62636465666768697071727374757677787980818283848586878889909192"
				    "93949596979899";
	char digits[20], *d = digits + sizeof(digits);
	while (no >= 100) {
		d -= 2;
		memcpy(d, pairs + no % 100 * 2, 2);
		no /= 100;
	}
	if (no >= 10) {
		d -= 2;
		memcpy(d, pairs + no * 2, 2);
	} else {
		*--d = (char)('0' + no);
	}
	size_t n = (size_t)(digits + sizeof(digits) - d);
	memcpy(out, "Task-", 5);
	memcpy(out + 5, d, n);
	out[5 + n] = 0;
}

/* Freed tasks kept by the loop of the thread that frees them, for its next spawns: malloc's
 * per-thread cache holds only a few of a size, and a burst of spawns went through its slow
 * paths. Not under ASan, which must see each task freed. */
#define TS_TASK_CACHE 256

static ts_task *task_alloc(ts_loop *here)
{
#ifndef TS_ASAN
	ts_task *t = here ? here->free_tasks : NULL;
	if (t) {
		here->free_tasks = t->next_ready;
		here->nfree_tasks--;
		memset(t, 0, sizeof(*t));
		return t;
	}
#else
	(void)here;
#endif
	return calloc(1, sizeof(ts_task));
}

static void task_free(ts_task *t)
{
	__atomic_store_n(&t->magic, TS_TASK_FREED, __ATOMIC_RELEASE);
#ifndef TS_ASAN
	ts_loop *here = ts__tls_loop;
	if (here && here->nfree_tasks < TS_TASK_CACHE) {
		t->next_ready = here->free_tasks;
		here->free_tasks = t;
		here->nfree_tasks++;
		return;
	}
#endif
	free(t);
}

void ts__task_cache_free(ts_loop *loop)
{
	for (ts_task *t = loop->free_tasks, *next; t; t = next) {
		next = t->next_ready;
		free(t);
	}
	loop->free_tasks = NULL;
	loop->nfree_tasks = 0;
}

static ts_task *spawn(ts_loop *loop, ts_fn fn, const char *coro, void *arg, const char *name,
			size_t stack_size, bool detached)
{
	ts_loop *here = ts__tls_loop;
	if (!loop)
		loop = here;
	if (!loop || !fn || stack_size > TS_STACK_MAX) {
		errno = loop ? EINVAL : EPERM;
		return NULL;
	}
	ts_task *t = task_alloc(here);
	if (!t)
		return NULL;
	/* From this thread's pool even for another loop: stacks are alike, and the task's loop
	 * keeps it in its own pool once the task is done. */
	int err = ts__stack_get(here ? &here->pool : NULL, stack_size, &t->ctx.stack);
	if (err) {
		task_free(t);
		errno = -err;
		return NULL;
	}
	t->magic = TS_TASK_MAGIC;
	t->id = __atomic_fetch_add(&ts__next_task_id, 1, __ATOMIC_RELAXED);
	t->parent = here && here->current ? here->current->id : 0;
	/* Not seen by outside readers before it is registered: no seq around the name. */
	if (name)
		copy_name(t->name, name);
	else
		default_name(t->name, __atomic_fetch_add(&next_name_no, 1, __ATOMIC_RELAXED));
	t->coro = coro;
	t->fn = fn;
	t->arg = arg;
	t->loop = loop;
	t->tid = loop->tid;
	t->refs = detached ? 1 : 2; /* the loop's, dropped when the task finishes; the caller's */
	t->reg_index = -1;
	t->timer_index = -1;
	t->created_ns = ts__coarse_now_ns(); /* a task's age needs no better than ~4 ms */
	/* with no ring here (a thread that runs no loop), the task's loop records the create */
	bool recorded = true;
	if (TS_TRACING_OR(task_create))
		recorded = ts__trace_create(t);
	if (loop == here)
		ts__start_local(loop, t);
	else /* detached: t may be gone from here on */
		ts__loop_post(loop, TS_MSG_SPAWN, t, 0, !recorded);
	return t;
}

ts_task *ts_spawn_opts_(ts_fn fn, const char *coro, void *arg, const struct ts_spawn_opts *opts,
			size_t opts_size)
{
	struct ts_spawn_opts o = { 0 };
	if (opts) /* a caller built against fewer options leaves the newer ones zero */
		memcpy(&o, opts, opts_size < sizeof(o) ? opts_size : sizeof(o));
	return spawn(o.loop, fn, coro, arg, o.name, o.stack_size, o.detached);
}

ts_task *ts_spawn_(ts_loop *loop, ts_fn fn, const char *coro, void *arg, const char *name)
{
	return spawn(loop, fn, coro, arg, name, 0, false);
}

ts_task *ts_task_ref(ts_task *t)
{
	__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
	return t;
}

void ts_task_unref(ts_task *t)
{
	if (!t)
		return;
	/* Holding the only reference, nobody can take another: no atomic write to pay. */
	if (__atomic_load_n(&t->refs, __ATOMIC_ACQUIRE) != 1 &&
	    __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL))
		return;
#ifdef TS_TSAN
	if (t->ctx.tsan_fiber)
		__tsan_destroy_fiber(t->ctx.tsan_fiber);
#endif
	ts__stack_put(NULL, &t->ctx.stack); /* only a task that never ran still has one */
	task_free(t);
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
	/* Done already (it set its state last, under the lock): nothing to wait for or lock. */
	if (ts_load(&t->state) < TS_DONE) {
		pthread_mutex_t *lock = ts__task_lock(t);
		pthread_mutex_lock(lock);
		if (ts_load(&t->state) < TS_DONE) {
			ts__waiter_add(&t->waiters, &w, self, ts__wait_begin(self));
			pthread_mutex_unlock(lock);
			err = ts__suspend(TS_WAIT_AWAIT, t->id);
			pthread_mutex_lock(lock);
			ts__waiter_del(&w);
		}
		pthread_mutex_unlock(lock);
	}
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
	t->result = NULL;
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
void *ts_task_result(const ts_task *t) { return ts_load(&t->state) >= TS_DONE ? t->result : NULL; }
enum ts_wait ts_task_wait(const ts_task *t) { return __atomic_load_n(&t->wait, __ATOMIC_RELAXED); }
uint64_t ts_task_wait_obj(const ts_task *t) { return __atomic_load_n(&t->wait_obj, __ATOMIC_RELAXED); }
ts_loop *ts_task_loop(const ts_task *t) { return t->loop; }
int ts_task_tid(const ts_task *t) { return t->tid; }

int ts_task_rename(ts_task *t, const char *name)
{
	if (!name)
		return -EINVAL;
	ts__seq_begin(t);
	copy_name(t->name, name);
	ts__seq_end(t);
	if (TS_TRACING_OR(task_rename))
		ts__trace_rename(t);
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
	if (TS_TRACING_OR(thread_start))
		ts__trace_thread(loop, false);
	ts_task *main = ts_spawn_(loop, fn, coro, arg, NULL);
	void *result = NULL;
	if (main) {
		/* Run until main finishes, then, as asyncio.run does, cancel what is left. */
		ts__loop_run(loop, main);
		result = ts_task_result(main);
		ts_store(&loop->stopping, 1);
		ts__loop_run(loop, NULL);
		ts_task_unref(main);
	}
	if (TS_TRACING_OR(thread_stop))
		ts__trace_thread(loop, true);
	ts__overflow_handler_remove(loop);
	ts__tls_loop = NULL;
	ts__loop_free(loop);
	return result;
}
