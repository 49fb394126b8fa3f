/* SPDX-License-Identifier: MIT */
/* top's frames for scripts: plain text like top -b, or one JSON object per line. */
#include "top/top.h"
#include "out/out.h"
#include "out/task_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <taskscope/taskscope.h>

static int measured(const struct top_model *m)
{
	return m->exact || m->hz > 0;
}

static void fmt_rate(double v, char *buf, size_t n)
{
	if (v >= 99.95)
		snprintf(buf, n, "%.0f", v);
	else
		snprintf(buf, n, "%.1f", v);
}

static void fmt_pct(const struct top_model *m, double v, char *buf, size_t n)
{
	if (!measured(m))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.1f", v);
}

static void print_header(FILE *f, const struct top_model *m, const char *mode)
{
	char clock[16] = "";
	time_t now = time(NULL);
	struct tm tm;
	if (localtime_r(&now, &tm))
		strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	fprintf(f, "taskscope top - pid %d - %s - %s - interval %.2fs\n", m->pid, clock, mode,
		m->dt);
	fprintf(f, "threads %zu, tasks %zu: %zu running, %zu ready, %zu waiting, %zu pending\n",
		m->nthreads, m->ntasks, m->nstate[TS_RUNNING], m->nstate[TS_READY],
		m->nstate[TS_WAITING], m->nstate[TS_PENDING]);
	if (measured(m))
		fprintf(f, "created %.1f/s, finished %.1f/s, events %llu (%.0f/s), LOST %llu, "
			   "map-full %llu, resyncs %llu\n",
			m->created_rate, m->finished_rate, (unsigned long long)m->events,
			m->events_rate, (unsigned long long)m->lost,
			(unsigned long long)m->map_full, (unsigned long long)m->resyncs);
	if (m->note[0]) {
		char note[TSC_TEXT_SIZE(sizeof(m->note))];
		fprintf(f, "note: %s\n", tsc_esc(note, sizeof(note), m->note));
	}
	tsc_warnings_print(f, &m->warn, 8);
}

static void print_threads(FILE *f, const struct top_model *m)
{
	char name[TSC_TEXT_SIZE(TS_NAME_MAX)], cpu[16], task[16];
	fprintf(f, "\n%8s %6s %6s  %s\n", "TID", "CPU%", "TASK%", "CURRENT");
	for (size_t i = 0; i < m->nthreads; i++) {
		const struct top_thread *th = &m->threads[i];
		const struct top_task *t = top_find(m, th->current);
		fmt_pct(m, th->cpu_pct, cpu, sizeof(cpu));
		fmt_pct(m, th->task_pct, task, sizeof(task));
		fprintf(f, "%8d %6s %6s  ", th->tid, cpu, task);
		if (t) {
			fprintf(f, "%llu %s\n", (unsigned long long)t->id,
				tsc_esc(name, sizeof(name), t->name));
		} else {
			fputs("-\n", f);
		}
	}
}

/* A row's cells. The name and coroutine are escaped again when printed: a copy of each
 * would triple the row. */
struct cells {
	char id[24], state[12], wait[80], thread[16], cpu[16], time[24];
	char sw[24], age[16];
	size_t name_w;
};

static void fill(const struct top_model *m, const struct top_task *t, struct cells *c)
{
	const struct tsc_task w = top_task_wait(t);
	snprintf(c->id, sizeof(c->id), "%llu", (unsigned long long)t->id);
	char name[TSC_TEXT_SIZE(TS_NAME_MAX)];
	tsc_text(name, sizeof(name), t->name, SIZE_MAX, 0, &c->name_w);
	snprintf(c->state, sizeof(c->state), "%s", tsc_state_name(t->state));
	tsc_waited_describe(&w, m->taken_ns, c->wait, sizeof(c->wait));
	snprintf(c->thread, sizeof(c->thread), "%d", t->tid);
	fmt_pct(m, t->cpu_pct, c->cpu, sizeof(c->cpu));
	if (measured(m))
		top_fmt_cputime(t->cpu_ns, c->time, sizeof(c->time));
	else
		snprintf(c->time, sizeof(c->time), "-");
	fmt_rate(t->sw_rate, c->sw, sizeof(c->sw));
	tsc_fmt_age(m->taken_ns > t->created_ns ? m->taken_ns - t->created_ns : 0, c->age,
		    sizeof(c->age));
}

/* Our own cells are ASCII: bytes are columns. */
#define WIDEN(w, s) do { size_t l__ = strlen(s); if (l__ > (w)) (w) = l__; } while (0)

void top_print_text(const struct top_model *m, const struct top_view *v, const char *mode)
{
	FILE *f = stdout;
	uint32_t *rows;
	size_t nrows;
	print_header(f, m, mode);
	print_threads(f, m);
	size_t pass = top_rows(m, v, 0, &rows, &nrows);
	struct cells *c = malloc((nrows + 1) * sizeof(*c));
	if (!c) {
		free(rows);
		fputs("\n(out of memory)\n\n", f);
		return;
	}
	size_t w[9] = { 2, 4, 5, 6, 6, 4, 8, 4, 3 };
	for (size_t i = 0; i < nrows; i++) {
		fill(m, &m->tasks[rows[i]], &c[i]);
		WIDEN(w[0], c[i].id);
		if (c[i].name_w > w[1])
			w[1] = c[i].name_w;
		WIDEN(w[2], c[i].state);
		WIDEN(w[3], c[i].wait);
		WIDEN(w[4], c[i].thread);
		WIDEN(w[5], c[i].cpu);
		WIDEN(w[6], c[i].time);
		WIDEN(w[7], c[i].sw);
		WIDEN(w[8], c[i].age);
	}
	char name[TSC_TEXT_SIZE(TS_NAME_MAX)];
	if (v->filter[0]) {
		tsc_text(name, sizeof(name), v->filter, SIZE_MAX, TSC_TEXT_QUOTED, NULL);
		fprintf(f, "\n%zu of %zu tasks match \"%s\"\n", pass, m->ntasks, name);
	}
	fprintf(f, "\n%*s %-*s %-*s %-*s %*s %*s %*s %*s %*s %s\n", (int)w[0], "ID", (int)w[1],
		"NAME", (int)w[2], "STATE", (int)w[3], "WAITED", (int)w[4], "THREAD", (int)w[5],
		"CPU%", (int)w[6], "CPU-TIME", (int)w[7], "SW/s", (int)w[8], "AGE", "CORO");
	for (size_t i = 0; i < nrows; i++) {
		const struct top_task *t = &m->tasks[rows[i]];
		fprintf(f, "%*s ", (int)w[0], c[i].id);
		tsc_pad(f, tsc_esc(name, sizeof(name), t->name), w[1], 0);
		fprintf(f, " %-*s %-*s %*s %*s %*s %*s %*s ", (int)w[2], c[i].state, (int)w[3],
			c[i].wait, (int)w[4], c[i].thread, (int)w[5], c[i].cpu, (int)w[6], c[i].time,
			(int)w[7], c[i].sw, (int)w[8], c[i].age);
		fputs(tsc_esc(name, sizeof(name), t->coro), f);
		fputc('\n', f);
	}
	fputc('\n', f);
	free(c);
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
