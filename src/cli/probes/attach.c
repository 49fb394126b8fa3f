// SPDX-License-Identifier: MIT
/* The BPF half of the attach protocol: load bpf/taskscope.bpf.c filtered on the target's tgid,
 * attach its USDT programs, and later merge what they saw into a registry snapshot. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "probes/attach.h"
#include "probes/bpfmap.h"
#include "cli.h"
#include "probes/compat.h"
#include "probes/reconcile.h"
#include "target/remote.h"
#include "target/tids.h"
#include "testhooks.h"
#include "probes/usdt_attach.h"
#include "events.h"
#include "taskscope.skel.h"

_Static_assert(TSC_NAME_LEN == sizeof(((struct tsc_task *)0)->name), "name length");
_Static_assert(TSC_CORO_LEN == sizeof(((struct tsc_task *)0)->coro), "coro length");

struct tsc_bpf {
	struct taskscope_bpf *skel;
	struct tsc_usdt_links usdt;
	int pid;
	unsigned probes;
	int procfd;      /* /proc/PID, the remote's: to map the target's thread ids to ours */
	struct bpf_link *exec_link; /* the sched_process_exec tracepoint, NULL if it failed */
	const volatile uint64_t *born; /* the `born` bitmap, mapped read-only */
	size_t born_len;
	uint64_t next_id;  /* the floor given to tsc_bpf_set_next_id, 0 = none */
	int emit;          /* the ring buffer is on */
	int events_only;   /* ... and the task and thread maps are not kept */
	size_t ringbuf_bytes;
	struct ring_buffer *rb;
	tsc_bpf_rec_fn rec_fn;
	void *rec_ctx;
	long drain_left;   /* records tsc_bpf_drain may still hand over; < 0 = no limit */
	long drained;
	bool budget_hit;
};

/* In the order they are attached, each one taking milliseconds: task_finish before
 * task_create, so that every task whose creation we see has its finish seen too (the other
 * way round, a task created and finished in between would stay live forever). The cookie is
 * the enum tsc_probe_kind that tsc_multi dispatches on. */
static const struct tsc_usdt_probe probe_defs[] = {
	{ "task_finish", "8@%rdi 8@%rsi", TSC_K_TASK_FINISH },
	{ "task_rename", "8@%rdi 8@%rsi", TSC_K_TASK_RENAME },
	{ "task_create", "8@%rdi 8@%rsi 8@%rdx 8@%rcx 8@%r8", TSC_K_TASK_CREATE },
	{ "task_switch", "8@%rdi 8@%rsi", TSC_K_TASK_SWITCH },
	{ "thread_start", "8@%rdi 8@%rsi", TSC_K_THREAD_START },
	{ "thread_stop", "8@%rdi 8@%rsi", TSC_K_THREAD_STOP },
	{ "task_wait", "8@%rdi 8@%rsi 8@%rdx", TSC_K_TASK_WAIT },
};
#define NPROBES (sizeof(probe_defs) / sizeof(probe_defs[0]))
/* the TSC_PROBES_* group of each */
static const unsigned probe_group[NPROBES] = {
	TSC_PROBES_LIFECYCLE, TSC_PROBES_LIFECYCLE, TSC_PROBES_LIFECYCLE,
	TSC_PROBES_SWITCH, TSC_PROBES_SWITCH, TSC_PROBES_SWITCH, TSC_PROBES_WAIT,
};

static void unload(void *ctx)
{
	struct tsc_bpf *b = ctx;
	bpf_link__destroy(b->exec_link);
	b->exec_link = NULL;
	ring_buffer__free(b->rb);
	b->rb = NULL;
	if (b->born)
		munmap((void *)b->born, b->born_len);
	b->born = NULL;
	taskscope_bpf__destroy(b->skel);
	b->skel = NULL;
}

void tsc_bpf_unlink(struct tsc_bpf *b)
{
	if (!b)
		return;
	tsc_usdt_release(&b->usdt);
	bpf_link__destroy(b->exec_link);
	b->exec_link = NULL;
}

