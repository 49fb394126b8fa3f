/* SPDX-License-Identifier: MIT */
/* top's frames for scripts: plain text like top -b, or one JSON object per line. */
#include "top/top.h"
#include "out/out.h"
#include "out/task_json.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

static int measured(const struct top_model *m)
{
	return m->exact || m->hz > 0;
}

static void fmt_pct(const struct top_model *m, double v, char *buf, size_t n)
{
	if (!measured(m))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.1f", v);
}

/* The width frames fit: COLUMNS when set, as for top -b; else the terminal's; else none (0). */
static int text_width(void)
{
	const char *c = getenv("COLUMNS");
	char *end = NULL;
	long v = c && *c ? strtol(c, &end, 10) : 0;
	struct winsize ws;
	if (v > 0 && v <= 100000 && !*end)
		return (int)v;
	if (isatty(STDOUT_FILENO) && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col)
		return ws.ws_col;
	return 0;
}

/* Fields joined by sep, on as many lines as the width needs: never cut inside one. */
static void print_fields(FILE *f, const char *const *v, size_t n, const char *sep, int width)
{
	for (size_t i = 0; i < n;) {
		size_t k = top_fields_fit(v + i, n - i, strlen(sep), i ? 2 : 0, width);
		if (i)
			fputs("  ", f);
		for (size_t j = i; j < i + k; j++) {
			if (j > i)
				fputs(sep, f);
			fputs(v[j], f);
		}
		fputc('\n', f);
		i += k;
	}
}

static void print_header(FILE *f, const struct top_model *m, const char *mode, int width)
{
	char clock[16] = "", v[6][64];
	time_t now = time(NULL);
	struct tm tm;
	if (localtime_r(&now, &tm))
		strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	snprintf(v[0], sizeof(v[0]), "pid %d", m->pid);
	snprintf(v[1], sizeof(v[1]), "interval %.2fs", m->dt);
	print_fields(f, (const char *const[]){ "taskscope top", v[0], clock, mode, v[1] }, 5, " - ",
		     width);
	snprintf(v[0], sizeof(v[0]), "threads %zu", m->nthreads);
	snprintf(v[1], sizeof(v[1]), "tasks %zu: %zu running", m->ntasks, m->nstate[TS_RUNNING]);
	snprintf(v[2], sizeof(v[2]), "%zu ready", m->nstate[TS_READY]);
	snprintf(v[3], sizeof(v[3]), "%zu waiting", m->nstate[TS_WAITING]);
	snprintf(v[4], sizeof(v[4]), "%zu pending", m->nstate[TS_PENDING]);
	print_fields(f, (const char *const[]){ v[0], v[1], v[2], v[3], v[4] }, 5, ", ", width);
	if (measured(m)) {
		top_counter_fields(m, 0, v);
		print_fields(f, (const char *const[]){ v[0], v[1], v[2], v[3], v[4], v[5] }, 6, ", ",
			     width);
	}
	if (m->note[0]) {
		char note[TSC_TEXT_SIZE(sizeof(m->note))];
		fprintf(f, "note: %s\n", tsc_esc(note, sizeof(note), m->note));
	}
	tsc_warnings_print(f, &m->warn, 8);
}

/* Escaped text s in w columns: cut with an ellipsis, padded unless it ends the line. */
static void print_cell(FILE *f, const char *s, int w, int right, int last)
{
	size_t cols, bytes = tsc_text_prefix(s, (size_t)w, &cols);
	int cut = s[bytes] != 0;
	if (cut) {
		bytes = tsc_text_prefix(s, w > 0 ? (size_t)w - 1 : 0, &cols);
		cols++;
	}
	int pad = w - (int)cols;
	if (right)
		for (; pad > 0; pad--)
			putc_unlocked(' ', f);
	fwrite_unlocked(s, 1, bytes, f);
	if (cut)
		fputs("\xe2\x80\xa6", f); /* … */
	if (!last)
		for (; pad > 0; pad--)
			putc_unlocked(' ', f);
}

static void print_threads(FILE *f, const struct top_model *m, int width)
{
	char cur[TSC_TEXT_SIZE(TS_NAME_MAX) + 24], cpu[16], task[16], lat[4][24];
	/* --exact: each thread's scheduling latency over the interval too */
	int fixed = 24 + (m->exact ? 34 : 0);
	fprintf(f, "\n%8s %6s %6s", "TID", "CPU%", "TASK%");
	if (m->exact)
		fprintf(f, TOP_LAT_FMT, TOP_LAT_HEAD);
	fprintf(f, "  %s\n", "CURRENT");
	for (size_t i = 0; i < m->nthreads; i++) {
		const struct top_thread *th = &m->threads[i];
		const struct top_task *t = top_find(m, th->current);
		fmt_pct(m, th->cpu_pct, cpu, sizeof(cpu));
		fmt_pct(m, th->task_pct, task, sizeof(task));
		fprintf(f, "%8d %6s %6s", th->tid, cpu, task);
		if (m->exact) {
			top_lat_cells(th, lat);
			fprintf(f, TOP_LAT_FMT, lat[0], lat[1], lat[2], lat[3]);
		}
		fputs("  ", f);
		if (t) {
			int k = snprintf(cur, sizeof(cur), "%llu ", (unsigned long long)t->id);
			tsc_esc(cur + k, sizeof(cur) - (size_t)k, t->name);
		} else {
			snprintf(cur, sizeof(cur), "-");
		}
		/* the current task's name is cut to the width left after the figures */
		print_cell(f, cur, !width ? INT_MAX : width > fixed + 6 ? width - fixed : 6, 0, 1);
		fputc('\n', f);
	}
}

