/* SPDX-License-Identifier: MIT */
/* The event rings, writer and reader together: the runtime's ring writer (src/runtime/ring.c)
 * hammered by one thread while the CLI's reader (src/cli/target/rings.c, through a memory
 * source that reads this very process with process_vm_readv, as it reads a target) drains it
 * from another. Every event carries values tied to each other and to its place in the
 * sequence, so a torn or overwritten slot decoded as an event would show: none may. Also the
 * decoder alone, on slots made by hand. Named test_thread_*: .ci/run runs it under TSan too. */
#include "internal.h"
#include "check.h"
#include "target/memsrc.h"
#include "target/rings.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/uio.h>
#include <unistd.h>

extern struct ts_debug_desc ts__debug_desc;

#define ROUNDS 400000
#define CREATE_EVERY 7
#define FINISH_EVERY 5
#define READY_EVERY 3

static int self_read(void *ctx, struct tsc_mem_req *req, size_t n)
{
	(void)ctx;
	for (size_t i = 0; i < n; i++) {
		struct iovec l = { req[i].buf, req[i].len }, r = { (void *)(uintptr_t)req[i].addr,
								   req[i].len };
		req[i].ok = process_vm_readv(getpid(), &l, 1, &r, 1, 0) == (ssize_t)req[i].len;
	}
	return 0;
}

static const struct tsc_memsrc_ops self_ops = { .read = self_read };
static const struct tsc_memsrc self = { .ops = &self_ops };

static ts_loop *wloop;
static uint64_t wrote[TSC_EV_NR];
static int writer_done;

/* Round i: a switch (2i+1 -> 2i+2), a wait of task i (object 31 i), every 7th a create of task
 * i (its name and coroutine spelling i), every 3rd a ready of task i, every 5th a finish of
 * task i (outcome 4 + i % 3). */
