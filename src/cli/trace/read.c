/* SPDX-License-Identifier: MIT */
/* The trace reader: every length, count and reference in the file is checked before use,
 * so any input either decodes or stops with a message saying where and what was wrong. */
#include "trace/trace.h"
#include "util.h"
#include "trace/format.h"
#include "out/json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

struct rstr {
	const char *s;            /* NUL-terminated, inside raw */
	size_t len;
	uint64_t last_num;
};

enum { RS_NEW, RS_OPEN, RS_END, RS_FAILED };

struct tsc_trace_reader {
	tsc_trace_warn_fn warn;
	void *warn_ctx;
	int fd;
	const uint8_t *mem;
	uint64_t size;            /* of the file or buffer */
	int state, err;
	char msg[512];

	struct tsc_trace_header hdr;
	struct tsc_snapshot snap;
	uint64_t off;             /* of the next chunk */
	uint64_t next_seq;

	/* the current block */
	uint8_t *zbuf, *raw;
	size_t zcap, rcap, rlen, rpos;
	uint32_t nrec, irec;
	uint64_t block_lost[TSC_EV_EVENTS_NR + 1];
	struct tsc_trace_pos pos;
	uint64_t t_prev, last_create, last_obj;
	int prev_slot;
	int32_t thr_tid[TF_BLOCK_THREADS_MAX];
	uint64_t thr_cur[TF_BLOCK_THREADS_MAX], thr_last[TF_BLOCK_THREADS_MAX];
	uint32_t nthr;
	struct rstr *strs;
	size_t nstr, strs_cap;
	char scratch[2][TF_STR_MAX + 32];

	uint64_t warned[4];       /* extension types already warned about, as bits */
	struct tsc_trace_rstats st;
};

static void default_warn(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "taskscope: warning: %s\n", msg);
}

struct tsc_trace_reader *tsc_trace_reader_new(tsc_trace_warn_fn warn, void *ctx)
{
	struct tsc_trace_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->warn = warn ? warn : default_warn;
	r->warn_ctx = ctx;
	r->fd = -1;
	return r;
}

void tsc_trace_reader_free(struct tsc_trace_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->snap.threads);
	free(r->snap.tasks);
	free(r->zbuf);
	free(r->raw);
	free(r->strs);
	free(r);
}

__attribute__((format(printf, 3, 4))) static int fail(struct tsc_trace_reader *r, int err,
						       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	r->state = RS_FAILED;
	r->err = err;
	return err;
}

__attribute__((format(printf, 2, 3))) static void warnf(struct tsc_trace_reader *r,
							 const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	r->warn(r->warn_ctx, buf);
}

const char *tsc_trace_reader_error(const struct tsc_trace_reader *r)
{
	return r->msg[0] ? r->msg : "no error";
}

const char *tsc_trace_process_name(const struct tsc_trace_header *h)
{
	const char *p = h->program[0] ? h->program : h->binary, *base = strrchr(p, '/');
	if (base && base[1])
		return base + 1;
	return p[0] ? p : "?";
}

const struct tsc_trace_header *tsc_trace_header(const struct tsc_trace_reader *r)
{
	return &r->hdr;
}

const struct tsc_snapshot *tsc_trace_snapshot(const struct tsc_trace_reader *r)
{
	return &r->snap;
}

const struct tsc_trace_rstats *tsc_trace_stats(const struct tsc_trace_reader *r)
{
	return &r->st;
}

void tsc_trace_position(const struct tsc_trace_reader *r, struct tsc_trace_pos *pos)
{
	*pos = r->pos;
}

/* Up to n bytes at off; returns how many there were. */
static size_t src_read(struct tsc_trace_reader *r, uint64_t off, void *buf, size_t n)
{
	if (off >= r->size)
		return 0;
	if (n > r->size - off)
		n = (size_t)(r->size - off);
	if (r->mem) {
		memcpy(buf, r->mem + off, n);
		return n;
	}
	size_t got = 0;
	while (got < n) {
		ssize_t k = pread(r->fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	return got;
}

/* ---- varints within [p, end) ---- */

static inline int vget(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	if (p < end && *p < 0x80) { /* the common one-byte case */
		*v = *p;
		*pp = p + 1;
		return 0;
	}
	uint64_t x = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (p >= end)
			return -1;
		uint8_t c = *p++;
		if (shift == 63 && c > 1)
			return -1;
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = x;
			*pp = p;
			return 0;
		}
	}
	return -1;
}

/* ---- header and chunks ---- */