/* Where each column's cell is kept in a row's record: ours only (size bytes each), the
 * target's text is escaped again when printed. */
static size_t cell_off[TOP_NCOLS + 1];

static void cell_offsets(void)
{
	for (int c = 0; c < TOP_NCOLS; c++)
		cell_off[c + 1] = cell_off[c] + (top_cols[c].ours ? top_cols[c].size : 0);
}

static const char *row_cell(const struct top_model *m, const struct top_task *t, const char *kept,
			    int c, char *buf, size_t n)
{
	if (top_cols[c].ours)
		return kept + cell_off[c];
	top_cell(m, t, (enum top_col_id)c, buf, n);
	return buf;
}

/* The task table: each column as wide as its widest cell, then fitted to the width. */
static void print_table(FILE *f, const struct top_model *m, const uint32_t *rows, size_t nrows,
			int width)
{
	char buf[TOP_CELL_SIZE];
	int w[TOP_NCOLS];
	if (!cell_off[TOP_NCOLS])
		cell_offsets();
	char *kept = malloc((nrows + 1) * cell_off[TOP_NCOLS]);
	if (!kept) {
		fputs("\n(out of memory)\n", f);
		return;
	}
	top_cols_init(w);
	for (size_t i = 0; i < nrows; i++) {
		const struct top_task *t = &m->tasks[rows[i]];
		char *k = kept + i * cell_off[TOP_NCOLS];
		for (int c = 0; c < TOP_NCOLS; c++) {
			if (top_cols[c].ours)
				top_cell(m, t, (enum top_col_id)c, k + cell_off[c], top_cols[c].size);
			int cw = (int)tsc_text_width(row_cell(m, t, k, c, buf, sizeof(buf)));
			if (cw > w[c])
				w[c] = cw;
		}
	}
	top_cols_fit(w, width);
	fputc('\n', f);
	for (int c = 0; c < TOP_NCOLS; c++) {
		print_cell(f, top_cols[c].head, w[c], top_cols[c].right, c == TOP_NCOLS - 1);
		fputc(c == TOP_NCOLS - 1 ? '\n' : ' ', f);
	}
	for (size_t i = 0; i < nrows; i++) {
		const struct top_task *t = &m->tasks[rows[i]];
		const char *k = kept + i * cell_off[TOP_NCOLS];
		for (int c = 0; c < TOP_NCOLS; c++) {
			print_cell(f, row_cell(m, t, k, c, buf, sizeof(buf)), w[c], top_cols[c].right,
				   c == TOP_NCOLS - 1);
			fputc(c == TOP_NCOLS - 1 ? '\n' : ' ', f);
		}
	}
	free(kept);
}

void top_print_text(const struct top_model *m, const struct top_view *v, const char *mode)
{
	FILE *f = stdout;
	uint32_t *rows;
	size_t nrows;
	int width = text_width();
	print_header(f, m, mode, width);
	print_threads(f, m, width);
	size_t pass = top_rows(m, v, 0, &rows, &nrows);
	if (v->filter[0]) {
		char name[TSC_TEXT_SIZE(TS_NAME_MAX)];
		tsc_text(name, sizeof(name), v->filter, SIZE_MAX, TSC_TEXT_QUOTED, NULL);
		fprintf(f, "\n%zu of %zu tasks match \"%s\"\n", pass, m->ntasks, name);
	}
	print_table(f, m, rows, nrows, width);
	fputc('\n', f);
	free(rows);
}

/* A measured figure: the number, or null before top can measure (registry mode). */
static void json_measured(struct tsc_json *w, const char *key, int meas, double v)
{
	tsc_json_key(w, key);
	if (meas)
		tsc_json_double(w, v, 2);
	else
		tsc_json_null(w);
}

/* A thread's scheduling latency over the interval, as dump --summary gives it per loop; null
 * when not measured (not --exact from the rings). */
static void json_latency(struct tsc_json *w, const struct top_thread *th)
{
	tsc_json_key(w, "sched_latency");
	if (!th->lat_known) {
		tsc_json_null(w);
		return;
	}
	tsc_json_lat(w, &th->lat);
}

