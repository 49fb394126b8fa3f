/* SPDX-License-Identifier: MIT */
/* The process as a trace describes it at an instant: the snapshot, then each event applied
 * the way the runtime changes its registry. Shared by dump (--at, --summary, names) and export. */
#include "trace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <taskscope/taskscope.h>

static uint64_t hash_id(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdull;
	id ^= id >> 33;
	return id;
}

struct tsc_tstate_task *tsc_tstate_task(const struct tsc_tstate *s, uint64_t id)
{
	if (!s->cap)
		return NULL;
	size_t mask = s->cap - 1;
	for (size_t h = hash_id(id) & mask;; h = (h + 1) & mask) {
		struct tsc_tstate_task *t = s->tasks[h];
		if (!t || t->id == id)
			return t;
	}
}

static int rehash(struct tsc_tstate *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 1024;
	struct tsc_tstate_task **nt = calloc(ncap, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		struct tsc_tstate_task *t = s->tasks[i];
		if (!t)
			continue;
		size_t h = hash_id(t->id) & (ncap - 1);
		while (nt[h])
			h = (h + 1) & (ncap - 1);
		nt[h] = t;
	}
	free(s->tasks);
	s->tasks = nt;
	s->cap = ncap;
	return 0;
}

static char *dupstr(const char *s)
{
	return strdup(s ? s : "");
}

/* The task with this id, added (live, no name) if it is not known yet. */
static struct tsc_tstate_task *task_get(struct tsc_tstate *s, uint64_t id)
{
	struct tsc_tstate_task *t = tsc_tstate_task(s, id);
	if (t)
		return t;
	if ((s->n + 1) * 2 > s->cap && rehash(s))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->name = dupstr("")) || !(t->coro = dupstr(""))) {
		if (t)
			free(t->name);
		free(t);
		return NULL;
	}
	t->id = id;
	t->live = 1;
	t->tid = 0;
	size_t mask = s->cap - 1, h = hash_id(id) & mask;
	while (s->tasks[h])
		h = (h + 1) & mask;
	s->tasks[h] = t;
	s->n++;
	return t;
}

struct tsc_tstate_thread *tsc_tstate_thread(const struct tsc_tstate *s, int32_t tid)
{
	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i].tid == tid)
			return &s->threads[i];
	return NULL;
}

static struct tsc_tstate_thread *thread_get(struct tsc_tstate *s, int32_t tid)
{
	struct tsc_tstate_thread *th = tsc_tstate_thread(s, tid);
	if (th)
		return th;
	if (s->nthreads == s->threads_cap) {
		size_t ncap = s->threads_cap ? s->threads_cap * 2 : 16;
		void *p = realloc(s->threads, ncap * sizeof(*s->threads));
		if (!p)
			return NULL;
		s->threads = p;
		s->threads_cap = ncap;
	}
	th = &s->threads[s->nthreads++];
	*th = (struct tsc_tstate_thread){ .tid = tid, .live = 1 };
	return th;
}

static int set_str(char **dst, const char *src)
{
	char *n = dupstr(src);
	if (!n)
		return -ENOMEM;
	free(*dst);
	*dst = n;
	return 0;
}

int tsc_tstate_init(struct tsc_tstate *s, const struct tsc_snapshot *snap)
{
	memset(s, 0, sizeof(*s));
	if (!snap)
		return 0;
	s->pid = snap->pid;
	for (size_t i = 0; i < snap->nthreads; i++) {
		struct tsc_tstate_thread *th = thread_get(s, snap->threads[i].tid);
		if (!th)
			return -ENOMEM;
		th->loop_id = snap->threads[i].loop_id;
		th->current = snap->threads[i].current;
	}
	for (size_t i = 0; i < snap->ntasks; i++) {
		const struct tsc_task *k = &snap->tasks[i];
		struct tsc_tstate_task *t = task_get(s, k->id);
		if (!t || set_str(&t->name, k->name) || set_str(&t->coro, k->coro))
			return -ENOMEM;
		t->parent = k->parent;
		t->state = k->state;
		t->wait = k->wait;
		t->wait_obj = k->wait_obj;
		t->tid = k->tid;
		t->created_ns = k->created_ns;
		t->switches = t->switches0 = k->switches;
		t->from_snapshot = 1;
		t->live = k->state < TS_DONE;
	}
	/* a task current on its thread at the snapshot runs from then on */
	for (size_t i = 0; i < s->nthreads; i++) {
		struct tsc_tstate_task *t =
			s->threads[i].current ? tsc_tstate_task(s, s->threads[i].current) : NULL;
		if (t)
			t->run_since = snap->taken_ns;
	}
	s->last_ns = snap->taken_ns;
	return 0;
}

