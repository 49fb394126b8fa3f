/* SPDX-License-Identifier: MIT */
/*
 * top --exact from the target's event rings (docs/rings.md). The rings probe is held, as
 * record holds it (probes/ringsem.c: the loops write a record in a few ns where the
 * task_switch uprobe costs hundreds), the rings drained every TSC_RINGS_DRAIN_MS through the
 * one reader (target/rings.c), and each thread's SWITCH records replayed into the records
 * that bpf/sampler.bpf.c's tss_switch keeps in BPF maps on the uprobe path (struct
 * tss_thread, a task's time switched in): probes/sampler.c reads either alike and does the
 * CPU accounting once.
 *
 * A ring lapped by its writer (records overwritten before a drain) is counted per type by
 * what it fired and we never got, and its thread resyncs at its next switch: the time in
 * between is credited to no task. The set of tasks needs no resync: the registry is read
 * whole at each refresh.
 */
#include "top/top.h"
#include "cli.h"
#include "probes/bpfmap.h"
#include "probes/ringsem.h"
#include "target/remote.h"
#include "target/rings.h"
#include "target/walk.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sampler.h"

struct xthread {
	int32_t tid;                /* the ring's thread, the target's pid namespace */
	struct tss_thread v;
};

struct top_exact {
	struct tsc_rings *rings;
	int semfd;                  /* the rings probe, held */
	uint64_t attach_ns;         /* the rings on from then (as the BPF side's attach_ns) */
	uint64_t last_scan;
	struct xthread th[TSC_RINGS_MAX]; /* a thread per ring at most: a ring has one tid */
	size_t nth;
	struct tsc_idmap th_idx;    /* tid -> index in th */
	struct tsc_idmap tasks;     /* task id -> ns switched in, up to its last switch out */
	uint64_t full;              /* records not kept: TSS_MAX_TASKS tasks, or no memory */
	uint64_t gaps;              /* resyncs: a thread's records overwritten before read */
};

static struct tss_thread *thread_get(struct top_exact *x, int32_t tid)
{
	uint64_t key = (uint32_t)tid;
	uint64_t *k = tsc_idmap_get(&x->th_idx, key);
	if (k)
		return &x->th[*k].v;
	if (!key || x->nth == TSC_RINGS_MAX || tsc_idmap_put(&x->th_idx, key, x->nth)) {
		x->full++;
		return NULL;
	}
	x->th[x->nth] = (struct xthread){ .tid = tid };
	return &x->th[x->nth++].v;
}

static void credit(struct top_exact *x, uint64_t id, uint64_t ns)
{
	uint64_t *v = tsc_idmap_get(&x->tasks, id);
	if (v)
		*v += ns;
	else if (x->tasks.n >= TSS_MAX_TASKS || tsc_idmap_put(&x->tasks, id, ns))
		x->full++;
}

/* tss_switch's accounting (bpf/sampler.bpf.c), at the record's time. */
static void on_switch(struct top_exact *x, const struct tsc_event *ev)
{
	struct tss_thread *th = thread_get(x, ev->tid);
	uint64_t now = ev->ts_ns;
	if (!th)
		return;
	/* the first switch seen: prev has run since the rings came on, at least */
	if (!th->since_ns && ev->sw.prev && x->attach_ns && x->attach_ns < now) {
		th->current = ev->sw.prev;
		th->since_ns = x->attach_ns;
	}
	if (th->current && th->since_ns && now > th->since_ns) {
		credit(x, th->current, now - th->since_ns);
		th->run_ns += now - th->since_ns;
	}
	th->current = ev->sw.next;
	th->since_ns = now;
	th->switches++;
}

/* What ran on the thread from now until its next switch is not known: nothing is credited
 * (since_ns set: the first-switch rule above is for the start only). */
static void resync(struct top_exact *x, const struct tsc_event *ev)
{
	struct tss_thread *th = thread_get(x, ev->tid);
	if (!th)
		return;
	th->current = 0;
	th->since_ns = ev->ts_ns ? ev->ts_ns : 1;
}

static int on_event(void *ctx, const struct tsc_event *ev)
{
	struct top_exact *x = ctx;
	switch (ev->type) {
	case TSC_EV_SWITCH:
		on_switch(x, ev);
		break;
	case TSC_EV_LOST:
		x->gaps++;
		resync(x, ev);
		break;
	case TSC_EV_THREAD_START:
	case TSC_EV_THREAD_STOP:
		/* a loop begins or ends on the thread: its id may be another loop's next */
		resync(x, ev);
		break;
	}
	return 0;
}

int top_exact_open(struct tsc_remote *r, struct top_exact **out)
{
	struct top_exact *x = calloc(1, sizeof(*x));
	int err;
	*out = NULL;
	if (!x)
		return -ENOMEM;
	x->semfd = -1;
	if ((err = tsc_idmap_reset(&x->th_idx, 16, tsc_hash_key)) ||
	    (err = tsc_idmap_reset(&x->tasks, 1024, tsc_hash_key)))
		goto cleanup;
	/* the rings as they are, then the probe held: what the loops write from then on */
	if ((err = tsc_rings_new(r->mem, &r->desc, TSC_RINGS_FROM_NOW, &x->rings)) ||
	    (err = tsc_rings_scan(x->rings)))
		goto cleanup;
	tsc_rings_mark_gaps(x->rings);
	x->semfd = tsc_ringsem_hold("taskscope top", tsc_remote_binary(r), r->pid);
	if (x->semfd < 0) {
		err = x->semfd == -ENOENT ? -ENOTSUP : x->semfd;
		goto cleanup;
	}
	x->attach_ns = x->last_scan = tsc_now_ns();
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
	tsc_idmap_free(&x->th_idx);
	tsc_idmap_free(&x->tasks);
	free(x);
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
	return tsc_rings_drain(x->rings, 0, on_event, x);
}

void top_exact_counts(const struct top_exact *x, struct top_exact_counts *c)
{
	struct tsc_ring_stats sum;
	uint64_t lost[TSC_EV_EVENTS_NR + 1];
	tsc_rings_totals(x->rings, &sum, lost);
	memset(c, 0, sizeof(*c));
	c->created = sum.fired[TSC_EV_CREATE];
	c->finished = sum.fired[TSC_EV_FINISH];
	c->renamed = sum.fired[TSC_EV_RENAME];
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++) {
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

int top_exact_thread(const struct top_exact *x, int32_t tid, struct tss_thread *out)
{
	uint64_t *k = tsc_idmap_get(&x->th_idx, (uint32_t)tid);
	if (!k)
		return -ENOENT;
	*out = x->th[*k].v;
	return 0;
}

uint64_t top_exact_attach_ns(const struct top_exact *x)
{
	return x->attach_ns;
}

void top_exact_seed(struct top_exact *x, uint64_t id)
{
	if (id && !tsc_idmap_get(&x->tasks, id))
		credit(x, id, 0);
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

void top_exact_forget(struct top_exact *x, const uint64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tsc_idmap_del(&x->tasks, ids[i]);
}

void top_exact_forget_thread(struct top_exact *x, int32_t tid)
{
	uint64_t *k = tsc_idmap_get(&x->th_idx, (uint32_t)tid);
	if (!k)
		return;
	size_t i = *k;
	tsc_idmap_del(&x->th_idx, (uint32_t)tid);
	if (i != --x->nth) {
		x->th[i] = x->th[x->nth];
		uint64_t *moved = tsc_idmap_get(&x->th_idx, (uint32_t)x->th[i].tid);
		if (moved)
			*moved = i;
	}
}
