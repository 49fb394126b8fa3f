/* SPDX-License-Identifier: MIT */
/* profile's owner of an on-CPU sample (src/cli/profile/owner.c) without a target: the task the
 * loop's slot names, unless the frame pointer is in another task's stack (a switch between
 * the slot's store and the new frame pointer) or on the thread's own (the loop's); code
 * without frame pointers keeps the slot's task by its stack pointer; a task too new to have
 * a known stack keeps it too; the registry's ranges are the target's, searched in bounds. */
#include "check.h"
#include "profile/prof.h"
#include "target/model.h"

#define A 11
#define B 12
#define C 13
#define KiB 1024ull

/* tasks A, B, C with stacks at 0x100000, 0x200000, 0x300000, 64 KiB each (C given first) */
static void three(struct prof_loops *ls)
{
	struct tsc_task t[3] = { { .id = C, .stack_lo = 0x300000, .stack_hi = 0x300000 + 64 * KiB },
				 { .id = A, .stack_lo = 0x100000, .stack_hi = 0x100000 + 64 * KiB },
				 { .id = B, .stack_lo = 0x200000, .stack_hi = 0x200000 + 64 * KiB } };
	CHECK_EQ(prof_loops_stacks(ls, t, 3, 0x9e3779b97f4a7c15ull), 0);
	CHECK_EQ(ls->nstk, 3);
}

TEST(slot_task_when_its_frames)
{
	struct prof_loops ls = { 0 };
	three(&ls);
	CHECK_EQ(prof_loops_task(&ls, A, 0x100000 + 100, 0x100000 + 64), A);
	CHECK_EQ(prof_loops_task(&ls, 0, 0x7ff000000000, 0x7ff000000000 - 64), 0);
	CHECK_EQ(prof_loops_task(&ls, B, 0, 0), B); /* in the kernel: nothing to go by */
	prof_loops_fini(&ls);
}

TEST(mid_switch_goes_to_the_frames_owner)
{
	struct prof_loops ls = { 0 };
	three(&ls);
	/* A stored B as current, still on A's frames and stack */
	CHECK_EQ(prof_loops_task(&ls, B, 0x100000 + 200, 0x100000 + 100), A);
	/* the new frame pointer, the old stack, for one instruction */
	CHECK_EQ(prof_loops_task(&ls, B, 0x200000 + 200, 0x100000 + 100), B);
	/* the loop stored A, still on the thread's stack */
	CHECK_EQ(prof_loops_task(&ls, A, 0x7ff000000000, 0x7ff000000000 - 64), 0);
	/* C stored the loop (0) as current, on C's frames */
	CHECK_EQ(prof_loops_task(&ls, 0, 0x300000 + 8, 0x300000), C);
	/* the ends of a stack: lo in, hi out */
	CHECK_EQ(prof_loops_task(&ls, B, 0x300000, 0x300000), C);
	CHECK_EQ(prof_loops_task(&ls, B, 0x300000 + 64 * KiB, 0x7ff000000000), 0);
	prof_loops_fini(&ls);
}

TEST(no_frame_pointer_keeps_the_slot_by_sp)
{
	struct prof_loops ls = { 0 };
	three(&ls);
	/* rbp used as any register: not in a known stack, sp in the slot task's */
	CHECK_EQ(prof_loops_task(&ls, A, 0x12345, 0x100000 + 4000), A);
	prof_loops_fini(&ls);
}

TEST(unknown_task_keeps_the_slot)
{
	struct prof_loops ls = { 0 };
	three(&ls);
	/* task 99 came after the registry read: its stack may be one a finished task had */
	CHECK_EQ(prof_loops_task(&ls, 99, 0x100000 + 200, 0x100000 + 100), 99);
	prof_loops_fini(&ls);
}

TEST(hostile_ranges_stay_in_bounds)
{
	struct prof_loops ls = { 0 };
	/* empty, inverted and overlapping ranges, an id 0: the first two and the id 0 dropped */
	struct tsc_task t[5] = { { .id = A, .stack_lo = 5000, .stack_hi = 5000 },
				 { .id = B, .stack_lo = 9000, .stack_hi = 100 },
				 { .id = 0, .stack_lo = 1, .stack_hi = 2 },
				 { .id = C, .stack_lo = 0, .stack_hi = UINT64_MAX },
				 { .id = 14, .stack_lo = 4096, .stack_hi = 8192 } };
	CHECK_EQ(prof_loops_stacks(&ls, t, 5, 1), 0);
	CHECK_EQ(ls.nstk, 2);
	uint64_t got = prof_loops_task(&ls, 14, 1, 1);
	CHECK(got == C || got == 14);
	CHECK_EQ(prof_loops_task(&ls, A, UINT64_MAX - 1, 0), A); /* A: no known stack */
	/* read again: the old ranges are gone */
	struct tsc_task one = { .id = B, .stack_lo = 0x1000, .stack_hi = 0x2000 };
	CHECK_EQ(prof_loops_stacks(&ls, &one, 1, 1), 0);
	CHECK_EQ(prof_loops_task(&ls, B, 0x7000, 0x7000), 0);
	CHECK_EQ(prof_loops_task(&ls, 14, 0x1800, 0x1800), 14); /* 14: no longer known */
	prof_loops_fini(&ls);
}

int main(void)
{
	RUN(slot_task_when_its_frames);
	RUN(mid_switch_goes_to_the_frames_owner);
	RUN(no_frame_pointer_keeps_the_slot_by_sp);
	RUN(unknown_task_keeps_the_slot);
	RUN(hostile_ranges_stay_in_bounds);
	return DONE();
}