static void *writer(void *arg)
{
	(void)arg;
	ts__tls_loop = wloop;
	ts_task *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b)), *c = calloc(1, sizeof(*c));
	for (uint64_t i = 1; i <= ROUNDS; i++) {
		a->id = 2 * i + 1, b->id = 2 * i + 2, c->id = i;
		ts__trace_switch(wloop, a, b);
		ts__trace_wait(wloop, c, TS_WAIT_QUEUE, 31 * i);
		wrote[TSC_EV_SWITCH]++, wrote[TSC_EV_WAIT]++;
		if (i % CREATE_EVERY == 0) {
			snprintf(c->name, sizeof(c->name), "task-%llu-%s", (unsigned long long)i,
				 i % 2 ? "with-a-name-long-enough-for-three-slots-of-the-ring" : "x");
			c->parent = i ^ 0x5555;
			c->coro = i % 3 ? "coro_fn" : "";
			c->tid = 1234;
			ts__ring_create(c);
			wrote[TSC_EV_CREATE]++;
		}
		if (i % READY_EVERY == 0) {
			ts__trace_ready(wloop, c);
			wrote[TSC_EV_READY]++;
		}
		if (i % FINISH_EVERY == 0) {
			ts__trace_finish(wloop, c, (enum ts_state)(TS_DONE + i % 3));
			wrote[TSC_EV_FINISH]++;
		}
	}
	free(a), free(b), free(c);
	__atomic_store_n(&writer_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

struct seen {
	uint64_t last[TSC_EV_NR];
	int bogus;
	uint64_t gap_slots;      /* LOST events' counts (tsc_rings_mark_gaps) */
};

static int on_event(void *ctx, const struct tsc_event *ev)
{
	struct seen *s = ctx;
	uint64_t i = 0;
	int ok = 0;
	char want[TS_NAME_MAX];
	if (ev->type == TSC_EV_LOST) {
		if (ev->tid != wloop->tid || !ev->lost.count)
			s->bogus++;
		s->gap_slots += ev->lost.count;
		return 0;
	}
	switch (ev->type) {
	case TSC_EV_SWITCH:
		i = (ev->sw.prev - 1) / 2;
		ok = ev->sw.prev % 2 == 1 && ev->sw.next == ev->sw.prev + 1;
		break;
	case TSC_EV_WAIT:
		i = ev->wait.id;
		ok = ev->wait.reason == TS_WAIT_QUEUE && ev->wait.object == 31 * i;
		break;
	case TSC_EV_CREATE:
		i = ev->create.id;
		snprintf(want, sizeof(want), "task-%llu-%s", (unsigned long long)i,
			 i % 2 ? "with-a-name-long-enough-for-three-slots-of-the-ring" : "x");
		ok = i % CREATE_EVERY == 0 && ev->create.parent == (i ^ 0x5555) &&
		     !strcmp(ev->create.name, want) && ev->create.loop_tid == 1234 &&
		     !strcmp(ev->create.coro, i % 3 ? "coro_fn" : "");
		break;
	case TSC_EV_FINISH:
		i = ev->finish.id;
		ok = i % FINISH_EVERY == 0 && ev->finish.outcome == TS_DONE + i % 3;
		break;
	case TSC_EV_READY:
		i = ev->ready.id;
		ok = i % READY_EVERY == 0;
		break;
	}
	/* each type's rounds only go up */
	if (!ok || i <= s->last[ev->type]) {
		if (s->bogus++ < 5)
			printf("#   bogus event of type %u, round %llu\n", ev->type,
			       (unsigned long long)i);
	}
	s->last[ev->type] = i;
	return 0;
}

/* The writer hammers a small ring while the reader drains it: through process_vm_readv, or
 * through a mapping of the ring's memfd with a backlog decoded budget events at a time, the
 * backlog filled by the drains or by the copier thread between and during them. */
static void hammer(int map, size_t budget, int copier)
{
	struct tsc_rings *R = NULL;
	struct seen s = { 0 };
	pthread_t th;
	memset(wrote, 0, sizeof(wrote));
	writer_done = 0;
	CHECK_EQ(ts_flight_recorder(64 << 10), 0); /* small: the writer laps the reader */
	wloop = calloc(1, sizeof(*wloop));
	wloop->id = 77;
	wloop->tid = gettid();
	wloop->slot = -1;
	CHECK_EQ(ts__loop_table_add(wloop), 0);
	CHECK_EQ(tsc_rings_new(&self, &ts__debug_desc, TSC_RINGS_FROM_NOW, &R), 0);
	int procfd = map ? open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	if (map) {
		CHECK(procfd >= 0);
		tsc_rings_map(R, procfd, budget ? 4 << 20 : 0); /* both: a backlog made ahead, or not */
		tsc_rings_budget(R, budget);
	}
	CHECK_EQ(tsc_rings_scan(R), 0);
	if (copier)
		CHECK_EQ(tsc_rings_copier_start(R), 0);
	tsc_rings_mark_gaps(R); /* a LOST event where the reader was lapped */
	pthread_create(&th, NULL, writer, NULL);
	long drains = 0, events = 0, n;
	int done;
	do {
		done = __atomic_load_n(&writer_done, __ATOMIC_ACQUIRE);
		CHECK_EQ(tsc_rings_scan(R), 0);
		n = tsc_rings_drain(R, 0, on_event, &s);
		CHECK(n >= 0);
		events += n, drains++;
	} while ((!done || (map && tsc_rings_backlog(R))) && n >= 0);
	pthread_join(th, NULL);
	/* the end, as record ends: the copier stopped, the rest read up to the heads */
	CHECK_EQ(tsc_rings_end(R), 0);
	while ((n = tsc_rings_drain(R, 0, on_event, &s)) > 0 || (map && tsc_rings_backlog(R)))
		events += n > 0 ? n : 0;
	CHECK(n >= 0);
	printf("#   %ld drains, %ld events read\n", drains, events);
	CHECK_EQ(tsc_rings_count(R), 1);
	struct tsc_ring_stats st;
	tsc_rings_stats(R, 0, &st);
	if (map)
		CHECK(st.mapped);
	CHECK_EQ(s.bogus, 0);
	CHECK_EQ(st.malformed, 0);
	CHECK(!st.bad);
	CHECK(tsc_rings_error(R) == NULL);
	uint64_t got = 0;
	for (int t = 1; t < TSC_EV_NR; t++) {
		if (!tsc_ring_is_event(t))
			continue;
		CHECK_EQ(st.fired[t], wrote[t]); /* the writer's count is exact */
		CHECK(st.received[t] <= st.fired[t]);
		got += st.received[t];
	}
	CHECK(got > 0);
	CHECK_EQ(s.gap_slots, st.lapped); /* every lost stretch marked, by its size */
	CHECK_EQ(tsc_rings_backlog(R), 0);
	printf("#   %llu of %llu events read, %llu slots overwritten unread\n",
	       (unsigned long long)got,
	       (unsigned long long)(wrote[1] + wrote[2] + wrote[3] + wrote[5] + wrote[10]),
	       (unsigned long long)st.lapped);
	tsc_rings_free(R);
	if (procfd >= 0)
		close(procfd);
	ts__loop_table_del(wloop);
	ts__ring_free(wloop);
	free(wloop);
	ts_flight_recorder(0);
}

TEST(hammered_ring_never_decodes_a_bogus_event)
{
	hammer(0, 0, 0);
}

TEST(hammered_mapped_ring_never_decodes_a_bogus_event)
{
	if (geteuid() != 0) /* /proc/PID/map_files wants CAP_SYS_ADMIN */
		SKIP("not root: a ring's memfd cannot be opened through /proc/self/map_files");
	hammer(1, 1000, 0); /* records cut by the backlog's end are whole at the next drain */
	hammer(1, 0, 0);
	hammer(1, 1000, 1);
	hammer(1, 0, 1);
}

/* Slots made by hand: a record of each kind, then each damaged in one way. */
static void put(uint64_t *s, uint64_t pos, unsigned type, unsigned aux, uint64_t w1, uint64_t w2,
		uint64_t w3)
{
	s[0] = type | (uint64_t)aux << 8 | pos << 16, s[1] = w1, s[2] = w2, s[3] = w3;
}

static uint64_t decode_all(uint64_t *slots, uint64_t pos0, uint64_t n, struct tsc_ring_dstats *st)
{
	struct tsc_ring_clock clk = { 0 };
	struct tsc_ring_cursor c = { .slots = slots, .pos0 = pos0, .n = n, .tid = 9, .clock = &clk,
				     .st = st };
	struct tsc_ring_event e;
	uint64_t k = 0;
	while (tsc_ring_next(&c, &e))
		k++;
	return k;
}

TEST(decoder_rejects_damaged_slots)
{
	uint64_t s[8 * 4];
	struct tsc_ring_dstats st;
	uint64_t p = 1000;
	/* a rename "ab" in two slots */
	memset(s, 0, sizeof(s));
	put(s, p, TS_RING_RENAME, 1, 5, 42, 0);
	put(s + 4, p + 1, TS_RING_NAME, 0, 0x6261, 0, 0);
	memset(&st, 0, sizeof(st));
	CHECK_EQ(decode_all(s, p, 2, &st), 1);
	CHECK_EQ(st.malformed, 0);
	/* its name slot from another lap: the rename is not decoded */
	put(s + 4, p + 1 + 4096, TS_RING_NAME, 0, 0x6261, 0, 0);
	memset(&st, 0, sizeof(st));
	CHECK_EQ(decode_all(s, p, 2, &st), 0);
	CHECK(st.malformed >= 1);
	/* a name without its NUL */
	put(s + 4, p + 1, TS_RING_NAME, 0, ~0ull, ~0ull, ~0ull);
	memset(&st, 0, sizeof(st));
	CHECK_EQ(decode_all(s, p, 2, &st), 0);
	/* a record cut by the end of the window: not decoded, counted partial */
	memset(&st, 0, sizeof(st));
	CHECK_EQ(decode_all(s, p, 1, &st), 0);
	CHECK_EQ(st.partial, 1);
	/* an impossible type, a finish with an impossible outcome, a wait of task 0 */
	put(s, p, 20, 0, 5, 1, 2);
	put(s + 4, p + 1, TS_RING_FINISH, 2, 5, 7, 0);
	put(s + 8, p + 2, TS_RING_WAIT, 1, 5, 0, 3);
	memset(&st, 0, sizeof(st));
	CHECK_EQ(decode_all(s, p, 3, &st), 0);
	CHECK_EQ(st.malformed, 3);
	/* a newer runtime's type (below TS_RING_TYPES): skipped, counted apart, the rest read */
	put(s, p, 12, 0, 5, 1, 2);
	put(s + 4, p + 1, TS_RING_SWITCH, 0, 5, 1, 2);
	memset(&st, 0, sizeof(st));
	CHECK_EQ(decode_all(s, p, 2, &st), 1);
	CHECK_EQ(st.unknown, 1);
	CHECK_EQ(st.malformed, 0);
	/* a ready: decoded; with an aux, a w3 or task 0: malformed */
	put(s, p, TS_RING_READY, 0, 5, 77, 0);
	put(s + 4, p + 1, TS_RING_READY, 1, 5, 77, 0);
	put(s + 8, p + 2, TS_RING_READY, 0, 5, 77, 1);
	put(s + 12, p + 3, TS_RING_READY, 0, 5, 0, 0);
	memset(&st, 0, sizeof(st));
	{
		struct tsc_ring_clock clk = { 0 };
		struct tsc_ring_cursor c = { .slots = s, .pos0 = p, .n = 4, .tid = 9,
					     .clock = &clk, .st = &st };
		struct tsc_ring_event e;
		CHECK_EQ(tsc_ring_next(&c, &e), 1);
		CHECK_EQ(e.ev.type, TSC_EV_READY);
		CHECK_EQ(e.ev.ready.id, 77);
		CHECK_EQ(e.ev.ts_ns, 5);
		CHECK_EQ(e.ev.tid, 9);
		CHECK_EQ(tsc_ring_next(&c, &e), 0);
	}
	CHECK_EQ(st.events[TSC_EV_READY], 1);
	CHECK_EQ(st.malformed, 3);
	/* the window starting inside a create: its tail skipped, the switch after it read */
	put(s, p, TS_RING_NAME, 1, 0, 0, 0);
	put(s + 4, p + 1, TS_RING_SWITCH, 0, 5, 1, 2);
	memset(&st, 0, sizeof(st));
	CHECK_EQ(decode_all(s, p, 2, &st), 1);
	CHECK_EQ(st.partial, 1);
}

TEST(clock_converts_ticks_to_monotonic)
{
	struct tsc_ring_clock c = { .tsc = 1, .t0 = 1000, .m0 = 5000, .t1 = 3000, .m1 = 6000 };
	CHECK_EQ(tsc_ring_clock_ns(&c, 1000), 5000);
	CHECK_EQ(tsc_ring_clock_ns(&c, 2000), 5500);
	CHECK_EQ(tsc_ring_clock_ns(&c, 5000), 7000);
	CHECK_EQ(tsc_ring_clock_ns(&c, 0), 4500);
	c.tsc = 0;
	CHECK_EQ(tsc_ring_clock_ns(&c, 1234), 1234);
}

int main(void)
{
	RUN(decoder_rejects_damaged_slots);
	RUN(clock_converts_ticks_to_monotonic);
	RUN(hammered_ring_never_decodes_a_bogus_event);
	RUN(hammered_mapped_ring_never_decodes_a_bogus_event);
	return DONE();
}