static int read_header(struct tsc_trace_reader *r)
{
	uint8_t h[TF_HDR_MAX];
	size_t got = src_read(r, 0, h, TF_HDR_FIXED);

	if (got < 8 || memcmp(h, TSC_TRACE_MAGIC, 8))
		return fail(r, -EINVAL, "offset 0: not a taskscope trace (no \"%s\" magic)",
			    TSC_TRACE_MAGIC);
	if (got < TF_HDR_FIXED)
		return fail(r, -EINVAL, "offset %zu: file ends inside the header (%zu of %d bytes)",
			    got, got, TF_HDR_FIXED);
	uint32_t hsize = tf_get32(h + TF_HDR_OFF_SIZE);
	uint16_t blen = tf_get16(h + TF_HDR_OFF_BINLEN);
	uint16_t plen = tf_get16(h + TF_HDR_OFF_PROGLEN);
	r->hdr.major = tf_get16(h + TF_HDR_OFF_MAJOR);
	r->hdr.minor = tf_get16(h + TF_HDR_OFF_MINOR);
	if (hsize < TF_HDR_FIXED || hsize > TF_HDR_MAX ||
	    hsize < (uint32_t)TF_HDR_FIXED + blen + plen || blen >= sizeof(r->hdr.binary) ||
	    plen >= sizeof(r->hdr.program))
		return fail(r, -EINVAL,
			    "offset %d: bad header size %u (binary path %u bytes, program %u)",
			    TF_HDR_OFF_SIZE, hsize, blen, plen);
	got = src_read(r, 0, h, hsize);
	if (got < hsize)
		return fail(r, -EINVAL, "offset %zu: file ends inside the header (%zu of %u bytes)",
			    got, got, hsize);
	uint32_t crc = (uint32_t)crc32(0, h, TF_HDR_OFF_CRC);
	crc = (uint32_t)crc32(crc, h + TF_HDR_OFF_CRC + 4, hsize - TF_HDR_OFF_CRC - 4);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	if (getenv("TSC_FUZZ_IGNORE_CRC"))
		crc = tf_get32(h + TF_HDR_OFF_CRC);
#endif
	if (crc != tf_get32(h + TF_HDR_OFF_CRC))
		return fail(r, -EINVAL, "offset 0: header CRC mismatch (stored %08x, computed %08x)",
			    tf_get32(h + TF_HDR_OFF_CRC), crc);
	if (r->hdr.major != TSC_TRACE_MAJOR)
		return fail(r, -ENOTSUP,
			    "trace format version %u.%u: this taskscope reads version %d.x only",
			    r->hdr.major, r->hdr.minor, TSC_TRACE_MAJOR);
	r->hdr.pid = (int32_t)tf_get32(h + TF_HDR_OFF_PID);
	r->hdr.flags = tf_get32(h + TF_HDR_OFF_FLAGS);
	r->hdr.mono_ns = tf_get64(h + TF_HDR_OFF_MONO);
	r->hdr.real_ns = tf_get64(h + TF_HDR_OFF_REAL);
	memcpy(r->hdr.binary, h + TF_HDR_FIXED, blen);
	r->hdr.binary[blen] = 0;
	memcpy(r->hdr.program, h + TF_HDR_FIXED + blen, plen);
	r->hdr.program[plen] = 0;
	r->off = hsize;
	return 0;
}

