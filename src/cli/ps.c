/* SPDX-License-Identifier: MIT */
/* taskscope ps: the live tasks and each thread's current task, as a table or JSON. */
#include "cli.h"
#include "collect.h"
#include "pid_opts.h"
#include "out.h"
#include "stacks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <taskscope/taskscope.h>

static void ps_usage(FILE *f)
{
	fprintf(f,
		"taskscope ps: list the live tasks of a process and each thread's current task.\n\n"
		"USAGE: taskscope ps [--json] [--no-bpf] [--stacks] PID\n\n"
		"  --json      one JSON object: pid, threads [{tid, current}], tasks [{id, name,\n"
		"              coro, state, thread, parent, awaiting, wait, wait_obj, created_ns,\n"
		"              age_ms, switches}], and the events, lost and map_full counters\n"
		"  --no-bpf    read the task registry only: no probes, no privileges beyond\n"
		"              ptrace access (a process of your own user)\n"
		"  --stacks    each suspended task's stack, \"#N 0xADDR fn+0xOFF (file:line)\",\n"
		"              read without stopping the process (docs/stacks.md); in JSON,\n"
		"              stack [{addr, fn, file, line}] and stack_end per task\n"
		"  -v          more detail on stderr\n\n"
		"Probes are attached before the registry is read, so tasks that finish meanwhile\n"
		"are never shown and tasks created meanwhile are. Exit codes: taskscope --help.\n"
		"Names are the target's: control characters and bytes that are not UTF-8 show\n"
		"escaped (\\e, \\n, \\x9b, \\u009b; README: output conventions).\n\n"
		"EXAMPLES:\n"
		"  taskscope ps 1234\n"
		"  taskscope ps --json 1234 | jq '.tasks[] | select(.state == \"waiting\")'\n");
}

static void print_json(const struct tsc_snapshot *s, struct tsc_stacks *st)
{
	FILE *f = stdout;
	fprintf(f, "{\"pid\":%d,\"reconciled\":%s,\"events\":%llu,\"lost\":%llu,\"map_full\":%llu,"
		   "\"retries\":%u,\"taken_ns\":%llu,\"threads\":[",
		s->pid, s->reconciled ? "true" : "false", (unsigned long long)s->events,
		(unsigned long long)s->lost, (unsigned long long)s->map_full, s->retries,
		(unsigned long long)s->taken_ns);
	for (size_t i = 0; i < s->nthreads; i++) {
		const struct tsc_thread *th = &s->threads[i];
		fprintf(f, "%s{\"tid\":%d,\"loop\":%llu,\"current\":", i ? "," : "", th->tid,
			(unsigned long long)th->loop_id);
		if (th->current)
			fprintf(f, "%llu}", (unsigned long long)th->current);
		else
			fputs("null}", f);
	}
	fputs("],\"tasks\":[", f);
	for (size_t i = 0; i < s->ntasks; i++) {
		const struct tsc_task *t = &s->tasks[i];
		uint64_t aw;
		fputs_unlocked(i ? ",\n{\"id\":" : "\n{\"id\":", f);
		tsc_put_u64(f, t->id);
		fputs_unlocked(",\"name\":", f);
		tsc_json_str(f, t->name);
		fputs_unlocked(",\"coro\":", f);
		tsc_json_str(f, t->coro);
		fputs_unlocked(",\"state\":\"", f);
		fputs_unlocked(tsc_state_name(t->state), f);
		fputs_unlocked("\",\"thread\":", f);
		tsc_put_i64(f, t->tid);
		fputs_unlocked(",\"parent\":", f);
		if (t->parent)
			tsc_put_u64(f, t->parent);
		else
			fputs_unlocked("null", f);
		fputs_unlocked(",\"awaiting\":[", f);
		if (tsc_task_awaits(t, &aw))
			tsc_put_u64(f, aw);
		int waiting = t->state == TS_WAITING;
		fputs_unlocked("],\"wait\":\"", f);
		fputs_unlocked(tsc_wait_name(waiting ? t->wait : TS_WAIT_NONE), f);
		putc_unlocked('"', f);
		if (waiting && t->wait != TS_WAIT_NONE) {
			fputs_unlocked(",\"wait_obj\":", f);
			tsc_put_u64(f, t->wait_obj);
		}
		uint64_t age = s->taken_ns > t->created_ns ? s->taken_ns - t->created_ns : 0;
		fputs_unlocked(",\"created_ns\":", f);
		tsc_put_u64(f, t->created_ns);
		fputs_unlocked(",\"age_ms\":", f);
		tsc_put_u64(f, age / 1000000);
		fputs_unlocked(",\"switches\":", f);
		tsc_put_u64(f, t->switches);
		if (st) {
			putc_unlocked(',', f);
			tsc_stacks_print_json(f, st, t->id);
		}
		putc_unlocked('}', f);
	}
	fputs("\n]}\n", f);
}

/* One table row, formatted once: measured for the column widths, then printed. The name
 * and coroutine are escaped again when printed: a copy of each would triple the row. */
struct row {
	char id[24], state[12], wait[40], thread[16], parent[24], age[16];
	size_t name_w;
};

