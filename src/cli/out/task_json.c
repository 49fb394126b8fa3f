/* SPDX-License-Identifier: MIT */
/* The task object every command's JSON shares (task_json.h). */
#include "out/task_json.h"
#include "out/out.h"

#include <taskscope/taskscope.h>

void tsc_task_json(struct tsc_json *w, const struct tsc_task_view *t, uint64_t now_ns)
{
	int waiting = t->state == TS_WAITING;
	tsc_json_key(w, "id");
	tsc_json_u64(w, t->id);
	tsc_json_key(w, "name");
	tsc_json_string(w, t->name);
	tsc_json_key(w, "coro");
	tsc_json_string(w, t->coro ? t->coro : "");
	tsc_json_key(w, "state");
	tsc_json_lit(w, tsc_state_name(t->state));
	tsc_json_key(w, "thread");
	tsc_json_i64(w, t->tid);
	tsc_json_key(w, "parent");
	tsc_json_id(w, t->parent);
	/* an array: a task awaits at most one other today, but the shape allows more */
	tsc_json_key(w, "awaiting");
	tsc_json_arr(w);
	if (waiting && t->wait == TS_WAIT_AWAIT && t->wait_obj)
		tsc_json_u64(w, t->wait_obj);
	tsc_json_end_arr(w);
	tsc_json_key(w, "wait");
	tsc_json_lit(w, tsc_wait_name(waiting ? t->wait : TS_WAIT_NONE));
	if (waiting && t->wait != TS_WAIT_NONE) {
		tsc_json_key(w, "wait_obj");
		tsc_json_u64(w, t->wait_obj);
		if (t->wait == TS_WAIT_SLEEP) { /* wait_obj is the deadline, CLOCK_MONOTONIC */
			tsc_json_key(w, "wait_until_ns");
			tsc_json_u64(w, t->wait_obj);
			tsc_json_key(w, "wait_left_ns");
			tsc_json_u64(w, t->wait_obj > now_ns ? t->wait_obj - now_ns : 0);
		}
	}
	tsc_json_key(w, "waited_ns");
	if (waiting && t->wait_since_ns)
		tsc_json_u64(w, now_ns > t->wait_since_ns ? now_ns - t->wait_since_ns : 0);
	else
		tsc_json_null(w);
	tsc_json_key(w, "created_ns");
	tsc_json_u64(w, t->created_ns);
	tsc_json_key(w, "age_ms");
	tsc_json_u64(w, (now_ns > t->created_ns ? now_ns - t->created_ns : 0) / 1000000);
	tsc_json_key(w, "switches");
	tsc_json_u64(w, t->switches);
}

void tsc_thread_json(struct tsc_json *w, int32_t tid, uint64_t loop, uint64_t current,
		     int64_t lag_ns)
{
	tsc_json_obj(w);
	tsc_json_key(w, "tid");
	tsc_json_i64(w, tid);
	tsc_json_key(w, "loop");
	tsc_json_u64(w, loop);
	tsc_json_key(w, "current");
	tsc_json_id(w, current);
	tsc_json_key(w, "lag_ns");
	if (lag_ns >= 0)
		tsc_json_i64(w, lag_ns);
	else
		tsc_json_null(w);
	tsc_json_end_obj(w);
}

void tsc_json_snapshot_head(struct tsc_json *w, int pid, int reconciled, uint64_t taken_ns)
{
	tsc_json_schema(w);
	tsc_json_key(w, "pid");
	tsc_json_i64(w, pid);
	tsc_json_key(w, "reconciled");
	tsc_json_bool(w, reconciled);
	tsc_json_key(w, "taken_ns");
	tsc_json_u64(w, taken_ns);
}
