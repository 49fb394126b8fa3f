/* SPDX-License-Identifier: MIT */
/* Thread ids as the target knows them (its own pid namespace, where the runtime called
 * gettid) turned into ours, and checked to be threads of the target at all. */
#ifndef TSC_TIDS_H
#define TSC_TIDS_H

#include <stddef.h>
#include <stdint.h>

struct tsc_tid_pair {
	int32_t inner, outer;
};

struct tsc_tidmap {
	int procfd;                 /* borrowed */
	int same_ns;                /* the target's pid namespace is ours: ids are equal */
	struct tsc_tid_pair *e;     /* otherwise, each of its threads */
	size_t n;
};

/* Returns 0 or -errno. */
int tsc_tidmap_read(int procfd, struct tsc_tidmap *m);
/* Our id of the target's thread `inner`, or 0 when the target has no such thread now (a
 * forked child holds a copy of its parent's registry, whose threads are not its own). */
int32_t tsc_tidmap_outer(const struct tsc_tidmap *m, int32_t inner);
void tsc_tidmap_free(struct tsc_tidmap *m);

#endif
