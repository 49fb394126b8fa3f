/* SPDX-License-Identifier: MIT */
/*
 * One scrape of one process: its registry read the way top reads it at each refresh (top_reg:
 * the loop table, the task arrays, each task's fields in a few big reads; names read again
 * only when they changed), no probe attached and no BPF; its loop threads' CPU times from
 * /proc. The counters are kept monotonic here, across scrapes.
 */
#include "metrics/metrics.h"
#include "target/procstat.h"
#include "target/registry.h"
#include "target/remote.h"
#include "target/walk.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <taskscope/taskscope.h>

void mx_target_free(struct mx_target *t)
{
	if (!t)
		return;
	top_reg_free(t->reg);
	top_model_free(&t->m);
	tsc_remote_close(t->r);
	tsc_idmap_free(&t->sw_seen);
	tsc_idmap_free(&t->sw_next);
	free(t->loops);
	free(t);
}

/* The reason label for a failed read. */
static const char *reason(int err)
{
	switch (err) {
	case -ESRCH: return "exited";
	case -ENOEXEC: return "exec";
	case -EAGAIN: return "inconsistent";
	case -EPROTO: return "invalid";
	case -EPROTONOSUPPORT: return "abi";
	case -EACCES: case -EPERM: return "access";
	case -ENOMEM: return "memory";
	default: return "read";
	}
}

/*
 * Task switches: the runtime counts each task's switches in; a task that finished took its
 * count with it. So the counter adds, at each scrape, what each task counted since the last
 * scrape that saw it (all of it for a task new since then): switches of tasks that lived
 * through a scrape, up to the last scrape that saw them.
 */
static int count_switches(struct mx_target *t)
{
	const struct top_model *m = &t->m;
	uint64_t add = 0;
	int err = tsc_idmap_reset(&t->sw_next, m->ntasks, tsc_hash_key);
	if (err)
		return err;
	for (size_t i = 0; i < m->ntasks; i++) {
		const struct top_task *k = &m->tasks[i];
		const uint64_t *was = tsc_idmap_get(&t->sw_seen, k->id);
		add += !was ? k->switches : k->switches > *was ? k->switches - *was : 0;
		if ((err = tsc_idmap_put(&t->sw_next, k->id, k->switches)))
			return err;
	}
	struct tsc_idmap x = t->sw_seen;
	t->sw_seen = t->sw_next;
	t->sw_next = x;
	t->switches += add;
	return 0;
}

/* Created: every id below the next one was handed out (ids start at 1). Finished: of those
 * handed out before the registry was read, the ones not live in it; never lower than the last
 * scrape's (a task spawned onto another loop joins its registry a moment later). */
static void count_tasks(struct mx_target *t)
{
	const struct top_model *m = &t->m;
	uint64_t before = m->next_id_before ? m->next_id_before - 1 : 0, live = 0;
	for (size_t i = 0; i < m->ntasks; i++)
		live += m->tasks[i].id <= before;
	uint64_t created = m->next_id ? m->next_id - 1 : 0;
	uint64_t finished = before > live ? before - live : 0;
	t->created = created > t->created ? created : t->created;
	t->finished = finished > t->finished ? finished : t->finished;
}

static int read_loops_cpu(struct mx_target *t)
{
	const struct top_model *m = &t->m;
	char rel[48];
	int err;
	if ((err = tsc_grow((void **)&t->loops, &t->loopcap, m->nthreads + 1, sizeof(*t->loops))))
		return err;
	t->nloops = 0;
	for (size_t i = 0; i < m->nthreads; i++) {
		struct tsc_procstat ps;
		snprintf(rel, sizeof(rel), "task/%d/stat", m->threads[i].tid);
		if (m->threads[i].tid <= 0 || tsc_procstat_read(t->r->procfd, rel, &ps))
			continue; /* the thread ended since */
		t->loops[t->nloops++] = (struct mx_loop){ m->threads[i].tid,
							  ps.utime_ns + ps.stime_ns,
							  m->threads[i].lag_ns };
	}
	return 0;
}

/* The longest current wait, and how many tasks wait longer than each threshold: ages from
 * when each wait began (the runtime's loop clock, CLOCK_MONOTONIC like ours) to the read. */
static void wait_ages(struct mx_target *t, const struct mx_set *s)
{
	const struct top_model *m = &t->m;
	t->ages = tsc_reg_has_ages(&t->r->desc);
	t->wait_longest_ns = 0;
	memset(t->waiting_over, 0, sizeof(t->waiting_over));
	for (size_t i = 0; t->ages && i < m->ntasks; i++) {
		const struct top_task *k = &m->tasks[i];
		if (k->state != TS_WAITING || !k->wait_since_ns || k->wait_since_ns > m->taken_ns)
			continue;
		uint64_t age = m->taken_ns - k->wait_since_ns;
		if (age > t->wait_longest_ns)
			t->wait_longest_ns = age;
		for (size_t j = 0; j < s->nthresholds; j++)
			t->waiting_over[j] += (double)age / 1e9 > s->thresholds[j];
	}
}

/* -ESRCH once the process exited, -ENOEXEC once it runs another program, else 0. */
static int gone(const struct mx_target *t)
{
	if (!tsc_remote_alive(t->r))
		return -ESRCH;
	return tsc_remote_execd(t->r) ? -ENOEXEC : 0;
}

static void scrape_one(struct mx_target *t, const struct mx_set *s)
{
	uint64_t t0 = tsc_now_ns();
	int err = 0;
	if ((err = gone(t)))
		goto done;
	if (!t->reg)
		goto done; /* its runtime cannot be read: the reason found at discovery stands */
	t->error = NULL;
	err = top_reg_refresh(t->reg, &t->m);
	/* an exit or an exec under the read: what it read is not of this process */
	if (gone(t))
		err = gone(t);
	if (!err)
		err = read_loops_cpu(t);
	if (!err)
		err = count_switches(t);
	if (!err) {
		count_tasks(t);
		wait_ages(t, s);
		t->counted = 1;
	}
done:
	if (err) {
		t->error = reason(err);
		t->gone = err == -ESRCH || err == -ENOEXEC;
	}
	t->scrape_s = (double)(tsc_now_ns() - t0) / 1e9;
}

void mx_scrape_all(struct mx_set *s)
{
	uint64_t t0 = tsc_now_ns();
	for (size_t i = 0; i < s->n; i++)
		scrape_one(s->t[i], s);
	s->scrape_s = (double)(tsc_now_ns() - t0) / 1e9;
}
