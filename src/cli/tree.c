/* SPDX-License-Identifier: MIT */
/*
 * taskscope tree: who awaits whom, like pstree, and the await cycles (deadlocks).
 *
 * A task awaits at most one other, so the await graph is a set of chains that may merge and
 * may end in a cycle. Roots are the tasks nobody awaits; each task is printed above the task
 * it awaits (the way `python -m asyncio pstree` reads: the outer task first).
 */
#include "cli.h"
#include "target/collect.h"
#include "opts.h"
#include "out/crash.h"
#include "out/out.h"
#include "out/task_json.h"
#include "stacks/sites.h"
#include "stacks/stacks.h"
#include "target/awaits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct graph {
	struct tsc_awaits a;       /* who awaits whom, the cycles */
	struct tsc_stacks *stacks; /* --stacks: the frames shown under each task */
	unsigned stack_flags;      /* for tsc_stacks_print */
	const struct tsc_sites *sites; /* where each task was spawned */
};

#define NONE TSC_AWAITS_NONE
/* Levels of indentation at most: a chain of thousands of awaits must not print its square in
 * spaces. Deeper levels keep this indentation and show their depth. */
#define MAX_INDENT 20

static void print_node(const struct tsc_snapshot *s, const struct tsc_task *t)
{
	char name[TSC_TEXT_SIZE(TS_NAME_MAX)], coro[TSC_TEXT_SIZE(64)], wait[80];
	tsc_esc(name, sizeof(name), t->name);
	tsc_esc(coro, sizeof(coro), t->coro);
	tsc_waited_describe(t, s->taken_ns, wait, sizeof(wait));
	printf("%s (%llu) %s() %s", name, (unsigned long long)t->id, coro,
	       tsc_state_name(t->state));
	if (strcmp(wait, "-"))
		printf(" %s", wait);
}

/* The frames of task k under its line, one level deeper than it. */
static void print_frames(const struct graph *g, size_t k, size_t depth)
{
	char indent[3 * MAX_INDENT + 1];
	size_t n = depth < MAX_INDENT - 1 ? 3 * (depth + 1) : 3 * MAX_INDENT;
	memset(indent, ' ', n);
	indent[n] = 0;
	char created[1024];
	tsc_stacks_print(stdout, g->stacks, g->a.s->tasks[k].id, indent, g->stack_flags);
	if (tsc_sites_describe(g->sites, g->a.s->tasks[k].spawn_pc, created, sizeof(created)))
		printf("%s%s\n", indent, created);
}

/* Print the chain from task i down through what it awaits; each level one step deeper. */
static void print_chain(const struct graph *g, size_t i, unsigned char *shown)
{
	const struct tsc_snapshot *s = g->a.s;
	size_t depth = 0, first_cycle = NONE;
	for (size_t k = i; k != NONE; k = g->a.next[k], depth++) {
		for (size_t d = 1; d < depth && d < MAX_INDENT; d++)
			fputs("   ", stdout);
		if (depth >= MAX_INDENT)
			printf("└─ [%zu] ", depth);
		else if (depth)
			fputs("└─ ", stdout);
		print_node(s, &s->tasks[k]);
		if (k == first_cycle) {
			puts("  [back to the start of the cycle]");
			return;
		}
		if (shown[k]) {
			puts("  [awaited by others too: shown above]");
			return;
		}
		shown[k] = 1;
		if (g->a.cycle[k] && first_cycle == NONE) {
			first_cycle = k;
			fputs("  [in an await cycle]", stdout);
		}
		putchar('\n');
		if (g->stacks)
			print_frames(g, k, depth);
	}
}

static void print_cycle_line(FILE *f, const struct graph *g, size_t c)
{
	char name[TSC_TEXT_SIZE(TS_NAME_MAX)];
	fputs("deadlock: cycle", f);
	for (size_t j = 0; j <= g->a.cycle_len[c]; j++) {
		const struct tsc_task *t = &g->a.s->tasks[g->a.cycles[c][j % g->a.cycle_len[c]]];
		fprintf(f, "%s %s (%llu)", j ? " ->" : "", tsc_esc(name, sizeof(name), t->name),
			(unsigned long long)t->id);
	}
	fputc('\n', f);
}

