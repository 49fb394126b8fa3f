/* SPDX-License-Identifier: MIT */
/*
 * libtaskscope: stackful tasks on per-thread event loops, with an asyncio-like API.
 *
 * Ownership: ts_spawn() returns a task holding one reference that belongs to the caller.
 * The loop holds its own reference until the task finishes. Drop yours with ts_task_unref()
 * (or spawn detached: ts_spawn_detached(), ts_spawn_on_detached(), or ts_spawn_opts() with
 * .detached); the task is freed when the last reference goes.
 * A finished task's result, state and name stay readable while you hold a reference.
 */
#ifndef TASKSCOPE_H
#define TASKSCOPE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_task ts_task;
typedef struct ts_loop ts_loop;
typedef void *(*ts_fn)(void *arg);

/* Task states; values are part of the debug descriptor ABI (append only). */
enum ts_state {
	TS_PENDING = 0,   /* created, never run yet: its function has not started */
	TS_READY = 1,     /* has run; runnable again (woken, or yielded), waiting for its loop */
	TS_RUNNING = 2,   /* running on its loop's thread right now */
	TS_WAITING = 3,   /* suspended in a wait (see enum ts_wait) */
	TS_DONE = 4,      /* returned normally */
	TS_CANCELLED = 5, /* finished because it was cancelled */
	TS_FAILED = 6,    /* finished through ts_fail() */
};

/* Why a task is suspended; probe ABI and descriptor ABI (append only). */
enum ts_wait {
	TS_WAIT_NONE = 0,
	TS_WAIT_SLEEP = 1, /* object: deadline, CLOCK_MONOTONIC ns */
	TS_WAIT_FD = 2,    /* object: the file descriptor */
	TS_WAIT_AWAIT = 3, /* object: id of the awaited task */
	TS_WAIT_QUEUE = 4, /* object: address of the ts_queue */
	TS_WAIT_EVENT = 5, /* object: address of the ts_event */
	TS_WAIT_YIELD = 6, /* object: 0 */
};

/* ---- loops and running ---- */

/* Run fn as the first task ("Task-1") on a loop on the calling thread until it finishes;
 * returns its result. The loop keeps running other tasks of its own until fn returns. */
void *ts_run_(ts_fn fn, const char *coro, void *arg);
#define ts_run(fn, arg) ts_run_((ts_fn)(fn), #fn, (arg))

/* Start a new thread running an event loop; tasks may be spawned onto it with ts_spawn_on().
 * The loop runs until ts_loop_stop(). Returns NULL and sets errno on failure.
 * A task spawned onto a loop from another thread joins that loop's registry (ts_all_tasks,
 * and what outside readers see) once the loop's thread takes it from its inbox. */
ts_loop *ts_loop_start(void);
/* Stop a loop started by ts_loop_start: cancel its remaining tasks (as ts_run does once its
 * main task returns), wait until they have finished and its thread has exited, free it.
 * Returns 0, -EINVAL for a loop not started by ts_loop_start, -EDEADLK from its own thread. */
int ts_loop_stop(ts_loop *loop);
ts_loop *ts_current_loop(void);
int ts_loop_tid(const ts_loop *loop);

/* ---- tasks ---- */

/* Options of one spawn: zero (or NULL) for each default. */
struct ts_spawn_opts {
	const char *name;   /* NULL: "Task-N"; longer than 63 bytes: cut at a UTF-8 character */
	ts_loop *loop;      /* NULL: the calling thread's loop */
	size_t stack_size;  /* 0: the default (ts_set_stack_size); rounded up to pages, 16 KiB to
			     * 1 GiB */
	int detached;       /* nonzero: the caller gets no reference (see ts_spawn_opts) */
};

