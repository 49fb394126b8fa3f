/* SPDX-License-Identifier: MIT */
/* Frame-pointer unwinding of a suspended task's stack, read from outside the process through
 * a memory source (memsrc.h): no ptrace stop, nothing executed in the target. Why frame
 * pointers and not CFI: docs/stacks.md. */
#ifndef TSC_UNWIND_H
#define TSC_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <taskscope/debug.h>

#include "target/model.h"

#define TSC_STACK_MAX_FRAMES 64            /* deeper stacks end with TSC_STACK_TRUNCATED */
#define TSC_STACK_MAX_BYTES (1024 * 1024)  /* of one task's stack read, at most */
/* Of all the stacks an unwinder reads past each task's first window: 64 MiB, and 4 KiB more
 * per task given to tsc_unwind_tasks. Past it, stacks end as truncated: a target whose tasks
 * all claim deep stacks costs time in proportion to its tasks, not a MiB each. */
#define TSC_STACKS_READ_BASE (64u << 20)
#define TSC_STACKS_READ_PER_TASK 4096u

/* How a stack ended; append only (the JSON output names them). */
enum tsc_stack_end {
	TSC_STACK_COMPLETE = 0,   /* reached the task's entry frame */
	TSC_STACK_TRUNCATED,      /* TSC_STACK_MAX_FRAMES, TSC_STACK_MAX_BYTES or the read
				   * budget reached */
	TSC_STACK_BAD_FRAME,      /* a frame pointer outside the stack, not increasing, misaligned */
	TSC_STACK_UNREADABLE,     /* the stack or the task could not be read */
	TSC_STACK_CHANGED,        /* the task ran while each of our tries read its stack */
	TSC_STACK_RUNNING,        /* running on its thread: its stack is live, not shown */
	TSC_STACK_NOT_STARTED,    /* suspended before its first instruction */
	TSC_STACK_GONE,           /* the task finished or was freed before we read it */
	TSC_STACK_UNREGISTERED,   /* known from probe events only: created after the registry
				   * was read, so where its struct lives is unknown */
};

struct tsc_stack {
	uint64_t pc[TSC_STACK_MAX_FRAMES]; /* pc[0]: where it resumes; then return addresses */
	unsigned n;
	enum tsc_stack_end end;
	uint64_t bad_fp;          /* TSC_STACK_BAD_FRAME: the frame pointer that failed */
	unsigned tries;           /* reads done; more than one when the task ran meanwhile */
	bool exact_pc0;           /* pc[0] is an instruction pointer (a thread's registers in a
				   * core), not an address to return to */
};

struct tsc_unwinder;

struct tsc_memsrc;
/* Tasks and stacks read from src (memsrc.h), laid out as the runtime's descriptor d says
 * (read through the registry's decoder, registry.h); both must outlive the unwinder.
 * Returns 0 or -errno. */
int tsc_unwinder_new(const struct tsc_memsrc *src, const struct ts_debug_desc *d,
		     struct tsc_unwinder **out);
void tsc_unwinder_free(struct tsc_unwinder *u); /* accepts NULL */

/* Unwind task t (t->addr is its struct in the target). Re-reads the task's switch counter,
 * state and saved stack pointer before and after reading its stack, and retries when it ran
 * meanwhile. Never fails: out->end says how the stack ended, out->n frames are valid. */
void tsc_unwind_task(struct tsc_unwinder *u, const struct tsc_task *t, struct tsc_stack *out);

/* The same for t[0..n) into out[0..n), reading the tasks in batches: a few syscalls per
 * hundreds of tasks instead of three per task. Adds n * TSC_STACKS_READ_PER_TASK to what the
 * unwinder may read. */
void tsc_unwind_tasks(struct tsc_unwinder *u, const struct tsc_task *t, size_t n,
		      struct tsc_stack *out);

/* The walk alone, on a copy of a suspended stack: image holds [sp, sp + len), the top of a stack
 * whose lowest address is lo. The same checks and bounds as on a live process; for tests and
 * fuzzing. */
void tsc_unwind_image(const struct ts_debug_desc *d, const uint8_t *image, size_t len,
		      uint64_t sp, uint64_t lo, struct tsc_stack *out);

const char *tsc_stack_end_name(enum tsc_stack_end e); /* "complete", "bad-frame", ... */

#endif
