// SPDX-License-Identifier: (MIT OR GPL-2.0)
/* Keeps the live task set and the current task per thread of one target process in maps,
 * from the taskscope USDT probes. User space merges them with a snapshot of the registry. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/usdt.bpf.h>
#include "events.h"

/* enum ts_state / ts_wait values used here (include/taskscope/taskscope.h, probe ABI) */
#define TS_READY 1
#define TS_RUNNING 2
#define TS_WAITING 3
#define TS_WAIT_NONE 0
#define TS_WAIT_YIELD 6

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile __u32 targ_tgid = 0;       /* the target, in the root pid namespace */
const volatile bool targ_emit = false;    /* also write every event to the ring buffer */
/* Keep the live, finished and threads maps (ps, tree: reconciliation). `record` needs only the
 * ring buffer and the counters, and turns this off: each event then costs the target the
 * uprobe, a counter and a ring-buffer record, no hash-map operation. */
const volatile bool targ_state = true;

/* Set by user space when every probe note of the binary passes its arguments exactly as the
 * probe ABI says (8@%rdi 8@%rsi ...): then we read the registers directly, instead of going
 * through libbpf's generic argument specs (~60 ns per argument here). */
const volatile bool targ_reg_args = false;

/* Set by user space (tsc_bpf_set_next_id) to the target's next task id read after attach:
 * every task from that id on was created under our probes. Like `born`, without a range. */
__u64 fin_below = ~0ull;

/* Set when the target execs: its probes may fire again then (the same binary in the new
 * image, with task ids from 1 again), but that is another program, neither counted nor sent.
 * Set by the exec itself, before the new image runs, so no event of it passes. */
bool exec_seen = false;

/* The first task id whose creation we saw; ids are never reused and grow, so the ids created
 * since attach are (nearly all) at or above it. See `born`. */
__u64 born_base = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TSC_MAX_LIVE);
	__type(key, __u64);
	__type(value, struct tsc_task_rec);
} live SEC(".maps");

/* Not an LRU: an LRU would silently forget finishes and resurrect tasks; a full hash fails
 * the update, which we count, so user space knows the result is not exact. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TSC_MAX_FINISHED);
	__type(key, __u64);
	__type(value, struct tsc_fin_rec);
} finished SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TSC_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct tsc_thread_rec);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TSC_C_NR);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* born: one bit per task id from born_base on, set when its creation entered `live`. A task
 * with its bit set and no longer in `live` has finished, so its finish needs no record in
 * `finished`: churn costs one delete per task, and `finished` holds only tasks older than the
 * attach (or beyond the bitmap's range), however long we stay attached. User space maps it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, TSC_BORN_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} born SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* user space sizes it for record; a page when unused */
} events SEC(".maps");

static __always_inline void count(__u32 c)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &c);
	/* atomic even per CPU: uprobe programs run preemptible (migration disabled only), so
	 * two runs on one CPU may interleave, and a lost map-full count would hide a loss */
	if (v)
		__sync_fetch_and_add(v, 1);
}

/* True when the probe fired in the target. A forked child keeps the probes patched in its
 * copy of the text but has another tgid: its events must never count as the target's. */
static __always_inline bool in_target(__u32 ev)
{
	if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid) {
		count(TSC_C_FOREIGN);
		return false;
	}
	if (exec_seen)
		return false;
	count(ev);
	return true;
}

/* The calling thread's id in the root pid namespace, as the model reports threads. (Task ids
 * the probes pass, like task_create's loop_tid, are the target's own; user space maps them.) */
static __always_inline __u32 current_tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

/* A ring-buffer record could not be reserved (the buffer is full): counted in total and per
 * type, so that the recorder writes exact LOST records. The target never waits for room. */
static __always_inline void drop(__u32 type)
{
	count(TSC_C_RB_DROPS);
	count(TSC_C_RB_DROP_FIRST + type - 1);
}

