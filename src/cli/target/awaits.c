// SPDX-License-Identifier: MIT
/* The await graph of a snapshot and its cycles (awaits.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "out/out.h"
#include "target/awaits.h"

void tsc_awaits_free(struct tsc_awaits *g)
{
	for (size_t i = 0; i < g->ncycles; i++)
		free(g->cycles[i]);
	free(g->cycles);
	free(g->cycle_len);
	free(g->next);
	free(g->nawaiters);
	free(g->cycle);
}

int tsc_awaits_build(const struct tsc_snapshot *s, struct tsc_awaits *g)
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
		g->next[i] = TSC_AWAITS_NONE;
		if (tsc_task_awaits(&s->tasks[i], &id) && (t = tsc_snapshot_find(s, id))) {
			g->next[i] = (size_t)(t - s->tasks);
			g->nawaiters[g->next[i]]++;
		}
	}
	/* out-degree <= 1: walk each chain once; meeting the walk in progress is a cycle */
	for (size_t i = 0; i < n; i++) {
		size_t len = 0, k = i;
		while (k != TSC_AWAITS_NONE && !color[k]) {
			color[k] = 1;
			path[len++] = k;
			k = g->next[k];
		}
		if (k != TSC_AWAITS_NONE && color[k] == 1) {
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
	tsc_awaits_free(g);
	fprintf(stderr, "taskscope: out of memory\n");
	return -1;
}

