// SPDX-License-Identifier: (MIT OR GPL-2.0)
/* Keeps the live task set and the current task per thread of one target process in maps,
 * from the taskscope USDT probes. User space merges them with a snapshot of the registry. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "taskscope.h"

/* enum ts_state / ts_wait values used here (include/taskscope/taskscope.h, probe ABI) */
#define TS_READY 1
#define TS_RUNNING 2
#define TS_WAITING 3
#define TS_WAIT_NONE 0
#define TS_WAIT_YIELD 6

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile __u32 targ_tgid = 0;       /* the target, in the root pid namespace */
const volatile __u64 targ_pidns_dev = 0;  /* when the target lives in another pid namespace: */
const volatile __u64 targ_pidns_ino = 0;  /* its nsfs dev and inode, to report its own tids */
const volatile bool targ_emit = false;    /* also write every event to the ring buffer */

/* Set by user space right after attach to the target's next task id, read after the probes
 * were attached: every task from that id on was created under our probes, so it is in `live`
 * while alive and its finish needs no record in `finished` (absence from `live` says it).
 * Until set, every finish is recorded. This keeps `finished` to the tasks older than the
 * attach, however long we stay attached and however fast tasks churn. */
__u64 fin_below = ~0ull;

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

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* user space sizes it for record; a page when unused */
} events SEC(".maps");

/* Scratch for building a task record: too big for comfort on the 512-byte stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tsc_task_rec);
} scratch SEC(".maps");

static __always_inline void count(__u32 c)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &c);
	if (v)
		*v += 1; /* per-CPU: no atomics needed */
}

/* True when the probe fired in the target. A forked child keeps the probes patched in its
 * copy of the text but has another tgid: its events must never count as the target's. */
static __always_inline bool in_target(__u32 ev)
{
	if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid) {
		count(TSC_C_FOREIGN);
		return false;
	}
	count(ev);
	return true;
}

/* The calling thread's id as the target sees it (gettid() in its pid namespace). */
static __always_inline __u32 current_tid(void)
{
	if (targ_pidns_ino) {
		struct bpf_pidns_info ns = {};
		if (!bpf_get_ns_current_pid_tgid(targ_pidns_dev, targ_pidns_ino, &ns, sizeof(ns)))
			return ns.pid;
	}
	return (__u32)bpf_get_current_pid_tgid();
}

static __always_inline void emit(__u32 type, __u64 a0, __u64 a1, __u64 a2, __u64 a3,
				 const char *str, const char *str2)
{
	struct tsc_rec_event *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count(TSC_C_RB_DROPS);
		return;
	}
	r->hdr.type = type;
	r->hdr.size = sizeof(*r);
	r->hdr.ts_ns = bpf_ktime_get_ns();
	r->hdr.tid = current_tid();
	r->hdr.cpu = bpf_get_smp_processor_id();
	r->a[0] = a0;
	r->a[1] = a1;
	r->a[2] = a2;
	r->a[3] = a3;
	r->a[4] = 0;
	r->str[0] = 0;
	r->str2[0] = 0;
	if (str)
		bpf_probe_read_user_str(r->str, sizeof(r->str), str);
	if (str2)
		bpf_probe_read_user_str(r->str2, sizeof(r->str2), str2);
	/* No wakeup: a wakeup per event costs the target microseconds; the reader polls. */
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
}

/* The record of task id, inserted with only its id and tid if the task predates the attach. */
static __always_inline struct tsc_task_rec *task_get(__u64 id, __u32 tid)
{
	struct tsc_task_rec *t = bpf_map_lookup_elem(&live, &id);
	if (t)
		return t;
	__u32 zero = 0;
	t = bpf_map_lookup_elem(&scratch, &zero);
	if (!t)
		return NULL;
	__builtin_memset(t, 0, sizeof(*t));
	t->id = id;
	t->tid = tid;
	t->state = TS_READY;
	long err = bpf_map_update_elem(&live, &id, t, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		count(TSC_C_LIVE_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&live, &id);
}

SEC("usdt")
int BPF_USDT(task_create, __u64 id, __u64 parent, const char *name, const char *coro, __u64 tid)
{
	if (!in_target(TSC_C_TASK_CREATE))
		return 0;
	__u32 zero = 0;
	struct tsc_task_rec *t = bpf_map_lookup_elem(&scratch, &zero);
	if (!t)
		return 0;
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
		count(TSC_C_LIVE_FULL);
	if (targ_emit)
		emit(TSC_REC_CREATE, id, parent, 0, 0, t->name, t->coro);
	return 0;
}

SEC("usdt")
int BPF_USDT(task_finish, __u64 id, __u64 outcome)
{
	if (!in_target(TSC_C_TASK_FINISH))
		return 0;
	/* Record the finish before forgetting the task: a reader between the two sees it in
	 * both maps, and finished wins; never in neither. */
	if (id < fin_below) {
		struct tsc_fin_rec f = { .ts_ns = bpf_ktime_get_ns(), .outcome = (__u32)outcome };
		if (bpf_map_update_elem(&finished, &id, &f, BPF_ANY))
			count(TSC_C_FINISHED_FULL);
	}
	bpf_map_delete_elem(&live, &id);
	if (targ_emit)
		emit(TSC_REC_FINISH, id, outcome, 0, 0, NULL, NULL);
	return 0;
}

SEC("usdt")
int BPF_USDT(task_rename, __u64 id, const char *name)
{
	if (!in_target(TSC_C_TASK_RENAME))
		return 0;
	struct tsc_task_rec *t = task_get(id, 0);
	if (!t)
		return 0;
	if (bpf_probe_read_user_str(t->name, sizeof(t->name), name) < 0) {
		t->flags |= TSC_TF_NAME_ERR;
		count(TSC_C_READ_ERR);
	} else {
		t->flags |= TSC_TF_RENAMED;
	}
	if (targ_emit)
		emit(TSC_REC_RENAME, id, 0, 0, 0, t->name, NULL);
	return 0;
}

SEC("usdt")
int BPF_USDT(task_switch, __u64 prev, __u64 next)
{
	if (!in_target(TSC_C_TASK_SWITCH))
		return 0;
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
		emit(TSC_REC_SWITCH, prev, next, 0, 0, NULL, NULL);
	return 0;
}

SEC("usdt")
int BPF_USDT(task_wait, __u64 id, __u64 reason, __u64 obj)
{
	if (!in_target(TSC_C_TASK_WAIT))
		return 0;
	struct tsc_task_rec *t = task_get(id, current_tid());
	if (t) {
		t->state = reason == TS_WAIT_YIELD ? TS_READY : TS_WAITING;
		t->wait = (__u32)reason;
		t->wait_obj = obj;
		t->updated_ns = bpf_ktime_get_ns();
		t->flags |= TSC_TF_STATE;
	}
	if (targ_emit)
		emit(TSC_REC_WAIT, id, reason, obj, 0, NULL, NULL);
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

SEC("usdt")
int BPF_USDT(thread_start, __u64 loop, __u64 tid)
{
	if (!in_target(TSC_C_THREAD_START))
		return 0;
	thread_event(loop, tid, true);
	if (targ_emit)
		emit(TSC_REC_THREAD_START, loop, tid, 0, 0, NULL, NULL);
	return 0;
}

SEC("usdt")
int BPF_USDT(thread_stop, __u64 loop, __u64 tid)
{
	if (!in_target(TSC_C_THREAD_STOP))
		return 0;
	thread_event(loop, tid, false);
	if (targ_emit)
		emit(TSC_REC_THREAD_STOP, loop, tid, 0, 0, NULL, NULL);
	return 0;
}
