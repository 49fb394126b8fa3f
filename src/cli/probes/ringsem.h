/* SPDX-License-Identifier: MIT */
/* Switching a target's event rings on: the kernel raises the rings probe's semaphore while
 * we hold a uprobe on its site (a perf event: no BPF program, nothing runs at the site, which
 * nothing calls), and lowers it when we let go, even by dying. docs/rings.md. */
#ifndef TSC_RINGSEM_H
#define TSC_RINGSEM_H

/* Find taskscope:rings in binary (reachable from here; the ELF holding the runtime of process
 * pid) and hold its uprobe for pid. Returns an fd to close to let go, -ENOENT when the binary
 * has no rings probe (a runtime that offers only probes.h), or another -errno with a message
 * on stderr (who starts it). */
int tsc_ringsem_hold(const char *who, const char *binary, int pid);

#endif
