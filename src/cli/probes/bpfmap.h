/* SPDX-License-Identifier: MIT */
/* Reading BPF maps from user space, for every BPF object of the CLI: a per-CPU array of
 * counters summed over CPUs, and a whole hash map by batches. */
#ifndef TSC_BPFMAP_H
#define TSC_BPFMAP_H

#include <stddef.h>
#include <stdint.h>

/* sums[i] = entry i (a __u64 per CPU) of the per-CPU array fd summed over the possible CPUs,
 * for i < n. 0 or -errno. */
int tsc_bpfmap_percpu_sums(int fd, uint64_t *sums, uint32_t n);

/* Every (key, value) of a hash map: len pairs, keys of ksz bytes in k, values of vsz in v
 * (set ksz and vsz, zero the rest; free k and v after). */
struct tsc_bpfmap_dump {
	char *k, *v;
	size_t ksz, vsz, len, cap;
};
/* Append to d (reset len to reuse its room) the entries of the hash map fd: by batches (one syscall per thousands of entries), or key by
 * key where the kernel lacks batch lookups. The map may change while we read it: entries may
 * be missed or seen twice. 0 or -errno. */
int tsc_bpfmap_dump(int fd, struct tsc_bpfmap_dump *d);
void tsc_bpfmap_dump_free(struct tsc_bpfmap_dump *d);
/* Append one entry (ksz and vsz bytes) to d, as a dump would: 0 or -ENOMEM. */
int tsc_bpfmap_dump_append(struct tsc_bpfmap_dump *d, const void *k, const void *v);

#endif
