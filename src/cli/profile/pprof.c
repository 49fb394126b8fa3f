/* SPDX-License-Identifier: MIT */
/*
 * The store as a pprof profile (github.com/google/pprof, proto/profile.proto), protobuf
 * written by hand and gzipped with zlib, which go tool pprof reads. The fields used, with
 * their numbers from profile.proto:
 *   Profile   sample_type 1, sample 2, location 4, function 5, string_table 6,
 *             time_nanos 9, duration_nanos 10, period_type 11, period 12,
 *             default_sample_type 14
 *   ValueType type 1, unit 2          Sample   location_id 1, value 2, label 3
 *   Label     key 1, str 2, num 3     Location id 1, address 3, line 4
 *   Line      function_id 1, line 2   Function id 1, name 2, system_name 3, filename 4
 * Each sample's outermost location is its root (the task, name, coroutine or loop, as
 * --by says), a function of that name, so that pprof's views split by task as the flame
 * graph does; the task's id and name are also labels ("task", "task_id"), for -tagfocus.
 */
#include "profile/prof.h"
#include "out/out.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- protobuf encoding ---- */

struct pb {
	uint8_t *b;
	size_t n, cap;
	int err;
};

static void pb_bytes(struct pb *p, const void *src, size_t len)
{
	if (p->err || tsc_grow((void **)&p->b, &p->cap, p->n + len, 1)) {
		p->err = -ENOMEM;
		return;
	}
	memcpy(p->b + p->n, src, len);
	p->n += len;
}

static void pb_varint(struct pb *p, uint64_t v)
{
	uint8_t b[10];
	size_t n = 0;
	do {
		b[n++] = (uint8_t)(v & 0x7f) | (v > 0x7f ? 0x80 : 0);
		v >>= 7;
	} while (v);
	pb_bytes(p, b, n);
}

/* wire types: 0 varint, 2 length-delimited */
static void pb_uint(struct pb *p, unsigned field, uint64_t v)
{
	if (!v)
		return; /* proto3: a zero is the default, left out */
	pb_varint(p, (uint64_t)field << 3);
	pb_varint(p, v);
}

static void pb_len(struct pb *p, unsigned field, const void *src, size_t len)
{
	pb_varint(p, (uint64_t)field << 3 | 2);
	pb_varint(p, len);
	pb_bytes(p, src, len);
}

/* A message built in m, appended to p as field, and m emptied for the next. */
static void pb_msg(struct pb *p, unsigned field, struct pb *m)
{
	if (m->err)
		p->err = m->err;
	pb_len(p, field, m->b, m->n);
	m->n = 0;
}

/* ---- the profile's tables ---- */

struct pprof {
	struct pb out, m, sub;
	struct prof_strtab str;
	struct tsc_idmap locs;      /* (pc << 1 | ret) + 1, or a root's name index << 1 | 1 with
				     * the top bit set -> location id */
	struct tsc_idmap funcs;     /* name index << 32 | file index -> function id */
	uint64_t nlocs, nfuncs;
	struct tsc_symbolizer *sym;
	uint64_t *ids;              /* a sample's location ids */
	size_t ids_cap;
};

static uint64_t str(struct pprof *w, const char *s)
{
	int64_t i = prof_strtab_add(&w->str, s);
	if (i < 0) {
		w->out.err = -ENOMEM;
		return 0;
	}
	return (uint64_t)i;
}

static uint64_t function(struct pprof *w, uint64_t name, uint64_t file)
{
	uint64_t key = name << 32 | file;
	uint64_t *id = tsc_idmap_get(&w->funcs, key);
	if (id)
		return *id;
	uint64_t fid = ++w->nfuncs;
	if (tsc_idmap_put(&w->funcs, key, fid)) {
		w->out.err = -ENOMEM;
		return 0;
	}
	pb_uint(&w->m, 1, fid);
	pb_uint(&w->m, 2, name);
	pb_uint(&w->m, 3, name);
	pb_uint(&w->m, 4, file);
	pb_msg(&w->out, 5, &w->m);
	return fid;
}

/* The location of a frame address, made once. */
static uint64_t location(struct pprof *w, uint64_t pc, int ret)
{
	uint64_t key = (pc << 1 | (uint64_t)ret) + 1;
	uint64_t *id = tsc_idmap_get(&w->locs, key);
	if (id)
		return *id;
	const struct tsc_sym *y = NULL;
	unsigned n = tsc_symbolize(w->sym, pc, ret, &y);
	uint64_t lid = ++w->nlocs;
	char name[TSC_TEXT_SIZE(200) + 80], file[TSC_TEXT_SIZE(512)];
	/* the functions first: a Location's lines refer to them; innermost first, as pprof
	 * wants its inlined calls */
	uint64_t fids[32], lines[32];
	unsigned k = n ? (n < 32 ? n : 32) : 1;
	for (unsigned i = 0; i < k; i++) {
		const struct tsc_sym *s = n ? &y[i] : NULL;
		uint64_t fname = str(w, prof_frame_name(pc, s, name, sizeof(name)));
		uint64_t ffile = s && s->file ? str(w, tsc_esc(file, sizeof(file), s->file)) : 0;
		fids[i] = function(w, fname, ffile);
		lines[i] = s ? s->line : 0;
	}
	pb_uint(&w->m, 1, lid);
	pb_uint(&w->m, 3, pc);
	for (unsigned i = 0; i < k; i++) {
		pb_uint(&w->sub, 1, fids[i]);
		pb_uint(&w->sub, 2, lines[i]);
		pb_msg(&w->m, 4, &w->sub);
	}
	pb_msg(&w->out, 4, &w->m);
	if (tsc_idmap_put(&w->locs, key, lid))
		w->out.err = -ENOMEM;
	return lid;
}