static void json_frame_head(struct tsc_json *w, const struct top_model *m, uint64_t frame)
{
	int meas = measured(m);
	tsc_json_schema(w);
	tsc_json_key(w, "frame");
	tsc_json_u64(w, frame);
	tsc_json_key(w, "pid");
	tsc_json_i64(w, m->pid);
	tsc_json_key(w, "mode");
	tsc_json_lit(w, !meas ? "registry" : m->exact ? "exact" : "sampling");
	tsc_json_key(w, "exact_from");
	if (m->exact)
		tsc_json_lit(w, m->rings ? "rings" : "uprobes");
	else
		tsc_json_null(w);
	tsc_json_key(w, "hz");
	if (m->hz > 0)
		tsc_json_i64(w, m->hz);
	else
		tsc_json_null(w);
	tsc_json_key(w, "taken_ns");
	tsc_json_u64(w, m->taken_ns);
	tsc_json_key(w, "interval_s");
	tsc_json_double(w, m->dt, 3);
	tsc_json_key(w, "live");
	tsc_json_u64(w, m->ntasks);
	tsc_json_key(w, "states");
	tsc_json_obj(w);
	static const uint32_t shown[] = { TS_PENDING, TS_READY, TS_RUNNING, TS_WAITING };
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
		tsc_json_key(w, tsc_state_name(shown[i]));
		tsc_json_u64(w, m->nstate[shown[i]]);
	}
	tsc_json_end_obj(w);
}

static void json_frame_counters(struct tsc_json *w, const struct top_model *m)
{
	tsc_json_key(w, "created");
	tsc_json_u64(w, m->created);
	tsc_json_key(w, "finished");
	tsc_json_u64(w, m->finished);
	tsc_json_key(w, "created_per_s");
	tsc_json_double(w, m->created_rate, 2);
	tsc_json_key(w, "finished_per_s");
	tsc_json_double(w, m->finished_rate, 2);
	tsc_json_key(w, "events");
	tsc_json_u64(w, m->events);
	tsc_json_key(w, "events_per_s");
	tsc_json_double(w, m->events_rate, 2);
	tsc_json_key(w, "lost");
	tsc_json_u64(w, m->lost);
	tsc_json_key(w, "map_full");
	tsc_json_u64(w, m->map_full);
	tsc_json_key(w, "resyncs");
	tsc_json_u64(w, m->resyncs);
	tsc_json_key(w, "retries");
	tsc_json_u64(w, m->retries);
	tsc_json_key(w, "note");
	if (m->note[0])
		tsc_json_string(w, m->note);
	else
		tsc_json_null(w);
}

static void json_task(struct tsc_json *w, const struct top_model *m, const struct top_task *t)
{
	int meas = measured(m);
	const struct tsc_task_view v = {
		.id = t->id, .parent = t->parent, .name = t->name, .coro = t->coro,
		.state = t->state, .wait = t->wait, .wait_obj = t->wait_obj, .tid = t->tid,
		.created_ns = t->created_ns, .switches = t->switches,
		.wait_since_ns = t->wait_since_ns,
	};
	tsc_json_obj(w);
	tsc_task_json(w, &v, m->taken_ns);
	json_measured(w, "cpu_pct", meas, t->cpu_pct);
	tsc_json_key(w, "cpu_ns");
	if (meas)
		tsc_json_u64(w, t->cpu_ns);
	else
		tsc_json_null(w);
	tsc_json_key(w, "switches_per_s");
	tsc_json_double(w, t->sw_rate, 2);
	tsc_json_end_obj(w);
}

void top_print_json(const struct top_model *m, const struct top_view *v, const char *mode,
		    uint64_t frame)
{
	uint32_t *rows;
	size_t nrows;
	int meas = measured(m);
	struct tsc_json *w = tsc_json_new(stdout);
	(void)mode;
	if (!w) {
		fputs("taskscope top: out of memory\n", stderr);
		return;
	}
	top_rows(m, v, 0, &rows, &nrows);
	tsc_json_obj(w);
	json_frame_head(w, m, frame);
	json_frame_counters(w, m);
	tsc_warnings_json(w, &m->warn);
	tsc_json_key(w, "threads");
	tsc_json_arr(w);
	for (size_t i = 0; i < m->nthreads; i++) {
		const struct top_thread *th = &m->threads[i];
		tsc_json_obj(w);
		tsc_json_key(w, "tid");
		tsc_json_i64(w, th->tid);
		tsc_json_key(w, "loop");
		tsc_json_u64(w, th->loop_id);
		tsc_json_key(w, "current");
		tsc_json_id(w, th->current);
		json_measured(w, "cpu_pct", meas, th->cpu_pct);
		json_measured(w, "task_pct", meas, th->task_pct);
		json_latency(w, th);
		tsc_json_end_obj(w);
	}
	tsc_json_end_arr(w);
	tsc_json_key(w, "tasks");
	tsc_json_arr(w);
	for (size_t i = 0; i < nrows; i++)
		json_task(w, m, &m->tasks[rows[i]]);
	tsc_json_end_arr(w);
	tsc_json_end_obj(w);
	tsc_json_ch(w, '\n');
	tsc_json_free(w);
	free(rows);
}
