/* SPDX-License-Identifier: MIT */
/* The snapshot model: free, find, sort. */
#include "target/model.h"

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
	/* not where a sorted array would hold it: tasks may have been appended out of order
	 * (not when sorted: a scan per id nobody has would make a lookup loop quadratic) */
	for (size_t i = 0; !s->sorted && i < s->ntasks; i++)
		if (s->tasks[i].id == id)
			return &s->tasks[i];
	return NULL;
}

struct key {
	uint64_t id;
	size_t i;
};

static int cmp_key(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id ? 1 : x->i < y->i ? -1 : x->i > y->i;
}

void tsc_snapshot_sort(struct tsc_snapshot *s)
{
	size_t n = s->ntasks, u = 0, i;
	for (i = 1; i < n && s->tasks[i - 1].id < s->tasks[i].id; i++)
		;
	if (i >= n) {
		s->sorted = 1; /* sorted, each id once */
		return;
	}
	/* sort small keys, then move each task once, in place: tasks are big */
	struct key *k = malloc(n * sizeof(*k));
	if (!k)
		return; /* left unsorted; find() still works */
	for (i = 0; i < n; i++)
		k[i] = (struct key){ s->tasks[i].id, i };
	qsort(k, n, sizeof(*k), cmp_key);
	/* slot j takes the task from k[j].i: follow each cycle of that permutation */
	for (size_t j = 0; j < n; j++) {
		if (k[j].i == j)
			continue;
		struct tsc_task first = s->tasks[j];
		size_t at = j;
		for (;;) {
			size_t from = k[at].i;
			k[at].i = at;
			if (from == j) {
				s->tasks[at] = first;
				break;
			}
			s->tasks[at] = s->tasks[from];
			at = from;
		}
	}
	for (i = 0; i < n; i++)
		if (!u || k[i].id != s->tasks[u - 1].id)
			s->tasks[u++] = s->tasks[i];
	free(k);
	s->ntasks = u;
	s->sorted = 1;
}