static void print_text(const struct graph *g)
{
	const struct tsc_snapshot *s = g->a.s;
	unsigned char *shown = calloc(s->ntasks + 1, 1);
	if (!shown)
		return;
	tsc_crash_print(stdout, s); /* a core's crash first */
	printf("PID %d: %zu task%s; each task is shown above the task it awaits\n\n", s->pid,
	       s->ntasks, s->ntasks == 1 ? "" : "s");
	for (size_t i = 0; i < s->ntasks; i++)
		if (!g->a.nawaiters[i])
			print_chain(g, i, shown);
	/* cycles nobody outside awaits have no root: start at their lowest id */
	for (size_t c = 0; c < g->a.ncycles; c++)
		if (!shown[g->a.cycles[c][0]])
			print_chain(g, g->a.cycles[c][0], shown);
	for (size_t c = 0; c < g->a.ncycles; c++) {
		if (!c)
			putchar('\n');
		print_cycle_line(stdout, g, c);
	}
	free(shown);
}

/* A list of ids: [1,2,3] */
static void json_ids(struct tsc_json *w, const struct tsc_snapshot *s, const size_t *ix,
		     size_t n)
{
	tsc_json_arr(w);
	for (size_t j = 0; j < n; j++)
		tsc_json_u64(w, s->tasks[ix[j]].id);
	tsc_json_end_arr(w);
}

/* One task: the shared object, then who awaits it and whether it is in a cycle. */
static void json_task(struct tsc_json *w, const struct graph *g, size_t i, const size_t *first,
		      const size_t *next)
{
	const struct tsc_snapshot *s = g->a.s;
	struct tsc_task_view v = tsc_task_view_of(&s->tasks[i]);
	tsc_json_nl(w);
	tsc_json_obj(w);
	tsc_task_json(w, &v, s->taken_ns);
	tsc_json_key(w, "awaited_by");
	tsc_json_arr(w);
	for (size_t k = first[i]; k != NONE; k = next[k])
		tsc_json_u64(w, s->tasks[k].id);
	tsc_json_end_arr(w);
	tsc_json_key(w, "in_cycle");
	tsc_json_bool(w, g->a.cycle[i] != 0);
	tsc_sites_json(w, g->sites, s->tasks[i].spawn_pc);
	if (g->stacks)
		tsc_stacks_json(w, g->stacks, v.id);
	tsc_json_end_obj(w);
}

static int print_json(const struct graph *g)
{
	const struct tsc_snapshot *s = g->a.s;
	/* who awaits each task: a list per task, threaded through two arrays */
	size_t *first = malloc((s->ntasks + 1) * sizeof(size_t));
	size_t *next = malloc((s->ntasks + 1) * sizeof(size_t));
	struct tsc_json *w = tsc_json_new(stdout);
	if (!first || !next || !w) {
		free(first);
		free(next);
		free(w);
		fprintf(stderr, "taskscope: out of memory\n");
		return TSC_EXIT_ERROR;
	}
	for (size_t i = 0; i < s->ntasks; i++)
		first[i] = NONE;
	for (size_t i = s->ntasks; i-- > 0;) {
		next[i] = NONE;
		if (g->a.next[i] != NONE) {
			next[i] = first[g->a.next[i]];
			first[g->a.next[i]] = i;
		}
	}
	tsc_json_obj(w);
	tsc_json_snapshot_head(w, s->pid, s->reconciled, s->taken_ns);
	tsc_crash_json(w, s);
	tsc_json_key(w, "tasks");
	tsc_json_arr(w);
	for (size_t i = 0; i < s->ntasks; i++)
		json_task(w, g, i, first, next);
	tsc_json_ch(w, '\n');
	tsc_json_end_arr(w);
	tsc_json_key(w, "roots");
	tsc_json_arr(w);
	for (size_t i = 0; i < s->ntasks; i++)
		if (!g->a.nawaiters[i])
			tsc_json_u64(w, s->tasks[i].id);
	tsc_json_end_arr(w);
	tsc_json_key(w, "cycles");
	tsc_json_arr(w);
	for (size_t c = 0; c < g->a.ncycles; c++)
		json_ids(w, s, g->a.cycles[c], g->a.cycle_len[c]);
	tsc_json_end_arr(w);
	tsc_json_end_obj(w);
	tsc_json_ch(w, '\n');
	tsc_json_free(w);
	free(first);
	free(next);
	return TSC_EXIT_OK;
}

