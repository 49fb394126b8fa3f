/* SPDX-License-Identifier: MIT */
/* Output helpers shared by the commands: names of states and waits, ages, the escapers. */
#ifndef TSC_OUT_H
#define TSC_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "target/model.h"

const char *tsc_state_name(uint32_t state);   /* "pending", ... "?" when unknown */
const char *tsc_wait_name(uint32_t wait);     /* "none", "sleep", ... "?" when unknown */
/* A task's wait for a table: "sleep 12ms", "fd 3", "await 7", "queue", "-" when not waiting. */
void tsc_wait_describe(const struct tsc_task *t, uint64_t now_ns, char *buf, size_t n);
/* A duration for a table: "350ms", "12.3s", "5m03s", "2h05m", "3d04h". */
void tsc_fmt_age(uint64_t ns, char *buf, size_t n);
/* A duration to the microsecond, for latencies and CPU times: "12.5us", "3.25ms", "1.500s". */
void tsc_fmt_dur(char *b, size_t n, uint64_t ns);
/* How long task t has waited at now_ns: 1 and *ns while it waits and the runtime said since
 * when (TS_DEBUG_F_WAIT_AGES), else 0. */
int tsc_task_waited(const struct tsc_task *t, uint64_t now_ns, uint64_t *ns);
/* How long a ready or pending task has been in its loop's queue: 1 and *ns, or 0. */
int tsc_task_queued(const struct tsc_task *t, uint64_t now_ns, uint64_t *ns);
/* A task's wait and its age for a table, reason first: "fd 11 for 4m12s", "await 7 for 3.0s",
 * "sleep for 2.0s (1.0s left)"; a ready or pending task, "queued for 3ms"; "-" for a running
 * task. Without ages
 * (an older runtime): tsc_wait_describe's text. */
void tsc_waited_describe(const struct tsc_task *t, uint64_t now_ns, char *buf, size_t n);
/*
 * Text for people. Everything the target names (tasks, coroutines, files, symbols) is its
 * data: it must never drive the terminal. Valid UTF-8 passes as it is; the rest is shown
 * escaped, in one notation: \\ for a backslash, \t \n \r \e (ESC), \xNN for any other
 * control byte, DEL, or byte that is not UTF-8, and \uNNNN for a C1 control (U+0080..U+009F),
 * a bidi control or a line separator. With TSC_TEXT_QUOTED, '"' is \" (the text goes between
 * quotes).
 *
 * tsc_text writes s so escaped into dst (n bytes, NUL-terminated; n = TSC_TEXT_SIZE(strlen(s))
 * never cuts), returns the bytes written, and sets *width (if not NULL) to the display width:
 * East Asian wide characters count 2, combining marks 0. What does not fit in maxw columns or
 * in n bytes is cut between characters and ends with an ellipsis ("…", one column). maxw
 * SIZE_MAX: no limit.
 */
#define TSC_TEXT_QUOTED 1u
#define TSC_TEXT_SIZE(len) (4 * (len) + 4)
size_t tsc_text(char *dst, size_t n, const char *s, size_t maxw, unsigned flags,
		size_t *width);
/* tsc_text without a width limit, returning buf: for a message's "%s". */
const char *tsc_esc(char *buf, size_t n, const char *s);
/* Display width of text already escaped (or of our own), and of one code point. */
size_t tsc_text_width(const char *s);
int tsc_cp_width(uint32_t cp);
/* Bytes of the longest prefix of escaped text s within maxw columns; its width in *width. */
size_t tsc_text_prefix(const char *s, size_t maxw, size_t *width);
/* Escaped text s padded with spaces to colw columns, left-aligned or right-aligned. */
void tsc_pad(FILE *f, const char *s, size_t colw, int right);
/* s with each byte that is not UTF-8 replaced by U+FFFD (3 bytes: n >= 3 * strlen(s) + 1
 * never cuts), NUL-terminated; returns its length. For formats that carry UTF-8 as is. */
size_t tsc_utf8_clean(char *dst, size_t n, const char *s);
/* Numbers without printf: a JSON dump of 100k tasks is mostly numbers. */
void tsc_put_u64(FILE *f, uint64_t v);
void tsc_put_i64(FILE *f, int64_t v);
/*
 * JSON strings, always valid UTF-8: valid multi-byte UTF-8 is kept as it is; '"' and '\\' are
 * escaped, and so are controls (C0, DEL, C1) and U+2028/U+2029, as \uXXXX; each byte that is
 * not UTF-8 becomes U+FFFD (\ufffd). tsc_json_str writes the quoted literal. tsc_json_part
 * is its core for a caller's own buffer: it escapes whole characters of s into dst (cap >= 16
 * bytes) while TSC_JSON_CHAR_MAX bytes of room remain, sets *len, and returns where it
 * stopped (at the NUL when done).
 */
#define TSC_JSON_CHAR_MAX 6
void tsc_json_str(FILE *f, const char *s);
const char *tsc_json_part(const char *s, char *dst, size_t cap, size_t *len);
/* Is the task suspended awaiting another? Then *id is the awaited one. */
int tsc_task_awaits(const struct tsc_task *t, uint64_t *id);

#endif
