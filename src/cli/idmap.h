/* SPDX-License-Identifier: MIT */
/*
 * The CLI's one id map: a 64-bit key (a task id, an address; never 0) to a 64-bit value (an
 * index into the caller's array, or a pointer). Open addressing with linear probing, each key beside its value (one
 * cache line per lookup), at most half full, backward-shift deletion.
 *
 * Two hashes. Keys the target chooses (task ids of a live process, addresses) go through a
 * keyed mix, so that it cannot pick keys that all land in one slot: pass the per-run key
 * (tsc_hash_key, walk.h) as seed. Ids handed out in sequence, read from a file we made
 * (seed 0), keep their low bits: neighbours, the tasks of one moment, share cache lines.
 */
#ifndef TSC_IDMAP_H
#define TSC_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct tsc_idmap_slot {
	uint64_t key;               /* 0 = free */
	uint64_t val;
};

struct tsc_idmap {
	struct tsc_idmap_slot *slot;
	size_t cap, n;              /* cap: a power of two, or 0 */
	uint64_t seed;              /* 0: sequential ids; else the keyed mix with this key */
};


static inline size_t tsc_idmap_home(const struct tsc_idmap *m, uint64_t key)
{
	uint64_t h = __builtin_expect(m->seed != 0, 0) ? tsc_hash_mix(key ^ m->seed)
						       : key ^ (key >> 32);
	return (size_t)h & (m->cap - 1);
}

/* The slot of key, or the free slot where it would go (cap > 0). */
static inline size_t tsc_idmap_slot(const struct tsc_idmap *m, uint64_t key)
{
	size_t i = tsc_idmap_home(m, key);
	while (m->slot[i].key && m->slot[i].key != key)
		i = (i + 1) & (m->cap - 1);
	return i;
}

/* The value stored for key, or NULL. */
static inline uint64_t *tsc_idmap_get(const struct tsc_idmap *m, uint64_t key)
{
	if (!m->cap || !key)
		return NULL;
	for (size_t i = tsc_idmap_home(m, key);; i = (i + 1) & (m->cap - 1)) {
		struct tsc_idmap_slot *sl = &m->slot[i];
		if (sl->key == key)
			return &sl->val;
		if (!sl->key)
			return NULL;
	}
}

/* An empty map (seed as above), with room for n keys before it grows; reuses m's arrays
 * when they are big enough (m zeroed, or a map). 0 or -ENOMEM (then m is empty, cap 0). */
int tsc_idmap_reset(struct tsc_idmap *m, size_t n, uint64_t seed);
/* Set key (not 0) to val, growing as needed: 0 or -ENOMEM (the map unchanged). */
int tsc_idmap_put(struct tsc_idmap *m, uint64_t key, uint64_t val);
/* Remove key if present. */
void tsc_idmap_del(struct tsc_idmap *m, uint64_t key);
void tsc_idmap_free(struct tsc_idmap *m);

#endif
