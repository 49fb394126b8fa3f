/* SPDX-License-Identifier: MIT */
/*
 * top's CPU accounting, through bpf/sampler.bpf.c:
 *  - sampling: one CPU-clock perf event per online CPU, period 1/hz; each sample that lands on
 *    a loop thread of the target counts for the task in that loop's current-task slot. The
 *    target pays nothing per switch; a sample costs a few hundred ns, hz times a second.
 *  - exact: the task_switch probe accumulates switched-in time per task and per thread; or,
 *    from a runtime with event rings, top/exact.c keeps the same records from the rings'
 *    SWITCH records (no BPF), read here alike.
 * Either way a task's CPU time is its thread's, read from the kernel at each refresh, shared
 * among the thread's tasks by their samples or switched-in time (see read_threads).
 * Per-task records are read each refresh and those of finished tasks deleted.
 */
#include "top/top.h"
#include "cli.h"
#include "target/procstat.h"
#include "target/remote.h"
#include "probes/bpfmap.h"
#include "probes/compat.h"
#include "probes/perfev.h"
#include "probes/usdt_attach.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sampler.h"
#include "sampler.skel.h"

struct top_bpf {
	struct sampler_bpf *skel;
	struct tsc_perfev perf;     /* sampling: one perf-event link per CPU */
	struct tsc_usdt_links usdt; /* exact: task_switch */
	struct top_exact *x;        /* exact from the rings: the records kept there (borrowed) */
	int exact;
	int pid;
	int procfd;                 /* borrowed from the remote */
	uint64_t period_ns;         /* sampling: ns of CPU time per sample */
	uint16_t current_off;       /* desc.loop_current_id */
	int32_t *slot_tids;         /* threads given a slot, to take back when they go */
	size_t nslot_tids;
	struct tsc_bpfmap_dump tasks; /* task_stats, read each refresh into the same room */
	struct tsc_idmap by_tid;    /* thread id -> index in the model's threads */
	uint64_t attach_ns;         /* exact: when the probe was attached (the BPF's attach_ns) */
	uint64_t *dead;
	size_t dead_cap;
};

/* A share of one CPU: sampling may count a sample more than the interval held. */
static double share(double pct)
{
	return pct > 100 ? 100 : pct;
}

void top_bpf_close(struct top_bpf *s)
{
	if (!s)
		return;
	tsc_perfev_close(&s->perf);
	tsc_usdt_release(&s->usdt);
	sampler_bpf__destroy(s->skel);
	free(s->slot_tids);
	tsc_bpfmap_dump_free(&s->tasks);
	tsc_idmap_free(&s->by_tid);
	free(s->dead);
	free(s);
}

static int open_obj(void *ctx, bool multi, bool reg_args)
{
	struct top_bpf *s = ctx;
	s->skel = sampler_bpf__open();
	if (!s->skel) {
		int err = -errno;
		fprintf(stderr, "taskscope top: cannot open the sampler's BPF object: %s\n",
			strerror(-err));
		return err;
	}
	s->skel->rodata->targ_tgid = (__u32)s->pid;
	s->skel->rodata->targ_reg_args = reg_args;
	bpf_program__set_autoload(s->skel->progs.tss_sample, !s->exact);
	bpf_program__set_autoload(s->skel->progs.tss_switch, s->exact);
	if (multi)
		bpf_program__set_expected_attach_type(s->skel->progs.tss_switch,
						      TSC_BPF_TRACE_UPROBE_MULTI);
	return 0;
}

static int load_obj(void *ctx)
{
	struct top_bpf *s = ctx;
	return sampler_bpf__load(s->skel);
}

static void close_obj(void *ctx)
{
	struct top_bpf *s = ctx;
	sampler_bpf__destroy(s->skel);
	s->skel = NULL;
}

static struct bpf_program *switch_prog(void *ctx, int i)
{
	struct top_bpf *s = ctx;
	(void)i; /* the one program, in one link or alone */
	return s->skel->progs.tss_switch;
}

static const struct tsc_usdt_probe switch_probe[] = {
	{ "task_switch", "8@%rdi 8@%rsi", 0 },
};

