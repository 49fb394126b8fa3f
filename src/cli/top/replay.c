/* SPDX-License-Identifier: MIT */
/*
 * top --exact: the rings' events replayed (top/exact.c drains them), each thread's SWITCH
 * records into the records bpf/sampler.bpf.c's tss_switch keeps in BPF maps on the uprobe
 * path (struct tss_thread, a task's time switched in), which probes/sampler.c reads either
 * way. Pure: tests/unit/test_top_replay.c feeds it events.
 *
 * A lost stretch of a thread's ring (a LOST event, tsc_rings_mark_gaps): the task switched in
 * ran until the drain before, at least, and what runs from then to the thread's next switch
 * record is credited to no task; that time is left out of what the thread's known time
 * stands for (top_exact_gap_ns).
 *
 * Scheduling latency, per thread and refresh: from a task's READY record (woken or started)
 * or its WAIT of reason yield (ready again at once) to the SWITCH into it, both written by its
 * loop's thread, as dump --summary counts it (trace/state.c). A ready instant from before a
 * lost stretch of that thread's ring is not used: the task may have run and waited again in
 * it.
 */
#include "top/exact.h"
#include "target/walk.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <taskscope/taskscope.h>

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

int top_replay_event(void *ctx, const struct tsc_event *ev)
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

int top_replay_init(struct top_exact *x, uint64_t attach_ns)
{
	int err;
	if ((err = tsc_idmap_reset(&x->th_idx, 16, tsc_hash_key)) ||
	    (err = tsc_idmap_reset(&x->tasks, 1024, tsc_hash_key)) ||
	    (err = tsc_idmap_reset(&x->ready, 1024, tsc_hash_key)))
		return err;
	x->attach_ns = x->read_ns = attach_ns;
	return 0;
}

void top_replay_free(struct top_exact *x)
{
	for (size_t i = 0; i < x->nth; i++)
		tsc_lat_free(&x->th[i].lat);
	tsc_idmap_free(&x->th_idx);
	tsc_idmap_free(&x->tasks);
	tsc_idmap_free(&x->ready);
}

void top_replay_begin(struct top_exact *x, uint64_t now)
{
	x->prev_read_ns = x->read_ns;
	x->read_ns = now;
}

uint64_t top_exact_read_ns(const struct top_exact *x)
{
	return x->read_ns;
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
