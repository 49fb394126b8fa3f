/* SPDX-License-Identifier: MIT */
/* Output helpers shared by the commands: names of states and waits, safe strings, JSON. */
#ifndef TSC_OUT_H
#define TSC_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "model.h"

const char *tsc_state_name(uint32_t state);   /* "pending", ... "?" when unknown */
const char *tsc_wait_name(uint32_t wait);     /* "none", "sleep", ... "?" when unknown */
/* A task's wait for a table: "sleep 12ms", "fd 3", "await 7", "queue", "-" when not waiting. */
void tsc_wait_describe(const struct tsc_task *t, uint64_t now_ns, char *buf, size_t n);
/* A duration for a table: "350ms", "12.3s", "5m03s", "2h05m", "3d04h". */
void tsc_fmt_age(uint64_t ns, char *buf, size_t n);
/* Names come from the target: never let one drive the terminal. Copies s with control
 * characters replaced by '?'. */
void tsc_safe_str(const char *s, char *buf, size_t n);
/* Numbers without printf: a JSON dump of 100k tasks is mostly numbers. */
void tsc_put_u64(FILE *f, uint64_t v);
void tsc_put_i64(FILE *f, int64_t v);
/* A JSON string literal: escapes, and invalid UTF-8 as U+FFFD. */
void tsc_json_str(FILE *f, const char *s);
/* Is the task suspended awaiting another? Then *id is the awaited one. */
int tsc_task_awaits(const struct tsc_task *t, uint64_t *id);

#endif