int top_bpf_open(struct top_model *m, struct tsc_remote *r, struct top_exact *x,
		 struct top_bpf **out)
{
	struct top_bpf *s = calloc(1, sizeof(*s));
	int err;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->usdt.multi_fd = -1;
	s->tasks.ksz = sizeof(uint64_t);
	s->tasks.vsz = sizeof(struct tss_task);
	s->pid = m->pid;
	s->exact = m->exact;
	s->procfd = r->procfd;
	s->current_off = r->desc.loop_current_id;
	s->period_ns = 1000000000ull / (uint64_t)(m->hz > 0 ? m->hz : 99);
	if (s->exact && x) {
		s->x = x;
		s->attach_ns = top_exact_attach_ns(x);
		err = 0;
	} else if (s->exact) {
		const struct tsc_usdt_req req = {
			.who = "taskscope top", .pid = m->pid, .binary = tsc_remote_binary(r),
			.probes = switch_probe, .nprobes = 1, .want = 1,
		};
		const struct tsc_usdt_object obj = {
			.ctx = s, .open = open_obj, .load = load_obj, .close = close_obj,
			.prog = switch_prog,
		};
		if (!(err = tsc_usdt_attach(&req, &obj, &s->usdt))) {
			/* from now on every switch is seen (bpf_ktime_get_ns is CLOCK_MONOTONIC) */
			s->attach_ns = tsc_now_ns();
			s->skel->bss->attach_ns = s->attach_ns;
		}
	} else if (!(err = open_obj(s, false, false))) {
		if ((err = load_obj(s)))
			tsc_usdt_explain_load("taskscope top", err);
		else
			err = tsc_perfev_attach(&s->perf, s->skel->progs.tss_sample, s->period_ns,
						"taskscope top");
	}
	if (err) {
		top_bpf_close(s);
		return err;
	}
	*out = s;
	return 0;
}

/* The thread's id in the records: the kernel's (BPF), or the one its ring holds. */
static int32_t record_tid(const struct top_bpf *s, const struct top_thread *t)
{
	return s->x ? t->inner_tid : t->tid;
}