void tsc_bpf_detach(struct tsc_bpf *b)
{
	if (!b)
		return;
	tsc_bpf_unlink(b);
	unload(b);
	free(b);
}

static struct bpf_program *prog(void *ctx, int i)
{
	struct tsc_bpf *b = ctx;
	if (i < 0)
		return b->skel->progs.tsc_multi;
	return bpf_object__find_program_by_name(b->skel->obj, probe_defs[i].name);
}

/* The object for `probes`: the one tsc_multi program, or one program per probe. */
static int open_obj(void *ctx, bool multi, bool reg_args)
{
	struct tsc_bpf *b = ctx;
	const struct tsc_testhooks *th = tsc_testhooks();
	int err;

	b->skel = taskscope_bpf__open();
	if (!b->skel) {
		err = -errno;
		fprintf(stderr, "taskscope: cannot open the BPF object: %s\n", strerror(-err));
		return err;
	}
	b->skel->rodata->targ_tgid = b->pid;
	b->skel->rodata->targ_reg_args = reg_args;
	if (b->emit) {
		b->skel->rodata->targ_emit = true;
		b->skel->rodata->targ_state = !b->events_only;
		err = bpf_map__set_max_entries(b->skel->maps.events, (__u32)b->ringbuf_bytes);
		if (err) {
			fprintf(stderr, "taskscope: cannot size the ring buffer to %zu bytes: %s\n",
				b->ringbuf_bytes, strerror(-err));
			return err;
		}
	}
	if (th->max_finished > 0)
		bpf_map__set_max_entries(b->skel->maps.finished, (__u32)th->max_finished);
	if (th->max_live > 0)
		bpf_map__set_max_entries(b->skel->maps.live, (__u32)th->max_live);
	for (size_t i = 0; i < NPROBES; i++) {
		struct bpf_program *p = prog(b, (int)i);
		if (!p) {
			fprintf(stderr, "taskscope: internal error: no BPF program %s\n",
				probe_defs[i].name);
			return -ENOENT;
		}
		bpf_program__set_autoload(p, !multi && (probe_group[i] & b->probes));
	}
	bpf_program__set_autoload(b->skel->progs.tsc_multi, multi);
	if (multi)
		bpf_program__set_expected_attach_type(b->skel->progs.tsc_multi,
						      TSC_BPF_TRACE_UPROBE_MULTI);
	return 0;
}

static int load_obj(void *ctx)
{
	struct tsc_bpf *b = ctx;
	return taskscope_bpf__load(b->skel);
}

/* Once loaded: map `born`, and watch for an exec of the target. */
static int prepare_obj(void *ctx)
{
	struct tsc_bpf *b = ctx;
	b->born_len = (size_t)bpf_map__max_entries(b->skel->maps.born) * sizeof(uint64_t);
	b->born = mmap(NULL, b->born_len, PROT_READ, MAP_SHARED,
		       bpf_map__fd(b->skel->maps.born), 0);
	if (b->born == MAP_FAILED) {
		int err = -errno;
		b->born = NULL;
		fprintf(stderr, "taskscope: cannot map a BPF map: %s\n", strerror(-err));
		return err;
	}
	/* Before the probes: an exec of the target is seen from the first probe event on. Not
	 * fatal: the callers also notice an exec by the target's memory (tsc_remote_execd). */
	b->exec_link = bpf_program__attach_raw_tracepoint(b->skel->progs.tsc_exec,
							  "sched_process_exec");
	if (!b->exec_link && tsc_verbose)
		fprintf(stderr, "taskscope: no sched_process_exec tracepoint (%s): an exec is "
				"noticed later\n", strerror(errno));
	return 0;
}

int tsc_bpf_attach(struct tsc_remote *r, unsigned probes, struct tsc_bpf **out)
{
	struct tsc_bpf_opts o = { .probes = probes };
	return tsc_bpf_attach_opts(r, &o, out);
}