/* Read, check and decompress the chunk at r->off into raw. *kind gets its kind. */
static int load_chunk(struct tsc_trace_reader *r, int *kind)
{
	uint8_t h[TF_CHUNK_FIXED + 8 * TF_CH_MAX_LOST];
	uint64_t off = r->off;
	size_t got = src_read(r, off, h, TF_CHUNK_FIXED);

	if (got == 0)
		return fail(r, -ENODATA,
			    "offset %" PRIu64 ": the file ends after block %" PRIu64
			    " without a footer: the recording did not end cleanly (the recorder was "
			    "killed?); every event up to there was read",
			    off, r->next_seq ? r->next_seq - 1 : 0);
	if (got < TF_CHUNK_FIXED)
		return fail(r, -EBADMSG,
			    "offset %" PRIu64 ": the file ends inside the header of block %" PRIu64
			    " (%zu of %d bytes): cut short",
			    off, r->next_seq, got, TF_CHUNK_FIXED);
	if (memcmp(h, TF_CHUNK_MAGIC, 4))
		return fail(r, -EBADMSG,
			    "offset %" PRIu64 ": no block starts here (bad magic): the file is corrupt",
			    off);
	uint16_t hlen = tf_get16(h + TF_CH_OFF_HDRLEN), nlost = tf_get16(h + TF_CH_OFF_NLOST);
	uint32_t plen = tf_get32(h + TF_CH_OFF_PAYLOAD), rlen = tf_get32(h + TF_CH_OFF_RAW);
	uint64_t seq = tf_get64(h + TF_CH_OFF_SEQ);
	*kind = h[TF_CH_OFF_KIND];
	int codec = h[TF_CH_OFF_CODEC];
	if (nlost > TF_CH_MAX_LOST || hlen < TF_CHUNK_FIXED + 8u * nlost || hlen > sizeof(h))
		return fail(r, -EBADMSG,
			    "offset %" PRIu64 ": block header size %u with %u lost counts is invalid",
			    off, hlen, nlost);
	if (src_read(r, off + TF_CHUNK_FIXED, h + TF_CHUNK_FIXED, hlen - TF_CHUNK_FIXED) <
	    (size_t)(hlen - TF_CHUNK_FIXED))
		return fail(r, -EBADMSG,
			    "offset %" PRIu64 ": the file ends inside the header of block %" PRIu64
			    ": cut short",
			    off, r->next_seq);
	uint32_t rmax = *kind == TF_KIND_SNAPSHOT ? TF_SNAPSHOT_RAW_MAX : TF_EVENTS_RAW_MAX;
	if (plen > TF_PAYLOAD_MAX || rlen > rmax)
		return fail(r, -EBADMSG,
			    "offset %" PRIu64 ": block sizes out of bounds (stored %u, raw %u bytes; "
			    "limits %u and %u)",
			    off, plen, rlen, TF_PAYLOAD_MAX, rmax);
	if (codec == TF_CODEC_NONE ? rlen != plen
	    : codec == TF_CODEC_ZLIB ? (uint64_t)plen * TF_RATIO_MAX + 4096 < rlen
				     : 1)
		return fail(r, -EBADMSG,
			    "offset %" PRIu64 ": block of codec %d claims %u bytes from %u stored "
			    "(the ratio is capped at %d)",
			    off, codec, rlen, plen, TF_RATIO_MAX);
	if (tsc_grow((void **)&r->zbuf, &r->zcap, plen ? plen : 1, 1) ||
	    tsc_grow((void **)&r->raw, &r->rcap, (size_t)rlen + 1, 1))
		return fail(r, -ENOMEM, "out of memory reading block at offset %" PRIu64, off);
	got = src_read(r, off + hlen, r->zbuf, plen);
	if (got < plen)
		return fail(r, -EBADMSG,
			    "offset %" PRIu64 ": the file ends inside block %" PRIu64
			    " (%zu of %u bytes of its data): cut short",
			    off + hlen + got, seq, got, plen);
	uint32_t crc = (uint32_t)crc32(0, h + 8, hlen - 8);
	crc = (uint32_t)crc32(crc, r->zbuf, plen);
	/* a fuzzing build reads on past bad CRCs, to reach the decoders behind them */
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	if (crc != tf_get32(h + TF_CH_OFF_CRC))
#else
	if (crc != tf_get32(h + TF_CH_OFF_CRC) && !getenv("TSC_FUZZ_IGNORE_CRC"))
#endif
		return fail(r, -EBADMSG,
			    "offset %" PRIu64 ": block %" PRIu64 " is corrupt: CRC mismatch (stored "
			    "%08x, computed %08x)",
			    off, seq, tf_get32(h + TF_CH_OFF_CRC), crc);
	if (seq != r->next_seq)
		return fail(r, -EBADMSG,
			    "offset %" PRIu64 ": block %" PRIu64 " where block %" PRIu64
			    " was expected: a block is missing or repeated",
			    off, seq, r->next_seq);
	if (codec == TF_CODEC_ZLIB) {
		uLongf dlen = rlen;
		int zr = uncompress(r->raw, &dlen, r->zbuf, plen);
		if (zr != Z_OK || dlen != rlen)
			return fail(r, -EBADMSG,
				    "offset %" PRIu64 ": block %" PRIu64 " does not decompress to "
				    "its %u bytes (zlib: %s)",
				    off, seq, rlen, zr == Z_OK ? "short" : zError(zr));
	} else {
		memcpy(r->raw, r->zbuf, plen);
	}
	r->raw[rlen] = 0; /* a sentinel; never part of the data */
	r->rlen = rlen;
	r->rpos = 0;
	r->nrec = tf_get32(h + TF_CH_OFF_NREC);
	r->irec = 0;
	memset(r->block_lost, 0, sizeof(r->block_lost));
	for (int i = 0; i < nlost && i < TSC_EV_EVENTS_NR; i++)
		r->block_lost[i + 1] = tf_get64(h + TF_CHUNK_FIXED + 8 * i);
	r->pos = (struct tsc_trace_pos){
		.offset = off, .end = off + hlen + plen, .seq = seq, .nrec = r->nrec,
		.t_min = tf_get64(h + TF_CH_OFF_TMIN), .t_max = tf_get64(h + TF_CH_OFF_TMAX),
	};
	r->t_prev = tf_get64(h + TF_CH_OFF_TFIRST);
	r->off = r->pos.end;
	r->next_seq++;
	return 0;
}

