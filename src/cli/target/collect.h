/* SPDX-License-Identifier: MIT */
/* The attach protocol, the one entry every command goes through: open the target (pinned by a
 * pidfd), check the capabilities, find the runtime, attach the probes before anything is read
 * (so that every change after is seen by them), then for ps and tree read the snapshot and
 * reconcile. Every way it fails is printed here and becomes one exit code (enum tsc_exit). */
#ifndef TSC_COLLECT_H
#define TSC_COLLECT_H

#include "target/model.h"
#include "testhooks.h" /* the windows of the protocol that tests hold open */

struct tsc_bpf;
struct tsc_bpf_opts;
struct tsc_remote;
struct tsc_stacks;

/* Open pid and find its runtime; with bpf, check the capabilities first and attach the probes
 * it asks for, with the target's next task id given to them. Returns an exit code; on
 * success *r (and with bpf *b, else NULL) are the caller's to release: tsc_bpf_detach, then
 * tsc_remote_close. On failure a message went to stderr and nothing is left open. */
int tsc_attach_target(int pid, const struct tsc_bpf_opts *bpf, struct tsc_remote **r,
		      struct tsc_bpf **b);

/* After reading the target: TSC_EXIT_EXECED or TSC_EXIT_EXITED (said on stderr) when what was
 * read may not be of the program or process attached to, else 0. */
int tsc_target_check(struct tsc_remote *r);

/* ps and tree: fill snap for process pid; with use_bpf, reconciled with the lifecycle probes.
 * Returns an exit code; on failure a message went to stderr. */
int tsc_collect(int pid, int use_bpf, struct tsc_snapshot *snap);
/* The same, handing back the open target (its descriptor, pid, binary) in *keep for more
 * reads, e.g. of stacks; the caller then calls tsc_remote_alive after those reads and
 * tsc_remote_close. *keep is NULL on failure. */
int tsc_collect_keep(int pid, int use_bpf, struct tsc_snapshot *snap, struct tsc_remote **keep);
/* The same, then, with want_stacks, every task's stack (else *st is NULL), and with sites,
 * where each task was spawned (stacks/sites.h; else NULL). Returns an exit code; on failure
 * nothing is left to free. */
struct tsc_sites;
int tsc_collect_stacks(int pid, int use_bpf, int want_stacks, struct tsc_snapshot *snap,
		       struct tsc_stacks **st, struct tsc_sites *sites);

/* ps and tree, from their options: the live process o->pid (as tsc_collect_stacks), or the
 * core file o->core, offline (no capabilities, no probes: target/core.h), with the spawn sites
 * as tsc_collect_stacks has them, and whose crash, when
 * a signal wrote it, goes to snap->crash. Returns an exit code; on failure a message went to
 * stderr and nothing is left to free. */
struct tsc_pid_opts;
int tsc_collect_target(const struct tsc_pid_opts *o, struct tsc_snapshot *snap,
		       struct tsc_stacks **st, struct tsc_sites *sites);

/* The offline attach: the core file core (exe, when not NULL, read as its executable) opened
 * and its runtime found; no capabilities, no probes. An exit code; on success *r is the
 * caller's to close, on failure a message went to stderr. */
int tsc_open_core(const char *core, const char *exe, struct tsc_remote **r);

/* ---- failures to exit codes ---- */

/* Print why BPF cannot be used and return TSC_EXIT_PRIVILEGE, or return 0 when this process
 * has the capabilities (root, or CAP_BPF + CAP_PERFMON + CAP_SYS_PTRACE). */
int tsc_check_bpf_caps(void);

/* The exit code for err from the BPF half (tsc_bpf_*, top's sampler), which printed its own
 * message, checking first whether the target exec'd or exited meanwhile. */
int tsc_bpf_exit_code(struct tsc_remote *r, int err);

/* When the target exec'd since tsc_remote_open: say so ("target PID exec'd FILE; stopping")
 * and return TSC_EXIT_EXECED; else 0. What was read of it may be the new program's. */
int tsc_report_exec(struct tsc_remote *r);

/* The exit code for err from the remote reader, after printing what happened and what to do. */
int tsc_remote_report(struct tsc_remote *r, int err, int opened);

#endif
