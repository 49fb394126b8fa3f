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
#include "stacks/stacks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct graph {
	const struct tsc_snapshot *s;
	size_t *next;        /* index of the awaited live task, or SIZE_MAX */
	size_t *nawaiters;   /* how many live tasks await it */
	int *cycle;          /* 1 + index of its cycle in cycles, 0 if none */
	size_t **cycles;     /* each: member indices, in await order */
	size_t *cycle_len;
	size_t ncycles;
	struct tsc_stacks *stacks; /* --stacks: the frames shown under each task */
};

#define NONE ((size_t)-1)
/* Levels of indentation at most: a chain of thousands of awaits must not print its square in
 * spaces. Deeper levels keep this indentation and show their depth. */
#define MAX_INDENT 20

static void graph_free(struct graph *g)
{
	for (size_t i = 0; i < g->ncycles; i++)
		free(g->cycles[i]);
	free(g->cycles);
	free(g->cycle_len);
	free(g->next);
	free(g->nawaiters);
	free(g->cycle);
}

static int graph_build(const struct tsc_snapshot *s, struct graph *g)
{
	size_t n = s->ntasks;
	unsigned char *color = NULL;   /* 0 new, 1 on the walk in progress, 2 done */
	size_t *path = NULL;
	memset(g, 0, sizeof(*g));
	g->s = s;
	g->next = malloc((n + 1) * sizeof(size_t));
	g->nawaiters = calloc(n + 1, sizeof(size_t));
	g->cycle = calloc(n + 1, sizeof(int));
	color = calloc(n + 1, 1);
	path = malloc((n + 1) * sizeof(size_t));
	if (!g->next || !g->nawaiters || !g->cycle || !color || !path)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		uint64_t id;
		const struct tsc_task *t;
		g->next[i] = NONE;
		if (tsc_task_awaits(&s->tasks[i], &id) && (t = tsc_snapshot_find(s, id))) {
			g->next[i] = (size_t)(t - s->tasks);
			g->nawaiters[g->next[i]]++;
		}
	}
	/* out-degree <= 1: walk each chain once; meeting the walk in progress is a cycle */
	for (size_t i = 0; i < n; i++) {
		size_t len = 0, k = i;
		while (k != NONE && !color[k]) {
			color[k] = 1;
			path[len++] = k;
			k = g->next[k];
		}
		if (k != NONE && color[k] == 1) {
			size_t start = 0;
			while (path[start] != k)
				start++;
			size_t **nc = realloc(g->cycles, (g->ncycles + 1) * sizeof(*nc));
			size_t *nl = realloc(g->cycle_len, (g->ncycles + 1) * sizeof(*nl));
			if (nc)
				g->cycles = nc;
			if (nl)
				g->cycle_len = nl;
			size_t *members = malloc((len - start) * sizeof(size_t));
			if (!nc || !nl || !members) {
				free(members);
				goto nomem;
			}
			/* start the cycle at its lowest id, for a stable report */
			size_t m = len - start, lo = 0;
			for (size_t j = 0; j < m; j++)
				if (s->tasks[path[start + j]].id < s->tasks[path[start + lo]].id)
					lo = j;
			for (size_t j = 0; j < m; j++) {
				members[j] = path[start + (lo + j) % m];
				g->cycle[members[j]] = (int)g->ncycles + 1;
			}
			g->cycles[g->ncycles] = members;
			g->cycle_len[g->ncycles++] = m;
		}
		for (size_t j = 0; j < len; j++)
			color[path[j]] = 2;
	}
	free(color);
	free(path);
	return 0;
nomem:
	free(color);
	free(path);
	graph_free(g);
	fprintf(stderr, "taskscope: out of memory\n");
	return -1;
}

static void print_node(const struct tsc_snapshot *s, const struct tsc_task *t)
{
	char name[TSC_TEXT_SIZE(TS_NAME_MAX)], coro[TSC_TEXT_SIZE(64)], wait[48];
	tsc_esc(name, sizeof(name), t->name);
	tsc_esc(coro, sizeof(coro), t->coro);
	tsc_wait_describe(t, s->taken_ns, wait, sizeof(wait));
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
	tsc_stacks_print(stdout, g->stacks, g->s->tasks[k].id, indent);
}

