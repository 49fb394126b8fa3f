/* SPDX-License-Identifier: MIT */
/*
 * Trace files: the event model, the writer (record) and the reader (dump, export).
 * The byte layout is specified in docs/trace-format.md; this header is its C face.
 *
 * Writer: tsc_trace_open (or tsc_trace_begin and tsc_trace_write_snapshot), then tsc_trace_event / tsc_trace_lost for each record, tsc_trace_flush
 * at least once a second (each flush ends a block, the unit that survives a crash), and
 * tsc_trace_close, which writes the footer. Every call returns 0 or -errno; the first error
 * sticks and is returned again by every later call.
 *
 * Reader: tsc_trace_reader_new, tsc_trace_reader_open_file (or _mem), then tsc_trace_next until
 * it returns 0 (the footer was read and agrees) or < 0 (a fault: tsc_trace_reader_error says
 * where and what; everything before the fault was delivered). Never crashes on any input.
 */
#ifndef TSC_TRACE_H
#define TSC_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include "target/model.h"
#include "trace/latency.h"

#define TSC_TRACE_MAGIC "TSCTRACE"    /* 8 bytes, no NUL */
#define TSC_TRACE_MAJOR 1             /* a reader refuses another major */
#define TSC_TRACE_MINOR 3             /* a reader reads any minor of its major */

/* Event types: the record type byte's low 5 bits in the file. Append-only. */
enum tsc_ev_type {
	TSC_EV_CREATE = 1,       /* task exists: id, parent, name, coro, loop_tid */
	TSC_EV_SWITCH = 2,       /* on tid: prev -> next; 0 = the loop's scheduler */
	TSC_EV_FINISH = 3,       /* id, outcome (TS_DONE, TS_CANCELLED, TS_FAILED) */
	TSC_EV_RENAME = 4,       /* id, name */
	TSC_EV_WAIT = 5,         /* id suspends: reason (enum ts_wait), object */
	TSC_EV_THREAD_START = 6, /* a loop starts on a thread */
	TSC_EV_THREAD_STOP = 7,
	TSC_EV_LOST = 8,         /* count events of type lost.type never reached the file */
	TSC_EV_EXEC = 9,         /* the process exec'd exec.file: the recording ends here (1.1,
				  * an extension record in the file) */
	TSC_EV_READY = 10,       /* id became ready on its loop's thread tid (woken or started;
				  * a yield's WAIT is its own ready instant): 1.3, an extension
				  * record; written from the rings only */
	TSC_EV_NR,
};
#define TSC_EV_EVENTS_NR 7       /* types 1..7 are events; per-type arrays index by type */

struct tsc_event {
	uint64_t ts_ns;          /* CLOCK_MONOTONIC */
	uint32_t type;           /* enum tsc_ev_type */
	int32_t tid;             /* the thread that fired the probe; 0 for LOST */
	union {
		struct { uint64_t id, parent; const char *name, *coro; int32_t loop_tid; } create;
		struct { uint64_t prev, next; } sw;
		struct { uint64_t id; uint32_t outcome; } finish;
		struct { uint64_t id; const char *name; } rename;
		struct { uint64_t id, object; uint32_t reason; } wait;
		struct { uint64_t loop; int32_t tid; } thread;
		struct { uint32_t type; uint64_t count; } lost;
		struct { const char *file; } exec;
		struct { uint64_t id; } ready;
	};
};

const char *tsc_ev_name(uint32_t type);        /* "create", "switch", ...; "?" if unknown */
int tsc_ev_from_name(const char *name);        /* the inverse, or -1 */

/* ---- writer ---- */

struct tsc_trace_writer;

/* Write the header to fd, the start of a new file (the writer works on a duplicate of fd,
 * closed by tsc_trace_close), then the snapshot (may be NULL: an empty one), before any
 * event. binary (the ELF holding the runtime) and program (the process's executable) may be
 * NULL. */
int tsc_trace_begin(int fd, int pid, const char *binary, const char *program,
		    struct tsc_trace_writer **out);
int tsc_trace_write_snapshot(struct tsc_trace_writer *w, const struct tsc_snapshot *snap);
/* Both at once into a new file of mode 0600 renamed to path once the snapshot is written
 * (a regular file there is replaced, a symbolic link or anything else refused: outfile.h). */
