/* SPDX-License-Identifier: MIT */
/*
 * top's task table in one place, for the plain frames (batch.c) and the live view (render.c):
 * each column's heading, alignment and cell, and how the columns share a width. A column is
 * one entry in top_cols and one case in top_cell.
 */
#include "top/top.h"
#include "out/out.h"

#include <stdio.h>
#include <string.h>
#include <taskscope/taskscope.h>

/* NAME gives up width first, then WAITED, then CORO: the figures and AGE keep theirs. */
const struct top_col top_cols[TOP_NCOLS] = {
	[TOP_COL_ID] = { "ID", 1, 1, 0, 0, TOP_SORT_ID, 24 },
	[TOP_COL_NAME] = { "NAME", 0, 0, 6, 1, TOP_SORT_NAME, 0 },
	[TOP_COL_STATE] = { "STATE", 0, 1, 0, 0, -1, 12 },
	[TOP_COL_WAIT] = { "WAITED", 0, 1, 6, 2, TOP_SORT_WAITED, 80 },
	[TOP_COL_THREAD] = { "THREAD", 1, 1, 0, 0, -1, 16 },
	[TOP_COL_CPU] = { "CPU%", 1, 1, 0, 0, TOP_SORT_CPU, 16 },
	[TOP_COL_TIME] = { "CPU-TIME", 1, 1, 0, 0, -1, 24 },
	[TOP_COL_SW] = { "SW/s", 1, 1, 0, 0, TOP_SORT_SWITCHES, 24 },
	[TOP_COL_AGE] = { "AGE", 1, 1, 0, 0, TOP_SORT_AGE, 16 },
	[TOP_COL_CORO] = { "CORO", 0, 0, 6, 3, -1, 0 },
};

static int measured(const struct top_model *m)
{
	return m->exact || m->hz > 0;
}

void top_cell(const struct top_model *m, const struct top_task *t, enum top_col_id c, char *buf,
	      size_t n)
{
	const struct tsc_task w = top_task_wait(t);
	switch (c) {
	case TOP_COL_ID:
		snprintf(buf, n, "%llu", (unsigned long long)t->id);
		break;
	case TOP_COL_NAME:
		tsc_esc(buf, n, t->name);
		break;
	case TOP_COL_STATE:
		snprintf(buf, n, "%s", tsc_state_name(t->state));
		break;
	case TOP_COL_WAIT:
		tsc_waited_describe(&w, m->taken_ns, buf, n);
		break;
	case TOP_COL_THREAD:
		snprintf(buf, n, "%d", t->tid);
		break;
	case TOP_COL_CPU:
		if (measured(m))
			snprintf(buf, n, "%.1f", t->cpu_pct);
		else
			snprintf(buf, n, "-");
		break;
	case TOP_COL_TIME:
		if (measured(m))
			top_fmt_cputime(t->cpu_ns, buf, n);
		else
			snprintf(buf, n, "-");
		break;
	case TOP_COL_SW:
		snprintf(buf, n, t->sw_rate >= 99.95 ? "%.0f" : "%.1f", t->sw_rate);
		break;
	case TOP_COL_AGE:
		tsc_fmt_age(m->taken_ns > t->created_ns ? m->taken_ns - t->created_ns : 0, buf, n);
		break;
	case TOP_COL_CORO:
		tsc_esc(buf, n, t->coro);
		break;
	default:
		snprintf(buf, n, "?");
	}
}

void top_cols_init(int w[TOP_NCOLS])
{
	for (int c = 0; c < TOP_NCOLS; c++)
		w[c] = (int)strlen(top_cols[c].head);
}

int top_cols_total(const int w[TOP_NCOLS])
{
	int total = TOP_NCOLS - 1; /* one space between columns */
	for (int c = 0; c < TOP_NCOLS; c++)
		total += w[c];
	return total;
}

void top_cols_fit(int w[TOP_NCOLS], int width)
{
	int over = width > 0 ? top_cols_total(w) - width : 0;
	for (int give = 1; over > 0 && give <= TOP_NCOLS; give++) {
		for (int c = 0; c < TOP_NCOLS && over > 0; c++) {
			if (top_cols[c].give != give || w[c] <= top_cols[c].min)
				continue;
			int cut = w[c] - top_cols[c].min < over ? w[c] - top_cols[c].min : over;
			w[c] -= cut;
			over -= cut;
		}
	}
}

size_t top_fields_fit(const char *const *f, size_t n, size_t sep, size_t indent, int width)
{
	size_t k = 1, len = strlen(f[0]) + indent;
	if (width <= 0)
		return n;
	while (k < n && len + sep + strlen(f[k]) <= (size_t)width)
		len += sep + strlen(f[k++]);
	return k;
}

void top_counter_fields(const struct top_model *m, int titled, char v[6][64])
{
	static const char *const label[2][6] = {
		{ "created", "finished", "events", "LOST", "map-full", "resyncs" },
		{ "Created:", "Finished:", "Events:", "LOST:", "map-full:", "resyncs:" },
	};
	const char *const *l = label[!!titled];
	snprintf(v[0], 64, "%s %.1f/s", l[0], m->created_rate);
	snprintf(v[1], 64, "%s %.1f/s", l[1], m->finished_rate);
	snprintf(v[2], 64, "%s %llu (%.0f/s)", l[2], (unsigned long long)m->events, m->events_rate);
	snprintf(v[3], 64, "%s %llu", l[3], (unsigned long long)m->lost);
	snprintf(v[4], 64, "%s %llu", l[4], (unsigned long long)m->map_full);
	snprintf(v[5], 64, "%s %llu", l[5], (unsigned long long)m->resyncs);
}

void top_lat_cells(const struct top_thread *th, char v[4][24])
{
	if (!th->lat_known || !th->lat.count) {
		for (int i = 0; i < 4; i++)
			snprintf(v[i], 24, "%s", th->lat_known && !i ? "0" : "-");
		return;
	}
	snprintf(v[0], 24, "%llu", (unsigned long long)th->lat.count);
	tsc_fmt_dur(v[1], 24, th->lat.p50);
	tsc_fmt_dur(v[2], 24, th->lat.p99);
	tsc_fmt_dur(v[3], 24, th->lat.max);
}
