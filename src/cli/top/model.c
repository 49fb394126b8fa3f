/* SPDX-License-Identifier: MIT */
/* top's model between refreshes: lookups, rates, row order, the await tree, details. */
#include "top/top.h"
#include "out/out.h"
#include "target/walk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <taskscope/taskscope.h>

#define NONE UINT32_MAX

struct top_task *top_find(const struct top_model *m, uint64_t id)
{
	uint64_t *at = tsc_idmap_get(&m->by_id, id);
	return at ? &m->tasks[*at] : NULL;
}

void top_model_free(struct top_model *m)
{
	if (!m)
		return;
	free(m->tasks);
	free(m->spare);
	free(m->threads);
	tsc_idmap_free(&m->by_id);
	tsc_warnings_free(&m->warn);
	tsc_idmap_free(&m->spare_idx);
	memset(m, 0, sizeof(*m));
}

/* ---- row order ---- */

const char *top_sort_name(enum top_sort s)
{
	static const char *const names[] = { "cpu", "age", "name", "id", "switches", "waited" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

int top_sort_parse(const char *s, enum top_sort *out)
{
	for (int i = TOP_SORT_CPU; i <= TOP_SORT_WAITED; i++) {
		if (!strcmp(s, top_sort_name((enum top_sort)i))) {
			*out = (enum top_sort)i;
			return 0;
		}
	}
	return -EINVAL;
}

struct tsc_task top_task_wait(const struct top_task *t)
{
	return (struct tsc_task){ .state = t->state, .wait = t->wait, .wait_obj = t->wait_obj,
				  .wait_since_ns = t->wait_since_ns,
				  .ready_since_ns = t->ready_since_ns };
}

int top_task_waited(const struct top_model *m, const struct top_task *t, uint64_t *ns)
{
	struct tsc_task w = top_task_wait(t);
	return tsc_task_waited(&w, m->taken_ns, ns) || tsc_task_queued(&w, m->taken_ns, ns);
}

struct cmp_ctx {
	const struct top_model *m;
	const struct top_view *v;
};

/* < 0 when task a comes first */
static int cmp_tasks(const struct top_model *m, const struct top_task *a,
		     const struct top_task *b, enum top_sort s)
{
	int c = 0;
	uint64_t wa = 0, wb = 0;
	switch (s) {
	case TOP_SORT_WAITED: /* waiting longest first */
		top_task_waited(m, a, &wa);
		top_task_waited(m, b, &wb);
		c = wa > wb ? -1 : wa < wb;
		break;
	case TOP_SORT_CPU:
		c = a->cpu_pct > b->cpu_pct ? -1 : a->cpu_pct < b->cpu_pct;
		if (!c)
			c = a->cpu_ns > b->cpu_ns ? -1 : a->cpu_ns < b->cpu_ns;
		break;
	case TOP_SORT_AGE: /* oldest first */
		c = a->created_ns < b->created_ns ? -1 : a->created_ns > b->created_ns;
		break;
	case TOP_SORT_NAME:
		c = strcmp(a->name, b->name);
		break;
	case TOP_SORT_SWITCHES:
		c = a->sw_rate > b->sw_rate ? -1 : a->sw_rate < b->sw_rate;
		if (!c)
			c = a->switches > b->switches ? -1 : a->switches < b->switches;
		break;
	case TOP_SORT_ID:
		break;
	}
	return c ? c : a->id < b->id ? -1 : a->id > b->id;
}

static int cmp_rows(const void *x, const void *y, void *arg)
{
	const struct cmp_ctx *c = arg;
	const struct top_task *a = &c->m->tasks[*(const uint32_t *)x];
	const struct top_task *b = &c->m->tasks[*(const uint32_t *)y];
	int r = cmp_tasks(c->m, a, b, c->v->sort);
	return c->v->reverse ? -r : r;
}

static int passes(const struct top_task *t, const struct top_view *v)
{
	return !v->filter[0] || strstr(t->name, v->filter);
}

/* Sift down in a heap whose top is the row that sorts last (the first to give way). */
static void sift(uint32_t *h, size_t n, size_t i, struct cmp_ctx *c)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, w = i;
		if (l < n && cmp_rows(&h[l], &h[w], c) > 0)
			w = l;
		if (r < n && cmp_rows(&h[r], &h[w], c) > 0)
			w = r;
		if (w == i)
			return;
		uint32_t t = h[i];
		h[i] = h[w];
		h[w] = t;
		i = w;
	}
}

