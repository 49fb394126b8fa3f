/* SPDX-License-Identifier: MIT */
/*
 * taskscope top: what its files share.
 *
 *   ../top.c            the command: options, attach, the refresh loop, signals, resync
 *   registry.c          each refresh's read of the registry: loops, tasks, states (no probes)
 *   ../probes/sampler.c the sampler (perf events) or the exact switch accounting
 *                       (bpf/sampler.bpf.c)
 *   model.c             rates, sorting, filtering, the await tree, details
 *   render.c            the full-screen view (ncurses)
 *   keys.c              what each key does to the view
 *   batch.c             plain text frames (-b) and JSON frames (--json)
 */
#ifndef TSC_TOP_H
#define TSC_TOP_H

#include <stddef.h>
#include <stdint.h>
#include <taskscope/debug.h>
#include "idmap.h"
#include "out/out.h"
#include "out/warn.h"
#include "target/model.h"
#include "target/walk.h"
#include "trace/latency.h"

struct tsc_remote;
struct top_exact;

enum top_sort { TOP_SORT_CPU, TOP_SORT_AGE, TOP_SORT_NAME, TOP_SORT_ID, TOP_SORT_SWITCHES,
		 TOP_SORT_WAITED };

struct top_task {
	uint64_t id, parent;
	uint64_t addr;              /* the task in the target */
	uint64_t coro_addr;
	uint64_t wait_obj;
	uint64_t created_ns;        /* CLOCK_MONOTONIC */
	uint64_t wait_since_ns, ready_since_ns; /* the runtime's wait ages, 0 = unknown */
	uint64_t switches;          /* the runtime's own count: times switched in */
	uint64_t seq;               /* the runtime's change counter, as last read */
	uint32_t state, wait;       /* enum ts_state, enum ts_wait */
	int32_t tid;                /* its loop's thread, our pid namespace */
	char name[TS_NAME_MAX];
	const char *coro;           /* the coroutine's name: top_reg's copy, never "" -> NULL */
	/* measured by top */
	double cpu_pct;             /* share of one CPU over the last interval */
	double sw_rate;             /* switches per second over the last interval */
	uint64_t cpu_ns;            /* CPU time seen since top attached */
	uint64_t bpf_samples;       /* last cumulative values read from the BPF maps */
	uint64_t bpf_cpu_ns;        /* exact: switched-in time, up to the last refresh */
	uint64_t sw_prev;           /* switches at the previous refresh */
	int known;                  /* seen at the previous refresh: rates are valid */
};

struct top_thread {
	int32_t tid;                /* our pid namespace */
	int32_t inner_tid;          /* the target's */
	uint64_t loop_id, loop_addr;
	uint64_t current;           /* running task id, 0 = its scheduler or idle */
	uint64_t lag_ns;            /* how late its loop's timers fire (tsc_reg_loop_lag) */
	double cpu_pct;             /* the thread on a CPU (the kernel's count), share of one CPU */
	double task_pct;            /* of which running a task */
	/* last cumulative values */
	uint64_t samples, task_samples, run_ns, sched_ns, bpf_switches;
	uint64_t gap_ns;            /* exact from the rings: time no record told of */
	/* exact from the rings: scheduling latency over the last interval, ready (woken,
	 * started, or a yield) to switched in on this thread; lat_known 0: none measured */
	struct tsc_lat_figs lat;
	int lat_known;
	uint64_t run_current, run_since; /* exact: the task switched in now, and since when */
	/* this interval: the thread's CPU ns per ns a task was switched in (exact, at most 1)
	 * or per sample of a task (sampling): how its tasks' shares become CPU time */
	double credit;
	uint64_t unsampled_ns;      /* sampling: CPU time no sample saw, credited to current */
	/* the task seen current at consecutive reads with its switch count unchanged: running
	 * since at least streak_ns (warnings.c) */
	uint64_t streak_task, streak_switches, streak_ns, streak_reads;
	uint64_t streak_samples, streak_task_samples; /* the counters when it began */
	int known;
};

