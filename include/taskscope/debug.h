/* SPDX-License-Identifier: MIT */
/*
 * The debug descriptor: how a reader outside the process finds every loop and task.
 *
 * The runtime places one `struct ts_debug_desc` in the ELF section ".taskscope_debug" (a
 * section, not just a symbol, so it survives `strip`). A reader maps the section's address
 * through the load bias from /proc/PID/maps, reads the descriptor with process_vm_readv, checks
 * magic and ABI version, and then walks:
 *
 *   loops[0 .. nloops)       array of loop pointers (max_loops entries, NULL = free slot)
 *   loop->tasks[0 .. ntasks) array of task pointers, the loop's not-yet-done tasks
 *
 * using only the offsets below. Writers bump loop->gen (and loops_gen) before and after each
 * change of an array (odd while changing), so a reader retries when the generation moved or is
 * odd. Each task starts with `magic` and carries `seq`, odd while its name changes; its state
 * is one 32-bit word, written at once.
 * All fields are native-endian; ids are 64-bit, from 1, never reused.
 */
#ifndef TASKSCOPE_DEBUG_H
#define TASKSCOPE_DEBUG_H

#include <stdint.h>

#define TS_DEBUG_MAGIC "TSCOPE\x01"  /* 8 bytes with the NUL */
#define TS_DEBUG_ABI_VERSION 3  /* 2: the event rings, appended (a v1 reader refuses it);
				 * 3: the ring header's head and counts in one cache line */
#define TS_DEBUG_SECTION ".taskscope_debug"
#define TS_TASK_MAGIC 0x4b5341544f435354ull  /* "TSCOTASK" */
#define TS_TASK_FREED 0x4445455246435354ull  /* "TSCFREED" */
#define TS_NAME_MAX 64                       /* task names, NUL included */

/* Bits of ts_debug_desc.features: what this writer does beyond ABI version 1's first form. */
#define TS_DEBUG_F_PENDING 0x1  /* a task that never ran reads TS_PENDING (0); without this
				 * bit it read TS_READY (1) from the moment it was queued */
#define TS_DEBUG_F_WAIT_AGES 0x2 /* the wait-ages block below is there (desc_size covers it) */

/* A loop's lag_max_ns holds the latest timer of a window this long (see loop_lag_max). */
#define TS_DEBUG_LAG_WINDOW_NS 10000000000ull

struct ts_debug_desc {
	char magic[8];
	uint32_t abi_version;
	uint32_t desc_size;         /* sizeof(struct ts_debug_desc) of the writer */
	uint64_t loops_addr;        /* address of the array of loop pointers */
	uint64_t nloops_addr;       /* address of the uint32_t count of used slots */
	uint64_t loops_gen_addr;    /* address of the uint64_t generation of that array */
	uint64_t next_id_addr;      /* address of the uint64_t next task id */
	uint32_t max_loops;
	uint32_t name_max;          /* bytes of the inline task name */

	/* struct ts_loop */
	uint16_t loop_size;
	uint16_t loop_id;           /* uint64_t */
	uint16_t loop_tid;          /* int32_t, the thread running the loop */
	uint16_t loop_current_id;   /* uint64_t, the running task's id, 0 = scheduler */
	uint16_t loop_current;      /* pointer to the running task, or NULL */
	uint16_t loop_tasks;        /* pointer to the array of task pointers */
	uint16_t loop_ntasks;       /* uint32_t */
	uint16_t loop_gen;          /* uint64_t */

