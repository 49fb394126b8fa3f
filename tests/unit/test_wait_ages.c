/* SPDX-License-Identifier: MIT */
/* Wait ages (debug.h, TS_DEBUG_F_WAIT_AGES): since when a task waits or is ready, where it was
 * spawned, how late its loop's timers fire; and the descriptor that tells readers where.
 * Times come from the loop's cached clock: bounds are by order of clock reads, never by speed. */
#include <errno.h>
#include <stddef.h>
#include <taskscope/taskscope.h>
#include "internal.h"
#include "check.h"

#define MS 1000000ull

extern struct ts_debug_desc ts__debug_desc;

TEST(descriptor_publishes_the_block)
{
	const struct ts_debug_desc *d = &ts__debug_desc;
	CHECK(d->features & TS_DEBUG_F_WAIT_AGES);
	CHECK_EQ(d->desc_size, sizeof(struct ts_debug_desc));
	CHECK_EQ(d->task_wait_since, offsetof(struct ts_task, wait_since_ns));
	CHECK_EQ(d->task_ready_since, offsetof(struct ts_task, ready_since_ns));
	CHECK_EQ(d->task_spawn_pc, offsetof(struct ts_task, spawn_pc));
	CHECK_EQ(d->loop_now, offsetof(struct ts_loop, now_ns));
	CHECK_EQ(d->loop_lag, offsetof(struct ts_loop, lag_ns));
	CHECK_EQ(d->loop_lag_max, offsetof(struct ts_loop, lag_max_ns));
	CHECK_EQ(d->loop_lag_max_at, offsetof(struct ts_loop, lag_max_at_ns));
	CHECK_EQ(d->loop_timer_next, offsetof(struct ts_loop, timer_next_ns));
}

/* ---- a sleeper's wait, then its time ready ---- */

static uint64_t slept_from;

static void *sleeper(void *arg)
{
	(void)arg;
	slept_from = ts_now_ns();
	ts_sleep_ms(20);
	return NULL;
}

static void *watch_sleeper(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn(sleeper, NULL);
	CHECK_EQ(ts_task_state(t), TS_PENDING);
	CHECK(t->ready_since_ns != 0);
	ts_yield(); /* the sleeper runs and sleeps */
	uint64_t now = ts_now_ns();
	CHECK_EQ(ts_task_state(t), TS_WAITING);
	/* ts_sleep reads the clock anyway: the wait starts at that reading, after slept_from */
	CHECK(t->wait_since_ns >= slept_from);
	CHECK(t->wait_since_ns <= now);
	uint64_t since = t->wait_since_ns;
	ts_await(t, NULL);
	CHECK(t->ready_since_ns >= since); /* woken by its timer after it began waiting */
	ts_task_unref(t);
	return NULL;
}

TEST(sleep_wait_since_and_ready_since) { ts_run(watch_sleeper, NULL); }

/* ---- an await: the age comes from the loop's cached clock, never ahead of the clock ---- */

static void *parked(void *arg)
{
	ts_event *e = arg;
	ts_event_wait(e);
	return NULL;
}

static void *watch_await(void *arg)
{
	(void)arg;
	ts_event *e = ts_event_new();
	ts_task *t = ts_spawn(parked, e);
	uint64_t before = ts__tls_loop->now_ns;
	ts_yield();
	CHECK_EQ(ts_task_state(t), TS_WAITING);
	CHECK_EQ(ts_task_wait(t), TS_WAIT_EVENT);
	CHECK(t->wait_since_ns >= before);
	CHECK(t->wait_since_ns <= ts_now_ns() + 5 * MS); /* the coarse clock may trail by a tick */
	ts_event_set(e);
	CHECK_EQ(ts_task_state(t), TS_READY);
	CHECK(t->ready_since_ns >= t->wait_since_ns);
	ts_await(t, NULL);
	ts_task_unref(t);
	ts_event_free(e);
	return NULL;
}

TEST(event_wait_since) { ts_run(watch_await, NULL); }

/* ---- the spawn site: a return address into the spawning function ---- */

static __attribute__((noinline, noipa)) uint64_t here(void)
{
	return (uint64_t)(uintptr_t)__builtin_return_address(0);
}

static void *nothing(void *arg)
{
	return arg;
}

static void *spawner(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn(nothing, NULL);
	uint64_t pc = here();
	CHECK(t->spawn_pc != 0);
	/* both return addresses are in this function, a few instructions apart */
	CHECK(t->spawn_pc < pc && pc - t->spawn_pc < 128);
	ts_task *d = ts_spawn_opts(nothing, NULL, &(struct ts_spawn_opts){ .name = "o" });
	uint64_t pc2 = here();
	CHECK(d->spawn_pc < pc2 && pc2 - d->spawn_pc < 128);
	ts_await(t, NULL);
	ts_await(d, NULL);
	ts_task_unref(t);
	ts_task_unref(d);
	/* the first task's site is in the code that called ts_run */
	CHECK(ts_current_task()->spawn_pc != 0);
	return NULL;
}

TEST(spawn_pc_is_the_call_site) { ts_run(spawner, NULL); }

/* ---- loop lag: a timer due while a task runs without yielding fires that late ---- */

static void *short_sleep(void *arg)
{
	(void)arg;
	ts_sleep_ms(1);
	return NULL;
}

static void *blocker(void *arg)
{
	(void)arg;
	ts_task *s = ts_spawn(short_sleep, NULL);
	ts_yield(); /* it arms its timer */
	ts_loop *loop = ts__tls_loop;
	CHECK_EQ(loop->ntimers, 1u);
	CHECK_EQ(loop->timer_next_ns, loop->timers[0].deadline);
	uint64_t due = loop->timer_next_ns;
	/* run without yielding until 50 ms past the deadline: the loop cannot fire it */
	while (ts_now_ns() < due + 50 * MS)
		;
	ts_await(s, NULL);
	CHECK(loop->lag_ns >= 50 * MS);
	CHECK(loop->lag_max_ns >= loop->lag_ns);
	CHECK(loop->lag_max_at_ns >= due + 50 * MS);
	CHECK_EQ(loop->timer_next_ns, 0u);
	ts_task_unref(s);
	return NULL;
}

TEST(loop_lag_of_a_blocked_loop) { ts_run(blocker, NULL); }

int main(void)
{
	RUN(descriptor_publishes_the_block);
	RUN(sleep_wait_since_and_ready_since);
	RUN(event_wait_since);
	RUN(spawn_pc_is_the_call_site);
	RUN(loop_lag_of_a_blocked_loop);
	return DONE();
}
