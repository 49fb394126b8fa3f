/* SPDX-License-Identifier: MIT */
/* taskscope ps: the live tasks and each thread's current task, as a table or JSON. */
#include "cli.h"
#include "target/collect.h"
#include "opts.h"
#include "out/crash.h"
#include "out/out.h"
#include "out/task_json.h"
#include "out/warn.h"
#include "stacks/groups.h"
#include "stacks/sites.h"
#include "stacks/stacks.h"
#include "target/awaits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <taskscope/taskscope.h>

static void ps_usage(FILE *f)
{
	fprintf(f,
		"taskscope ps: list the live tasks of a process and each thread's current task.\n\n"
		"USAGE: taskscope ps [--json] [--no-bpf] [--stacks [--all-frames] [--no-group]]\n"
		"                    [--stuck DURATION] [--warnings] [-v] [-p] PID\n"
		"       taskscope ps [--json] [--stacks ...] [--stuck D] [--warnings] [-v]\n"
		"                    --core FILE [--exe PATH]\n\n"
		"  -p, --pid PID   the process (or its PID alone, as the last argument)\n"
		"  -c, --core FILE a core file instead of a process: no root, no probes; a core\n"
		"                  that a signal wrote starts with the crash in one line,\n"
		"                  \"killed by SIGSEGV (address 0x0) in thread 4412, running task\n"
		"                  'worker-3' (id 5)\", and in JSON core and crash {signal,\n"
		"                  signo, code, addr, thread, task, task_name} (README:\n"
		"                  post-mortem)\n"
		"  -e, --exe PATH  with --core: the executable the process ran, when not at the\n"
		"                  path the core names (its build-id must match)\n"
		"  -j, --json      one JSON object: schema, pid, threads [{tid, current,\n"
		"                  lag_ns}], tasks [{id, name, coro, state, thread, parent,\n"
		"                  awaiting, wait, wait_obj, wait_until_ns, wait_left_ns,\n"
		"                  waited_ns, created_ns, age_ms, switches, spawned_at}], the\n"
		"                  events, lost and map_full counters (docs/json.md)\n"
		"      --stuck DURATION\n"
		"                  only the tasks waiting longer than DURATION (30s, 500ms, 2m;\n"
		"                  a number alone is seconds)\n"
		"  -n, --no-bpf    read the task registry only: no probes, no privileges beyond\n"
		"                  ptrace access (a process of your own user)\n"
		"  -s, --stacks    each suspended task's stack,\n"
		"                  \"#N 0xADDR fn+0xOFF (file:line)\", read without stopping the\n"
		"                  process (docs/stacks.md). Tasks with the same state, wait,\n"
		"                  spawn site and stack are one group: the stack once, after\n"
		"                  \"37 tasks waiting fd: w-1 w-2 … (ids 3-39)\", then where\n"
		"                  they were created. The runtime's own frames are one line,\n"
		"                  \"#0-4 ts_sleep_ns (runtime, 5 frames)\". In JSON, stack\n"
		"                  [{addr, fn, file, line, runtime}] and stack_end per task,\n"
		"                  and stack_groups [{count, tasks, stack}]\n"
		"  -a, --all-frames  every frame, the runtime's too (implies --stacks)\n"
		"  -G, --no-group  the table, each task's stack under its row (and --stacks)\n"
		"  -w, --warnings  then a section of warnings, each with the task and the\n"
		"                  evidence: a loop whose timers fire late (past 100ms), the\n"
		"                  task waiting longest past 60s (or --stuck's DURATION) and\n"
		"                  how many do, await cycles (deadlocks); in JSON, warnings\n"
		"                  [{kind, task, name, thread, ns, evidence}]. Tasks running\n"
		"                  without yielding: taskscope top, which watches over time\n"
		"  -v, --verbose   more detail on stderr\n"
		"  -h, --help      this help\n\n"
		"Probes are attached before the registry is read, so tasks that finish meanwhile\n"
		"are never shown and tasks created meanwhile are. Exit codes: taskscope --help.\n"
		"WAITED is the task's wait and how long it has lasted (\"fd 11 for 4m12s\"), or\n"
		"how long a ready task has been queued for its turn (\"queued for 3ms\"); a\n"
		"runtime older than wait ages shows the wait alone. Ages come from the loop's\n"
		"clock, read once per pass of its scheduler: a wait may seem older by up to one\n"
		"pass.\n"
		"Names are the target's: control characters and bytes that are not UTF-8 show\n"
		"escaped (\\e, \\n, \\x9b, \\u009b; README: output conventions).\n\n"
		"EXAMPLES:\n"
		"  taskscope ps 1234\n"
		"  taskscope ps --stuck 30s 1234\n"
		"  taskscope ps --stacks --core core.1234\n"
		"  taskscope ps --json 1234 | jq '.tasks[] | select(.state == \"waiting\")'\n");
}