static int snapshot_error(struct tsc_trace_reader *r, const char *what)
{
	return fail(r, -EBADMSG, "offset %" PRIu64 ": the snapshot is malformed: %s",
		    r->pos.offset, what);
}

static void copy_lenstr(char *dst, size_t size, const uint8_t *s, uint64_t n)
{
	size_t k = n < size - 1 ? (size_t)n : size - 1;
	memcpy(dst, s, k);
	dst[k] = 0;
}

static int parse_snapshot(struct tsc_trace_reader *r)
{
	const uint8_t *p = r->raw, *end = r->raw + r->rlen;
	uint64_t taken, retries, n;
	size_t cap = 0;

	if (vget(&p, end, &taken) || vget(&p, end, &retries) || vget(&p, end, &n))
		return snapshot_error(r, "truncated counts");
	r->snap.pid = r->hdr.pid;
	r->snap.taken_ns = taken;
	r->snap.retries = (uint32_t)retries;
	if (n > (uint64_t)(end - p))
		return snapshot_error(r, "more threads than bytes");
	for (uint64_t i = 0; i < n; i++) {
		uint64_t len, tid, loop, cur;
		if (vget(&p, end, &len) || len > (uint64_t)(end - p))
			return snapshot_error(r, "a thread entry overruns the data");
		const uint8_t *e = p, *ee = p + len;
		p = ee;
		if (vget(&e, ee, &tid) || vget(&e, ee, &loop) || vget(&e, ee, &cur))
			return snapshot_error(r, "a thread entry is too short");
		if (tsc_grow((void **)&r->snap.threads, &cap, r->snap.nthreads + 1,
			 sizeof(*r->snap.threads)))
			return fail(r, -ENOMEM, "out of memory reading the snapshot");
		r->snap.threads[r->snap.nthreads++] = (struct tsc_thread){
			.tid = (int32_t)tf_unzigzag(tid), .loop_id = loop, .current = cur };
	}
	if (vget(&p, end, &n))
		return snapshot_error(r, "truncated task count");
	if (n > (uint64_t)(end - p))
		return snapshot_error(r, "more tasks than bytes");
	cap = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t len, v[10], sl;
		if (vget(&p, end, &len) || len > (uint64_t)(end - p))
			return snapshot_error(r, "a task entry overruns the data");
		const uint8_t *e = p, *ee = p + len, *name, *coro;
		uint64_t name_len, coro_len;
		p = ee;
		if (vget(&e, ee, &v[0]) || vget(&e, ee, &v[1]))
			return snapshot_error(r, "a task entry is too short");
		if (vget(&e, ee, &sl) || sl > (uint64_t)(ee - e))
			return snapshot_error(r, "a task name overruns its entry");
		name = e, name_len = sl, e += sl;
		if (vget(&e, ee, &sl) || sl > (uint64_t)(ee - e))
			return snapshot_error(r, "a task coro overruns its entry");
		coro = e, coro_len = sl, e += sl;
		for (int k = 2; k < 8; k++)
			if (vget(&e, ee, &v[k]))
				return snapshot_error(r, "a task entry is too short");
		if (tsc_grow((void **)&r->snap.tasks, &cap, r->snap.ntasks + 1, sizeof(*r->snap.tasks)))
			return fail(r, -ENOMEM, "out of memory reading the snapshot");
		struct tsc_task *t = &r->snap.tasks[r->snap.ntasks++];
		memset(t, 0, sizeof(*t));
		t->id = v[0];
		t->parent = v[1];
		copy_lenstr(t->name, sizeof(t->name), name, name_len);
		copy_lenstr(t->coro, sizeof(t->coro), coro, coro_len);
		t->state = (uint32_t)v[2];
		t->wait = (uint32_t)v[3];
		t->wait_obj = v[4];
		t->tid = (int32_t)tf_unzigzag(v[5]);
		t->created_ns = v[6];
		t->switches = v[7];
	}
	return 0;
}

static int open_common(struct tsc_trace_reader *r)
{
	int kind, err;
	if ((err = read_header(r)))
		return err;
	if ((err = load_chunk(r, &kind))) {
		if (err == -ENODATA)
			return fail(r, -EBADMSG, "offset %" PRIu64 ": the file ends before the snapshot",
				    r->off);
		return err;
	}
	if (kind != TF_KIND_SNAPSHOT)
		return fail(r, -EBADMSG, "offset %" PRIu64 ": the first block is not the snapshot",
			    r->pos.offset);
	if ((err = parse_snapshot(r)))
		return err;
	r->nrec = r->irec = 0;
	r->rlen = r->rpos = 0;
	r->state = RS_OPEN;
	return 0;
}