size_t top_rows(const struct top_model *m, const struct top_view *v, size_t want,
		uint32_t **rows, size_t *nrows)
{
	struct cmp_ctx c = { m, v };
	size_t pass = 0;
	*nrows = 0;
	*rows = NULL;
	for (size_t i = 0; i < m->ntasks; i++)
		pass += passes(&m->tasks[i], v);
	if (!want || want >= pass / 4) {
		/* most of them: sort them all */
		uint32_t *r = malloc((pass + 1) * sizeof(*r));
		if (!r)
			return pass;
		size_t n = 0;
		for (size_t i = 0; i < m->ntasks; i++)
			if (passes(&m->tasks[i], v))
				r[n++] = (uint32_t)i;
		qsort_r(r, n, sizeof(*r), cmp_rows, &c);
		*rows = r;
		*nrows = want && want < n ? want : n;
		return pass;
	}
	/* the first `want` of 100k: a heap of them, then sort the heap */
	uint32_t *h = malloc(want * sizeof(*h));
	if (!h)
		return pass;
	size_t n = 0;
	for (size_t i = 0; i < m->ntasks; i++) {
		if (!passes(&m->tasks[i], v))
			continue;
		uint32_t x = (uint32_t)i;
		if (n < want) {
			h[n++] = x;
			if (n == want)
				for (size_t k = want / 2 + 1; k-- > 0;)
					sift(h, n, k, &c);
		} else if (cmp_rows(&x, &h[0], &c) < 0) {
			h[0] = x;
			sift(h, n, 0, &c);
		}
	}
	qsort_r(h, n, sizeof(*h), cmp_rows, &c);
	*rows = h;
	*nrows = n;
	return pass;
}

/* ---- the await tree ---- */

static int awaits(const struct top_model *m, const struct top_task *t, uint32_t *to)
{
	uint64_t id;
	uint64_t *at;
	if (!tsc_task_awaits(&(struct tsc_task){ .state = t->state, .wait = t->wait,
						 .wait_obj = t->wait_obj }, &id))
		return 0;
	if (!(at = tsc_idmap_get(&m->by_id, id)))
		return 0;
	*to = *at;
	return 1;
}

void top_tree_free(struct top_tree *t)
{
	free(t->rows);
	free(t->depth);
	free(t->mark);
	memset(t, 0, sizeof(*t));
}

static void emit_chain(const struct top_model *m, const uint32_t *next, uint8_t *seen,
		       uint32_t start, struct top_tree *t)
{
	uint16_t depth = 0;
	for (uint32_t k = start; k != NONE; k = next[k]) {
		t->rows[t->n] = k;
		t->depth[t->n] = depth;
		t->mark[t->n] = 0;
		if (seen[k] == 1 || seen[k] == 2) {
			/* 1: on this walk already, a cycle closes; 2: shown under another */
			t->mark[t->n++] = seen[k] == 1 ? 2 : 1;
			if (seen[k] == 1)
				t->ncycles++;
			break;
		}
		seen[k] = 1;
		t->n++;
		if (depth < UINT16_MAX)
			depth++;
	}
	for (uint32_t k = start; k != NONE && seen[k] == 1; k = next[k])
		seen[k] = 2;
	(void)m;
}

