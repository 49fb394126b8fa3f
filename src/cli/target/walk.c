/* SPDX-License-Identifier: MIT */
/* The bounds of a registry walk: its retry budget, the pointer sort, the hash key. */
#include "target/walk.h"
#include "util.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

uint64_t tsc_hash_key = 0x6a09e667f3bcc908ull;

/* Once per run, before any table is filled (the auxv's random bytes already serve glibc's
 * canary and pointer guard: not those). */
__attribute__((constructor)) static void hash_key_init(void)
{
	uint64_t k;
	if (getrandom(&k, sizeof(k), GRND_NONBLOCK) == sizeof(k))
		tsc_hash_key = k;
	else
		tsc_hash_key ^= tsc_now_ns() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
}

int tsc_walk_charge(struct tsc_walk_budget *b, uint64_t *mark)
{
	uint64_t now = tsc_now_ns();
	b->spent_ns += now > *mark ? now - *mark : 0;
	*mark = now;
	return b->spent_ns > TSC_WALK_RETRY_NS ? -EAGAIN : 0;
}

void tsc_walk_backoff(int attempt)
{
	if (attempt < 4) {
		sched_yield();
		return;
	}
	long us = 20L << (attempt < 10 ? attempt - 4 : 6);
	struct timespec ts = { 0, (us > 1000 ? 1000 : us) * 1000 };
	nanosleep(&ts, NULL);
}

void tsc_walk_sort_ptrs(struct tsc_walk_ptr *p, struct tsc_walk_ptr *tmp, size_t n)
{
	uint64_t all_or = 0, all_and = ~0ull;
	size_t i;
	for (i = 1; i < n && p[i - 1].addr <= p[i].addr; i++)
		;
	if (i >= n)
		return;
	for (i = 0; i < n; i++) {
		all_or |= p[i].addr;
		all_and &= p[i].addr;
	}
	/* a heap spans a few dozen MiB: usually two passes of 16 bits */
	uint64_t diff = all_or ^ all_and;
	static size_t cnt[1 << 16];
	for (int shift = 0; shift < 64; shift += 16) {
		if (!((diff >> shift) & 0xffff))
			continue;
		memset(cnt, 0, sizeof(cnt));
		for (i = 0; i < n; i++)
			cnt[(p[i].addr >> shift) & 0xffff]++;
		size_t sum = 0;
		for (size_t b = 0; b < (1 << 16); b++) {
			size_t c = cnt[b];
			cnt[b] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			tmp[cnt[(p[i].addr >> shift) & 0xffff]++] = p[i];
		memcpy(p, tmp, n * sizeof(*p));
	}
}
