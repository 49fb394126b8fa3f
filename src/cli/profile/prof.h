/* SPDX-License-Identifier: MIT */
/*
 * taskscope profile's wing: where samples go and how they come out.
 *
 *   store.c   the sample store: each distinct (task, loop, stack of addresses) once, with its
 *             samples and weight; the tasks' names and coroutines as the registry last gave them
 *   fold.c    the store symbolized (the symbolizer of ps --stacks) into a tree of frames under
 *             one root per task, name or coroutine (--by), or per loop for samples outside tasks
 *   folded.c  the tree as folded stacks, the flame-graph tools' input
 *   svg.c     the tree as a self-contained interactive SVG flame graph
 *   pprof.c   the store as a gzipped pprof protobuf (profile.proto), written by hand
 *   cpu.c     the on-CPU sampler (bpf/profile.bpf.c) feeding the store
 *   owner.c   whose frames an on-CPU sample holds, mid-switch too
 *   loops.c   the registry's loops, names and stacks, read for the samplers
 *   wait.c    the wait sampler: suspended tasks' stacks read from outside, weighted by time
 * Everything in the store came from the target: names are escaped when folded (fold.c), and
 * every writer writes only what fold.c or the symbolizer made safe.
 */
#ifndef TSC_PROF_H
#define TSC_PROF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "idmap.h"
#include "stacks/symbolize.h"

enum prof_kind { PROF_CPU, PROF_WAIT };
enum prof_by { PROF_BY_TASK, PROF_BY_NAME, PROF_BY_CORO };
enum prof_format { PROF_FMT_FOLDED, PROF_FMT_PPROF, PROF_FMT_SVG };

/* ---- the sample store ---- */

#define PROF_MAX_FRAMES 127         /* addresses kept of one stack, innermost first */
/* Distinct stacks kept, and their addresses in all (128 MiB): past either, samples are
 * counted lost. A target can make every sample's stack new. */
#define PROF_MAX_STACKS (1u << 21)
#define PROF_MAX_PCS (1u << 24)

struct prof_stack {
	uint64_t task;              /* 0: outside any task, on loop `loop` */
	uint64_t loop;              /* the loop's id */
	uint64_t count;             /* samples */
	uint64_t weight;            /* ns: CPU time (count x period) or time waited */
	size_t pc;                  /* its addresses: store->pcs[pc .. pc + n) */
	uint32_t n;
	uint32_t next;              /* the next stack with the same hash, + 1; 0 = none */
};

struct prof_task {
	uint64_t id;
	char name[64];              /* as read, not escaped: fold.c escapes */
	char coro[64];
};

struct prof_store {
	enum prof_kind kind;
	uint64_t period_ns;         /* CPU: ns per sample */
	struct prof_stack *st;
	size_t n, cap;
	uint64_t *pcs;
	size_t npcs, pcs_cap;
	struct tsc_idmap index;     /* stack hash -> first stack with it, + 1 */
	struct prof_task *tasks;
	size_t ntasks, tasks_cap;
	struct tsc_idmap task_index; /* task id -> index into tasks */
	uint64_t samples, lost;     /* kept, and not kept (store full, out of memory) */
	uint64_t seed;              /* the per-run hash key (walk.h) */
	uint64_t t0_ns, t1_ns;      /* CLOCK_MONOTONIC: when sampling began and ended */
	uint64_t wall_ns;           /* CLOCK_REALTIME at t0, for pprof's time_nanos */
};

int prof_store_init(struct prof_store *s, enum prof_kind kind, uint64_t period_ns);
void prof_store_fini(struct prof_store *s);
/* Count one sample of weight ns: the stack pc[0..n) (n capped at PROF_MAX_FRAMES) of task
 * (0: the loop's own) on loop. 0, or -ENOMEM (counted in lost). */
int prof_store_add(struct prof_store *s, uint64_t task, uint64_t loop, const uint64_t *pc,
		   unsigned n, uint64_t weight);
/* Remember task id's name and coroutine (the last call wins). 0 or -ENOMEM. */
int prof_store_task(struct prof_store *s, uint64_t id, const char *name, const char *coro);
const struct prof_task *prof_store_find_task(const struct prof_store *s, uint64_t id);

/* ---- strings, each once (strtab.c) ---- */

struct prof_strtab {
	char **s;
	size_t n, cap;
	uint32_t *next;             /* the next string with the same hash, + 1 */
	size_t next_cap;
	struct tsc_idmap index;     /* hash -> first string with it, + 1 */
};
int prof_strtab_init(struct prof_strtab *t); /* 0 or -ENOMEM */
/* The index of s, added when new; -ENOMEM. */
int64_t prof_strtab_add(struct prof_strtab *t, const char *s);
void prof_strtab_fini(struct prof_strtab *t);

/* ---- the tree of frames ---- */

struct prof_node {
	uint32_t name;              /* index into tree->names */
	uint32_t parent, child, next; /* node indexes; 0 = none (node 0 is the root "all") */
	uint64_t count, weight;     /* of this node and everything under it */
	uint64_t self_count, self_weight; /* of stacks that end here */
};

