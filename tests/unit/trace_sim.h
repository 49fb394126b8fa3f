/* SPDX-License-Identifier: MIT */
/*
 * A simulated taskscope-demo, for trace tests without BPF: loops on several threads running
 * long-lived workers (sleep, fd, queue waits), a feeder, a churner spawning short tasks that
 * yield once and finish, and Task-1 sleeping on the first loop. It emits the events the
 * runtime's probes would, in time order, with the runtime's switch pattern (direct
 * task-to-task switches, the scheduler only when nothing is ready), and keeps its own record
 * of each task's state so that tests can compare a reader's rebuild with it.
 */
#ifndef TRACE_SIM_H
#define TRACE_SIM_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <taskscope/taskscope.h>
#include "trace/trace.h"

#define SIM_MAX_THREADS 16
#define SIM_MAX_TASKS (1 << 20)

enum sim_kind { K_MAIN, K_SLEEPER, K_FD, K_QUEUE, K_FEEDER, K_CHURNER, K_SHORT };

struct sim_task {
	uint64_t id, parent;
	char name[32];
	const char *coro;
	int kind, thread, runs;
	int state, wait;            /* enum ts_state, enum ts_wait: as the registry would say */
	uint64_t wait_obj, wake_at; /* wake_at 0: not timed */
	int queued;                 /* in its loop's ready queue */
	uint64_t awaited_by;        /* the task awaiting this one, 0 = none */
};

struct sim_thread {
	int32_t tid;
	uint64_t loop, now, next_churn;
	uint64_t current;
	uint64_t ready[4096];
	unsigned rhead, rtail;
	uint64_t queue_obj;
	uint64_t longs[256];        /* its long-lived tasks: the only ones with timed waits */
	int nlongs;
};

struct sim {
	uint32_t seed;
	int nthreads, tasks_per_thread, churn;  /* churn: short tasks per second per thread */
	uint64_t t0, end, spawn_end;
	struct sim_thread th[SIM_MAX_THREADS];
	struct sim_task *tasks;                 /* by id; [0] unused */
	uint64_t ntasks, name_no;
	struct tsc_snapshot snap;
	void (*emit)(void *ctx, const struct tsc_event *ev);
	void *ctx;
	uint64_t emitted[TSC_EV_NR];
	int ready;                              /* emit READY events, as the rings do */
};

static uint32_t sim_rnd(struct sim *s)
{
	s->seed ^= s->seed << 13;
	s->seed ^= s->seed >> 17;
	s->seed ^= s->seed << 5;
	return s->seed;
}

static void sim_emit(struct sim *s, struct tsc_event *ev)
{
	s->emitted[ev->type]++;
	if (s->emit)
		s->emit(s->ctx, ev);
}

static struct sim_task *sim_new_task(struct sim *s, int thread, int kind, const char *name,
				     const char *coro, uint64_t parent)
{
	struct sim_task *t = &s->tasks[++s->ntasks];
	memset(t, 0, sizeof(*t));
	t->id = s->ntasks;
	t->parent = parent;
	t->kind = kind;
	t->thread = thread;
	t->coro = coro;
	t->state = TS_READY;
	if (kind != K_SHORT && s->th[thread].nlongs < 256)
		s->th[thread].longs[s->th[thread].nlongs++] = t->id;
	if (name)
		snprintf(t->name, sizeof(t->name), "%s", name);
	else
		snprintf(t->name, sizeof(t->name), "Task-%llu", (unsigned long long)++s->name_no);
	return t;
}

static void sim_emit(struct sim *s, struct tsc_event *ev);

static void sim_ready(struct sim *s, struct sim_task *t)
{
	struct sim_thread *th = &s->th[t->thread];
	t->queued = 1;
	t->state = TS_READY;
	th->ready[th->rtail++ % 4096] = t->id;
	if (s->ready) {
		struct tsc_event ev = { .ts_ns = th->now, .type = TSC_EV_READY, .tid = th->tid };
		ev.ready.id = t->id;
		sim_emit(s, &ev);
	}
}