struct top_model {
	int pid;
	int exact, hz;
	int rings;                  /* exact: from the event rings (else the task_switch uprobe) */
	double interval;            /* the refresh interval asked for, seconds */
	struct top_task *tasks;     /* sorted by address */
	size_t ntasks, cap;
	struct tsc_idmap by_id;     /* id -> index in tasks, keyed: the ids are the target's */
	struct top_task *spare;     /* the previous refresh's arrays, reused by the next */
	size_t spare_cap;
	struct tsc_idmap spare_idx;
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
	uint64_t s_samples, s_switch, s_full, s_err; /* the sampler's counters (sampler.c) */
	double created_rate, finished_rate, events_rate;
	uint64_t resyncs;
	uint32_t retries;           /* registry reads retried because it changed under us */
	size_t invalid;             /* loop and task pointers that failed validation, last read */
	char note[160];             /* a transient problem to show, "" = none */
	/* warnings (warnings.c): their thresholds, and those of this refresh */
	uint64_t warn_run_ns, warn_wait_ns, warn_lag_ns;
	struct tsc_warnings warn;
};

/* ---- top/registry.c: the registry, re-read at each refresh ---- */
struct top_reg;
int top_reg_new(struct tsc_remote *r, struct top_reg **out);
void top_reg_free(struct top_reg *g);
/* Re-read loops, task arrays and every task's fields into m: tasks that left the registry
 * leave m, new ones join it, measured fields follow their id. Returns 0 or -errno (then m is
 * unchanged and r->err says why). */
int top_reg_refresh(struct top_reg *g, struct top_model *m);

/* ---- probes/sampler.c: samples or switch times ---- */
struct top_bpf;
/* Load bpf/sampler.bpf.c for m->pid; sampling: a CPU-clock event per CPU at m->hz; exact:
 * the task_switch probe of r's runtime binary, or with x no BPF: the records x keeps from
 * the event rings. Prints why on failure; returns 0 or -errno. */
int top_bpf_open(struct top_model *m, struct tsc_remote *r, struct top_exact *x,
		 struct top_bpf **out);
void top_bpf_close(struct top_bpf *s);
/* Tell the sampler where each loop thread's current-task slot is (after top_reg_refresh). */
int top_bpf_set_slots(struct top_bpf *s, const struct top_model *m);
/* Read samples or times into m's tasks and threads (rates over m->dt), forget finished
 * tasks' records; adds its counters to m. Returns 0 or -errno. */
int top_bpf_read(struct top_bpf *s, struct top_model *m);

/* ---- top/exact.c: --exact from the event rings ---- */
struct top_exact;
struct tss_thread;
struct tsc_bpfmap_dump;
/* Find r's event rings and hold the rings probe (the loops write from then on). 0;
 * -ENOTSUP, nothing said, when its runtime has no rings (descriptor ABI version 1, or no
 * rings probe: only probes.h); or another -errno, said on stderr. */
int top_exact_open(struct tsc_remote *r, struct top_exact **out);
void top_exact_close(struct top_exact *x); /* lets go of the probe; accepts NULL */
/* Drain every ring into the switch accounting (and look for new rings now and then): the
 * events read, or -errno (the target gone). */
long top_exact_drain(struct top_exact *x);
/* When the last drain began: the records written before were all read then. */
uint64_t top_exact_read_ns(const struct top_exact *x);
/* How long after the last drain the next is due: before a ring fills at its pace. */
uint64_t top_exact_period_ns(const struct top_exact *x);
/* Since top attached, from what the rings fired: */
struct top_exact_counts {
	uint64_t created, finished, renamed, events;
	uint64_t lost;              /* events overwritten before they were read */
	uint64_t malformed;         /* slots that failed validation: the target wrote over them */
	uint64_t full;              /* switch accounting records that found no room */
	uint64_t resyncs;           /* a thread's accounting restarted after lost records */
	const char *error;          /* a ring no longer read, and why; NULL */
};
void top_exact_counts(const struct top_exact *x, struct top_exact_counts *c);
/* For probes/sampler.c, the records of bpf/sampler.h as the BPF maps hold them on the uprobe
 * path: a thread's (by the target's tid; -ENOENT: none yet), every task's appended to d; a
 * zero record for id unless it has one; records of tasks and threads gone forgotten. */
int top_exact_thread(const struct top_exact *x, int32_t tid, struct tss_thread *out);
/* The thread's time, up to now, that no record tells of: from each lost stretch of its ring
 * to its next switch. */
uint64_t top_exact_gap_ns(const struct top_exact *x, int32_t tid, uint64_t now);
uint64_t top_exact_attach_ns(const struct top_exact *x);
void top_exact_seed(struct top_exact *x, uint64_t id);
int top_exact_tasks(const struct top_exact *x, struct tsc_bpfmap_dump *d);
void top_exact_forget(struct top_exact *x, const uint64_t *ids, size_t n);
void top_exact_forget_thread(struct top_exact *x, int32_t tid);
/* Each of m's threads' scheduling latency since the last call into its lat (by the rings'
 * READY records, or a yield's WAIT, to the switch in), and the samples forgotten. */
