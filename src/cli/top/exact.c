/* SPDX-License-Identifier: MIT */
/*
 * top --exact from the target's event rings (docs/rings.md). The rings probe is held, as
 * record holds it (probes/ringsem.c: the loops write a record in a few ns where the
 * task_switch uprobe costs hundreds), the rings drained through the one reader
 * (target/rings.c) before a ring would wrap, and their events replayed by top/replay.c into
 * the records probes/sampler.c reads, as it reads the BPF maps on the uprobe path.
 *
 * What each ring fired is the counters (exact, lost records or not); what it fired and we
 * never got is the loss, per type. The set of tasks needs no resync: the registry is read
 * whole at each refresh.
 */
#include "top/exact.h"
#include "cli.h"
#include "probes/bpfmap.h"
#include "probes/ringsem.h"
#include "target/remote.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int top_exact_open(struct tsc_remote *r, struct top_exact **out)
{
	struct top_exact *x = calloc(1, sizeof(*x));
	int err;
	*out = NULL;
	if (!x)
		return -ENOMEM;
	x->semfd = -1;
	if ((err = top_replay_init(x, 0)))
		goto cleanup;
	/* the rings as they are, then the probe held: what the loops write from then on */
	if ((err = tsc_rings_new(r->mem, &r->desc, TSC_RINGS_FROM_NOW, &x->rings)))
		goto cleanup;
	tsc_rings_map(x->rings, r->procfd, 0); /* as record: a copy at memory speed, no syscall */
	if ((err = tsc_rings_scan(x->rings)))
		goto cleanup;
	tsc_rings_mark_gaps(x->rings);
	x->semfd = tsc_ringsem_hold("taskscope top", tsc_remote_binary(r), r->pid);
	if (x->semfd < 0) {
		err = x->semfd == -ENOENT ? -ENOTSUP : x->semfd;
		goto cleanup;
	}
	x->attach_ns = x->last_scan = x->read_ns = tsc_now_ns();
	*out = x;
	return 0;
cleanup:
	top_exact_close(x);
	return err;
}

void top_exact_close(struct top_exact *x)
{
	if (!x)
		return;
	if (x->semfd >= 0)
		close(x->semfd);
	tsc_rings_free(x->rings);
	top_replay_free(x);
	free(x);
}

/* The next drain comes before the busiest ring, at the pace of the last interval, fills a
 * quarter of its slots (a record is one slot mostly): within TSC_RINGS_DRAIN_MS, as record
 * drains, and down to MIN_PERIOD_NS for a ring as fast as a ping-pong (a 16 MiB ring holds
 * about 5 ms of one here), below which top could not decode as fast anyway. */
#define MIN_PERIOD_NS 1000000ull
static uint64_t next_period(struct top_exact *x, uint64_t dt)
{
	uint64_t period = TSC_RINGS_DRAIN_MS * 1000000ull;
	for (size_t i = 0; i < tsc_rings_count(x->rings) && i < TSC_RINGS_MAX; i++) {
		struct tsc_ring_stats st;
		uint64_t fired = 0;
		tsc_rings_stats(x->rings, i, &st);
		for (int t = 1; t < TSC_EV_NR; t++)
			fired += st.fired[t];
		uint64_t d = fired - x->fired[i];
		x->fired[i] = fired;
		/* d records in dt ns: a quarter of the ring in nslots / 4 * dt / d */
		if (d && dt && !st.bad && (double)st.nslots / 4 * (double)dt / (double)d < period)
			period = (uint64_t)((double)st.nslots / 4 * (double)dt / (double)d);
	}
	return period < MIN_PERIOD_NS ? MIN_PERIOD_NS : period;
}

long top_exact_drain(struct top_exact *x)
{
	uint64_t now = tsc_now_ns();
	if (now - x->last_scan >= TSC_RINGS_SCAN_NS) {
		int err = tsc_rings_scan(x->rings);
		if (err)
			return err;
		x->last_scan = now;
	}
	uint64_t prev = x->read_ns;
	top_replay_begin(x, tsc_now_ns());
	long n = tsc_rings_drain(x->rings, 0, top_replay_event, x);
	if (n >= 0)
		x->period_ns = next_period(x, x->read_ns - prev);
	return n;
}

uint64_t top_exact_period_ns(const struct top_exact *x)
{
	return x->period_ns;
}

void top_exact_counts(const struct top_exact *x, struct top_exact_counts *c)
{
	struct tsc_ring_stats sum;
	uint64_t lost[TSC_EV_NR];
	tsc_rings_totals(x->rings, &sum, lost);
	memset(c, 0, sizeof(*c));
	c->created = sum.fired[TSC_EV_CREATE];
	c->finished = sum.fired[TSC_EV_FINISH];
	c->renamed = sum.fired[TSC_EV_RENAME];
	for (int t = 1; t < TSC_EV_NR; t++) {
		c->events += sum.fired[t];
		/* fired is read after head: a record written meanwhile is in it and not yet
		 * received, which is no loss. Only a ring that lost slots lost events. */
		if (sum.lapped || sum.malformed || sum.partial)
			c->lost += lost[t];
	}
	c->malformed = sum.malformed;
	c->full = x->full;
	c->resyncs = x->gaps;
	c->error = tsc_rings_error(x->rings);
}

int top_exact_tasks(const struct top_exact *x, struct tsc_bpfmap_dump *d)
{
	for (size_t i = 0; i < x->tasks.cap; i++) {
		const struct tsc_idmap_slot *sl = &x->tasks.slot[i];
		const struct tss_task v = { .cpu_ns = sl->val };
		int err;
		if (sl->key && (err = tsc_bpfmap_dump_append(d, &sl->key, &v)))
			return err;
	}
	return 0;
}
