/* SPDX-License-Identifier: MIT */
/*
 * The event rings: each loop thread writes its own events (create, switch, wait, ready,
 * finish, rename, thread start and stop) into a ring in its own memory, which a tracer
 * drains from outside (docs/rings.md; the layout is in taskscope/debug.h). The rings are
 * written while the rings probe's semaphore is up (a tracer holds a uprobe on it: the kernel
 * lowers it when the tracer goes, even killed) or while the flight recorder keeps them on.
 *
 * Nothing here runs unless the hot word (probes.h) is non-zero: the switch path pays one load
 * and a not-taken branch. Then a record is a few stores and a release store of head; the ring
 * is made on the loop's first event and kept for the life of the loop, so that a reader never
 * reads freed memory for long.
 *
 * A ring is a sealed memfd mapped shared (a core dump holds it, as anonymous shared memory):
 * a tracer maps it too and reads it without a system call per drain, and keeps what it held
 * when the process exits. Sealed against shrinking, it can never take the tracer's mapping
 * away under it (SIGBUS). Forks: the ring is not mapped in a child (MADV_DONTFORK), and the
 * table of this process's rings is in a page a child gets zeroed (MADV_WIPEONFORK), so a
 * child, however it was made, finds no ring and makes its own: it never writes into its
 * parent's. Without memfd (a seccomp filter may forbid it): a private anonymous ring, kept
 * from children the same way; without those madvise flags, one a child inherits.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#include <taskscope/probes.h>

TASKSCOPE_RINGS_SITE()

#define RING_DEFAULT_BYTES (16u << 20)  /* 524288 records of one slot: 50 ms at 10M/s */
#define RING_MIN_SLOTS 1024
#define RING_MAX_BYTES (1ull << 32)
#define HDR_SIZE 256                     /* the header, rounded up: room to grow */
_Static_assert(sizeof(struct ts_ring_hdr) <= HDR_SIZE, "ring header fits");
_Static_assert(offsetof(struct ts_ring_hdr, head) == 64 &&
	       offsetof(struct ts_ring_hdr, fired[TS_RING_FIRED(TS_RING_WAIT)]) < 128 &&
	       offsetof(struct ts_ring_hdr, fired[TS_RING_FIRED(TS_RING_READY)]) < 128,
	       "a record's stores to the header are in one line");

/* TS_DEBUG_FORM_V2 (debug.c): the tests' target of ABI version 2, whose rings have that
 * version's header (debug.h): head at byte 24, each type's count at 64 + 8 * type. */
#ifdef TS_DEBUG_FORM_V2
#define RING_MAGIC TS_RING_MAGIC_V2
#define HEAD(h) (&(h)->head_v2)
#define FIRED(h, type) (&((uint64_t *)((char *)(h) + TS_RING_V2_FIRED))[type])
#else
#define RING_MAGIC TS_RING_MAGIC
#define HEAD(h) (&(h)->head)
#define FIRED(h, type) (&(h)->fired[TS_RING_FIRED(type)])
#endif

static size_t ring_bytes = RING_DEFAULT_BYTES;
static int use_tsc = -1;                 /* -1 until decided */
static bool ring_populate;               /* the flight recorder's: rings faulted in when made */

/* This process's rings, by loop table slot + 1 (entry 0 stays NULL: a loop with no ring).
 * The writer finds its ring here, not in loop->ring (which is for readers): in a page that a
 * forked child gets zeroed, when the kernel can (ring_wipe). */
#define RING_TABLE_LEN (TS_MAX_LOOPS + 1)
static struct ts_ring_hdr *ring_static[RING_TABLE_LEN];
static struct ts_ring_hdr **ring_live = ring_static;
static bool ring_wipe;                   /* ring_live is wiped in a child: rings may be shared */
static volatile uint8_t *ring_mine;      /* in ring_live's page: 1, or 0 in a child not yet
					  * past ring_fork_child */

#ifndef TASKSCOPE_NO_PROBES
#include <cpuid.h>
#include <x86intrin.h>

/* The TSC is a clock only if it is invariant (constant rate, running in every C-state,
 * CPUID 0x80000007 EDX bit 8), as the kernel's own clocksource requires. */
static int tsc_invariant(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(0x80000000, &a, &b, &c, &d) || a < 0x80000007)
		return 0;
	__get_cpuid(0x80000007, &a, &b, &c, &d);
	return (d >> 8) & 1;
}

static inline uint64_t tsc_now(void) { return __rdtsc(); }
#else
static int tsc_invariant(void) { return 0; }
static inline uint64_t tsc_now(void) { return ts_now_ns(); }
#endif