int tsc_trace_reader_open_file(struct tsc_trace_reader *r, const char *path)
{
	struct stat st;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return fail(r, -errno, "cannot open %s: %s", path, strerror(errno));
	if (fstat(r->fd, &st))
		return fail(r, -errno, "cannot stat %s: %s", path, strerror(errno));
	r->size = (uint64_t)st.st_size;
	return open_common(r);
}

int tsc_trace_reader_open_mem(struct tsc_trace_reader *r, const void *buf, size_t len)
{
	r->mem = buf ? buf : (const void *)"";
	r->size = len;
	return open_common(r);
}

/* ---- records ---- */

static void block_reset(struct tsc_trace_reader *r)
{
	r->last_create = r->last_obj = 0;
	r->prev_slot = -1;
	r->nthr = 0;
	r->nstr = 0;
}

static int rec_error(struct tsc_trace_reader *r, size_t at, const char *what)
{
	return fail(r, -EBADMSG,
		    "block %" PRIu64 " at offset %" PRIu64 ", record %u (byte %zu of its data): %s",
		    r->pos.seq, r->pos.offset, r->irec, at, what);
}

static int footer(struct tsc_trace_reader *r)
{
	const uint8_t *p = r->raw, *end = r->raw + r->rlen;
	uint64_t n, v, blocks;

	if (vget(&p, end, &n))
		return rec_error(r, 0, "the footer is truncated");
	for (uint64_t i = 1; i <= n; i++) {
		if (vget(&p, end, &v))
			return rec_error(r, 0, "the footer is truncated");
		if (i <= TSC_EV_EVENTS_NR && v != r->st.events[i])
			return fail(r, -EBADMSG,
				    "the footer counts %" PRIu64 " %s events, the blocks held %" PRIu64,
				    v, tsc_ev_name((uint32_t)i), r->st.events[i]);
	}
	if (vget(&p, end, &n))
		return rec_error(r, 0, "the footer is truncated");
	for (uint64_t i = 1; i <= n; i++) {
		if (vget(&p, end, &v))
			return rec_error(r, 0, "the footer is truncated");
		if (i <= TSC_EV_EVENTS_NR && v != r->st.lost[i])
			return fail(r, -EBADMSG,
				    "the footer counts %" PRIu64 " lost %s events, the blocks held %" PRIu64,
				    v, tsc_ev_name((uint32_t)i), r->st.lost[i]);
	}
	if (vget(&p, end, &r->st.end_ns) || vget(&p, end, &blocks))
		return rec_error(r, 0, "the footer is truncated");
	if (blocks != r->st.blocks)
		return fail(r, -EBADMSG,
			    "the footer counts %" PRIu64 " blocks, the file held %" PRIu64, blocks,
			    r->st.blocks);
	r->st.footer = 1;
	if (r->off < r->size)
		warnf(r, "%" PRIu64 " bytes after the footer at offset %" PRIu64 " ignored",
		      r->size - r->off, r->off);
	r->state = RS_END;
	return 0;
}

/* Load chunks until an events block with records, or the footer. 1: block ready; 0: end. */
static int next_block(struct tsc_trace_reader *r)
{
	for (;;) {
		int kind, err;
		if (r->rpos != r->rlen)
			return rec_error(r, r->rpos, "data left after the block's last record");
		for (int i = 1; i <= TSC_EV_EVENTS_NR; i++)
			if (r->nrec && r->block_lost[i] != r->st.lost[i])
				return fail(r, -EBADMSG,
					    "block %" PRIu64 " at offset %" PRIu64 " says %" PRIu64
					    " %s events were lost so far, its records say %" PRIu64,
					    r->pos.seq, r->pos.offset, r->block_lost[i],
					    tsc_ev_name((uint32_t)i), r->st.lost[i]);
		if ((err = load_chunk(r, &kind)))
			return err;
		switch (kind) {
		case TF_KIND_EVENTS:
			r->st.blocks++;
			block_reset(r);
			if (r->nrec == 0 && r->rlen)
				return rec_error(r, 0, "data in a block of 0 records");
			if (r->nrec)
				return 1;
			continue;
		case TF_KIND_FOOTER:
			r->nrec = 0;
			r->rpos = r->rlen;
			return footer(r);
		case TF_KIND_SNAPSHOT:
			return fail(r, -EBADMSG, "offset %" PRIu64 ": a second snapshot",
				    r->pos.offset);
		default:
			warnf(r, "offset %" PRIu64 ": block of unknown kind %d skipped", r->pos.offset,
			      kind);
			r->nrec = 0;
			r->rpos = r->rlen;
		}
	}
}

