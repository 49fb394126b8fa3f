/* SPDX-License-Identifier: MIT */
/* taskscope ps: the live tasks and each thread's current task, as a table or JSON. */
#include "cli.h"
#include "target/collect.h"
#include "opts.h"
#include "out/crash.h"
#include "out/out.h"
#include "out/task_json.h"
#include "stacks/stacks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <taskscope/taskscope.h>

static void ps_usage(FILE *f)
{
	fprintf(f,
		"taskscope ps: list the live tasks of a process and each thread's current task.\n\n"
		"USAGE: taskscope ps [--json] [--no-bpf] [--stacks] [-v] [-p] PID\n"
		"       taskscope ps [--json] [--stacks] [-v] --core FILE [--exe PATH]\n\n"
		"  -p, --pid PID   the process (or its PID alone, as the last argument)\n"
		"  -c, --core FILE a core file instead of a process: no root, no probes; a core\n"
		"                  that a signal wrote starts with the crash in one line,\n"
		"                  \"killed by SIGSEGV (address 0x0) in thread 4412, running task\n"
		"                  'worker-3' (id 5)\", and in JSON core and crash {signal,\n"
		"                  signo, code, addr, thread, task, task_name} (README:\n"
		"                  post-mortem)\n"
		"  -e, --exe PATH  with --core: the executable the process ran, when not at the\n"
		"                  path the core names (its build-id must match)\n"
		"  -j, --json      one JSON object: schema, pid, threads [{tid, current}], tasks\n"
		"                  [{id, name, coro, state, thread, parent, awaiting, wait,\n"
		"                  wait_obj, wait_until_ns, wait_left_ns, created_ns, age_ms,\n"
		"                  switches}], the events, lost and map_full counters\n"
		"                  (docs/json.md)\n"
		"  -n, --no-bpf    read the task registry only: no probes, no privileges beyond\n"
		"                  ptrace access (a process of your own user)\n"
		"  -s, --stacks    each suspended task's stack,\n"
		"                  \"#N 0xADDR fn+0xOFF (file:line)\", read without stopping the\n"
		"                  process (docs/stacks.md); in JSON, stack [{addr, fn, file,\n"
		"                  line}] and stack_end per task\n"
		"  -v, --verbose   more detail on stderr\n"
		"  -h, --help      this help\n\n"
		"Probes are attached before the registry is read, so tasks that finish meanwhile\n"
		"are never shown and tasks created meanwhile are. Exit codes: taskscope --help.\n"
		"Names are the target's: control characters and bytes that are not UTF-8 show\n"
		"escaped (\\e, \\n, \\x9b, \\u009b; README: output conventions).\n\n"
		"EXAMPLES:\n"
		"  taskscope ps 1234\n"
		"  taskscope ps --stacks --core core.1234\n"
		"  taskscope ps --json 1234 | jq '.tasks[] | select(.state == \"waiting\")'\n");
}

static int print_json(const struct tsc_snapshot *s, struct tsc_stacks *st)
{
	struct tsc_json *w = tsc_json_new(stdout);
	if (!w) {
		fprintf(stderr, "taskscope: out of memory\n");
		return TSC_EXIT_ERROR;
	}
	tsc_json_obj(w);
	tsc_json_schema(w);
	tsc_json_key(w, "pid");
	tsc_json_i64(w, s->pid);
	tsc_crash_json(w, s);
	tsc_json_key(w, "reconciled");
	tsc_json_bool(w, s->reconciled);
	tsc_json_key(w, "events");
	tsc_json_u64(w, s->events);
	tsc_json_key(w, "lost");
	tsc_json_u64(w, s->lost);
	tsc_json_key(w, "map_full");
	tsc_json_u64(w, s->map_full);
	tsc_json_key(w, "retries");
	tsc_json_u64(w, s->retries);
	tsc_json_key(w, "taken_ns");
	tsc_json_u64(w, s->taken_ns);
	tsc_json_key(w, "threads");
	tsc_json_arr(w);
	for (size_t i = 0; i < s->nthreads; i++)
		tsc_thread_json(w, s->threads[i].tid, s->threads[i].loop_id, s->threads[i].current);
	tsc_json_end_arr(w);
	tsc_json_key(w, "tasks");
	tsc_json_arr(w);
	for (size_t i = 0; i < s->ntasks; i++) {
		struct tsc_task_view v = tsc_task_view_of(&s->tasks[i]);
		tsc_json_nl(w);
		tsc_json_obj(w);
		tsc_task_json(w, &v, s->taken_ns);
		if (st)
			tsc_stacks_json(w, st, v.id);
		tsc_json_end_obj(w);
	}
	tsc_json_ch(w, '\n');
	tsc_json_end_arr(w);
	tsc_json_end_obj(w);
	tsc_json_ch(w, '\n');
	tsc_json_free(w);
	return TSC_EXIT_OK;
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

	tsc_crash_print(stdout, s); /* a core's crash first */
	printf("PID %d: %zu thread%s, %zu task%s", s->pid, s->nthreads, s->nthreads == 1 ? "" : "s",
	       s->ntasks, s->ntasks == 1 ? "" : "s");
	if (s->reconciled)
		printf(" (%llu events since attach, %llu lost)", (unsigned long long)s->events,
		       (unsigned long long)s->lost);
	else
		printf(s->core ? " (core file)" : " (registry only)");
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
	struct tsc_pid_opts o;
	int rc = tsc_parse_pid_opts("ps", argc, argv, ps_usage, &o);
	if (rc >= 0)
		return rc;
	struct tsc_snapshot s;
	struct tsc_stacks *st;
	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	if ((rc = tsc_collect_target(&o, &s, &st)))
		return rc;
	if (o.json)
		rc = print_json(&s, st);
	else
		rc = print_table(&s, st);
	tsc_stacks_free(st);
	tsc_snapshot_free(&s);
	if (rc)
		return rc;
	return tsc_flush_stdout();
}