static inline uint64_t ring_now(void)
{
	return use_tsc > 0 ? tsc_now() : ts_now_ns();
}

/* "64M", "512K", "1048576": bytes, or 0 when it is none of those. */
static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s)
		return 0;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	return *end || v > RING_MAX_BYTES ? 0 : (size_t)v;
}

int ts_flight_recorder(size_t bytes)
{
#ifdef TASKSCOPE_NO_PROBES
	(void)bytes;
	return -ENOTSUP;
#else
	if (bytes && bytes < RING_MIN_SLOTS * TS_RING_SLOT)
		return -EINVAL;
	if (bytes)
		ring_bytes = bytes > RING_MAX_BYTES ? RING_MAX_BYTES : bytes;
	ring_populate = bytes != 0;
	TASKSCOPE_RINGS_ALWAYS(bytes != 0);
	return 0;
#endif
}

/* A loop whose ring is not one of this process's: a forked child's copy of a parent's loop,
 * pointing at a ring that is not mapped here. Readers of the child must not look there. */
static void ring_forget_stale(ts_loop *l)
{
	if (l->ring && ring_live[l->ringw.idx] != l->ring)
		ts_store(&l->ring, NULL);
}

/* In a forked child (fork()'s handlers; a child made without them does it when it makes its
 * first ring). */
static void ring_fork_child(void)
{
	if (!ring_wipe || *ring_mine)
		return;
	ts__loop_table_each(ring_forget_stale);
	*ring_mine = 1;
}

/* TASKSCOPE_FLIGHT_RECORDER=SIZE: the rings always on, each of SIZE bytes; TASKSCOPE_RING_SIZE
 * the size of rings made for a tracer. Read once, at load. */
__attribute__((constructor)) static void ring_env(void)
{
	size_t tlen = (RING_TABLE_LEN * sizeof(*ring_live) + 4095) & ~(size_t)4095;
	void *t = mmap(NULL, tlen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t != MAP_FAILED && !madvise(t, tlen, MADV_WIPEONFORK)) {
		ring_live = t;
		ring_mine = (volatile uint8_t *)t + tlen - 1;
		*ring_mine = 1;
		ring_wipe = true;
		pthread_atfork(NULL, NULL, ring_fork_child);
	} else if (t != MAP_FAILED) {
		munmap(t, tlen);
	}
	const char *e = getenv("TASKSCOPE_RING_SIZE");
	size_t n;
	if (e && (n = parse_size(e)) >= RING_MIN_SLOTS * TS_RING_SLOT)
		ring_bytes = n;
	e = getenv("TASKSCOPE_FLIGHT_RECORDER");
	if (e && *e) {
		n = parse_size(e);
		if (ts_flight_recorder(n ? n : RING_DEFAULT_BYTES))
			ts_flight_recorder(RING_DEFAULT_BYTES);
	}
}

/* A ring's memory: a sealed memfd mapped shared, or else private anonymous memory. */
static void *ring_map(size_t len)
{
	size_t mlen = (len + 4095) & ~(size_t)4095;
	void *p = MAP_FAILED;
	int fd = ring_wipe ? memfd_create("taskscope-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING) : -1;
	if (fd >= 0) {
		if (!ftruncate(fd, (off_t)mlen) &&
		    !fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL))
			p = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
	}
	if (p == MAP_FAILED)
		p = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* Not mapped in a forked child, where the table is wiped so that it makes its own rings
	 * (ring_wipe): a child must never write into a shared ring, and would hold a private one
	 * copy-on-write, each page the loop wrote next copied, a fault each, while it lived. */
	if (p != MAP_FAILED && ring_wipe && madvise(p, mlen, MADV_DONTFORK)) {
		munmap(p, mlen);
		p = MAP_FAILED;
	}
	/* the first lap's page faults are most of a ring's cost while it is new (a shared
	 * memory fault costs about 3 us here): huge pages where the kernel gives them */
	if (p != MAP_FAILED)
		madvise(p, mlen, MADV_HUGEPAGE);
	/* The flight recorder writes its rings round and round for the life of the loop: all of
	 * a ring is resident after its first lap anyway, so it is faulted in now, once, rather
	 * than a fault per page spread over the first lap's events (tools/bench/flight). A ring
	 * made for a tracer is not: that would stall the loop when the tracer arrives. */
	if (p != MAP_FAILED && ring_populate)
		madvise(p, mlen, MADV_POPULATE_WRITE); /* Linux 5.14; before it, faults as they come */
	return p;
}

