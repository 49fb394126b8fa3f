/* SPDX-License-Identifier: MIT */
/* Coroutine names: each task holds a pointer to a string in the target. Few distinct ones:
 * each is read once, without crossing into a page that might not be mapped, and cached for
 * the walks after (registry.h). */
#include "target/registry.h"
#include "target/remote.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_coro(const void *a, const void *b)
{
	uint64_t x = ((const struct tsc_coro_ent *)a)->addr;
	uint64_t y = ((const struct tsc_coro_ent *)b)->addr;
	return x < y ? -1 : x > y;
}

static struct tsc_coro_ent *find(const struct tsc_coros *c, uint64_t addr)
{
	struct tsc_coro_ent key = { .addr = addr };
	return c->n ? bsearch(&key, c->e, c->n, sizeof(key), cmp_coro) : NULL;
}

const char *tsc_coros_find(const struct tsc_coros *c, uint64_t addr)
{
	if (!addr)
		return "";
	const struct tsc_coro_ent *e = find(c, addr);
	return e ? e->s : NULL;
}

/* Read the names at want[0..u) (sorted, distinct, none cached) into fresh[0..u). */
static int read_names(struct tsc_coros *c, struct tsc_remote *r, const uint64_t *want, size_t u)
{
	const size_t max = TSC_CORO_MAX;
	struct tsc_mem_req *q = malloc(2 * u * sizeof(*q));
	char *buf = calloc(u, max);
	size_t nq = 0, done = 0;
	int err = -ENOMEM;
	if (!q || !buf)
		goto cleanup;
	/* up to the end of its page first: the next page may not be mapped */
	for (size_t i = 0; i < u; i++) {
		uint64_t a = want[i], room = 4096 - (a & 4095);
		size_t len = room < max - 1 ? (size_t)room : max - 1;
		q[nq++] = (struct tsc_mem_req){ a, buf + i * max, len };
		if (len < max - 1)
			q[nq++] = (struct tsc_mem_req){ a + len, buf + i * max + len, max - 1 - len };
	}
	if ((err = tsc_mem_read(r->mem, q, nq))) {
		tsc_reg_read_err(r, err, "the coroutine names");
		goto cleanup;
	}
	for (size_t i = 0, k = 0; i < u; i++, done++) {
		char *sn = buf + i * max;
		size_t len = q[k].len;
		int head_ok = q[k++].ok;
		/* the tail on the next page only counts if the head had no NUL */
		if (len < max - 1 && !q[k++].ok)
			memset(sn + len, 0, max - 1 - len);
		if (!head_ok)
			strcpy(sn, "?");
		sn[max - 1] = 0;
		c->fresh[i].addr = want[i];
		c->fresh[i].used = 0;
		if (!(c->fresh[i].s = strdup(sn))) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	err = 0;
cleanup:
	if (err)
		while (done--)
			free(c->fresh[done].s);
	free(q);
	free(buf);
	return err;
}

int tsc_coros_add(struct tsc_coros *c, struct tsc_remote *r, uint64_t *want, size_t n)
{
	size_t u = 0;
	int err;
	qsort(want, n, sizeof(*want), cmp_u64);
	for (size_t i = 0; i < n; i++)
		if (want[i] && (!u || want[u - 1] != want[i]) && !find(c, want[i]))
			want[u++] = want[i];
	if (!u)
		return 0;
	if ((err = tsc_grow((void **)&c->fresh, &c->freshcap, u, sizeof(*c->fresh))) ||
	    (err = tsc_grow((void **)&c->e, &c->cap, c->n + u, sizeof(*c->e))) ||
	    (err = read_names(c, r, want, u)))
		return err;
	/* merge from the back: both are sorted, and none of the new is in the cache (a sort
	 * per name would make thousands of distinct names quadratic) */
	size_t a = c->n, b = u, w = c->n + u;
	while (b) {
		if (a && c->e[a - 1].addr > c->fresh[b - 1].addr)
			c->e[--w] = c->e[--a];
		else
			c->e[--w] = c->fresh[--b];
	}
	c->n += u;
	return 0;
}

void tsc_coros_mark(struct tsc_coros *c, uint64_t addr)
{
	struct tsc_coro_ent *e = addr ? find(c, addr) : NULL;
	if (e)
		e->used = 1;
}

void tsc_coros_sweep(struct tsc_coros *c)
{
	size_t w = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (c->e[i].used) {
			c->e[i].used = 0;
			c->e[w++] = c->e[i];
		} else {
			free(c->e[i].s);
		}
	}
	c->n = w;
}

void tsc_coros_free(struct tsc_coros *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->e[i].s);
	free(c->e);
	free(c->fresh);
	memset(c, 0, sizeof(*c));
}
