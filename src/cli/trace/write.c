/* SPDX-License-Identifier: MIT */
/* The trace writer: header and snapshot at open, then events encoded into a block buffer
 * that each flush compresses and appends as one chunk; the footer at close. */
#include "trace/trace.h"
#include "util.h"
#include "trace/format.h"
#include "out/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <libdeflate.h>
#include <unistd.h>
#include <zlib.h>

/* The most one event record can take: type, two thread refs, time, ids, two strings. */
#define REC_MAX (64 + 2 * (TF_STR_MAX + 32))

struct wstr {
	uint32_t off, len;        /* in the arena */
	uint64_t last_num;        /* as a prefix: the last number written after it */
};

struct tsc_trace_writer {
	int fd, err;
	uint64_t seq;

	/* the block being built */
	uint8_t *buf;
	size_t len, cap;
	uint32_t nrec;
	int have_time;
	uint64_t t_first, t_min, t_max, t_prev;
	uint64_t last_create, last_obj;
	int prev_slot;

	int32_t thr_tid[TF_BLOCK_THREADS_MAX];
	uint64_t thr_cur[TF_BLOCK_THREADS_MAX], thr_last[TF_BLOCK_THREADS_MAX];
	uint32_t nthr;
	uint16_t thr_hash[2 * TF_BLOCK_THREADS_MAX]; /* slot + 1; 0 = empty */

	struct wstr *strs;
	uint32_t nstr, strs_cap;
	uint32_t *str_hash;       /* index + 1; 0 = empty */
	uint32_t str_hash_cap;
	char *arena;
	size_t arena_len, arena_cap;

	uint8_t *zbuf;
	size_t zcap;
	int level;                /* compression level of the chunks; 0 = store */
	/* libdeflate writes the same zlib streams as zlib (readers inflate them alike) at two
	 * to three times its speed, level for level; one compressor per level in use */
	struct libdeflate_compressor *z;
	int zlevel;               /* z's level */
	int have_snapshot;        /* the snapshot chunk is written: events may follow */

	struct tsc_trace_wstats st;
};

static const char *const ev_names[] = {
	[TSC_EV_CREATE] = "create",          [TSC_EV_SWITCH] = "switch",
	[TSC_EV_FINISH] = "finish",          [TSC_EV_RENAME] = "rename",
	[TSC_EV_WAIT] = "wait",              [TSC_EV_THREAD_START] = "thread_start",
	[TSC_EV_THREAD_STOP] = "thread_stop", [TSC_EV_LOST] = "lost",
	[TSC_EV_EXEC] = "exec",              [TSC_EV_READY] = "ready",
};

const char *tsc_ev_name(uint32_t type)
{
	return type && type < TSC_EV_NR ? ev_names[type] : "?";
}

int tsc_ev_from_name(const char *name)
{
	for (int i = 1; i < TSC_EV_NR; i++)
		if (!strcmp(ev_names[i], name))
			return i;
	return -1;
}