int top_bpf_set_slots(struct top_bpf *s, const struct top_model *m)
{
	int fd = s->x ? -1 : bpf_map__fd(s->skel->maps.slots), err = 0;
	/* threads gone since the last refresh */
	for (size_t i = 0; i < s->nslot_tids; i++) {
		size_t k;
		for (k = 0; k < m->nthreads && record_tid(s, &m->threads[k]) != s->slot_tids[i]; k++)
			;
		if (k < m->nthreads)
			continue;
		__u32 tid = (__u32)s->slot_tids[i];
		if (s->x) {
			top_exact_forget_thread(s->x, (int32_t)tid);
		} else {
			bpf_map_delete_elem(fd, &tid);
			bpf_map_delete_elem(bpf_map__fd(s->skel->maps.thread_stats), &tid);
		}
	}
	int32_t *nt = realloc(s->slot_tids, (m->nthreads + 1) * sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	s->slot_tids = nt;
	s->nslot_tids = 0;
	for (size_t i = 0; i < m->nthreads; i++) {
		__u32 tid = (__u32)record_tid(s, &m->threads[i]);
		__u64 slot = m->threads[i].loop_addr + s->current_off;
		if (s->x)
			s->slot_tids[s->nslot_tids++] = (int32_t)tid; /* no slots: nothing samples */
		else if (bpf_map_update_elem(fd, &tid, &slot, BPF_ANY))
			err = -errno;
		else
			s->slot_tids[s->nslot_tids++] = (int32_t)tid;
	}
	return err;
}

static int read_counters(struct top_bpf *s, uint64_t sums[TSS_C_NR])
{
	if (!s->x)
		return tsc_bpfmap_percpu_sums(bpf_map__fd(s->skel->maps.counters), sums, TSS_C_NR);
	struct top_exact_counts c;
	top_exact_counts(s->x, &c);
	memset(sums, 0, TSS_C_NR * sizeof(*sums));
	sums[TSS_C_TASKS_FULL] = c.full;
	return 0;
}

/* Every task record, and room to list as many finished ones. */
static int read_tasks(struct top_bpf *s, size_t *n)
{
	s->tasks.len = 0;
	int err = s->x ? top_exact_tasks(s->x, &s->tasks) :
			 tsc_bpfmap_dump(bpf_map__fd(s->skel->maps.task_stats), &s->tasks);
	if (!err)
		err = tsc_grow((void **)&s->dead, &s->dead_cap, s->tasks.len, sizeof(*s->dead));
	*n = s->tasks.len;
	return err;
}

/* The growth of a cumulative figure since *last, which then holds the larger of the two (a
 * figure read lower than before, a race or a lost record, is not counted twice). */
static uint64_t grown(uint64_t now, uint64_t *last)
{
	uint64_t d = now > *last ? now - *last : 0;
	if (now > *last)
		*last = now;
	return d;
}

/* exact: the thread's switched-in time since attach, and the task it runs now and since
 * when. A thread that has not switched since attach runs what the registry read showed,
 * since attach (the BPF program credits that span at its first switch); that task gets a
 * record, so that the records hold every task to credit. */
static uint64_t exact_thread(struct top_bpf *s, struct top_model *m, struct top_thread *t,
			     uint64_t now)
{
	struct tss_thread th;
	__u32 tid = (__u32)record_tid(s, t);
	t->run_current = t->run_since = 0;
	if ((s->x ? top_exact_thread(s->x, (int32_t)tid, &th) :
		    bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.thread_stats), &tid, &th)) ||
	    !th.since_ns) {
		if (!t->current || !s->attach_ns || now <= s->attach_ns)
			return t->run_ns;
		th = (struct tss_thread){ .current = t->current, .since_ns = s->attach_ns,
					  .switches = t->bpf_switches };
		const struct tss_task zero = { 0 };
		if (s->x)
			top_exact_seed(s->x, th.current);
		else
			bpf_map_update_elem(bpf_map__fd(s->skel->maps.task_stats), &th.current,
					    &zero, BPF_NOEXIST);
	}
	/* the switch events: every thread's, since attach, kept when it goes */
	m->s_switch += grown(th.switches, &t->bpf_switches);
	if (!th.current || now <= th.since_ns)
		return th.run_ns;
	t->run_current = th.current;
	t->run_since = th.since_ns;
	return th.run_ns + (now - th.since_ns);
}

/* Each thread's CPU time over the interval, from the kernel, and what its tasks' shares are
 * worth: per-task figures are CPU time, not time switched in (a task preempted, or blocking
 * its thread in a system call, is switched in without running) nor a count of samples. */
static void read_threads(struct top_bpf *s, struct top_model *m, uint64_t now, double dt)
{
	int tfd = s->skel ? bpf_map__fd(s->skel->maps.thread_stats) : -1;
	for (size_t i = 0; i < m->nthreads; i++) {
		struct top_thread *t = &m->threads[i];
		uint64_t sn = tsc_procstat_sched_ns(s->procfd, t->tid);
		uint64_t cpu = t->known && sn >= t->sched_ns ? sn - t->sched_ns : 0;
		double task_ns = 0;
		t->sched_ns = sn;
		t->credit = 0;
		t->unsampled_ns = 0;
		if (s->exact) {
			/* shared by time switched in, never more than that time; from rings that
			 * lost records, the time they told of stands for the interval's */
			uint64_t in = grown(exact_thread(s, m, t, now), &t->run_ns);
			uint64_t gap = s->x ? grown(top_exact_gap_ns(s->x, record_tid(s, t), now),
						    &t->gap_ns) : 0;
			double span = dt * 1e9, scale = gap && gap < span ? span / (span - gap) : 1;
			if (t->known && in) {
				double est = (double)in * scale;
				t->credit = scale * ((double)cpu < est ? (double)cpu / est : 1);
				task_ns = (double)in * t->credit;
			}
		} else {
			/* shared by samples: those of a task against all of the thread's */
			struct tss_thread th;
			__u32 tid = (__u32)t->tid;
			if (!bpf_map_lookup_elem(tfd, &tid, &th)) {
				uint64_t all = grown(th.samples, &t->samples);
				uint64_t tasks = grown(th.task_samples, &t->task_samples);
				if (t->known && all) {
					t->credit = (double)cpu / (double)all;
					task_ns = (double)(tasks < all ? tasks : all) * t->credit;
				}
			}
			/* A thread on a CPU for less than a few sampling periods may draw no
			 * sample: the refresh's read of its current-task slot stands for one. */
			if (t->known && !t->credit && cpu && t->current) {
				t->unsampled_ns = cpu;
				task_ns = (double)cpu;
			}
		}
		t->cpu_pct = t->known && dt > 0 ? share((double)cpu / 1e7 / dt) : 0;
		t->task_pct = dt > 0 ? share(task_ns / 1e7 / dt) : 0;
		t->known = 1;
	}
}