static void u64str(char *buf, uint64_t v)
{
	char b[24];
	int i = sizeof(b);
	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	memcpy(buf, b + i, sizeof(b) - (size_t)i);
	buf[sizeof(b) - (size_t)i] = 0;
}

static void fill_row(const struct tsc_snapshot *s, const struct tsc_task *t, struct row *r)
{
	u64str(r->id, t->id);
	char name[TSC_TEXT_SIZE(TS_NAME_MAX)];
	tsc_text(name, sizeof(name), t->name, SIZE_MAX, 0, &r->name_w);
	snprintf(r->state, sizeof(r->state), "%s", tsc_state_name(t->state));
	tsc_wait_describe(t, s->taken_ns, r->wait, sizeof(r->wait));
	if (t->tid < 0)
		snprintf(r->thread, sizeof(r->thread), "%d", t->tid);
	else
		u64str(r->thread, (uint64_t)t->tid);
	if (t->parent)
		u64str(r->parent, t->parent);
	else
		strcpy(r->parent, "-");
	tsc_fmt_age(s->taken_ns > t->created_ns ? s->taken_ns - t->created_ns : 0, r->age,
		    sizeof(r->age));
}

/* A cell padded to w columns, left- or right-aligned, then a space. */
static void cell(const char *s, size_t w, int right)
{
	tsc_pad(stdout, s, w, right);
	putc_unlocked(' ', stdout);
}

/* Our own cells are ASCII: bytes are columns. */
#define WIDEN(w, s) do { size_t l__ = strlen(s); if (l__ > (w)) (w) = l__; } while (0)

static int print_table(const struct tsc_snapshot *s, struct tsc_stacks *st)
{
	char buf[TSC_TEXT_SIZE(TS_NAME_MAX)];
	struct row *rows = malloc((s->ntasks ? s->ntasks : 1) * sizeof(*rows));
	if (!rows) {
		fprintf(stderr, "taskscope: out of memory\n");
		return TSC_EXIT_ERROR;
	}

	printf("PID %d: %zu thread%s, %zu task%s", s->pid, s->nthreads, s->nthreads == 1 ? "" : "s",
	       s->ntasks, s->ntasks == 1 ? "" : "s");
	if (s->reconciled)
		printf(" (%llu events since attach, %llu lost)", (unsigned long long)s->events,
		       (unsigned long long)s->lost);
	else
		printf(" (registry only)");
	printf("\n\n%-8s %s\n", "TID", "CURRENT");
	for (size_t i = 0; i < s->nthreads; i++) {
		const struct tsc_thread *th = &s->threads[i];
		const struct tsc_task *t = tsc_snapshot_find(s, th->current);
		if (t) {
			printf("%-8d %llu %s\n", th->tid, (unsigned long long)t->id,
			       tsc_esc(buf, sizeof(buf), t->name));
		} else {
			printf("%-8d -\n", th->tid);
		}
	}

	/* columns as wide as their widest cell */
	size_t w[7] = { 2, 4, 5, 4, 6, 6, 3 };
	for (size_t i = 0; i < s->ntasks; i++) {
		struct row *r = &rows[i];
		fill_row(s, &s->tasks[i], r);
		WIDEN(w[0], r->id);
		if (r->name_w > w[1])
			w[1] = r->name_w;
		WIDEN(w[2], r->state);
		WIDEN(w[3], r->wait);
		WIDEN(w[4], r->thread);
		WIDEN(w[5], r->parent);
		WIDEN(w[6], r->age);
	}
	printf("\n%*s %-*s %-*s %-*s %*s %*s %*s %s\n", (int)w[0], "ID", (int)w[1], "NAME",
	       (int)w[2], "STATE", (int)w[3], "WAIT", (int)w[4], "THREAD", (int)w[5], "PARENT",
	       (int)w[6], "AGE", "CORO");
	for (size_t i = 0; i < s->ntasks; i++) {
		const struct row *r = &rows[i];
		cell(r->id, w[0], 1);
		cell(tsc_esc(buf, sizeof(buf), s->tasks[i].name), w[1], 0);
		cell(r->state, w[2], 0);
		cell(r->wait, w[3], 0);
		cell(r->thread, w[4], 1);
		cell(r->parent, w[5], 1);
		cell(r->age, w[6], 1);
		fputs_unlocked(tsc_esc(buf, sizeof(buf), s->tasks[i].coro), stdout);
		putc_unlocked('\n', stdout);
		if (st)
			tsc_stacks_print(stdout, st, s->tasks[i].id, "      ");
	}
	free(rows);
	return TSC_EXIT_OK;
}

int tsc_cmd_ps(int argc, char **argv)
{
	struct tsc_pid_cmd o;
	int rc = tsc_pid_cmd_parse("ps", argc, argv, ps_usage, &o);
	if (rc >= 0)
		return rc;
	struct tsc_snapshot s;
	struct tsc_stacks *st;
	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	if ((rc = tsc_collect_stacks(o.pid, o.use_bpf, o.stacks, &s, &st)))
		return rc;
	if (o.json)
		print_json(&s, st);
	else
		rc = print_table(&s, st);
	tsc_stacks_free(st);
	tsc_snapshot_free(&s);
	if (rc)
		return rc;
	return tsc_flush_stdout();
}