	/* struct ts_task */
	uint16_t task_size;
	uint16_t task_magic;        /* uint64_t, TS_TASK_MAGIC while allocated */
	uint16_t task_seq;          /* uint64_t, odd while fields change */
	uint16_t task_id;           /* uint64_t */
	uint16_t task_parent;       /* uint64_t, 0 = none */
	uint16_t task_name;         /* char[name_max] */
	uint16_t task_coro;         /* const char *, the coroutine function's name */
	uint16_t task_state;        /* uint32_t, enum ts_state (taskscope.h; append-only values) */
	uint16_t task_wait;         /* uint32_t, enum ts_wait */
	uint16_t task_wait_obj;     /* uint64_t, see enum ts_wait */
	uint16_t task_tid;          /* int32_t, its loop's thread */
	uint16_t task_created_ns;   /* uint64_t, CLOCK_MONOTONIC */
	uint16_t task_switches;     /* uint64_t, times it was switched in */
	uint16_t task_ctx_sp;       /* uint64_t, saved stack pointer while suspended */
	uint16_t task_stack_lo;     /* uint64_t, lowest usable stack address */
	uint16_t task_stack_hi;     /* uint64_t, one past the highest */
	/* the frame a suspended task's ctx_sp points at (src/runtime/ctx.h) */
	uint16_t frame_rbp;         /* offset from ctx_sp of the saved frame pointer */
	uint16_t frame_ret;         /* offset from ctx_sp of the resume address */
	uint16_t features;          /* TS_DEBUG_F_* (was reserved: 0 in older writers) */
	uint16_t reserved[3];
	uint16_t pad_v1[2];         /* the first form's tail padding: its desc_size ends here */

	/* ---- TS_DEBUG_F_WAIT_AGES: since when each task waits, where it was spawned, how
	 * late each loop's timers fire. Times are CLOCK_MONOTONIC ns from the loop's cached
	 * clock (loop_now), which the scheduler reads once per pass: an age may start up to
	 * one pass (at most a few ms on a loop that is not blocked) before the real moment. */
	/* struct ts_task */
	uint16_t task_wait_since;   /* uint64_t, when its current wait began (state waiting) */
	uint16_t task_ready_since;  /* uint64_t, when it became ready or was queued */
	uint16_t task_spawn_pc;     /* uint64_t, return address into the caller of ts_spawn*,
				     * ts_run for the first task; 0 = unknown */
	/* struct ts_loop */
	uint16_t loop_now;          /* uint64_t, the loop's cached clock */
	uint16_t loop_lag;          /* uint64_t, how late the last expired timer fired */
	uint16_t loop_lag_max;      /* uint64_t, the latest of the timers that fired in the
				     * TS_DEBUG_LAG_WINDOW_NS since loop_lag_max_at */
	uint16_t loop_lag_max_at;   /* uint64_t, loop clock when that window began */
	uint16_t loop_timer_next;   /* uint64_t, the earliest timer's deadline, 0 = none: a
				     * reader's clock past it tells how late the loop is now */

	/* ABI version 2: the event rings (docs/rings.md). A version 1
	 * descriptor ends before it, with or without the wait-ages block. */
	uint16_t loop_ring;         /* struct ts_ring_hdr *, the loop's event ring, or NULL */
	uint16_t ring_reserved[3];
};

/* ---- the event rings (ABI version 3; version 2's layout below; docs/rings.md) ----
 *
 * Each loop thread writes its own ring, the only writer of it, while the rings probe's
 * semaphore is non-zero or the runtime keeps them on (probes.h). A ring is one mapping: this
 * header, then nslots slots of TS_RING_SLOT bytes. The writer fills the slots of a record at
 * slot positions head, head + 1, ... (position modulo nslots), then publishes head past them
 * with a release store. It never waits: the oldest records are overwritten. A reader copies
 * [its position, head), then reads head again: a slot at position p is whole only if
 * p + nslots >= head_after + TS_RING_MAX_SLOTS (the writer may be filling up to that many
 * slots past head). Every slot starts with a word that holds its type and the low 48 bits of
 * its own position, so a slot left from an older lap never passes for a newer one. */