static inline uint8_t *vput(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)v | 0x80;
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static int write_all(int fd, const void *data, size_t n)
{
	const uint8_t *p = data;
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Write one chunk: header (with the cumulative lost counts), then payload, CRC over both. */
static int write_chunk(struct tsc_trace_writer *w, int kind, int codec, const void *payload,
		       size_t plen, size_t raw_len, uint32_t nrec, uint64_t t_first, uint64_t t_min,
		       uint64_t t_max)
{
	uint8_t h[TF_CHUNK_FIXED + 8 * TSC_EV_EVENTS_NR];
	uint16_t hlen = sizeof(h);

	memset(h, 0, sizeof(h));
	memcpy(h, TF_CHUNK_MAGIC, 4);
	tf_put16(h + TF_CH_OFF_HDRLEN, hlen);
	h[TF_CH_OFF_KIND] = (uint8_t)kind;
	h[TF_CH_OFF_CODEC] = (uint8_t)codec;
	tf_put32(h + TF_CH_OFF_PAYLOAD, (uint32_t)plen);
	tf_put32(h + TF_CH_OFF_RAW, (uint32_t)raw_len);
	tf_put32(h + TF_CH_OFF_NREC, nrec);
	tf_put64(h + TF_CH_OFF_SEQ, w->seq);
	tf_put64(h + TF_CH_OFF_TFIRST, t_first);
	tf_put64(h + TF_CH_OFF_TMIN, t_min);
	tf_put64(h + TF_CH_OFF_TMAX, t_max);
	tf_put16(h + TF_CH_OFF_NLOST, TSC_EV_EVENTS_NR);
	for (int i = 0; i < TSC_EV_EVENTS_NR; i++)
		tf_put64(h + TF_CHUNK_FIXED + 8 * i, w->st.lost[i + 1]);
	uint32_t crc = (uint32_t)crc32(0, h + 8, hlen - 8);
	crc = (uint32_t)crc32(crc, payload, (uInt)plen);
	tf_put32(h + TF_CH_OFF_CRC, crc);

	int err = write_all(w->fd, h, hlen);
	if (!err)
		err = write_all(w->fd, payload, plen);
	if (err)
		return err;
	w->seq++;
	w->st.file_bytes += hlen + plen;
	return 0;
}

/* Compress raw into zbuf; fall back to storing it as is when that does not pay or when
 * the ratio would exceed what readers accept. */
static int write_compressed(struct tsc_trace_writer *w, int kind, const uint8_t *raw, size_t len,
			    uint32_t nrec, uint64_t t_first, uint64_t t_min, uint64_t t_max)
{
	size_t zlen = 0;
	if (w->level && w->zlevel != w->level) {
		libdeflate_free_compressor(w->z);
		w->zlevel = (w->z = libdeflate_alloc_compressor(w->level)) ? w->level : 0;
		if (!w->z)
			return -ENOMEM;
	}
	/* a block that would not shrink is stored: room for no more than its own length */
	if (w->level) {
		if (tsc_grow((void **)&w->zbuf, &w->zcap, len, 1))
			return -ENOMEM;
		zlen = libdeflate_zlib_compress(w->z, raw, len, w->zbuf, len);
	}
	if (zlen && zlen < len && (uint64_t)zlen * TF_RATIO_MAX + 4096 >= len)
		return write_chunk(w, kind, TF_CODEC_ZLIB, w->zbuf, zlen, len, nrec, t_first, t_min,
				   t_max);
	return write_chunk(w, kind, TF_CODEC_NONE, raw, len, len, nrec, t_first, t_min, t_max);
}

static void block_reset(struct tsc_trace_writer *w)
{
	w->len = 0;
	w->nrec = 0;
	w->have_time = 0;
	w->t_first = w->t_min = w->t_max = w->t_prev = 0;
	w->last_create = w->last_obj = 0;
	w->prev_slot = -1;
	w->nthr = 0;
	memset(w->thr_hash, 0, sizeof(w->thr_hash));
	w->nstr = 0;
	w->arena_len = 0;
	if (w->str_hash)
		memset(w->str_hash, 0, w->str_hash_cap * sizeof(*w->str_hash));
}

static uint8_t *put_str_raw(uint8_t *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	p[n] = 0;
	return p + n + 1;
}

static uint8_t *put_lenstr(uint8_t *p, const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max) : 0;
	p = vput(p, n);
	memcpy(p, s ? s : "", n);
	return p + n;
}

/* ---- the snapshot chunk ---- */

static int write_snapshot(struct tsc_trace_writer *w, const struct tsc_snapshot *snap)
{
	size_t nthr = snap ? snap->nthreads : 0, ntask = snap ? snap->ntasks : 0;
	size_t need = 64 + nthr * 48 + ntask * (16 + 10 * 10 + sizeof(snap->tasks[0].name) +
						sizeof(snap->tasks[0].coro));
	uint8_t *raw = malloc(need), *p = raw, *q;
	int err;

	if (!raw)
		return -ENOMEM;
	p = vput(p, snap ? snap->taken_ns : 0);
	p = vput(p, snap ? snap->retries : 0);
	p = vput(p, nthr);
	for (size_t i = 0; i < nthr; i++) {
		const struct tsc_thread *t = &snap->threads[i];
		uint8_t e[40];
		q = vput(e, tf_zigzag(t->tid));
		q = vput(q, t->loop_id);
		q = vput(q, t->current);
		p = vput(p, (uint64_t)(q - e));
		memcpy(p, e, (size_t)(q - e));
		p += q - e;
	}
	p = vput(p, ntask);
	for (size_t i = 0; i < ntask; i++) {
		const struct tsc_task *t = &snap->tasks[i];
		uint8_t e[16 + 10 * 10 + sizeof(t->name) + sizeof(t->coro)];
		q = vput(e, t->id);
		q = vput(q, t->parent);
		q = put_lenstr(q, t->name, sizeof(t->name) - 1);
		q = put_lenstr(q, t->coro, sizeof(t->coro) - 1);
		q = vput(q, t->state);
		q = vput(q, t->wait);
		q = vput(q, t->wait_obj);
		q = vput(q, tf_zigzag(t->tid));
		q = vput(q, t->created_ns);
		q = vput(q, t->switches);
		p = vput(p, (uint64_t)(q - e));
		memcpy(p, e, (size_t)(q - e));
		p += q - e;
	}
	uint64_t taken = snap ? snap->taken_ns : 0;
	err = write_compressed(w, TF_KIND_SNAPSHOT, raw, (size_t)(p - raw),
			       (uint32_t)(nthr + ntask), taken, taken, taken);
	free(raw);
	return err;
}

