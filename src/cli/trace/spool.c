/* SPDX-License-Identifier: MIT */
/* The spool: a thread that drains the ring buffer into memory (see spool.h). */
#include "trace/spool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/types.h>
#include "events.h" /* bpf/: the largest record */

#define SPOOL_IDLE_NS 2000000L  /* an empty ring buffer is looked at again this often */
#define SPOOL_BATCH 65536       /* records per drain, between looks at the stop flag */

struct tsc_spool {
	struct tsc_bpf *b;
	pthread_t th;
	int running;
	int stop;                  /* atomic */
	int err;                   /* of the thread's drains */
	uint8_t *buf;              /* records, each a u32 size then its bytes, 8-aligned */
	size_t len, cap, limit;
	struct tsc_spool_stats st;
};

/* Room for a record of every size up to the largest, with its length word. */
#define SLOT_MAX (8 + sizeof(struct tsc_rec_event))

static int add(void *ctx, const void *rec, size_t size)
{
	struct tsc_spool *s = ctx;
	if (size > sizeof(struct tsc_rec_event))
		size = sizeof(struct tsc_rec_event); /* beyond what a reader takes */
	size_t need = s->len + 8 + ((size + 7) & ~(size_t)7);
	if (need > s->cap) {
		size_t cap = s->cap ? s->cap : 1 << 20;
		while (cap < need)
			cap *= 2;
		uint8_t *p = realloc(s->buf, cap);
		if (!p)
			return -ENOMEM; /* never: the drain's budget keeps below the limit */
		s->buf = p;
		s->cap = cap;
	}
	uint32_t n = (uint32_t)size;
	memcpy(s->buf + s->len, &n, 4);
	memcpy(s->buf + s->len + 8, rec, size);
	s->len = need;
	s->st.records++;
	return 0;
}

static void *run(void *arg)
{
	struct tsc_spool *s = arg;
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		/* a budget that cannot overshoot the limit: nothing consumed is ever dropped */
		long room = (long)((s->limit - s->len) / SLOT_MAX);
		if (room > SPOOL_BATCH)
			room = SPOOL_BATCH;
		long n = 0;
		if (room > 0) {
			n = tsc_bpf_drain(s->b, room);
			s->st.drains++;
			if (n < 0) {
				s->err = (int)n;
				break;
			}
		} else {
			s->st.full = 1;
		}
		if (n < room || room == 0) {
			struct timespec ts = { 0, SPOOL_IDLE_NS };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

int tsc_spool_start(struct tsc_bpf *b, size_t limit, struct tsc_spool **out)
{
	struct tsc_spool *s = calloc(1, sizeof(*s));
	int err;
	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->b = b;
	s->limit = limit;
	if ((err = tsc_bpf_events_consumer(b, add, s))) {
		free(s);
		return err;
	}
	if ((err = pthread_create(&s->th, NULL, run, s))) {
		free(s);
		return -err;
	}
	s->running = 1;
	*out = s;
	return 0;
}

int tsc_spool_finish(struct tsc_spool *s, tsc_bpf_rec_fn fn, void *ctx,
		     struct tsc_spool_stats *st)
{
	int err;
	if (!s)
		return 0;
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	if (s->running)
		pthread_join(s->th, NULL);
	err = fn ? tsc_bpf_events_consumer(s->b, fn, ctx) : 0;
	if (!err)
		err = s->err;
	for (size_t off = 0; fn && off < s->len && !err; ) {
		uint32_t n;
		memcpy(&n, s->buf + off, 4);
		err = fn(ctx, s->buf + off + 8, n);
		off += 8 + ((n + 7) & ~(size_t)7);
	}
	s->st.bytes = s->len;
	if (st)
		*st = s->st;
	free(s->buf);
	free(s);
	return err;
}
