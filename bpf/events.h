/* SPDX-License-Identifier: MIT */
/* The protocol of bpf/taskscope.bpf.c with user space (src/cli/probes/attach.c, reconcile.c, record):
 * constants, map records and ring-buffer records. __u32/__u64 only, every record 8-byte
 * aligned with explicit padding. (Not named taskscope.h: that is the public runtime API.) */
#ifndef TSC_BPF_EVENTS_H
#define TSC_BPF_EVENTS_H

#ifndef __VMLINUX_H__ /* the BPF side has the kernel's types from vmlinux.h */
#include <linux/types.h>
#endif

#define TSC_NAME_LEN 64 /* = TS_NAME_MAX of the debug descriptor, NUL included */
#define TSC_CORO_LEN 64 /* = sizeof(struct tsc_task.coro) */

/* Default map sizes; user space may change them before load. Live and finished elements are
 * allocated on demand (BPF_F_NO_PREALLOC), but each map's bucket array (16 bytes per entry)
 * is allocated and zeroed at load: 2^18 keeps that to 4 MiB each. `finished` holds only
 * tasks older than the attach (see the `born` map). */
#define TSC_MAX_LIVE (1u << 18)
#define TSC_MAX_FINISHED (1u << 18)
#define TSC_MAX_THREADS 4096
#define TSC_BORN_WORDS (1u << 17) /* bits for 8M task ids from the first one created */

/* struct tsc_task_rec.flags */
#define TSC_TF_CREATED 1u  /* task_create seen since attach: name, coro, parent are valid */
#define TSC_TF_RENAMED 2u  /* task_rename seen since attach: name is valid */
#define TSC_TF_STATE 4u    /* state/wait set by a switch or wait event, at updated_ns */
#define TSC_TF_NAME_ERR 8u /* reading the name or coro string from the target failed */

/* live: task id -> record, for every task an event mentioned since attach and that has not
 * finished. Tasks created before attach appear only when renamed, switched or waiting, and
 * then only with the fields those events carry (see flags). */
struct tsc_task_rec {
	__u64 id;
	__u64 parent;
	__u64 wait_obj;
	__u64 created_ns;  /* bpf_ktime_get_ns (CLOCK_MONOTONIC) at task_create */
	__u64 updated_ns;  /* last switch or wait event */
	__u64 switches;    /* times switched in since attach */
	__u32 state;       /* enum ts_state */
	__u32 wait;        /* enum ts_wait */
	__u32 tid;         /* its loop's thread: task_create's loop_tid (the target's pid namespace),
			    * else the switching thread (the root namespace); TSC_TF_CREATED tells */
	__u32 flags;       /* TSC_TF_* */
	char name[TSC_NAME_LEN];
	char coro[TSC_CORO_LEN];
};

/* finished: task id -> how and when it ended, for every task finished since attach. */
struct tsc_fin_rec {
	__u64 ts_ns;
	__u32 outcome;     /* TS_DONE, TS_CANCELLED or TS_FAILED */
	__u32 pad;
};

/* struct tsc_thread_rec.flags */
#define TSC_THF_STARTED 1u  /* thread_start seen since attach */
#define TSC_THF_STOPPED 2u  /* thread_stop seen since attach (cleared by a later start) */
#define TSC_THF_SWITCHED 4u /* current is valid: a switch happened since attach */

/* threads: tid -> the task running on that loop thread since since_ns. */
struct tsc_thread_rec {
	__u64 loop_id;
	__u64 current;     /* 0 = the loop's scheduler */
	__u64 since_ns;
	__u32 flags;       /* TSC_THF_* */
	__u32 pad;
};

/* The cookie of each site of the single-link attach (the tsc_multi program). */
enum tsc_probe_kind {
	TSC_K_TASK_CREATE = 1,
	TSC_K_TASK_FINISH,
	TSC_K_TASK_RENAME,
	TSC_K_TASK_SWITCH,
	TSC_K_TASK_WAIT,
	TSC_K_THREAD_START,
	TSC_K_THREAD_STOP,
};

