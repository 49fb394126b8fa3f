/* SPDX-License-Identifier: MIT */
/*
 * The live process as a memory source (memsrc.h): its memory with process_vm_readv, many
 * ranges per call (no ptrace stop, nothing executed in it); its mappings from /proc/PID/maps;
 * its files as remote.c opens them (through its root, or map_files), verified to be the ones
 * mapped. The process is the one remote.c pinned with a pidfd.
 */
#include "probes/compat.h"
#include "target/memsrc.h"
#include "target/remote.h"
#include "target/tids.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#define BATCH 1024 /* UIO_MAXIOV */

struct live {
	struct tsc_remote *r;
	int mapsfd;                    /* /proc/PID/maps, for one address's mapping; -1 */
};

/* The kernel stops at the first request it cannot read whole: the reading goes on after it. */
static int live_read(void *ctx, struct tsc_mem_req *req, size_t n)
{
	struct live *L = ctx;
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
		ssize_t r = process_vm_readv(L->r->pid, local, k, remote, k, 0);
		if (r < 0) {
			if (errno != EFAULT)
				return -errno;
			i++; /* nothing read: the first request is the bad one */
			continue;
		}
		size_t done = 0, j = 0;
		for (; j < k && done + req[i + j].len <= (size_t)r; j++) {
			done += req[i + j].len;
			req[i + j].ok = 1;
		}
		i += j < k ? j + 1 : j;
	}
	return 0;
}

static int live_maps(void *ctx, struct tsc_maps *m)
{
	struct live *L = ctx;
	return tsc_maps_read(L->r->procfd, m);
}

/* PROCMAP_QUERY (compat.h): the mapping covering one address, without listing the others. A
 * process with thousands of task stacks has thousands of anonymous mappings, and listing them
 * costs milliseconds. */
static int live_vma_at(void *ctx, uint64_t addr, struct tsc_vma *v, char *path, size_t n)
{
	struct live *L = ctx;
	if (L->mapsfd < 0 && (L->mapsfd = openat(L->r->procfd, "maps", O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	struct tsc_procmap_query q = {
		.size = sizeof(q),
		.query_flags = TSC_PROCMAP_FILE_BACKED,
		.query_addr = addr,
		.vma_name_addr = (uint64_t)(uintptr_t)path,
		.vma_name_size = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n,
	};
	int r = ioctl(L->mapsfd, TSC_PROCMAP_QUERY, &q);
	if (r && errno == ENAMETOOLONG) { /* a path past PATH_MAX: map_files needs none */
		q.vma_name_addr = 0;
		q.vma_name_size = 0;
		r = ioctl(L->mapsfd, TSC_PROCMAP_QUERY, &q);
	}
	if (r)
		return errno == ENOTTY || errno == EINVAL ? -ENOTSUP : -errno;
	if (q.vma_start > addr || q.vma_end <= addr)
		return -ENOENT;
	*v = (struct tsc_vma){
		.start = q.vma_start, .end = q.vma_end, .offset = q.vma_offset, .inode = q.inode,
		.dev_major = q.dev_major, .dev_minor = q.dev_minor,
		.exec = !!(q.vma_flags & TSC_PROCMAP_VMA_EXECUTABLE),
		.path = path,
	};
	if (!q.vma_name_size && n)
		path[0] = 0;
	return 0;
}

static int live_open_file(void *ctx, const struct tsc_vma *v, char *here, size_t n)
{
	struct live *L = ctx;
	return tsc_remote_open_file(L->r, v, here, n);
}

static int live_threads(void *ctx, struct tsc_tidmap *t)
{
	struct live *L = ctx;
	return tsc_tidmap_read(L->r->procfd, t);
}

static void live_free(void *ctx)
{
	struct live *L = ctx;
	if (L->mapsfd >= 0)
		close(L->mapsfd);
	free(L);
}

static const struct tsc_memsrc_ops live_ops = {
	.read = live_read,
	.maps = live_maps,
	.vma_at = live_vma_at,
	.open_file = live_open_file,
	.threads = live_threads,
	.free = live_free,
};

int tsc_memsrc_live_new(struct tsc_remote *r, struct tsc_memsrc **out)
{
	struct tsc_memsrc *m = calloc(1, sizeof(*m));
	struct live *L = calloc(1, sizeof(*L));
	*out = NULL;
	if (!m || !L) {
		free(m);
		free(L);
		return -ENOMEM;
	}
	L->r = r;
	L->mapsfd = -1;
	m->ops = &live_ops;
	m->ctx = L;
	*out = m;
	return 0;
}
