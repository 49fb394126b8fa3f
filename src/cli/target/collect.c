/* SPDX-License-Identifier: MIT */
/* The attach protocol, one entry for every command: open the target, check the capabilities,
 * find the runtime, attach the probes, then (ps, tree) the snapshot and reconcile; and every
 * failure of it to one exit code. */
#include "target/collect.h"
#include "probes/attach.h"
#include "cli.h"
#include "opts.h"
#include "out/out.h"
#include "target/remote.h"
#include "stacks/sites.h"
#include "stacks/stacks.h"
#include "stacks/symbolize.h"
#include "target/core.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int tsc_report_exec(struct tsc_remote *r)
{
	char exe[512], safe[TSC_TEXT_SIZE(512)];
	if (!tsc_remote_execd(r))
		return 0;
	tsc_remote_exe(r, exe, sizeof(exe));
	tsc_esc(safe, sizeof(safe), exe); /* the target chose that name */
	fprintf(stderr, "taskscope: target %d exec'd %s; stopping\n", r->pid, safe);
	return TSC_EXIT_EXECED;
}

int tsc_remote_report(struct tsc_remote *r, int err, int opened)
{
	int pid = r ? r->pid : 0;
	const char *detail = r && r->err[0] ? r->err : strerror(-err);
	int rc;

	/* an exec under our reads makes them fail in any way: that is the news */
	if (opened && (rc = tsc_report_exec(r)))
		return rc;
	if (opened && r && !tsc_remote_alive(r)) {
		fprintf(stderr, "taskscope: process %d exited while taskscope was reading it\n", pid);
		return TSC_EXIT_EXITED;
	}
	char msg[TSC_TEXT_SIZE(sizeof(r->err))];
	fprintf(stderr, "taskscope: %s\n", tsc_esc(msg, sizeof(msg), detail)); /* may name files */
	if (r && r->core) { /* a core file: no process to find, no privilege to lack */
		switch (err) {
		case -ENOEXEC:
		case -EBADMSG:
			return TSC_EXIT_CORE;
		case -ESTALE:
			fprintf(stderr, "  Give the executable the core's process ran with --exe, "
					"or put its debug files where they are found by build-id.\n");
			return TSC_EXIT_CORE_MISMATCH;
		case -ENODATA:
			return TSC_EXIT_NOT_TASKSCOPE;
		case -ENOENT:
			fprintf(stderr, "  Give the executable with --exe, and put the libraries and "
					"debug files where they are found by build-id "
					"(TASKSCOPE_DEBUG_DIRS).\n");
			return TSC_EXIT_ERROR;
		}
	}
	switch (err) {
	case -ESRCH:
		if (opened)
			return TSC_EXIT_EXITED;
		fprintf(stderr, "  Check the PID (ps -e lists processes).\n");
		return TSC_EXIT_NO_PROCESS;
	case -EINVAL:
		return TSC_EXIT_NO_PROCESS;
	case -EACCES:
	case -EPERM:
		fprintf(stderr, "  Reading another process's memory needs ptrace access: run as "
				"its user, or as root (CAP_SYS_PTRACE).\n");
		return TSC_EXIT_PRIVILEGE;
	case -ENODATA:
		fprintf(stderr, "  taskscope reads processes linked with libtaskscope; "
				"'taskscope probes %d' lists what it can see.\n", pid);
		return TSC_EXIT_NOT_TASKSCOPE;
	case -EPROTONOSUPPORT:
		fprintf(stderr, "  Use a taskscope built for that runtime version.\n");
		return TSC_EXIT_ABI;
	case -EPROTO:
	case -EAGAIN:
		fprintf(stderr, "  Nothing is shown rather than a guess; try again, and report it "
				"if it persists.\n");
		return TSC_EXIT_INCONSISTENT;
	case -ENOSYS:
	case -EOPNOTSUPP:
		return TSC_EXIT_KERNEL;
	default:
		return TSC_EXIT_ERROR;
	}
}

