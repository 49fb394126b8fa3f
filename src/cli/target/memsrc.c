/* SPDX-License-Identifier: MIT */
/* What every memory source shares: many small reads as a few spans, and the source's end. */
#include "target/memsrc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 1024 /* spans per read */

void tsc_memsrc_free(struct tsc_memsrc *m)
{
	if (!m)
		return;
	if (m->ops->free)
		m->ops->free(m->ctx);
	free(m);
}

/* Spans of nearby requests read as one: the kernel pins pages per request, so 100k small
 * reads cost far more than a few big ones over the same heap. */
#define SPAN_GAP 2048             /* bytes of gap worth reading through rather than a new read */
#define SPAN_MAX (1u << 20)       /* bytes per span */
#define BATCH_BYTES (1u << 20)    /* bytes read per round: a buffer reused, so few page faults */

static int cmp_addr(const void *a, const void *b)
{
	const struct tsc_mem_req *x = *(const struct tsc_mem_req *const *)a;
	const struct tsc_mem_req *y = *(const struct tsc_mem_req *const *)b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

struct span {
	uint64_t addr;
	size_t len, first, n;     /* requests order[first .. first + n) */
};

/* Read a batch of spans; copy each request out of its span, or read the requests of a span
 * that failed one by one. */
static int read_spans(const struct tsc_memsrc *m, struct span *sp, size_t nsp, struct tsc_mem_req **order,
		      unsigned char *buf)
{
	struct tsc_mem_req q[BATCH];
	size_t off = 0;
	int err;
	for (size_t i = 0; i < nsp; i++) {
		q[i] = (struct tsc_mem_req){ sp[i].addr, buf + off, sp[i].len };
		off += sp[i].len;
	}
	if ((err = tsc_mem_read(m, q, nsp)))
		return err;
	for (size_t i = 0; i < nsp; i++) {
		struct tsc_mem_req **r = order + sp[i].first;
		if (!q[i].ok) {
			for (size_t k = 0; k < sp[i].n; k++)
				if ((err = tsc_mem_read(m, r[k], 1)))
					return err;
			continue;
		}
		for (size_t k = 0; k < sp[i].n; k++) {
			memcpy(r[k]->buf, (unsigned char *)q[i].buf + (r[k]->addr - sp[i].addr),
			       r[k]->len);
			r[k]->ok = 1;
		}
	}
	return 0;
}

int tsc_mem_read_many(const struct tsc_memsrc *m, struct tsc_mem_req *req, size_t n)
{
	struct tsc_mem_req **order = malloc((n ? n : 1) * sizeof(*order));
	struct span *sp = malloc(BATCH * sizeof(*sp));
	unsigned char *buf = malloc(BATCH_BYTES + SPAN_MAX);
	size_t nsp = 0, bytes = 0;
	int err = -ENOMEM, sorted = 1;
	if (!order || !sp || !buf)
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		order[i] = &req[i];
		req[i].ok = 0;
		sorted &= !i || req[i - 1].addr <= req[i].addr;
	}
	if (!sorted)
		qsort(order, n, sizeof(*order), cmp_addr);
	for (size_t i = 0; i < n; i++) {
		struct tsc_mem_req *r = order[i];
		struct span *s = nsp ? &sp[nsp - 1] : NULL;
		if (r->len > SPAN_MAX) { /* big ones alone, as they are */
			if ((err = tsc_mem_read(m, r, 1)))
				goto cleanup;
			continue;
		}
		uint64_t end = r->addr + r->len;
		if (s && r->addr >= s->addr && r->addr <= s->addr + s->len + SPAN_GAP &&
		    end - s->addr <= SPAN_MAX && s->first + s->n == i) {
			if (end > s->addr + s->len) {
				bytes += end - (s->addr + s->len);
				s->len = end - s->addr;
			}
			s->n++;
			continue;
		}
		if (nsp == BATCH || bytes + r->len > BATCH_BYTES) {
			if ((err = read_spans(m, sp, nsp, order, buf)))
				goto cleanup;
			nsp = 0;
			bytes = 0;
		}
		sp[nsp++] = (struct span){ r->addr, r->len, i, 1 };
		bytes += r->len;
	}
	err = nsp ? read_spans(m, sp, nsp, order, buf) : 0;
cleanup:
	free(order);
	free(sp);
	free(buf);
	return err;
}
