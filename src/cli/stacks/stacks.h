/* SPDX-License-Identifier: MIT */
/* The stacks of a snapshot's tasks, unwound (unwind.h) and symbolized (symbolize.h), and
 * their printing: the frames under each task for `ps --stacks` and `tree --stacks`. */
#ifndef TSC_STACKS_H
#define TSC_STACKS_H

#include <stdint.h>
#include <stdio.h>
#include <taskscope/debug.h>

#include "target/model.h"
#include "stacks/unwind.h"

struct tsc_stacks;

struct tsc_memsrc;
struct tsc_symbolizer;
/* Unwind every task of snap (read from src with the layout of its descriptor d) and resolve
 * every frame with sym (symbolize.h, made on src): the stacks take it over, it goes with
 * them (or here, on failure). Returns 0 or -errno. */
int tsc_stacks_collect(const struct tsc_memsrc *src, const struct tsc_snapshot *snap,
		       const struct ts_debug_desc *d, struct tsc_symbolizer *sym,
		       struct tsc_stacks **out);
void tsc_stacks_free(struct tsc_stacks *st); /* accepts NULL */

struct tsc_remote;
/* For the commands: the stacks of snap's tasks read from the target r that
 * tsc_collect_keep() kept open, which this closes, resolved with sym (made on r's memory
 * source, taken over as by tsc_stacks_collect; NULL: it could not be made). With -v, what it
 * cost on stderr. Returns an exit code (enum tsc_exit); on failure a message went to stderr. */
int tsc_stacks_read(struct tsc_remote *r, const struct tsc_snapshot *snap,
		    struct tsc_symbolizer *sym, struct tsc_stacks **out);

/* The stack of task id; NULL when the task was not in the snapshot. */
const struct tsc_stack *tsc_stacks_find(const struct tsc_stacks *st, uint64_t id);

/* One line per frame, "#N 0xADDR fn+0xOFF (file:line)", each after indent; a suspended
 * stack that did not end at its entry frame gets a last line saying why; a running task
 * gets the single line "running". Unless flags has TSC_STACKS_ALL_FRAMES, each run of the
 * runtime's own frames (ts_* and what is inlined into them, where a task resumes, the entry
 * frame) is one line, "#0-4 ts_sleep_ns (runtime, 5 frames)". */
#define TSC_STACKS_ALL_FRAMES 1u
void tsc_stacks_print(FILE *f, struct tsc_stacks *st, uint64_t id, const char *indent,
		      unsigned flags);

/* The JSON members "stack":[{"addr","fn","file","line","offset","inlined","runtime","obj",
 * "obj_addr","build_id"}],"stack_end":"complete"|"truncated"|... and, for a bad frame, "stack_bad_fp",
 * into the task object w has open. Unknown fn, file, line: null. */
struct tsc_json;
void tsc_stacks_json(struct tsc_json *w, struct tsc_stacks *st, uint64_t id);

/* Counters for -v and the benchmarks. */
struct tsc_stacks_stats {
	size_t tasks, frames;
	unsigned retried, changed;
	uint64_t unwind_ns, symbolize_ns;
	unsigned binaries, lookups, cache_hits, unresolved;
	uint64_t load_ns;
};
void tsc_stacks_stats(const struct tsc_stacks *st, struct tsc_stacks_stats *out);

#endif
