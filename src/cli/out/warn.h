/* SPDX-License-Identifier: MIT */
/*
 * Warnings about a process's tasks, tokio-console's lints: each names the task (or loop) and
 * the evidence. `top` finds them at every refresh and shows them in its header; `ps
 * --warnings` from one snapshot. Both print and emit them here, alike.
 */
#ifndef TSC_WARN_H
#define TSC_WARN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <taskscope/debug.h>

enum tsc_warn_kind {
	TSC_WARN_LONG_RUN,   /* a task ran past the threshold without yielding: its loop starves */
	TSC_WARN_LONG_WAIT,  /* a task waited past the threshold */
	TSC_WARN_CYCLE,      /* tasks await each other in a cycle: a deadlock */
	TSC_WARN_LOOP_LAG,   /* a loop's timers fire late */
};

/* The thresholds, unless told otherwise (top --warn-run, --warn-wait, --warn-lag; ps
 * --stuck). */
#define TSC_WARN_RUN_NS (100 * 1000000ull)
#define TSC_WARN_WAIT_NS (60 * 1000000000ull)
#define TSC_WARN_LAG_NS (100 * 1000000ull)

struct tsc_warning {
	enum tsc_warn_kind kind;
	uint64_t task;              /* the task (for a cycle: its lowest id), 0 for a loop */
	char name[TS_NAME_MAX];     /* its name, the target's bytes */
	int32_t tid;                /* its loop's thread */
	uint64_t ns;                /* how long it ran, waited, or how late the timers are */
	char evidence[512];         /* what shows it, ready to print (escaped) */
};

struct tsc_warnings {
	struct tsc_warning *w;
	size_t n, cap;
};

/* Append a copy of w: 0 or -ENOMEM. */
int tsc_warn_add(struct tsc_warnings *ws, const struct tsc_warning *w);
void tsc_warnings_clear(struct tsc_warnings *ws);
void tsc_warnings_free(struct tsc_warnings *ws);
const char *tsc_warn_kind_name(enum tsc_warn_kind k); /* "long-run", ... */

struct tsc_task;
/* The long-wait warning, one for all: t waited longest (waited ns at now_ns), and n tasks in
 * all wait longer than threshold_ns. 0 or -ENOMEM. */
int tsc_warn_long_wait(struct tsc_warnings *ws, const struct tsc_task *t, uint64_t waited,
		       size_t n, uint64_t threshold_ns, uint64_t now_ns);
/* A loop on thread tid whose timers fire lag_ns late; cur: the task running on it now, or
 * NULL. 0 or -ENOMEM. */
int tsc_warn_loop_lag(struct tsc_warnings *ws, int32_t tid, uint64_t lag_ns,
		      const struct tsc_task *cur);

/* One line each, "warning: hog (12) ran 2.0s without yielding on thread 9985 (...)", at most
 * max of them (then "... and N more"). */
void tsc_warnings_print(FILE *f, const struct tsc_warnings *ws, size_t max);
/* The line of warning i, without "warning: ", into buf. */
void tsc_warning_text(const struct tsc_warning *w, char *buf, size_t n);

/* "warnings": [{"kind", "task", "name", "thread", "ns", "evidence"}] into the object w has
 * open. */
struct tsc_json;
void tsc_warnings_json(struct tsc_json *w, const struct tsc_warnings *ws);

#endif
