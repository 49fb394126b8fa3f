/* SPDX-License-Identifier: MIT */
/* Output helpers: state and wait names, safe strings, JSON strings, ages. */
#include "out.h"

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

/* Length of the valid UTF-8 sequence at s, or 0. */
static int utf8_len(const unsigned char *s)
{
	int len;
	uint32_t cp;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void tsc_safe_str(const char *str, char *buf, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t o = 0;
	if (!n)
		return;
	while (*s && o + 1 < n) {
		int len = utf8_len(s);
		/* C0 and C1 controls and DEL drive terminals; bytes that are not UTF-8 may too */
		if (!len || *s < 0x20 || *s == 0x7f || (len == 2 && s[0] == 0xc2 && s[1] < 0xa0)) {
			buf[o++] = '?';
			s += len ? len : 1;
			continue;
		}
		if (o + (size_t)len + 1 > n)
			break;
		memcpy(buf + o, s, (size_t)len);
		o += (size_t)len;
		s += len;
	}
	buf[o] = 0;
}

void tsc_put_u64(FILE *f, uint64_t v)
{
	char b[24];
	int i = sizeof(b);
	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	fwrite_unlocked(b + i, 1, sizeof(b) - (size_t)i, f);
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

void tsc_json_str(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	putc_unlocked('"', f);
	while (*s) {
		const unsigned char *run = s;
		while (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\')
			s++;
		if (s > run)
			fwrite_unlocked(run, 1, (size_t)(s - run), f);
		if (!*s)
			break;
		int len = utf8_len(s);
		if (!len) {
			fputs_unlocked("\\ufffd", f);
			s++;
		} else if (*s == '"' || *s == '\\') {
			putc_unlocked('\\', f);
			putc_unlocked(*s++, f);
		} else if (*s < 0x20 || *s == 0x7f) {
			fprintf(f, "\\u%04x", *s++);
		} else {
			fwrite_unlocked(s, 1, (size_t)len, f);
			s += len;
		}
	}
	putc_unlocked('"', f);
}
