/* SPDX-License-Identifier: MIT */
/* Ring slots into trace events (rings.h): pure, every slot hostile. */
#include "target/rings.h"

#include <string.h>
#include <taskscope/taskscope.h>
#include <time.h>
#include <x86intrin.h>

#define STAMP_MASK 0xffffffffffffull

void tsc_ring_clock_prepare(struct tsc_ring_clock *c)
{
	c->mult = 0;
	if (c->tsc && c->t1 > c->t0 && c->m1 > c->m0 && c->m1 - c->m0 < c->t1 - c->t0)
		c->mult = (uint64_t)(((unsigned __int128)(c->m1 - c->m0) << 64) / (c->t1 - c->t0));
}

uint64_t tsc_ring_clock_ns(const struct tsc_ring_clock *c, uint64_t t)
{
	if (!c->tsc)
		return t;
	/* The common case without a division: a tick after t0, a slope under one ns per tick.
	 * mult = floor(2^64 num / den), so d * mult / 2^64 is floor(d num / den) or one less:
	 * the remainder says which. Exactly what the division gives. */
	if (c->mult && t >= c->t0 && t - c->t0 < (1ull << 63)) {
		uint64_t d = t - c->t0, num = c->m1 - c->m0, den = c->t1 - c->t0;
		uint64_t q = (uint64_t)(((unsigned __int128)d * c->mult) >> 64);
		unsigned __int128 r = (unsigned __int128)d * num - (unsigned __int128)q * den;
		if (r >= den)
			q++;
		if (q <= UINT64_MAX - c->m0)
			return c->m0 + q;
	}
	if (c->t1 == c->t0)
		return c->m0;
	__int128 d = (__int128)((int64_t)(t - c->t0)) * (int64_t)(c->m1 - c->m0);
	__int128 v = (__int128)c->m0 + d / (int64_t)(c->t1 - c->t0);
	return v < 0 ? 0 : v > (__int128)UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

void tsc_ring_clock_now(uint64_t *tsc, uint64_t *mono)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	*tsc = __rdtsc();
	clock_gettime(CLOCK_MONOTONIC, &b);
	uint64_t ma = (uint64_t)a.tv_sec * 1000000000ull + (uint64_t)a.tv_nsec;
	uint64_t mb = (uint64_t)b.tv_sec * 1000000000ull + (uint64_t)b.tv_nsec;
	*mono = ma + (mb - ma) / 2;
}

static inline const uint64_t *slot(const struct tsc_ring_cursor *c, uint64_t i)
{
	return c->slots + i * 4;
}

static inline unsigned s_type(const uint64_t *s) { return (unsigned)(s[0] & 0xff); }
static inline unsigned s_aux(const uint64_t *s) { return (unsigned)((s[0] >> 8) & 0xff); }

/* The slot at index i is the one written at its position (not a slot of another lap, not
 * garbage). */
static inline int stamped(const struct tsc_ring_cursor *c, uint64_t i)
{
	return (slot(c, i)[0] >> 16) == ((c->pos0 + i) & STAMP_MASK);
}

/* k NAME slots from index i into out (TS_NAME_MAX bytes): 0, or -1 when they are not a
 * string (wrong type, index or stamp, or no NUL in the last). */
static int read_str(const struct tsc_ring_cursor *c, uint64_t i, unsigned k, char *out)
{
	if (k < 1 || k * TS_RING_NAME_BYTES > TS_NAME_MAX + TS_RING_NAME_BYTES - 1)
		return -1;
	char buf[3 * TS_RING_NAME_BYTES];
	for (unsigned j = 0; j < k; j++) {
		const uint64_t *s = slot(c, i + j);
		if (!stamped(c, i + j) || s_type(s) != TS_RING_NAME || s_aux(s) != j)
			return -1;
		memcpy(buf + j * TS_RING_NAME_BYTES, s + 1, TS_RING_NAME_BYTES);
	}
	size_t len = strnlen(buf, k * TS_RING_NAME_BYTES);
	if (len >= k * TS_RING_NAME_BYTES || len >= TS_NAME_MAX ||
	    len < (k - 1) * TS_RING_NAME_BYTES) /* the NUL in the last slot, as written */
		return -1;
	memcpy(out, buf, len + 1);
	return 0;
}