/* Build the process as it is at t0: what the snapshot holds. */
static void sim_init(struct sim *s, int nthreads, int tasks, int churn, double seconds,
		     uint32_t seed)
{
	char name[32];
	memset(s, 0, sizeof(*s));
	s->seed = seed ? seed : 1;
	s->nthreads = nthreads;
	s->tasks_per_thread = tasks;
	s->churn = churn;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now); /* near the trace header's start */
	s->t0 = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec + 1000000;
	s->end = s->t0 + (uint64_t)(seconds * 1e9);
	s->spawn_end = s->end - 5000000;
	s->tasks = calloc(SIM_MAX_TASKS + 1, sizeof(*s->tasks));
	for (int i = 0; i < nthreads; i++) {
		struct sim_thread *th = &s->th[i];
		th->tid = 4242 + (i ? 100 + i : 0);
		th->loop = (uint64_t)i + 1;
		th->now = s->t0 + 1000 * (uint64_t)i;
		th->next_churn = s->t0 + 1000000;
		th->queue_obj = 0x7f0000001000ull + 0x100 * (uint64_t)i;
	}
	struct sim_task *m = sim_new_task(s, 0, K_MAIN, NULL, "main", 0);
	m->state = TS_WAITING, m->wait = TS_WAIT_SLEEP, m->wake_at = s->end + 1000000000ull;
	m->wait_obj = m->wake_at;
	for (int i = 0; i < nthreads; i++) {
		for (int k = 0; k < tasks; k++) {
			snprintf(name, sizeof(name), "worker-%d-%d", i, k);
			struct sim_task *w = sim_new_task(s, i, K_SLEEPER + k % 3, name, "worker", 1);
			w->state = TS_WAITING;
			w->wait = k % 3 == 0 ? TS_WAIT_SLEEP : k % 3 == 1 ? TS_WAIT_FD : TS_WAIT_QUEUE;
			if (w->wait != TS_WAIT_QUEUE)
				w->wake_at = s->t0 + 100000 + sim_rnd(s) % 20000000;
			w->wait_obj = w->wait == TS_WAIT_SLEEP ? w->wake_at
				      : w->wait == TS_WAIT_FD  ? 10 + (uint64_t)k
							       : s->th[i].queue_obj;
		}
		if (tasks > 2) {
			snprintf(name, sizeof(name), "feeder-%d", i);
			struct sim_task *f = sim_new_task(s, i, K_FEEDER, name, "feeder", 1);
			f->state = TS_WAITING, f->wait = TS_WAIT_SLEEP;
			f->wake_at = f->wait_obj = s->t0 + 3000000 + 1000000 * (uint64_t)i;
		}
		if (churn > 0) {
			snprintf(name, sizeof(name), "churn-%d", i);
			struct sim_task *c = sim_new_task(s, i, K_CHURNER, name, "churner", 1);
			c->state = TS_WAITING, c->wait = TS_WAIT_SLEEP;
			c->wake_at = c->wait_obj = s->th[i].next_churn;
		}
	}
	/* the snapshot, in the model's types */
	s->snap.pid = 4242;
	s->snap.taken_ns = s->t0;
	s->snap.nthreads = (size_t)nthreads;
	s->snap.threads = calloc((size_t)(unsigned)nthreads, sizeof(*s->snap.threads));
	for (int i = 0; i < nthreads; i++)
		s->snap.threads[i] = (struct tsc_thread){ .tid = s->th[i].tid,
							  .loop_id = s->th[i].loop };
	s->snap.ntasks = s->ntasks;
	s->snap.tasks = calloc(s->ntasks, sizeof(*s->snap.tasks));
	for (uint64_t id = 1; id <= s->ntasks; id++) {
		struct sim_task *t = &s->tasks[id];
		struct tsc_task *k = &s->snap.tasks[id - 1];
		k->id = id;
		k->parent = t->parent;
		snprintf(k->name, sizeof(k->name), "%s", t->name);
		snprintf(k->coro, sizeof(k->coro), "%s", t->coro);
		k->state = (uint32_t)t->state;
		k->wait = (uint32_t)t->wait;
		k->wait_obj = t->wait_obj;
		k->tid = s->th[t->thread].tid;
		k->created_ns = s->t0 - 1000000000ull + id * 1000;
	}
}

static void sim_switch(struct sim *s, struct sim_thread *th, uint64_t next)
{
	struct tsc_event ev = { .ts_ns = th->now, .type = TSC_EV_SWITCH, .tid = th->tid };
	ev.sw.prev = th->current;
	ev.sw.next = next;
	if (next != th->current) /* a task that yields with nothing else ready goes on */
		sim_emit(s, &ev);
	th->current = next;
	if (next) {
		struct sim_task *t = &s->tasks[next];
		t->state = TS_RUNNING;
		t->wait = TS_WAIT_NONE;
		t->wait_obj = 0;
		t->queued = 0;
	}
	th->now += 150 + sim_rnd(s) % 100;
}

static void sim_wait(struct sim *s, struct sim_thread *th, struct sim_task *t, int reason,
		     uint64_t obj, uint64_t wake_at)
{
	struct tsc_event ev = { .ts_ns = th->now, .type = TSC_EV_WAIT, .tid = th->tid };
	ev.wait.id = t->id;
	ev.wait.reason = (uint32_t)reason;
	ev.wait.object = obj;
	sim_emit(s, &ev);
	t->state = reason == TS_WAIT_YIELD ? TS_READY : TS_WAITING;
	t->wait = reason;
	t->wait_obj = obj;
	t->wake_at = wake_at;
	if (reason == TS_WAIT_YIELD)
		sim_ready(s, t);
	th->now += 50 + sim_rnd(s) % 50;
}

