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
 *
 * Scheduling latency, per thread and refresh: from a task's READY record (woken or started)
 * or its WAIT of reason yield (ready again at once) to the SWITCH into it, both written by its
 * loop's thread, as dump --summary counts it (trace/state.c). A ready instant from before a
 * lost stretch of that thread's ring is not used: the task may have run and waited again in
 * it.
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
#include <taskscope/taskscope.h>

#include "sampler.h"

struct xthread {
	int32_t tid;                /* the ring's thread, the target's pid namespace */
	struct tss_thread v;
	uint64_t last_ns;           /* its last record's time: its state held until then */
	/* time no record tells of: from the last record before a lost stretch of its ring to
	 * the first switch after it */
	uint64_t gap_ns, gap_since; /* up to gap_since, and since then (0: none now) */
	uint64_t resync_ns;         /* its first record after its last lost stretch */
	struct tsc_lat lat;         /* scheduling latency since the last refresh */
};

/* Samples kept per refresh (the percentiles are of those; count and max of every one), per
 * thread and in all: 1 MiB and 8 MiB; a thread's room above LAT_ROOM goes at each refresh. */
#define LAT_KEEP (1u << 18)
#define LAT_KEEP_ALL (1u << 21)
#define LAT_ROOM (1u << 16)

struct top_exact {
	struct tsc_rings *rings;
	int semfd;                  /* the rings probe, held */
	uint64_t attach_ns;         /* the rings on from then (as the BPF side's attach_ns) */
	uint64_t last_scan;
	uint64_t read_ns;           /* the last drain began: every record before is read */
	uint64_t prev_read_ns;      /* ... and the one before it */
	uint64_t fired[TSC_RINGS_MAX]; /* each ring's records, as of that drain */
	uint64_t period_ns;         /* the next drain is due this long after it */
	struct xthread th[TSC_RINGS_MAX]; /* a thread per ring at most: a ring has one tid */
	size_t nth;
	struct tsc_idmap th_idx;    /* tid -> index in th */
	struct tsc_idmap tasks;     /* task id -> ns switched in, up to its last switch out */
	struct tsc_idmap ready;     /* task id -> since when it is ready, not switched in yet */
	uint64_t full;              /* records not kept: TSS_MAX_TASKS tasks, or no memory */
	uint64_t lat_kept;          /* latency samples kept since the last refresh */
	uint64_t gaps;              /* resyncs: a thread's records overwritten before read */
};

static struct xthread *thread_get(struct top_exact *x, int32_t tid)
{
	uint64_t key = (uint32_t)tid;
	uint64_t *k = tsc_idmap_get(&x->th_idx, key);
	if (k)
		return &x->th[*k];
	if (!key || x->nth == TSC_RINGS_MAX || tsc_idmap_put(&x->th_idx, key, x->nth)) {
		x->full++;
		return NULL;
	}
	x->th[x->nth] = (struct xthread){ .tid = tid };
	return &x->th[x->nth++];
}

static void credit(struct top_exact *x, uint64_t id, uint64_t ns)
{
	uint64_t *v = tsc_idmap_get(&x->tasks, id);
	if (v)
		*v += ns;
	else if (x->tasks.n >= TSS_MAX_TASKS || tsc_idmap_put(&x->tasks, id, ns))
		x->full++;
}

/* id became ready at ts (0: it is not ready any more). */
static void set_ready(struct top_exact *x, uint64_t id, uint64_t ts)
{
	uint64_t *v = tsc_idmap_get(&x->ready, id);
	if (!ts)
		tsc_idmap_del(&x->ready, id);
	else if (v)
		*v = ts;
	else if (x->ready.n >= TSS_MAX_TASKS || tsc_idmap_put(&x->ready, id, ts))
		x->full++;
}

/* next switched in on xt's thread at ts: its scheduling latency, when we know since when it
 * was ready. */
static void switched_in(struct top_exact *x, struct xthread *xt, uint64_t next, uint64_t ts)
{
	uint64_t *v = tsc_idmap_get(&x->ready, next);
	if (!v)
		return;
	uint64_t since = *v;
	tsc_idmap_del(&x->ready, next);
	if (since < xt->resync_ns || ts < since)
		return;
	int keep = xt->lat.n + xt->lat.nbig < LAT_KEEP && x->lat_kept < LAT_KEEP_ALL;
	if (tsc_lat_add(&xt->lat, ts - since, keep) > 0)
		x->lat_kept++;
}

/* tss_switch's accounting (bpf/sampler.bpf.c), at the record's time. */
static void on_switch(struct top_exact *x, struct xthread *xt, const struct tsc_event *ev)
{
	struct tss_thread *th = &xt->v;
	uint64_t now = ev->ts_ns;
	if (xt->gap_since) {
		xt->gap_ns += now > xt->gap_since ? now - xt->gap_since : 0;
		xt->gap_since = 0;
	}
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
	if (ev->sw.next)
		switched_in(x, xt, ev->sw.next, now);
}

/* What runs on the thread until its next switch is not known. After a lost stretch, the task
 * switched in ran until the last drain at least (every record before it was read, and what
 * a refresh credited it up to then stays credited); from then on nothing is credited
 * (since_ns set: the first-switch rule above is for the start only), and that time is left
 * out of what the thread's known time stands for (top_exact_gap_ns). */