static __attribute__((noinline, cold)) struct ts_ring_hdr *ring_new(ts_loop *loop)
{
	uint64_t nslots = RING_MIN_SLOTS;
	while (nslots * 2 * TS_RING_SLOT <= ring_bytes)
		nslots *= 2;
	size_t len = HDR_SIZE + nslots * TS_RING_SLOT;
	ring_fork_child(); /* this process's first ring may be a child's: its copies forgotten */
	void *p = loop->slot >= 0 ? ring_map(len) : MAP_FAILED;
	if (p == MAP_FAILED) {
		loop->ringw.failed = true; /* no retry at every event */
		return NULL;
	}
	if (use_tsc < 0)
		use_tsc = tsc_invariant();
	struct ts_ring_hdr *h = p;
	h->hdr_size = HDR_SIZE;
	h->slot_size = TS_RING_SLOT;
	h->nslots = nslots;
	h->tid = loop->tid;
	h->loop_id = loop->id;
	h->flags = use_tsc > 0 ? TS_RING_F_TSC : 0;
	/* the pair read as close together as can be: the mean of two clock reads around it */
	uint64_t m0 = ts_now_ns();
	h->tsc0 = ring_now();
	h->mono0 = m0 + (ts_now_ns() - m0) / 2;
	if (!h->flags)
		h->tsc0 = h->mono0;
	ts_store(&h->magic, RING_MAGIC);
	loop->ringw = (struct ts_ring_writer){ .h = h, .mask = nslots - 1, .last_end = UINT64_MAX,
					      .live = &ring_live[loop->slot + 1],
					      .idx = (uint32_t)loop->slot + 1, .tsc = use_tsc > 0 };
	ring_live[loop->ringw.idx] = h;
	ts_store(&loop->ring, h);
	return h;
}

/* Called while the loop still holds its slot in the loop table (ring_live's index). */
void ts__ring_free(ts_loop *loop)
{
	/* a ring inherited from a parent is not this process's: not mapped here */
	struct ts_ring_hdr *h = ring_live[loop->ringw.idx];
	ts_store(&loop->ring, NULL);
	loop->ringw.h = NULL;
	if (!h)
		return;
	ring_live[loop->ringw.idx] = NULL;
	loop->ringw.idx = 0;
	munmap(h, (HDR_SIZE + h->nslots * TS_RING_SLOT + 4095) & ~(size_t)4095);
}

/* The writer's ring is its own only while the table (wiped in a forked child) still has it:
 * that load does not hold up the record's stores, which go to an address known without it.
 * The entry's address is the writer's own: no load of ring_live, from another page, first. */
static inline bool writer_live(const struct ts_ring_writer *w)
{
	return w->h && *w->live == w->h;
}

/* The loop's writer, with its ring made if need be, or NULL. */
static inline struct ts_ring_writer *writer_of(ts_loop *loop)
{
	struct ts_ring_writer *w = &loop->ringw;
	if (__builtin_expect(writer_live(w), 1))
		return w;
	if (w->h) /* a forked child's copy of its parent's loop */
		w->h = NULL;
	return w->failed || !ring_new(loop) ? NULL : w;
}

static inline uint64_t *slot_at(struct ts_ring_writer *w, uint64_t pos)
{
	return (uint64_t *)((char *)w->h + HDR_SIZE) + (pos & w->mask) * 4;
}

static inline void slot_put(struct ts_ring_writer *w, uint64_t pos, unsigned type, unsigned aux,
			    uint64_t w1, uint64_t w2, uint64_t w3)
{
	uint64_t *s = slot_at(w, pos);
	s[0] = type | (uint64_t)aux << 8 | pos << 16;
	s[1] = w1;
	s[2] = w2;
	s[3] = w3;
}

/* The record is whole: readers may take it. */
static inline void publish(struct ts_ring_writer *w, unsigned type, uint64_t head)
{
	(*FIRED(w->h, type))++;
	w->head = head;
	__atomic_store_n(HEAD(w->h), head, __ATOMIC_RELEASE);
}

/* reuse_id, whose record's time a record takes (ring_last): a wait's or a finish's, a task's
 * create (its id), or none */
#define AFTER_WAIT 0
#define NO_REUSE UINT64_MAX

/* A one-slot record; returns its time. It takes the time of the ring's last record if that
 * one was written for reuse_id (ring_last), else reads the clock (tsc: the TSC, known to be). */
static inline __attribute__((always_inline)) uint64_t put1_to(struct ts_ring_writer *w,
								unsigned type, unsigned aux,
								uint64_t a, uint64_t b,
								uint64_t reuse_id, bool tsc)
{
	uint64_t pos = w->head;
	uint64_t ts = w->last_end == pos && w->last_id == reuse_id ? w->last_ts :
		      tsc ? tsc_now() : ring_now();
	slot_put(w, pos, type, aux, ts, a, b);
	publish(w, type, pos + 1);
	return ts;
}

