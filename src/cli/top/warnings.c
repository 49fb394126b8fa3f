// SPDX-License-Identifier: MIT
/*
 * top's warnings, tokio-console's lints, at each refresh.
 *
 * A task that runs without yielding starves every other task of its loop. Sampling (and
 * --no-bpf) sees it as the same task current on its thread at consecutive reads of the
 * registry with its switch count unchanged: it has run at least since the first of them (a
 * lower bound, as fine as the refresh interval), and the samples between show it on the CPU.
 * --exact knows when it was switched in (if that was after it attached).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <taskscope/taskscope.h>

#include "top/top.h"
#include "out/out.h"
#include "target/model.h"

static void long_runs(struct top_model *m)
{
	for (size_t i = 0; i < m->nthreads; i++) {
		struct top_thread *th = &m->threads[i];
		const struct top_task *t = th->current ? top_find(m, th->current) : NULL;
		if (!t || t->state != TS_RUNNING) {
			th->streak_task = 0;
			continue;
		}
		if (th->streak_task != t->id || th->streak_switches != t->switches) {
			th->streak_task = t->id;
			th->streak_switches = t->switches;
			th->streak_ns = m->taken_ns;
			th->streak_reads = 1;
			th->streak_samples = th->samples;
			th->streak_task_samples = t->bpf_samples;
		} else {
			th->streak_reads++;
		}
		struct tsc_warning w = { .kind = TSC_WARN_LONG_RUN, .task = t->id, .tid = th->tid };
		if (m->exact && th->run_current == t->id && th->run_since &&
		    th->run_since <= m->taken_ns) {
			/* switched in at run_since (CLOCK_MONOTONIC, as taken_ns), not out since */
			w.ns = m->taken_ns - th->run_since;
			snprintf(w.evidence, sizeof(w.evidence),
				 "switched in %.3fs ago by the %s, not out since", w.ns / 1e9,
				 m->rings ? "switch record of its ring" : "switch probe");
		} else {
			/* sampling, or switched in before --exact attached: a lower bound */
			if (th->streak_reads < 2)
				continue;
			w.ns = m->taken_ns - th->streak_ns;
			int n = snprintf(w.evidence, sizeof(w.evidence),
					 "current at %" PRIu64 " reads over %.2fs, its switch count "
					 "unchanged", th->streak_reads, w.ns / 1e9);
			if (m->hz > 0 && n > 0 && (size_t)n < sizeof(w.evidence))
				snprintf(w.evidence + n, sizeof(w.evidence) - (size_t)n,
					 "; in %" PRIu64 " of its thread's %" PRIu64 " samples",
					 t->bpf_samples - th->streak_task_samples,
					 th->samples - th->streak_samples);
		}
		if (w.ns < m->warn_run_ns)
			continue;
		memcpy(w.name, t->name, sizeof(w.name));
		(void)tsc_warn_add(&m->warn, &w);
	}
}

/* Each await cycle once, from the await tree's rows that close one. */
static void cycles(struct top_model *m)
{
	struct top_view v = { 0 };
	struct top_tree tr;
	char name[TSC_TEXT_SIZE(TS_NAME_MAX)];
	if (top_tree_build(m, &v, &tr))
		return;
	for (size_t r = 0; r < tr.n; r++) {
		if (tr.mark[r] != 2)
			continue;
		const struct top_task *start = &m->tasks[tr.rows[r]], *t = start, *lo = start;
		struct tsc_warning w = { .kind = TSC_WARN_CYCLE, .tid = start->tid };
		size_t len = 0, steps = 0;
		uint64_t id;
		do { /* the tree found the cycle: each member awaits the next, back to start */
			if (t->id < lo->id)
				lo = t;
			int n = snprintf(w.evidence + len, sizeof(w.evidence) - len, "%s (%" PRIu64
					 ") -> ", tsc_esc(name, sizeof(name), t->name), t->id);
			if (n > 0 && len + (size_t)n < sizeof(w.evidence))
				len += (size_t)n;
		} while (tsc_task_awaits(&(struct tsc_task){ .state = t->state, .wait = t->wait,
							     .wait_obj = t->wait_obj }, &id) &&
			 (t = top_find(m, id)) && t != start && ++steps < m->ntasks);
		snprintf(w.evidence + len, sizeof(w.evidence) - len, "%s (%" PRIu64 ")",
			 tsc_esc(name, sizeof(name), start->name), start->id);
		w.task = lo->id;
		memcpy(w.name, lo->name, sizeof(w.name));
		(void)tsc_warn_add(&m->warn, &w);
	}
	top_tree_free(&tr);
}

/* One warning for every task waiting too long: the longest, and how many. */
static void long_waits(struct top_model *m)
{
	const struct top_task *longest = NULL;
	uint64_t most = 0, ns;
	size_t n = 0;
	for (size_t i = 0; i < m->ntasks; i++) {
		const struct top_task *t = &m->tasks[i];
		struct tsc_task w = top_task_wait(t);
		if (!tsc_task_waited(&w, m->taken_ns, &ns) || ns <= m->warn_wait_ns)
			continue;
		n++;
		if (!longest || ns > most) {
			longest = t;
			most = ns;
		}
	}
	if (!longest)
		return;
	struct tsc_task w = top_task_wait(longest);
	w.id = longest->id;
	w.tid = longest->tid;
	memcpy(w.name, longest->name, sizeof(w.name));
	(void)tsc_warn_long_wait(&m->warn, &w, most, n, m->warn_wait_ns, m->taken_ns);
}

static void loop_lags(struct top_model *m)
{
	for (size_t i = 0; i < m->nthreads; i++) {
		const struct top_thread *th = &m->threads[i];
		if (th->lag_ns <= m->warn_lag_ns)
			continue;
		const struct top_task *t = th->current ? top_find(m, th->current) : NULL;
		struct tsc_task cur = { 0 };
		if (t) {
			cur.id = t->id;
			memcpy(cur.name, t->name, sizeof(cur.name));
		}
		(void)tsc_warn_loop_lag(&m->warn, th->tid, th->lag_ns, t ? &cur : NULL);
	}
}

void top_warnings_update(struct top_model *m)
{
	tsc_warnings_clear(&m->warn);
	long_runs(m);
	loop_lags(m);
	long_waits(m);
	cycles(m);
}
