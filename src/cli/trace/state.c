/* SPDX-License-Identifier: MIT */
/* The process as a trace describes it at an instant: the snapshot, then each event applied
 * the way the runtime changes its registry. Shared by dump (--at, --summary, names) and export. */
#include "trace/trace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <taskscope/taskscope.h>

/* Ids are handed out in sequence: their low bits spread them well, and neighbours (the
 * tasks of one moment) stay near each other in the table, in the same cache lines.
 * This table is not the CLI's id map (idmap.h) on purpose: its slot holds the task pointer
 * itself, and every event of `dump` looks a task up; through the id map (an index, then the
 * array) `dump --json` measured 9% slower. */
static uint64_t hash_id(uint64_t id)
{
	return id ^ (id >> 32);
}

#define SLAB 4096

struct tsc_tstate_task *tsc_tstate_task(const struct tsc_tstate *s, uint64_t id)
{
	if (!s->cap)
		return NULL;
	size_t mask = s->cap - 1;
	for (size_t h = hash_id(id) & mask;; h = (h + 1) & mask) {
		const struct tsc_tstate_slot *sl = &s->tasks[h];
		if (!sl->t || sl->id == id)
			return sl->t;
	}
}

static int rehash(struct tsc_tstate *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 1024;
	struct tsc_tstate_slot *nt = calloc(ncap, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		if (!s->tasks[i].t)
			continue;
		size_t h = hash_id(s->tasks[i].id) & (ncap - 1);
		while (nt[h].t)
			h = (h + 1) & (ncap - 1);
		nt[h] = s->tasks[i];
	}
	free(s->tasks);
	s->tasks = nt;
	s->cap = ncap;
	return 0;
}

/* Names up to 63 bytes (all of the runtime's) live in the task; longer ones on the heap. */
static int set_str(char **dst, char *inl, const char *src)
{
	size_t n = strlen(src ? src : "");
	char *p = inl;
	if (n >= 64 && !(p = malloc(n + 1)))
		return -ENOMEM;
	memcpy(p, src ? src : "", n + 1);
	if (*dst && *dst != inl)
		free(*dst);
	*dst = p;
	return 0;
}

/* The task with this id, added (live, no name) if it is not known yet. */
static struct tsc_tstate_task *task_get(struct tsc_tstate *s, uint64_t id)
{
	struct tsc_tstate_task *t = tsc_tstate_task(s, id);
	if (t)
		return t;
	if ((s->n + 1) * 2 > s->cap && rehash(s))
		return NULL;
	if (s->nfree) {
		t = s->free[--s->nfree];
		if (t->name != t->name_in)
			free(t->name);
		if (t->coro != t->coro_in)
			free(t->coro);
	} else if (!s->nslabs || s->slab_used == SLAB) {
		void *v = realloc(s->slabs, (s->nslabs + 1) * sizeof(*s->slabs));
		if (!v)
			return NULL;
		s->slabs = v;
		if (!(s->slabs[s->nslabs] = malloc(SLAB * sizeof(**s->slabs))))
			return NULL;
		s->nslabs++;
		s->slab_used = 0;
	}
	if (!t)
		t = &s->slabs[s->nslabs - 1][s->slab_used++];
	memset(t, 0, sizeof(*t));
	t->name = t->name_in;
	t->coro = t->coro_in;
	t->id = id;
	t->live = 1;
	size_t mask = s->cap - 1, h = hash_id(id) & mask;
	while (s->tasks[h].t)
		h = (h + 1) & mask;
	s->tasks[h] = (struct tsc_tstate_slot){ .id = id, .t = t };
	s->n++;
	return t;
}

void tsc_tstate_forget_finished(struct tsc_tstate *s)
{
	s->forget = 1;
}

void tsc_tstate_keep_latency(struct tsc_tstate *s)
{
	s->latency = 1;
}

/* t switched in on th at ts: its scheduling latency, when we know since when it was ready.
 * READY and the switch come from one ring, in its order, so ts is never before ready_ns but
 * in a damaged file. */
static void note_latency(struct tsc_tstate *s, struct tsc_tstate_thread *th,
			 struct tsc_tstate_task *t, uint64_t ts)
{
	uint64_t since = t->ready_ns;
	t->ready_ns = 0;
	if (!s->latency || !since || ts < since)
		return;
	int kept = tsc_lat_add(&th->latency, ts - since, s->lat_kept < TSC_LAT_KEEP_MAX);
	if (kept > 0)
		s->lat_kept++;
}

/* Remove a task from the table (backward-shift deletion keeps probe chains whole) and keep
 * its memory for the next one. */
