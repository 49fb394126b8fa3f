/* SPDX-License-Identifier: MIT */
/* The rings mapped here (rings.h): the mapping, the backlogs, the copier thread. */
#include "target/rings_impl.h"
#include "target/memsrc.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

/* g's backlog, for a copy of burst slots. The first ring that has a burst to copy takes the
 * one made ahead (tsc_rings_map), its few slots held moved over: the rings of the loops that
 * stay idle (a main thread's, say) leave it to a busy one, and have a small one meanwhile.
 * Otherwise BACKLOG_LAPS laps of the ring, within what is left of TSC_RINGS_BACKLOG for all
 * the rings (a target cannot make us hold more), never under a copy's chunk, its pages
 * faulted in as they are first written. A small one the decoder is reading is let go when
 * it is done with it (rings.c), not now. */
static int backlog_make(struct tsc_rings *R, struct ring *g, uint64_t burst)
{
	if (R->ahead.slots && !g->retired.slots && (burst >= COPY_CHUNK || !g->bl.slots)) {
		if (burst < COPY_CHUNK) { /* small, for now */
			int err = tsc_backlog_new(&g->bl, 4 * COPY_CHUNK, 0);
			if (!err)
				R->bl_slots += g->bl.cap;
			return err;
		}
		uint64_t held = g->hi - g->lo;
		if (held)
			memcpy(tsc_backlog_at(&R->ahead, g->lo), tsc_backlog_at(&g->bl, g->lo),
			       held * TS_RING_SLOT);
		R->bl_slots -= g->bl.cap;
		if (g->decoding)
			g->retired = g->bl;
		else
			tsc_backlog_free(&g->bl);
		g->bl = R->ahead;
		R->ahead = (struct tsc_backlog){ 0 };
		return 0;
	}
	if (g->bl.slots)
		return 0;
	uint64_t want = g->nslots * BACKLOG_LAPS, left = R->bl_slots < BACKLOG_MAX ?
		BACKLOG_MAX - R->bl_slots : 0;
	if (want > BACKLOG_RING_MAX)
		want = BACKLOG_RING_MAX;
	if (want > left)
		want = left;
	if (want < COPY_CHUNK)
		want = COPY_CHUNK;
	int err = tsc_backlog_new(&g->bl, want, 0);
	if (!err)
		R->bl_slots += g->bl.cap;
	return err;
}

/* Map the ring at g->addr here too, read-only, when it is what the runtime makes
 * (docs/rings.md): a memfd (on the kernel's internal tmpfs, never hugetlbfs) sealed against
 * shrinking, at least as large as the ring, so that no access to our mapping can ever fault
 * (SIGBUS); and its header as we read it from the process. Anything else: read through the
 * memory source as before. The mapping outlives the process: what it held last is read. */
void tsc_rings_map_one(struct tsc_rings *R, struct ring *g, const struct ts_ring_hdr *h)
{
	uint64_t len = (g->hdr_size + g->nslots * TS_RING_SLOT + 4095) & ~4095ull;
	char name[64];
	struct stat st;
	struct statfs sf;
	snprintf(name, sizeof(name), "map_files/%llx-%llx", (unsigned long long)g->addr,
		 (unsigned long long)(g->addr + len));
	int fd = openat(R->procfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size < len || fstatfs(fd, &sf) || sf.f_type != TMPFS_MAGIC) {
		close(fd);
		return;
	}
	/* not populated: a read of a page the process never wrote would allocate it (shmem),
	 * charged to us; we read only slots below head */
	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return;
	const struct ts_ring_hdr *m = p;
	if (m->magic != h->magic || m->nslots != h->nslots || m->hdr_size != h->hdr_size ||
	    m->tid != h->tid || m->loop_id != h->loop_id || m->tsc0 != h->tsc0 ||
	    m->mono0 != h->mono0 || m->flags != h->flags) {
		munmap(p, len); /* not the ring at that address */
		return;
	}
	g->map = p;
	g->map_len = len;
}

/* The loops make their rings once the rings probe is held, and a busy ring fills in
 * milliseconds: a backlog made then would be faulted in as the first burst is copied, at
 * the kernel's speed of zeroing pages (here about as slow as the writer). So one backlog, for
 * the first ring that bursts, is made and faulted in ahead, before the probe is held. */
