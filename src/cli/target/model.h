/* SPDX-License-Identifier: MIT */
/* What the CLI rebuilds of a target process: its loop threads and its live tasks.
 * Filled by the remote reader (remote.c) and reconciled with BPF events (probes/reconcile.c). */
#ifndef TSC_MODEL_H
#define TSC_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <taskscope/debug.h>

struct tsc_task {
	uint64_t id, parent;          /* parent 0 = none */
	char name[TS_NAME_MAX];
	char coro[64];
	uint32_t state;               /* enum ts_state */
	uint32_t wait;                /* enum ts_wait */
	uint64_t wait_obj;            /* for TS_WAIT_AWAIT: the awaited task id */
	int32_t tid;                  /* its loop's thread */
	uint64_t created_ns;          /* CLOCK_MONOTONIC, the target's clock = ours */
	uint64_t switches;
	uint64_t ctx_sp, stack_lo, stack_hi; /* where its suspended stack lives */
	/* from a runtime whose descriptor has TS_DEBUG_F_WAIT_AGES; 0 = unknown */
	uint64_t wait_since_ns;       /* CLOCK_MONOTONIC when its current wait began */
	uint64_t ready_since_ns;      /* when it became ready (or was queued, pending) */
	uint64_t spawn_pc;            /* return address into the code that spawned it */
	uint64_t addr;                /* the task struct in the target, 0 if known only by events */
};

struct tsc_thread {
	int32_t tid;
	uint64_t loop_id;
	uint64_t current;             /* running task id, 0 = none (in its scheduler or idle) */
	uint64_t lag_ns;              /* how late its timers fire (tsc_reg_loop_lag), 0 = on time
				       * or unknown */
};

/* Why a core file was written, when a signal did (target/core.h); signo 0 when not (gcore). */
struct tsc_crash {
	int signo, code;              /* the signal, and its si_code when the core has it */
	int has_addr;                 /* addr is the faulting address (SIGSEGV, SIGBUS, ...) */
	uint64_t addr;
	int32_t tid;                  /* the thread it hit */
	uint64_t task;                /* the task running on that thread then, 0 = none */
};

struct tsc_snapshot {
	int pid;
	uint64_t taken_ns;            /* CLOCK_MONOTONIC when the snapshot completed */
	struct tsc_thread *threads;
	size_t nthreads;
	struct tsc_task *tasks;
	size_t ntasks;
	uint32_t retries;             /* registry walks retried because it changed under us */
	int sorted;                   /* tasks in id order, each id once (tsc_snapshot_sort) */
	int wait_ages;                /* the runtime records wait ages (TS_DEBUG_F_WAIT_AGES) */
	/* filled by reconciliation with BPF; all 0 in a snapshot-only reading */
	int reconciled;
	uint64_t events, lost, map_full;
	/* read from a core file instead of a live process: its path (else NULL), and why it
	 * was written */
	const char *core;
	struct tsc_crash crash;
};

void tsc_snapshot_free(struct tsc_snapshot *s);
struct tsc_task *tsc_snapshot_find(const struct tsc_snapshot *s, uint64_t id);
/* Sort the tasks by id and keep each id once. find() is a binary search on a sorted snapshot
 * (the remote reader returns one sorted), a scan on any other. */
void tsc_snapshot_sort(struct tsc_snapshot *s);

#endif
