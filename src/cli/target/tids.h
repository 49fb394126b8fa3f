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

/* Our id of each target thread an event names, cached: loop threads are few, and a /proc
 * lookup per event or per task would cost more than the rest of its handling. A thread not
 * in the cache reads the map again: once for the cache's life (reread_ns 0: a snapshot's
 * reconciliation), or at most once per reread_ns (a recording, where threads come later). */
struct tsc_tidcache {
	int procfd;                 /* borrowed */
	uint64_t reread_ns;
	struct tsc_tidmap map;
	int read, ok;               /* the map was read, and read well */
	uint64_t read_at;
	int n;
	int32_t inner[64], outer[64];
};
void tsc_tidcache_init(struct tsc_tidcache *c, int procfd, uint64_t reread_ns);
/* Our id of the target's thread inner at now_ns (CLOCK_MONOTONIC); inner itself when the
 * thread is gone already, or the namespaces are the same: keep what the probe said. */
int32_t tsc_tidcache_outer(struct tsc_tidcache *c, int32_t inner, uint64_t now_ns);
void tsc_tidcache_free(struct tsc_tidcache *c);

/* The target's threads by its own ids, sorted: which threads it had at one instant, so that
 * a loop whose thread is gone later can be told from a loop that was never ours. */
struct tsc_tidset {
	int32_t *tid;
	size_t n;
};
int tsc_tidset_read(int procfd, struct tsc_tidset *s);
int tsc_tidset_has(const struct tsc_tidset *s, int32_t tid);
void tsc_tidset_free(struct tsc_tidset *s);

/* 1 when some thread of the target is exiting (PF_EXITING, or SIGKILL pending: exit_group and
 * a fatal signal put it in every thread), 0 when none is, -errno. The process's pidfd turns
 * readable only after its last thread is gone; this sees the exit begin. */
int tsc_threads_exiting(int procfd);

#endif