static __always_inline void rec_hdr(struct tsc_rec_hdr *h, __u32 type, __u32 size)
{
	h->type = type;
	h->size = size;
	h->ts_ns = bpf_ktime_get_ns();
	h->tid = current_tid();
	h->cpu = bpf_get_smp_processor_id();
}

/* An event without strings: a short record (TSC_REC_SHORT bytes, a[0..2]). */
static __always_inline void emit(__u32 type, __u64 a0, __u64 a1, __u64 a2)
{
	struct tsc_rec_event *r = bpf_ringbuf_reserve(&events, TSC_REC_SHORT, 0);
	if (!r) {
		drop(type);
		return;
	}
	rec_hdr(&r->hdr, type, TSC_REC_SHORT);
	r->a[0] = a0;
	r->a[1] = a1;
	r->a[2] = a2;
	/* No wakeup: a wakeup per event costs the target microseconds; the reader polls. */
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
}

/* An event with strings: the whole record. kname and kcoro point to copies already read
 * (the probe's record: kernel memory, TSC_NAME_LEN / TSC_CORO_LEN bytes); without them, the
 * strings are read from the target at uname and ucoro. */
static __always_inline void emit_str(__u32 type, __u64 a0, __u64 a1, __u64 a4,
				     const char *kname, const char *kcoro, const char *uname,
				     const char *ucoro)
{
	struct tsc_rec_event *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		drop(type);
		return;
	}
	rec_hdr(&r->hdr, type, sizeof(*r));
	r->a[0] = a0;
	r->a[1] = a1;
	r->a[2] = 0;
	r->a[3] = 0;
	r->a[4] = a4;
	if (kname) {
		__builtin_memcpy(r->str, kname, TSC_NAME_LEN);
	} else {
		r->str[0] = 0;
		if (uname && bpf_probe_read_user_str(r->str, sizeof(r->str), uname) < 0)
			r->str[0] = 0;
	}
	if (kcoro) {
		__builtin_memcpy(r->str2, kcoro, TSC_CORO_LEN);
	} else {
		r->str2[0] = 0;
		if (ucoro && bpf_probe_read_user_str(r->str2, sizeof(r->str2), ucoro) < 0)
			r->str2[0] = 0;
	}
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
}

static __always_inline __u64 arg(struct pt_regs *ctx, __u64 i, __u64 reg)
{
	long v = 0;
	if (targ_reg_args)
		return reg;
	bpf_usdt_arg(ctx, i, &v);
	return v;
}

/* The word of `born` holding id's bit, or NULL when id is outside the bitmap. */
static __always_inline __u64 *born_word(__u64 id, __u64 *bit)
{
	__u64 base = born_base;
	if (!base || id < base || id - base >= (__u64)TSC_BORN_WORDS * 64)
		return NULL;
	__u32 w = (__u32)((id - base) >> 6);
	*bit = 1ull << ((id - base) & 63);
	return bpf_map_lookup_elem(&born, &w);
}

static __always_inline void born_set(__u64 id)
{
	__u64 bit, *w;
	if (!born_base)
		__sync_val_compare_and_swap(&born_base, 0, id);
	w = born_word(id, &bit);
	if (w)
		__sync_fetch_and_or(w, bit);
}

