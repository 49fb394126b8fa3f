/* SPDX-License-Identifier: MIT */
/* Strings kept once each, found again by a keyed hash of their bytes: the frame names of the
 * tree and the string table of a pprof profile. */
#include "profile/prof.h"
#include "target/walk.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t str_hash(const char *s)
{
	uint64_t h = tsc_hash_key;
	size_t len = strlen(s);
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = 0;
		memcpy(&w, s + i, len - i < 8 ? len - i : 8);
		h = tsc_hash_mix(h ^ w);
	}
	return tsc_hash_mix(h ^ len) | 1; /* 0 is the map's free key */
}

int prof_strtab_init(struct prof_strtab *t)
{
	memset(t, 0, sizeof(*t));
	return tsc_idmap_reset(&t->index, 1024, tsc_hash_key | 1);
}

int64_t prof_strtab_add(struct prof_strtab *t, const char *s)
{
	uint64_t h = str_hash(s);
	uint64_t *first = tsc_idmap_get(&t->index, h);
	for (uint32_t i = first ? (uint32_t)*first : 0; i; i = t->next[i - 1])
		if (!strcmp(t->s[i - 1], s))
			return i - 1;
	char *copy = strdup(s);
	if (!copy || t->n >= UINT32_MAX - 1 ||
	    tsc_grow((void **)&t->s, &t->cap, t->n + 1, sizeof(*t->s)) ||
	    tsc_grow((void **)&t->next, &t->next_cap, t->n + 1, sizeof(*t->next)) ||
	    tsc_idmap_put(&t->index, h, t->n + 1)) {
		free(copy);
		return -ENOMEM;
	}
	t->next[t->n] = first ? (uint32_t)*first : 0;
	t->s[t->n] = copy;
	return (int64_t)t->n++;
}

void prof_strtab_fini(struct prof_strtab *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->next);
	tsc_idmap_free(&t->index);
	memset(t, 0, sizeof(*t));
}
