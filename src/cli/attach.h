/* SPDX-License-Identifier: MIT */
/* The BPF half of the attach protocol: probes first, then the snapshot, then reconcile. */
#ifndef TSC_ATTACH_H
#define TSC_ATTACH_H

#include "model.h"

struct tsc_bpf;

/* Which probes to attach. */
#define TSC_PROBES_LIFECYCLE 1   /* task_create, task_finish, task_rename */
#define TSC_PROBES_SWITCH 2      /* task_switch, thread_start/stop */
#define TSC_PROBES_WAIT 4        /* task_wait */

/* Attach the taskscope USDT probes of `binary` (the ELF holding the runtime, reachable from
 * here: e.g. /proc/PID/root/...) for process pid, with BPF filtering on pid's tgid.
 * Returns 0 or -errno; on error nothing stays attached and a message went to stderr. */
int tsc_bpf_attach(int pid, const char *binary, unsigned probes, struct tsc_bpf **out);

/* Merge what the probes saw since attach into snap: tasks finished since attach are removed
 * (never resurrected), tasks created since attach are added, each task once; threads'
 * current tasks not in the live set become 0. Sets snap->reconciled and the counters. */
int tsc_bpf_reconcile(struct tsc_bpf *b, struct tsc_snapshot *snap);

void tsc_bpf_detach(struct tsc_bpf *b); /* accepts NULL */

/* Optional, right after tsc_bpf_attach and before the snapshot: the target's next task id
 * (the descriptor's next_id), read after attach returned. Tasks from that id on were created
 * under the probes, so their finishes need no record in the finished map. The BPF side also
 * finds this out by itself for the first 8M ids created since attach; this covers any id
 * after them, for long attachments. Once. */
int tsc_bpf_set_next_id(struct tsc_bpf *b, uint64_t next_id);


#endif
