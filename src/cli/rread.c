/* SPDX-License-Identifier: MIT */
/* Batched process_vm_readv: many requests per call, and which ones failed. */
#include "remote.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define BATCH 1024 /* UIO_MAXIOV */

int tsc_rread(int pid, struct tsc_rreq *req, size_t n)
{
	struct iovec local[BATCH], remote[BATCH];
	size_t i = 0;
	while (i < n) {
		size_t k = n - i < BATCH ? n - i : BATCH;
		for (size_t j = 0; j < k; j++) {
			local[j].iov_base = req[i + j].buf;
			local[j].iov_len = req[i + j].len;
			remote[j].iov_base = (void *)(uintptr_t)req[i + j].addr;
			remote[j].iov_len = req[i + j].len;
			req[i + j].ok = 0;
		}
		ssize_t r = process_vm_readv(pid, local, k, remote, k, 0);
		if (r < 0) {
			if (errno != EFAULT)
				return -errno;
			i++; /* nothing read: the first request is the bad one */
			continue;
		}
		/* the kernel stops at the first request it cannot read whole */
		size_t done = 0, j = 0;
		for (; j < k && done + req[i + j].len <= (size_t)r; j++) {
			done += req[i + j].len;
			req[i + j].ok = 1;
		}
		i += j < k ? j + 1 : j;
	}
	return 0;
}

int tsc_rread1(int pid, uint64_t addr, void *buf, size_t len)
{
	struct tsc_rreq q = { .addr = addr, .buf = buf, .len = len };
	int err = tsc_rread(pid, &q, 1);
	return err ? err : q.ok ? 0 : -EFAULT;
}

/* Spans of nearby requests read as one: the kernel pins pages per request, so 100k small
 * reads cost far more than a few big ones over the same heap. */
#define SPAN_GAP 2048             /* bytes of gap worth reading through rather than a new read */
#define SPAN_MAX (1u << 20)       /* bytes per span */
#define BATCH_BYTES (1u << 20)    /* bytes read per round: a buffer reused, so few page faults */

static int cmp_addr(const void *a, const void *b)
{
	const struct tsc_rreq *x = *(const struct tsc_rreq *const *)a;
	const struct tsc_rreq *y = *(const struct tsc_rreq *const *)b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

struct span {
	uint64_t addr;
	size_t len, first, n;     /* requests order[first .. first + n) */
};

/* Read a batch of spans; copy each request out of its span, or read the requests of a span
 * that failed one by one. */
static int read_spans(int pid, struct span *sp, size_t nsp, struct tsc_rreq **order,
		      unsigned char *buf)
{
	struct tsc_rreq q[BATCH];
	size_t off = 0;
	int err;
	for (size_t i = 0; i < nsp; i++) {
		q[i] = (struct tsc_rreq){ sp[i].addr, buf + off, sp[i].len };
		off += sp[i].len;
	}
	if ((err = tsc_rread(pid, q, nsp)))
		return err;
	for (size_t i = 0; i < nsp; i++) {
		struct tsc_rreq **r = order + sp[i].first;
		if (!q[i].ok) {
			for (size_t k = 0; k < sp[i].n; k++)
				if ((err = tsc_rread(pid, r[k], 1)))
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

int tsc_rread_many(int pid, struct tsc_rreq *req, size_t n)
{
	struct tsc_rreq **order = malloc((n ? n : 1) * sizeof(*order));
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
		struct tsc_rreq *r = order[i];
		struct span *s = nsp ? &sp[nsp - 1] : NULL;
		if (r->len > SPAN_MAX) { /* big ones alone, as they are */
			if ((err = tsc_rread(pid, r, 1)))
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
			if ((err = read_spans(pid, sp, nsp, order, buf)))
				goto cleanup;
			nsp = 0;
			bytes = 0;
		}
		sp[nsp++] = (struct span){ r->addr, r->len, i, 1 };
		bytes += r->len;
	}
	err = nsp ? read_spans(pid, sp, nsp, order, buf) : 0;
cleanup:
	free(order);
	free(sp);
	free(buf);
	return err;
}
