// SPDX-License-Identifier: MIT
/* Tasks with identical stacks, grouped (groups.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <taskscope/taskscope.h>

#include "idmap.h"
#include "out/json.h"
#include "out/out.h"
#include "stacks/groups.h"
#include "target/walk.h"
#include "util.h"

/* What groups two tasks, besides their stacks. */
static uint32_t wait_of(const struct tsc_task *t)
{
	return t->state == TS_WAITING ? t->wait : TS_WAIT_NONE;
}

static uint64_t spawn_pc_of(const struct tsc_task *t)
{
	return t->spawn_pc;
}

static uint64_t key_hash(const struct tsc_task *t, const struct tsc_stack *k)
{
	uint64_t h = tsc_hash64(((uint64_t)t->state << 32 | wait_of(t)) ^ spawn_pc_of(t) * 31);
	if (!k)
		return h | 1;
	h = tsc_hash_mix(h ^ ((uint64_t)k->end << 32 | k->n));
	for (unsigned i = 0; i < k->n; i++)
		h = tsc_hash_mix(h ^ k->pc[i]);
	return h | 1; /* never 0, the map's free key */
}

static int same_group(const struct tsc_task *a, const struct tsc_stack *ka,
		      const struct tsc_task *b, const struct tsc_stack *kb)
{
	if (a->state != b->state || wait_of(a) != wait_of(b) || spawn_pc_of(a) != spawn_pc_of(b))
		return 0;
	if (!ka || !kb)
		return ka == kb;
	return ka->end == kb->end && ka->n == kb->n &&
	       !memcmp(ka->pc, kb->pc, ka->n * sizeof(ka->pc[0]));
}

/* The largest group first; among equals, the one with the lowest id. */
static const struct tsc_snapshot *sort_snap;
static int cmp_group(const void *x, const void *y)
{
	const struct tsc_stack_group *a = x, *b = y;
	if (a->n != b->n)
		return a->n < b->n ? 1 : -1;
	uint64_t ia = sort_snap->tasks[a->member[0]].id, ib = sort_snap->tasks[b->member[0]].id;
	return ia < ib ? -1 : ia > ib;
}

int tsc_stack_groups_build(const struct tsc_snapshot *s, const struct tsc_stacks *st,
			   int (*keep)(const struct tsc_task *t, const void *ctx), const void *ctx,
			   struct tsc_stack_groups *out)
{
	size_t n = s->ntasks;
	size_t *group = malloc((n ? n : 1) * sizeof(size_t));   /* each task's group */
	size_t *chain = malloc((n ? n : 1) * sizeof(size_t));   /* next group, same hash */
	size_t *first = malloc((n ? n : 1) * sizeof(size_t));   /* each group's first task */
	size_t *count = calloc(n ? n : 1, sizeof(size_t));
	struct tsc_idmap by_hash = { 0 };
	size_t ngroups = 0;
	int err = -ENOMEM;

	memset(out, 0, sizeof(*out));
	out->members = malloc((n ? n : 1) * sizeof(size_t));
	if (!group || !chain || !first || !count || !out->members ||
	    tsc_idmap_reset(&by_hash, n, 0))
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		const struct tsc_task *t = &s->tasks[i];
		group[i] = SIZE_MAX;
		if (keep && !keep(t, ctx))
			continue;
		const struct tsc_stack *k = tsc_stacks_find(st, t->id);
		uint64_t h = key_hash(t, k), *slot = tsc_idmap_get(&by_hash, h);
		size_t g = slot ? (size_t)*slot : SIZE_MAX;
		while (g != SIZE_MAX && !same_group(&s->tasks[first[g]],
						    tsc_stacks_find(st, s->tasks[first[g]].id), t, k))
			g = chain[g];
		if (g == SIZE_MAX) {
			g = ngroups++;
			first[g] = i;
			chain[g] = slot ? (size_t)*slot : SIZE_MAX;
			if (tsc_idmap_put(&by_hash, h, g))
				goto cleanup;
		}
		group[i] = g;
		count[g]++;
	}
	out->g = calloc(ngroups ? ngroups : 1, sizeof(*out->g));
	if (!out->g)
		goto cleanup;
	/* each group's members, contiguous, in the snapshot's (id) order */
	size_t at = 0;
	for (size_t g = 0; g < ngroups; g++) {
		out->g[g].member = out->members + at;
		at += count[g];
	}
	for (size_t i = 0; i < n; i++) {
		if (group[i] == SIZE_MAX)
			continue;
		struct tsc_stack_group *gr = &out->g[group[i]];
		gr->member[gr->n++] = i;
	}
	out->n = ngroups;
	sort_snap = s;
	qsort(out->g, out->n, sizeof(*out->g), cmp_group);
	err = 0;
cleanup:
	tsc_idmap_free(&by_hash);
	free(group);
	free(chain);
	free(first);
	free(count);
	if (err)
		tsc_stack_groups_free(out);
	return err;
}

void tsc_stack_groups_free(struct tsc_stack_groups *gs)
{
	free(gs->g);
	free(gs->members);
	memset(gs, 0, sizeof(*gs));
}

/* Names shown on a group's line: the first few and the last. */
#define NAMES_SHOWN 4
/* Runs of consecutive ids shown, at most. */
#define ID_RUNS_SHOWN 8