void tsc_rings_map(struct tsc_rings *R, int procfd, uint64_t ahead)
{
	R->procfd = procfd;
	uint32_t nloops = 0;
	if (!ahead || tsc_mem_read1(R->mem, R->d.nloops_addr, &nloops, sizeof(nloops)) || !nloops)
		return;
	if (ahead > TSC_RINGS_BACKLOG)
		ahead = TSC_RINGS_BACKLOG;
	if (ahead < 4 * COPY_CHUNK * TS_RING_SLOT)
		ahead = 4 * COPY_CHUNK * TS_RING_SLOT; /* a small one's slots fit, and a chunk */
	if (!tsc_backlog_new(&R->ahead, ahead / TS_RING_SLOT, 1))
		R->bl_slots += R->ahead.cap;
}

/* A mapped ring's new slots appended to its backlog, a chunk at a time, each checked against
 * the head read right after it: a slot is whole if the writer had not come round to it again
 * by then (it fills at most TS_RING_MAX_SLOTS past head before publishing). Copying runs at
 * memory speed, far faster than decoding: the backlog lets a burst of events wait in our
 * memory for the decoder rather than be overwritten in the ring. A reader that has fallen
 * behind all the same (the backlog full) loses the slots the writer overtook, counted, and
 * starts again a little ahead of the oldest slot rather than race the writer for it. */
int tsc_rings_fill(struct tsc_rings *R, struct ring *g, uint64_t head)
{
	const uint8_t *slots = g->map + g->hdr_size;
	uint64_t mask = g->nslots - 1, lead = g->nslots / 8;
	uint64_t oldest = head > g->nslots ? head - g->nslots + TS_RING_MAX_SLOTS : 0;
	g->stalled = 0;
	if (g->lo == g->hi) {
		if (g->pos < oldest) {
			uint64_t at = oldest + lead < head ? oldest + lead : head;
			g->lapped += at - g->pos;
			g->gap += at - g->pos;
			g->pos = at;
		}
		g->lo = g->hi = g->pos;
	} else if (g->pos < oldest) {
		g->stalled = 1; /* decode the backlog first: the jump comes when it is empty */
		return 0;
	}
	int err;
	if (head > g->hi && (err = backlog_make(R, g, head - g->hi)))
		return err;
	uint64_t room = g->bl.cap - (g->hi - g->lo);
	uint64_t want = head - g->hi < room ? head - g->hi : room;
	uint64_t at = g->hi, end = g->hi + want;
	while (at < end) {
		/* a chunk is contiguous in the backlog (mapped twice) and at most two runs in
		 * the ring */
		uint64_t n = end - at < COPY_CHUNK ? end - at : COPY_CHUNK, i = at & mask;
		uint64_t first = g->nslots - i < n ? g->nslots - i : n;
		uint64_t *dst = tsc_backlog_at(&g->bl, at);
		memcpy(dst, slots + i * TS_RING_SLOT, first * TS_RING_SLOT);
		if (first < n)
			memcpy(dst + first * 4, slots, (n - first) * TS_RING_SLOT);
		uint64_t h = ring_map_head(g);
		uint64_t safe = h > g->nslots ? h - g->nslots + TS_RING_MAX_SLOTS : 0;
		if (safe <= at) {
			at += n;
			continue;
		}
		if (at > g->lo)
			break; /* what came before is whole; the rest is lost, counted at the jump */
		/* overtaken from the start: begin again ahead of the writer */
		uint64_t to = safe + lead < end ? safe + lead : end;
		g->lapped += to - at;
		g->gap += to - at;
		g->lo = g->hi = at = to;
	}
	R->backlog += at - g->hi;
	g->hi = g->pos = at;
	return 0;
}

static unsigned period_ms(const struct tsc_rings *R)
{
	uint64_t least = 0; /* the smallest ring's fastest lap */
	for (size_t i = 0; i < R->n; i++)
		if (!R->r[i]->bad && (!least || ring_lap_ns(R->r[i]) < least))
			least = ring_lap_ns(R->r[i]);
	uint64_t half = least / 2;
	if (!least || half >= TSC_RINGS_DRAIN_MS * 1000000ull)
		return TSC_RINGS_DRAIN_MS;
	return half < COPIER_SLEEP_MIN_NS ? COPIER_SLEEP_MIN_NS / 1000000 : (unsigned)(half / 1000000);
}


unsigned tsc_rings_period_ms(struct tsc_rings *R)
{
	rings_lock(R);
	unsigned ms = period_ms(R);
	rings_unlock(R);
	return ms;
}

#define COPIER_SLICE_NS 100000

