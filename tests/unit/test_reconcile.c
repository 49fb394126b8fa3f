/* SPDX-License-Identifier: MIT */
/* Reconciliation (src/cli/probes/reconcile.c) without BPF: a snapshot and the probes' map contents in,
 * the live set out. The rules of design.md: a task finished since attach is never resurrected,
 * a task seen both in the snapshot and in events appears once, renames after the snapshot win,
 * and each thread's current task is one of the result's, on that thread. */
#include "check.h"
#include "probes/reconcile.h"

#include <stdlib.h>
#include <string.h>

#define TAKEN 1000 /* the snapshot's taken_ns */

/* A snapshot owns malloc'ed arrays: reconcile frees and replaces them. */
static void snap_init(struct tsc_snapshot *s, const struct tsc_task *t, size_t nt,
		      const struct tsc_thread *th, size_t nth)
{
	memset(s, 0, sizeof(*s));
	s->taken_ns = TAKEN;
	s->tasks = malloc((nt + 1) * sizeof(*t));
	s->threads = malloc((nth + 1) * sizeof(*th));
	if (nt)
		memcpy(s->tasks, t, nt * sizeof(*t));
	if (nth)
		memcpy(s->threads, th, nth * sizeof(*th));
	s->ntasks = nt;
	s->nthreads = nth;
}

static struct tsc_task task(uint64_t id, const char *name, int32_t tid)
{
	struct tsc_task t = { .id = id, .tid = tid, .state = 1 };
	snprintf(t.name, sizeof(t.name), "%s", name);
	snprintf(t.coro, sizeof(t.coro), "coro_%llu", (unsigned long long)id);
	return t;
}

static struct tsc_task_rec created(uint64_t id, const char *name, uint32_t tid)
{
	struct tsc_task_rec r = { .id = id, .tid = tid, .flags = TSC_TF_CREATED, .created_ns = 5 };
	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(r.coro, sizeof(r.coro), "made_%llu", (unsigned long long)id);
	return r;
}

static uint64_t zero_counters[TSC_C_NR];

static int count_id(const struct tsc_snapshot *s, uint64_t id)
{
	int n = 0;
	for (size_t i = 0; i < s->ntasks; i++)
		n += s->tasks[i].id == id;
	return n;
}

/* The task id of s, or an empty one (id 0): checks then fail rather than crash. */
static const struct tsc_task *find(const struct tsc_snapshot *s, uint64_t id)
{
	static const struct tsc_task none;
	for (size_t i = 0; i < s->ntasks; i++)
		if (s->tasks[i].id == id)
			return &s->tasks[i];
	return &none;
}

static const struct tsc_thread *thread(const struct tsc_snapshot *s, int32_t tid)
{
	static const struct tsc_thread none = { .current = ~0ull };
	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i].tid == tid)
			return &s->threads[i];
	return &none;
}

/* Finished since attach: in `finished` (even if the snapshot and a live record still hold it),
 * or born under the probes and gone from `live`. */
TEST(finished_never_resurrected)
{
	struct tsc_task t[] = { task(1, "a", 10), task(2, "b", 10), task(40, "c", 10),
				task(70, "d", 10) };
	struct tsc_thread th[] = { { .tid = 10, .loop_id = 1, .current = 2 } };
	struct tsc_task_rec live[] = { created(2, "b", 10), created(3, "e", 10) };
	__u64 fin[] = { 2, 3, 1 };
	/* 40: born under the probes (its bit), not live; 70: from next_id on, not live */
	uint64_t born[2] = { 0 };
	uint64_t base = 32;
	born[0] |= 1ull << (40 - base);
	struct tsc_snapshot s;
	snap_init(&s, t, 4, th, 1);
	struct tsc_probe_view v = {
		.live = live, .nlive = 2, .finished = fin, .nfinished = 3,
		.born = born, .born_bits = 128, .born_base = base, .next_id = 60,
		.counters = zero_counters,
	};
	CHECK_EQ(tsc_reconcile(&s, &v), 0);
	CHECK_EQ(s.ntasks, 0);
	CHECK(!count_id(&s, 1) && !count_id(&s, 2) && !count_id(&s, 3) && !count_id(&s, 40) &&
	      !count_id(&s, 70));
	/* its current task finished: the thread runs none */
	CHECK_EQ(thread(&s, 10)->current, 0);
	CHECK_EQ(s.reconciled, 1);
	tsc_snapshot_free(&s);
}