static void tree_usage(FILE *f)
{
	fprintf(f,
		"taskscope tree: show who awaits whom in a process, and its await cycles.\n\n"
		"USAGE: taskscope tree [--json] [--no-bpf] [--stacks [--all-frames]] [-v] [-p] PID\n"
		"       taskscope tree [--json] [--stacks [--all-frames]] [-v] --core FILE [--exe PATH]\n\n"
		"  -p, --pid PID   the process (or its PID alone, as the last argument)\n"
		"  -c, --core FILE a core file instead of a process (see taskscope ps --help)\n"
		"  -e, --exe PATH  with --core: the executable the process ran\n"
		"  -j, --json      one JSON object: tasks [{the task of ps --json, and\n"
		"                  awaited_by [ids], in_cycle, spawned_at}], roots [ids],\n"
		"                  cycles [[ids]] (docs/json.md)\n"
		"  -n, --no-bpf    read the task registry only (see taskscope ps --help)\n"
		"  -s, --stacks    each task's frames under it (see taskscope ps --help)\n"
		"  -a, --all-frames  every frame, the runtime's too (implies --stacks)\n"
		"  -v, --verbose   more detail on stderr\n"
		"  -h, --help      this help\n\n"
		"Each task shows its state and, while it waits, for how long (\"waiting await 7\n"
		"for 3.2s\"; see WAITED in taskscope ps --help).\n"
		"Each task is printed above the task it awaits, one level deeper (past 20 levels\n"
		"the indentation stays and the line shows its depth: \"└─ [N] \"). A cycle of\n"
		"awaits can never end: it is reported as\n"
		"  deadlock: cycle A (1) -> B (2) -> A (1)\n"
		"and the exit code is 3 (other exit codes: taskscope --help).\n");
}

int tsc_cmd_tree(int argc, char **argv)
{
	struct tsc_pid_opts o;
	int rc = tsc_parse_pid_opts("tree", argc, argv, tree_usage, &o);
	if (rc >= 0)
		return rc;
	struct tsc_snapshot s;
	struct tsc_stacks *st;
	struct tsc_sites sites = { 0 };
	struct graph g;
	if ((rc = tsc_collect_target(&o, &s, &st, o.json || o.stacks ? &sites : NULL)))
		return rc;
	if (tsc_awaits_build(&s, &g.a)) {
		fprintf(stderr, "taskscope: out of memory\n");
		tsc_sites_free(&sites);
		tsc_stacks_free(st);
		tsc_snapshot_free(&s);
		return TSC_EXIT_ERROR;
	}
	g.stacks = st;
	g.stack_flags = o.all_frames ? TSC_STACKS_ALL_FRAMES : 0;
	g.sites = &sites;
	rc = TSC_EXIT_OK;
	if (o.json)
		rc = print_json(&g);
	else
		print_text(&g);
	if (!rc && g.a.ncycles)
		rc = TSC_EXIT_DEADLOCK;
	tsc_awaits_free(&g.a);
	tsc_sites_free(&sites);
	tsc_stacks_free(st);
	tsc_snapshot_free(&s);
	int wrc = tsc_flush_stdout();
	return wrc ? wrc : rc;
}
