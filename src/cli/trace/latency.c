/* SPDX-License-Identifier: MIT */
/* Durations kept whole for exact percentiles (latency.h). */
#include "trace/latency.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int tsc_lat_add(struct tsc_lat *l, uint64_t ns, int keep)
{
	l->count++;
	if (ns > l->max)
		l->max = ns;
	if (!keep)
		return 0; /* counted, not kept: tsc_lat_figs says so */
	l->sorted = 0;
	if (ns <= UINT32_MAX) {
		if (l->n == l->cap && tsc_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
			return -ENOMEM;
		l->v[l->n++] = (uint32_t)ns;
	} else {
		if (l->nbig == l->bigcap &&
		    tsc_grow((void **)&l->big, &l->bigcap, l->nbig + 1, sizeof(*l->big)))
			return -ENOMEM;
		l->big[l->nbig++] = ns;
	}
	return 1;
}

static int cmp32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static int cmp64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The k-th smallest kept sample (0-based): every big one is above every small one. */
static uint64_t kth(const struct tsc_lat *l, uint64_t k)
{
	return k < l->n ? l->v[k] : l->big[k - l->n];
}

/* Nearest rank: the ceil(p × n)-th smallest, p in hundredths to stay in integers. */
static uint64_t rank(const struct tsc_lat *l, uint64_t n, unsigned pct)
{
	uint64_t r = (n * pct + 99) / 100;
	return kth(l, r ? r - 1 : 0);
}

void tsc_lat_figs(struct tsc_lat *l, struct tsc_lat_figs *f)
{
	memset(f, 0, sizeof(*f));
	f->count = l->count;
	f->max = l->max;
	f->kept = l->n + l->nbig;
	if (!f->kept)
		return;
	if (!l->sorted) {
		if (l->n) /* either array may be NULL: qsort takes none */
			qsort(l->v, l->n, sizeof(*l->v), cmp32);
		if (l->nbig)
			qsort(l->big, l->nbig, sizeof(*l->big), cmp64);
		l->sorted = 1;
	}
	f->p50 = rank(l, f->kept, 50);
	f->p99 = rank(l, f->kept, 99);
}

void tsc_lat_clear(struct tsc_lat *l)
{
	l->n = l->nbig = 0;
	l->count = l->max = 0;
	l->sorted = 0;
}

void tsc_lat_free(struct tsc_lat *l)
{
	free(l->v);
	free(l->big);
	memset(l, 0, sizeof(*l));
}