/* ---- open ---- */

int tsc_trace_begin(int fd, int pid, const char *binary, const char *program,
		    struct tsc_trace_writer **out)
{
	struct tsc_trace_writer *w;
	struct timespec mono, real;
	size_t blen = binary ? strnlen(binary, 4095) : 0;
	size_t plen = program ? strnlen(program, 4095) : 0;
	size_t hsize = (TF_HDR_FIXED + blen + plen + 7) & ~(size_t)7;
	uint8_t h[TF_HDR_FIXED + 2 * 4096 + 8];
	int err;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->level = Z_BEST_COMPRESSION;
	block_reset(w);
	w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (w->fd < 0) {
		err = -errno;
		goto cleanup;
	}
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);

	memset(h, 0, hsize);
	memcpy(h, TSC_TRACE_MAGIC, 8);
	tf_put32(h + TF_HDR_OFF_SIZE, (uint32_t)hsize);
	tf_put16(h + TF_HDR_OFF_MAJOR, TSC_TRACE_MAJOR);
	tf_put16(h + TF_HDR_OFF_MINOR, TSC_TRACE_MINOR);
	tf_put32(h + TF_HDR_OFF_PID, (uint32_t)pid);
	tf_put32(h + TF_HDR_OFF_FLAGS, 0);
	tf_put64(h + TF_HDR_OFF_MONO, (uint64_t)mono.tv_sec * 1000000000ull + mono.tv_nsec);
	tf_put64(h + TF_HDR_OFF_REAL, (uint64_t)real.tv_sec * 1000000000ull + real.tv_nsec);
	tf_put16(h + TF_HDR_OFF_BINLEN, (uint16_t)blen);
	tf_put16(h + TF_HDR_OFF_PROGLEN, (uint16_t)plen);
	memcpy(h + TF_HDR_FIXED, binary ? binary : "", blen);
	memcpy(h + TF_HDR_FIXED + blen, program ? program : "", plen);
	uint32_t crc = (uint32_t)crc32(0, h, TF_HDR_OFF_CRC);
	crc = (uint32_t)crc32(crc, h + TF_HDR_OFF_CRC + 4, (uInt)(hsize - TF_HDR_OFF_CRC - 4));
	tf_put32(h + TF_HDR_OFF_CRC, crc);
	err = write_all(w->fd, h, hsize);
	if (err)
		goto cleanup;
	w->st.file_bytes = hsize;
	*out = w;
	return 0;
cleanup:
	if (w->fd >= 0)
		close(w->fd);
	free(w);
	return err;
}

int tsc_trace_write_snapshot(struct tsc_trace_writer *w, const struct tsc_snapshot *snap)
{
	if (w->err)
		return w->err;
	if (w->have_snapshot || w->seq)
		return -EINVAL;
	if ((w->err = write_snapshot(w, snap)))
		return w->err;
	w->have_snapshot = 1;
	return 0;
}

int tsc_trace_open(const char *path, int pid, const char *binary, const char *program,
		   const struct tsc_snapshot *snap, struct tsc_trace_writer **out)
{
	struct tsc_outfile o;
	int err;

	*out = NULL;
	if ((err = tsc_outfile_open(&o, path)) || (err = tsc_trace_begin(o.fd, pid, binary, program, out)))
		goto cleanup;
	if ((err = tsc_trace_write_snapshot(*out, snap)) || (err = tsc_outfile_publish(&o))) {
		tsc_trace_abandon(*out);
		*out = NULL;
	}
cleanup:
	tsc_outfile_close(&o);
	return err;
}

