/* SPDX-License-Identifier: MIT */
/*
 * A trace's events as lines of text (`taskscope dump`), written the way the JSON writer
 * writes: by hand into its buffer, room reserved once per line, and each task reference
 * ("5 "worker-0-0"") formatted once and kept in a small cache while the task's name holds.
 *
 *   0.001223 switch tid=4242 scheduler -> 2 "worker-0-0"
 *
 * The task names come from the trace state as it stands before the event: print each event,
 * then apply it to the state (tsc_tstate_apply), in that order.
 */
#ifndef TSC_TRACE_LINES_H
#define TSC_TRACE_LINES_H

#include <stdint.h>
#include "out/json.h"
#include "trace/trace.h"

struct tsc_lines;

/* Lines into o, names from st, times relative to t0; NULL when out of memory. */
struct tsc_lines *tsc_lines_new(struct tsc_json *o, const struct tsc_tstate *st, uint64_t t0);
void tsc_lines_free(struct tsc_lines *l);
/* One event's line, before the event is applied to the state. */
void tsc_lines_event(struct tsc_lines *l, const struct tsc_event *ev);

#endif
