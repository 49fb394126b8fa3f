/* SPDX-License-Identifier: MIT */
/* libFuzzer target: taskscope profile's store, folding and three writers (src/cli/profile/) on
 * any task names, symbol names, file names and stack addresses a target may hold. Whatever
 * they are: every folded line is "frame;...;frame VALUE" in UTF-8 without a control
 * character; the SVG is UTF-8 without controls or XML's noncharacters, its '&' all entities,
 * its groups balanced; the pprof file inflates and parses as protobuf with UTF-8 strings.
 * The symbolizer is replaced by one that names frames from the input's bytes.
 * Input: a flags byte (bit 0: wait profile, bits 1-2: --by), then records: a task byte (0:
 * the loop's), a frame count byte, that many 2-byte addresses; names come from the input too.
 * Built by `make fuzz` with ASan and UBSan; run by tests/fuzz/run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "out/out.c"
#include "idmap.c"
#include "profile/strtab.c"
#include "profile/store.c"
#include "profile/fold.c"
#include "profile/folded.c"
#include "profile/svg.c"
#include "profile/pprof.c"

uint64_t tsc_hash_key = 0x6a09e667f3bcc908ull;

/* ---- a symbolizer that names frames with the input's bytes ---- */

struct tsc_symbolizer {
	const uint8_t *data;
	size_t size;
	struct tsc_sym sym[3];
	char text[6][48];
};

static const char *bytes_at(struct tsc_symbolizer *s, uint64_t at, char *buf)
{
	size_t len = s->size ? (size_t)(at * 7 % 40) : 0, off = s->size ? (size_t)(at % s->size) : 0;
	size_t i;
	for (i = 0; i < len && off + i < s->size; i++)
		buf[i] = s->data[off + i] ? (char)s->data[off + i] : 'z';
	buf[i] = 0;
	return buf;
}

unsigned tsc_symbolize(struct tsc_symbolizer *s, uint64_t pc, bool ret, const struct tsc_sym **syms)
{
	unsigned n = (unsigned)(pc % 4);
	(void)ret;
	for (unsigned i = 0; i < n; i++) {
		struct tsc_sym *y = &s->sym[i];
		memset(y, 0, sizeof(*y));
		y->fn = pc % 5 ? bytes_at(s, pc + i, s->text[2 * i]) : NULL;
		y->file = pc % 3 ? bytes_at(s, pc * 3 + i, s->text[2 * i + 1]) : NULL;
		y->obj = y->fn ? NULL : y->file;
		y->line = (unsigned)pc;
		y->inlined = i + 1 < n;
	}
	*syms = s->sym;
	return n;
}

/* ---- the checks ---- */

static void check_text(const char *p, size_t n, int newlines)
{
	const unsigned char *s = (const unsigned char *)p;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		if (newlines && s[i] == '\n') {
			i++;
			continue;
		}
		int l = utf8_dec(s + i, &cp);
		if (!l || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			abort();
		i += (size_t)l;
	}
}

static void check_folded(const char *p, size_t n)
{
	check_text(p, n, 1);
	for (size_t i = 0; i < n;) {
		const char *nl = memchr(p + i, '\n', n - i);
		if (!nl)
			abort(); /* every line ends */
		const char *sp = nl;
		while (sp > p + i && sp[-1] >= '0' && sp[-1] <= '9')
			sp--;
		if (sp == nl || sp == p + i || sp[-1] != ' ' || sp - 1 == p + i)
			abort(); /* "STACK VALUE" */
		for (const char *c = p + i; c < sp - 1; c++)
			if (*c == ';' && (c == p + i || c[1] == ';' || c + 1 == sp - 1))
				abort(); /* no empty frame */
		i = (size_t)(nl - p) + 1;
	}
}