int tsc_bpf_attach_opts(struct tsc_remote *r, const struct tsc_bpf_opts *opts,
			struct tsc_bpf **out)
{
	struct tsc_bpf *b;
	unsigned probes = opts ? opts->probes : 0;
	size_t rbsz = opts && opts->ringbuf_bytes ? opts->ringbuf_bytes : TSC_RINGBUF_DEFAULT;
	long page = sysconf(_SC_PAGESIZE);
	int err;

	*out = NULL;
	if (!r || !tsc_remote_binary(r) || !(probes & TSC_PROBES_ALL))
		return -EINVAL;
	if (opts->emit && (rbsz & (rbsz - 1) || rbsz < (size_t)page || rbsz > (1ul << 31)))
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->pid = r->pid;
	b->probes = probes;
	b->procfd = r->procfd;
	b->usdt.multi_fd = -1;
	b->emit = opts->emit;
	b->events_only = opts->emit && opts->events_only;
	b->ringbuf_bytes = rbsz;

	struct tsc_usdt_req req = {
		.who = "taskscope", .pid = r->pid, .binary = tsc_remote_binary(r),
		.probes = probe_defs, .nprobes = NPROBES,
	};
	for (size_t i = 0; i < NPROBES; i++)
		if (probe_group[i] & probes)
			req.want |= 1u << i;
	const struct tsc_usdt_object obj = {
		.ctx = b, .open = open_obj, .load = load_obj, .prepare = prepare_obj,
		.close = unload, .prog = prog,
	};
	if ((err = tsc_usdt_attach(&req, &obj, &b->usdt)))
		goto cleanup;
	/* The target may have exited while we attached: then nothing would ever fire, and the
	 * caller's snapshot read fails on its own, but say it here for a clear message. */
	if (!tsc_remote_alive(r)) {
		err = -ESRCH;
		fprintf(stderr, "taskscope: process %d exited during attach\n", r->pid);
		goto cleanup;
	}
	tsc_test_attach_hold();
	*out = b;
	return 0;

cleanup:
	tsc_bpf_detach(b);
	return err;
}

int tsc_bpf_set_next_id(struct tsc_bpf *b, uint64_t next_id)
{
	if (!b || !next_id || b->next_id)
		return -EINVAL;
	b->next_id = next_id;
	/* .data is mmap-ed: a plain store, seen by the programs' next runs */
	__atomic_store_n(&b->skel->data->fin_below, next_id, __ATOMIC_RELEASE);
	return 0;
}

/* ---- the ring buffer and the counters, for exact tracing ---- */

static int rb_sample(void *ctx, void *data, size_t size)
{
	struct tsc_bpf *b = ctx;
	int err = b->rec_fn(b->rec_ctx, data, size);
	if (err)
		return err < 0 ? err : -EINVAL;
	b->drained++;
	/* libbpf stops at a negative return, with this record consumed: a budget */
	if (b->drain_left > 0 && --b->drain_left == 0) {
		b->budget_hit = true;
		return -EAGAIN;
	}
	return 0;
}

int tsc_bpf_events_open(struct tsc_bpf *b, tsc_bpf_rec_fn fn, void *ctx)
{
	if (!b || !fn || !b->emit || b->rb)
		return -EINVAL;
	b->rec_fn = fn;
	b->rec_ctx = ctx;
	b->rb = ring_buffer__new(bpf_map__fd(b->skel->maps.events), rb_sample, b, NULL);
	if (!b->rb) {
		int err = -errno;
		fprintf(stderr, "taskscope: cannot map the BPF ring buffer: %s\n", strerror(-err));
		return err;
	}
	return 0;
}

int tsc_bpf_events_consumer(struct tsc_bpf *b, tsc_bpf_rec_fn fn, void *ctx)
{
	if (!b || !fn || !b->rb)
		return -EINVAL;
	b->rec_fn = fn;
	b->rec_ctx = ctx;
	return 0;
}

