/* SPDX-License-Identifier: MIT */
/* The attach protocol, shared by ps and tree: probes first, then the snapshot read from the
 * live process, then reconciliation, then detach. Errors are printed here. */
#ifndef TSC_COLLECT_H
#define TSC_COLLECT_H

#include <stdio.h>

#include "model.h"
#include "testhooks.h" /* the windows of the attach protocol that tests hold open */

/* Fill snap for process pid; with use_bpf, reconciled with the lifecycle probes.
 * Returns an exit code (enum tsc_exit); on failure a message went to stderr. */
int tsc_collect(int pid, int use_bpf, struct tsc_snapshot *snap);

struct tsc_remote;
/* The same, handing back the open target (its descriptor, pid, binary) in *keep for more
 * reads, e.g. of stacks; the caller then calls tsc_remote_alive after those reads and
 * tsc_remote_close. *keep is NULL on failure. */
int tsc_collect_keep(int pid, int use_bpf, struct tsc_snapshot *snap, struct tsc_remote **keep);

/* Print why BPF cannot be used and return TSC_EXIT_PRIVILEGE, or return 0 when this process
 * has the capabilities (root, or CAP_BPF + CAP_PERFMON + CAP_SYS_PTRACE). */
int tsc_check_bpf_caps(void);

/* The exit code for err from tsc_bpf_attach (which printed its message), checking first
 * whether the target exited meanwhile. */
int tsc_bpf_exit_code(struct tsc_remote *r, int err);

/* When the target exec'd since tsc_remote_open: say so ("target PID exec'd FILE; stopping")
 * and return TSC_EXIT_EXECED; else 0. What was read of it may be the new program's. */
int tsc_report_exec(struct tsc_remote *r);

/* The exit code for err from the remote reader, after printing what happened and what to do. */
int tsc_remote_report(struct tsc_remote *r, int err, int opened);

/* ps and tree: the attach protocol, then, with want_stacks, every task's stack (else *st is
 * NULL). Returns an exit code; on failure nothing is left to free. */
struct tsc_stacks;
int tsc_collect_stacks(int pid, int use_bpf, int want_stacks, struct tsc_snapshot *snap,
		       struct tsc_stacks **st);

/* The options ps and tree share: [--json] [--no-bpf] [--stacks] [-v] PID. */
struct tsc_pid_cmd {
	int pid, json, use_bpf, stacks;
};
/* Returns -1 when o is filled and the command goes on, else the exit code to return
 * (0 after --help, TSC_EXIT_USAGE after a message on stderr). */
int tsc_pid_cmd_parse(const char *cmd, int argc, char **argv, void (*usage)(FILE *),
		      struct tsc_pid_cmd *o);

/* Flush stdout: TSC_EXIT_OK, or TSC_EXIT_ERROR after saying the write failed. */
int tsc_flush_stdout(void);

#endif