/* ---- events ---- */

static int reserve(struct tsc_trace_writer *w, size_t n)
{
	return tsc_grow((void **)&w->buf, &w->cap, w->len + n, 1);
}

/* The slot of tid in this block's thread table, adding it if new (*added = 1). */
static int thread_slot(struct tsc_trace_writer *w, int32_t tid, int *added)
{
	if (w->prev_slot >= 0 && w->thr_tid[w->prev_slot] == tid) {
		*added = 0; /* the thread of the record before: most records */
		return w->prev_slot;
	}
	uint32_t mask = 2 * TF_BLOCK_THREADS_MAX - 1, h = ((uint32_t)tid * 2654435761u) & mask;
	for (;; h = (h + 1) & mask) {
		uint16_t s = w->thr_hash[h];
		if (!s)
			break;
		if (w->thr_tid[s - 1] == tid) {
			*added = 0;
			return s - 1;
		}
	}
	int slot = (int)w->nthr++;
	w->thr_hash[h] = (uint16_t)(slot + 1);
	w->thr_tid[slot] = tid;
	w->thr_cur[slot] = 0;
	w->thr_last[slot] = 0;
	*added = 1;
	return slot;
}

static uint8_t *put_thread(struct tsc_trace_writer *w, uint8_t *p, int32_t tid)
{
	int added, slot = thread_slot(w, tid, &added);
	p = vput(p, (uint64_t)slot);
	if (added)
		p = vput(p, tf_zigzag(tid));
	return p;
}

static uint8_t *put_id(struct tsc_trace_writer *w, uint8_t *p, int slot, uint64_t id)
{
	p = vput(p, tf_zigzag((int64_t)(id - w->thr_last[slot])));
	w->thr_last[slot] = id;
	return p;
}

static uint32_t str_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

/* Find s in the block's table; if absent and add, append it. Returns index, or -1. */
static int str_find(struct tsc_trace_writer *w, const char *s, size_t n, int add)
{
	if (w->nstr * 2 >= w->str_hash_cap) {
		uint32_t ncap = w->str_hash_cap ? w->str_hash_cap * 2 : 1024;
		uint32_t *nh = calloc(ncap, sizeof(*nh));
		if (!nh)
			return -1;
		for (uint32_t i = 0; i < w->nstr; i++) {
			struct wstr *e = &w->strs[i];
			uint32_t h = str_hash(w->arena + e->off, e->len) & (ncap - 1);
			while (nh[h])
				h = (h + 1) & (ncap - 1);
			nh[h] = i + 1;
		}
		free(w->str_hash);
		w->str_hash = nh;
		w->str_hash_cap = ncap;
	}
	uint32_t mask = w->str_hash_cap - 1, h = str_hash(s, n) & mask;
	for (;; h = (h + 1) & mask) {
		uint32_t i = w->str_hash[h];
		if (!i)
			break;
		struct wstr *e = &w->strs[i - 1];
		if (e->len == n && !memcmp(w->arena + e->off, s, n))
			return (int)(i - 1);
	}
	if (!add)
		return -1;
	size_t ns = w->strs_cap;
	if (tsc_grow((void **)&w->strs, &ns, w->nstr + 1, sizeof(*w->strs)))
		return -1;
	w->strs_cap = (uint32_t)ns;
	if (tsc_grow((void **)&w->arena, &w->arena_cap, w->arena_len + n + 1, 1))
		return -1;
	memcpy(w->arena + w->arena_len, s, n);
	w->arena[w->arena_len + n] = 0;
	w->strs[w->nstr] = (struct wstr){ .off = (uint32_t)w->arena_len, .len = (uint32_t)n };
	w->arena_len += n + 1;
	w->str_hash[h] = w->nstr + 1;
	return (int)w->nstr++;
}

/* A string reference: an entry of the table, a new literal, or prefix + number (for the
 * unique names like "Task-1234" that default naming produces). */
