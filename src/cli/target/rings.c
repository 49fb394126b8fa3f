/* SPDX-License-Identifier: MIT */
/* Draining a target's event rings through a memory source (rings.h). */
#include "target/rings_impl.h"
#include "target/memsrc.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int tsc_rings_new(const struct tsc_memsrc *mem, const struct ts_debug_desc *desc,
		  enum tsc_rings_from from, struct tsc_rings **out)
{
	*out = NULL;
	if (desc->abi_version < 2 || !desc->loop_ring || desc->loop_ring % 8 ||
	    (uint32_t)desc->loop_ring + 8 > desc->loop_size)
		return -ENOTSUP;
	struct tsc_rings *R = calloc(1, sizeof(*R));
	if (!R || !(R->hdrs = calloc(TSC_RINGS_MAX, sizeof(*R->hdrs)))) {
		free(R);
		return -ENOMEM;
	}
	R->mem = mem;
	R->procfd = -1;
	R->d = *desc;
	R->from = from;
	*out = R;
	return 0;
}

static void set_err(struct tsc_rings *R, struct ring *g, const char *what)
{
	g->bad = 1;
	if (!R->err[0])
		snprintf(R->err, sizeof(R->err), "the event ring of thread %d at 0x%llx %s",
			 (int)g->tid, (unsigned long long)g->addr, what);
}

/* Where a ring's head is in its header, by the ABI version its magic number says. */
static uint32_t hdr_head_off(const struct ts_ring_hdr *h)
{
	return h->magic == TS_RING_MAGIC_V2 ? TS_RING_V2_HEAD : offsetof(struct ts_ring_hdr, head);
}

/* A header as read, in this ABI version's layout: one of version 2 (debug.h) moved into it.
 * Returns where the ring's head is in its header. */
static uint32_t hdr_norm(struct ts_ring_hdr *h)
{
	if (h->magic != TS_RING_MAGIC_V2)
		return hdr_head_off(h);
	uint64_t v2[TS_RING_TYPES];
	_Static_assert(TS_RING_V2_FIRED + sizeof(v2) <= sizeof(*h), "version 2's counts are read");
	memcpy(v2, (const char *)h + TS_RING_V2_FIRED, sizeof(v2));
	h->head = h->head_v2;
	memset(h->fired, 0, sizeof(h->fired));
	for (unsigned t = 1; t < TS_RING_TYPES; t++)
		h->fired[TS_RING_FIRED(t)] = v2[t];
	return TS_RING_V2_HEAD;
}

/* A header as read (hdr_norm'd), checked: what makes it a ring we can read without trusting
 * it. */
static const char *hdr_check(const struct ts_ring_hdr *h)
{
	if (h->magic != TS_RING_MAGIC && h->magic != TS_RING_MAGIC_V2)
		return "has lost its magic number";
	if (h->slot_size != TS_RING_SLOT)
		return "has a slot size we do not read";
	if (h->hdr_size < (h->magic == TS_RING_MAGIC ? sizeof(*h) : TS_RING_V2_HDR_BYTES) ||
	    h->hdr_size > HDR_MAX || h->hdr_size % 8)
		return "has a header size out of bounds";
	if (h->nslots < 2 * TS_RING_MAX_SLOTS || h->nslots > TSC_RING_MAX_NSLOTS ||
	    (h->nslots & (h->nslots - 1)))
		return "has a slot count out of bounds";
	if (h->flags & ~(uint32_t)TS_RING_F_TSC)
		return "has flags we do not know";
	return NULL;
}