static void task_forget(struct tsc_tstate *s, struct tsc_tstate_task *t)
{
	size_t mask = s->cap - 1, i = hash_id(t->id) & mask;
	while (s->tasks[i].t != t)
		i = (i + 1) & mask;
	for (size_t j = i;;) {
		j = (j + 1) & mask;
		if (!s->tasks[j].t)
			break;
		size_t k = hash_id(s->tasks[j].id) & mask;
		/* the entry at j may move to i unless its home k lies cyclically in (i, j] */
		if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
			s->tasks[i] = s->tasks[j];
			i = j;
		}
	}
	s->tasks[i].t = NULL;
	s->n--;
	if (s->nfree == s->free_cap) {
		size_t n = s->free_cap ? s->free_cap * 2 : 256;
		void *p = realloc(s->free, n * sizeof(*s->free));
		if (!p)
			return; /* then it stays in its slab, unused */
		s->free = p;
		s->free_cap = n;
	}
	s->free[s->nfree++] = t;
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
		if (!t || set_str(&t->name, t->name_in, k->name) ||
		    set_str(&t->coro, t->coro_in, k->coro))
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
		if (!(t = task_get(s, ev->create.id)) ||
		    set_str(&t->name, t->name_in, ev->create.name) ||
		    set_str(&t->coro, t->coro_in, ev->create.coro))
			return -ENOMEM;
		t->parent = ev->create.parent;
		t->tid = ev->create.loop_tid;
		t->created_ns = ev->ts_ns;
		t->state = TS_PENDING; /* until its first switch in, as the runtime says */
		t->live = 1;
		break;
	case TSC_EV_SWITCH:
		if (!(th = thread_get(s, ev->tid)))
			return -ENOMEM;
		if (ev->sw.prev && (t = task_get(s, ev->sw.prev))) {
			stop_running(t, ev->ts_ns);
			if (t->state == TS_RUNNING)
				t->state = TS_READY;
			if (!t->live && s->forget)
				task_forget(s, t); /* a finished task's last switch out */
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
			note_latency(s, th, t, ev->ts_ns);
		}
		th->current = ev->sw.next;
		th->live = 1;
		break;
	case TSC_EV_FINISH:
		if (!(t = task_get(s, ev->finish.id)))
			return -ENOMEM;
		t->state = ev->finish.outcome;
		t->live = 0;
		t->ready_ns = 0;
		t->finished_ns = ev->ts_ns;
		t->wait = TS_WAIT_NONE;
		t->wait_obj = 0;
		break;
	case TSC_EV_RENAME:
		if (!(t = task_get(s, ev->rename.id)) ||
		    set_str(&t->name, t->name_in, ev->rename.name))
			return -ENOMEM;
		break;
	case TSC_EV_WAIT:
		if (!(t = task_get(s, ev->wait.id)))
			return -ENOMEM;
		t->state = ev->wait.reason == TS_WAIT_YIELD ? TS_READY : TS_WAITING;
		t->wait = ev->wait.reason;
		t->wait_obj = ev->wait.object;
		t->waits[ev->wait.reason < 8 ? ev->wait.reason : 0]++;
		/* a yield is ready at once: its wait is its ready instant; any other wait ends
		 * whatever ready time we held (a READY whose switch in was lost) */
		t->ready_ns = ev->wait.reason == TS_WAIT_YIELD ? ev->ts_ns : 0;
		break;
	case TSC_EV_READY:
		if (!(t = task_get(s, ev->ready.id)) || !(th = thread_get(s, ev->tid)))
			return -ENOMEM;
		th->ready_events++;
		if (t->live)
			t->ready_ns = ev->ts_ns;
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
	case TSC_EV_EXEC:
		/* a new program: every task and loop of the old one is gone at once */
		for (size_t i = 0; i < s->cap; i++) {
			if (!(t = s->tasks[i].t) || !t->live)
				continue;
			stop_running(t, ev->ts_ns);
			t->live = 0;
			t->finished_ns = ev->ts_ns;
		}
		for (size_t i = 0; i < s->nthreads; i++) {
			s->threads[i].current = 0;
			s->threads[i].live = 0;
		}
		break;
	}
	return 0;
}

void tsc_tstate_free(struct tsc_tstate *s)
{
	for (size_t k = 0; k < s->nslabs; k++) {
		size_t n = k + 1 == s->nslabs ? s->slab_used : SLAB;
		for (size_t i = 0; i < n; i++) {
			struct tsc_tstate_task *t = &s->slabs[k][i];
			if (t->name != t->name_in)
				free(t->name);
			if (t->coro != t->coro_in)
				free(t->coro);
		}
		free(s->slabs[k]);
	}
	free(s->slabs);
	free(s->free);
	free(s->tasks);
	for (size_t i = 0; i < s->nthreads; i++)
		tsc_lat_free(&s->threads[i].latency);
	free(s->threads);
	memset(s, 0, sizeof(*s));
}