static void check_svg(const char *p, size_t n)
{
	size_t open = 0, close = 0;
	check_text(p, n, 1);
	for (size_t i = 0; i < n; i++) {
		const unsigned char c = (unsigned char)p[i];
		if (!strncmp(p + i, "<![CDATA[", 9)) { /* the script: ours, not data */
			const char *end = strstr(p + i, "]]>");
			if (!end)
				abort();
			i = (size_t)(end - p) + 2;
			continue;
		}
		if (c == 0xef && i + 2 < n && (unsigned char)p[i + 1] == 0xbf &&
		    ((unsigned char)p[i + 2] & 0xfe) == 0xbe)
			abort();
		if (c == '&' && strncmp(p + i, "&amp;", 5) && strncmp(p + i, "&lt;", 4) &&
		    strncmp(p + i, "&gt;", 4) && strncmp(p + i, "&quot;", 6) && strncmp(p + i, "&apos;", 6))
			abort();
		if (!strncmp(p + i, "<g ", 3))
			open++;
		if (!strncmp(p + i, "</g>", 4))
			close++;
	}
	if (open != close)
		abort();
}

static uint64_t varint(const uint8_t *b, size_t n, size_t *i)
{
	uint64_t v = 0;
	for (int sh = 0; sh < 64; sh += 7) {
		if (*i >= n)
			abort();
		uint8_t x = b[(*i)++];
		v |= (uint64_t)(x & 0x7f) << sh;
		if (!(x & 0x80))
			return v;
	}
	abort();
}

static void check_pprof(const char *p, size_t n)
{
	z_stream z = { 0 };
	size_t cap = 1 << 16, len = 0;
	uint8_t *out = malloc(cap);
	if (!out || inflateInit2(&z, 15 + 16) != Z_OK)
		abort();
	z.next_in = (Bytef *)p;
	z.avail_in = (uInt)n;
	int zr;
	do {
		if (len == cap && !(out = realloc(out, cap *= 2)))
			abort();
		z.next_out = out + len;
		z.avail_out = (uInt)(cap - len);
		zr = inflate(&z, Z_NO_FLUSH);
		len = cap - z.avail_out;
	} while (zr == Z_OK);
	if (zr != Z_STREAM_END)
		abort();
	inflateEnd(&z);
	for (size_t i = 0; i < len;) {
		uint64_t key = varint(out, len, &i);
		if ((key & 7) == 0) {
			varint(out, len, &i);
		} else if ((key & 7) == 2) {
			uint64_t l = varint(out, len, &i);
			if (l > len - i)
				abort();
			if (key >> 3 == 6)
				check_text((const char *)out + i, (size_t)l, 0);
			i += (size_t)l;
		} else {
			abort();
		}
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tsc_symbolizer sym = { .data = data, .size = size };
	struct prof_store s;
	if (size < 1)
		return 0;
	enum prof_kind kind = data[0] & 1 ? PROF_WAIT : PROF_CPU;
	enum prof_by by = (enum prof_by)((data[0] >> 1) % 3);
	if (prof_store_init(&s, kind, 10000000))
		return 0;
	size_t i = 1;
	while (i + 2 <= size) {
		uint64_t task = data[i], pc[PROF_MAX_FRAMES];
		unsigned n = data[i + 1] % 20, k;
		i += 2;
		for (k = 0; k < n && i + 2 <= size; k++, i += 2)
			pc[k] = 0x1000u + (uint64_t)(data[i] | data[i + 1] << 8);
		char name[64];
		snprintf(name, sizeof(name), "%.*s", (int)(size - i < 12 ? size - i : 12),
			 (const char *)data + i);
		if (task % 3)
			prof_store_task(&s, task, name, name + (name[0] != 0));
		prof_store_add(&s, task, task % 4, pc, k, 1000 + task);
	}
	char *buf = NULL;
	size_t len = 0;
	struct prof_tree t;
	if (!prof_fold(&s, &sym, by, &t)) {
		FILE *f = open_memstream(&buf, &len);
		if (f && !prof_write_folded(f, &t) && !fclose(f))
			check_folded(buf, len);
		free(buf);
		buf = NULL;
		f = open_memstream(&buf, &len);
		if (f && !prof_write_svg(f, &t, "fuzz <&>") && !fclose(f))
			check_svg(buf, len);
		free(buf);
		buf = NULL;
		prof_tree_fini(&t);
	}
	FILE *f = open_memstream(&buf, &len);
	if (f && !prof_write_pprof(f, &s, &sym, by) && !fclose(f))
		check_pprof(buf, len);
	free(buf);
	prof_store_fini(&s);
	return 0;
}