static int add_ring(struct tsc_rings *R, uint64_t addr)
{
	struct ts_ring_hdr h;
	const char *bad;
	int err = tsc_mem_read1(R->mem, addr, &h, sizeof(h));
	if (err)
		return err == -EFAULT ? 0 : err; /* a ring being unmapped with its loop */
	if (R->n == TSC_RINGS_MAX)
		return 0;
	struct ring *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->addr = addr;
	g->tid = h.tid;
	g->head_off = hdr_norm(&h);
	R->r[R->n++] = g;
	if ((bad = hdr_check(&h))) {
		set_err(R, g, bad);
		return 0;
	}
	g->nslots = h.nslots;
	g->hdr_size = h.hdr_size;
	g->loop_id = h.loop_id;
	g->clock = (struct tsc_ring_clock){ .tsc = !!(h.flags & TS_RING_F_TSC), .t0 = h.tsc0,
					    .m0 = h.mono0 };
	g->head = h.head;
	if (R->procfd >= 0)
		tsc_rings_map_one(R, g, &h);
	/* Read from now on (record), but a ring made since the first scan is read whole: it
	 * was made for us. The flight recorder reads all it still holds. */
	int whole = R->from == TSC_RINGS_FROM_OLDEST || R->scanned;
	g->pos = whole ? 0 : h.head;
	if (!whole)
		for (int t = 1; t < TSC_EV_NR; t++)
			if (tsc_ring_is_event(t))
				g->fired0[t] = g->fired[t] = h.fired[TS_RING_FIRED(t)];
	return 0;
}

/* Every loop's ring pointer (0: none or unreadable) into ptr: how many, or -errno. */
static long ring_ptrs(struct tsc_rings *R, uint64_t *ptr)
{
	const struct ts_debug_desc *d = &R->d;
	uint32_t nloops;
	uint64_t loops[TSC_RINGS_MAX];
	int err = tsc_mem_read1(R->mem, d->nloops_addr, &nloops, sizeof(nloops));
	if (err)
		return err;
	if (nloops > d->max_loops || nloops > TSC_RINGS_MAX)
		nloops = d->max_loops < TSC_RINGS_MAX ? d->max_loops : TSC_RINGS_MAX;
	if (nloops && (err = tsc_mem_read1(R->mem, d->loops_addr, loops, nloops * 8ul)))
		return err;
	/* each loop's ring pointer, in one batch */
	struct tsc_mem_req q[TSC_RINGS_MAX];
	size_t nq = 0;
	for (uint32_t i = 0; i < nloops; i++) {
		if (!loops[i])
			continue;
		q[nq] = (struct tsc_mem_req){ .addr = loops[i] + d->loop_ring, .buf = &ptr[nq],
					      .len = 8 };
		nq++;
	}
	if (nq && (err = tsc_mem_read(R->mem, q, nq)))
		return err;
	for (size_t i = 0; i < nq; i++)
		if (!q[i].ok || ptr[i] % 8)
			ptr[i] = 0;
	return (long)nq;
}

/* A ring that fails a read or a check: gone with its loop (unmapped, its address maybe
 * reused already), or written over by the target. Only the second is an error. */
static void ring_failed(struct tsc_rings *R, struct ring *g, const char *what)
{
	uint64_t ptr[TSC_RINGS_MAX];
	long n = ring_ptrs(R, ptr);
	for (long i = 0; i < n; i++)
		if (ptr[i] == g->addr)
			return set_err(R, g, what);
	g->bad = 1; /* its loop stopped: what it held last was read at the last drain */
	g->gone = 1;
}

/* A mapped ring whose loop has gone keeps being drained (what it wrote last is in our
 * mapping) but is no longer matched to the loop table; one whose address now holds another
 * ring (a new loop's) is told apart by the header read from the process. */
static void mapped_gone(struct tsc_rings *R, const uint64_t *ptr, long nq)
{
	for (size_t k = 0; k < R->n; k++) {
		struct ring *g = R->r[k];
		if (!g->map || g->gone)
			continue;
		long i;
		for (i = 0; i < nq && ptr[i] != g->addr; i++)
			;
		struct ts_ring_hdr h;
		const struct ts_ring_hdr *m = (const void *)g->map;
		if (i == nq || tsc_mem_read1(R->mem, g->addr, &h, sizeof(h)) || h.loop_id != m->loop_id ||
		    h.tid != m->tid || h.tsc0 != m->tsc0 || h.mono0 != m->mono0)
			g->gone = 1;
	}
}