/* What one snapshot shows: loops whose timers fire late, the task waiting longest past
 * wait_ns (and how many do), await cycles. (A task running without yielding needs two looks
 * at it: top.) */
static int find_warnings(const struct tsc_snapshot *s, uint64_t wait_ns,
			 struct tsc_warnings *ws)
{
	struct tsc_awaits g;
	char name[TSC_TEXT_SIZE(TS_NAME_MAX)];
	const struct tsc_task *longest = NULL;
	uint64_t most = 0, ns;
	size_t nlong = 0;
	int err = 0;
	for (size_t i = 0; s->wait_ages && !err && i < s->nthreads; i++)
		if (s->threads[i].lag_ns > TSC_WARN_LAG_NS)
			err = tsc_warn_loop_lag(ws, s->threads[i].tid, s->threads[i].lag_ns,
						tsc_snapshot_find(s, s->threads[i].current));
	for (size_t i = 0; i < s->ntasks; i++) {
		if (!tsc_task_waited(&s->tasks[i], s->taken_ns, &ns) || ns <= wait_ns)
			continue;
		nlong++;
		if (!longest || ns > most) {
			longest = &s->tasks[i];
			most = ns;
		}
	}
	if (!err && longest)
		err = tsc_warn_long_wait(ws, longest, most, nlong, wait_ns, s->taken_ns);
	if (err || (err = tsc_awaits_build(s, &g)))
		return err;
	for (size_t c = 0; !err && c < g.ncycles; c++) {
		const struct tsc_task *lo = &s->tasks[g.cycles[c][0]];
		struct tsc_warning w = { .kind = TSC_WARN_CYCLE, .task = lo->id, .tid = lo->tid };
		size_t len = 0;
		memcpy(w.name, lo->name, sizeof(w.name));
		for (size_t j = 0; j <= g.cycle_len[c]; j++) {
			const struct tsc_task *t = &s->tasks[g.cycles[c][j % g.cycle_len[c]]];
			int n = snprintf(w.evidence + len, sizeof(w.evidence) - len, "%s%s (%llu)",
					 j ? " -> " : "", tsc_esc(name, sizeof(name), t->name),
					 (unsigned long long)t->id);
			if (n > 0 && len + (size_t)n < sizeof(w.evidence))
				len += (size_t)n;
		}
		err = tsc_warn_add(ws, &w);
	}
	tsc_awaits_free(&g);
	return err;
}

/* A task's frames under its row, then where it was created. */
static void print_stack(struct tsc_stacks *st, const struct tsc_sites *sites,
			const struct tsc_task *t, unsigned flags)
{
	char created[1024];
	tsc_stacks_print(stdout, st, t->id, "      ", flags);
	if (tsc_sites_describe(sites, t->spawn_pc, created, sizeof(created)))
		printf("      %s\n", created);
}

/* --stuck: is task t one to show? */
static int shown(const struct tsc_pid_opts *o, const struct tsc_snapshot *s,
		 const struct tsc_task *t)
{
	uint64_t ns;
	return !o->stuck || (tsc_task_waited(t, s->taken_ns, &ns) && ns > o->stuck_ns);
}

/* shown(), as the groups ask */
struct keep {
	const struct tsc_pid_opts *o;
	const struct tsc_snapshot *s;
};
static int keep_task(const struct tsc_task *t, const void *ctx)
{
	const struct keep *k = ctx;
	return shown(k->o, k->s, t);
}

static int print_json(const struct tsc_pid_opts *o, const struct tsc_snapshot *s,
		      struct tsc_stacks *st, const struct tsc_sites *sites,
		      const struct tsc_stack_groups *gs, const struct tsc_warnings *ws)
{
	struct tsc_json *w = tsc_json_new(stdout);
	if (!w) {
		fprintf(stderr, "taskscope: out of memory\n");
		return TSC_EXIT_ERROR;
	}
	tsc_json_obj(w);
	tsc_json_snapshot_head(w, s->pid, s->reconciled, s->taken_ns);
	tsc_crash_json(w, s);
	tsc_json_key(w, "events");
	tsc_json_u64(w, s->events);
	tsc_json_key(w, "lost");
	tsc_json_u64(w, s->lost);
	tsc_json_key(w, "map_full");
	tsc_json_u64(w, s->map_full);
	tsc_json_key(w, "retries");
	tsc_json_u64(w, s->retries);
	tsc_json_key(w, "wait_ages");
	tsc_json_bool(w, s->wait_ages);
	if (o->stuck) {
		tsc_json_key(w, "stuck_ns");
		tsc_json_u64(w, o->stuck_ns);
	}
	tsc_json_key(w, "threads");
	tsc_json_arr(w);
	for (size_t i = 0; i < s->nthreads; i++) {
		const struct tsc_thread *th = &s->threads[i];
		tsc_thread_json(w, th->tid, th->loop_id, th->current,
				s->wait_ages && th->lag_ns <= INT64_MAX ? (int64_t)th->lag_ns : -1);
	}
	tsc_json_end_arr(w);
	tsc_json_key(w, "tasks");
	tsc_json_arr(w);
	for (size_t i = 0; i < s->ntasks; i++) {
		if (!shown(o, s, &s->tasks[i]))
			continue;
		struct tsc_task_view v = tsc_task_view_of(&s->tasks[i]);
		tsc_json_nl(w);
		tsc_json_obj(w);
		tsc_task_json(w, &v, s->taken_ns);
		tsc_sites_json(w, sites, s->tasks[i].spawn_pc);
		if (st)
			tsc_stacks_json(w, st, v.id);
		tsc_json_end_obj(w);
	}
	tsc_json_ch(w, '\n');
	tsc_json_end_arr(w);
	if (gs)
		tsc_stack_groups_json(w, s, st, sites, gs);
	if (ws)
		tsc_warnings_json(w, ws);
	tsc_json_end_obj(w);
	tsc_json_ch(w, '\n');
	tsc_json_free(w);
	return TSC_EXIT_OK;
}