static inline int get_thread(struct tsc_trace_reader *r, const uint8_t **p, const uint8_t *end,
			     int *slot)
{
	uint64_t k, tid;
	if (vget(p, end, &k) || k > r->nthr)
		return -1;
	if (k == r->nthr) {
		if (k >= TF_BLOCK_THREADS_MAX || vget(p, end, &tid))
			return -1;
		r->thr_tid[k] = (int32_t)tf_unzigzag(tid);
		r->thr_cur[k] = r->thr_last[k] = 0;
		r->nthr++;
	}
	*slot = (int)k;
	return 0;
}

static inline int get_id(struct tsc_trace_reader *r, const uint8_t **p, const uint8_t *end,
			 int slot, uint64_t *id)
{
	uint64_t d;
	if (vget(p, end, &d))
		return -1;
	*id = r->thr_last[slot] + (uint64_t)tf_unzigzag(d);
	r->thr_last[slot] = *id;
	return 0;
}

/* A NUL-terminated string at *p, in the data; returns it or NULL. */
static inline const char *get_cstr(const uint8_t **p, const uint8_t *end, size_t *len)
{
	const uint8_t *z = memchr(*p, 0, (size_t)(end - *p));
	if (!z || z - *p > TF_STR_MAX)
		return NULL;
	const char *s = (const char *)*p;
	*len = (size_t)(z - *p);
	*p = z + 1;
	return s;
}

static int add_str(struct tsc_trace_reader *r, const char *s, size_t len)
{
	if (r->nstr >= TF_BLOCK_STRINGS_MAX ||
	    tsc_grow((void **)&r->strs, &r->strs_cap, r->nstr + 1, sizeof(*r->strs)))
		return -1;
	r->strs[r->nstr++] = (struct rstr){ .s = s, .len = len };
	return 0;
}

static int get_str(struct tsc_trace_reader *r, const uint8_t **p, const uint8_t *end, int which,
		   const char **out)
{
	uint64_t v, d;
	size_t len;
	const char *s;
	if (vget(p, end, &v))
		return -1;
	if (TF_STR_IS_REF(v)) {
		if ((v >> 1) >= r->nstr)
			return -1;
		*out = r->strs[v >> 1].s;
		return 0;
	}
	if (v == TF_STR_LITERAL) {
		if (!(s = get_cstr(p, end, &len)) || add_str(r, s, len))
			return -1;
		*out = s;
		return 0;
	}
	if (!TF_STR_IS_NUM(v) || (v >> 2) > r->nstr)
		return -1;
	if ((v >> 2) == r->nstr && (!(s = get_cstr(p, end, &len)) || add_str(r, s, len)))
		return -1;
	struct rstr *e = &r->strs[v >> 2];
	if (vget(p, end, &d))
		return -1;
	e->last_num += (uint64_t)tf_unzigzag(d);
	/* the prefix (TF_STR_MAX at most) and the number: the scratch holds both; by hand, as
	 * names like "Task-1234" come with most events of a churning process */
	char *o = r->scratch[which];
	memcpy(o, e->s, e->len);
	*tsc_json_fmt_u64(o + e->len, e->last_num) = 0;
	*out = o;
	return 0;
}

/* The exec extension record: time, zigzag tid, then the file's bytes to the record's end. */
static int read_exec(struct tsc_trace_reader *r, size_t at, const uint8_t *p,
		     const uint8_t *end, struct tsc_event *ev)
{
	uint64_t ts, tid;
	if (vget(&p, end, &ts) || vget(&p, end, &tid))
		return rec_error(r, at, "truncated exec record");
	size_t n = (size_t)(end - p);
	if (n > TF_STR_MAX)
		return rec_error(r, at, "an exec record's file name is too long");
	memcpy(r->scratch[0], p, n);
	r->scratch[0][n] = 0;
	memset(ev, 0, sizeof(*ev));
	ev->ts_ns = ts;
	ev->type = TSC_EV_EXEC;
	ev->tid = (int32_t)tf_unzigzag(tid);
	ev->exec.file = r->scratch[0];
	r->rpos = (size_t)(end - r->raw);
	r->irec++;
	return 1;
}

/* The ready extension record (1.3): zigzag time delta from the previous record, a thread
 * (slot + 1 of the block's table, or 0 and a zigzag tid), the id (a zigzag delta from that
 * slot's last id, or whole). It reads the block's state and changes none of it: a reader that
 * skips it (older than 1.3) decodes the records after it alike. */