static uint8_t *put_str(struct tsc_trace_writer *w, uint8_t *p, const char *s)
{
	size_t n = s ? strnlen(s, TF_STR_MAX) : 0;
	s = s ? s : "";
	int i = str_find(w, s, n, 0);
	if (i >= 0)
		return vput(p, (uint64_t)i << 1);

	size_t d = n;
	while (d > 0 && s[d - 1] >= '0' && s[d - 1] <= '9')
		d--;
	size_t nd = n - d;
	if (nd > 0 && nd <= 18 && (s[d] != '0' || nd == 1)) {
		uint64_t num = 0;
		for (size_t k = d; k < n; k++)
			num = num * 10 + (uint64_t)(s[k] - '0');
		uint32_t before = w->nstr;
		i = str_find(w, s, d, 1);
		if (i >= 0) {
			p = vput(p, (uint64_t)i << 2 | 3);
			if ((uint32_t)i == before)
				p = put_str_raw(p, s, d);
			p = vput(p, tf_zigzag((int64_t)(num - w->strs[i].last_num)));
			w->strs[i].last_num = num;
			return p;
		}
	}
	if (str_find(w, s, n, 1) < 0) {
		w->err = -ENOMEM;
		return NULL;
	}
	p = vput(p, TF_STR_LITERAL);
	return put_str_raw(p, s, n);
}

static int need_new_block(struct tsc_trace_writer *w)
{
	/* each record adds at most 2 threads and 4 strings (2 prefixes, 2 literals) */
	return w->len >= TF_BLOCK_RAW_TARGET || w->nthr + 2 > TF_BLOCK_THREADS_MAX ||
	       w->nstr + 4 > TF_BLOCK_STRINGS_MAX;
}

static void note_time(struct tsc_trace_writer *w, uint64_t ts)
{
	if (!w->have_time) {
		w->have_time = 1;
		w->t_first = w->t_min = w->t_max = w->t_prev = ts;
	}
	if (ts < w->t_min)
		w->t_min = ts;
	if (ts > w->t_max)
		w->t_max = ts;
}

/* The block's slot of thread tid, or -1: a lookup that adds nothing. */
static int thread_find(const struct tsc_trace_writer *w, int32_t tid)
{
	uint32_t mask = 2 * TF_BLOCK_THREADS_MAX - 1, h = ((uint32_t)tid * 2654435761u) & mask;
	for (;; h = (h + 1) & mask) {
		uint16_t s = w->thr_hash[h];
		if (!s)
			return -1;
		if (w->thr_tid[s - 1] == tid)
			return s - 1;
	}
}

/* READY (1.3) is an extension record, so that a reader older than 1.3 skips it; it reads the
 * block's state and changes none of it (the previous time, the thread table, each thread's
 * last id), so the records after it decode alike in a reader that skipped it. Its time is a
 * delta from the previous record's, its thread a slot of the table when it is there, its id
 * a delta from that thread's last: 5 to 7 bytes before compression, where absolute values
 * took 14. Most of what is left is the time (nanoseconds, not compressible); a demo trace
 * stores a ready in 4.7 bytes, about twice its other events. */
static int write_ready(struct tsc_trace_writer *w, const struct tsc_event *ev)
{
	uint8_t buf[40], *p = buf;
	if (!ev->ready.id)
		return -EINVAL;
	if (need_new_block(w) && (w->err = tsc_trace_flush(w)))
		return w->err; /* first: what follows refers to the block it goes in */
	note_time(w, ev->ts_ns);
	p = vput(p, tf_zigzag((int64_t)(ev->ts_ns - w->t_prev)));
	int slot = thread_find(w, ev->tid);
	if (slot >= 0) {
		p = vput(p, (uint64_t)slot + 1);
		p = vput(p, tf_zigzag((int64_t)(ev->ready.id - w->thr_last[slot])));
	} else {
		p = vput(p, 0);
		p = vput(p, tf_zigzag(ev->tid));
		p = vput(p, ev->ready.id);
	}
	return tsc_trace_ext(w, TF_EXT_READY, buf, (size_t)(p - buf));
}