/* put1's way when the ring is yet to be made or the clock is not the TSC: the calls kept out
 * of put1's usual way, which then makes none and saves no registers for them */
static __attribute__((noinline)) uint64_t put1_slow(ts_loop *loop, unsigned type, unsigned aux,
						    uint64_t a, uint64_t b, uint64_t reuse_id)
{
	struct ts_ring_writer *w = writer_of(loop);
	return w ? put1_to(w, type, aux, a, b, reuse_id, false) : 0;
}

/* A one-slot record into the loop's ring; returns its time, or 0 when there is no ring. */
static inline __attribute__((always_inline)) uint64_t put1(ts_loop *loop, unsigned type,
							     unsigned aux, uint64_t a, uint64_t b,
							     uint64_t reuse_id)
{
	struct ts_ring_writer *w = &loop->ringw;
	if (__builtin_expect(!writer_live(w) || !w->tsc, 0))
		return put1_slow(loop, type, aux, a, b, reuse_id);
	return put1_to(w, type, aux, a, b, reuse_id, true);
}

/*
 * Strings go into the ring a word at a time: a create writes two (name and coroutine) and
 * strnlen plus a memcpy of any length per slot was most of a create's cost (callgrind: 350
 * instructions of the flight recorder's 480 per spawned task). A word that holds the NUL may
 * read up to 7 bytes past it, never across a page (a page that holds a byte of the string is
 * mapped whole; the rare word that would cross is read a byte at a time); those bytes are
 * masked off, so the ring holds zeros after the NUL as before. Past a string literal is not
 * ours to read for AddressSanitizer: it is told.
 */
#define ZERO_BYTES(w) (((w) - 0x0101010101010101ull) & ~(w) & 0x8080808080808080ull)

__attribute__((no_sanitize_address)) static inline uint64_t word_at(const char *p)
{
	uint64_t w = 0;
	if (__builtin_expect(((uintptr_t)p & 4095) > 4096 - 8, 0)) {
		for (unsigned i = 0; i < 8 && p[i]; i++) /* up to the NUL: the page may end there */
			w |= (uint64_t)(unsigned char)p[i] << 8 * i;
		return w;
	}
	memcpy(&w, p, 8);
	return w;
}

/* s as the ring holds it, into w (zeroed by the caller): its words up to its NUL, at most
 * max - 1 bytes (max a multiple of 8), the bytes from the NUL on zeroed; returns its length.
 * The lowest flagged byte is the first zero byte: a false flag only ever sits above a true one. */
static inline size_t str_words(const char *s, size_t max, uint64_t *w)
{
	for (size_t i = 0; i < max / 8; i++) {
		uint64_t x = word_at(s + 8 * i), z = ZERO_BYTES(x);
		if (z) {
			unsigned b = (unsigned)__builtin_ctzll(z) >> 3; /* the NUL's byte */
			w[i] = x & ((1ull << 8 * b) - 1);
			return 8 * i + b;
		}
		w[i] = x;
	}
	w[max / 8 - 1] &= ~(0xffull << 56); /* no NUL: cut, as strnlen(s, max - 1) did */
	return max - 1;
}

/* The slots of a string of len bytes: the NUL in the last (at most 3). */
static inline unsigned str_slots(size_t len)
{
	return (unsigned)(len / TS_RING_NAME_BYTES) + 1;
}

static inline void put_str(struct ts_ring_writer *w, uint64_t pos, const uint64_t *s, unsigned k)
{
	for (unsigned i = 0; i < k; i++)
		slot_put(w, pos + i, TS_RING_NAME, i, s[3 * i], s[3 * i + 1], s[3 * i + 2]);
}

/* The record just written, at time ts (0: none was), is a wait or a finish (id AFTER_WAIT),
 * whose switch comes next, or the create of task id, whose ready may come next: either takes
 * its time while it is the ring's last record, rather than read the clock again. */
static inline void ring_last(ts_loop *loop, uint64_t ts, uint64_t id)
{
	struct ts_ring_writer *w = &loop->ringw;
	w->last_ts = ts;
	w->last_end = ts ? w->head : UINT64_MAX;
	w->last_id = id;
}

/* ---- the events, each called only once the hot word or its own semaphore is up ---- */