/* Print the chain from task i down through what it awaits; each level one step deeper. */
static void print_chain(const struct graph *g, size_t i, unsigned char *shown)
{
	const struct tsc_snapshot *s = g->s;
	size_t depth = 0, first_cycle = NONE;
	for (size_t k = i; k != NONE; k = g->next[k], depth++) {
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
		if (g->cycle[k] && first_cycle == NONE) {
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
	for (size_t j = 0; j <= g->cycle_len[c]; j++) {
		const struct tsc_task *t = &g->s->tasks[g->cycles[c][j % g->cycle_len[c]]];
		fprintf(f, "%s %s (%llu)", j ? " ->" : "", tsc_esc(name, sizeof(name), t->name),
			(unsigned long long)t->id);
	}
	fputc('\n', f);
}

static void print_text(const struct graph *g)
{
	const struct tsc_snapshot *s = g->s;
	unsigned char *shown = calloc(s->ntasks + 1, 1);
	if (!shown)
		return;
	tsc_crash_print(stdout, s); /* a core's crash first */
	printf("PID %d: %zu task%s; each task is shown above the task it awaits\n\n", s->pid,
	       s->ntasks, s->ntasks == 1 ? "" : "s");
	for (size_t i = 0; i < s->ntasks; i++)
		if (!g->nawaiters[i])
			print_chain(g, i, shown);
	/* cycles nobody outside awaits have no root: start at their lowest id */
	for (size_t c = 0; c < g->ncycles; c++)
		if (!shown[g->cycles[c][0]])
			print_chain(g, g->cycles[c][0], shown);
	for (size_t c = 0; c < g->ncycles; c++) {
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
	const struct tsc_snapshot *s = g->s;
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
	tsc_json_bool(w, g->cycle[i] != 0);
	if (g->stacks)
		tsc_stacks_json(w, g->stacks, v.id);
	tsc_json_end_obj(w);
}

static int print_json(const struct graph *g)
{
	const struct tsc_snapshot *s = g->s;
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
		if (g->next[i] != NONE) {
			next[i] = first[g->next[i]];
			first[g->next[i]] = i;
		}
	}
	tsc_json_obj(w);
	tsc_json_schema(w);
	tsc_json_key(w, "pid");
	tsc_json_i64(w, s->pid);
	tsc_crash_json(w, s);
	tsc_json_key(w, "reconciled");
	tsc_json_bool(w, s->reconciled);
	tsc_json_key(w, "taken_ns");
	tsc_json_u64(w, s->taken_ns);
	tsc_json_key(w, "tasks");
	tsc_json_arr(w);
	for (size_t i = 0; i < s->ntasks; i++)
		json_task(w, g, i, first, next);
	tsc_json_ch(w, '\n');
	tsc_json_end_arr(w);
	tsc_json_key(w, "roots");
	tsc_json_arr(w);
	for (size_t i = 0; i < s->ntasks; i++)
		if (!g->nawaiters[i])
			tsc_json_u64(w, s->tasks[i].id);
	tsc_json_end_arr(w);
	tsc_json_key(w, "cycles");
	tsc_json_arr(w);
	for (size_t c = 0; c < g->ncycles; c++)
		json_ids(w, s, g->cycles[c], g->cycle_len[c]);
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
		"USAGE: taskscope tree [--json] [--no-bpf] [--stacks] [-v] [-p] PID\n"
		"       taskscope tree [--json] [--stacks] [-v] --core FILE [--exe PATH]\n\n"
		"  -p, --pid PID   the process (or its PID alone, as the last argument)\n"
		"  -c, --core FILE a core file instead of a process (see taskscope ps --help)\n"
		"  -e, --exe PATH  with --core: the executable the process ran\n"
		"  -j, --json      one JSON object: tasks [{the task of ps --json, and\n"
		"                  awaited_by [ids], in_cycle}], roots [ids], cycles [[ids]]\n"
		"                  (docs/json.md)\n"
		"  -n, --no-bpf    read the task registry only (see taskscope ps --help)\n"
		"  -s, --stacks    each task's frames under it (see taskscope ps --help)\n"
		"  -v, --verbose   more detail on stderr\n"
		"  -h, --help      this help\n\n"
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
	struct graph g;
	if ((rc = tsc_collect_target(&o, &s, &st)))
		return rc;
	if (graph_build(&s, &g)) {
		tsc_stacks_free(st);
		tsc_snapshot_free(&s);
		return TSC_EXIT_ERROR;
	}
	g.stacks = st;
	rc = TSC_EXIT_OK;
	if (o.json)
		rc = print_json(&g);
	else
		print_text(&g);
	if (!rc && g.ncycles)
		rc = TSC_EXIT_DEADLOCK;
	graph_free(&g);
	tsc_stacks_free(st);
	tsc_snapshot_free(&s);
	int wrc = tsc_flush_stdout();
	return wrc ? wrc : rc;
}
