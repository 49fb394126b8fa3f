/* SPDX-License-Identifier: MIT */
/* The one task object of the CLI's JSON: `ps --json`, `tree --json`, `top --json` and
 * `dump --at --json` print each task through it, so the four agree field for field
 * (docs/json.md). A command adds its own fields after these, in the same object. */
#ifndef TSC_TASK_JSON_H
#define TSC_TASK_JSON_H

#include <stdint.h>
#include "out/json.h"
#include "target/model.h"

/* What the emitter reads of a task: each command's task struct maps onto it. */
struct tsc_task_view {
	uint64_t id, parent;          /* parent 0 = none */
	const char *name, *coro;      /* coro NULL = "" */
	uint32_t state, wait;         /* enum ts_state, enum ts_wait */
	uint64_t wait_obj;
	int32_t tid;
	uint64_t created_ns, switches;
	uint64_t wait_since_ns;       /* 0 = unknown (an older runtime, or not waiting) */
};

static inline struct tsc_task_view tsc_task_view_of(const struct tsc_task *t)
{
	return (struct tsc_task_view){ .id = t->id, .parent = t->parent, .name = t->name,
				       .coro = t->coro, .state = t->state, .wait = t->wait,
				       .wait_obj = t->wait_obj, .tid = t->tid,
				       .created_ns = t->created_ns, .switches = t->switches,
				       .wait_since_ns = t->wait_since_ns };
}

/* The shared fields of task t, as seen at now_ns (ages and time left), into the object the
 * caller opened: id, name, coro, state, thread, parent, awaiting [], wait, and while waiting
 * wait_obj (with wait_until_ns and wait_left_ns for a sleep), waited_ns (null unless waiting
 * and the runtime records since when), created_ns, age_ms, switches. */
void tsc_task_json(struct tsc_json *w, const struct tsc_task_view *t, uint64_t now_ns);

/* The head of a process's object, `ps --json`, `tree --json` and `dump --at --json` alike,
 * into the object the caller opened: schema, pid, reconciled, taken_ns (docs/json.md). */
void tsc_json_snapshot_head(struct tsc_json *w, int pid, int reconciled, uint64_t taken_ns);

/* A thread of the process: {"tid", "loop", "current", "lag_ns"}, current null when none;
 * lag_ns (how late its loop's timers fire, tsc_thread.lag_ns) null when negative: unknown. */
void tsc_thread_json(struct tsc_json *w, int32_t tid, uint64_t loop, uint64_t current,
		     int64_t lag_ns);

#endif
