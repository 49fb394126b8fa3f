/* SPDX-License-Identifier: MIT */
/* The store folded into a tree of frames: one root per task (or name, coroutine, loop), then
 * each stack from its outermost frame in, inlined calls expanded as ps --stacks shows them.
 * Frame names are escaped here (out.h) and made ';'-free, once per name: the writers then
 * put them out as they are (folded), or with XML's five entities (SVG). */
#include "profile/prof.h"
#include "out/out.h"
#include "target/walk.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_COLS 200 /* a frame name's display width, at most */

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* s escaped into buf (n >= TSC_TEXT_SIZE of what is kept), ';' made ':' (the folded format's
 * separator), cut at cols columns. */
static const char *clean(char *buf, size_t n, const char *s, size_t cols)
{
	tsc_text(buf, n, s, cols, 0, NULL);
	for (char *p = buf; *p; p++)
		if (*p == ';')
			*p = ':';
	return buf;
}

const char *prof_root_label(const struct prof_store *s, const struct prof_stack *st,
			    enum prof_by by, char *buf)
{
	char a[TSC_TEXT_SIZE(64)];
	if (!st->task) {
		snprintf(buf, PROF_LABEL_SIZE, "[loop %" PRIu64 "]", st->loop);
		return buf;
	}
	const struct prof_task *t = prof_store_find_task(s, st->task);
	if (t && !t->name[0] && by != PROF_BY_CORO)
		t = NULL; /* an empty name would be an empty frame: the runtime never gives one */
	switch (by) {
	case PROF_BY_TASK:
		if (t)
			snprintf(buf, PROF_LABEL_SIZE, "%s #%" PRIu64,
				 clean(a, sizeof(a), t->name, 64), st->task);
		else
			snprintf(buf, PROF_LABEL_SIZE, "[task #%" PRIu64 "]", st->task);
		break;
	case PROF_BY_NAME:
		snprintf(buf, PROF_LABEL_SIZE, "%s", t ? clean(a, sizeof(a), t->name, 64) : "[task]");
		break;
	case PROF_BY_CORO:
		if (t && t->coro[0])
			snprintf(buf, PROF_LABEL_SIZE, "%s()", clean(a, sizeof(a), t->coro, 64));
		else
			snprintf(buf, PROF_LABEL_SIZE, "[task]");
		break;
	}
	return buf;
}

const char *prof_frame_name(uint64_t pc __attribute__((unused)), const struct tsc_sym *y, char *buf, size_t n)
{
	char a[TSC_TEXT_SIZE(NAME_COLS)];
	if (y && y->fn && y->fn[0])
		return clean(buf, n, y->fn, NAME_COLS);
	if (y && y->obj && y->obj[0]) /* no symbol: where it is in its file, as perf shows it */
		snprintf(buf, n, "[%s+0x%" PRIx64 "]", clean(a, sizeof(a), base_name(y->obj), 64),
			 y->obj_addr);
	else /* no file: the vdso, JIT code, or a bad address; perf's name for it */
		snprintf(buf, n, "[unknown]");
	return buf;
}

struct folder {
	struct prof_tree *t;
	struct tsc_idmap pcs;       /* pc << 1 | ret, + 1 -> offset in ids */
	uint32_t *ids;              /* at each offset: how many names, then their indexes */
	size_t nids, ids_cap;
};

static int64_t intern(struct folder *f, const char *name)
{
	return prof_strtab_add(&f->t->names, name);
}

/* The child of node `parent` named `name`, made when new; 0 when out of memory. */
static uint32_t child(struct prof_tree *t, uint32_t parent, uint32_t name)
{
	uint64_t key = ((uint64_t)parent << 32 | name) + 1;
	uint64_t *c = tsc_idmap_get(&t->child_index, key);
	if (c)
		return (uint32_t)*c;
	if (t->n >= UINT32_MAX ||
	    tsc_grow((void **)&t->node, &t->cap, t->n + 1, sizeof(*t->node)))
		return 0;
	uint32_t i = (uint32_t)t->n;
	if (tsc_idmap_put(&t->child_index, key, i))
		return 0;
	t->node[i] = (struct prof_node){ .name = name, .parent = parent,
					 .next = t->node[parent].child };
	t->node[parent].child = i;
	t->n++;
	return i;
}

/* The names of the frames at pc, outermost first, made once per address. NULL when out of
 * memory; else ids[0] is their number. */
