/* SPDX-License-Identifier: MIT */
/* Reading BPF maps from user space: per-CPU counters, whole hash maps. */
#include "probes/bpfmap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

int tsc_bpfmap_percpu_sums(int fd, uint64_t *sums, uint32_t n)
{
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	uint64_t *per = calloc((size_t)ncpu, sizeof(*per));
	if (!per)
		return -ENOMEM;
	int err = 0;
	for (__u32 c = 0; c < n; c++) {
		sums[c] = 0;
		if (bpf_map_lookup_elem(fd, &c, per)) {
			err = -errno;
			break;
		}
		for (int i = 0; i < ncpu; i++)
			sums[c] += per[i];
	}
	free(per);
	return err;
}

static int kv_room(struct tsc_bpfmap_dump *d, size_t want)
{
	if (d->cap - d->len >= want)
		return 0;
	size_t cap = d->cap ? d->cap : 1024;
	while (cap - d->len < want)
		cap *= 2;
	char *k = realloc(d->k, cap * d->ksz);
	if (!k)
		return -ENOMEM;
	d->k = k;
	char *v = realloc(d->v, cap * d->vsz);
	if (!v)
		return -ENOMEM;
	d->v = v;
	d->cap = cap;
	return 0;
}

int tsc_bpfmap_dump_append(struct tsc_bpfmap_dump *d, const void *k, const void *v)
{
	int err = kv_room(d, 1);
	if (err)
		return err;
	memcpy(d->k + d->len * d->ksz, k, d->ksz);
	memcpy(d->v + d->len * d->vsz, v, d->vsz);
	d->len++;
	return 0;
}

int tsc_bpfmap_dump(int fd, struct tsc_bpfmap_dump *d)
{
	uint64_t in = 0, outb = 0; /* a hash map's batch token is a u32 bucket index */
	bool first = true;
	size_t chunk = 4096;
	int err;

	for (;;) {
		if ((err = kv_room(d, chunk)))
			return err;
		__u32 count = (__u32)(d->cap - d->len); /* all the room: at least chunk */
		err = bpf_map_lookup_batch(fd, first ? NULL : &in, &outb, d->k + d->len * d->ksz,
					   d->v + d->len * d->vsz, &count, NULL);
		if (err)
			err = -errno;
		if (err == -ENOSPC && chunk < (1u << 24)) {
			chunk *= 2; /* one bucket holds more than chunk entries */
			continue;
		}
		if (err && err != -ENOENT) {
			if (first && (err == -EINVAL || err == -ENOTSUP || err == -EOPNOTSUPP))
				break;
			return err;
		}
		d->len += count;
		if (err == -ENOENT)
			return 0;
		in = outb;
		first = false;
	}

	/* no batch lookups: key by key */
	d->len = 0;
	void *cur = NULL;
	char next[16];
	while (bpf_map_get_next_key(fd, cur, next) == 0) {
		if ((err = kv_room(d, 1)))
			return err;
		char *k = d->k + d->len * d->ksz;
		memcpy(k, next, d->ksz);
		if (bpf_map_lookup_elem(fd, k, d->v + d->len * d->vsz) == 0)
			d->len++;
		cur = k; /* still a valid key to continue from, even if its lookup failed */
	}
	return 0;
}

void tsc_bpfmap_dump_free(struct tsc_bpfmap_dump *d)
{
	free(d->k);
	free(d->v);
	d->k = d->v = NULL;
	d->len = d->cap = 0;
}