/* counters: per-CPU array of __u64, indexed by: */
enum tsc_counter {
	TSC_C_TASK_CREATE = 0, /* events seen, per probe (target's tgid only) */
	TSC_C_TASK_SWITCH,
	TSC_C_TASK_FINISH,
	TSC_C_TASK_RENAME,
	TSC_C_TASK_WAIT,
	TSC_C_THREAD_START,
	TSC_C_THREAD_STOP,
	TSC_C_FOREIGN,         /* probe hits from another process (a forked child), ignored */
	TSC_C_LIVE_FULL,       /* live map update failed (full, or its bucket lock failed): a task
				* created since attach is lost */
	TSC_C_FINISHED_FULL,   /* finished map update failed: a finish may be missed */
	TSC_C_THREADS_FULL,    /* threads map update failed */
	TSC_C_READ_ERR,        /* a name or coro string could not be read from the target */
	TSC_C_RB_DROPS,        /* ring buffer full: an event record was dropped */
	TSC_C_MAP_ERR,         /* a delete from live failed (bucket lock); recorded in finished */
	/* ring buffer full, per event type (TSC_C_RB_DROPS counts them all): index
	 * TSC_C_RB_DROP_FIRST + tsc_rec_type - 1. What `record` writes as LOST records. */
	TSC_C_RB_DROP_CREATE,
	TSC_C_RB_DROP_SWITCH,
	TSC_C_RB_DROP_FINISH,
	TSC_C_RB_DROP_RENAME,
	TSC_C_RB_DROP_WAIT,
	TSC_C_RB_DROP_THREAD_START,
	TSC_C_RB_DROP_THREAD_STOP,
	TSC_C_EXEC,            /* the target exec'd (sched_process_exec): from then on its probes
				* are another program's, and nothing is counted or sent */
	TSC_C_NR,
};

#define TSC_C_RB_DROP_FIRST TSC_C_RB_DROP_CREATE

#define TSC_C_EVENTS_FIRST TSC_C_TASK_CREATE
#define TSC_C_EVENTS_LAST TSC_C_THREAD_STOP

/* Ring buffer records, for exact tracing (emitted only when targ_emit is set). Every record
 * starts with its type and total size; fields are 8-byte aligned. Append-only. */
enum tsc_rec_type {
	TSC_REC_CREATE = 1,
	TSC_REC_SWITCH,
	TSC_REC_FINISH,
	TSC_REC_RENAME,
	TSC_REC_WAIT,
	TSC_REC_THREAD_START,
	TSC_REC_THREAD_STOP,
	TSC_REC_EXEC,      /* a[0] the thread that exec'd (old tid), a[1] the tgid; str and str2
			    * together: the file name as exec was given it, NUL-terminated */
};

struct tsc_rec_hdr {
	__u32 type;        /* enum tsc_rec_type */
	__u32 size;        /* of the whole record */
	__u64 ts_ns;       /* bpf_ktime_get_ns */
	__u32 tid;         /* the thread that fired the probe (root pid namespace) */
	__u32 cpu;
};

/* One layout for every event: a[] holds the probe's integer arguments in order (a string
 * argument's slot is 0); str holds the name for CREATE and RENAME, str2 the coro for CREATE.
 * Records of events without strings are shorter (hdr.size = TSC_REC_SHORT: a[0..2] only);
 * a reader takes what lies beyond hdr.size as 0 / "". */
struct tsc_rec_event {
	struct tsc_rec_hdr hdr;
	__u64 a[5];
	char str[TSC_NAME_LEN];
	char str2[TSC_CORO_LEN];
};

#define TSC_REC_SHORT (sizeof(struct tsc_rec_hdr) + 3 * sizeof(__u64))

/* Ring buffer size for exact tracing when the user gives none: about 300,000 short records
 * (56 bytes with the ring's own header): 0.2 s of the busiest target seen here (1.5M events/s),
 * ten seconds of the demo with churn, between two drains 50 ms apart. */
#define TSC_RINGBUF_DEFAULT (16u << 20)

#endif