/* Did the target exec (every read may be of the new program) or exit (of a reused PID, seen
 * through the pidfd) while taskscope `doing`? Says so and returns the exit code, else 0. */
static int gone(struct tsc_remote *r, const char *doing)
{
	int rc = tsc_report_exec(r);
	if (rc)
		return rc;
	if (!tsc_remote_alive(r)) {
		fprintf(stderr, "taskscope: process %d exited while taskscope %s\n", r->pid, doing);
		return TSC_EXIT_EXITED;
	}
	return TSC_EXIT_OK;
}

int tsc_bpf_exit_code(struct tsc_remote *r, int err)
{
	int rc = gone(r, "attached to it");
	if (rc)
		return rc;
	switch (err) {
	case -EPERM:
	case -EACCES:
		return TSC_EXIT_PRIVILEGE;
	case -ESRCH:
		return TSC_EXIT_EXITED;
	case -ENOSYS:
	case -EOPNOTSUPP:
	case -EPROTONOSUPPORT:
	case -ENODEV: /* no perf event source (top's sampler) */
		return TSC_EXIT_KERNEL;
	default:
		return TSC_EXIT_ERROR;
	}
}

int tsc_attach_target(int pid, const struct tsc_bpf_opts *bpf, struct tsc_remote **rp,
		      struct tsc_bpf **bp)
{
	struct tsc_remote *r = NULL;
	struct tsc_bpf *b = NULL;
	uint64_t next_id;
	int err, rc;

	*rp = NULL;
	*bp = NULL;
	if ((err = tsc_remote_open(pid, &r))) {
		rc = tsc_remote_report(r, err, 0);
		goto cleanup;
	}
	if (bpf && (rc = tsc_check_bpf_caps()))
		goto cleanup;
	if ((err = tsc_remote_find_runtime(r))) {
		rc = tsc_remote_report(r, err, 1);
		goto cleanup;
	}
	if (tsc_verbose) {
		char path[TSC_TEXT_SIZE(1024)];
		fprintf(stderr, "taskscope: runtime in %s (bias 0x%llx, descriptor at 0x%llx)\n",
			tsc_esc(path, sizeof(path), tsc_remote_binary(r)), (unsigned long long)r->bias,
			(unsigned long long)r->desc_addr);
	}
	if (bpf) {
		/* probes first: whatever changes after this is seen by them */
		if ((err = tsc_bpf_attach_opts(r, bpf, &b))) {
			rc = tsc_bpf_exit_code(r, err);
			goto cleanup;
		}
		/* tasks from this id on are born under the probes: BPF need not track their
		 * finishes */
		if ((err = tsc_remote_next_id(r, &next_id))) {
			rc = tsc_remote_report(r, err, 1);
			goto cleanup;
		}
		if ((err = tsc_bpf_set_next_id(b, next_id))) {
			rc = tsc_bpf_exit_code(r, err);
			goto cleanup;
		}
	}
	*rp = r;
	*bp = b;
	return TSC_EXIT_OK;
cleanup:
	tsc_bpf_detach(b);
	tsc_remote_close(r);
	return rc;
}

int tsc_target_check(struct tsc_remote *r)
{
	return gone(r, "was reading it");
}

int tsc_collect_keep(int pid, int use_bpf, struct tsc_snapshot *snap, struct tsc_remote **keep)
{
	const struct tsc_bpf_opts lifecycle = { .probes = TSC_PROBES_LIFECYCLE };
	struct tsc_remote *r = NULL;
	struct tsc_bpf *b = NULL;
	int err, rc;

	memset(snap, 0, sizeof(*snap));
	if ((rc = tsc_attach_target(pid, use_bpf ? &lifecycle : NULL, &r, &b)))
		goto cleanup;
	tsc_test_snapshot_delay();
	uint64_t t0 = tsc_now_ns();
	if ((err = tsc_remote_snapshot(r, snap))) {
		rc = tsc_remote_report(r, err, 1);
		goto cleanup;
	}
	uint64_t t1 = tsc_now_ns();
	if (b && (err = tsc_bpf_reconcile(b, snap))) {
		rc = tsc_bpf_exit_code(r, err);
		goto cleanup;
	}
	tsc_snapshot_sort(snap);
	if ((rc = tsc_target_check(r)))
		goto cleanup;
	if (tsc_verbose)
		fprintf(stderr, "taskscope: %zu threads, %zu tasks, %u retries; registry read in "
			"%.1f ms\n", snap->nthreads, snap->ntasks, snap->retries,
			(double)(t1 - t0) / 1e6);
	rc = TSC_EXIT_OK;
	if (keep) {
		*keep = r;
		r = NULL;
	}
cleanup:
	tsc_bpf_detach(b);
	tsc_remote_close(r);
	if (rc) {
		tsc_snapshot_free(snap);
		if (keep)
			*keep = NULL;
	}
	return rc;
}

