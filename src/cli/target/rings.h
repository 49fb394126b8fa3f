/* SPDX-License-Identifier: MIT */
/*
 * The reader of a target's event rings (ABI version 2 of the debug descriptor; the layout in
 * taskscope/debug.h, the protocol in docs/rings.md), through a memory source (memsrc.h), so
 * that a live process and later a core file read alike.
 *
 *   decoding   tsc_ring_decode: slots already copied, into trace events (trace/trace.h).
 *              Pure: the unit tests and the fuzz target drive it directly. Everything in a
 *              slot is hostile: a slot whose stamp is not its own position, a record of an
 *              impossible type, a string without its NUL, a count of slots past the end, is
 *              counted as malformed and skipped, never decoded into an event. A one-slot
 *              record of a type below TS_RING_TYPES that we do not know (a newer runtime's)
 *              is counted apart and skipped: new record types are additive.
 *   draining   tsc_rings_*: the loop table read for each loop's ring, every header then every
 *              ring's new slots read in one batched read each, the heads read again, and the
 *              slots the writer may have overwritten meanwhile dropped; the events of all the
 *              rings handed on merged by time. What a ring fired and the reader never got is
 *              its loss, exact per type and per thread (the writer counts what it fired).
 *   mapping    tsc_rings_map: a live process's rings that are sealed memfds are mapped here
 *              read-only and copied chunk by chunk into a backlog at memory speed, decoded a
 *              budget at a time; what they held is still read once the process has exited.
 */
#ifndef TSC_RINGS_H
#define TSC_RINGS_H

#include <stddef.h>
#include <stdint.h>
#include <taskscope/debug.h>

#include "trace/trace.h"

struct tsc_memsrc;

#define TSC_RINGS_MAX 256                   /* rings read at most (= loops of the runtime) */
#define TSC_RING_MAX_NSLOTS (1ull << 27)    /* 4 GiB of slots: a larger ring is refused */
#define TSC_RINGS_BACKLOG (256ull << 20)    /* bytes of backlog, all mapped rings together */

/* How often a reader drains (record, top --exact): a 16 MiB ring holds 50 ms of a ping-pong's
 * 10 million events a second; at once again after a drain of TSC_RINGS_BUSY events or more;
 * and the loop table is read for new rings every TSC_RINGS_SCAN_NS. */
#define TSC_RINGS_DRAIN_MS 10
#define TSC_RINGS_BUSY 65536
#define TSC_RINGS_SCAN_NS 10000000ull  /* a ring must be found before its process exits */

/* Ring time to CLOCK_MONOTONIC: mono = m0 + (t - t0) * (m1 - m0) / (t1 - t0), or t itself. */
struct tsc_ring_clock {
	int tsc;                 /* timestamps are TSC ticks */
	uint64_t t0, m0, t1, m1; /* two pairs of (tick, ns), read together */
	uint64_t mult;           /* tsc_ring_clock_prepare's: the slope without a division */
};
/* Once t1, m1 are set: converting then costs two multiplications, not a division. */
void tsc_ring_clock_prepare(struct tsc_ring_clock *c);
uint64_t tsc_ring_clock_ns(const struct tsc_ring_clock *c, uint64_t t);
/* The reader's own pair, now (the TSC is one clock for the whole machine). */
void tsc_ring_clock_now(uint64_t *tsc, uint64_t *mono);

/* The ring record types that are events, numbered as the trace's: 1..7 and READY (10). */
static inline int tsc_ring_is_event(int type)
{
	return (type >= 1 && type <= TSC_EV_EVENTS_NR) || type == TSC_EV_READY;
}
_Static_assert((int)TSC_EV_READY == (int)TS_RING_READY && (int)TSC_EV_NR <= (int)TS_RING_TYPES,
	       "ring and trace event numbers agree");

struct tsc_ring_dstats {
	uint64_t events[TSC_EV_NR]; /* decoded, by type (1..7 and TSC_EV_READY) */
	uint64_t malformed;      /* slots that failed validation */
	uint64_t unknown;        /* one-slot records of a type below TS_RING_TYPES we do not
				  * know (a newer runtime's): skipped, not malformed */
	uint64_t partial;        /* continuation slots whose record began before the window */
};

/* One decoded event: ev's strings point into name and coro. */
struct tsc_ring_event {
	struct tsc_event ev;
	char name[TS_NAME_MAX], coro[TS_NAME_MAX];
};

/* A cursor over slots[0..n) copied from positions pos0 .. pos0 + n of the ring of thread tid.
 * tsc_ring_next decodes the next event into *e: 1, or 0 at the end (a record cut by the end
 * counts as partial: the writer publishes whole records only). */
struct tsc_ring_cursor {
	const uint64_t *slots;   /* four words each */
	uint64_t pos0, n, i;
	int32_t tid;
	const struct tsc_ring_clock *clock;
	struct tsc_ring_dstats *st;
	int keep_cut;            /* a record cut by the end is left unread (i stays at it) */
	uint64_t at;             /* out: the index of the record tsc_ring_next decoded last */
};
int tsc_ring_next(struct tsc_ring_cursor *c, struct tsc_ring_event *e);

/* ---- draining a process's rings ---- */

struct tsc_rings;

enum tsc_rings_from {
	TSC_RINGS_FROM_NOW,      /* only what is written from the first scan on (record) */
	TSC_RINGS_FROM_OLDEST,   /* everything still held (the flight recorder) */
};

