/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the escapers of src/cli/out/out.c on any name a target may hold. Whatever the
 * bytes, the text for people is UTF-8 without a control character, as wide as it says and no
 * wider than asked, and (uncut) reads back to exactly the input; the JSON and the cleaned
 * UTF-8 are valid UTF-8 without raw controls. Input: a flags byte (bit 0: quoted), the width
 * limit (255: none), the buffer size (255: room for everything), then the name.
 * Built by `make fuzz` with ASan and UBSan; run by tests/fuzz/run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "out/out.c"

static int hexv(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Valid UTF-8 with no C0, DEL or C1 code point. */
static void check_utf8(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		int l = utf8_dec(s + i, &cp);
		if (!l || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			abort();
		i += (size_t)l;
	}
}

/* The escaped text back to bytes: the notation must be unambiguous (and, quoted, hold no bare
 * quote). */
static size_t unescape(const char *t, char *out, int quoted)
{
	size_t o = 0;
	while (*t) {
		if (*t != '\\') {
			if (quoted && *t == '"')
				abort();
			out[o++] = *t++;
			continue;
		}
		switch (t[1]) {
		case 'x':
			if (hexv(t[2]) < 0 || hexv(t[3]) < 0)
				abort();
			out[o++] = (char)(hexv(t[2]) << 4 | hexv(t[3]));
			t += 4;
			continue;
		case 'u': {
			uint32_t cp = 0;
			for (int i = 2; i < 6; i++) {
				if (hexv(t[i]) < 0)
					abort();
				cp = cp << 4 | (uint32_t)hexv(t[i]);
			}
			if (cp < 0x80 || (cp >= 0xd800 && cp <= 0xdfff))
				abort();
			if (cp < 0x800) {
				out[o++] = (char)(0xc0 | cp >> 6);
			} else {
				out[o++] = (char)(0xe0 | cp >> 12);
				out[o++] = (char)(0x80 | (cp >> 6 & 0x3f));
			}
			out[o++] = (char)(0x80 | (cp & 0x3f));
			t += 6;
			continue;
		}
		case '\\': out[o++] = '\\'; break;
		case '"': out[o++] = '"'; break;
		case 't': out[o++] = '\t'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 'e': out[o++] = '\x1b'; break;
		default: abort();
		}
		t += 2;
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	unsigned flags = data[0] & 1 ? TSC_TEXT_QUOTED : 0;
	size_t maxw = data[1] == 255 ? SIZE_MAX : data[1];
	char *s = strndup((const char *)data + 3, size - 3), *end;
	if (!s)
		return 0;
	size_t len = strlen(s), full = TSC_TEXT_SIZE(len);
	size_t n = data[2] == 255 ? full : data[2];
	char *t = malloc(full), *u = malloc(full), *back = malloc(full);
	if (!t || !u || !back)
		goto out;

	/* as asked: within n bytes and maxw columns, as wide as it says */
	size_t w, l = tsc_text(t, n, s, maxw, flags, &w);
	if (n && (l >= n || t[l] || strlen(t) != l || w > maxw || w != tsc_text_width(t)))
		abort();
	check_utf8(t, l);
	/* uncut: reads back to the input, and quotes are escaped when asked */
	l = tsc_text(t, full, s, SIZE_MAX, flags, &w);
	check_utf8(t, l);
	if (unescape(t, back, flags != 0) != len || memcmp(back, s, len))
		abort();

	/* JSON, in pieces as dump writes it */
	char j[16];
	for (const char *p = s; *p; p = end) {
		size_t k;
		end = (char *)tsc_json_part(p, j, sizeof(j), &k);
		if (end <= p || k > sizeof(j))
			abort();
		for (size_t i = 0; i < k; i++)
			if ((unsigned char)j[i] < 0x20 || j[i] == 0x7f)
				abort();
	}
	/* cleaned UTF-8 for the protobuf */
	l = tsc_utf8_clean(u, 3 * len + 1, s);
	if (strlen(u) != l)
		abort();
	for (size_t i = 0; i < l;) {
		uint32_t cp;
		int k = utf8_dec((unsigned char *)u + i, &cp);
		if (!k)
			abort();
		i += (size_t)k;
	}
out:
	free(t);
	free(u);
	free(back);
	free(s);
	return 0;
}
