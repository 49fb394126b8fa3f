/* SPDX-License-Identifier: MIT */
/* Folded stacks, the input of flamegraph.pl, inferno and speedscope: one line per distinct
 * stack, "root;outer;...;inner VALUE", VALUE the samples (CPU) or the microseconds waited
 * (--wait). Lines come in name order, a tree walk with its children sorted. */
#include "profile/prof.h"

#include <errno.h>
#include <stdlib.h>

/* The value a folded line carries for these samples and ns. */
static uint64_t value(const struct prof_tree *t, uint64_t count, uint64_t weight)
{
	return t->kind == PROF_WAIT ? (weight + 500) / 1000 : count;
}

int prof_write_folded(FILE *f, const struct prof_tree *t)
{
	uint32_t *path = malloc((t->n ? t->n : 1) * sizeof(*path));
	if (!path)
		return -ENOMEM;
	/* depth-first, iteratively: a stack 127 frames deep, inlined calls expanded, would be
	 * deep recursion */
	size_t depth = 0;
	uint32_t node = t->n > 1 ? t->node[0].child : 0;
	while (node) {
		path[depth++] = node;
		const struct prof_node *p = &t->node[node];
		uint64_t v = value(t, p->self_count, p->self_weight);
		if (v) {
			for (size_t i = 0; i < depth; i++) {
				if (i)
					putc_unlocked(';', f);
				fputs_unlocked(t->names.s[t->node[path[i]].name], f);
			}
			fprintf(f, " %llu\n", (unsigned long long)v);
		}
		if (p->child) {
			node = p->child;
			continue;
		}
		/* up until a node has a next sibling */
		while (depth && !t->node[path[depth - 1]].next)
			depth--;
		node = depth ? t->node[path[--depth]].next : 0;
	}
	free(path);
	return ferror(f) ? -EIO : 0;
}
