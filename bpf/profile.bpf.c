// SPDX-License-Identifier: (MIT OR GPL-2.0)
/* taskscope profile: a CPU-clock perf event on every CPU runs tsp_sample. When it interrupts a
 * loop thread of the target, it reads that loop's current-task slot in the target's memory
 * (as top's sampler does, bpf/sampler.bpf.c) and the thread's user stack (frame pointers:
 * bpf_get_stack walks the saved rbp chain from the interrupted registers), and sends both to
 * user space through the ring buffer, which aggregates them. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "profile.h"
#include "current_task.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile __u32 targ_tgid = 0;    /* the target, in the root pid namespace */

/* slots: thread id (root namespace) -> address of its loop's current-task id (a u64) in the
 * target. Filled by user space from the registry, again each second. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TSP_MAX_THREADS);
	__type(key, __u32);
	__type(value, __u64);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TSP_RINGBUF_BYTES);
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TSP_C_NR);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 c)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &c);
	if (v)
		*v += 1; /* per CPU, and a perf event does not interrupt itself */
}

SEC("perf_event")
int tsp_sample(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if ((pid_tgid >> 32) != targ_tgid)
		return 0;
	__u32 tid = (__u32)pid_tgid;
	count(TSP_C_SAMPLES);
	__u64 id;
	enum tsc_slot_read rd = tsc_current_task(&slots, tid, &id);
	if (rd != TSC_SLOT_OK) {
		count(rd == TSC_SLOT_NONE ? TSP_C_NO_SLOT : TSP_C_READ_ERR);
		return 0;
	}
	struct tsp_sample *s = bpf_ringbuf_reserve(&samples, sizeof(*s), 0);
	if (!s) {
		count(TSP_C_RB_FULL);
		return 0;
	}
	s->tid = tid;
	s->task = id;
	/* the user stack walk's first frame pointer, and the stack pointer: mid-switch, user space
	 * tells by them whose frames these are. In user space (the lower half of the address
	 * space), the interrupted registers; in the kernel (a fault, a preemption's way back),
	 * the user registers it saved, which the walk starts from too */
	s->fp = s->sp = 0;
	if (ctx->regs.ip < (1ull << 47)) {
		s->fp = ctx->regs.bp;
		s->sp = ctx->regs.sp;
	} else if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs)) {
		struct pt_regs *u = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
		s->fp = BPF_CORE_READ(u, bp);
		s->sp = BPF_CORE_READ(u, sp);
	}
	long n = bpf_get_stack(ctx, s->pc, sizeof(s->pc), BPF_F_USER_STACK);
	if (n < 0) {
		count(TSP_C_NO_STACK);
		n = 0;
	}
	s->nframes = (__u32)(n / sizeof(__u64));
	/* no wakeup: user space drains the buffer on its own timer */
	bpf_ringbuf_submit(s, BPF_RB_NO_WAKEUP);
	return 0;
}
