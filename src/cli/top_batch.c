/* SPDX-License-Identifier: MIT */
/* top's frames for scripts: plain text like top -b, or one JSON object per line. */
#include "top.h"
#include "out.h"

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
	char id[24], state[12], wait[40], thread[16], cpu[16], time[24];
	char sw[24], age[16];
	size_t name_w;
};

static void fill(const struct top_model *m, const struct top_task *t, struct cells *c)
{
	const struct tsc_task w = { .state = t->state, .wait = t->wait, .wait_obj = t->wait_obj };
	snprintf(c->id, sizeof(c->id), "%llu", (unsigned long long)t->id);
	char name[TSC_TEXT_SIZE(TS_NAME_MAX)];
	tsc_text(name, sizeof(name), t->name, SIZE_MAX, 0, &c->name_w);
	snprintf(c->state, sizeof(c->state), "%s", tsc_state_name(t->state));
	tsc_wait_describe(&w, m->taken_ns, c->wait, sizeof(c->wait));
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
	size_t w[9] = { 2, 4, 5, 4, 6, 4, 8, 4, 3 };
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
		"NAME", (int)w[2], "STATE", (int)w[3], "WAIT", (int)w[4], "THREAD", (int)w[5],
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

static void put_double(FILE *f, double v)
{
	fprintf(f, "%.2f", v);
}

void top_print_json(const struct top_model *m, const struct top_view *v, const char *mode,
		    uint64_t frame)
{
	FILE *f = stdout;
	uint32_t *rows;
	size_t nrows;
	int meas = measured(m);
	top_rows(m, v, 0, &rows, &nrows);
	fprintf(f, "{\"frame\":%llu,\"pid\":%d,\"mode\":\"%s\",\"hz\":", (unsigned long long)frame,
		m->pid, !meas ? "registry" : m->exact ? "exact" : "sampling");
	if (m->hz > 0)
		fprintf(f, "%d", m->hz);
	else
		fputs("null", f);
	fprintf(f, ",\"taken_ns\":%llu,\"interval_s\":%.3f,\"live\":%zu", (unsigned long long)m->taken_ns,
		m->dt, m->ntasks);
	fprintf(f, ",\"states\":{\"pending\":%zu,\"ready\":%zu,\"running\":%zu,\"waiting\":%zu}",
		m->nstate[TS_PENDING], m->nstate[TS_READY], m->nstate[TS_RUNNING],
		m->nstate[TS_WAITING]);
	fprintf(f, ",\"created\":%llu,\"finished\":%llu,\"created_per_s\":%.2f,"
		   "\"finished_per_s\":%.2f,\"events\":%llu,\"events_per_s\":%.2f,\"lost\":%llu,"
		   "\"map_full\":%llu,\"resyncs\":%llu,\"retries\":%u,\"note\":",
		(unsigned long long)m->created, (unsigned long long)m->finished, m->created_rate,
		m->finished_rate, (unsigned long long)m->events, m->events_rate,
		(unsigned long long)m->lost, (unsigned long long)m->map_full,
		(unsigned long long)m->resyncs, m->retries);
	if (m->note[0])
		tsc_json_str(f, m->note);
	else
		fputs("null", f);
	(void)mode;
	fputs(",\"threads\":[", f);
	for (size_t i = 0; i < m->nthreads; i++) {
		const struct top_thread *th = &m->threads[i];
		fprintf(f, "%s{\"tid\":%d,\"loop\":%llu,\"current\":", i ? "," : "", th->tid,
			(unsigned long long)th->loop_id);
		if (th->current)
			tsc_put_u64(f, th->current);
		else
			fputs("null", f);
		fputs(",\"cpu_pct\":", f);
		if (meas)
			put_double(f, th->cpu_pct);
		else
			fputs("null", f);
		fputs(",\"task_pct\":", f);
		if (meas)
			put_double(f, th->task_pct);
		else
			fputs("null", f);
		fputc('}', f);
	}
	fputs("],\"tasks\":[", f);
	for (size_t i = 0; i < nrows; i++) {
		const struct top_task *t = &m->tasks[rows[i]];
		fputs_unlocked(i ? ",{\"id\":" : "{\"id\":", f);
		tsc_put_u64(f, t->id);
		fputs_unlocked(",\"name\":", f);
		tsc_json_str(f, t->name);
		fputs_unlocked(",\"coro\":", f);
		tsc_json_str(f, t->coro);
		fputs_unlocked(",\"state\":\"", f);
		fputs_unlocked(tsc_state_name(t->state), f);
		int waiting = t->state == TS_WAITING;
		fputs_unlocked("\",\"wait\":\"", f);
		fputs_unlocked(tsc_wait_name(waiting ? t->wait : TS_WAIT_NONE), f);
		putc_unlocked('"', f);
		if (waiting && t->wait != TS_WAIT_NONE) {
			fputs_unlocked(",\"wait_obj\":", f);
			tsc_put_u64(f, t->wait_obj);
		}
		fputs_unlocked(",\"thread\":", f);
		tsc_put_i64(f, t->tid);
		fputs_unlocked(",\"parent\":", f);
		if (t->parent)
			tsc_put_u64(f, t->parent);
		else
			fputs_unlocked("null", f);
		fputs_unlocked(",\"awaiting\":[", f);
		if (waiting && t->wait == TS_WAIT_AWAIT && t->wait_obj)
			tsc_put_u64(f, t->wait_obj);
		fputs_unlocked("],\"cpu_pct\":", f);
		if (meas)
			put_double(f, t->cpu_pct);
		else
			fputs_unlocked("null", f);
		fputs_unlocked(",\"cpu_ns\":", f);
		if (meas)
			tsc_put_u64(f, t->cpu_ns);
		else
			fputs_unlocked("null", f);
		fputs_unlocked(",\"switches\":", f);
		tsc_put_u64(f, t->switches);
		fputs_unlocked(",\"switches_per_s\":", f);
		put_double(f, t->sw_rate);
		fputs_unlocked(",\"created_ns\":", f);
		tsc_put_u64(f, t->created_ns);
		fputs_unlocked(",\"age_ms\":", f);
		tsc_put_u64(f, (m->taken_ns > t->created_ns ? m->taken_ns - t->created_ns : 0) /
				       1000000);
		putc_unlocked('}', f);
	}
	fputs("]}\n", f);
	free(rows);
}
