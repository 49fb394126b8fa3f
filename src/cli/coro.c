/* SPDX-License-Identifier: MIT */
/* Coroutine names: each task holds a pointer to a string in the target. Few distinct ones:
 * each is read once, without crossing into a page that might not be mapped. */
#include "remote.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORO_MAX ((size_t)sizeof(((struct tsc_task *)0)->coro))

struct coro_ent {
	uint64_t addr;
	char s[CORO_MAX];
};

static int cmp_coro(const void *a, const void *b)
{
	uint64_t x = ((const struct coro_ent *)a)->addr, y = ((const struct coro_ent *)b)->addr;
	return x < y ? -1 : x > y;
}

int tsc_remote_read_coros(struct tsc_remote *r, struct tsc_snapshot *s, const uint64_t *coro_addr)
{
	struct coro_ent *ce = calloc(s->ntasks ? s->ntasks : 1, sizeof(*ce));
	struct tsc_rreq *q = NULL;
	size_t n = 0, u = 0;
	int err = -ENOMEM;
	if (!ce)
		goto cleanup;
	for (size_t i = 0; i < s->ntasks; i++)
		ce[n++].addr = coro_addr[i];
	qsort(ce, n, sizeof(*ce), cmp_coro);
	for (size_t i = 0; i < n; i++)
		if (!u || ce[u - 1].addr != ce[i].addr)
			ce[u++].addr = ce[i].addr;
	if (!(q = calloc(u ? 2 * u : 1, sizeof(*q))))
		goto cleanup;
	/* up to the end of the page first; the rest of the page after only if needed */
	size_t nq = 0;
	for (size_t i = 0; i < u; i++) {
		uint64_t a = ce[i].addr, room = 4096 - (a & 4095);
		if (!a)
			continue;
		size_t len = room < CORO_MAX - 1 ? (size_t)room : CORO_MAX - 1;
		q[nq++] = (struct tsc_rreq){ a, ce[i].s, len };
		if (len < CORO_MAX - 1)
			q[nq++] = (struct tsc_rreq){ a + len, ce[i].s + len, CORO_MAX - 1 - len };
	}
	if ((err = tsc_rread(r->pid, q, nq))) {
		if (err == -ESRCH)
			snprintf(r->err, sizeof(r->err), "process %d exited", r->pid);
		else
			snprintf(r->err, sizeof(r->err), "cannot read the coroutine names of process "
				 "%d: %s", r->pid, strerror(-err));
		goto cleanup;
	}
	for (size_t i = 0, k = 0; i < u; i++) {
		if (!ce[i].addr)
			continue;
		int first_ok = q[k].ok;
		size_t len = q[k].len;
		k++;
		if (len < CORO_MAX - 1 && k < nq && q[k].addr == ce[i].addr + len) {
			/* the tail on the next page only counts if the head had no NUL */
			if (!q[k].ok)
				memset(ce[i].s + len, 0, CORO_MAX - 1 - len);
			k++;
		}
		if (!first_ok)
			snprintf(ce[i].s, sizeof(ce[i].s), "?");
		ce[i].s[CORO_MAX - 1] = 0;
	}
	for (size_t i = 0; i < s->ntasks; i++) {
		struct coro_ent key = { .addr = coro_addr[i] };
		struct coro_ent *e = bsearch(&key, ce, u, sizeof(*ce), cmp_coro);
		snprintf(s->tasks[i].coro, sizeof(s->tasks[i].coro), "%s", e ? e->s : "");
	}
	err = 0;
cleanup:
	free(q);
	free(ce);
	return err;
}
