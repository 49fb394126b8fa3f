/* SPDX-License-Identifier: MIT */
/* Output helpers: state and wait names, ages, and the two escapers of what the target says:
 * text for people, JSON strings for scripts. */
#include "out/out.h"
#include "out/json.h"
#include "out/width.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <taskscope/taskscope.h>

const char *tsc_state_name(uint32_t state)
{
	static const char *const names[] = { "pending", "ready", "running", "waiting",
					     "done", "cancelled", "failed" };
	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

const char *tsc_wait_name(uint32_t wait)
{
	static const char *const names[] = { "none", "sleep", "fd", "await",
					     "queue", "event", "yield" };
	return wait < sizeof(names) / sizeof(names[0]) ? names[wait] : "?";
}

int tsc_task_awaits(const struct tsc_task *t, uint64_t *id)
{
	if (t->state != TS_WAITING || t->wait != TS_WAIT_AWAIT || !t->wait_obj)
		return 0;
	*id = t->wait_obj;
	return 1;
}

void tsc_fmt_age(uint64_t ns, char *buf, size_t n)
{
	uint64_t ms = ns / 1000000, s = ms / 1000;
	if (ms < 1000)
		snprintf(buf, n, "%llums", (unsigned long long)ms);
	else if (s < 60)
		snprintf(buf, n, "%llu.%llus", (unsigned long long)s,
			 (unsigned long long)(ms % 1000 / 100));
	else if (s < 3600)
		snprintf(buf, n, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, n, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else
		snprintf(buf, n, "%llud%02lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
}

void tsc_fmt_dur(char *b, size_t n, uint64_t ns)
{
	if (ns < 1000000ull)
		snprintf(b, n, "%.1fus", (double)ns / 1e3);
	else if (ns < 1000000000ull)
		snprintf(b, n, "%.2fms", (double)ns / 1e6);
	else
		snprintf(b, n, "%.3fs", (double)ns / 1e9);
}

void tsc_wait_describe(const struct tsc_task *t, uint64_t now_ns, char *buf, size_t n)
{
	char age[32];
	if (t->state != TS_WAITING) {
		snprintf(buf, n, "-");
		return;
	}
	switch (t->wait) {
	case TS_WAIT_SLEEP:
		tsc_fmt_age(t->wait_obj > now_ns ? t->wait_obj - now_ns : 0, age, sizeof(age));
		snprintf(buf, n, "sleep %s", age);
		break;
	case TS_WAIT_FD:
		snprintf(buf, n, "fd %lld", (long long)t->wait_obj);
		break;
	case TS_WAIT_AWAIT:
		snprintf(buf, n, "await %llu", (unsigned long long)t->wait_obj);
		break;
	default:
		snprintf(buf, n, "%s", tsc_wait_name(t->wait));
	}
}

int tsc_task_waited(const struct tsc_task *t, uint64_t now_ns, uint64_t *ns)
{
	if (t->state != TS_WAITING || !t->wait_since_ns)
		return 0;
	/* the coarse clock the loop may have read trails ours by up to a tick: never negative */
	*ns = now_ns > t->wait_since_ns ? now_ns - t->wait_since_ns : 0;
	return 1;
}

int tsc_task_queued(const struct tsc_task *t, uint64_t now_ns, uint64_t *ns)
{
	if ((t->state != TS_READY && t->state != TS_PENDING) || !t->ready_since_ns)
		return 0;
	*ns = now_ns > t->ready_since_ns ? now_ns - t->ready_since_ns : 0;
	return 1;
}

void tsc_waited_describe(const struct tsc_task *t, uint64_t now_ns, char *buf, size_t n)
{
	char age[32], left[32];
	uint64_t ns;
	if (tsc_task_queued(t, now_ns, &ns)) {
		tsc_fmt_age(ns, age, sizeof(age));
		snprintf(buf, n, "queued for %s", age);
		return;
	}
	if (!tsc_task_waited(t, now_ns, &ns)) {
		tsc_wait_describe(t, now_ns, buf, n);
		return;
	}
	tsc_fmt_age(ns, age, sizeof(age));
	if (t->wait == TS_WAIT_SLEEP) {
		tsc_fmt_age(t->wait_obj > now_ns ? t->wait_obj - now_ns : 0, left, sizeof(left));
		snprintf(buf, n, "sleep for %s (%s left)", age, left);
		return;
	}
	char what[48];
	tsc_wait_describe(t, now_ns, what, sizeof(what));
	snprintf(buf, n, "%s for %s", what, age);
}

/* ---- strings from the target: one decoder; one escaper for people, one for JSON ---- */

static const char hexd[] = "0123456789abcdef";

/* The code point of the valid UTF-8 sequence at s and its length, or 0: overlong forms,
 * surrogates, values past U+10FFFF and cut sequences are not valid. Stops at a NUL. */
static inline int utf8_dec(const unsigned char *s, uint32_t *cp)
{
	int len;
	uint32_t c;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, c = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, c = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, c = s[0] & 0x07;
	else
		return 0;
	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (c < min[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

int tsc_cp_width(uint32_t cp)
{
	size_t lo = 0, hi = sizeof(width_ranges) / sizeof(width_ranges[0]);
	if (cp < 0x300)
		return 1;
	while (lo < hi) {
		size_t m = lo + (hi - lo) / 2;
		if (cp < width_ranges[m].lo)
			hi = m;
		else if (cp > width_ranges[m].hi)
			lo = m + 1;
		else
			return width_ranges[m].w;
	}
	return 1;
}

/* Valid code points that are escaped all the same: the C1 controls (U+009B is CSI on many
 * terminals), and those that reorder or split lines (bidi controls, line separators). */
static int cp_hidden(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* The text of what starts at s when it is not a plain printable ASCII byte: into u (up to 6
 * bytes, *ul of them) with its width *uw; returns the bytes of s it stands for. */
static size_t text_unit(const unsigned char *s, char *u, size_t *ul, size_t *uw)
{
	uint32_t cp;
	int len = utf8_dec(s, &cp);
	if (len > 1 && !cp_hidden(cp)) {
		memcpy(u, s, (size_t)len);
		*ul = (size_t)len;
		*uw = (size_t)tsc_cp_width(cp);
		return (size_t)len;
	}
	u[0] = '\\';
	*ul = 2;
	switch (len ? cp : 0x100) {
	case '\\': u[1] = '\\'; break;
	case '"': u[1] = '"'; break;
	case '\t': u[1] = 't'; break;
	case '\n': u[1] = 'n'; break;
	case '\r': u[1] = 'r'; break;
	case 0x1b: u[1] = 'e'; break;
	default:
		if (len > 1) { /* a hidden code point: \u009b */
			u[1] = 'u';
			for (int i = 0; i < 4; i++)
				u[2 + i] = hexd[cp >> (12 - 4 * i) & 0xf];
			*ul = 6;
		} else { /* a control byte, DEL, or a byte that is not UTF-8: \x9b */
			u[1] = 'x';
			u[2] = hexd[s[0] >> 4];
			u[3] = hexd[s[0] & 0xf];
			*ul = 4;
		}
	}
	*uw = *ul;
	return len > 1 ? (size_t)len : 1;
}

/* Plain printable ASCII, shown as it is: [1] when '"' is escaped too. */
static const unsigned char text_plain[2][256] = {
	{ [0x20 ... 0x5b] = 1, [0x5d ... 0x7e] = 1 },
	{ [0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7e] = 1 },
};

size_t tsc_text(char *dst, size_t n, const char *str, size_t maxw, unsigned flags,
		size_t *width)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	const unsigned char *plain = text_plain[!!(flags & TSC_TEXT_QUOTED)];
	size_t o = 0, w = 0, cut_o = 0, cut_w = 0, ul, uw;
	int can_cut = 0;
	char u[8];
	if (!n) {
		if (width)
			*width = 0;
		return 0;
	}
	for (;;) {
		/* a run of plain ASCII, as long as there is room for it and an ellipsis after */
		size_t run = n > o + 8 ? n - o - 8 : 0, k;
		if (maxw < w + 2)
			run = 0;
		else if (maxw - w - 2 < run)
			run = maxw - w - 2;
		for (k = 0; k < run && plain[s[k]]; k++)
			dst[o + k] = (char)s[k];
		o += k;
		w += k;
		s += k;
		if (!*s)
			break;
		if (plain[*s]) {
			u[0] = (char)*s++;
			ul = uw = 1;
		} else {
			s += text_unit(s, u, &ul, &uw);
		}
		/* the last place where an ellipsis still fits, should the rest not */
		if (o + 4 <= n && w + 1 <= maxw)
			cut_o = o, cut_w = w, can_cut = 1;
		if (o + ul + 1 > n || w + uw > maxw)
			goto cut;
		memcpy(dst + o, u, ul);
		o += ul;
		w += uw;
	}
	goto done;
cut:
	if (can_cut) {
		memcpy(dst + cut_o, "\xe2\x80\xa6", 3); /* … */
		o = cut_o + 3;
		w = cut_w + 1;
	}
done:
	dst[o] = 0;
	if (width)
		*width = w;
	return o;
}

const char *tsc_esc(char *buf, size_t n, const char *s)
{
	tsc_text(buf, n, s, SIZE_MAX, 0, NULL);
	return buf;
}

size_t tsc_text_prefix(const char *str, size_t maxw, size_t *width)
{
	const unsigned char *s = (const unsigned char *)str, *p = s;
	size_t w = 0;
	while (*p) {
		uint32_t cp;
		int len = utf8_dec(p, &cp);
		size_t cw = len > 1 ? (size_t)tsc_cp_width(cp) : 1;
		if (w + cw > maxw)
			break;
		w += cw;
		p += len ? len : 1;
	}
	if (width)
		*width = w;
	return (size_t)(p - s);
}

size_t tsc_text_width(const char *s)
{
	size_t w;
	tsc_text_prefix(s, SIZE_MAX, &w);
	return w;
}

void tsc_pad(FILE *f, const char *s, size_t colw, int right)
{
	size_t w = tsc_text_width(s);
	if (right)
		for (; w < colw; w++)
			putc_unlocked(' ', f);
	fputs_unlocked(s, f);
	if (!right)
		for (; w < colw; w++)
			putc_unlocked(' ', f);
}

size_t tsc_utf8_clean(char *dst, size_t n, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t o = 0;
	if (!n)
		return 0;
	while (*s) {
		uint32_t cp;
		if (*s < 0x80 && o + 2 <= n) {
			dst[o++] = (char)*s++;
			continue;
		}
		int len = utf8_dec(s, &cp);
		size_t l = len ? (size_t)len : 3;
		if (o + l + 1 > n)
			break;
		memcpy(dst + o, len ? (const char *)s : "\xef\xbf\xbd", l);
		o += l;
		s += len ? len : 1;
	}
	dst[o] = 0;
	return o;
}

void tsc_put_u64(FILE *f, uint64_t v)
{
	char b[20];
	fwrite_unlocked(b, 1, (size_t)(tsc_json_fmt_u64(b, v) - b), f);
}

void tsc_put_i64(FILE *f, int64_t v)
{
	if (v < 0) {
		putc_unlocked('-', f);
		tsc_put_u64(f, (uint64_t)0 - (uint64_t)v);
	} else {
		tsc_put_u64(f, (uint64_t)v);
	}
}

/* 0: as is, 1: escaped, 2: the start of a multi-byte character (or not UTF-8) */
static const unsigned char json_class[256] = {
	[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x7f] = 1, [0x80 ... 0xff] = 2,
};

const char *tsc_json_part(const char *str, char *dst, size_t cap, size_t *len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t o = 0, lim = cap - TSC_JSON_CHAR_MAX;
	for (;;) {
		while (o < lim && !json_class[*s])
			dst[o++] = (char)*s++;
		if (!*s || o >= lim)
			break;
		uint32_t cp;
		int l = utf8_dec(s, &cp);
		if (*s == '"' || *s == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)*s++;
		} else if (!l) {
			memcpy(dst + o, "\\ufffd", 6);
			o += 6;
			s++;
		} else if (cp <= 0x9f || cp == 0x2028 || cp == 0x2029) {
			/* C0, DEL and C1 controls; the separators JavaScript takes for line ends */
			memcpy(dst + o, "\\u", 2);
			for (int i = 0; i < 4; i++)
				dst[o + 2 + i] = hexd[cp >> (12 - 4 * i) & 0xf];
			o += 6;
			s += l;
		} else {
			memcpy(dst + o, s, (size_t)l);
			o += (size_t)l;
			s += l;
		}
	}
	*len = o;
	return (const char *)s;
}

void tsc_json_str(FILE *f, const char *s)
{
	char b[256];
	size_t n;
	putc_unlocked('"', f);
	while (*s) {
		s = tsc_json_part(s, b, sizeof(b), &n);
		fwrite_unlocked(b, 1, n, f);
	}
	putc_unlocked('"', f);
}
