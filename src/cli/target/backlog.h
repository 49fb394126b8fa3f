/* SPDX-License-Identifier: MIT */
/*
 * A mapped ring's backlog (rings.c): slots copied out of a ring and not decoded yet, in a
 * circular buffer whose memory is mapped twice in a row, so that any run of up to its
 * capacity is contiguous wherever it starts: the decoder reads records across the wrap
 * without a copy, and the copier writes a chunk across it with one memcpy. Its pages are
 * reused lap after lap (a burst touches fresh memory only once), and can be faulted in when
 * made, before the tracing begins: the kernel zeroing them costs about as much per byte as
 * copying the slots, and a burst must not pay it.
 */
#ifndef TSC_BACKLOG_H
#define TSC_BACKLOG_H

#include <stddef.h>
#include <stdint.h>

struct tsc_backlog {
	uint64_t *slots;         /* 2 * cap slots of address space, the second half the first */
	uint64_t cap;            /* slots (32 bytes each), a multiple of 128: whole pages */
};

/* cap slots (rounded up to whole pages), faulted in now when populate. 0 or -errno. */
int tsc_backlog_new(struct tsc_backlog *b, uint64_t cap, int populate);
void tsc_backlog_free(struct tsc_backlog *b);

/* The slot of ring position pos: the next cap slots follow it contiguously. */
static inline uint64_t *tsc_backlog_at(const struct tsc_backlog *b, uint64_t pos)
{
	return b->slots + (pos % b->cap) * 4;
}

#endif
