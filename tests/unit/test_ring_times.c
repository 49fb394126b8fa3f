/* SPDX-License-Identifier: MIT */
/* The event ring's times (src/runtime/ring.c): a record takes the time of the record before it,
 * rather than read the clock, only where that is exact: a switch right after its wait or
 * finish, a spawned task's ready right after its create. The flight recorder keeps the ring
 * on; the test reads its own loop's ring back. */
#include "internal.h"
#include "check.h"

#include <taskscope/taskscope.h>

struct rec {
	unsigned type, aux;
	uint64_t ts, a, b;
};

static struct rec recs[4096];
static int nrecs;
static uint64_t child_id;

/* The records of the calling loop's ring from position from on, strings left out. */
static void read_ring(uint64_t from)
{
	struct ts_ring_hdr *h = ts__tls_loop->ring;
	uint64_t head = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
	const uint64_t *slots = (const uint64_t *)((const char *)h + h->hdr_size);
	nrecs = 0;
	for (uint64_t p = from; p < head && nrecs < 4096; p++) {
		const uint64_t *s = slots + (p & (h->nslots - 1)) * 4;
		unsigned type = s[0] & 0xff;
		if (type == TS_RING_MORE || type == TS_RING_NAME)
			continue;
		recs[nrecs++] = (struct rec){ type, (unsigned)(s[0] >> 8) & 0xff, s[1], s[2], s[3] };
	}
}

static void spin_us(uint64_t us)
{
	uint64_t end = ts_now_ns() + us * 1000;
	while (ts_now_ns() < end)
		;
}

static void *child(void *arg)
{
	(void)arg;
	spin_us(100);
	return NULL;
}

/* A yield with nothing else ready (a wait, no switch), time passing, a sleep (a wait and a
 * switch), a spawn (a create and a ready) and its await. */
static void *workload(void *arg)
{
	(void)arg;
	ts_yield(); /* makes the ring: its first record */
	uint64_t from = __atomic_load_n(&ts__tls_loop->ring->head, __ATOMIC_ACQUIRE);
	ts_yield();
	spin_us(200);
	ts_sleep_ms(1);
	ts_task *t = ts_spawn(child, NULL);
	if (!t)
		return (void *)1;
	child_id = ts_task_id(t);
	ts_await(t, NULL);
	ts_task_unref(t);
	read_ring(from);
	return NULL;
}

TEST(a_record_takes_the_time_before_it_only_where_exact)
{
	CHECK_EQ(ts_flight_recorder(1 << 20), 0);
	CHECK(ts_run(workload, NULL) == NULL);
	ts_flight_recorder(0);
	CHECK(nrecs >= 8);
	int switches_after_wait = 0, ready_after_create = 0;
	for (int i = 1; i < nrecs; i++) {
		const struct rec *p = &recs[i - 1], *r = &recs[i];
		CHECK(r->ts >= p->ts); /* in order: none took an older record's time */
		if (r->type == TS_RING_SWITCH && (p->type == TS_RING_WAIT || p->type == TS_RING_FINISH))
			switches_after_wait += r->ts == p->ts;
		if (r->type == TS_RING_READY && p->type == TS_RING_CREATE && p->a == r->a)
			ready_after_create += r->ts == p->ts;
		if (r->ts != p->ts)
			continue;
		/* the same time: only a switch after its wait or finish, a ready after its create */
		if (r->type == TS_RING_SWITCH)
			CHECK(p->type == TS_RING_WAIT || p->type == TS_RING_FINISH);
		else if (r->type == TS_RING_READY)
			CHECK(p->type == TS_RING_CREATE && p->a == r->a);
		else
			CHECK(!"a record with the time of the one before it");
	}
	/* the yield that switched nowhere: the next record (the sleep's wait) has a time of its
	 * own, at least the 200 us spun later */
	int y = -1;
	for (int i = 0; i < nrecs && y < 0; i++)
		if (recs[i].type == TS_RING_WAIT && recs[i].aux == TS_WAIT_YIELD)
			y = i;
	CHECK(y >= 0 && y + 1 < nrecs);
	if (y >= 0 && y + 1 < nrecs) {
		CHECK_EQ(recs[y + 1].type, TS_RING_WAIT);
		CHECK(recs[y + 1].aux != TS_WAIT_YIELD);
		CHECK(recs[y + 1].ts > recs[y].ts);
	}
	CHECK(switches_after_wait >= 1);
	CHECK(ready_after_create >= 1);
	int created = 0;
	for (int i = 0; i < nrecs; i++)
		created += recs[i].type == TS_RING_CREATE && recs[i].a == child_id;
	CHECK_EQ(created, 1);
}

int main(void)
{
	RUN(a_record_takes_the_time_before_it_only_where_exact);
	return DONE();
}