int tsc_trace_event(struct tsc_trace_writer *w, const struct tsc_event *ev)
{
	if (w->err)
		return w->err;
	if (!w->have_snapshot)
		return -EINVAL;
	if (ev->type == TSC_EV_LOST)
		return tsc_trace_lost(w, ev->lost.type, ev->lost.count, ev->ts_ns);
	if (ev->type == TSC_EV_READY)
		return write_ready(w, ev);
	if (ev->type < 1 || ev->type > TSC_EV_EVENTS_NR)
		return -EINVAL;
	if (need_new_block(w) && (w->err = tsc_trace_flush(w)))
		return w->err;
	if ((w->err = reserve(w, REC_MAX)))
		return w->err;

	uint8_t *start = w->buf + w->len, *p = start + 1;
	uint8_t b = (uint8_t)ev->type;
	int added, slot = thread_slot(w, ev->tid, &added);
	uint64_t cur = w->thr_cur[slot];

	if (!added && slot == w->prev_slot) {
		b |= TF_F_SAME_THREAD;
	} else {
		p = vput(p, (uint64_t)slot);
		if (added)
			p = vput(p, tf_zigzag(ev->tid));
	}
	note_time(w, ev->ts_ns);
	p = vput(p, tf_zigzag((int64_t)(ev->ts_ns - w->t_prev)));
	w->t_prev = ev->ts_ns;

	switch (ev->type) {
	case TSC_EV_CREATE:
		if (ev->create.parent == cur)
			b |= TF_F_A;
		if (ev->create.loop_tid == ev->tid)
			b |= TF_F_B;
		p = vput(p, tf_zigzag((int64_t)(ev->create.id - w->last_create - 1)));
		w->last_create = ev->create.id;
		if (!(b & TF_F_A))
			p = put_id(w, p, slot, ev->create.parent);
		if (!(p = put_str(w, p, ev->create.name)) || !(p = put_str(w, p, ev->create.coro)))
			return w->err;
		if (!(b & TF_F_B))
			p = put_thread(w, p, ev->create.loop_tid);
		break;
	case TSC_EV_SWITCH:
		if (ev->sw.prev == cur)
			b |= TF_F_A;
		else
			p = put_id(w, p, slot, ev->sw.prev);
		if (ev->sw.next == 0)
			b |= TF_F_B;
		else
			p = put_id(w, p, slot, ev->sw.next);
		w->thr_cur[slot] = ev->sw.next;
		break;
	case TSC_EV_FINISH:
		if (ev->finish.id == cur)
			b |= TF_F_A;
		else
			p = put_id(w, p, slot, ev->finish.id);
		if (ev->finish.outcome == 4 /* TS_DONE */)
			b |= TF_F_B;
		else
			p = vput(p, ev->finish.outcome);
		break;
	case TSC_EV_RENAME:
		if (ev->rename.id == cur)
			b |= TF_F_A;
		else
			p = put_id(w, p, slot, ev->rename.id);
		if (!(p = put_str(w, p, ev->rename.name)))
			return w->err;
		break;
	case TSC_EV_WAIT:
		if (ev->wait.id == cur)
			b |= TF_F_A;
		else
			p = put_id(w, p, slot, ev->wait.id);
		p = vput(p, ev->wait.reason);
		switch (ev->wait.reason) {
		case 1: /* TS_WAIT_SLEEP: a deadline, near the event's time */
			p = vput(p, tf_zigzag((int64_t)(ev->wait.object - ev->ts_ns)));
			break;
		case 3: /* TS_WAIT_AWAIT: a task id */
			p = put_id(w, p, slot, ev->wait.object);
			break;
		case 4: /* TS_WAIT_QUEUE, TS_WAIT_EVENT: addresses, near each other */
		case 5:
			p = vput(p, tf_zigzag((int64_t)(ev->wait.object - w->last_obj)));
			w->last_obj = ev->wait.object;
			break;
		default:
			p = vput(p, ev->wait.object);
		}
		break;
	case TSC_EV_THREAD_START:
	case TSC_EV_THREAD_STOP:
		p = vput(p, ev->thread.loop);
		if (ev->thread.tid == ev->tid)
			b |= TF_F_A;
		else
			p = put_thread(w, p, ev->thread.tid);
		break;
	}
	*start = b;
	w->len += (size_t)(p - start);
	w->nrec++;
	w->prev_slot = slot;
	w->st.events[ev->type]++;
	return 0;
}

int tsc_trace_lost(struct tsc_trace_writer *w, uint32_t type, uint64_t count, uint64_t ts_ns)
{
	if (w->err)
		return w->err;
	if (!w->have_snapshot)
		return -EINVAL;
	if (type < 1 || type > TSC_EV_EVENTS_NR)
		return -EINVAL;
	if (!count)
		return 0;
	if (need_new_block(w) && (w->err = tsc_trace_flush(w)))
		return w->err;
	if ((w->err = reserve(w, 32)))
		return w->err;
	uint8_t *start = w->buf + w->len, *p = start;
	*p++ = TSC_EV_LOST;
	note_time(w, ts_ns);
	p = vput(p, tf_zigzag((int64_t)(ts_ns - w->t_prev)));
	w->t_prev = ts_ns;
	p = vput(p, type);
	p = vput(p, count);
	w->len += (size_t)(p - start);
	w->nrec++;
	w->st.lost[type] += count;
	return 0;
}