int tsc_rings_scan_held(struct tsc_rings *R)
{
	uint64_t ptr[TSC_RINGS_MAX];
	long nq = ring_ptrs(R, ptr);
	int err;
	if (nq < 0)
		return (int)nq;
	mapped_gone(R, ptr, nq);
	for (long i = 0; i < nq; i++) {
		if (!ptr[i])
			continue;
		size_t k;
		for (k = 0; k < R->n && (R->r[k]->addr != ptr[i] || R->r[k]->gone); k++)
			;
		if (k == R->n && (err = add_ring(R, ptr[i])))
			return err;
	}
	R->scanned = 1;
	return 0;
}

int tsc_rings_scan(struct tsc_rings *R)
{
	rings_lock(R);
	int err = tsc_rings_scan_held(R);
	rings_unlock(R);
	return err;
}

/* Room for n slots in g's copy (a ring read through the memory source). */
static int buf_room(struct ring *g, uint64_t n)
{
	if (n <= g->buf_cap)
		return 0;
	uint64_t *b = realloc(g->buf, n * TS_RING_SLOT);
	if (!b)
		return -ENOMEM;
	g->buf = b;
	g->buf_cap = n;
	return 0;
}

/* Every live ring's header, in one read; a ring whose header fails is dropped. */
static int read_heads(struct tsc_rings *R, int first)
{
	if (first)
		R->pressure = 0;
	struct tsc_mem_req q[TSC_RINGS_MAX];
	size_t idx[TSC_RINGS_MAX], nq = 0;
	for (size_t i = 0; i < R->n; i++) {
		struct ring *g = R->r[i];
		if (g->bad)
			continue;
		q[nq] = (struct tsc_mem_req){ .addr = g->addr, .buf = &R->hdrs[i],
					      .len = sizeof(R->hdrs[i]), .ok = 1 };
		idx[nq++] = i;
		if (g->map) {
			/* head first: the rest of the header is what was true at least then */
			uint64_t head = ring_map_head(g);
			memcpy(&R->hdrs[i], g->map, sizeof(R->hdrs[i]));
			hdr_norm(&R->hdrs[i]);
			R->hdrs[i].head = head;
		}
	}
	/* the others in one read */
	struct tsc_mem_req rq[TSC_RINGS_MAX];
	size_t nr = 0;
	for (size_t j = 0; j < nq; j++)
		if (!R->r[idx[j]]->map && !R->dead)
			rq[nr++] = q[j];
	int err = nr ? tsc_mem_read(R->mem, rq, nr) : 0;
	if (err)
		return err;
	for (size_t j = 0, k = 0; j < nq; j++)
		if (!R->r[idx[j]]->map)
			q[j].ok = R->dead ? 0 : rq[k++].ok;
	for (size_t j = 0; j < nq; j++) {
		struct ring *g = R->r[idx[j]];
		struct ts_ring_hdr *h = &R->hdrs[idx[j]];
		const char *bad = NULL;
		if (q[j].ok && !g->map)
			hdr_norm(h);
		if (!q[j].ok && R->dead) {
			g->bad = g->gone = 1; /* its memory went with the process */
			continue;
		}
		if (!q[j].ok)
			bad = "can no longer be read";
		else if ((bad = hdr_check(h)))
			;
		else if (h->nslots != g->nslots || h->hdr_size != g->hdr_size || h->tid != g->tid ||
			 h->loop_id != g->loop_id) {
			/* whole, but another: its loop went, and a new loop's ring took its place;
			 * the next scan adds that one */
			g->bad = g->gone = 1;
			continue;
		}
		else if (hdr_head_off(h) != g->head_off)
			bad = "has changed its ABI version";
		else if (h->head < g->head)
			bad = "went backwards";
		if (bad && g->map) {
			set_err(R, g, bad); /* our own mapping of it: no loop could have taken it away */
			continue;
		}
		if (bad) {
			ring_failed(R, g, bad);
			continue;
		}
		if (!first || R->ended)
			continue; /* the second read wants head alone; an end holds */
		uint64_t filled = (h->head - g->head) * 1024 / g->nslots;
		if (filled > R->pressure)
			R->pressure = filled > UINT32_MAX ? UINT32_MAX : (uint32_t)filled;
		g->head = h->head;
		for (int t = 1; t < TSC_EV_NR; t++)
			if (tsc_ring_is_event(t))
				g->fired[t] = h->fired[TS_RING_FIRED(t)];
	}
	return 0;
}