/* Born under the probes and still live: kept, once. */
TEST(born_and_live_kept)
{
	struct tsc_task t[] = { task(40, "c", 10), task(70, "d", 10) };
	struct tsc_task_rec live[] = { created(40, "c", 10), created(70, "d", 10) };
	uint64_t born[1] = { 1ull << 8 };
	struct tsc_snapshot s;
	snap_init(&s, t, 2, NULL, 0);
	struct tsc_probe_view v = { .live = live, .nlive = 2, .born = born, .born_bits = 64,
				    .born_base = 32, .next_id = 60, .counters = zero_counters };
	CHECK_EQ(tsc_reconcile(&s, &v), 0);
	CHECK_EQ(s.ntasks, 2);
	CHECK_EQ(count_id(&s, 40), 1);
	CHECK_EQ(count_id(&s, 70), 1);
	tsc_snapshot_free(&s);
}

/* In the snapshot (twice, as a registry read under change may give it) and in events: once,
 * the snapshot's fields kept; created since attach and absent from the snapshot: added. */
TEST(seen_twice_appears_once)
{
	struct tsc_task t[] = { task(7, "seven", 10), task(7, "seven", 10), task(8, "eight", 10) };
	struct tsc_task_rec live[] = { created(7, "seven", 10), created(9, "nine", 11),
				       created(9, "nine", 11) };
	live[2].flags = 0; /* a second record of 9 (a map read twice): still once */
	struct tsc_snapshot s;
	snap_init(&s, t, 3, NULL, 0);
	struct tsc_probe_view v = { .live = live, .nlive = 3, .counters = zero_counters };
	CHECK_EQ(tsc_reconcile(&s, &v), 0);
	CHECK_EQ(s.ntasks, 3);
	CHECK_EQ(count_id(&s, 7), 1);
	CHECK_EQ(count_id(&s, 8), 1);
	CHECK_EQ(count_id(&s, 9), 1);
	CHECK_STR(find(&s, 7)->coro, "coro_7");
	CHECK_STR(find(&s, 9)->name, "nine");
	CHECK_STR(find(&s, 9)->coro, "made_9");
	CHECK_EQ(find(&s, 9)->tid, 11);
	tsc_snapshot_free(&s);
}

/* A live record without its creation (a task the snapshot missed) is left out: no nameless
 * task is shown. */
TEST(unnamed_event_task_left_out)
{
	struct tsc_task_rec live[] = { { .id = 12, .flags = TSC_TF_STATE, .updated_ns = 2000 } };
	struct tsc_snapshot s;
	snap_init(&s, NULL, 0, NULL, 0);
	struct tsc_probe_view v = { .live = live, .nlive = 1, .counters = zero_counters };
	CHECK_EQ(tsc_reconcile(&s, &v), 0);
	CHECK_EQ(s.ntasks, 0);
	tsc_snapshot_free(&s);
}

/* Renames since attach replace the snapshot's name (unless the name could not be read);
 * state from an event newer than the snapshot replaces it, an older one does not. */
TEST(renames_after_snapshot_win)
{
	struct tsc_task t[] = { task(3, "old", 10), task(4, "keep", 10), task(5, "five", 10) };
	struct tsc_task_rec live[3] = { { .id = 3, .flags = TSC_TF_RENAMED },
					{ .id = 4, .flags = TSC_TF_RENAMED | TSC_TF_NAME_ERR },
					{ .id = 5, .flags = TSC_TF_STATE, .state = 3, .wait = 2,
					  .wait_obj = 3, .updated_ns = TAKEN - 1 } };
	snprintf(live[0].name, sizeof(live[0].name), "new");
	snprintf(live[1].name, sizeof(live[1].name), "garbage");
	struct tsc_snapshot s;
	snap_init(&s, t, 3, NULL, 0);
	struct tsc_probe_view v = { .live = live, .nlive = 3, .counters = zero_counters };
	CHECK_EQ(tsc_reconcile(&s, &v), 0);
	CHECK_STR(find(&s, 3)->name, "new");
	CHECK_STR(find(&s, 4)->name, "keep");
	CHECK_EQ(find(&s, 5)->state, 1); /* the event is older than the snapshot */
	tsc_snapshot_free(&s);

	live[2].updated_ns = TAKEN + 1;
	snap_init(&s, t, 3, NULL, 0);
	CHECK_EQ(tsc_reconcile(&s, &v), 0);
	CHECK_EQ(find(&s, 5)->state, 3);
	CHECK_EQ(find(&s, 5)->wait, 2);
	CHECK_EQ(find(&s, 5)->wait_obj, 3);
	tsc_snapshot_free(&s);
}