long tsc_bpf_drain(struct tsc_bpf *b, long max)
{
	if (!b || !b->rb)
		return -EINVAL;
	b->drained = 0;
	b->drain_left = max > 0 ? max : -1;
	b->budget_hit = false;
	int err = ring_buffer__consume(b->rb);
	if (err < 0 && !(err == -EAGAIN && b->budget_hit))
		return err;
	return b->drained;
}

static int read_counters(struct tsc_bpf *b, uint64_t sums[TSC_C_NR]);

int tsc_bpf_counters(struct tsc_bpf *b, uint64_t *sums, size_t n)
{
	uint64_t all[TSC_C_NR];
	if (!b || !b->skel || n > TSC_C_NR)
		return -EINVAL;
	int err = read_counters(b, all);
	if (!err)
		memcpy(sums, all, n * sizeof(*sums));
	return err;
}

/* ---- reading the maps ---- */

static int read_counters(struct tsc_bpf *b, uint64_t sums[TSC_C_NR])
{
	return tsc_bpfmap_percpu_sums(bpf_map__fd(b->skel->maps.counters), sums, TSC_C_NR);
}

/* task_create passes the loop's thread id as the target knows it (its pid namespace); the
 * model holds ours. */
static int32_t outer_tid_cb(void *ctx, int32_t inner)
{
	return tsc_tidcache_outer(ctx, inner, 0);
}

/* Read the maps (live, then threads, then finished last: see reconcile.h) and merge them into
 * snap. The maps change while we read them: an entry may be missed or seen twice, which
 * reconciliation tolerates. */
int tsc_bpf_reconcile(struct tsc_bpf *b, struct tsc_snapshot *snap)
{
	struct tsc_bpfmap_dump live = { .ksz = sizeof(__u64), .vsz = sizeof(struct tsc_task_rec) };
	struct tsc_bpfmap_dump thr = { .ksz = sizeof(__u32), .vsz = sizeof(struct tsc_thread_rec) };
	struct tsc_bpfmap_dump fini = { .ksz = sizeof(__u64), .vsz = sizeof(struct tsc_fin_rec) };
	struct tsc_tidcache tids;
	uint64_t sums[TSC_C_NR];
	int err;

	if (!b || !snap || b->events_only)
		return -EINVAL;
	tsc_tidcache_init(&tids, b->procfd, 0);
	tsc_test_reconcile_delay();
	/* born_base first: it is set once, before any bit, so a bit read later is covered */
	uint64_t born_base = __atomic_load_n(&b->skel->bss->born_base, __ATOMIC_ACQUIRE);
	err = tsc_bpfmap_dump(bpf_map__fd(b->skel->maps.live), &live);
	if (!err)
		err = tsc_bpfmap_dump(bpf_map__fd(b->skel->maps.threads), &thr);
	if (!err)
		err = tsc_bpfmap_dump(bpf_map__fd(b->skel->maps.finished), &fini);
	if (!err)
		err = read_counters(b, sums);
	if (err) {
		fprintf(stderr, "taskscope: cannot read the BPF maps: %s\n", strerror(-err));
		goto cleanup;
	}
	const struct tsc_probe_view v = {
		.live = (const void *)live.v, .nlive = live.len,
		.thread_tids = (const void *)thr.k, .threads = (const void *)thr.v,
		.nthreads = thr.len,
		.finished = (const void *)fini.k, .nfinished = fini.len,
		.born = b->born, .born_bits = b->born_len * 8, .born_base = born_base,
		.next_id = b->next_id,
		.outer_tid = outer_tid_cb, .tid_ctx = &tids,
		.counters = sums,
	};
	err = tsc_reconcile(snap, &v);

cleanup:
	tsc_tidcache_free(&tids);
	tsc_bpfmap_dump_free(&live);
	tsc_bpfmap_dump_free(&thr);
	tsc_bpfmap_dump_free(&fini);
	return err;
}
