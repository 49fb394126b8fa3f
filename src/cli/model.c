/* SPDX-License-Identifier: MIT */
/* The snapshot model: free, find, sort. */
#include "model.h"

#include <stdlib.h>
#include <string.h>

void tsc_snapshot_free(struct tsc_snapshot *s)
{
	if (!s)
		return;
	free(s->threads);
	free(s->tasks);
	s->threads = NULL;
	s->tasks = NULL;
	s->nthreads = s->ntasks = 0;
}

struct tsc_task *tsc_snapshot_find(const struct tsc_snapshot *s, uint64_t id)
{
	size_t lo = 0, hi = s->ntasks;
	if (!id)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->tasks[mid].id == id)
			return &s->tasks[mid];
		if (s->tasks[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* not where a sorted array would hold it: tasks may have been appended out of order */
	for (size_t i = 0; i < s->ntasks; i++)
		if (s->tasks[i].id == id)
			return &s->tasks[i];
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	uint64_t x = ((const struct tsc_task *)a)->id, y = ((const struct tsc_task *)b)->id;
	return x < y ? -1 : x > y;
}

void tsc_snapshot_sort(struct tsc_snapshot *s)
{
	size_t u = 0;
	if (!s->ntasks)
		return;
	qsort(s->tasks, s->ntasks, sizeof(*s->tasks), cmp_id);
	for (size_t i = 0; i < s->ntasks; i++)
		if (!u || s->tasks[u - 1].id != s->tasks[i].id)
			s->tasks[u++] = s->tasks[i];
	s->ntasks = u;
}