/* The location of a root label: a function of that name, at no address. */
static uint64_t root_location(struct pprof *w, const char *label)
{
	uint64_t name = str(w, label);
	uint64_t key = name << 1 | 1 | 1ull << 63;
	uint64_t *id = tsc_idmap_get(&w->locs, key);
	if (id)
		return *id;
	uint64_t fid = function(w, name, 0), lid = ++w->nlocs;
	pb_uint(&w->m, 1, lid);
	pb_uint(&w->sub, 1, fid);
	pb_msg(&w->m, 4, &w->sub);
	pb_msg(&w->out, 4, &w->m);
	if (tsc_idmap_put(&w->locs, key, lid))
		w->out.err = -ENOMEM;
	return lid;
}

static void value_type(struct pprof *w, unsigned field, const char *type, const char *unit)
{
	uint64_t t = str(w, type), u = str(w, unit);
	pb_uint(&w->sub, 1, t);
	pb_uint(&w->sub, 2, u);
	pb_msg(&w->out, field, &w->sub);
}

static void label(struct pprof *w, const char *key, const char *s, uint64_t num)
{
	uint64_t k = str(w, key), v = s ? str(w, s) : 0;
	pb_uint(&w->sub, 1, k);
	pb_uint(&w->sub, 2, v);
	pb_uint(&w->sub, 3, num);
	pb_msg(&w->m, 3, &w->sub);
}

static void sample(struct pprof *w, const struct prof_store *s, const struct prof_stack *st,
		   enum prof_by by)
{
	char root[PROF_LABEL_SIZE], name[TSC_TEXT_SIZE(64)];
	if (tsc_grow((void **)&w->ids, &w->ids_cap, st->n + 1, sizeof(*w->ids))) {
		w->out.err = -ENOMEM;
		return;
	}
	size_t n = 0;
	for (uint32_t k = 0; k < st->n; k++) /* leaf first */
		w->ids[n++] = location(w, s->pcs[st->pc + k], k > 0 || s->kind == PROF_WAIT);
	w->ids[n++] = root_location(w, prof_root_label(s, st, by, root));
	/* packed repeated fields: one length-delimited run of varints */
	for (size_t i = 0; i < n; i++)
		pb_varint(&w->sub, w->ids[i]);
	pb_msg(&w->m, 1, &w->sub);
	pb_varint(&w->sub, st->count);
	pb_varint(&w->sub, st->weight);
	pb_msg(&w->m, 2, &w->sub);
	if (st->task) {
		const struct prof_task *t = prof_store_find_task(s, st->task);
		if (t)
			label(w, "task", tsc_esc(name, sizeof(name), t->name), 0);
		label(w, "task_id", NULL, st->task);
	}
	label(w, "loop", NULL, st->loop);
	pb_msg(&w->out, 2, &w->m);
}

/* p's bytes gzipped into f. */
static int gzip_to(FILE *f, const struct pb *p)
{
	z_stream z = { 0 };
	uint8_t buf[1 << 16];
	int zr;
	if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	z.next_in = p->b;
	z.avail_in = (uInt)p->n; /* a profile of more than 4 GiB is out of reach: the store caps */
	do {
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		zr = deflate(&z, Z_FINISH);
		if (zr == Z_STREAM_ERROR)
			break;
		if (fwrite(buf, 1, sizeof(buf) - z.avail_out, f) != sizeof(buf) - z.avail_out) {
			zr = Z_ERRNO;
			break;
		}
	} while (zr != Z_STREAM_END);
	deflateEnd(&z);
	return zr == Z_STREAM_END ? 0 : -EIO;
}

int prof_write_pprof(FILE *f, const struct prof_store *s, struct tsc_symbolizer *sym,
		     enum prof_by by)
{
	struct pprof w = { .sym = sym };
	int err = -ENOMEM;
	if (prof_strtab_init(&w.str) || tsc_idmap_reset(&w.locs, 1024, tsc_hash_mix(s->seed)) ||
	    tsc_idmap_reset(&w.funcs, 1024, tsc_hash_mix(s->seed)) || str(&w, "") != 0)
		goto out;
	const char *kind = s->kind == PROF_WAIT ? "wait" : "cpu";
	value_type(&w, 1, "samples", "count");
	value_type(&w, 1, kind, "nanoseconds");
	for (size_t i = 0; i < s->n && !w.out.err; i++)
		sample(&w, s, &s->st[i], by);
	pb_uint(&w.out, 9, s->wall_ns);
	pb_uint(&w.out, 10, s->t1_ns - s->t0_ns);
	value_type(&w, 11, kind, "nanoseconds");
	pb_uint(&w.out, 12, s->kind == PROF_CPU ? s->period_ns : 0);
	pb_uint(&w.out, 14, str(&w, kind));
	/* the string table last: every string is known by now */
	for (size_t i = 0; i < w.str.n; i++)
		pb_len(&w.out, 6, w.str.s[i], strlen(w.str.s[i]));
	err = w.out.err ? w.out.err : w.m.err ? w.m.err : w.sub.err;
	if (!err)
		err = gzip_to(f, &w.out);
out:
	prof_strtab_fini(&w.str);
	tsc_idmap_free(&w.locs);
	tsc_idmap_free(&w.funcs);
	free(w.ids);
	free(w.out.b);
	free(w.m.b);
	free(w.sub.b);
	return err;
}
