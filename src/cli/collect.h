/* SPDX-License-Identifier: MIT */
/* The attach protocol, shared by ps and tree: probes first, then the snapshot read from the
 * live process, then reconciliation, then detach. Errors are printed here. */
#ifndef TSC_COLLECT_H
#define TSC_COLLECT_H

#include "model.h"

/* Fill snap for process pid; with use_bpf, reconciled with the lifecycle probes.
 * Returns an exit code (enum tsc_exit); on failure a message went to stderr. */
int tsc_collect(int pid, int use_bpf, struct tsc_snapshot *snap);

/* Print why BPF cannot be used and return TSC_EXIT_PRIVILEGE, or return 0 when this process
 * has the capabilities (root, or CAP_BPF + CAP_PERFMON + CAP_SYS_PTRACE). */
int tsc_check_bpf_caps(void);

struct tsc_remote;
/* The exit code for err from the remote reader, after printing what happened and what to do. */
int tsc_remote_report(struct tsc_remote *r, int err, int opened);

#endif