/* Run the current task of th until it suspends or finishes. */
static void sim_run(struct sim *s, struct sim_thread *th, struct sim_task *t)
{
	int i = (int)(th - s->th);
	t->runs++;
	switch (t->kind) {
	case K_SLEEPER:
	case K_FD: {
		th->now += 5000 + sim_rnd(s) % 15000;
		uint64_t d = (5 + sim_rnd(s) % 50) * 1000000ull;
		if (t->kind == K_SLEEPER)
			sim_wait(s, th, t, TS_WAIT_SLEEP, th->now + d, th->now + d);
		else
			sim_wait(s, th, t, TS_WAIT_FD, 10 + t->id % 7, th->now + d);
		break;
	}
	case K_QUEUE:
		th->now += 5000 + sim_rnd(s) % 15000;
		sim_wait(s, th, t, TS_WAIT_QUEUE, th->queue_obj, 0);
		break;
	case K_FEEDER:
		th->now += 2000;
		for (int k = 0; k < th->nlongs; k++) { /* wake one queue waiter */
			struct sim_task *w = &s->tasks[th->longs[k]];
			if (w->kind == K_QUEUE && w->thread == i && w->state == TS_WAITING &&
			    !w->queued) {
				sim_ready(s, w);
				break;
			}
		}
		sim_wait(s, th, t, TS_WAIT_SLEEP, th->now + 20000000, th->now + 20000000);
		break;
	case K_CHURNER: {
		uint64_t n = th->now < s->spawn_end ? (uint64_t)s->churn / 1000 : 0;
		if (th->now < s->spawn_end && (uint64_t)s->churn % 1000 > sim_rnd(s) % 1000)
			n++;
		for (uint64_t k = 0; k < n && s->ntasks < SIM_MAX_TASKS; k++) {
			struct sim_task *c = sim_new_task(s, i, K_SHORT, NULL, "short_task", t->id);
			struct tsc_event ev = { .ts_ns = th->now, .type = TSC_EV_CREATE,
						.tid = th->tid };
			ev.create.id = c->id;
			ev.create.parent = t->id;
			ev.create.name = c->name;
			ev.create.coro = c->coro;
			ev.create.loop_tid = th->tid;
			sim_emit(s, &ev);
			sim_ready(s, c);
			th->now += 300 + sim_rnd(s) % 200;
		}
		th->next_churn = th->now + 1000000;
		if (n && t->runs % 10 == 0) { /* now and then, await the last one spawned */
			s->tasks[s->ntasks].awaited_by = t->id;
			sim_wait(s, th, t, TS_WAIT_AWAIT, s->ntasks, 0);
			break;
		}
		sim_wait(s, th, t, TS_WAIT_SLEEP, th->next_churn, th->next_churn);
		break;
	}
	case K_SHORT:
		th->now += 500 + sim_rnd(s) % 1000;
		if (t->runs == 1) {
			sim_wait(s, th, t, TS_WAIT_YIELD, 0, 0);
		} else {
			struct tsc_event ev = { .ts_ns = th->now, .type = TSC_EV_FINISH,
						.tid = th->tid };
			ev.finish.id = t->id;
			ev.finish.outcome = TS_DONE;
			sim_emit(s, &ev);
			t->state = TS_DONE;
			if (t->awaited_by)
				sim_ready(s, &s->tasks[t->awaited_by]);
			th->now += 100;
		}
		break;
	default:
		break;
	}
}

/* One step of the thread furthest behind in time; returns 0 once every thread is past end. */
static int sim_step(struct sim *s)
{
	struct sim_thread *th = NULL;
	for (int i = 0; i < s->nthreads; i++)
		if (s->th[i].now < s->end && (!th || s->th[i].now < th->now))
			th = &s->th[i];
	if (!th)
		return 0;
	if (th->rhead == th->rtail) {
		/* nothing ready: back to the scheduler, sleep until the next timed wake-up */
		if (th->current)
			sim_switch(s, th, 0);
		uint64_t next = s->end;
		for (int k = 0; k < th->nlongs; k++) {
			struct sim_task *t = &s->tasks[th->longs[k]];
			if (t->state == TS_WAITING && t->wake_at && !t->queued &&
			    t->wake_at < next)
				next = t->wake_at;
		}
		if (next > th->now)
			th->now = next;
		if (th->now >= s->end)
			return 1;
		th->now += 2000 + sim_rnd(s) % 3000;
		for (int k = 0; k < th->nlongs; k++) {
			struct sim_task *t = &s->tasks[th->longs[k]];
			if (t->state == TS_WAITING && t->wake_at &&
			    t->wake_at <= th->now && !t->queued)
				sim_ready(s, t);
		}
		return 1;
	}
	uint64_t id = th->ready[th->rhead++ % 4096];
	sim_switch(s, th, id);
	sim_run(s, th, &s->tasks[id]);
	return 1;
}

static void sim_free(struct sim *s)
{
	free(s->tasks);
	free(s->snap.threads);
	free(s->snap.tasks);
}

#endif