static void resync(struct top_exact *x, struct xthread *xt, const struct tsc_event *ev, int gap)
{
	struct tss_thread *th = &xt->v;
	uint64_t end = !gap ? ev->ts_ns : xt->last_ns > x->prev_read_ns ? xt->last_ns :
		       x->prev_read_ns;
	if (th->current && th->since_ns && end > th->since_ns) {
		credit(x, th->current, end - th->since_ns);
		th->run_ns += end - th->since_ns;
	}
	th->current = 0;
	th->since_ns = end ? end : 1;
	if (gap && !xt->gap_since)
		xt->gap_since = th->since_ns;
}

static int on_event(void *ctx, const struct tsc_event *ev)
{
	struct top_exact *x = ctx;
	struct xthread *xt = thread_get(x, ev->tid);
	if (!xt)
		return 0;
	switch (ev->type) {
	case TSC_EV_SWITCH:
		on_switch(x, xt, ev);
		break;
	case TSC_EV_LOST:
		x->gaps++;
		resync(x, xt, ev, 1);
		xt->resync_ns = ev->ts_ns;
		return 0; /* its time is the next record's */
	case TSC_EV_READY:
		set_ready(x, ev->ready.id, ev->ts_ns);
		break;
	case TSC_EV_WAIT:
		/* a yield is ready at once; any other wait ends a ready time held */
		set_ready(x, ev->wait.id, ev->wait.reason == TS_WAIT_YIELD ? ev->ts_ns : 0);
		break;
	case TSC_EV_FINISH:
		set_ready(x, ev->finish.id, 0);
		break;
	case TSC_EV_THREAD_START:
	case TSC_EV_THREAD_STOP:
		/* a loop begins or ends on the thread: its id may be another loop's next */
		resync(x, xt, ev, 0);
		break;
	}
	xt->last_ns = ev->ts_ns;
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
	    (err = tsc_idmap_reset(&x->tasks, 1024, tsc_hash_key)) ||
	    (err = tsc_idmap_reset(&x->ready, 1024, tsc_hash_key)))
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
	for (size_t i = 0; i < x->nth; i++)
		tsc_lat_free(&x->th[i].lat);
	tsc_idmap_free(&x->th_idx);
	tsc_idmap_free(&x->tasks);
	tsc_idmap_free(&x->ready);
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
	uint64_t prev = x->prev_read_ns = x->read_ns;
	x->read_ns = tsc_now_ns();
	long n = tsc_rings_drain(x->rings, 0, on_event, x);
	if (n >= 0)
		x->period_ns = next_period(x, x->read_ns - prev);
	return n;
}

uint64_t top_exact_period_ns(const struct top_exact *x)
{
	return x->period_ns;
}

uint64_t top_exact_read_ns(const struct top_exact *x)
{
	return x->read_ns;
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

int top_exact_thread(const struct top_exact *x, int32_t tid, struct tss_thread *out)
{
	uint64_t *k = tsc_idmap_get(&x->th_idx, (uint32_t)tid);
	if (!k)
		return -ENOENT;
	*out = x->th[*k].v;
	return 0;
}

uint64_t top_exact_gap_ns(const struct top_exact *x, int32_t tid, uint64_t now)
{
	uint64_t *k = tsc_idmap_get(&x->th_idx, (uint32_t)tid);
	if (!k)
		return 0;
	const struct xthread *xt = &x->th[*k];
	return xt->gap_ns + (xt->gap_since && now > xt->gap_since ? now - xt->gap_since : 0);
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
	for (size_t i = 0; i < n; i++) {
		tsc_idmap_del(&x->tasks, ids[i]);
		tsc_idmap_del(&x->ready, ids[i]);
	}
}

void top_exact_forget_thread(struct top_exact *x, int32_t tid)
{
	uint64_t *k = tsc_idmap_get(&x->th_idx, (uint32_t)tid);
	if (!k)
		return;
	size_t i = *k;
	tsc_idmap_del(&x->th_idx, (uint32_t)tid);
	tsc_lat_free(&x->th[i].lat);
	if (i != --x->nth) {
		x->th[i] = x->th[x->nth];
		uint64_t *moved = tsc_idmap_get(&x->th_idx, (uint32_t)x->th[i].tid);
		if (moved)
			*moved = i;
	}
}

void top_exact_latency(struct top_exact *x, struct top_model *m)
{
	for (size_t i = 0; i < m->nthreads; i++) {
		struct top_thread *t = &m->threads[i];
		uint64_t *k = tsc_idmap_get(&x->th_idx, (uint32_t)t->inner_tid);
		t->lat_known = 1; /* no record of it: none to count */
		if (k)
			tsc_lat_figs(&x->th[*k].lat, &t->lat);
		else
			memset(&t->lat, 0, sizeof(t->lat));
	}
	for (size_t i = 0; i < x->nth; i++) {
		struct tsc_lat *l = &x->th[i].lat;
		if (l->cap + l->bigcap > LAT_ROOM)
			tsc_lat_free(l);
		else
			tsc_lat_clear(l);
	}
	x->lat_kept = 0;
}