int tsc_trace_open(const char *path, int pid, const char *binary, const char *program,
		   const struct tsc_snapshot *snap, struct tsc_trace_writer **out);
/* Strings of ev are copied; a block is written when the buffered data reaches its cap. */
int tsc_trace_event(struct tsc_trace_writer *w, const struct tsc_event *ev);
/* count events of type (1..TSC_EV_EVENTS_NR) were lost at ts_ns; also kept cumulatively. */
int tsc_trace_lost(struct tsc_trace_writer *w, uint32_t type, uint64_t count, uint64_t ts_ns);
/* The process exec'd file at ts_ns, on thread tid (the last record a recording holds). */
int tsc_trace_exec(struct tsc_trace_writer *w, uint64_t ts_ns, int32_t tid, const char *file);
/* An extension record (type 16..30, or larger through the escape): readers that do not know
 * it skip it with a warning. For future record kinds and for testing that readers do. */
int tsc_trace_ext(struct tsc_trace_writer *w, uint32_t type, const void *data, size_t len);
/* zlib level for the chunks written from now on (the snapshot too, when set before it):
 * 1..9, or 0 to store them uncompressed. Default 9. */
int tsc_trace_set_compression(struct tsc_trace_writer *w, int level);
/* End the current block, if it holds anything, and write it out. */
int tsc_trace_flush(struct tsc_trace_writer *w);
/* Flush, write the footer, close. Accepts NULL. Returns the first error seen, if any. */
int tsc_trace_close(struct tsc_trace_writer *w);
/* Close without flushing or a footer: the file is left as a crash would leave it. */
void tsc_trace_abandon(struct tsc_trace_writer *w);

struct tsc_trace_wstats {
	uint64_t events[TSC_EV_EVENTS_NR + 1];   /* by type */
	uint64_t lost[TSC_EV_EVENTS_NR + 1];     /* cumulative, by type */
	uint64_t blocks, raw_bytes, file_bytes;
};
void tsc_trace_writer_stats(const struct tsc_trace_writer *w, struct tsc_trace_wstats *st);

/* ---- reader ---- */

struct tsc_trace_reader;

struct tsc_trace_header {
	uint16_t major, minor;
	int32_t pid;
	uint32_t flags;
	uint64_t mono_ns;        /* CLOCK_MONOTONIC at the start of the recording ... */
	uint64_t real_ns;        /* ... and CLOCK_REALTIME at the same instant */
	char binary[4096];       /* the ELF holding the runtime (a library, maybe) */
	char program[4096];      /* the program the process ran (its exe), "" when unknown */
};

/* The name to show for the process: the program's file name, else the runtime's ELF's
 * (files older than 1.2 name no program), else "?". */
const char *tsc_trace_process_name(const struct tsc_trace_header *h);

/* What a reader has seen so far; complete once tsc_trace_next returned 0. */
struct tsc_trace_rstats {
	uint64_t events[TSC_EV_EVENTS_NR + 1];   /* by type */
	uint64_t lost[TSC_EV_EVENTS_NR + 1];     /* from LOST records, by type */
	uint64_t skipped;                        /* extension records of unknown type */
	uint64_t blocks;
	int footer;                              /* 1 once a footer was read */
	uint64_t end_ns;                         /* from the footer: when recording ended */
};

/* Where the reader is: the block it decodes, for diagnostics and tests. */
struct tsc_trace_pos {
	uint64_t offset;         /* file offset of the current block's header */
	uint64_t end;            /* file offset just past it */
	uint64_t seq;
	uint32_t nrec;           /* records in the block */
	uint64_t t_min, t_max;
};

typedef void (*tsc_trace_warn_fn)(void *ctx, const char *msg);

/* warn: called for each warning (unknown record types, ...); NULL = print to stderr. */
struct tsc_trace_reader *tsc_trace_reader_new(tsc_trace_warn_fn warn, void *ctx);
/* Read the header and the snapshot. 0, or < 0 with tsc_trace_reader_error set. */
int tsc_trace_reader_open_file(struct tsc_trace_reader *r, const char *path);
int tsc_trace_reader_open_mem(struct tsc_trace_reader *r, const void *buf, size_t len);
/* 1: *ev holds the next event (its strings live until the next call); 0: clean end;
 * < 0: a fault, described by tsc_trace_reader_error. */