static int read_ready(struct tsc_trace_reader *r, size_t at, const uint8_t *p,
		      const uint8_t *end, struct tsc_event *ev)
{
	uint64_t dt, tref, tid, d;
	if (vget(&p, end, &dt) || vget(&p, end, &tref))
		return rec_error(r, at, "truncated ready record");
	memset(ev, 0, sizeof(*ev));
	if (tref) {
		if (tref > r->nthr || vget(&p, end, &d))
			return rec_error(r, at, "a ready record of no thread");
		ev->tid = r->thr_tid[tref - 1];
		ev->ready.id = r->thr_last[tref - 1] + (uint64_t)tf_unzigzag(d);
	} else {
		if (vget(&p, end, &tid) || vget(&p, end, &ev->ready.id))
			return rec_error(r, at, "truncated ready record");
		ev->tid = (int32_t)tf_unzigzag(tid);
	}
	if (p != end || !ev->ready.id)
		return rec_error(r, at, "a malformed ready record");
	ev->ts_ns = r->t_prev + (uint64_t)tf_unzigzag(dt);
	ev->type = TSC_EV_READY;
	r->rpos = (size_t)(end - r->raw);
	r->irec++;
	return 1;
}

/* An extension record at p (its type byte t read): the exec or ready record into ev (1), or
 * any other skipped with a warning once per type (0); < 0 on a fault. Kept out of the event
 * loop's code, as read_lost is: inlined into it, they cost dump 3-5% (measured before the
 * ready record, which a trace from the rings holds as many of as waits). */
__attribute__((cold, noinline)) static int
read_ext(struct tsc_trace_reader *r, size_t at, const uint8_t *p, const uint8_t *end, uint32_t t,
	 struct tsc_event *ev)
{
	uint64_t type = t, len;
	if (t == TF_EXT_ESCAPE && vget(&p, end, &type))
		return rec_error(r, at, "truncated extension record");
	if (vget(&p, end, &len) || len > (uint64_t)(end - p))
		return rec_error(r, at, "an extension record overruns the block");
	if (type == TF_EXT_EXEC)
		return read_exec(r, at, p, p + len, ev);
	if (type == TF_EXT_READY)
		return read_ready(r, at, p, p + len, ev);
	p += len;
	if (type < 256 && !(r->warned[type / 64] & 1ull << (type % 64))) {
		r->warned[type / 64] |= 1ull << (type % 64);
		warnf(r, "block %" PRIu64 ": record type %" PRIu64
			 " unknown to this taskscope, skipped (%" PRIu64 " bytes)",
		      r->pos.seq, type, len);
	}
	r->st.skipped++;
	r->rpos = (size_t)(p - r->raw);
	r->irec++;
	return 0;
}

/* A LOST record at p (its type byte b read) into ev: 1, or < 0 on a fault. */
__attribute__((cold, noinline)) static int
read_lost(struct tsc_trace_reader *r, size_t at, const uint8_t *p, const uint8_t *end, uint8_t b,
	  struct tsc_event *ev)
{
	uint64_t dt, type, count;
	if (b & ~TF_TYPE_MASK)
		return rec_error(r, at, "reserved flags set on a LOST record");
	if (vget(&p, end, &dt) || vget(&p, end, &type) || vget(&p, end, &count))
		return rec_error(r, at, "truncated LOST record");
	if (type < 1 || type > TSC_EV_EVENTS_NR)
		return rec_error(r, at, "LOST record for an unknown event type");
	r->t_prev += (uint64_t)tf_unzigzag(dt);
	ev->ts_ns = r->t_prev;
	ev->type = TSC_EV_LOST;
	ev->tid = 0;
	ev->lost.type = (uint32_t)type;
	ev->lost.count = count;
	r->st.lost[type] += count;
	r->rpos = (size_t)(p - r->raw);
	r->irec++;
	return 1;
}

