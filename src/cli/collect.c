/* SPDX-License-Identifier: MIT */
/* The attach protocol: probes first, snapshot, reconcile, detach; errors to exit codes. */
#include "collect.h"
#include "attach.h"
#include "cli.h"
#include "opts.h"
#include "out.h"
#include "remote.h"
#include "stacks.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* Exit code for an error of the BPF half, which printed its own message. */
static int bpf_exit(struct tsc_remote *r, int err)
{
	int rc = tsc_report_exec(r);
	if (rc)
		return rc;
	if (!tsc_remote_alive(r)) {
		fprintf(stderr, "taskscope: process %d exited while taskscope attached to it\n",
			r->pid);
		return TSC_EXIT_EXITED;
	}
	switch (err) {
	case -EPERM:
	case -EACCES:
		return TSC_EXIT_PRIVILEGE;
	case -ESRCH:
		return TSC_EXIT_EXITED;
	case -ENOSYS:
	case -EOPNOTSUPP:
	case -EPROTONOSUPPORT:
		return TSC_EXIT_KERNEL;
	default:
		return TSC_EXIT_ERROR;
	}
}

int tsc_bpf_exit_code(struct tsc_remote *r, int err)
{
	return bpf_exit(r, err);
}

void tsc_test_hold_until(void)
{
	const char *f = getenv("TASKSCOPE_TEST_HOLD_UNTIL");
	if (!f || !*f || !access(f, F_OK))
		return;
	fprintf(stderr, "taskscope: test: holding until %s exists\n", f);
	for (int i = 0; i < 6000 && access(f, F_OK); i++)
		usleep(10000);
}

void tsc_test_snapshot_delay(void)
{
	tsc_test_hold_until();
	const char *s = getenv("TASKSCOPE_TEST_SNAPSHOT_DELAY_MS");
	long ms = s ? strtol(s, NULL, 10) : 0;
	if (ms > 0 && ms <= 60000) {
		struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };
		nanosleep(&ts, NULL);
	}
}

int tsc_collect_keep(int pid, int use_bpf, struct tsc_snapshot *snap, struct tsc_remote **keep)
{
	struct tsc_remote *r = NULL;
	struct tsc_bpf *b = NULL;
	int err, rc;

	memset(snap, 0, sizeof(*snap));
	err = tsc_remote_open(pid, &r);
	if (err) {
		rc = tsc_remote_report(r, err, 0);
		goto cleanup;
	}
	if (use_bpf && (rc = tsc_check_bpf_caps()))
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
	/* probes first: whatever changes after this is seen by them */
	if (use_bpf && (err = tsc_bpf_attach(pid, tsc_remote_binary(r), TSC_PROBES_LIFECYCLE, &b))) {
		rc = bpf_exit(r, err);
		goto cleanup;
	}
	/* tasks from this id on are born under the probes: BPF need not track their finishes */
	uint64_t next_id;
	if (b && (err = tsc_remote_next_id(r, &next_id))) {
		rc = tsc_remote_report(r, err, 1);
		goto cleanup;
	}
	if (b && (err = tsc_bpf_set_next_id(b, next_id))) {
		rc = bpf_exit(r, err);
		goto cleanup;
	}
	tsc_test_snapshot_delay();
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((err = tsc_remote_snapshot(r, snap))) {
		rc = tsc_remote_report(r, err, 1);
		goto cleanup;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (b && (err = tsc_bpf_reconcile(b, snap))) {
		rc = bpf_exit(r, err);
		goto cleanup;
	}
	tsc_snapshot_sort(snap);
	/* the same program still: every read above was of the program we attached to */
	if ((rc = tsc_report_exec(r)))
		goto cleanup;
	/* the pidfd still live: every read above was of this process, not of a reused PID */
	if (!tsc_remote_alive(r)) {
		fprintf(stderr, "taskscope: process %d exited while taskscope was reading it\n", pid);
		rc = TSC_EXIT_EXITED;
		goto cleanup;
	}
	if (tsc_verbose)
		fprintf(stderr, "taskscope: %zu threads, %zu tasks, %u retries; registry read in "
			"%.1f ms\n", snap->nthreads, snap->ntasks, snap->retries,
			(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
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

int tsc_collect_stacks(int pid, int use_bpf, int want_stacks, struct tsc_snapshot *snap,
		       struct tsc_stacks **st)
{
	struct tsc_remote *r = NULL;
	*st = NULL;
	if (!want_stacks)
		return tsc_collect(pid, use_bpf, snap);
	int rc = tsc_collect_keep(pid, use_bpf, snap, &r);
	if (rc)
		return rc;
	if ((rc = tsc_stacks_read(r, snap, st)))
		tsc_snapshot_free(snap);
	return rc;
}

int tsc_pid_cmd_parse(const char *cmd, int argc, char **argv, void (*usage)(FILE *),
		      struct tsc_pid_cmd *o)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-bpf", no_argument, NULL, 'n' },
		{ "stacks", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	*o = (struct tsc_pid_cmd){ .use_bpf = 1 };
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "jnsvh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': o->json = 1; break;
		case 'n': o->use_bpf = 0; break;
		case 's': o->stacks = 1; break;
		case 'v': tsc_verbose++; break;
		case 'h': usage(stdout); return TSC_EXIT_OK;
		default:
			fprintf(stderr, "taskscope %s: unknown option '%s'\n", cmd, argv[optind - 1]);
			goto usage;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "taskscope %s: %s\n", cmd,
			optind >= argc ? "no PID given" : "one PID only");
		goto usage;
	}
	o->pid = tsc_parse_pid(argv[optind]);
	if (o->pid < 0) {
		fprintf(stderr, "taskscope %s: '%s' is not a PID\n", cmd, argv[optind]);
		goto usage;
	}
	return -1;
usage:
	fprintf(stderr, "Usage: taskscope %s [--json] [--no-bpf] [--stacks] PID (see taskscope %s --help)\n",
		cmd, cmd);
	return TSC_EXIT_USAGE;
}

int tsc_flush_stdout(void)
{
	if (fflush(stdout) || ferror(stdout)) {
		perror("taskscope: writing the output");
		return TSC_EXIT_ERROR;
	}
	return TSC_EXIT_OK;
}
