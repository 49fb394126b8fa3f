/* SPDX-License-Identifier: MIT */
/* A mapped ring's backlog: a circular buffer mapped twice in a row (backlog.h). */
#include "target/backlog.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define SLOT 32

int tsc_backlog_new(struct tsc_backlog *b, uint64_t cap, int populate)
{
	b->slots = NULL;
	b->cap = 0;
	cap = (cap + 127) & ~127ull;
	if (!cap || cap > (1ull << 30) / SLOT)
		return -EINVAL;
	size_t len = cap * SLOT;
	int err = 0, fd = memfd_create("taskscope-backlog", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* the address space for both views at once, then the file over each half */
	uint8_t *base = mmap(NULL, 2 * len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			     -1, 0);
	if (base == MAP_FAILED) {
		err = -errno;
		goto cleanup;
	}
	if (ftruncate(fd, (off_t)len) ||
	    mmap(base, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
	    mmap(base + len, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
		    MAP_FAILED) {
		err = -errno;
		munmap(base, 2 * len);
		goto cleanup;
	}
	/* best effort: without it the first lap faults its pages in as it goes (the second
	 * view is only ever reached across the wrap: its page tables fill as that happens) */
	if (populate)
		madvise(base, len, MADV_POPULATE_WRITE);
	b->slots = (uint64_t *)base;
	b->cap = cap;
cleanup:
	close(fd);
	return err;
}

void tsc_backlog_free(struct tsc_backlog *b)
{
	if (b->slots)
		munmap(b->slots, 2 * b->cap * SLOT);
	b->slots = NULL;
	b->cap = 0;
}