static const uint32_t *frames_at(struct folder *f, struct tsc_symbolizer *sym, uint64_t pc,
				 int ret)
{
	uint64_t key = (pc << 1 | (uint64_t)ret) + 1;
	uint64_t *off = tsc_idmap_get(&f->pcs, key);
	if (off)
		return &f->ids[*off];
	const struct tsc_sym *y = NULL;
	unsigned n = tsc_symbolize(sym, pc, ret, &y);
	unsigned k = n ? n : 1;
	size_t at = f->nids;
	if (tsc_grow((void **)&f->ids, &f->ids_cap, at + k + 1, sizeof(*f->ids)))
		return NULL;
	f->ids[at] = k;
	for (unsigned i = 0; i < k; i++) {
		char buf[TSC_TEXT_SIZE(NAME_COLS) + 80];
		/* tsc_symbolize gives the innermost first: the tree goes outermost first */
		int64_t id = intern(f, prof_frame_name(pc, n ? &y[k - 1 - i] : NULL, buf,
						       sizeof(buf)));
		if (id < 0)
			return NULL;
		f->ids[at + 1 + i] = (uint32_t)id;
	}
	if (tsc_idmap_put(&f->pcs, key, at))
		return NULL;
	f->nids = at + k + 1;
	return &f->ids[at];
}

static int cmp_name(const void *a, const void *b, void *ctx)
{
	const struct prof_tree *t = ctx;
	const struct prof_node *x = &t->node[*(const uint32_t *)a];
	const struct prof_node *y = &t->node[*(const uint32_t *)b];
	return strcmp(t->names.s[x->name], t->names.s[y->name]);
}

/* Every node's children in name order, as flamegraph.pl draws them. */
static int sort_children(struct prof_tree *t)
{
	uint32_t *tmp = malloc((t->n ? t->n : 1) * sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		size_t k = 0;
		for (uint32_t c = t->node[i].child; c; c = t->node[c].next)
			tmp[k++] = c;
		if (k < 2)
			continue;
		qsort_r(tmp, k, sizeof(*tmp), cmp_name, t);
		t->node[i].child = tmp[0];
		for (size_t j = 0; j < k; j++)
			t->node[tmp[j]].next = j + 1 < k ? tmp[j + 1] : 0;
	}
	free(tmp);
	return 0;
}

int prof_fold(const struct prof_store *s, struct tsc_symbolizer *sym, enum prof_by by,
	      struct prof_tree *t)
{
	struct folder f = { .t = t };
	int err = -ENOMEM;
	char label[PROF_LABEL_SIZE];

	memset(t, 0, sizeof(*t));
	t->kind = s->kind;
	t->period_ns = s->period_ns;
	t->duration_ns = s->t1_ns - s->t0_ns;
	if (prof_strtab_init(&t->names) ||
	    tsc_idmap_reset(&t->child_index, 1024, tsc_hash_key | 1) ||
	    tsc_idmap_reset(&f.pcs, 1024, tsc_hash_key | 1) || intern(&f, "all") < 0 ||
	    tsc_grow((void **)&t->node, &t->cap, 1, sizeof(*t->node)))
		goto out;
	t->node[0] = (struct prof_node){ 0 };
	t->n = 1;
	for (size_t i = 0; i < s->n; i++) {
		const struct prof_stack *st = &s->st[i];
		int64_t root = intern(&f, prof_root_label(s, st, by, label));
		uint32_t node = root < 0 ? 0 : child(t, 0, (uint32_t)root);
		if (!node)
			goto out;
		/* outermost first; the innermost address of an on-CPU sample is where it was,
		 * every other one a return address (its call is looked up) */
		for (uint32_t k = st->n; k-- > 0 && node;) {
			int ret = k > 0 || s->kind == PROF_WAIT;
			const uint32_t *ids = frames_at(&f, sym, s->pcs[st->pc + k], ret);
			if (!ids)
				goto out;
			for (uint32_t j = 0; j < ids[0] && node; j++)
				node = child(t, node, ids[1 + j]);
		}
		if (!node)
			goto out;
		t->node[node].self_count += st->count;
		t->node[node].self_weight += st->weight;
		for (uint32_t c = node;; c = t->node[c].parent) {
			t->node[c].count += st->count;
			t->node[c].weight += st->weight;
			if (!c)
				break;
		}
	}
	err = sort_children(t);
out:
	tsc_idmap_free(&f.pcs);
	free(f.ids);
	if (err)
		prof_tree_fini(t);
	return err;
}

void prof_tree_fini(struct prof_tree *t)
{
	prof_strtab_fini(&t->names);
	free(t->node);
	tsc_idmap_free(&t->child_index);
	memset(t, 0, sizeof(*t));
}