/* desc: the validated descriptor (version 2: desc->loop_ring). 0 or -errno. */
int tsc_rings_new(const struct tsc_memsrc *mem, const struct ts_debug_desc *desc,
		  enum tsc_rings_from from, struct tsc_rings **out);
/* Map each ring found from now on into this process too, read through procfd (/proc/PID of
 * the live process, kept open by the caller): a drain then costs no system call, and what a
 * ring holds is still read after the process exits. A ring that cannot be mapped safely is
 * read through the memory source. A mapped ring's slots are copied into a backlog (four of
 * its laps, 64 MiB at most; TSC_RINGS_BACKLOG for all) as fast as memory goes, to be decoded
 * at the decoder's pace. With ahead, a backlog of that many bytes (TSC_RINGS_BACKLOG at
 * most) is made and faulted in now, before the rings exist, for the first ring that bursts:
 * that burst then never waits for the kernel to zero fresh pages. */
void tsc_rings_map(struct tsc_rings *R, int procfd, uint64_t ahead);
#define TSC_RINGS_AHEAD (96ull << 20)   /* record's default */
/* Bytes of the backlog made ahead while no ring has taken it. */
size_t tsc_rings_ahead_bytes(struct tsc_rings *R);
/* At most this many events decoded per drain from the mapped rings' backlogs (0: all, the
 * default): a drain then comes back soon to copy the rings again. */
void tsc_rings_budget(struct tsc_rings *R, size_t events);
/* Slots copied from the mapped rings and not decoded yet: drain again soon. */
uint64_t tsc_rings_backlog(struct tsc_rings *R);
/* A thread of ours that copies the mapped rings into their backlogs every
 * tsc_rings_period_ms, between and during the drains (which decode the backlogs), so that a
 * ring is not lapped while the decoding lags or waits for a CPU. Stopped by tsc_rings_end
 * and tsc_rings_free. 0 or -errno. */
int tsc_rings_copier_start(struct tsc_rings *R);
void tsc_rings_copier_stop(struct tsc_rings *R);
/* How long a drain may wait with nothing else to go by: half the time a writer at full speed
 * takes to fill the smallest ring (1 ms for 16 MiB), TSC_RINGS_DRAIN_MS at most. */
unsigned tsc_rings_period_ms(struct tsc_rings *R);
/* How much of a ring its writer filled between the last two drains, in 1024ths (the most of
 * any ring): how soon the next drain must come. */
unsigned tsc_rings_pressure(const struct tsc_rings *R);
/* How many rings are read through the memory source, not mapped. */
size_t tsc_rings_unmapped(struct tsc_rings *R);
/* The process has gone: drains read the mapped rings only (its last events). */
void tsc_rings_target_gone(struct tsc_rings *R);
/* Read the loop table: rings not seen yet are added (from the oldest slot, for a ring made
 * since the first scan). 0, or -errno (the target gone). */
int tsc_rings_scan(struct tsc_rings *R);

typedef int (*tsc_rings_fn)(void *ctx, const struct tsc_event *ev);
/* Read every ring's new slots and hand their events to fn, merged by time; up to max_slots
 * slots per ring (0: all). Returns the events handed on, or < 0 (fn's error, or -errno). A
 * ring whose header fails validation is dropped, with its reason in tsc_rings_error. */
long tsc_rings_drain(struct tsc_rings *R, size_t max_slots, tsc_rings_fn fn, void *ctx);
/* The end of the reading: each ring's head and counts read now, and no slot past that head
 * read by the drains after (a flight recorder's ring goes on being written). 0 or -errno. */
int tsc_rings_end(struct tsc_rings *R);
/* From now on a drain also hands fn, for each ring that lost slots (overwritten unread), a
 * TSC_EV_LOST event of the ring's thread (lost.type 0, lost.count the slots) before any
 * event of the drain, at the time of the ring's first event after them (or of the drain,
 * when none is left): where a reader that keeps state per thread (top) must resync. Not
 * counted in the drain's return. */
void tsc_rings_mark_gaps(struct tsc_rings *R);

struct tsc_ring_stats {
	int32_t tid;
	uint64_t loop_id, addr;
	uint64_t fired[TSC_EV_NR];   /* since the reading began, by type (1..7, READY) */
	uint64_t received[TSC_EV_NR];
	uint64_t lapped;         /* slots overwritten before they were read */
	uint64_t malformed, partial, unknown;
	int bad;                 /* the header failed validation: no longer read */
	uint64_t nslots;         /* its size */
	int mapped;              /* read through a mapping of it (tsc_rings_map) */
};
size_t tsc_rings_count(struct tsc_rings *R);
void tsc_rings_stats(struct tsc_rings *R, size_t i, struct tsc_ring_stats *st);
/* Every ring's stats summed (tid, loop_id, addr 0; bad: rings no longer read), and lost[type]:
 * what each ring fired and never received, summed over the rings. */
void tsc_rings_totals(struct tsc_rings *R, struct tsc_ring_stats *sum,
		      uint64_t lost[TSC_EV_NR]);
/* The first validation failure seen, or NULL. */
const char *tsc_rings_error(struct tsc_rings *R);
void tsc_rings_free(struct tsc_rings *R); /* accepts NULL */

#endif
