/* SPDX-License-Identifier: MIT */
/* Shared by bpf/profile.bpf.c and src/cli/profile/ (taskscope profile): the sample record and
 * the counters. __u32/__u64 only, every record 8-byte aligned. */
#ifndef TASKSCOPE_PROFILE_H
#define TASKSCOPE_PROFILE_H

#ifndef __VMLINUX_H__ /* the BPF side has the kernel's types from vmlinux.h */
#include <linux/types.h>
#endif

#define TSP_MAX_THREADS 4096
#define TSP_MAX_FRAMES 127          /* the kernel's default perf_event_max_stack */
#define TSP_RINGBUF_BYTES (1u << 21)

/* One on-CPU sample of a loop thread of the target, as the ring buffer carries it; records
 * end after nframes of pc. */
struct tsp_sample {
	__u32 tid;           /* the thread, in the root pid namespace */
	__u32 nframes;       /* user stack frames in pc, innermost first; 0: none could be read */
	__u64 task;          /* its loop's current-task slot at the sample: 0 = the loop itself */
	__u64 fp, sp;        /* the thread's frame and stack pointers, where the stack's walk
			      * began; 0 when the sample found it in the kernel */
	__u64 pc[TSP_MAX_FRAMES];
};

/* counters: per-CPU array of __u64, indexed by: */
enum tsp_counter {
	TSP_C_SAMPLES = 0,   /* samples that found a thread of the target on a CPU */
	TSP_C_NO_SLOT,       /* ... a thread that runs no loop we know (yet): not kept */
	TSP_C_READ_ERR,      /* ... whose current-task slot could not be read: not kept */
	TSP_C_RB_FULL,       /* ... lost: the ring buffer was full */
	TSP_C_NO_STACK,      /* ... kept without a stack: bpf_get_stack failed */
	TSP_C_NR,
};

#endif