/* Each task's share of its thread this interval: ns switched in (exact, the run in progress
 * included: a task that runs through the interval is credited at every refresh) or samples. */
static uint64_t task_units(const struct top_bpf *s, struct top_task *t, const struct tss_task *v,
			   const struct top_thread *th, uint64_t now)
{
	if (!s->exact)
		return grown(v->samples, &t->bpf_samples);
	uint64_t total = v->cpu_ns;
	if (th && th->run_current == t->id && now > th->run_since)
		total += now - th->run_since;
	return grown(total, &t->bpf_cpu_ns);
}

int top_bpf_read(struct top_bpf *s, struct top_model *m)
{
	uint64_t sums[TSS_C_NR];
	int err = read_counters(s, sums);
	if (err)
		return err;
	m->s_samples = sums[TSS_C_SAMPLES];
	m->s_full = sums[TSS_C_TASKS_FULL] + sums[TSS_C_THREADS_FULL];
	m->s_err = sums[TSS_C_READ_ERR];

	double dt = m->dt > 0 ? m->dt : 0;
	/* exact: what runs now has run since its switch in, up to now; from the rings, up to
	 * their last read (what came after is in them, not read yet) */
	uint64_t now = s->x ? top_exact_read_ns(s->x) : tsc_now_ns();
	read_threads(s, m, now, dt);
	if ((err = tsc_idmap_reset(&s->by_tid, m->nthreads, tsc_hash_key)))
		return err;
	for (size_t i = 0; i < m->nthreads; i++)
		(void)tsc_idmap_put(&s->by_tid, (uint64_t)(uint32_t)m->threads[i].tid, (uint32_t)i);

	size_t n = 0, ndead = 0;
	if ((err = read_tasks(s, &n)))
		return err;
	for (size_t i = 0; i < m->ntasks; i++)
		m->tasks[i].cpu_pct = 0;
	const uint64_t *keys = (const void *)s->tasks.k;
	const struct tss_task *vals = (const void *)s->tasks.v;
	for (size_t i = 0; i < n; i++) {
		uint64_t id = keys[i];
		struct top_task *t = top_find(m, id);
		if (!t) {
			/* not in the registry read: finished, unless created after it began */
			if (id < m->next_id_before)
				s->dead[ndead++] = id;
			continue;
		}
		uint64_t *k = tsc_idmap_get(&s->by_tid, (uint64_t)(uint32_t)t->tid);
		const struct top_thread *th = k ? &m->threads[*k] : NULL;
		double ns = (double)task_units(s, t, &vals[i], th, now) * (th ? th->credit : 0);
		t->cpu_ns += (uint64_t)(ns + 0.5);
		t->cpu_pct = dt > 0 ? share(ns / 1e7 / dt) : 0;
	}
	for (size_t i = 0; i < m->nthreads; i++) {
		const struct top_thread *th = &m->threads[i];
		struct top_task *t = th->unsampled_ns ? top_find(m, th->current) : NULL;
		if (t) {
			t->cpu_ns += th->unsampled_ns;
			t->cpu_pct = dt > 0 ? share((double)th->unsampled_ns / 1e7 / dt) : 0;
		}
	}
	if (ndead && s->x) {
		top_exact_forget(s->x, s->dead, ndead);
	} else if (ndead) {
		int fd = bpf_map__fd(s->skel->maps.task_stats);
		__u32 count = (__u32)ndead;
		if (bpf_map_delete_batch(fd, s->dead, &count, NULL))
			for (size_t i = 0; i < ndead; i++)
				bpf_map_delete_elem(fd, &s->dead[i]);
	}
	return 0;
}