int top_tree_build(const struct top_model *m, const struct top_view *v, struct top_tree *t)
{
	size_t n = m->ntasks;
	uint32_t *next = malloc((n + 1) * sizeof(*next));
	uint32_t *roots = malloc((n + 1) * sizeof(*roots));
	uint8_t *seen = calloc(n + 1, 1), *nawaiters = calloc(n + 1, 1);
	memset(t, 0, sizeof(*t));
	/* each task appears once, plus one closing row per chain at most */
	t->rows = malloc((2 * n + 1) * sizeof(*t->rows));
	t->depth = malloc((2 * n + 1) * sizeof(*t->depth));
	t->mark = malloc(2 * n + 1);
	if (!next || !roots || !seen || !nawaiters || !t->rows || !t->depth || !t->mark) {
		free(next);
		free(roots);
		free(seen);
		free(nawaiters);
		top_tree_free(t);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t to;
		next[i] = awaits(m, &m->tasks[i], &to) ? to : NONE;
		if (next[i] != NONE && nawaiters[next[i]] < 255)
			nawaiters[next[i]]++;
	}
	size_t nr = 0;
	for (size_t i = 0; i < n; i++)
		if (!nawaiters[i])
			roots[nr++] = (uint32_t)i;
	struct cmp_ctx c = { m, v };
	qsort_r(roots, nr, sizeof(*roots), cmp_rows, &c);
	for (size_t i = 0; i < nr; i++) {
		int any = !v->filter[0];
		uint32_t k = roots[i];
		for (size_t steps = 0; !any && k != NONE && steps <= n; k = next[k], steps++)
			any = passes(&m->tasks[k], v);
		if (any)
			emit_chain(m, next, seen, roots[i], t);
		else
			for (k = roots[i]; k != NONE && !seen[k]; k = next[k])
				seen[k] = 3; /* hidden */
	}
	/* cycles nobody outside awaits have no root: start at their lowest id */
	for (size_t i = 0; i < n; i++) {
		if (seen[i] || next[i] == NONE)
			continue;
		int any = !v->filter[0];
		uint32_t lo = (uint32_t)i, k = next[i];
		for (size_t steps = 0; k != (uint32_t)i && k != NONE && steps < n; k = next[k], steps++) {
			if (m->tasks[k].id < m->tasks[lo].id)
				lo = k;
			any |= passes(&m->tasks[k], v);
		}
		any |= passes(&m->tasks[i], v);
		if (any)
			emit_chain(m, next, seen, lo, t);
		else
			for (uint32_t j = lo; j != NONE && !seen[j]; j = next[j])
				seen[j] = 3;
	}
	free(next);
	free(roots);
	free(seen);
	free(nawaiters);
	return 0;
}

size_t top_awaited_by(const struct top_model *m, uint64_t id, uint32_t *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < m->ntasks; i++) {
		const struct top_task *t = &m->tasks[i];
		if (t->state == TS_WAITING && t->wait == TS_WAIT_AWAIT && t->wait_obj == id) {
			if (n < max)
				out[n] = (uint32_t)i;
			n++;
		}
	}
	return n;
}

void top_wait_long(const struct top_model *m, const struct top_task *t, char *buf, size_t n)
{
	char name[TSC_TEXT_SIZE(TS_NAME_MAX)], age[32];
	if (t->state != TS_WAITING) {
		snprintf(buf, n, "-");
		return;
	}
	switch (t->wait) {
	case TS_WAIT_SLEEP:
		tsc_fmt_age(t->wait_obj > m->taken_ns ? t->wait_obj - m->taken_ns : 0, age,
			    sizeof(age));
		snprintf(buf, n, "sleep, %s left", age);
		break;
	case TS_WAIT_FD:
		snprintf(buf, n, "fd %lld", (long long)t->wait_obj);
		break;
	case TS_WAIT_AWAIT: {
		const struct top_task *a = top_find(m, t->wait_obj);
		if (a) {
			snprintf(buf, n, "await task %llu (%s)", (unsigned long long)t->wait_obj,
				 tsc_esc(name, sizeof(name), a->name));
		} else {
			snprintf(buf, n, "await task %llu (finished)",
				 (unsigned long long)t->wait_obj);
		}
		break;
	}
	case TS_WAIT_QUEUE:
	case TS_WAIT_EVENT:
		snprintf(buf, n, "%s at 0x%llx", tsc_wait_name(t->wait),
			 (unsigned long long)t->wait_obj);
		break;
	default:
		snprintf(buf, n, "%s", tsc_wait_name(t->wait));
	}
}

void top_fmt_cputime(uint64_t ns, char *buf, size_t n)
{
	uint64_t cs = ns / 10000000, s = cs / 100;
	if (s < 60)
		snprintf(buf, n, "%llu.%02llus", (unsigned long long)s, (unsigned long long)(cs % 100));
	else if (s < 3600)
		snprintf(buf, n, "%llum%02llu.%llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60), (unsigned long long)(cs % 100 / 10));
	else
		snprintf(buf, n, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
}