int tsc_trace_exec(struct tsc_trace_writer *w, uint64_t ts_ns, int32_t tid, const char *file)
{
	uint8_t buf[24 + TF_STR_MAX], *p = buf;
	size_t n = file ? strnlen(file, TF_STR_MAX) : 0;
	p = vput(p, ts_ns);
	p = vput(p, tf_zigzag(tid));
	memcpy(p, file ? file : "", n);
	p += n;
	int err = tsc_trace_ext(w, TF_EXT_EXEC, buf, (size_t)(p - buf));
	if (!err)
		note_time(w, ts_ns); /* in the block's time range; the deltas do not use it */
	return err;
}

int tsc_trace_ext(struct tsc_trace_writer *w, uint32_t type, const void *data, size_t len)
{
	if (w->err)
		return w->err;
	if (!w->have_snapshot)
		return -EINVAL;
	if (type < TF_EXT_FIRST || len > TF_BLOCK_RAW_TARGET)
		return -EINVAL;
	if (need_new_block(w) && (w->err = tsc_trace_flush(w)))
		return w->err;
	if ((w->err = reserve(w, len + 24)))
		return w->err;
	uint8_t *start = w->buf + w->len, *p = start;
	if (type < TF_EXT_ESCAPE) {
		*p++ = (uint8_t)type;
	} else {
		*p++ = TF_EXT_ESCAPE;
		p = vput(p, type);
	}
	p = vput(p, len);
	memcpy(p, data, len);
	p += len;
	w->len += (size_t)(p - start);
	w->nrec++;
	return 0;
}

int tsc_trace_set_compression(struct tsc_trace_writer *w, int level)
{
	if (level < 0 || level > 9)
		return -EINVAL;
	w->level = level;
	return 0;
}

int tsc_trace_flush(struct tsc_trace_writer *w)
{
	if (w->err)
		return w->err;
	if (!w->nrec)
		return 0;
	w->err = write_compressed(w, TF_KIND_EVENTS, w->buf, w->len, w->nrec, w->t_first,
				  w->t_min, w->t_max);
	w->st.blocks++;
	w->st.raw_bytes += w->len;
	block_reset(w);
	return w->err;
}

int tsc_trace_close(struct tsc_trace_writer *w)
{
	int err;
	if (!w)
		return 0;
	err = w->have_snapshot ? tsc_trace_flush(w) : -EINVAL;
	if (!err) {
		struct timespec now;
		uint8_t f[8 * 10 * 2 * (TSC_EV_EVENTS_NR + 1) + 40], *p = f;
		clock_gettime(CLOCK_MONOTONIC, &now);
		uint64_t end = (uint64_t)now.tv_sec * 1000000000ull + now.tv_nsec;
		p = vput(p, TSC_EV_EVENTS_NR);
		for (int i = 1; i <= TSC_EV_EVENTS_NR; i++)
			p = vput(p, w->st.events[i]);
		p = vput(p, TSC_EV_EVENTS_NR);
		for (int i = 1; i <= TSC_EV_EVENTS_NR; i++)
			p = vput(p, w->st.lost[i]);
		p = vput(p, end);
		p = vput(p, w->st.blocks);
		err = write_chunk(w, TF_KIND_FOOTER, TF_CODEC_NONE, f, (size_t)(p - f),
				  (size_t)(p - f), 0, end, end, end);
	}
	if (close(w->fd) && !err)
		err = -errno;
	w->fd = -1;
	tsc_trace_abandon(w);
	return err;
}

void tsc_trace_abandon(struct tsc_trace_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	free(w->buf);
	free(w->strs);
	free(w->str_hash);
	free(w->arena);
	free(w->zbuf);
	libdeflate_free_compressor(w->z);
	free(w);
}

void tsc_trace_writer_stats(const struct tsc_trace_writer *w, struct tsc_trace_wstats *st)
{
	*st = w->st;
}
