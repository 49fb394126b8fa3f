/* SPDX-License-Identifier: MIT */
/* Shared by bpf/sampler.bpf.c and src/cli/probes/sampler.c (taskscope top): constants and map
 * records. __u32/__u64 only, every record 8-byte aligned. */
#ifndef TASKSCOPE_SAMPLER_H
#define TASKSCOPE_SAMPLER_H

#ifndef __VMLINUX_H__ /* the BPF side has the kernel's types from vmlinux.h */
#include <linux/types.h>
#endif

#define TSS_MAX_THREADS 4096
/* Per-task records, allocated on demand; user space deletes those of finished tasks at each
 * refresh, so this bounds the tasks seen running between two refreshes, not the live ones. */
#define TSS_MAX_TASKS (1u << 18)

/* thread_stats: thread id (root pid namespace) -> what the samples and switches saw of it. */
struct tss_thread {
	__u64 samples;       /* sampling: CPU-clock samples that found this thread on a CPU */
	__u64 task_samples;  /* of which a task was running (its loop's current-task slot != 0) */
	__u64 current;       /* exact: the task switched in last, 0 = the loop's scheduler */
	__u64 since_ns;      /* exact: bpf_ktime_get_ns of that switch, 0 = none seen yet */
	__u64 run_ns;        /* exact: time a task was switched in, up to since_ns */
	__u64 switches;      /* exact: task_switch events on this thread */
};

/* task_stats: task id -> its samples (sampling) or switched-in time (exact). */
struct tss_task {
	__u64 samples;
	__u64 cpu_ns;        /* exact: time switched in, up to its last switch out */
};

/* counters: per-CPU array of __u64, indexed by: */
enum tss_counter {
	TSS_C_SAMPLES = 0,   /* samples that found a thread of the target on a CPU */
	TSS_C_NO_SLOT,       /* ... a thread that runs no loop we know (yet) */
	TSS_C_READ_ERR,      /* ... whose current-task slot could not be read */
	TSS_C_FOREIGN,       /* exact: task_switch hits from another process (a forked child) */
	TSS_C_TASKS_FULL,    /* task_stats update failed: a task's samples or time are lost */
	TSS_C_THREADS_FULL,  /* thread_stats update failed */
	TSS_C_NR,
};

#endif