/* Spawn fn(arg) as a new task, as asyncio.create_task does; it first runs when its loop gets
 * to it (state TS_PENDING until then). Returns the task with one reference for the caller, or
 * NULL and errno: EPERM (no loop given and none on this thread), EINVAL, ENOMEM (no memory for
 * its stack; when memory mappings ran out, one line on stderr names vm.max_map_count).
 * With .detached the caller gets no reference: then any non-NULL return only says that the
 * spawn succeeded and must not be used, since the task may be gone already. */
#define ts_spawn_opts(fn, arg, opts) \
	ts_spawn_opts_((ts_fn)(fn), #fn, (arg), (opts), sizeof(*(opts)))
ts_task *ts_spawn_opts_(ts_fn fn, const char *coro, void *arg, const struct ts_spawn_opts *opts,
			size_t opts_size);

/* The shorthands, each ts_spawn_opts() with one or two options. */
ts_task *ts_spawn_(ts_loop *loop, ts_fn fn, const char *coro, void *arg, const char *name);
/* Spawn onto the current loop, default name "Task-N". */
#define ts_spawn(fn, arg) ts_spawn_(NULL, (ts_fn)(fn), #fn, (arg), NULL)
#define ts_spawn_named(fn, arg, name) ts_spawn_(NULL, (ts_fn)(fn), #fn, (arg), (name))
/* Spawn onto another thread's loop. */
#define ts_spawn_on(loop, fn, arg, name) ts_spawn_((loop), (ts_fn)(fn), #fn, (arg), (name))
/* Spawn without keeping a reference, onto the current loop or onto another thread's.
 * Return 0 or -errno. */
#define ts_spawn_detached(fn, arg, name) ts_spawn_detached_(NULL, (ts_fn)(fn), #fn, (arg), (name))
#define ts_spawn_on_detached(loop, fn, arg, name) \
	ts_spawn_detached_((loop), (ts_fn)(fn), #fn, (arg), (name))
static inline int ts_spawn_detached_(ts_loop *loop, ts_fn fn, const char *coro, void *arg,
				     const char *name)
{
	struct ts_spawn_opts o;
	o.name = name;
	o.loop = loop;
	o.stack_size = 0;
	o.detached = 1;
	return ts_spawn_opts_(fn, coro, arg, &o, sizeof(o)) ? 0 : -errno;
}

/* Wait for t to finish. Returns 0 and stores its result (if result != NULL) when it returned
 * normally; -ECANCELED when t was cancelled or when the awaiting task itself is cancelled
 * while waiting; the error passed to ts_fail() when t failed; -EDEADLK when t is the
 * current task (a task cannot await itself); -EPERM outside a task. */
int ts_await(ts_task *t, void **result);
/* Request cancellation. Delivered at t's next suspension point, which then returns
 * -ECANCELED. Returns 0, or -EALREADY if t is done.
 * What t does next decides how it finishes, as in asyncio:
 *  - it returns without waiting again (the usual `if (err) return NULL;`): it finishes
 *    cancelled, and ts_await() of it returns -ECANCELED. Returning is how a C task lets the
 *    cancellation through, as a coroutine lets CancelledError propagate;
 *  - it swallows -ECANCELED and goes on, and a later suspension point returns without a
 *    cancellation: it finishes done when it returns, with its result, as a coroutine that
 *    catches CancelledError and returns does. To clean up with waits and still finish
 *    cancelled, it cancels itself again before returning (as `raise` would);
 *  - a cancel still pending (not delivered) when t returns makes it finish cancelled.
 * A task cancelled before it ever ran finishes cancelled without running. */
int ts_cancel(ts_task *t);
/* Finish the current task as failed with err (> 0). Does not return. */
__attribute__((noreturn)) void ts_fail(int err);

/* Suspension points: each returns 0, or -ECANCELED when the task was cancelled. */
int ts_sleep_ns(uint64_t ns);
#define ts_sleep_ms(ms) ts_sleep_ns((uint64_t)(ms) * 1000000ull)
int ts_yield(void);
/* Wait until fd is readable (events = TS_READ) or writable (TS_WRITE), at most timeout_ns
 * (-1: forever). Returns the ready events, -ETIMEDOUT, -ECANCELED or another -errno. */
#define TS_READ 1
#define TS_WRITE 4
int ts_wait_fd(int fd, int events, int64_t timeout_ns);

ts_task *ts_current_task(void);
/* The not-yet-done tasks of the current thread's loop, the current one included, each
 * once, with a reference each. Free with ts_tasks_free(). Returns count or -errno. */
int ts_all_tasks(ts_task ***tasks);
void ts_tasks_free(ts_task **tasks, int n);

ts_task *ts_task_ref(ts_task *t);
void ts_task_unref(ts_task *t);
uint64_t ts_task_id(const ts_task *t);
const char *ts_task_name(const ts_task *t);
/* Names hold up to 63 bytes: a longer one is cut before the first UTF-8 character that does
 * not fit whole. Returns 0 or -EINVAL. */
int ts_task_rename(ts_task *t, const char *name);
const char *ts_task_coro(const ts_task *t);
enum ts_state ts_task_state(const ts_task *t);
int ts_task_done(const ts_task *t);
void *ts_task_result(const ts_task *t);  /* what t returned once done, else NULL */
/* Why t is suspended and on what (see enum ts_wait): the reason of its last suspension until
 * it runs again (so TS_WAIT_YIELD for a task ready after a yield), TS_WAIT_NONE when it has
 * not suspended since it last ran. Read from another thread, the pair may straddle a change. */
enum ts_wait ts_task_wait(const ts_task *t);
uint64_t ts_task_wait_obj(const ts_task *t);
ts_loop *ts_task_loop(const ts_task *t);  /* the loop that runs t */
int ts_task_tid(const ts_task *t);        /* the thread id of that loop */
const char *ts_state_name(enum ts_state s);
const char *ts_wait_name(enum ts_wait w);
/* asyncio-style repr: <Task pending name='Task-1' coro=<main()>>. Returns snprintf's value. */
int ts_task_format(const ts_task *t, char *buf, size_t size);

/* Default stack size for new tasks (rounded up to pages, 16 KiB to 1 GiB; default 64 KiB).
 * Each stack has a 64 KiB guard below it; an overflow kills the process with
 * "taskscope: stack overflow in task 'NAME' (id N)". Stacks are carved from large mappings
 * (see the README: "Stacks"); TASKSCOPE_STACK_GUARD=mprotect in the environment makes every
 * guard a mapping of its own, as kernels before Linux 6.13 need. */
void ts_set_stack_size(size_t bytes);

/* ---- queues and events (usable across loops) ---- */

typedef struct ts_queue ts_queue;
ts_queue *ts_queue_new(size_t capacity);
void ts_queue_free(ts_queue *q);
/* Block the task while full/empty. Return 0, -ECANCELED, or -EPIPE once closed. */
int ts_queue_put(ts_queue *q, void *item);
int ts_queue_get(ts_queue *q, void **item);
void ts_queue_close(ts_queue *q);

typedef struct ts_event ts_event;
ts_event *ts_event_new(void);
void ts_event_free(ts_event *e);
void ts_event_set(ts_event *e);
void ts_event_clear(ts_event *e);
int ts_event_is_set(ts_event *e);
int ts_event_wait(ts_event *e); /* 0 or -ECANCELED */

uint64_t ts_now_ns(void); /* CLOCK_MONOTONIC */

/* The flight recorder: keep every loop's event ring on, each of `bytes` (rounded down to a
 * power of two; at least 32 KiB), whether a tracer is attached or not, so that
 * `taskscope record --flight PID` can write the last events at any time; 0 turns it off
 * (rings made already keep their size). TASKSCOPE_FLIGHT_RECORDER=SIZE in the environment
 * does the same at load. 0, -EINVAL for a size too small, -ENOTSUP without probes. */
int ts_flight_recorder(size_t bytes);

#ifdef __cplusplus
}
#endif
#endif