int tsc_trace_next(struct tsc_trace_reader *r, struct tsc_event *ev);
const char *tsc_trace_reader_error(const struct tsc_trace_reader *r);
const struct tsc_trace_header *tsc_trace_header(const struct tsc_trace_reader *r);
const struct tsc_snapshot *tsc_trace_snapshot(const struct tsc_trace_reader *r);
const struct tsc_trace_rstats *tsc_trace_stats(const struct tsc_trace_reader *r);
void tsc_trace_position(const struct tsc_trace_reader *r, struct tsc_trace_pos *pos);
void tsc_trace_reader_free(struct tsc_trace_reader *r); /* accepts NULL */

/* ---- the state at an instant, rebuilt from the snapshot and events (state.c) ---- */

struct tsc_tstate_task {
	uint64_t id, parent;
	char *name, *coro;         /* owned; never NULL */
	uint32_t state, wait;      /* enum ts_state, enum ts_wait */
	uint64_t wait_obj;
	int32_t tid;
	int live;                  /* created (or in the snapshot) and not finished */
	int from_snapshot;
	uint64_t created_ns, finished_ns;   /* finished_ns 0 while live */
	uint64_t run_since;        /* while running: when it was switched in */
	uint64_t cpu_ns;           /* sum of its running slices seen */
	uint64_t switches;         /* times switched in: the snapshot's count + those seen */
	uint64_t switches0;        /* the snapshot's count */
	uint64_t waits[8];         /* by enum ts_wait (others counted in [0]) */
	uint64_t first_run_ns;     /* 0 = not run yet in this trace */
	uint64_t ready_ns;         /* since when it is ready (a READY event, or a yield's WAIT),
				    * until it is switched in; 0 = not known to be ready */
	char name_in[64], coro_in[64]; /* where name and coro live unless longer */
};

struct tsc_tstate_slot {
	uint64_t id;
	struct tsc_tstate_task *t;
};

struct tsc_tstate_thread {
	int32_t tid;
	uint64_t loop_id;
	uint64_t current;          /* 0 = its scheduler */
	int live;                  /* started (or in the snapshot) and not stopped */
	struct tsc_lat latency;    /* scheduling latency of the tasks switched in on it: ready
				    * to running (kept once tsc_tstate_keep_latency) */
	uint64_t ready_events;     /* READY events of it (none: a trace from uprobes, where only
				    * yields give a latency) */
};

struct tsc_tstate {
	struct tsc_tstate_slot *tasks;   /* open-addressed by id; t NULL = free */
	size_t cap, n;
	struct tsc_tstate_task **slabs;  /* tasks are allocated in slabs, freed at once */
	size_t nslabs, slab_used;
	struct tsc_tstate_task **free;   /* forgotten tasks, for reuse */
	size_t nfree, free_cap;
	int forget;                      /* drop a finished task once it switched out */
	int latency;                     /* keep scheduling latencies (tsc_tstate_keep_latency) */
	size_t lat_kept;                 /* samples kept, all threads: TSC_LAT_KEEP_MAX at most */
	struct tsc_tstate_thread *threads;
	size_t nthreads, threads_cap;
	int pid;
	uint64_t lost[TSC_EV_EVENTS_NR + 1];
	uint64_t events;
	uint64_t last_ns;
};

int tsc_tstate_init(struct tsc_tstate *s, const struct tsc_snapshot *snap);
/* Keep only live tasks from now on (not for --summary): memory stays the size of the live set
 * however long the trace, and lookups stay in cache. */
void tsc_tstate_forget_finished(struct tsc_tstate *s);
/* Keep every scheduling latency, per thread (its latency), from now on: READY (or a yield's
 * WAIT) to the switch into that task. Only traces from the rings hold READY events. */
void tsc_tstate_keep_latency(struct tsc_tstate *s);
/* Apply one event; 0 or -ENOMEM. */
int tsc_tstate_apply(struct tsc_tstate *s, const struct tsc_event *ev);
struct tsc_tstate_task *tsc_tstate_task(const struct tsc_tstate *s, uint64_t id);
struct tsc_tstate_thread *tsc_tstate_thread(const struct tsc_tstate *s, int32_t tid);
void tsc_tstate_free(struct tsc_tstate *s);


#endif
