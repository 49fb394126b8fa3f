// SPDX-License-Identifier: (MIT OR GPL-2.0)
/* taskscope top's own BPF programs, next to the lifecycle probes of taskscope.bpf.c:
 *  - sampling (the default): a CPU-clock perf event on every CPU runs tss_sample, which, when it
 *    interrupts a thread of the target, reads that thread's loop's current-task slot in the
 *    target's memory and counts the sample for the task found there (0: the scheduler);
 *  - exact (--exact): tss_switch on the task_switch probe accumulates each task's switched-in
 *    time and switches in maps, so user space reads totals however fast the target switches. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "sampler.h"
#include "current_task.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile __u32 targ_tgid = 0;    /* the target, in the root pid namespace */
const volatile bool targ_reg_args = false; /* task_switch's notes say 8@%rdi 8@%rsi */
/* exact: bpf_ktime_get_ns once the probe was attached, set by user space (0 = not yet). A
 * thread's first switch seen credits the task it switches out with the time since then: user
 * space credits the same span to the task its registry read showed running (a task that never
 * yields would show nothing otherwise). */
volatile __u64 attach_ns = 0;

/* slots: thread id (root namespace) -> address of its loop's current-task id (a u64) in the
 * target. Filled by user space from the registry at each refresh. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TSS_MAX_THREADS);
	__type(key, __u32);
	__type(value, __u64);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TSS_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct tss_thread);
} thread_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TSS_MAX_TASKS);
	__type(key, __u64);
	__type(value, struct tss_task);
} task_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TSS_C_NR);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 c)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &c);
	/* atomic: the USDT program runs preemptible, and a sample may interrupt it */
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline struct tss_thread *thread_get(__u32 tid)
{
	struct tss_thread *th = bpf_map_lookup_elem(&thread_stats, &tid);
	if (th)
		return th;
	struct tss_thread n = {};
	long err = bpf_map_update_elem(&thread_stats, &tid, &n, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		count(TSS_C_THREADS_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&thread_stats, &tid);
}

static __always_inline struct tss_task *task_get(__u64 id)
{
	struct tss_task *t = bpf_map_lookup_elem(&task_stats, &id);
	if (t)
		return t;
	struct tss_task n = {};
	long err = bpf_map_update_elem(&task_stats, &id, &n, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		count(TSS_C_TASKS_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&task_stats, &id);
}

SEC("perf_event")
int tss_sample(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if ((pid_tgid >> 32) != targ_tgid)
		return 0;
	__u32 tid = (__u32)pid_tgid;
	count(TSS_C_SAMPLES);
	__u64 id;
	enum tsc_slot_read rd = tsc_current_task(&slots, tid, &id);
	if (rd != TSC_SLOT_OK) {
		/* not a loop thread, or one started since the refresh; or the loop went away */
		count(rd == TSC_SLOT_NONE ? TSS_C_NO_SLOT : TSS_C_READ_ERR);
		return 0;
	}
	struct tss_thread *th = thread_get(tid);
	if (th) {
		__sync_fetch_and_add(&th->samples, 1);
		if (id)
			__sync_fetch_and_add(&th->task_samples, 1);
	}
	if (id) {
		struct tss_task *t = task_get(id);
		if (t)
			__sync_fetch_and_add(&t->samples, 1);
	}
	return 0;
}

SEC("usdt")
int tss_switch(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if ((pid_tgid >> 32) != targ_tgid) {
		count(TSS_C_FOREIGN);
		return 0;
	}
	/* task_switch(prev, next): prev is the task we saw switched in last, kept per thread;
	 * the switch counts per task are the runtime's own (the registry). Two map lookups a
	 * switch, no counter: the events are the threads' switches. */
	long prev = 0, next = 0;
	if (targ_reg_args) {
		prev = (long)ctx->di;
		next = (long)ctx->si;
	} else {
		bpf_usdt_arg(ctx, 0, &prev);
		bpf_usdt_arg(ctx, 1, &next);
	}
	__u64 now = bpf_ktime_get_ns();
	struct tss_thread *th = thread_get((__u32)pid_tgid);
	if (!th)
		return 0;
	/* The first switch seen on this thread: prev has run since attach at least (before
	 * attach_ns is known, the span is not counted, by user space either). */
	__u64 since = attach_ns;
	if (!th->since_ns && prev && since && since < now) {
		th->current = (__u64)prev;
		th->since_ns = since;
	}
	/* Only this thread switches its own tasks, so plain updates of its records suffice. */
	if (th->current && th->since_ns) {
		__u64 d = now - th->since_ns;
		struct tss_task *p = task_get(th->current);
		if (p)
			p->cpu_ns += d;
		th->run_ns += d;
	}
	th->current = (__u64)next;
	th->since_ns = now;
	th->switches++;
	return 0;
}
