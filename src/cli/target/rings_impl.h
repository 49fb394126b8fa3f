/* SPDX-License-Identifier: MIT */
/*
 * The insides of the rings reader (rings.h), shared by its two halves: rings.c reads rings
 * through a memory source and decodes them; rings_map.c maps them here, copies their slots
 * into backlogs, and runs the copier thread that does so between drains.
 */
#ifndef TSC_RINGS_IMPL_H
#define TSC_RINGS_IMPL_H

#include <pthread.h>

#include "target/backlog.h"
#include "target/rings.h"

#define HDR_MAX 4096 /* a header larger than this is refused */
#define BACKLOG_MAX (TSC_RINGS_BACKLOG / TS_RING_SLOT) /* slots, all rings together */
#define BACKLOG_RING_MAX (BACKLOG_MAX / 4)  /* one ring's, made as it fills: 64 MiB */
#define BACKLOG_LAPS 4                      /* a ring's backlog holds 4 of its laps */
#define COPY_CHUNK 8192                     /* slots copied at a time: 256 KiB */
#define LAP_NS_PER_SLOT 4                   /* the fastest a writer fills a slot (a yield
					     * ping-pong: 12 ns per record here) */

struct ring {
	uint64_t addr;           /* the header's address in the target */
	uint64_t nslots, hdr_size;
	uint32_t head_off;       /* where its head is in the header: by its ABI version */
	int32_t tid;
	uint64_t loop_id;
	struct tsc_ring_clock clock;
	uint64_t pos;            /* the next slot to read */
	uint64_t head;           /* as read last (no further than end) */
	uint64_t fired0[TSC_EV_NR], fired[TSC_EV_NR];
	uint64_t lapped;
	uint64_t gap;            /* slots lapped since the last event handed on (mark_gaps) */
	struct tsc_ring_dstats st;
	int bad, gone;           /* no longer read: failed a check, or went with its loop */
	/* the ring mapped here too (ring_map), or NULL: read through the memory source. Then
	 * slots [lo, hi) are its backlog, copied and not yet decoded; pos (= hi) is where the
	 * next copy begins */
	const uint8_t *map;
	size_t map_len;
	struct tsc_backlog bl;
	int stalled;             /* lapped with a backlog: the backlog's cut record is lost */
	int decoding;            /* this drain's cursor is over the backlog's [lo, hi) */
	struct tsc_backlog retired; /* the one before bl, the cursor still in it */
	uint64_t ev_at;          /* the index in cur of the record in ev */
	/* a ring read through the memory source: this drain's copy of slots [lo, hi) */
	uint64_t *buf;
	size_t buf_cap;          /* slots */
	uint64_t lo, hi;
	struct tsc_ring_cursor cur;
	struct tsc_ring_event ev;
	int has_ev;
};

struct tsc_rings {
	const struct tsc_memsrc *mem;
	struct ts_debug_desc d;
	enum tsc_rings_from from;
	int procfd;              /* /proc/PID of a live process whose rings we map, or -1 */
	int dead;                /* the process has gone: only mapped rings are read */
	size_t budget;           /* events decoded per drain from the backlogs (0: all) */
	uint64_t backlog;        /* slots copied from mapped rings, not yet decoded */
	uint64_t bl_slots;       /* slots of the backlogs made, all rings together */
	struct tsc_backlog ahead; /* made ahead, for the first ring that bursts */
	int ended;               /* tsc_rings_end: no slot past each ring's head then is read */
	uint32_t pressure;       /* the most of a ring written since the drain before, /1024 */
	int scanned;             /* a scan happened: rings found later are new ones */
	int gaps;                /* hand on a LOST event where a ring was lapped */
	/* the copier (rings_map.c): while it runs, lock guards what it and the drains share:
	 * each mapped ring's head, hi, pos, stalled, lapped, gap, bad, and backlog */
	int copying;
	pthread_t copier;
	pthread_mutex_t lock;
	int copier_stop, copier_err;
	struct ring *r[TSC_RINGS_MAX];
	size_t n;
	struct ts_ring_hdr *hdrs; /* one header read per ring */
	char err[256];
};

/* The shortest time a writer at full speed takes to fill ring g once. */
static inline uint64_t ring_lap_ns(const struct ring *g)
{
	return g->nslots * LAP_NS_PER_SLOT;
}
#define COPIER_SLEEP_MIN_NS 1000000ull      /* the copier's shortest sleep between turns
					     * (but for a hurried one) */

/* What the copier and a drain share, held while the copier runs (a no-op otherwise). */
static inline void rings_lock(struct tsc_rings *R)
{
	if (R->copying)
		pthread_mutex_lock(&R->lock);
}

static inline void rings_unlock(struct tsc_rings *R)
{
	if (R->copying)
		pthread_mutex_unlock(&R->lock);
}

/* A mapped ring's head, as its writer last published it. */
static inline uint64_t ring_map_head(const struct ring *g)
{
	return __atomic_load_n((const uint64_t *)(const void *)(g->map + g->head_off),
			       __ATOMIC_ACQUIRE);
}

/* tsc_rings_scan, the lock held. */
int tsc_rings_scan_held(struct tsc_rings *R);

/* rings_map.c: map ring g (its header h as read from the process) when it can be mapped
 * safely; and copy its new slots up to head into its backlog: 0 or -errno. */
void tsc_rings_map_one(struct tsc_rings *R, struct ring *g, const struct ts_ring_hdr *h);
int tsc_rings_fill(struct tsc_rings *R, struct ring *g, uint64_t head);

#endif