/* The record of task id, inserted with only its id and tid if the task predates the attach. */
static __always_inline struct tsc_task_rec *task_get(__u64 id, __u32 tid)
{
	struct tsc_task_rec *t = bpf_map_lookup_elem(&live, &id);
	if (t)
		return t;
	/* On the stack, not in a per-CPU buffer: a preempted run would share it with the next. */
	struct tsc_task_rec n = { .id = id, .tid = tid, .state = TS_READY };
	long err = bpf_map_update_elem(&live, &id, &n, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		count(TSC_C_LIVE_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&live, &id);
}

/* a subprogram: its own stack frame in tsc_multi */
static __noinline int on_task_create(struct pt_regs *ctx)
{
	if (!in_target(TSC_C_TASK_CREATE))
		return 0;
	__u64 id = arg(ctx, 0, ctx->di), parent = arg(ctx, 1, ctx->si);
	const char *name = (const char *)arg(ctx, 2, ctx->dx);
	const char *coro = (const char *)arg(ctx, 3, ctx->cx);
	__u64 tid = arg(ctx, 4, ctx->r8);
	if (!targ_state) {
		if (targ_emit)
			emit_str(TSC_REC_CREATE, id, parent, tid, NULL, NULL, name, coro);
		return 0;
	}
	struct tsc_task_rec rec, *t = &rec; /* on the stack: see task_get */
	t->id = id;
	t->parent = parent;
	t->wait_obj = 0;
	t->created_ns = bpf_ktime_get_ns();
	t->updated_ns = 0;
	t->switches = 0;
	t->state = 0; /* TS_PENDING */
	t->wait = TS_WAIT_NONE;
	t->tid = (__u32)tid;
	t->flags = TSC_TF_CREATED;
	if (bpf_probe_read_user_str(t->name, sizeof(t->name), name) < 0 ||
	    bpf_probe_read_user_str(t->coro, sizeof(t->coro), coro) < 0) {
		t->flags |= TSC_TF_NAME_ERR;
		count(TSC_C_READ_ERR);
	}
	if (bpf_map_update_elem(&live, &id, t, BPF_ANY))
		count(TSC_C_LIVE_FULL); /* full, or its bucket lock failed: the task is lost */
	else
		born_set(id);
	if (targ_emit)
		emit_str(TSC_REC_CREATE, id, parent, tid, t->name, t->coro, NULL, NULL);
	return 0;
}

/* a subprogram: its own stack frame in tsc_multi */
static __noinline int on_task_finish(struct pt_regs *ctx)
{
	if (!in_target(TSC_C_TASK_FINISH))
		return 0;
	__u64 id = arg(ctx, 0, ctx->di), outcome = arg(ctx, 1, ctx->si), bit = 0;
	if (!targ_state) {
		if (targ_emit)
			emit(TSC_REC_FINISH, id, outcome, 0);
		return 0;
	}
	__u64 *w = born_word(id, &bit);
	/* A task born under our probes is known finished once gone from `live`. Any other is
	 * recorded, before it leaves `live`: a reader between the two sees it in both maps, and
	 * finished wins; never in neither. */
	struct tsc_fin_rec f = { .ts_ns = bpf_ktime_get_ns(), .outcome = (__u32)outcome };
	bool recorded = false;
	if (id < fin_below && (!w || !(*w & bit))) {
		if (bpf_map_update_elem(&finished, &id, &f, BPF_ANY))
			count(TSC_C_FINISHED_FULL);
		else
			recorded = true;
	}
	/* The hash map's bucket lock can fail an operation (-EBUSY when nested on this CPU;
	 * -ETIMEDOUT or -EDEADLK from the resilient spinlock under contention): the record
	 * would then stay and resurrect the task. Record the finish instead; finished wins. */
	long err = bpf_map_delete_elem(&live, &id);
	if (err && err != -ENOENT) {
		count(TSC_C_MAP_ERR);
		if (!recorded && bpf_map_update_elem(&finished, &id, &f, BPF_ANY))
			count(TSC_C_FINISHED_FULL);
	}
	if (targ_emit)
		emit(TSC_REC_FINISH, id, outcome, 0);
	return 0;
}

/* a subprogram: its own stack frame in tsc_multi */
static __noinline int on_task_rename(struct pt_regs *ctx)
{
	if (!in_target(TSC_C_TASK_RENAME))
		return 0;
	__u64 id = arg(ctx, 0, ctx->di);
	const char *name = (const char *)arg(ctx, 1, ctx->si);
	if (!targ_state) {
		if (targ_emit)
			emit_str(TSC_REC_RENAME, id, 0, 0, NULL, NULL, name, NULL);
		return 0;
	}
	struct tsc_task_rec *t = task_get(id, 0);
	if (!t) {
		/* not in `live` (full): the event still goes to the ring buffer */
		if (targ_emit)
			emit_str(TSC_REC_RENAME, id, 0, 0, NULL, NULL, name, NULL);
		return 0;
	}
	if (bpf_probe_read_user_str(t->name, sizeof(t->name), name) < 0) {
		t->flags |= TSC_TF_NAME_ERR;
		count(TSC_C_READ_ERR);
	} else {
		t->flags |= TSC_TF_RENAMED;
	}
	if (targ_emit)
		emit_str(TSC_REC_RENAME, id, 0, 0, t->name, NULL, NULL, NULL);
	return 0;
}

/* a subprogram: its own stack frame in tsc_multi */
static __noinline int on_task_switch(struct pt_regs *ctx)
{
	if (!in_target(TSC_C_TASK_SWITCH))
		return 0;
	__u64 prev = arg(ctx, 0, ctx->di), next = arg(ctx, 1, ctx->si);
	if (!targ_state) {
		if (targ_emit)
			emit(TSC_REC_SWITCH, prev, next, 0);
		return 0;
	}
	__u64 now = bpf_ktime_get_ns();
	__u32 tid = current_tid();
	struct tsc_thread_rec *th = bpf_map_lookup_elem(&threads, &tid);
	if (th) {
		th->current = next;
		th->since_ns = now;
		th->flags |= TSC_THF_SWITCHED;
	} else {
		struct tsc_thread_rec n = { .current = next, .since_ns = now,
					    .flags = TSC_THF_SWITCHED };
		if (bpf_map_update_elem(&threads, &tid, &n, BPF_ANY))
			count(TSC_C_THREADS_FULL);
	}
	if (prev) {
		/* Without a wait event before it, a switched-out task was preempted by a yield
		 * we did not see, or we do not trace waits: ready is the best guess. */
		struct tsc_task_rec *p = bpf_map_lookup_elem(&live, &prev);
		if (p && p->state == TS_RUNNING) {
			p->state = TS_READY;
			p->updated_ns = now;
			p->flags |= TSC_TF_STATE;
		}
	}
	if (next) {
		struct tsc_task_rec *t = task_get(next, tid);
		if (t) {
			t->state = TS_RUNNING;
			t->wait = TS_WAIT_NONE;
			t->wait_obj = 0;
			t->switches++;
			t->updated_ns = now;
			t->flags |= TSC_TF_STATE;
		}
	}
	if (targ_emit)
		emit(TSC_REC_SWITCH, prev, next, 0);
	return 0;
}

/* a subprogram: its own stack frame in tsc_multi */
static __noinline int on_task_wait(struct pt_regs *ctx)
{
	if (!in_target(TSC_C_TASK_WAIT))
		return 0;
	__u64 id = arg(ctx, 0, ctx->di), reason = arg(ctx, 1, ctx->si), obj = arg(ctx, 2, ctx->dx);
	if (!targ_state) {
		if (targ_emit)
			emit(TSC_REC_WAIT, id, reason, obj);
		return 0;
	}
	struct tsc_task_rec *t = task_get(id, current_tid());
	if (t) {
		t->state = reason == TS_WAIT_YIELD ? TS_READY : TS_WAITING;
		t->wait = (__u32)reason;
		t->wait_obj = obj;
		t->updated_ns = bpf_ktime_get_ns();
		t->flags |= TSC_TF_STATE;
	}
	if (targ_emit)
		emit(TSC_REC_WAIT, id, reason, obj);
	return 0;
}

static __always_inline void thread_event(__u64 loop, __u64 tid, bool start)
{
	__u32 key = (__u32)tid;
	struct tsc_thread_rec n = {
		.loop_id = loop,
		.since_ns = bpf_ktime_get_ns(),
		.flags = start ? TSC_THF_STARTED | TSC_THF_SWITCHED : TSC_THF_STOPPED,
	};
	if (bpf_map_update_elem(&threads, &key, &n, BPF_ANY))
		count(TSC_C_THREADS_FULL);
}

/* a subprogram: its own stack frame in tsc_multi */
static __noinline int on_thread_start(struct pt_regs *ctx)
{
	if (!in_target(TSC_C_THREAD_START))
		return 0;
	__u64 loop = arg(ctx, 0, ctx->di), tid = arg(ctx, 1, ctx->si);
	if (targ_state)
		thread_event(loop, current_tid(), true); /* fired by the loop thread itself */
	if (targ_emit)
		emit(TSC_REC_THREAD_START, loop, tid, 0);
	return 0;
}

/* a subprogram: its own stack frame in tsc_multi */
static __noinline int on_thread_stop(struct pt_regs *ctx)
{
	if (!in_target(TSC_C_THREAD_STOP))
		return 0;
	__u64 loop = arg(ctx, 0, ctx->di), tid = arg(ctx, 1, ctx->si);
	if (targ_state)
		thread_event(loop, current_tid(), false);
	if (targ_emit)
		emit(TSC_REC_THREAD_STOP, loop, tid, 0);
	return 0;
}

/* One program per probe, each attached by libbpf's USDT support (bpf_program__attach_usdt). */
SEC("usdt")
int task_create(struct pt_regs *ctx)
{
	return on_task_create(ctx);
}

SEC("usdt")
int task_finish(struct pt_regs *ctx)
{
	return on_task_finish(ctx);
}

SEC("usdt")
int task_rename(struct pt_regs *ctx)
{
	return on_task_rename(ctx);
}

SEC("usdt")
int task_switch(struct pt_regs *ctx)
{
	return on_task_switch(ctx);
}

SEC("usdt")
int task_wait(struct pt_regs *ctx)
{
	return on_task_wait(ctx);
}

SEC("usdt")
int thread_start(struct pt_regs *ctx)
{
	return on_thread_start(ctx);
}

SEC("usdt")
int thread_stop(struct pt_regs *ctx)
{
	return on_thread_stop(ctx);
}

/* Or one program for every probe site, attached with a single uprobe-multi link whose cookie
 * per site says which probe it is: one link to create, and one to release (each release waits
 * for an RCU grace period, about 0.1 s here). Used when the notes follow the probe ABI's
 * registers, so no per-site argument spec is needed. */
SEC("usdt")
int tsc_multi(struct pt_regs *ctx)
{
	switch (bpf_get_attach_cookie(ctx)) {
	case TSC_K_TASK_CREATE: return on_task_create(ctx);
	case TSC_K_TASK_FINISH: return on_task_finish(ctx);
	case TSC_K_TASK_RENAME: return on_task_rename(ctx);
	case TSC_K_TASK_SWITCH: return on_task_switch(ctx);
	case TSC_K_TASK_WAIT: return on_task_wait(ctx);
	case TSC_K_THREAD_START: return on_thread_start(ctx);
	case TSC_K_THREAD_STOP: return on_thread_stop(ctx);
	}
	return 0;
}

/* The target exec'd (any of its threads: the tgid stays): the end of what we trace. With the
 * ring buffer on, a record after every event of the old image, so that a recording ends
 * exactly there. A raw tracepoint: no tracefs needed. */
SEC("raw_tp/sched_process_exec")
int BPF_PROG(tsc_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid || exec_seen)
		return 0; /* only the first: whatever comes later is not the program we traced */
	exec_seen = true;
	count(TSC_C_EXEC);
	if (!targ_emit)
		return 0;
	struct tsc_rec_event *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count(TSC_C_RB_DROPS); /* user space still sees TSC_C_EXEC */
		return 0;
	}
	rec_hdr(&r->hdr, TSC_REC_EXEC, sizeof(*r));
	r->a[0] = (__u32)old_pid;
	r->a[1] = targ_tgid;
	r->a[2] = 0;
	r->a[3] = 0;
	r->a[4] = 0;
	const char *file = BPF_CORE_READ(bprm, filename);
	if (!file || bpf_probe_read_kernel_str(r->str, sizeof(r->str) + sizeof(r->str2), file) < 0)
		r->str[0] = 0;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	return 0;
}