int tsc_collect(int pid, int use_bpf, struct tsc_snapshot *snap)
{
	return tsc_collect_keep(pid, use_bpf, snap, NULL);
}

/* The command's one symbolizer (symbolize.h), made on r's memory source: the spawn sites, when
 * wanted, are resolved with it first, then the stacks take it over, so that each binary is
 * loaded once per command. Sites are a nicety: one that cannot be resolved shows its address
 * alone. NULL when it cannot be made (out of memory). */
static struct tsc_symbolizer *resolve_sites(struct tsc_remote *r, const struct tsc_snapshot *snap,
					    struct tsc_sites *sites)
{
	struct tsc_symbolizer *sym = NULL;
	if (tsc_symbolizer_new(r->mem, &sym))
		sym = NULL;
	if (sites && (!sym || tsc_sites_collect(sym, snap, sites)))
		tsc_sites_free(sites);
	return sym;
}

int tsc_collect_stacks(int pid, int use_bpf, int want_stacks, struct tsc_snapshot *snap,
		       struct tsc_stacks **st, struct tsc_sites *sites)
{
	struct tsc_remote *r = NULL;
	*st = NULL;
	if (sites)
		memset(sites, 0, sizeof(*sites));
	if (!want_stacks && !sites)
		return tsc_collect(pid, use_bpf, snap);
	int rc = tsc_collect_keep(pid, use_bpf, snap, &r);
	if (rc)
		return rc;
	/* the sites before the stacks, which close the target */
	struct tsc_symbolizer *sym = resolve_sites(r, snap, sites);
	if (want_stacks)
		rc = tsc_stacks_read(r, snap, sym, st);
	else {
		tsc_symbolizer_free(sym);
		rc = tsc_report_exec(r); /* what was resolved may be the new program's */
		tsc_remote_close(r);
	}
	if (rc) {
		tsc_sites_free(sites);
		tsc_snapshot_free(snap);
	}
	return rc;
}

/* Why the core was written: the first thread a signal hit (the kernel and gdb put it first;
 * gcore of a running process records none), the details from its NT_SIGINFO when that is of
 * the same signal, and the task its loop was running. */
static void take_crash(const struct tsc_core_info *ci, struct tsc_snapshot *snap)
{
	const struct tsc_core_thread *t = NULL;
	for (size_t i = 0; i < ci->nthreads && !t; i++)
		if (ci->threads[i].cursig > 0)
			t = &ci->threads[i];
	if (!t)
		return;
	struct tsc_crash *c = &snap->crash;
	c->signo = t->cursig;
	c->tid = t->tid;
	if (t->has_siginfo && t->sig_signo == t->cursig) {
		c->code = t->sig_code;
		/* a fault's address; si_code <= 0 is a signal someone sent (kill, abort) */
		c->has_addr = t->sig_code > 0 && (t->cursig == SIGSEGV || t->cursig == SIGBUS ||
						 t->cursig == SIGILL || t->cursig == SIGFPE);
		c->addr = t->fault_addr;
	}
	for (size_t i = 0; i < snap->nthreads; i++)
		if (snap->threads[i].tid == t->tid)
			c->task = snap->threads[i].current;
}

