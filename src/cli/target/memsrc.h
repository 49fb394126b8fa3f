/* SPDX-License-Identifier: MIT */
/*
 * A memory source: "a process's memory and files", what the registry reader (registry.c,
 * remote.c's descriptor), the unwinder (unwind.c) and the symbolizer (symbolize.c) read,
 * whatever holds them. Everything that comes through it is hostile input.
 *
 * Today one implementation: the live process (memsrc_live.c: process_vm_readv in batches,
 * its mappings from /proc/PID/maps, its files through /proc/PID/root or map_files, the
 * process pinned by remote.c's pidfd).
 *
 * A core file (memsrc_core.c, core.h): its PT_LOAD segments, and what the dump left out from
 * the files NT_FILE names, checked against the build-ids in the dump; maps from NT_FILE;
 * threads from NT_PRSTATUS; frozen: nothing moves, so the registry walk never retries.
 *
 * The next ones are each a new file that fills a struct tsc_memsrc_ops, with a constructor
 * beside tsc_memsrc_live_new, and no change to the readers:
 *   - the in-process event rings: read from the copy of the rings' memory that was drained,
 *     -ENOTSUP for the files.
 * An operation a source cannot do answers -ENOTSUP (vma_at: then the reader lists maps).
 */
#ifndef TSC_MEMSRC_H
#define TSC_MEMSRC_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "target/maps.h"

struct tsc_tidmap;

/* One range to read: [addr, addr + len) of the source into buf. */
struct tsc_mem_req {
	uint64_t addr;
	void *buf;
	size_t len;
	int ok;                        /* out: 1 when fully read */
};

struct tsc_memsrc_ops {
	/* Read each request it can (ok says which). 0 when every one was tried, or -errno when
	 * the source cannot be read at all (-ESRCH: the process is gone; -EPERM: no access). */
	int (*read)(void *ctx, struct tsc_mem_req *req, size_t n);
	/* The file-backed mappings, in address order (tsc_maps_free frees them). */
	int (*maps)(void *ctx, struct tsc_maps *m);
	/* The file mapping covering addr, its path copied into path[0..n): 0, -ENOENT when none
	 * does, -ENOTSUP when the source cannot answer for one address alone. */
	int (*vma_at)(void *ctx, uint64_t addr, struct tsc_vma *v, char *path, size_t n);
	/* The file of mapping v (found by its address or its path), read-only and verified to be
	 * the one mapped; `here` gets the path it was opened by. An fd, or -errno. */
	int (*open_file)(void *ctx, const struct tsc_vma *v, char *here, size_t n);
	/* Its threads: the map from the ids the runtime recorded (its own pid namespace) to
	 * ours, which also says which threads it has (tids.h). 0 or -errno. */
	int (*threads)(void *ctx, struct tsc_tidmap *t);
	void (*free)(void *ctx);
};

struct tsc_memsrc {
	const struct tsc_memsrc_ops *ops;
	void *ctx;
	/* 1: nothing in it ever changes (a core file), so a read that did not hold still will
	 * not hold still when done again: no retries, no waiting */
	int frozen;
};

static inline int tsc_mem_read(const struct tsc_memsrc *m, struct tsc_mem_req *req, size_t n)
{
	return m->ops->read(m->ctx, req, n);
}

/* One range: 0, -EFAULT when not fully readable, or -errno as above. */
static inline int tsc_mem_read1(const struct tsc_memsrc *m, uint64_t addr, void *buf, size_t len)
{
	struct tsc_mem_req q = { .addr = addr, .buf = buf, .len = len };
	int err = m->ops->read(m->ctx, &q, 1);
	return err ? err : q.ok ? 0 : -EFAULT;
}

/* Many small requests that mostly lie close together (tasks on a heap), for any source:
 * reads spans covering several at once, and the requests of a span that fails one by one. */
int tsc_mem_read_many(const struct tsc_memsrc *m, struct tsc_mem_req *req, size_t n);

static inline int tsc_mem_maps(const struct tsc_memsrc *m, struct tsc_maps *out)
{
	return m->ops->maps ? m->ops->maps(m->ctx, out) : -ENOTSUP;
}

static inline int tsc_mem_vma_at(const struct tsc_memsrc *m, uint64_t addr, struct tsc_vma *v,
				 char *path, size_t n)
{
	return m->ops->vma_at ? m->ops->vma_at(m->ctx, addr, v, path, n) : -ENOTSUP;
}

static inline int tsc_mem_open_file(const struct tsc_memsrc *m, const struct tsc_vma *v,
				    char *here, size_t n)
{
	return m->ops->open_file ? m->ops->open_file(m->ctx, v, here, n) : -ENOTSUP;
}

static inline int tsc_mem_threads(const struct tsc_memsrc *m, struct tsc_tidmap *t)
{
	return m->ops->threads ? m->ops->threads(m->ctx, t) : -ENOTSUP;
}

void tsc_memsrc_free(struct tsc_memsrc *m); /* accepts NULL */

/* The live process r pins (remote.h), which must outlive the source. Returns 0 or -errno. */
struct tsc_remote;
int tsc_memsrc_live_new(struct tsc_remote *r, struct tsc_memsrc **out);

#endif