void top_exact_latency(struct top_exact *x, struct top_model *m);

/* ---- top/model.c ---- */
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
/* A task as the shared formatters (out.h) read it: state, wait and wait ages. */
struct tsc_task top_task_wait(const struct top_task *t);
/* How long the task has waited (or, ready, waited for its turn): 1 and *ns, or 0. */
int top_task_waited(const struct top_model *m, const struct top_task *t, uint64_t *ns);
/* The task's wait, its object spelled out ("await 12 worker-0-1", "fd 7", "queue 0x...",
 * "sleep 20ms"), "-" when not waiting. */
void top_wait_long(const struct top_model *m, const struct top_task *t, char *buf, size_t n);
/* Formatting for both outputs. */
void top_fmt_cputime(uint64_t ns, char *buf, size_t n);

/* ---- top/cols.c: the task table's columns, for both outputs ---- */
enum top_col_id {
	TOP_COL_ID, TOP_COL_NAME, TOP_COL_STATE, TOP_COL_WAIT, TOP_COL_THREAD, TOP_COL_CPU,
	TOP_COL_TIME, TOP_COL_SW, TOP_COL_AGE, TOP_COL_CORO, TOP_NCOLS
};
struct top_col {
	const char *head;
	uint8_t right;              /* numbers: right-aligned */
	uint8_t ours;               /* the cell is ASCII we format (size bytes); else the target's
				     * text, escaped: TOP_CELL_SIZE bytes */
	uint8_t min;                /* the narrowest a column that gives up width gets */
	uint8_t give;               /* in which round it gives up width to fit: 1 first, 0 never */
	int sort;                   /* the sort it shows (enum top_sort), -1 none */
	uint8_t size;               /* ours: bytes its cell needs, NUL included */
};
extern const struct top_col top_cols[TOP_NCOLS];
/* Room for a cell: the target's text (name, coroutine) escaped, or our own. */
#define TOP_CELL_SIZE TSC_TEXT_SIZE(TS_NAME_MAX)
/* Column c of task t, escaped (out.h): ready to print, or to cut to a width. */
void top_cell(const struct top_model *m, const struct top_task *t, enum top_col_id c, char *buf,
	      size_t n);
/* w: each column as wide as its heading, to widen to the cells shown. */
void top_cols_init(int w[TOP_NCOLS]);
/* The table's width: the columns and a space between each two. */
int top_cols_total(const int w[TOP_NCOLS]);
/* Narrow the columns that give up width, in their order and down to their minimum, until
 * the table fits width columns (0 = no limit); what cannot go stays. */
void top_cols_fit(int w[TOP_NCOLS], int width);
/* How many of the n fields from f[0] go on one line of width columns (at least one), each
 * after sep columns of separator, the line indented by indent; 0 width: all. */
size_t top_fields_fit(const char *const *f, size_t n, size_t sep, size_t indent, int width);
/* The header's counters as fields: "created 1.0/s", "LOST 0"...; titled, "Created: 1.0/s"
 * (the live view). */
void top_counter_fields(const struct top_model *m, int titled, char v[6][64]);
/* A thread's scheduling latency over the interval (--exact from the rings): samples, p50,
 * p99, max; "-" where it is not measured. Headed TOP_LAT_HEAD, TOP_LAT_FMT wide. */
void top_lat_cells(const struct top_thread *th, char v[4][24]);
#define TOP_LAT_FMT " %6s %8s %8s %8s"
#define TOP_LAT_HEAD "LAT-N", "LAT-P50", "LAT-P99", "LAT-MAX"

/* ---- top/warnings.c ---- */
/* The warnings of this refresh into m->warn: tasks running without yielding past
 * m->warn_run_ns, waiting past m->warn_wait_ns (the longest, and how many), loops whose
 * timers are later than m->warn_lag_ns, await cycles. Call after the registry and the
 * sampler were read. */
void top_warnings_update(struct top_model *m);

/* ---- top/batch.c ---- */
void top_print_text(const struct top_model *m, const struct top_view *v, const char *mode);
void top_print_json(const struct top_model *m, const struct top_view *v, const char *mode,
		    uint64_t frame);

/* ---- top/render.c and top/keys.c: the interactive view ---- */
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