/* Copy each ring's slots [lo, hi) in one batch: two ranges for one that wraps. */
static int copy_slots(struct tsc_rings *R, size_t max_slots)
{
	struct tsc_mem_req q[2 * TSC_RINGS_MAX];
	size_t nq = 0;
	int err;
	for (size_t i = 0; i < R->n; i++) {
		struct ring *g = R->r[i];
		if (g->map) {
			/* the copier's work, unless it may be too slow for the ring: one a
			 * writer laps in less than twice the copier's shortest sleep is copied
			 * at each drain too (the lock is held meanwhile: only for a small ring) */
			if (!g->bad && (!R->copying || ring_lap_ns(g) < 2 * COPIER_SLEEP_MIN_NS) &&
			    (err = tsc_rings_fill(R, g, g->head)))
				return err;
			continue;
		}
		g->lo = g->hi = g->pos;
		if (g->bad || g->head <= g->pos)
			continue;
		uint64_t oldest = g->head > g->nslots ? g->head - g->nslots + TS_RING_MAX_SLOTS : 0;
		g->lo = g->pos > oldest ? g->pos : oldest;
		g->hi = g->head;
		if (max_slots && g->hi - g->lo > max_slots)
			g->hi = g->lo + max_slots;
		uint64_t n = g->hi - g->lo;
		if ((err = buf_room(g, n)))
			return err;
		uint64_t at = g->lo & (g->nslots - 1), first = g->nslots - at < n ? g->nslots - at : n;
		uint64_t base = g->addr + g->hdr_size;
		q[nq++] = (struct tsc_mem_req){ .addr = base + at * TS_RING_SLOT, .buf = g->buf,
						.len = first * TS_RING_SLOT };
		if (first < n)
			q[nq++] = (struct tsc_mem_req){ .addr = base, .buf = g->buf + first * 4,
							.len = (n - first) * TS_RING_SLOT };
	}
	if (nq && (err = tsc_mem_read(R->mem, q, nq)))
		return err;
	for (size_t i = 0, j = 0; i < R->n; i++) {
		struct ring *g = R->r[i];
		if (g->hi == g->lo || g->map)
			continue;
		uint64_t at = g->lo & (g->nslots - 1);
		int ok = q[j++].ok;
		if (g->nslots - at < g->hi - g->lo)
			ok &= q[j++].ok;
		if (!ok)
			ring_failed(R, g, "can no longer be read");
	}
	return 0;
}

static int before(const struct tsc_event *a, const struct tsc_event *b)
{
	return a->ts_ns < b->ts_ns;
}

/* The next event of g's cursor into g->ev, noting where its record began. */
static void ring_next(struct ring *g)
{
	g->has_ev = tsc_ring_next(&g->cur, &g->ev);
	g->ev_at = g->cur.at;
}

/* tsc_rings_drain with the lock held, let go while the events are decoded and handed on:
 * the copier writes only slots past each backlog's hi, and the decoder reads below it. */
