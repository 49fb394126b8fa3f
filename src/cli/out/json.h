/* SPDX-License-Identifier: MIT */
/*
 * The one streaming JSON writer of the CLI: every command's JSON goes through it. Commas and
 * nesting are handled here once; strings go through the one JSON escaper (tsc_json_part,
 * out.c). Output is formatted by hand into a large buffer and written with fwrite_unlocked:
 * `dump --json` writes millions of events per second, `ps --json` 100k tasks, and nothing is
 * built in memory first (a document library would hold the whole document).
 *
 *   struct tsc_json *w = tsc_json_new(stdout);
 *   tsc_json_obj(w);  tsc_json_key(w, "pid"); tsc_json_i64(w, pid);  tsc_json_end_obj(w);
 *   tsc_json_free(w);    (flushes)
 *
 * The same buffer serves text (tsc_json_raw and friends): dump prints both through it.
 */
#ifndef TSC_JSON_H
#define TSC_JSON_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The version of every command's JSON, in each object it prints as "schema" (docs/json.md).
 * Raised when a field changes meaning or goes away; new fields keep it. */
#define TSC_JSON_SCHEMA 1

/*
 * Commas need no stack: after an opening bracket or a key no comma comes; after a value or a
 * closing bracket one does, except at the top level, where each value is a line of its own
 * (JSON lines). So one flag and a depth count are the whole state.
 */
struct tsc_json {
	FILE *f;
	size_t n;             /* bytes waiting in b */
	unsigned depth;
	int comma;            /* the next key or value is preceded by a comma */
	char b[1 << 16];
};

/* A writer onto f (its own 64 KiB buffer), or NULL when out of memory. */
struct tsc_json *tsc_json_new(FILE *f);
/* Flush and free; NULL is fine. */
void tsc_json_flush(struct tsc_json *w);
void tsc_json_free(struct tsc_json *w);

/* Room for n bytes (n far below the buffer's size). */
static inline char *tsc_json_room(struct tsc_json *w, size_t n)
{
	if (w->n + n > sizeof(w->b))
		tsc_json_flush(w);
	return w->b + w->n;
}

/* Room for n bytes after the comma the next element needs, written. */
static inline char *tsc_json_elem(struct tsc_json *w, size_t n)
{
	char *p = tsc_json_room(w, n + 1);
	if (w->comma)
		*p++ = ',';
	return p;
}

static inline void tsc_json_done(struct tsc_json *w, char *end, int comma)
{
	w->n = (size_t)(end - w->b);
	w->comma = comma;
}

/* "00" to "99": numbers are written two digits a step, half the divisions */
static const char tsc_json_digits[200] =
	"00010203040506070809101112131415161718192021222324"
	"25262728293031323334353637383940414243444546474849"
	"50515253545556575859606162636465666768697071727374"
	"75767778798081828384858687888990919293949596979899";

/* The number of decimal digits of v: the bit length's estimate, corrected by one compare. */
static inline unsigned tsc_json_ndigits(uint64_t v)
{
	static const uint64_t p10[20] = {
		1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
		100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
		10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
		100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull,
	};
	/* v | 1: 0 has one digit, and no even v is one below a power of ten */
	unsigned t = (unsigned)(64 - __builtin_clzll(v | 1)) * 1233 >> 12;
	return t + ((v | 1) >= p10[t]);
}

