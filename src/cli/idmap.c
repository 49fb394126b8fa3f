/* SPDX-License-Identifier: MIT */
/* The id map (idmap.h). */
#include "idmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void tsc_idmap_free(struct tsc_idmap *m)
{
	free(m->slot);
	m->slot = NULL;
	m->cap = m->n = 0;
}

static size_t cap_for(size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n + 16 && cap <= SIZE_MAX / (4 * sizeof(struct tsc_idmap_slot)))
		cap <<= 1;
	return cap;
}

int tsc_idmap_reset(struct tsc_idmap *m, size_t n, uint64_t seed)
{
	size_t cap = cap_for(n);
	m->seed = seed;
	m->n = 0;
	if (cap > m->cap || !m->slot) {
		tsc_idmap_free(m);
		if (!(m->slot = calloc(cap, sizeof(*m->slot))))
			return -ENOMEM;
		m->cap = cap;
		return 0;
	}
	memset(m->slot, 0, m->cap * sizeof(*m->slot));
	return 0;
}

/* Twice the room, every key moved to its place in it. */
static int grow(struct tsc_idmap *m)
{
	struct tsc_idmap nm = { .seed = m->seed };
	if (tsc_idmap_reset(&nm, m->cap ? m->cap : 8, m->seed))
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->slot[i].key)
			nm.slot[tsc_idmap_slot(&nm, m->slot[i].key)] = m->slot[i];
	}
	nm.n = m->n;
	tsc_idmap_free(m);
	*m = nm;
	return 0;
}

int tsc_idmap_put(struct tsc_idmap *m, uint64_t key, uint64_t val)
{
	if ((m->n + 1) * 2 > m->cap && grow(m))
		return -ENOMEM;
	size_t i = tsc_idmap_slot(m, key);
	if (!m->slot[i].key) {
		m->slot[i].key = key;
		m->n++;
	}
	m->slot[i].val = val;
	return 0;
}

void tsc_idmap_del(struct tsc_idmap *m, uint64_t key)
{
	if (!m->cap || !key)
		return;
	size_t mask = m->cap - 1, i = tsc_idmap_slot(m, key);
	if (!m->slot[i].key)
		return;
	for (size_t j = i;;) {
		j = (j + 1) & mask;
		if (!m->slot[j].key)
			break;
		size_t k = tsc_idmap_home(m, m->slot[j].key);
		/* the entry at j may move to i unless its home k lies cyclically in (i, j] */
		if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
			m->slot[i] = m->slot[j];
			i = j;
		}
	}
	m->slot[i].key = 0;
	m->n--;
}