static long drain(struct tsc_rings *R, size_t max_slots, tsc_rings_fn fn, void *ctx)
{
	int err;
	if (R->copier_err)
		return R->copier_err;
	if ((err = read_heads(R, 1)) || (err = copy_slots(R, max_slots)))
		return err;
	/* The writer may have lapped what we copied: only slots at or after head2 - nslots +
	 * TS_RING_MAX_SLOTS were left alone while we copied. */
	if ((err = read_heads(R, 0)))
		return err;
	uint64_t tnow, mnow;
	tsc_ring_clock_now(&tnow, &mnow);
	size_t budget = R->budget;
	for (size_t i = 0; i < R->n; i++) {
		struct ring *g = R->r[i];
		g->has_ev = 0;
		if (!g->map)
			budget = 0; /* a copy of this drain only: all of it decoded now */
		if ((g->bad && !g->map) || g->hi == g->lo)
			continue;
		g->clock.t1 = tnow;
		g->clock.m1 = mnow;
		tsc_ring_clock_prepare(&g->clock);
		if (g->map) {
			/* a record cut by the end of the backlog is whole at the next drain */
			g->decoding = 1;
			g->cur = (struct tsc_ring_cursor){ .slots = tsc_backlog_at(&g->bl, g->lo),
							   .pos0 = g->lo,
							   .n = g->hi - g->lo, .tid = g->tid,
							   .clock = &g->clock, .st = &g->st,
							   .keep_cut = !g->stalled };
			ring_next(g);
			continue;
		}
		uint64_t h2 = R->hdrs[i].head, safe = h2 > g->nslots ?
			h2 - g->nslots + TS_RING_MAX_SLOTS : 0, lo = g->lo;
		if (safe > lo)
			lo = safe < g->hi ? safe : g->hi;
		g->lapped += lo - g->pos;
		g->gap += lo - g->pos;
		g->cur = (struct tsc_ring_cursor){ .slots = g->buf + (lo - g->lo) * 4, .pos0 = lo,
						   .n = g->hi - lo, .tid = g->tid,
						   .clock = &g->clock, .st = &g->st };
		g->pos = g->hi;
		ring_next(g);
	}
	/* where a ring lost slots, before any of its events (mark_gaps) */
	for (size_t i = 0; i < R->n && R->gaps; i++) {
		struct ring *g = R->r[i];
		if (!g->gap || g->bad)
			continue;
		const struct tsc_event lost = {
			.ts_ns = g->has_ev ? g->ev.ev.ts_ns : mnow, .type = TSC_EV_LOST, .tid = g->tid,
			.lost = { .type = 0, .count = g->gap },
		};
		g->gap = 0;
		if ((err = fn(ctx, &lost)))
			return err;
	}
	/* merged by time: a few rings, so a scan for the earliest beats a heap */
	long n = 0;
	size_t nr = R->n; /* a ring the copier adds meanwhile has no event yet */
	rings_unlock(R);
	while (!budget || (size_t)n < budget) {
		struct ring *best = NULL;
		for (size_t i = 0; i < nr; i++)
			if (R->r[i]->has_ev && (!best || before(&R->r[i]->ev.ev, &best->ev.ev)))
				best = R->r[i];
		if (!best)
			break;
		if ((err = fn(ctx, &best->ev.ev)))
			break;
		n++;
		ring_next(best);
	}
	rings_lock(R);
	if (err)
		return err;
	/* what a backlog's cursor got to: an event decoded and not handed on is decoded again
	 * at the next drain */
	for (size_t i = 0; i < R->n; i++) {
		struct ring *g = R->r[i];
		if (!g->decoding)
			continue; /* no cursor this drain (the copier may have added to it since) */
		g->decoding = 0;
		tsc_backlog_free(&g->retired); /* the cursor's, when the copier changed backlogs */
		uint64_t used = g->cur.i;
		if (g->has_ev) {
			used = g->ev_at;
			g->st.events[g->ev.ev.type]--;
		}
		g->lo += used;
		R->backlog -= used;
	}
	return n;
}

long tsc_rings_drain(struct tsc_rings *R, size_t max_slots, tsc_rings_fn fn, void *ctx)
{
	rings_lock(R);
	long n = drain(R, max_slots, fn, ctx);
	rings_unlock(R);
	return n;
}