/* v in decimal at p, written from its last digit back; returns the end (20 bytes at most). */
static inline char *tsc_json_fmt_u64(char *p, uint64_t v)
{
	char *end = p + tsc_json_ndigits(v), *q = end;
	while (v >= 100) {
		q -= 2;
		memcpy(q, tsc_json_digits + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10)
		memcpy(q - 2, tsc_json_digits + 2 * v, 2);
	else
		q[-1] = (char)('0' + v);
	return end;
}

/* ---- text, as it is: no comma, no escaping ---- */

static inline void tsc_json_mem(struct tsc_json *w, const char *s, size_t n)
{
	if (n > 4096) {
		tsc_json_flush(w);
		fwrite_unlocked(s, 1, n, w->f);
		return;
	}
	memcpy(tsc_json_room(w, n), s, n);
	w->n += n;
}

static inline void tsc_json_raw(struct tsc_json *w, const char *s)
{
	tsc_json_mem(w, s, strlen(s));
}

static inline void tsc_json_ch(struct tsc_json *w, char c)
{
	*tsc_json_room(w, 1) = c;
	w->n++;
}

static inline void tsc_json_raw_u64(struct tsc_json *w, uint64_t v)
{
	w->n = (size_t)(tsc_json_fmt_u64(tsc_json_room(w, 20), v) - w->b);
}

static inline void tsc_json_raw_i64(struct tsc_json *w, int64_t v)
{
	if (v < 0) {
		tsc_json_ch(w, '-');
		tsc_json_raw_u64(w, (uint64_t)0 - (uint64_t)v);
	} else {
		tsc_json_raw_u64(w, (uint64_t)v);
	}
}

/* Seconds with microseconds from a signed nanosecond count at p: 12.345678, -0.000100.
 * Returns the end (28 bytes at most). Inline: every event of `dump` has one. */
static inline char *tsc_json_fmt_secs(char *p, int64_t ns)
{
	uint64_t a = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
	uint64_t us = a / 1000;
	uint32_t frac = (uint32_t)(us % 1000000); /* 32-bit: cheaper steps */
	if (ns < 0)
		*p++ = '-';
	p = tsc_json_fmt_u64(p, us / 1000000);
	*p++ = '.';
	memcpy(p + 4, tsc_json_digits + 2 * (frac % 100), 2);
	frac /= 100;
	memcpy(p + 2, tsc_json_digits + 2 * (frac % 100), 2);
	memcpy(p, tsc_json_digits + 2 * (frac / 100), 2);
	return p + 6;
}

static inline void tsc_json_raw_secs(struct tsc_json *w, int64_t ns)
{
	w->n = (size_t)(tsc_json_fmt_secs(tsc_json_room(w, 29), ns) - w->b);
}
/* A quoted JSON string literal (no comma). */
void tsc_json_raw_str(struct tsc_json *w, const char *s);

/* ---- JSON: each value or key is preceded by the comma its place needs ---- */

/* The comma before the next element, written now: a caller may put a newline after it. */
static inline void tsc_json_sep(struct tsc_json *w)
{
	if (w->comma)
		tsc_json_ch(w, ',');
	w->comma = 0;
}

/* A newline between elements (JSON lines, one task per line): the comma, then '\n'. */
static inline void tsc_json_nl(struct tsc_json *w)
{
	tsc_json_sep(w);
	tsc_json_ch(w, '\n');
}

static inline void tsc_json_open(struct tsc_json *w, char c)
{
	char *p = tsc_json_elem(w, 1);
	*p++ = c;
	w->depth++;
	tsc_json_done(w, p, 0);
}

static inline void tsc_json_close(struct tsc_json *w, char c)
{
	tsc_json_ch(w, c);
	if (w->depth)
		w->depth--;
	w->comma = w->depth != 0;
}

static inline void tsc_json_obj(struct tsc_json *w) { tsc_json_open(w, '{'); }
static inline void tsc_json_end_obj(struct tsc_json *w) { tsc_json_close(w, '}'); }
static inline void tsc_json_arr(struct tsc_json *w) { tsc_json_open(w, '['); }
static inline void tsc_json_end_arr(struct tsc_json *w) { tsc_json_close(w, ']'); }

/* A string of ours, quoted as it is (never escaped, short): a key (then ':', and a value
 * follows without a comma) or a value. */
static inline void tsc_json_quoted(struct tsc_json *w, const char *s, int key)
{
	size_t n = strlen(s);
	char *p = tsc_json_elem(w, n + 3);
	*p++ = '"';
	memcpy(p, s, n);
	p += n;
	*p++ = '"';
	if (key)
		*p++ = ':';
	tsc_json_done(w, p, !key);
}

/* A key: a literal of ours, then a value. */
static inline void tsc_json_key(struct tsc_json *w, const char *k)
{
	tsc_json_quoted(w, k, 1);
}

static inline void tsc_json_u64(struct tsc_json *w, uint64_t v)
{
	tsc_json_done(w, tsc_json_fmt_u64(tsc_json_elem(w, 20), v), 1);
}

static inline void tsc_json_i64(struct tsc_json *w, int64_t v)
{
	char *p = tsc_json_elem(w, 21);
	if (v < 0) {
		*p++ = '-';
		p = tsc_json_fmt_u64(p, (uint64_t)0 - (uint64_t)v);
	} else {
		p = tsc_json_fmt_u64(p, (uint64_t)v);
	}
	tsc_json_done(w, p, 1);
}

/* A word of ours: null, true, false, or any other literal of JSON. */
static inline void tsc_json_word(struct tsc_json *w, const char *s)
{
	size_t n = strlen(s);
	char *p = tsc_json_elem(w, n);
	memcpy(p, s, n);
	tsc_json_done(w, p + n, 1);
}

static inline void tsc_json_null(struct tsc_json *w)
{
	tsc_json_word(w, "null");
}

static inline void tsc_json_bool(struct tsc_json *w, int v)
{
	tsc_json_word(w, v ? "true" : "false");
}

/* An id where 0 means none: the number, or null. */
static inline void tsc_json_id(struct tsc_json *w, uint64_t v)
{
	if (v)
		tsc_json_u64(w, v);
	else
		tsc_json_null(w);
}

/* A string of the target's (or any): escaped. */
static inline void tsc_json_string(struct tsc_json *w, const char *s)
{
	tsc_json_sep(w);
	tsc_json_raw_str(w, s);
	w->comma = 1;
}

/* A string of ours that needs no escaping (names of states, waits, event types). */
static inline void tsc_json_lit(struct tsc_json *w, const char *s)
{
	tsc_json_quoted(w, s, 0);
}

/* A value already in JSON (made by a caller, e.g. cached): as it is. */
static inline void tsc_json_value(struct tsc_json *w, const char *json)
{
	tsc_json_sep(w);
	tsc_json_raw(w, json);
	w->comma = 1;
}

static inline void tsc_json_secs(struct tsc_json *w, int64_t ns)
{
	tsc_json_sep(w);
	tsc_json_raw_secs(w, ns);
	w->comma = 1;
}

/* A double with `prec` decimals (rates, percentages): never NaN or infinite in the output. */
void tsc_json_double(struct tsc_json *w, double v, int prec);

/* The "schema" member every command's top-level object starts with. */
static inline void tsc_json_schema(struct tsc_json *w)
{
	tsc_json_key(w, "schema");
	tsc_json_u64(w, TSC_JSON_SCHEMA);
}

/* Scheduling latency figures (trace/latency.h) as dump --summary and top --json give them:
 * {count, kept, p50_ns, p99_ns, max_ns}. */
struct tsc_lat_figs;
void tsc_json_lat(struct tsc_json *w, const struct tsc_lat_figs *f);

#endif
