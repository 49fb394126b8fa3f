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
				 "switched in %.3fs ago by the switch probe, not out since",
				 w.ns / 1e9);
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

void top_warnings_update(struct top_model *m)
{
	tsc_warnings_clear(&m->warn);
	long_runs(m);
	cycles(m);
}