/* One table row, formatted once: measured for the column widths, then printed. The name
 * and coroutine are escaped again when printed: a copy of each would triple the row. */
struct row {
	char id[24], state[12], wait[80], thread[16], parent[24], age[16];
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
	tsc_waited_describe(t, s->taken_ns, r->wait, sizeof(r->wait));
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

static int print_table(const struct tsc_pid_opts *o, const struct tsc_snapshot *s,
		       struct tsc_stacks *st, const struct tsc_sites *sites,
		       const struct tsc_stack_groups *gs)
{
	unsigned flags = o->all_frames ? TSC_STACKS_ALL_FRAMES : 0;
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
	if (o->stuck) {
		char d[32];
		size_t n = 0;
		for (size_t i = 0; i < s->ntasks; i++)
			n += (size_t)shown(o, s, &s->tasks[i]);
		tsc_fmt_age(o->stuck_ns, d, sizeof(d));
		printf("\n%zu task%s waiting longer than %s", n, n == 1 ? "" : "s", d);
		if (!s->wait_ages)
			printf(" (its runtime does not record since when tasks wait: none can be "
			       "told)");
	}
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
	if (gs) { /* the stacks, grouped, instead of a row and a stack per task */
		tsc_stack_groups_print(stdout, s, st, sites, gs, flags);
		free(rows);
		return TSC_EXIT_OK;
	}

	/* columns as wide as their widest cell */
	size_t w[7] = { 2, 4, 5, 6, 6, 6, 3 };
	for (size_t i = 0; i < s->ntasks; i++) {
		struct row *r = &rows[i];
		if (!shown(o, s, &s->tasks[i]))
			continue;
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
	       (int)w[2], "STATE", (int)w[3], "WAITED", (int)w[4], "THREAD", (int)w[5], "PARENT",
	       (int)w[6], "AGE", "CORO");
	for (size_t i = 0; i < s->ntasks; i++) {
		const struct row *r = &rows[i];
		if (!shown(o, s, &s->tasks[i]))
			continue;
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
			print_stack(st, sites, &s->tasks[i], flags);
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
	struct tsc_stack_groups groups, *gs = NULL;
	struct tsc_warnings warnings = { 0 };
	struct tsc_sites sites = { 0 };
	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	if ((rc = tsc_collect_target(&o, &s, &st, o.json || o.stacks ? &sites : NULL)))
		return rc;
	/* JSON has every task's stack, and the groups beside them */
	if (st && (o.json || !o.no_group)) {
		struct keep k = { &o, &s };
		if (tsc_stack_groups_build(&s, st, keep_task, &k, &groups)) {
			fprintf(stderr, "taskscope: out of memory\n");
			rc = TSC_EXIT_ERROR;
			goto cleanup;
		}
		gs = &groups;
	}
	if (o.warnings && find_warnings(&s, o.stuck ? o.stuck_ns : TSC_WARN_WAIT_NS, &warnings)) {
		fprintf(stderr, "taskscope: out of memory\n");
		rc = TSC_EXIT_ERROR;
		goto cleanup;
	}
	if (o.json) {
		rc = print_json(&o, &s, st, &sites, gs, o.warnings ? &warnings : NULL);
	} else {
		rc = print_table(&o, &s, st, &sites, gs);
		if (!rc && o.warnings) {
			printf("\n%zu warning%s\n", warnings.n, warnings.n == 1 ? "" : "s");
			tsc_warnings_print(stdout, &warnings, SIZE_MAX);
		}
	}
cleanup:
	tsc_warnings_free(&warnings);
	if (gs)
		tsc_stack_groups_free(gs);
	tsc_sites_free(&sites);
	tsc_stacks_free(st);
	tsc_snapshot_free(&s);
	if (rc)
		return rc;
	return tsc_flush_stdout();
}