int tsc_trace_next(struct tsc_trace_reader *r, struct tsc_event *ev)
{
	const uint8_t *p, *end;
	size_t at;
	uint8_t b;
	uint32_t t;
	int slot;
	uint64_t v;

	if (r->state != RS_OPEN)
		return r->state == RS_END ? 0 : r->state == RS_FAILED ? r->err : -EINVAL;
again:
	if (r->irec >= r->nrec) {
		int k = next_block(r);
		if (k <= 0)
			return k;
	}
	p = r->raw + r->rpos;
	end = r->raw + r->rlen;
	at = r->rpos;
	if (p >= end)
		return rec_error(r, at, "the block ends before its last record");
	b = *p++;
	t = b & TF_TYPE_MASK;

	if (t >= TF_EXT_FIRST) {
		int k = read_ext(r, at, p, end, t, ev);
		if (k)
			return k;
		goto again; /* skipped */
	}
	if (t == TSC_EV_LOST)
		return read_lost(r, at, p, end, b, ev);
	if (t < 1 || t > TSC_EV_EVENTS_NR) {
		char m[96];
		snprintf(m, sizeof(m), "record type %u has no length and is unknown to this version",
			 t);
		return rec_error(r, at, m);
	}
	if (b & TF_F_SAME_THREAD) {
		if (r->prev_slot < 0)
			return rec_error(r, at, "\"same thread\" on the first event of a block");
		slot = r->prev_slot;
	} else if (get_thread(r, &p, end, &slot)) {
		return rec_error(r, at, "bad thread reference");
	}
	if (vget(&p, end, &v))
		return rec_error(r, at, "truncated time");
	r->t_prev += (uint64_t)tf_unzigzag(v);
	ev->ts_ns = r->t_prev;
	ev->type = t;
	ev->tid = r->thr_tid[slot];
	uint64_t cur = r->thr_cur[slot];

	switch (t) {
	case TSC_EV_CREATE: {
		int ls;
		if (vget(&p, end, &v))
			goto trunc;
		ev->create.id = r->last_create + 1 + (uint64_t)tf_unzigzag(v);
		r->last_create = ev->create.id;
		if (b & TF_F_A)
			ev->create.parent = cur;
		else if (get_id(r, &p, end, slot, &ev->create.parent))
			goto trunc;
		if (get_str(r, &p, end, 0, &ev->create.name) ||
		    get_str(r, &p, end, 1, &ev->create.coro))
			return rec_error(r, at, "bad string reference");
		if (b & TF_F_B) {
			ev->create.loop_tid = ev->tid;
		} else {
			if (get_thread(r, &p, end, &ls))
				return rec_error(r, at, "bad thread reference");
			ev->create.loop_tid = r->thr_tid[ls];
		}
		break;
	}
	case TSC_EV_SWITCH:
		if (b & TF_F_A)
			ev->sw.prev = cur;
		else if (get_id(r, &p, end, slot, &ev->sw.prev))
			goto trunc;
		if (b & TF_F_B)
			ev->sw.next = 0;
		else if (get_id(r, &p, end, slot, &ev->sw.next))
			goto trunc;
		r->thr_cur[slot] = ev->sw.next;
		break;
	case TSC_EV_FINISH:
		if (b & TF_F_A)
			ev->finish.id = cur;
		else if (get_id(r, &p, end, slot, &ev->finish.id))
			goto trunc;
		if (b & TF_F_B)
			v = 4;
		else if (vget(&p, end, &v))
			goto trunc;
		ev->finish.outcome = (uint32_t)v;
		break;
	case TSC_EV_RENAME:
		if (b & TF_F_B)
			return rec_error(r, at, "reserved flag set");
		if (b & TF_F_A)
			ev->rename.id = cur;
		else if (get_id(r, &p, end, slot, &ev->rename.id))
			goto trunc;
		if (get_str(r, &p, end, 0, &ev->rename.name))
			return rec_error(r, at, "bad string reference");
		break;
	case TSC_EV_WAIT:
		if (b & TF_F_B)
			return rec_error(r, at, "reserved flag set");
		if (b & TF_F_A)
			ev->wait.id = cur;
		else if (get_id(r, &p, end, slot, &ev->wait.id))
			goto trunc;
		if (vget(&p, end, &v))
			goto trunc;
		ev->wait.reason = (uint32_t)v;
		if (v == 3) {
			if (get_id(r, &p, end, slot, &ev->wait.object))
				goto trunc;
		} else {
			if (vget(&p, end, &v))
				goto trunc;
			if (ev->wait.reason == 1)
				ev->wait.object = ev->ts_ns + (uint64_t)tf_unzigzag(v);
			else if (ev->wait.reason == 4 || ev->wait.reason == 5)
				ev->wait.object = r->last_obj += (uint64_t)tf_unzigzag(v);
			else
				ev->wait.object = v;
		}
		break;
	case TSC_EV_THREAD_START:
	case TSC_EV_THREAD_STOP: {
		int ts;
		if (b & TF_F_B)
			return rec_error(r, at, "reserved flag set");
		if (vget(&p, end, &ev->thread.loop))
			goto trunc;
		if (b & TF_F_A) {
			ev->thread.tid = ev->tid;
		} else {
			if (get_thread(r, &p, end, &ts))
				return rec_error(r, at, "bad thread reference");
			ev->thread.tid = r->thr_tid[ts];
		}
		break;
	}
	}
	r->prev_slot = slot;
	r->st.events[t]++;
	r->rpos = (size_t)(p - r->raw);
	r->irec++;
	return 1;
trunc:
	return rec_error(r, at, "truncated record");
}
