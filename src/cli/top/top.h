/* SPDX-License-Identifier: MIT */
/*
 * taskscope top: what its files share.
 *
 *   top.c         the command: options, attach, the refresh loop, signals, resync
 *   top_reg.c     each refresh's read of the registry: loops, tasks, states (no probes)
 *   top_bpf.c     the sampler (perf events) or the exact switch accounting (bpf/sampler.bpf.c)
 *   top_model.c   rates, sorting, filtering, the await tree, details
 *   top_render.c  the full-screen view (ncurses)
 *   top_keys.c    what each key does to the view
 *   top_batch.c   plain text frames (-b) and JSON frames (--json)
 */
#ifndef TSC_TOP_H
#define TSC_TOP_H

#include <stddef.h>
#include <stdint.h>
#include <taskscope/debug.h>
#include "idmap.h"
#include "target/walk.h"

struct tsc_remote;

enum top_sort { TOP_SORT_CPU, TOP_SORT_AGE, TOP_SORT_NAME, TOP_SORT_ID, TOP_SORT_SWITCHES };

struct top_task {
	uint64_t id, parent;
	uint64_t addr;              /* the task in the target */
	uint64_t coro_addr;
	uint64_t wait_obj;
	uint64_t created_ns;        /* CLOCK_MONOTONIC */
	uint64_t switches;          /* the runtime's own count: times switched in */
	uint64_t seq;               /* the runtime's change counter, as last read */
	uint64_t wait_since_ns;     /* when its current wait began; 0 = unknown (older runtime) */
	uint32_t state, wait;       /* enum ts_state, enum ts_wait */
	int32_t tid;                /* its loop's thread, our pid namespace */
	char name[TS_NAME_MAX];
	const char *coro;           /* the coroutine's name: top_reg's copy, never "" -> NULL */
	/* measured by top */
	double cpu_pct;             /* share of one CPU over the last interval */
	double sw_rate;             /* switches per second over the last interval */
	uint64_t cpu_ns;            /* CPU time seen since top attached */
	uint64_t bpf_samples;       /* last cumulative values read from the BPF maps */
	uint64_t bpf_cpu_ns;
	uint64_t sw_prev;           /* switches at the previous refresh */
	int known;                  /* seen at the previous refresh: rates are valid */
};

struct top_thread {
	int32_t tid;                /* our pid namespace */
	int32_t inner_tid;          /* the target's */
	uint64_t loop_id, loop_addr;
	uint64_t current;           /* running task id, 0 = its scheduler or idle */
	uint64_t lag_ns;            /* how late its timers fire (tsc_reg_loop_lag); 0 = unknown */
	double cpu_pct;             /* the thread on a CPU, share of one CPU */
	double task_pct;            /* of which running a task */
	/* last cumulative values */
	uint64_t samples, task_samples, run_ns, sched_ns, bpf_switches;
	uint64_t run_current, run_since; /* exact: the task switched in now, and since when */
	int known;
};

/* An id -> index table: the CLI's id map, keyed (the ids are the live target's). The old
 * name stays while the registry reader (top_reg.c) still uses it. */
#define top_idx tsc_idmap

struct top_model {
	int pid;
	int exact, hz;
	double interval;            /* the refresh interval asked for, seconds */
	struct top_task *tasks;     /* sorted by address */
	size_t ntasks, cap;
	struct top_idx by_id;
	struct top_task *spare;     /* the previous refresh's arrays, reused by the next */
	size_t spare_cap;
	struct top_idx spare_idx;
	struct top_thread *threads;
	size_t nthreads;
	uint64_t taken_ns;          /* CLOCK_MONOTONIC of this refresh */
	uint64_t prev_ns;           /* of the one before, 0 = none */
	double dt;                  /* seconds between the two */
	uint64_t next_id;           /* the target's next task id, read after the tasks */
	uint64_t next_id_before;    /* ... and before the loops: older ids were all created */
	size_t nstate[8];           /* tasks per enum ts_state */
	/* the probes' and samplers' counters, cumulative since the first attach */
	uint64_t created, finished, renamed, events, lost, map_full;
	uint64_t s_samples, s_switch, s_full, s_err; /* the sampler's counters (top_bpf.c) */
	double created_rate, finished_rate, events_rate;
	uint64_t resyncs;
	uint32_t retries;           /* registry reads retried because it changed under us */
	size_t invalid;             /* loop and task pointers that failed validation, last read */
	char note[160];             /* a transient problem to show, "" = none */
};