void ts__trace_switch(ts_loop *loop, ts_task *from, ts_task *to)
{
	uint64_t prev = from ? from->id : 0, next = to ? to->id : 0;
	TASKSCOPE_TASK_SWITCH(prev, next);
	/* a wait or a finish right before it read the clock already: the same instant, to a few
	 * nanoseconds, and a clock read (a rdtsc: 12 ns in a VM) is most of a record's cost. Only
	 * when that record is still the ring's last (a yield with nothing else ready switches
	 * nowhere: its time is not the next switch's). */
	if (TASKSCOPE_RINGS_ON())
		put1(loop, TS_RING_SWITCH, 0, prev, next, AFTER_WAIT);
}

void ts__trace_wait(ts_loop *loop, ts_task *t, enum ts_wait reason, uint64_t obj)
{
	TASKSCOPE_TASK_WAIT(t->id, reason, obj);
	if (TASKSCOPE_RINGS_ON())
		ring_last(loop, put1(loop, TS_RING_WAIT, reason & 0xff, t->id, obj, NO_REUSE),
			  AFTER_WAIT);
}

/* Rings only: no probe marks it, so the uprobe path has no scheduling latency. */
__attribute__((noinline, cold)) void ts__trace_ready(ts_loop *loop, ts_task *t)
{
	if (!TASKSCOPE_RINGS_ON())
		return;
	/* a task spawned on its own loop is queued right after its create record: the same
	 * instant, to a few nanoseconds, without a second clock read */
	put1(loop, TS_RING_READY, 0, t->id, 0, t->id);
}

void ts__trace_finish(ts_loop *loop, ts_task *t, enum ts_state outcome)
{
	TASKSCOPE_TASK_FINISH(t->id, outcome);
	if (TASKSCOPE_RINGS_ON())
		ring_last(loop, put1(loop, TS_RING_FINISH, outcome & 0xff, t->id, 0, NO_REUSE),
			  AFTER_WAIT);
}

void ts__trace_thread(ts_loop *loop, bool stop)
{
	if (stop)
		TASKSCOPE_THREAD_STOP(loop->id, loop->tid);
	else
		TASKSCOPE_THREAD_START(loop->id, loop->tid);
	if (TASKSCOPE_RINGS_ON())
		put1(loop, stop ? TS_RING_THREAD_STOP : TS_RING_THREAD_START, 0, loop->id,
		     (uint64_t)(uint32_t)loop->tid, NO_REUSE);
}

/* Into the ring of the calling thread's loop: false when it has none (a thread that runs no
 * loop), and then the task's own loop records the create when it takes the task in. */
bool ts__ring_create(ts_task *t)
{
	ts_loop *loop = ts__tls_loop;
	struct ts_ring_writer *w;
	if (!TASKSCOPE_RINGS_ON())
		return true;
	if (!loop || !(w = writer_of(loop)))
		return false;
	const char *coro = t->coro ? t->coro : "";
	uint64_t wn[9] = { 0 }, wc[9] = { 0 };
	unsigned kn = str_slots(str_words(t->name, TS_NAME_MAX, wn));
	unsigned kc = str_slots(str_words(coro, 64, wc));
	uint64_t pos = w->head, ts = ring_now();
	slot_put(w, pos, TS_RING_CREATE, kn | kc << 4, ts, t->id, t->parent);
	slot_put(w, pos + 1, TS_RING_MORE, 0, (uint64_t)(uint32_t)t->tid, 0, 0);
	put_str(w, pos + 2, wn, kn);
	put_str(w, pos + 2 + kn, wc, kc);
	publish(w, TS_RING_CREATE, pos + 2 + kn + kc);
	ring_last(loop, ts, t->id);
	return true;
}

bool ts__trace_create(ts_task *t)
{
	TASKSCOPE_TASK_CREATE(t->id, t->parent, t->name, t->coro, t->tid);
	return ts__ring_create(t);
}

void ts__trace_rename(ts_task *t)
{
	TASKSCOPE_TASK_RENAME(t->id, t->name);
	ts_loop *loop = ts__tls_loop;
	struct ts_ring_writer *w;
	if (!TASKSCOPE_RINGS_ON() || !loop || !(w = writer_of(loop)))
		return; /* a rename from a thread without a loop has no ring to go to */
	char name[TS_NAME_MAX];
	memcpy(name, t->name, sizeof(name)); /* one copy: the name may change again meanwhile */
	name[sizeof(name) - 1] = 0;
	uint64_t wn[9] = { 0 };
	unsigned kn = str_slots(str_words(name, sizeof(name), wn));
	uint64_t pos = w->head;
	slot_put(w, pos, TS_RING_RENAME, kn, ring_now(), t->id, 0);
	put_str(w, pos + 1, wn, kn);
	publish(w, TS_RING_RENAME, pos + 1 + kn);
}