static int32_t plus_1000(void *ctx, int32_t inner)
{
	(void)ctx;
	return inner + 1000;
}

/* Each thread's current task: the last switch wins over the snapshot; a current task that
 * is not in the result, or runs on another thread, becomes 0; loops started since attach
 * appear, stopped ones run nothing; created tasks get our thread ids. */
TEST(current_task_per_thread)
{
	struct tsc_task t[] = { task(1, "a", 1010), task(2, "b", 1010), task(3, "c", 1020),
				task(4, "d", 1030) };
	struct tsc_thread th[] = { { .tid = 1010, .loop_id = 1, .current = 1 },
				   { .tid = 1020, .loop_id = 2, .current = 3 },
				   { .tid = 1030, .loop_id = 3, .current = 4 },
				   { .tid = 1040, .loop_id = 4, .current = 77 } };
	struct tsc_task_rec live[] = { created(5, "e", 50) };
	__u32 tids[] = { 1010, 1020, 1030, 1050, 1060 };
	struct tsc_thread_rec trec[] = {
		{ .flags = TSC_THF_SWITCHED, .current = 2 },  /* 1010: now 2 */
		{ .flags = TSC_THF_SWITCHED, .current = 4 },  /* 1020: 4 runs on 1030 */
		{ .flags = TSC_THF_STOPPED },                 /* 1030: stopped */
		{ .loop_id = 5, .flags = TSC_THF_STARTED | TSC_THF_SWITCHED, .current = 5 },
		{ .loop_id = 6, .flags = TSC_THF_STARTED | TSC_THF_STOPPED }, /* came and went */
	};
	struct tsc_snapshot s;
	snap_init(&s, t, 4, th, 4);
	struct tsc_probe_view v = { .live = live, .nlive = 1, .thread_tids = tids,
				    .threads = trec, .nthreads = 5, .outer_tid = plus_1000,
				    .counters = zero_counters };
	CHECK_EQ(tsc_reconcile(&s, &v), 0);
	CHECK_EQ(s.nthreads, 5);
	CHECK_EQ(thread(&s, 1010)->current, 2);
	CHECK_EQ(thread(&s, 1020)->current, 0);
	CHECK_EQ(thread(&s, 1030)->current, 0);
	CHECK_EQ(thread(&s, 1040)->current, 0); /* 77: no such task */
	CHECK_EQ(thread(&s, 1050)->loop_id, 5);
	CHECK_EQ(thread(&s, 1050)->current, 5);
	CHECK_EQ(find(&s, 5)->tid, 1050);
	CHECK_EQ(thread(&s, 1060)->tid, 0);
	tsc_snapshot_free(&s);
}

/* The counters: events, losses, full maps. */
TEST(counters)
{
	uint64_t c[TSC_C_NR] = { 0 };
	c[TSC_C_TASK_CREATE] = 3;
	c[TSC_C_TASK_FINISH] = 2;
	c[TSC_C_THREAD_STOP] = 1;
	c[TSC_C_FOREIGN] = 100;
	c[TSC_C_RB_DROPS] = 4;
	c[TSC_C_READ_ERR] = 1;
	c[TSC_C_LIVE_FULL] = 7;
	c[TSC_C_THREADS_FULL] = 1;
	struct tsc_snapshot s;
	snap_init(&s, NULL, 0, NULL, 0);
	struct tsc_probe_view v = { .counters = c };
	CHECK_EQ(tsc_reconcile(&s, &v), 0);
	CHECK_EQ(s.events, 6);
	CHECK_EQ(s.lost, 5);
	CHECK_EQ(s.map_full, 8);
	tsc_snapshot_free(&s);
}

int main(void)
{
	RUN(finished_never_resurrected);
	RUN(born_and_live_kept);
	RUN(seen_twice_appears_once);
	RUN(unnamed_event_task_left_out);
	RUN(renames_after_snapshot_win);
	RUN(current_task_per_thread);
	RUN(counters);
	return DONE();
}