struct prof_tree {
	enum prof_kind kind;
	struct prof_node *node;
	size_t n, cap;
	struct prof_strtab names;   /* escaped, ';'-free, valid UTF-8; 0 is "all" */
	struct tsc_idmap child_index; /* (parent, name) -> child node */
	uint64_t period_ns, duration_ns;
};

struct tsc_symbolizer;
/* The label of a stack's root frame for --by: "NAME #ID", "NAME" or "CORO()" for a task,
 * "[loop ID]" outside tasks. buf: at least PROF_LABEL_SIZE bytes, escaped. */
#define PROF_LABEL_SIZE 600
const char *prof_root_label(const struct prof_store *s, const struct prof_stack *st,
			    enum prof_by by, char *buf);
/* The name of a frame at pc with the symbol y (NULL: unresolved), escaped and ';'-free. */
const char *prof_frame_name(uint64_t pc, const struct tsc_sym *y, char *buf, size_t n);
/* Fold the store into t: every stack's addresses symbolized (inlined calls expanded), from
 * its root label down; children kept in name order. 0 or -ENOMEM. */
int prof_fold(const struct prof_store *s, struct tsc_symbolizer *sym, enum prof_by by,
	      struct prof_tree *t);
void prof_tree_fini(struct prof_tree *t);

/* ---- the samplers ---- */

struct tsc_remote;

/* The target's loops, read from its registry (registry.h): each thread's loop and the address
 * of that loop's current-task slot. */
struct prof_loop {
	int32_t tid;                /* in our pid namespace (the root one, with BPF) */
	uint64_t id, slot;
};
/* A live task's stack, as the registry last gave it. */
struct prof_stk {
	uint64_t lo, hi, id;
};
struct prof_loops {
	struct prof_loop *l;
	size_t n, cap;
	struct prof_stk *stk;       /* the live tasks' stacks, by lo */
	size_t nstk, stk_cap;
	struct tsc_idmap stk_of;    /* task id -> its index in stk */
};
/* Read the loops again into *ls. 0 or -errno (r->err says what). */
int prof_loops_read(struct tsc_remote *r, struct prof_loops *ls);
uint64_t prof_loops_id(const struct prof_loops *ls, int32_t tid); /* 0: not a loop thread */
/* owner.c: the live tasks t[0..n) as ls's stacks (keyed with seed). 0 or -ENOMEM (then
 * none is known). */
struct tsc_task;
int prof_loops_stacks(struct prof_loops *ls, const struct tsc_task *t, size_t n, uint64_t seed);
/* The task an on-CPU sample ran in. Its loop's slot names one (claimed: 0 the loop), but a
 * switch stores the slot a few instructions before it moves to the new frames: the sample's
 * frame pointer fp and stack pointer sp (0: unknown) tell whose frames its stack holds. */
uint64_t prof_loops_task(const struct prof_loops *ls, uint64_t claimed, uint64_t fp,
			 uint64_t sp);
void prof_loops_fini(struct prof_loops *ls);
/* The names of the live tasks into the store, and their stacks into ls: one registry read. */
int prof_names_read(struct tsc_remote *r, struct prof_store *s, struct prof_loops *ls);

/* On-CPU (cpu.c): bpf/profile.bpf.c on a CPU-clock event of every CPU at hz. */
struct prof_cpu;
int prof_cpu_open(struct tsc_remote *r, int hz, struct prof_cpu **out);
/* Give the BPF side the loops' slots (threads gone since the last call lose theirs). */
int prof_cpu_slots(struct prof_cpu *c, const struct prof_loops *ls);
/* Move every sample the ring buffer holds into s; returns how many, or -errno. */
long prof_cpu_drain(struct prof_cpu *c, const struct prof_loops *ls, struct prof_store *s);
/* The BPF counters (enum tsp_counter of bpf/profile.h) summed over CPUs. */
int prof_cpu_counters(struct prof_cpu *c, uint64_t *sums, size_t n);
void prof_cpu_close(struct prof_cpu *c); /* accepts NULL */

/* Waiting (wait.c): every suspended task's stack, read from outside as ps --stacks reads it,
 * counted with the time until the next tick. */
struct prof_wait;
int prof_wait_open(struct tsc_remote *r, struct prof_wait **out);
/* One tick at now_ns: what the last tick saw counted with the time since it, then the
 * registry read, each suspended task's stack unwound and kept for the next tick, the names
 * kept. 0, or -errno (-EAGAIN: the registry would not hold still; the tick is skipped, and
 * the last one's time runs on). */
int prof_wait_tick(struct prof_wait *w, struct prof_store *s, uint64_t now_ns);
/* At the end: what the last tick saw, counted with the time until now_ns. */
int prof_wait_flush(struct prof_wait *w, struct prof_store *s, uint64_t now_ns);
void prof_wait_close(struct prof_wait *w); /* accepts NULL */

/* ---- the writers: 0, or -errno (EIO: a write failed) ---- */

int prof_write_folded(FILE *f, const struct prof_tree *t);
int prof_write_svg(FILE *f, const struct prof_tree *t, const char *title);
int prof_write_pprof(FILE *f, const struct prof_store *s, struct tsc_symbolizer *sym,
		     enum prof_by by);

#endif