static void print_members(FILE *f, const struct tsc_snapshot *s, const struct tsc_stack_group *g)
{
	char name[TSC_TEXT_SIZE(TS_NAME_MAX)];
	for (size_t j = 0; j < g->n; j++) {
		if (j == NAMES_SHOWN && g->n > NAMES_SHOWN + 1) {
			fputs(" …", f);
			j = g->n - 1;
		}
		fprintf(f, "%s%s", j ? " " : "", tsc_esc(name, sizeof(name),
							  s->tasks[g->member[j]].name));
	}
	fprintf(f, " (id%s ", g->n == 1 ? "" : "s");
	size_t runs = 0;
	for (size_t j = 0; j < g->n;) {
		uint64_t lo = s->tasks[g->member[j]].id, hi = lo;
		while (++j < g->n && s->tasks[g->member[j]].id == hi + 1)
			hi++;
		if (runs++ == ID_RUNS_SHOWN) {
			fputs(" …", f);
			break;
		}
		fprintf(f, runs > 1 ? ", %" PRIu64 : "%" PRIu64, lo);
		if (hi > lo)
			fprintf(f, "-%" PRIu64, hi);
	}
	fputs(")\n", f);
}

/* "waiting fd 3 for 4m12s" for one task; "waiting fd for 3.1s-4m12s" for many, whose
 * objects differ: the shortest and the longest wait. */
static void describe_state(const struct tsc_snapshot *s, const struct tsc_stack_group *g,
			   char *buf, size_t n)
{
	const struct tsc_task *t = &s->tasks[g->member[0]];
	char wait[96], lo_s[16], hi_s[16];
	uint64_t lo = UINT64_MAX, hi = 0, ns;
	if (g->n == 1) {
		tsc_waited_describe(t, s->taken_ns, wait, sizeof(wait));
	} else {
		for (size_t j = 0; j < g->n; j++)
			if (tsc_task_waited(&s->tasks[g->member[j]], s->taken_ns, &ns)) {
				lo = ns < lo ? ns : lo;
				hi = ns > hi ? ns : hi;
			}
		snprintf(wait, sizeof(wait), "%s", tsc_wait_name(wait_of(t)));
		if (hi) {
			tsc_fmt_age(lo, lo_s, sizeof(lo_s));
			tsc_fmt_age(hi, hi_s, sizeof(hi_s));
			size_t l = strlen(wait);
			if (!strcmp(lo_s, hi_s))
				snprintf(wait + l, sizeof(wait) - l, " for %s", hi_s);
			else
				snprintf(wait + l, sizeof(wait) - l, " for %s-%s", lo_s, hi_s);
		}
	}
	if (strcmp(wait, "-") && strcmp(wait, "none"))
		snprintf(buf, n, "%s %s", tsc_state_name(t->state), wait);
	else
		snprintf(buf, n, "%s", tsc_state_name(t->state));
}

void tsc_stack_groups_print(FILE *f, const struct tsc_snapshot *s, struct tsc_stacks *st,
			    const struct tsc_sites *sites, const struct tsc_stack_groups *gs,
			    unsigned flags)
{
	char state[160], created[1024];
	size_t tasks = 0;
	for (size_t i = 0; i < gs->n; i++)
		tasks += gs->g[i].n;
	fprintf(f, "\n%zu task%s, %zu distinct stack%s (--no-group: each task's own)\n",
		tasks, tasks == 1 ? "" : "s", gs->n, gs->n == 1 ? "" : "s");
	for (size_t i = 0; i < gs->n; i++) {
		const struct tsc_stack_group *g = &gs->g[i];
		const struct tsc_task *t = &s->tasks[g->member[0]];
		describe_state(s, g, state, sizeof(state));
		fprintf(f, "\n%zu task%s %s: ", g->n, g->n == 1 ? "" : "s", state);
		print_members(f, s, g);
		tsc_stacks_print(f, st, t->id, "      ", flags);
		if (tsc_sites_describe(sites, spawn_pc_of(t), created, sizeof(created)))
			fprintf(f, "      %s\n", created);
	}
}

void tsc_stack_groups_json(struct tsc_json *w, const struct tsc_snapshot *s,
			   struct tsc_stacks *st, const struct tsc_sites *sites,
			   const struct tsc_stack_groups *gs)
{
	tsc_json_key(w, "stack_groups");
	tsc_json_arr(w);
	for (size_t i = 0; i < gs->n; i++) {
		const struct tsc_stack_group *g = &gs->g[i];
		const struct tsc_task *t = &s->tasks[g->member[0]];
		tsc_json_nl(w);
		tsc_json_obj(w);
		tsc_json_key(w, "count");
		tsc_json_u64(w, g->n);
		tsc_json_key(w, "tasks");
		tsc_json_arr(w);
		for (size_t j = 0; j < g->n; j++)
			tsc_json_u64(w, s->tasks[g->member[j]].id);
		tsc_json_end_arr(w);
		tsc_json_key(w, "state");
		tsc_json_lit(w, tsc_state_name(t->state));
		tsc_json_key(w, "wait");
		tsc_json_lit(w, tsc_wait_name(wait_of(t)));
		tsc_stacks_json(w, st, t->id);
		tsc_sites_json(w, sites, spawn_pc_of(t));
		tsc_json_end_obj(w);
	}
	tsc_json_ch(w, '\n');
	tsc_json_end_arr(w);
}
