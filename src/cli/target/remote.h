/* SPDX-License-Identifier: MIT */
/*
 * Reading a live target from outside: no ptrace stop, nothing executed in it.
 *
 * tsc_remote_open() pins the process with a pidfd and its /proc directory, so a PID reused
 * after the target exits cannot redirect us: every later read is followed by a liveness check
 * on the pidfd (tsc_remote_alive). tsc_remote_find_runtime() finds the ELF that holds the
 * runtime's debug descriptor among the file mappings (the executable or a shared library),
 * opened through /proc/PID/map_files (or /proc/PID/root) so a target in another mount
 * namespace works.
 * tsc_remote_snapshot() walks the registry (snapshot.c, through registry.h), bounded and
 * validated.
 */
#ifndef TSC_REMOTE_H
#define TSC_REMOTE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <taskscope/debug.h>
#include "target/maps.h"
#include "target/memsrc.h"
#include "target/model.h"

struct tsc_remote {
	int pid;
	int pidfd;
	int procfd;                    /* /proc/PID, opened after the pidfd */
	int memfd;                     /* /proc/PID/mem: holds the memory it was opened on */
	struct tsc_maps maps;          /* file-backed mappings; filled by find_runtime */
	char binary[PATH_MAX + 64];    /* the runtime's ELF, as a path usable from here */
	char target_path[PATH_MAX];    /* the same file, as the target names it */
	uint64_t bias;                 /* load bias of that ELF in the target */
	uint64_t desc_addr;
	struct ts_debug_desc desc;     /* validated copy of the target's descriptor */
	struct tsc_memsrc *mem;        /* its memory and files (memsrc_live.c, memsrc_core.c) */
	const char *core;              /* the core file read instead of a live process; NULL */
	char err[512];                 /* what went wrong, for the last error returned */
};

/*
 * Errors (all functions return 0 or -errno, with a detail in r->err when r exists):
 *   -ESRCH          no such process, or it exited (check tsc_remote_alive to tell apart)
 *   -EINVAL         not a process id (e.g. a thread id)
 *   -EACCES/-EPERM  no ptrace-read access to the process
 *   -ENODATA        no taskscope runtime (no ".taskscope_debug" section) in the process
 *   -EPROTONOSUPPORT the runtime's descriptor ABI version is not one we read
 *   -EPROTO         the descriptor or the registry failed validation
 *   -EAGAIN         the registry kept changing under every retry
 *   -ENOSYS         the kernel lacks pidfd_open or process_vm_readv
 */
int tsc_remote_open(int pid, struct tsc_remote **out);
int tsc_remote_find_runtime(struct tsc_remote *r);
/* A core file instead of a live process (core.h): no pidfd, no /proc; never "exits" or
 * exec's. exe, when not NULL, is read as its executable. Errors as tsc_memsrc_core_new's, with
 * the detail in (*out)->err; *out is the caller's to close either way. core and exe must
 * outlive it. */
int tsc_remote_open_core(const char *core, const char *exe, struct tsc_remote **out);
/* The ELF holding the runtime, as a path this process can open (for tsc_bpf_attach). */
const char *tsc_remote_binary(const struct tsc_remote *r);
int tsc_remote_snapshot(struct tsc_remote *r, struct tsc_snapshot *snap);
/* The id the target's next task will get: every task with a lower id exists already. */
int tsc_remote_next_id(struct tsc_remote *r, uint64_t *id);
/* 1 while the process pinned at open is alive, 0 once it exited. */
int tsc_remote_alive(const struct tsc_remote *r);
/* 1 when the process is alive but runs another program than at open: it exec'd, and every
 * address read from it since may be the new program's. One pread; 0 otherwise. */
int tsc_remote_execd(const struct tsc_remote *r);
/* 1 when its address space is gone and no new one came: exiting (not yet reaped), or gone. */
int tsc_remote_leaving(const struct tsc_remote *r);
/* The executable the process runs now (as /proc/PID/exe names it), for messages. */
void tsc_remote_exe(const struct tsc_remote *r, char *buf, size_t n);
/* The program the process runs, to name it by: /proc/PID/exe's path, else its comm (n > 0),
 * "" when neither reads. The runtime's ELF (tsc_remote_binary) may be a library. */
void tsc_remote_program(const struct tsc_remote *r, char *buf, size_t n);
void tsc_remote_close(struct tsc_remote *r); /* accepts NULL */

/* Open a mapped file of the target (read-only): through /proc/PID/map_files (the very file
 * mapped), else through /proc/PID/root checked to be the mapped inode; never blocking, never
 * anything but a regular file (tfile.h). Fills `here` with the path used. Returns an fd or
 * -errno: -ENODEV the mapping is not of a regular file, -TSC_ENOTREG or -ESTALE its path no
 * longer leads to the mapped file. */
int tsc_remote_open_file(struct tsc_remote *r, const struct tsc_vma *v, char *here, size_t n);

#endif
