// SPDX-License-Identifier: MIT
/* Reconciliation of a snapshot with the probes' maps: see reconcile.h for the rules. */
#include "probes/reconcile.h"
#include "target/walk.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <taskscope/taskscope.h>

_Static_assert(TSC_NAME_LEN == sizeof(((struct tsc_task *)0)->name), "name length");
_Static_assert(TSC_CORO_LEN == sizeof(((struct tsc_task *)0)->coro), "coro length");

/* A set of task ids -> index, open addressing; ids are never 0. */
struct idmap {
	uint64_t *keys;
	uint32_t *vals;
	size_t cap; /* a power of two */
};

static int idmap_init(struct idmap *m, size_t n)
{
	m->cap = 16;
	while (m->cap < 2 * n + 16)
		m->cap <<= 1;
	m->keys = calloc(m->cap, sizeof(*m->keys));
	m->vals = calloc(m->cap, sizeof(*m->vals));
	return m->keys && m->vals ? 0 : -ENOMEM;
}

static void idmap_free(struct idmap *m)
{
	free(m->keys);
	free(m->vals);
}

static size_t idmap_slot(const struct idmap *m, uint64_t id)
{
	size_t i = (size_t)tsc_hash64(id) & (m->cap - 1);
	while (m->keys[i] && m->keys[i] != id)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static uint32_t *idmap_get(const struct idmap *m, uint64_t id)
{
	size_t i = idmap_slot(m, id);
	return m->keys[i] ? &m->vals[i] : NULL;
}

/* Caller sized the map for every insert (idmap_init with the total). */
static void idmap_put(struct idmap *m, uint64_t id, uint32_t v)
{
	size_t i = idmap_slot(m, id);
	m->keys[i] = id;
	m->vals[i] = v;
}

/* Was id's creation seen (and its record put in `live`) since attach? */
static bool born(const struct tsc_probe_view *v, uint64_t id)
{
	if (!v->born || !v->born_base || id < v->born_base || id - v->born_base >= v->born_bits)
		return false;
	uint64_t off = id - v->born_base;
	return (__atomic_load_n(&v->born[off >> 6], __ATOMIC_ACQUIRE) >> (off & 63)) & 1;
}

/* A state set by an event began at the event: the wait or ready age starts there. */
static void task_since(struct tsc_task *t, const struct tsc_task_rec *r)
{
	if (!(r->flags & TSC_TF_STATE))
		return;
	t->wait_since_ns = t->state == TS_WAITING ? r->updated_ns : 0;
	t->ready_since_ns = t->state == TS_READY ? r->updated_ns : 0;
}

static void task_from_rec(struct tsc_task *t, const struct tsc_task_rec *r)
{
	memset(t, 0, sizeof(*t));
	t->id = r->id;
	t->parent = r->parent;
	memcpy(t->name, r->name, sizeof(t->name));
	t->name[sizeof(t->name) - 1] = 0;
	memcpy(t->coro, r->coro, sizeof(t->coro));
	t->coro[sizeof(t->coro) - 1] = 0;
	t->state = r->state;
	t->wait = r->wait;
	t->wait_obj = r->wait_obj;
	t->tid = (int32_t)r->tid;
	t->created_ns = r->created_ns;
	t->switches = r->switches;
	task_since(t, r);
}

/* What changed of a snapshot task since the snapshot, from its live record. */
static void task_update(struct tsc_task *t, const struct tsc_task_rec *r, uint64_t taken_ns)
{
	if ((r->flags & TSC_TF_RENAMED) && !(r->flags & TSC_TF_NAME_ERR)) {
		memcpy(t->name, r->name, sizeof(t->name));
		t->name[sizeof(t->name) - 1] = 0;
	}
	if ((r->flags & TSC_TF_STATE) && r->updated_ns > taken_ns) {
		t->state = r->state;
		t->wait = r->wait;
		t->wait_obj = r->wait_obj;
		task_since(t, r);
	}
}

/* The tasks: the snapshot's survivors, then the ones created since attach. `have` maps each
 * task kept to its index in tasks, sized by the caller for them all. */
static int merge_tasks(const struct tsc_snapshot *snap, const struct tsc_probe_view *v,
		       struct tsc_task *tasks, size_t *ntasks, struct idmap *have)
{
	struct idmap fin = { 0 }, inlive = { 0 };
	size_t n = 0;
	int err = idmap_init(&fin, v->nfinished);
	if (!err)
		err = idmap_init(&inlive, v->nlive);
	if (err)
		goto cleanup;
	for (size_t i = 0; i < v->nfinished; i++)
		idmap_put(&fin, v->finished[i], 1);
	for (size_t i = 0; i < v->nlive; i++)
		if (v->live[i].id)
			idmap_put(&inlive, v->live[i].id, 1);

	for (size_t i = 0; i < snap->ntasks; i++) {
		const struct tsc_task *t = &snap->tasks[i];
		if (!t->id || idmap_get(&fin, t->id) || idmap_get(have, t->id))
			continue;
		bool under_probes = born(v, t->id) || (v->next_id && t->id >= v->next_id);
		if (under_probes && !idmap_get(&inlive, t->id))
			continue;
		idmap_put(have, t->id, (uint32_t)n);
		tasks[n++] = *t;
	}
	for (size_t i = 0; i < v->nlive; i++) {
		const struct tsc_task_rec *r = &v->live[i];
		if (!r->id || idmap_get(&fin, r->id))
			continue;
		uint32_t *at = idmap_get(have, r->id);
		if (at) {
			task_update(&tasks[*at], r, snap->taken_ns);
			continue;
		}
		/* Known only by events: complete only if its creation was seen. A record without
		 * it is a task the snapshot missed; we cannot name it, and leave it out rather
		 * than show a nameless task. */
		if (!(r->flags & TSC_TF_CREATED))
			continue;
		idmap_put(have, r->id, (uint32_t)n);
		task_from_rec(&tasks[n], r);
		if (v->outer_tid)
			tasks[n].tid = v->outer_tid(v->tid_ctx, tasks[n].tid);
		n++;
	}
	*ntasks = n;
cleanup:
	idmap_free(&fin);
	idmap_free(&inlive);
	return err;
}

/* The threads: the snapshot's, plus loops started since attach, each with its current task
 * (0 unless that task is in the result, on that thread). Returns their number. */
static size_t merge_threads(const struct tsc_snapshot *snap, const struct tsc_probe_view *v,
			    const struct tsc_task *tasks, const struct idmap *have,
			    struct tsc_thread *threads)
{
	size_t m = 0;
	for (size_t i = 0; i < snap->nthreads; i++)
		threads[m++] = snap->threads[i];
	for (size_t j = 0; j < v->nthreads; j++) {
		const struct tsc_thread_rec *r = &v->threads[j];
		int32_t tid = (int32_t)v->thread_tids[j];
		size_t i;
		for (i = 0; i < m; i++)
			if (threads[i].tid == tid)
				break;
		if (i == m) {
			if (!(r->flags & TSC_THF_STARTED) || (r->flags & TSC_THF_STOPPED))
				continue;
			memset(&threads[m], 0, sizeof(threads[m]));
			threads[m].tid = tid;
			threads[m].loop_id = r->loop_id;
			m++;
		}
		/* The last switch is the current task now, whatever the snapshot read. */
		if (r->flags & TSC_THF_SWITCHED)
			threads[i].current = r->current;
		else if (r->flags & TSC_THF_STOPPED)
			threads[i].current = 0;
	}
	for (size_t i = 0; i < m; i++) {
		uint64_t c = threads[i].current;
		uint32_t *at = c ? idmap_get(have, c) : NULL;
		if (c && (!at || tasks[*at].tid != threads[i].tid))
			threads[i].current = 0;
	}
	return m;
}

int tsc_reconcile(struct tsc_snapshot *snap, const struct tsc_probe_view *v)
{
	struct idmap have = { 0 };
	struct tsc_task *tasks = NULL;
	struct tsc_thread *threads = NULL;
	size_t n = 0;
	int err;

	tasks = malloc((snap->ntasks + v->nlive + 1) * sizeof(*tasks));
	threads = malloc((snap->nthreads + v->nthreads + 1) * sizeof(*threads));
	if (!tasks || !threads) {
		err = -ENOMEM;
		goto cleanup;
	}
	if ((err = idmap_init(&have, snap->ntasks + v->nlive)) ||
	    (err = merge_tasks(snap, v, tasks, &n, &have)))
		goto cleanup;
	size_t m = merge_threads(snap, v, tasks, &have, threads);

	free(snap->tasks);
	snap->tasks = tasks;
	snap->ntasks = n;
	snap->sorted = 0; /* the tasks events added came last */
	tasks = NULL;
	free(snap->threads);
	snap->threads = threads;
	snap->nthreads = m;
	threads = NULL;

	const uint64_t *c = v->counters;
	snap->reconciled = 1;
	snap->events = 0;
	for (int i = TSC_C_EVENTS_FIRST; i <= TSC_C_EVENTS_LAST; i++)
		snap->events += c[i];
	snap->lost = c[TSC_C_RB_DROPS] + c[TSC_C_READ_ERR];
	snap->map_full = c[TSC_C_LIVE_FULL] + c[TSC_C_FINISHED_FULL] + c[TSC_C_THREADS_FULL];
cleanup:
	free(tasks);
	free(threads);
	idmap_free(&have);
	return err;
}