/* The record at index i: its number of slots (0 when not decodable; then one slot is
 * skipped as malformed). */
static uint64_t decode(struct tsc_ring_cursor *c, uint64_t i, struct tsc_ring_event *e)
{
	const uint64_t *s = slot(c, i);
	unsigned type = s_type(s), aux = s_aux(s);
	uint64_t left = c->n - i;
	struct tsc_event *ev = &e->ev;
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->tid = c->tid;
	ev->ts_ns = tsc_ring_clock_ns(c->clock, s[1]);
	switch (type) {
	case TS_RING_SWITCH:
		ev->sw.prev = s[2];
		ev->sw.next = s[3];
		return 1;
	case TS_RING_WAIT:
		if (!s[2])
			return 0;
		ev->wait.id = s[2];
		ev->wait.reason = aux;
		ev->wait.object = s[3];
		return 1;
	case TS_RING_READY:
		if (!s[2] || aux || s[3])
			return 0;
		ev->ready.id = s[2];
		return 1;
	case TS_RING_FINISH:
		if (!s[2] || aux < TS_DONE || aux > TS_FAILED || s[3])
			return 0;
		ev->finish.id = s[2];
		ev->finish.outcome = aux;
		return 1;
	case TS_RING_THREAD_START:
	case TS_RING_THREAD_STOP:
		if (s[3] > INT32_MAX)
			return 0;
		ev->thread.loop = s[2];
		ev->thread.tid = c->tid;
		return 1;
	case TS_RING_RENAME: {
		unsigned kn = aux;
		if (!s[2] || s[3] || kn < 1 || kn > 3)
			return 0;
		if (left < 1 + (uint64_t)kn)
			return UINT64_MAX; /* cut by the end of the window */
		if (read_str(c, i + 1, kn, e->name))
			return 0;
		ev->rename.id = s[2];
		ev->rename.name = e->name;
		return 1 + kn;
	}
	case TS_RING_CREATE: {
		unsigned kn = aux & 15, kc = aux >> 4;
		if (!s[2] || kn < 1 || kn > 3 || kc < 1 || kc > 3)
			return 0;
		if (left < 2 + (uint64_t)kn + kc)
			return UINT64_MAX;
		const uint64_t *m = slot(c, i + 1);
		if (!stamped(c, i + 1) || s_type(m) != TS_RING_MORE || s_aux(m) || m[1] > INT32_MAX ||
		    m[2] || m[3])
			return 0;
		if (read_str(c, i + 2, kn, e->name) || read_str(c, i + 2 + kn, kc, e->coro))
			return 0;
		ev->create.id = s[2];
		ev->create.parent = s[3];
		ev->create.name = e->name;
		ev->create.coro = e->coro;
		ev->create.loop_tid = (int32_t)m[1];
		return 2 + kn + kc;
	}
	default:
		return 0;
	}
}

int tsc_ring_next(struct tsc_ring_cursor *c, struct tsc_ring_event *e)
{
	while (c->i < c->n) {
		const uint64_t *s = slot(c, c->i);
		if (!stamped(c, c->i)) {
			c->st->malformed++;
			c->i++;
			continue;
		}
		unsigned type = s_type(s);
		if (type == TS_RING_MORE || type == TS_RING_NAME) {
			/* the rest of a record begun before the window, or of a malformed one */
			c->st->partial++;
			c->i++;
			continue;
		}
		if (type > TS_RING_NAME && type < TS_RING_TYPES && !tsc_ring_is_event((int)type)) {
			/* a newer runtime's record: one slot (its others, if any, are NAME or
			 * MORE slots, skipped above), not the sign of a ring written over */
			c->st->unknown++;
			c->i++;
			continue;
		}
		uint64_t k = decode(c, c->i, e);
		if (k == UINT64_MAX && c->keep_cut)
			return 0;
		if (k == UINT64_MAX) {
			c->st->partial += c->n - c->i;
			c->i = c->n;
			return 0;
		}
		if (!k) {
			c->st->malformed++;
			c->i++;
			continue;
		}
		c->at = c->i;
		c->i += k;
		c->st->events[type]++;
		return 1;
	}
	return 0;
}