int tsc_rings_end(struct tsc_rings *R)
{
	tsc_rings_copier_stop(R);
	int err = read_heads(R, 1);
	R->ended = 1;
	return err;
}

void tsc_rings_mark_gaps(struct tsc_rings *R)
{
	R->gaps = 1;
}

void tsc_rings_budget(struct tsc_rings *R, size_t events)
{
	R->budget = events;
}

unsigned tsc_rings_pressure(const struct tsc_rings *R)
{
	return R->pressure;
}

uint64_t tsc_rings_backlog(struct tsc_rings *R)
{
	rings_lock(R);
	uint64_t n = R->backlog;
	rings_unlock(R);
	return n;
}

size_t tsc_rings_unmapped(struct tsc_rings *R)
{
	size_t n = 0;
	rings_lock(R);
	for (size_t i = 0; i < R->n; i++)
		n += !R->r[i]->map;
	rings_unlock(R);
	return n;
}

void tsc_rings_target_gone(struct tsc_rings *R)
{
	R->dead = 1;
}

size_t tsc_rings_count(struct tsc_rings *R)
{
	rings_lock(R);
	size_t n = R->n;
	rings_unlock(R);
	return n;
}

void tsc_rings_stats(struct tsc_rings *R, size_t i, struct tsc_ring_stats *st)
{
	const struct ring *g = R->r[i];
	rings_lock(R);
	memset(st, 0, sizeof(*st));
	st->tid = g->tid;
	st->loop_id = g->loop_id;
	st->addr = g->addr;
	for (int t = 1; t < TSC_EV_NR; t++) {
		if (!tsc_ring_is_event(t))
			continue;
		st->fired[t] = g->fired[t] - g->fired0[t];
		st->received[t] = g->st.events[t];
	}
	st->lapped = g->lapped;
	st->malformed = g->st.malformed;
	st->partial = g->st.partial;
	st->unknown = g->st.unknown;
	st->bad = g->bad;
	st->nslots = g->nslots;
	st->mapped = g->map != NULL;
	rings_unlock(R);
}

void tsc_rings_totals(struct tsc_rings *R, struct tsc_ring_stats *sum,
		      uint64_t lost[TSC_EV_NR])
{
	memset(sum, 0, sizeof(*sum));
	memset(lost, 0, TSC_EV_NR * sizeof(*lost));
	for (size_t i = 0, n = tsc_rings_count(R); i < n; i++) {
		struct tsc_ring_stats st;
		tsc_rings_stats(R, i, &st);
		for (int t = 1; t < TSC_EV_NR; t++) {
			if (!tsc_ring_is_event(t))
				continue;
			sum->fired[t] += st.fired[t];
			sum->received[t] += st.received[t];
			if (st.fired[t] > st.received[t])
				lost[t] += st.fired[t] - st.received[t];
		}
		sum->lapped += st.lapped;
		sum->malformed += st.malformed;
		sum->partial += st.partial;
		sum->unknown += st.unknown;
		sum->bad += st.bad;
	}
}

const char *tsc_rings_error(struct tsc_rings *R)
{
	rings_lock(R);
	const char *err = R->err[0] ? R->err : NULL; /* set once, never changed after */
	rings_unlock(R);
	return err;
}

void tsc_rings_free(struct tsc_rings *R)
{
	if (!R)
		return;
	tsc_rings_copier_stop(R);
	tsc_backlog_free(&R->ahead);
	for (size_t i = 0; i < R->n; i++) {
		tsc_backlog_free(&R->r[i]->bl);
		tsc_backlog_free(&R->r[i]->retired);
		free(R->r[i]->buf);
		if (R->r[i]->map)
			munmap((void *)R->r[i]->map, R->r[i]->map_len);
		free(R->r[i]);
	}
	free(R->hdrs);
	free(R);
}