/* ---- top_reg.c: the registry, re-read at each refresh ---- */
struct top_reg;
int top_reg_new(struct tsc_remote *r, struct top_reg **out);
void top_reg_free(struct top_reg *g);
/* Re-read loops, task arrays and every task's fields into m: tasks that left the registry
 * leave m, new ones join it, measured fields follow their id. Returns 0 or -errno (then m is
 * unchanged and r->err says why). */
int top_reg_refresh(struct top_reg *g, struct top_model *m);

/* ---- top_bpf.c: samples or switch times ---- */
struct top_bpf;
/* Load bpf/sampler.bpf.c for m->pid; sampling: a CPU-clock event per CPU at m->hz; exact:
 * the task_switch probe of r's runtime binary. Prints why on failure; returns 0 or -errno. */
int top_bpf_open(struct top_model *m, struct tsc_remote *r, struct top_bpf **out);
void top_bpf_close(struct top_bpf *s);
/* Tell the sampler where each loop thread's current-task slot is (after top_reg_refresh). */
int top_bpf_set_slots(struct top_bpf *s, const struct top_model *m);
/* Read samples or times into m's tasks and threads (rates over m->dt), forget finished
 * tasks' records; adds its counters to m. Returns 0 or -errno. */
int top_bpf_read(struct top_bpf *s, struct top_model *m);

/* ---- top_model.c ---- */
/* Empty, with room for n keys; reuses x's arrays when they are big enough. */
static inline int top_idx_reset(struct tsc_idmap *x, size_t n)
{
	return tsc_idmap_reset(x, n, tsc_hash_key);
}
static inline void top_idx_free(struct tsc_idmap *x) { tsc_idmap_free(x); }
/* Into a table reset for at least as many keys: it never grows, so never fails. */
static inline void top_idx_put(struct tsc_idmap *x, uint64_t key, uint32_t val)
{
	(void)tsc_idmap_put(x, key, val);
}
static inline uint64_t *top_idx_get(const struct tsc_idmap *x, uint64_t key)
{
	return tsc_idmap_get(x, key);
}
void top_model_free(struct top_model *m);
struct top_task *top_find(const struct top_model *m, uint64_t id);

struct top_view {
	enum top_sort sort;
	int reverse;
	char filter[TS_NAME_MAX];   /* substring of the name, "" = all */
	int tree;                   /* the await tree instead of the table */
};
const char *top_sort_name(enum top_sort s);
int top_sort_parse(const char *s, enum top_sort *out);
/* Row order for the table: the indices of the tasks passing the filter, the first `want`
 * of them in sort order (want 0 = all). Returns how many pass the filter; *rows (malloc'd,
 * caller frees) holds min(that, want or all). */
size_t top_rows(const struct top_model *m, const struct top_view *v, size_t want,
		uint32_t **rows, size_t *nrows);
/* The await tree: each task above the task it awaits, roots (tasks nobody awaits) in sort
 * order. rows[i] is a task index; depth[i] its indent; mark[i] 1 when it continues above
 * (awaited by several), 2 when it closes a cycle. */
struct top_tree {
	uint32_t *rows;
	uint16_t *depth;
	uint8_t *mark;
	size_t n;
	size_t ncycles;
};
int top_tree_build(const struct top_model *m, const struct top_view *v, struct top_tree *t);
void top_tree_free(struct top_tree *t);
/* The tasks awaiting id: fills up to max indices, returns the total. */
size_t top_awaited_by(const struct top_model *m, uint64_t id, uint32_t *out, size_t max);
/* The task's wait, its object spelled out ("await 12 worker-0-1", "fd 7", "queue 0x...",
 * "sleep 20ms"), "-" when not waiting. */
void top_wait_long(const struct top_model *m, const struct top_task *t, char *buf, size_t n);
/* Formatting for both outputs. */
void top_fmt_cputime(uint64_t ns, char *buf, size_t n);

/* ---- top_batch.c ---- */
void top_print_text(const struct top_model *m, const struct top_view *v, const char *mode);
void top_print_json(const struct top_model *m, const struct top_view *v, const char *mode,
		    uint64_t frame);

/* ---- top_render.c and top_keys.c: the interactive view ---- */
struct top_ui;
/* Start curses on the terminal; 0 or -errno (no terminal). The terminal is restored by
 * top_ui_end, at exit, and on fatal signals. */
int top_ui_start(struct top_ui **out);
void top_ui_end(struct top_ui *ui); /* accepts NULL; idempotent */
void top_ui_draw(struct top_ui *ui, const struct top_model *m, const char *mode);
/* Handle every pending key; returns 1 when the user asked to quit. */
int top_ui_keys(struct top_ui *ui, const struct top_model *m);
int top_ui_paused(const struct top_ui *ui);
struct top_view *top_ui_view(struct top_ui *ui);
void top_ui_message(struct top_ui *ui, const char *msg);

#endif