#define TS_RING_MAGIC 0x33474e4952435354ull /* "TSCRING3": this layout (ABI version 3) */
#define TS_RING_MAGIC_V2 0x31474e4952435354ull /* "TSCRING1": ABI version 2's (below) */
#define TS_RING_SLOT 32                     /* bytes: four uint64_t */
#define TS_RING_MAX_SLOTS 8                 /* the longest record */
#define TS_RING_NAME_BYTES 24               /* of a string, per TS_RING_NAME slot */
#define TS_RING_F_TSC 0x1                   /* timestamps are TSC ticks (tsc0/mono0 convert
					     * them); else CLOCK_MONOTONIC nanoseconds */

/* Slot types (w0 bits 0..7); 1..7 are the events, numbered as the trace format's (10, READY,
 * is an extension record there). */
enum ts_ring_type {
	TS_RING_CREATE = 1,       /* aux: name slots | coro slots << 4; w2 id, w3 parent;
				   * then a TS_RING_MORE slot, then the name's, then the coro's */
	TS_RING_SWITCH = 2,       /* w2 prev id, w3 next id (0 = the loop's scheduler) */
	TS_RING_FINISH = 3,       /* aux outcome (enum ts_state); w2 id */
	TS_RING_RENAME = 4,       /* aux: name slots; w2 id; then the name's slots */
	TS_RING_WAIT = 5,         /* aux reason (enum ts_wait); w2 id, w3 object */
	TS_RING_THREAD_START = 6, /* w2 loop id, w3 tid */
	TS_RING_THREAD_STOP = 7,  /* w2 loop id, w3 tid */
	TS_RING_MORE = 8,         /* create's second slot: w1 the loop thread of the task */
	TS_RING_NAME = 9,         /* a string's bytes: aux its index in the string (0, 1, 2),
				   * w1..w3 24 bytes; the last slot of a string holds its NUL */
	TS_RING_READY = 10,       /* w2 id: the task was put on its loop's ready queue, by a
				   * wake or its start (not a yield: the yield's WAIT is its
				   * ready instant), written by that loop's thread; w3 0 */
	TS_RING_TYPES = 16,       /* fired[] entries; a reader skips (counts) a one-slot record
				   * of a type below this that it does not know */
};
/* A slot: w0 = type | aux << 8 | (position & 0xffffffffffff) << 16, w1 = time (but in MORE
 * and NAME slots), w2, w3 as the type says. */

struct ts_ring_hdr {
	/* line 0: set when the ring is made */
	uint64_t magic;             /* TS_RING_MAGIC, stored last */
	uint32_t hdr_size;          /* bytes from the start of this header to the first slot */
	uint32_t slot_size;         /* TS_RING_SLOT */
	uint64_t nslots;            /* a power of two */
	uint64_t head_v2;           /* ABI version 2's head; 0 */
	int32_t tid;                /* the thread that writes it */
	uint32_t flags;             /* TS_RING_F_* */
	uint64_t loop_id;
	uint64_t tsc0, mono0;       /* the TSC and CLOCK_MONOTONIC read together at creation */
	/* line 1 (offset 64): all a record stores in the header, so that a record after a sleep
	 * waits for one line of it, not one for head and one for each count */
	uint64_t head;              /* slots ever written: positions below it are published */
	uint64_t fired[TS_RING_TYPES]; /* records written, by type, since creation, at
				     * TS_RING_FIRED(type): a reader's losses are what fired
				     * and it never got */
};
/* Where a type's count is: READY's (10) in fired[0], which no type uses, so that every event
 * a loop writes often counts in head's line. */
#define TS_RING_FIRED(type) ((type) == TS_RING_READY ? 0 : (type))

/* ABI version 2's header (magic TS_RING_MAGIC_V2): line 0 the same but head at byte 24
 * (head_v2), and fired[type] (16 of them, indexed by type) from byte 64; 192 bytes. */
#define TS_RING_V2_HEAD 24
#define TS_RING_V2_FIRED 64
#define TS_RING_V2_HDR_BYTES 192

#endif