/* A core holds no clock. When it was written on this boot, its modification time is when,
 * on our monotonic clock as on the target's; otherwise the newest task's creation, the last
 * instant the core proves, stands (snapshot.c). Ages and time left count from it. */
static void core_time(const struct tsc_core_info *ci, struct tsc_snapshot *snap)
{
	struct timespec rt, mt;
	char line[256];
	unsigned long long btime = 0;
	FILE *f = fopen("/proc/stat", "re");
	while (f && fgets(line, sizeof(line), f) && sscanf(line, "btime %llu", &btime) != 1)
		;
	if (f)
		fclose(f);
	if (clock_gettime(CLOCK_REALTIME, &rt) || clock_gettime(CLOCK_MONOTONIC, &mt) || !btime)
		return;
	uint64_t real = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
	uint64_t mono = (uint64_t)mt.tv_sec * 1000000000ull + (uint64_t)mt.tv_nsec;
	if (ci->written_ns < btime * 1000000000ull || ci->written_ns > real ||
	    real - ci->written_ns > mono)
		return; /* before this boot, or in the future */
	uint64_t at = mono - (real - ci->written_ns);
	if (at >= snap->taken_ns)
		snap->taken_ns = at;
}

int tsc_open_core(const char *core, const char *exe, struct tsc_remote **rp)
{
	struct tsc_remote *r = NULL;
	int err, rc = TSC_EXIT_OK;
	*rp = NULL;
	if ((err = tsc_remote_open_core(core, exe, &r)))
		rc = tsc_remote_report(r, err, 0);
	else if ((err = tsc_remote_find_runtime(r)))
		rc = tsc_remote_report(r, err, 1);
	if (rc) {
		tsc_remote_close(r);
		return rc;
	}
	if (tsc_verbose) {
		char path[TSC_TEXT_SIZE(1024)];
		fprintf(stderr, "taskscope: core of process %d, runtime in %s (bias 0x%llx)\n", r->pid,
			tsc_esc(path, sizeof(path), tsc_remote_binary(r)), (unsigned long long)r->bias);
	}
	*rp = r;
	return TSC_EXIT_OK;
}

/* The offline half of the protocol: a core file instead of a process. */
static int collect_core(const struct tsc_pid_opts *o, struct tsc_snapshot *snap,
			struct tsc_stacks **st, struct tsc_sites *sites)
{
	struct tsc_remote *r = NULL;
	int err, rc;

	memset(snap, 0, sizeof(*snap));
	if (sites)
		memset(sites, 0, sizeof(*sites));
	if ((rc = tsc_open_core(o->core, o->exe, &r)))
		return rc;
	if ((err = tsc_remote_snapshot(r, snap))) {
		rc = tsc_remote_report(r, err, 1);
		goto cleanup;
	}
	snap->core = o->core;
	take_crash(tsc_memsrc_core_info(r->mem), snap);
	core_time(tsc_memsrc_core_info(r->mem), snap);
	if (tsc_verbose)
		fprintf(stderr, "taskscope: core of process %d: %zu threads, %zu tasks\n", snap->pid,
			snap->nthreads, snap->ntasks);
	struct tsc_symbolizer *sym = resolve_sites(r, snap, sites); /* as live */
	if (o->stacks) {
		rc = tsc_stacks_read(r, snap, sym, st); /* closes r */
		r = NULL;
		if (rc) {
			tsc_sites_free(sites);
			tsc_snapshot_free(snap);
		}
		return rc;
	}
	tsc_symbolizer_free(sym);
	rc = TSC_EXIT_OK;
cleanup:
	tsc_remote_close(r);
	if (rc)
		tsc_snapshot_free(snap);
	return rc;
}

int tsc_collect_target(const struct tsc_pid_opts *o, struct tsc_snapshot *snap,
		       struct tsc_stacks **st, struct tsc_sites *sites)
{
	*st = NULL;
	if (o->core)
		return collect_core(o, snap, st, sites);
	return tsc_collect_stacks(o->pid, o->use_bpf, o->stacks, snap, st, sites);
}
