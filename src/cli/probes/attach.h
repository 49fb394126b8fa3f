/* SPDX-License-Identifier: MIT */
/* The BPF half of the attach protocol (collect.h runs it): the probes of bpf/taskscope.bpf.c
 * attached before the snapshot is read, then their maps merged into it (reconcile.h); or,
 * for record, every event through the ring buffer. */
#ifndef TSC_ATTACH_H
#define TSC_ATTACH_H

#include "target/model.h"

struct tsc_bpf;
struct tsc_remote;

/* Which probes to attach. */
#define TSC_PROBES_LIFECYCLE 1   /* task_create, task_finish, task_rename */
#define TSC_PROBES_SWITCH 2      /* task_switch, thread_start/stop */
#define TSC_PROBES_WAIT 4        /* task_wait */
#define TSC_PROBES_ALL (TSC_PROBES_LIFECYCLE | TSC_PROBES_SWITCH | TSC_PROBES_WAIT)

/* Attach the taskscope USDT probes of the target open in r, its runtime found (the ELF
 * holding it, reachable from here), with BPF filtering on its tgid. r's pinned /proc/PID is
 * borrowed: r must outlive the attachment. Returns 0 or -errno; on error nothing stays
 * attached and a message went to stderr. */
int tsc_bpf_attach(struct tsc_remote *r, unsigned probes, struct tsc_bpf **out);

/* Merge what the probes saw since attach into snap: tasks finished since attach are removed
 * (never resurrected), tasks created since attach are added, each task once; threads'
 * current tasks not in the live set become 0. Sets snap->reconciled and the counters. */
int tsc_bpf_reconcile(struct tsc_bpf *b, struct tsc_snapshot *snap);

void tsc_bpf_detach(struct tsc_bpf *b); /* accepts NULL */

/* ---- exact tracing (record) ---- */

struct tsc_bpf_opts {
	unsigned probes;         /* TSC_PROBES_* */
	int emit;                /* also write every event to the ring buffer `events` */
	size_t ringbuf_bytes;    /* its size with emit: a power of two, at least a page;
				  * 0 = TSC_RINGBUF_DEFAULT (bpf/events.h) */
	int events_only;         /* with emit: keep no task or thread maps, only the counters
				  * and the ring buffer (the cheapest probes; no tsc_bpf_reconcile) */
};

/* tsc_bpf_attach with options: the ring buffer is sized and switched on before load. */
int tsc_bpf_attach_opts(struct tsc_remote *r, const struct tsc_bpf_opts *opts,
			struct tsc_bpf **out);

/* Called for each ring-buffer record: a struct tsc_rec_event of size bytes (bpf/events.h;
 * records without strings end early). Return 0, or < 0 to stop draining with that error. */
typedef int (*tsc_bpf_rec_fn)(void *ctx, const void *rec, size_t size);

/* Set up consuming the ring buffer (attached with emit). The BPF side submits without
 * wakeups, so nothing polls it: call tsc_bpf_drain on a timer. 0 or -errno. */
int tsc_bpf_events_open(struct tsc_bpf *b, tsc_bpf_rec_fn fn, void *ctx);
/* Send the records to another function from now on (not while a drain runs). 0 or -errno. */
int tsc_bpf_events_consumer(struct tsc_bpf *b, tsc_bpf_rec_fn fn, void *ctx);
/* Hand every record available now to fn, at most max of them (0 = no limit); never waits.
 * Returns the number handed over, or < 0 (fn's error, or -errno). */
long tsc_bpf_drain(struct tsc_bpf *b, long max);
/* The BPF counters (enum tsc_counter of bpf/events.h) summed over CPUs: n entries of
 * sums, up to TSC_C_NR. 0 or -errno. */
int tsc_bpf_counters(struct tsc_bpf *b, uint64_t *sums, size_t n);
/* Release the probes (the target is back on its untraced path once this returns) and keep
 * the maps: then drain what the ring buffer still holds, read the counters, and detach. */
void tsc_bpf_unlink(struct tsc_bpf *b);

/* Optional, right after tsc_bpf_attach and before the snapshot: the target's next task id
 * (the descriptor's next_id), read after attach returned. Tasks from that id on were created
 * under the probes, so their finishes need no record in the finished map. The BPF side also
 * finds this out by itself for the first 8M ids created since attach; this covers any id
 * after them, for long attachments. Once. */
int tsc_bpf_set_next_id(struct tsc_bpf *b, uint64_t next_id);


#endif