static void stop_running(struct tsc_tstate_task *t, uint64_t ts)
{
	if (t->run_since && ts >= t->run_since)
		t->cpu_ns += ts - t->run_since;
	t->run_since = 0;
}

int tsc_tstate_apply(struct tsc_tstate *s, const struct tsc_event *ev)
{
	struct tsc_tstate_task *t;
	struct tsc_tstate_thread *th;

	s->last_ns = ev->ts_ns;
	if (ev->type == TSC_EV_LOST) {
		if (ev->lost.type <= TSC_EV_EVENTS_NR)
			s->lost[ev->lost.type] += ev->lost.count;
		return 0;
	}
	s->events++;
	switch (ev->type) {
	case TSC_EV_CREATE:
		if (!(t = task_get(s, ev->create.id)) || set_str(&t->name, ev->create.name) ||
		    set_str(&t->coro, ev->create.coro))
			return -ENOMEM;
		t->parent = ev->create.parent;
		t->tid = ev->create.loop_tid;
		t->created_ns = ev->ts_ns;
		/* spawned on the creator's loop it is queued at once; on another loop it waits
		 * for that loop to take the message */
		t->state = ev->create.loop_tid == ev->tid ? TS_READY : TS_PENDING;
		t->live = 1;
		break;
	case TSC_EV_SWITCH:
		if (!(th = thread_get(s, ev->tid)))
			return -ENOMEM;
		if (ev->sw.prev && (t = task_get(s, ev->sw.prev))) {
			stop_running(t, ev->ts_ns);
			if (t->state == TS_RUNNING)
				t->state = TS_READY;
		}
		if (ev->sw.next) {
			if (!(t = task_get(s, ev->sw.next)))
				return -ENOMEM;
			t->state = TS_RUNNING;
			t->wait = TS_WAIT_NONE;
			t->wait_obj = 0;
			t->tid = ev->tid;
			t->switches++;
			t->run_since = ev->ts_ns;
			if (!t->first_run_ns)
				t->first_run_ns = ev->ts_ns;
		}
		th->current = ev->sw.next;
		th->live = 1;
		break;
	case TSC_EV_FINISH:
		if (!(t = task_get(s, ev->finish.id)))
			return -ENOMEM;
		t->state = ev->finish.outcome;
		t->live = 0;
		t->finished_ns = ev->ts_ns;
		t->wait = TS_WAIT_NONE;
		t->wait_obj = 0;
		break;
	case TSC_EV_RENAME:
		if (!(t = task_get(s, ev->rename.id)) || set_str(&t->name, ev->rename.name))
			return -ENOMEM;
		break;
	case TSC_EV_WAIT:
		if (!(t = task_get(s, ev->wait.id)))
			return -ENOMEM;
		t->state = ev->wait.reason == TS_WAIT_YIELD ? TS_READY : TS_WAITING;
		t->wait = ev->wait.reason;
		t->wait_obj = ev->wait.object;
		t->waits[ev->wait.reason < 8 ? ev->wait.reason : 0]++;
		break;
	case TSC_EV_THREAD_START:
		if (!(th = thread_get(s, ev->thread.tid)))
			return -ENOMEM;
		th->loop_id = ev->thread.loop;
		th->current = 0;
		th->live = 1;
		break;
	case TSC_EV_THREAD_STOP:
		if (!(th = thread_get(s, ev->thread.tid)))
			return -ENOMEM;
		th->loop_id = ev->thread.loop;
		th->current = 0;
		th->live = 0;
		break;
	}
	return 0;
}

void tsc_tstate_free(struct tsc_tstate *s)
{
	for (size_t i = 0; i < s->cap; i++) {
		struct tsc_tstate_task *t = s->tasks[i];
		if (!t)
			continue;
		free(t->name);
		free(t->coro);
		free(t);
	}
	free(s->tasks);
	free(s->threads);
	memset(s, 0, sizeof(*s));
}
