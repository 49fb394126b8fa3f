/* SPDX-License-Identifier: MIT */
/*
 * A set of durations kept whole, for exact percentiles (scheduling latency: the time from a
 * task becoming ready to it running, docs/rings.md). Every sample is kept, 4 bytes each
 * below 4.29 s, 8 above, while the caller says so: a caller keeps at most TSC_LAT_KEEP_MAX
 * in all its sets (a hostile or huge trace cannot exhaust memory); past that the count and
 * the max stay exact and the percentiles are of the samples kept, which tsc_lat_figs says.
 *
 * Percentiles are nearest-rank: p of n samples is the ceil(p × n)-th smallest.
 */
#ifndef TSC_LATENCY_H
#define TSC_LATENCY_H

#include <stddef.h>
#include <stdint.h>

#define TSC_LAT_KEEP_MAX (1u << 26)  /* samples a caller keeps in all: 256 MiB at most */

struct tsc_lat {
	uint32_t *v;             /* samples below 2^32 ns */
	size_t n, cap;
	uint64_t *big;           /* the others (every one above all of v) */
	size_t nbig, bigcap;
	uint64_t count, max;     /* every sample, kept or not */
	int sorted;
};

struct tsc_lat_figs {
	uint64_t count, kept;    /* kept < count: the percentiles are of the first kept */
	uint64_t p50, p99, max;  /* ns; 0 when count is 0 */
};

/* Count one sample, and keep it if keep: 1 kept, 0 not, -ENOMEM (then counted only). */
int tsc_lat_add(struct tsc_lat *l, uint64_t ns, int keep);
/* The figures (sorts the samples in place). */
void tsc_lat_figs(struct tsc_lat *l, struct tsc_lat_figs *f);
/* Forget every sample, keeping the room (top: one set per refresh). */
void tsc_lat_clear(struct tsc_lat *l);
void tsc_lat_free(struct tsc_lat *l);

#endif