/* The copier must run within a millisecond or two of its wake-up, whatever else runs: a
 * 16 MiB ring laps in 6 ms at 80 million events a second, and a slot not copied in time is
 * lost. As the lowest real-time priority (SCHED_FIFO 1, where we may: root) it runs at once;
 * what it takes is short and bounded (a copy of what was written since it last looked, at
 * 10-20 GB/s: at most a ring, 1 ms for 16 MiB; then it sleeps), and the kernel's real-time
 * throttling leaves the others 5% of each CPU whatever happens. Measured here with the
 * ping-pong: a normal thread woke up to 4 ms late (a scheduler tick) and lost a round in
 * five; this one, 1.1 ms at most and none. Otherwise a short slice (EEVDF, Linux 6.12+:
 * sched_runtime of SCHED_OTHER): no more CPU than any thread, run sooner after it wakes. */
static void copier_sched(void)
{
	struct sched_param sp = { .sched_priority = 1 };
	if (!pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp))
		return;
	struct { /* the kernel's struct sched_attr, version 0 (glibc has none) */
		uint32_t size, policy;
		uint64_t flags;
		int32_t nice;
		uint32_t priority;
		uint64_t runtime, deadline, period;
	} a = { .size = sizeof(a), .policy = 0 /* SCHED_OTHER */, .runtime = COPIER_SLICE_NS };
	syscall(SYS_sched_setattr, 0, &a, 0); /* older kernels ignore it */
}
#define COPIER_START_NS 100000000ull  /* how long the rings made for us take to appear */

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

size_t tsc_rings_ahead_bytes(struct tsc_rings *R)
{
	rings_lock(R);
	size_t n = R->ahead.cap * TS_RING_SLOT;
	rings_unlock(R);
	return n;
}

/* The copier: every few milliseconds (half a ring's fastest lap), each mapped ring's new
 * slots into its backlog, so that no ring is lapped while the drains decode, however long
 * they take or however long the scheduler keeps them off the CPU: a thread that sleeps
 * mostly is run as soon as it wakes. The heads are read from our mappings; one that went
 * backwards is left to the next drain to find. It looks for new rings too, at every turn
 * while the loops make theirs (a loop makes its ring when it sees the rings probe held,
 * and a ring fills in milliseconds: it must be found at once, even while the snapshot is
 * being read), then every TSC_RINGS_SCAN_NS: the drains scan too, but a snapshot of many
 * tasks keeps them away for seconds, and a scan is one read. */
static void *copier(void *arg)
{
	struct tsc_rings *R = arg;
	copier_sched();
	uint64_t t0 = mono_ns(), last_scan = t0;
	pthread_mutex_lock(&R->lock);
	while (!R->copier_stop) {
		uint64_t now = mono_ns();
		int starting = now - t0 < COPIER_START_NS;
		if (starting || now - last_scan >= TSC_RINGS_SCAN_NS) {
			tsc_rings_scan_held(R); /* a failure is the drains' to report */
			last_scan = now;
		}
		int hurry = 0;
		for (size_t i = 0; i < R->n && !R->copier_err; i++) {
			struct ring *g = R->r[i];
			if (!g->map || g->bad)
				continue;
			uint64_t head = ring_map_head(g);
			if (head < g->head)
				continue;
			/* an eighth of the ring since the copy before: come back sooner */
			hurry |= head - g->hi > g->nslots / 8;
			R->copier_err = tsc_rings_fill(R, g, head);
		}
		unsigned ms = starting ? 1 : period_ms(R);
		pthread_mutex_unlock(&R->lock);
		struct timespec ts = { .tv_nsec = hurry ? 200000 : (long)ms * 1000000 };
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&R->lock);
	}
	pthread_mutex_unlock(&R->lock);
	return NULL;
}

int tsc_rings_copier_start(struct tsc_rings *R)
{
	if (R->copying)
		return 0;
	/* priority inheritance: the decoding thread (nice 10) holding the lock runs at the
	 * copier's priority until it lets go, rather than keep it waiting behind everyone */
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
	int err = pthread_mutex_init(&R->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	if (err)
		return -err;
	R->copier_stop = R->copier_err = 0;
	R->copying = 1;
	if ((err = pthread_create(&R->copier, NULL, copier, R))) {
		R->copying = 0;
		pthread_mutex_destroy(&R->lock);
		return -err;
	}
	return 0;
}

void tsc_rings_copier_stop(struct tsc_rings *R)
{
	if (!R->copying)
		return;
	pthread_mutex_lock(&R->lock);
	R->copier_stop = 1;
	pthread_mutex_unlock(&R->lock);
	pthread_join(R->copier, NULL);
	R->copying = 0;
	pthread_mutex_destroy(&R->lock);
}

