/* SPDX-License-Identifier: MIT */
/* Small helpers every room of the CLI needs: the clock, a growing array, a hash finalizer. */
#ifndef TSC_UTIL_H
#define TSC_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* CLOCK_MONOTONIC in ns: the runtime's clock, the trace format's and the BPF side's. */
static inline uint64_t tsc_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Make room for `need` elements of `elem` bytes in *p (capacity *cap, doubled from 64).
 * Returns 0 or -ENOMEM, which also covers a size that would overflow; *p is kept on error. */
static inline int tsc_grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 64;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return -ENOMEM;
		n *= 2;
	}
	if (elem && n > SIZE_MAX / elem)
		return -ENOMEM;
	void *q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

/* The finalizer of MurmurHash3: every bit of x moves every bit of the result. */
static inline uint64_t tsc_hash_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

#endif
