/* SPDX-License-Identifier: MIT */
/* Batched process_vm_readv: many requests per call, and which ones failed. */
#include "remote.h"

#include <errno.h>
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
