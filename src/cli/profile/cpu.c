/* SPDX-License-Identifier: MIT */
/* The on-CPU sampler: bpf/profile.bpf.c on a CPU-clock perf event of every CPU (perfev.h),
 * the loops' current-task slots given to it, its ring buffer drained into the store. */
#include "profile/prof.h"
#include "probes/bpfmap.h"
#include "probes/perfev.h"
#include "probes/usdt_attach.h"
#include "target/remote.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "profile.h"
#include "profile.skel.h"

#define WHO "taskscope profile"

struct prof_cpu {
	struct profile_bpf *skel;
	struct tsc_perfev perf;
	struct ring_buffer *rb;
	const struct prof_loops *ls;  /* while draining */
	struct prof_store *store;     /* while draining */
	int32_t *tids;                /* threads given a slot */
	size_t ntids, tids_cap;
	long drained;
};

void prof_cpu_close(struct prof_cpu *c)
{
	if (!c)
		return;
	tsc_perfev_close(&c->perf); /* first: the target is sampled no more */
	ring_buffer__free(c->rb);
	profile_bpf__destroy(c->skel);
	free(c->tids);
	free(c);
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct prof_cpu *c = ctx;
	const struct tsp_sample *s = data;
	if (size < offsetof(struct tsp_sample, pc))
		return 0;
	unsigned n = s->nframes;
	if (n > TSP_MAX_FRAMES)
		n = TSP_MAX_FRAMES;
	uint64_t loop = prof_loops_id(c->ls, (int32_t)s->tid);
	uint64_t task = prof_loops_task(c->ls, s->task, s->fp, s->sp);
	prof_store_add(c->store, task, loop, (const uint64_t *)s->pc, n, c->store->period_ns);
	c->drained++;
	return 0;
}

int prof_cpu_open(struct tsc_remote *r, int hz, struct prof_cpu **out)
{
	struct prof_cpu *c = calloc(1, sizeof(*c));
	int err;
	*out = NULL;
	if (!c)
		return -ENOMEM;
	if (!(c->skel = profile_bpf__open())) {
		err = -errno;
		fprintf(stderr, WHO ": cannot open the sampler's BPF object: %s\n", strerror(-err));
		goto fail;
	}
	c->skel->rodata->targ_tgid = (__u32)r->pid;
	if ((err = profile_bpf__load(c->skel))) {
		tsc_usdt_explain_load(WHO, err);
		goto fail;
	}
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.samples), on_sample, c, NULL);
	if (!c->rb) {
		err = -errno;
		fprintf(stderr, WHO ": cannot open the ring buffer: %s\n", strerror(-err));
		goto fail;
	}
	if ((err = tsc_perfev_attach(&c->perf, c->skel->progs.tsp_sample,
				     1000000000ull / (uint64_t)hz, WHO)))
		goto fail;
	*out = c;
	return 0;
fail:
	prof_cpu_close(c);
	return err;
}

int prof_cpu_slots(struct prof_cpu *c, const struct prof_loops *ls)
{
	int fd = bpf_map__fd(c->skel->maps.slots), err = 0;
	for (size_t i = 0; i < c->ntids; i++) {
		__u32 tid = (__u32)c->tids[i];
		if (!prof_loops_id(ls, c->tids[i]))
			bpf_map_delete_elem(fd, &tid); /* its loop is gone */
	}
	if ((err = tsc_grow((void **)&c->tids, &c->tids_cap, ls->n + 1, sizeof(*c->tids))))
		return err;
	c->ntids = 0;
	for (size_t i = 0; i < ls->n; i++) {
		__u32 tid = (__u32)ls->l[i].tid;
		__u64 slot = ls->l[i].slot;
		if (bpf_map_update_elem(fd, &tid, &slot, BPF_ANY))
			err = -errno;
		else
			c->tids[c->ntids++] = ls->l[i].tid;
	}
	return err;
}

long prof_cpu_drain(struct prof_cpu *c, const struct prof_loops *ls, struct prof_store *s)
{
	c->ls = ls;
	c->store = s;
	c->drained = 0;
	int err = ring_buffer__consume(c->rb);
	return err < 0 ? err : c->drained;
}

int prof_cpu_counters(struct prof_cpu *c, uint64_t *sums, size_t n)
{
	return tsc_bpfmap_percpu_sums(bpf_map__fd(c->skel->maps.counters), sums, n);
}
