/* SPDX-License-Identifier: MIT */
/* Opening a target: pidfd, /proc directory, the ELF holding the runtime, its descriptor. */
#include "target/remote.h"
#include "target/core.h"
#include "target/elfx.h"
#include "target/registry.h"
#include "target/walk.h"
#include "target/tfile.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

__attribute__((format(printf, 3, 4))) static int fail(struct tsc_remote *r, int err,
						       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	return err;
}

int tsc_remote_alive(const struct tsc_remote *r)
{
	struct pollfd p = { .fd = r->pidfd, .events = POLLIN };
	if (r->core)
		return 1; /* a core file never exits */
	/* a pidfd polls readable once the process has exited */
	return poll(&p, 1, 0) == 0;
}

/* What became of the address space r->memfd was opened on: 0 it is in use, 1 the process
 * exec'd (a new one), 2 it has none (exiting, or gone). /proc/PID/mem keeps the address space
 * it was opened on: while the process uses it, a read at address 0 fails (EIO: nothing is
 * mapped there); once exec or exit dropped it, the read returns 0 bytes. Exit drops it a
 * moment before the process is gone: an exec has a new space, where a fresh open reads EIO at
 * 0 as before; an exiting process has none. */
static int space_state(const struct tsc_remote *r)
{
	char c;
	if (!r || r->memfd < 0 || pread(r->memfd, &c, 1, 0) != 0)
		return 0;
	if (!tsc_remote_alive(r))
		return 2;
	int fd = r->procfd >= 0 ? openat(r->procfd, "mem", O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0)
		return errno == ESRCH ? 2 : 1; /* no such process: exiting (an exec'd one has one) */
	ssize_t n = pread(fd, &c, 1, 0);
	close(fd);
	return n < 0 ? 1 : 2;
}

int tsc_remote_execd(const struct tsc_remote *r)
{
	return space_state(r) == 1;
}

int tsc_remote_leaving(const struct tsc_remote *r)
{
	return space_state(r) == 2;
}

/* /proc/PID/exe's path into buf: its length, or 0 when it does not read. */
static size_t read_exe(const struct tsc_remote *r, char *buf, size_t n)
{
	ssize_t k = r && r->procfd >= 0 ? readlinkat(r->procfd, "exe", buf, n - 1) : -1;
	buf[k > 0 ? k : 0] = 0;
	return k > 0 ? (size_t)k : 0;
}

void tsc_remote_exe(const struct tsc_remote *r, char *buf, size_t n)
{
	if (!read_exe(r, buf, n))
		snprintf(buf, n, "another program");
}

void tsc_remote_program(const struct tsc_remote *r, char *buf, size_t n)
{
	if (read_exe(r, buf, n) || !r || r->procfd < 0)
		return;
	/* no exe link (a kernel thread has none; a zombie leader neither): the command name */
	int fd = openat(r->procfd, "comm", O_RDONLY | O_CLOEXEC);
	ssize_t k = fd >= 0 ? read(fd, buf, n - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[k > 0 ? k : 0] = 0;
	if (k > 0 && buf[k - 1] == '\n')
		buf[k - 1] = 0;
}

/* pidfd_open refuses a thread that leads no process (EINVAL, or ENOENT on newer kernels). */
static int not_a_process(struct tsc_remote *r, int pid)
{
	char path[64], line[256];
	int tgid = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	if (f)
		fclose(f);
	if (tgid > 0 && tgid != pid)
		return fail(r, -EINVAL, "%d is not a process id but a thread of process %d: give "
			    "that one", pid, tgid);
	return fail(r, -EINVAL, "%d is not a process id", pid);
}

int tsc_remote_open(int pid, struct tsc_remote **out)
{
	char path[64];
	int err;
	struct tsc_remote *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->pid = pid;
	r->procfd = r->memfd = -1;
	r->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (r->pidfd < 0) {
		err = -errno;
		if (err == -ESRCH)
			fail(r, err, "no process with PID %d", pid);
		else if (err == -EINVAL || err == -ENOENT)
			err = not_a_process(r, pid);
		else if (err == -ENOSYS)
			fail(r, err, "this kernel has no pidfd_open (Linux 5.3 or later needed)");
		else
			fail(r, err, "pidfd_open(%d): %s", pid, strerror(-err));
		goto cleanup;
	}
	snprintf(path, sizeof(path), "/proc/%d", pid);
	r->procfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->procfd < 0) {
		err = fail(r, -errno, "cannot open %s: %s", path, strerror(errno));
		goto cleanup;
	}
	/* before anything is read: an exec from now on is noticed (tsc_remote_execd). Without
	 * ptrace access it fails, and so do the reads; their errors say why. */
	r->memfd = openat(r->procfd, "mem", O_RDONLY | O_CLOEXEC);
	/* all were opened while the process lived: /proc/PID is the one the pidfd pins */
	if (!tsc_remote_alive(r)) {
		err = fail(r, -ESRCH, "process %d exited", pid);
		goto cleanup;
	}
	if ((err = tsc_memsrc_live_new(r, &r->mem))) {
		fail(r, err, "out of memory");
		goto cleanup;
	}
	*out = r;
	return 0;
cleanup:
	*out = r; /* keeps the message; the caller closes it */
	return err;
}

int tsc_remote_open_core(const char *core, const char *exe, struct tsc_remote **out)
{
	struct tsc_remote *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->pidfd = r->procfd = r->memfd = -1;
	r->core = core;
	*out = r;
	int err = tsc_memsrc_core_new(core, exe, &r->mem, r->err, sizeof(r->err));
	if (err)
		return err;
	r->pid = tsc_memsrc_core_info(r->mem)->pid;
	return 0;
}

void tsc_remote_close(struct tsc_remote *r)
{
	if (!r)
		return;
	if (r->pidfd >= 0)
		close(r->pidfd);
	if (r->procfd >= 0)
		close(r->procfd);
	if (r->memfd >= 0)
		close(r->memfd);
	tsc_maps_free(&r->maps);
	tsc_memsrc_free(r->mem);
	free(r);
}

const char *tsc_remote_binary(const struct tsc_remote *r)
{
	return r->binary[0] ? r->binary : NULL;
}

int tsc_remote_open_file(struct tsc_remote *r, const struct tsc_vma *v, char *here, size_t n)
{
	size_t plen = strlen(v->path);
	static const char deleted[] = " (deleted)";
	char mf[96], rel[PATH_MAX + 8];
	int fd, fd2;

	/* The mapping itself (needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE): the very file
	 * mapped, whatever became of its path since (deleted, replaced, or hidden under
	 * something the target mounted over it). */
	snprintf(mf, sizeof(mf), "map_files/%llx-%llx", (unsigned long long)v->start,
		 (unsigned long long)v->end);
	fd = tsc_tfile_open(r->procfd, mf, 0, NULL);
	if (fd >= 0) {
		snprintf(here, n, "/proc/%d/%s", r->pid, mf);
		return fd;
	}
	if (fd == -TSC_ENOTREG)
		return -ENODEV; /* the mapping is of a device or the like: no ELF file there */
	if (v->path[0] != '/' ||
	    (plen > sizeof(deleted) - 1 && !strcmp(v->path + plen - sizeof(deleted) + 1, deleted)))
		return fd;
	/* The file as the target sees it, through its root: right in another mount namespace.
	 * The inode check catches a file replaced since it was mapped. */
	snprintf(rel, sizeof(rel), "root%s", v->path);
	fd2 = tsc_tfile_open(r->procfd, rel, TSC_TFILE_NOFOLLOW, v);
	if (fd2 >= 0) {
		snprintf(here, n, "/proc/%d/root%s", r->pid, v->path);
		return fd2;
	}
	return fd2 == -ENOENT ? fd : fd2;
}

/* Every field the reader uses lies inside the structure it describes. */
static int desc_valid(const struct ts_debug_desc *d)
{
	static const struct { size_t off, size; } loopf[] = {
		{ offsetof(struct ts_debug_desc, loop_id), 8 },
		{ offsetof(struct ts_debug_desc, loop_tid), 4 },
		{ offsetof(struct ts_debug_desc, loop_current_id), 8 },
		{ offsetof(struct ts_debug_desc, loop_tasks), 8 },
		{ offsetof(struct ts_debug_desc, loop_ntasks), 4 },
		{ offsetof(struct ts_debug_desc, loop_gen), 8 },
	}, taskf[] = {
		{ offsetof(struct ts_debug_desc, task_magic), 8 },
		{ offsetof(struct ts_debug_desc, task_seq), 8 },
		{ offsetof(struct ts_debug_desc, task_id), 8 },
		{ offsetof(struct ts_debug_desc, task_parent), 8 },
		{ offsetof(struct ts_debug_desc, task_coro), 8 },
		{ offsetof(struct ts_debug_desc, task_state), 4 },
		{ offsetof(struct ts_debug_desc, task_wait), 4 },
		{ offsetof(struct ts_debug_desc, task_wait_obj), 8 },
		{ offsetof(struct ts_debug_desc, task_tid), 4 },
		{ offsetof(struct ts_debug_desc, task_created_ns), 8 },
		{ offsetof(struct ts_debug_desc, task_switches), 8 },
		{ offsetof(struct ts_debug_desc, task_ctx_sp), 8 },
		{ offsetof(struct ts_debug_desc, task_stack_lo), 8 },
		{ offsetof(struct ts_debug_desc, task_stack_hi), 8 },
	};
	const char *base = (const char *)d;
	uint16_t off;
	for (size_t i = 0; i < sizeof(loopf) / sizeof(loopf[0]); i++) {
		memcpy(&off, base + loopf[i].off, 2);
		if (off + loopf[i].size > d->loop_size || off % loopf[i].size)
			return 0;
	}
	for (size_t i = 0; i < sizeof(taskf) / sizeof(taskf[0]); i++) {
		memcpy(&off, base + taskf[i].off, 2);
		if (off + taskf[i].size > d->task_size || off % taskf[i].size)
			return 0;
	}
	/* the wait-ages block's, when the descriptor has it (read_desc) */
	static const struct { size_t off; int task; } agesf[] = {
		{ offsetof(struct ts_debug_desc, task_wait_since), 1 },
		{ offsetof(struct ts_debug_desc, task_ready_since), 1 },
		{ offsetof(struct ts_debug_desc, task_spawn_pc), 1 },
		{ offsetof(struct ts_debug_desc, loop_now), 0 },
		{ offsetof(struct ts_debug_desc, loop_lag), 0 },
		{ offsetof(struct ts_debug_desc, loop_lag_max), 0 },
		{ offsetof(struct ts_debug_desc, loop_lag_max_at), 0 },
		{ offsetof(struct ts_debug_desc, loop_timer_next), 0 },
	};
	for (size_t i = 0; tsc_reg_has_ages(d) && i < sizeof(agesf) / sizeof(agesf[0]); i++) {
		memcpy(&off, base + agesf[i].off, 2);
		if (off + 8u > (agesf[i].task ? d->task_size : d->loop_size) || off % 8)
			return 0;
	}
	return d->max_loops >= 1 && d->name_max >= 2 &&
	       (uint64_t)d->task_name + d->name_max <= d->task_size &&
	       d->loops_addr && d->nloops_addr && d->loops_gen_addr && d->next_id_addr;
}

/* Sizes past what any reader of this ABI needs: a runtime that really has them is one this
 * taskscope does not read, and a corrupt one must not make it allocate or read without end.
 * 0, or -EPROTONOSUPPORT with the message. */
static int desc_caps(struct tsc_remote *r, const struct ts_debug_desc *d)
{
	size_t end = tsc_reg_task_end(d);
	const char *what = NULL;
	size_t have = 0, max = 0;
	if (d->max_loops > TSC_WALK_MAX_LOOPS)
		what = "loop table slots", have = d->max_loops, max = TSC_WALK_MAX_LOOPS;
	else if (d->loop_size > TSC_WALK_MAX_LOOP_SIZE)
		what = "bytes per loop", have = d->loop_size, max = TSC_WALK_MAX_LOOP_SIZE;
	else if (d->name_max > TSC_WALK_MAX_NAME)
		what = "bytes per task name", have = d->name_max, max = TSC_WALK_MAX_NAME;
	else if (end > TSC_WALK_MAX_TASK_FIELDS)
		what = "bytes of task fields", have = end, max = TSC_WALK_MAX_TASK_FIELDS;
	if (!what)
		return 0;
	return fail(r, -EPROTONOSUPPORT, "%s: the runtime's debug descriptor describes %zu %s; "
		    "this taskscope reads at most %zu", r->target_path, have, what, max);
}

static int read_desc(struct tsc_remote *r, uint64_t addr, uint64_t sect_size)
{
	struct ts_debug_desc *d = &r->desc;
	size_t want = sizeof(*d) < sect_size ? sizeof(*d) : (size_t)sect_size;
	size_t min = offsetof(struct ts_debug_desc, task_stack_hi) + 2;
	memset(d, 0, sizeof(*d));
	if (want < 16)
		return fail(r, -EPROTO, "%s: section %s is too small", r->target_path,
			    TS_DEBUG_SECTION);
	int err = tsc_mem_read1(r->mem, addr, d, want);
	if (err == -EPERM || err == -EACCES)
		return fail(r, err, "cannot read the memory of process %d: %s", r->pid,
			    strerror(-err));
	if (err == -ESRCH)
		return fail(r, err, "process %d exited", r->pid);
	if (err == -ENOSYS)
		return fail(r, err, "this kernel has no process_vm_readv "
			    "(CONFIG_CROSS_MEMORY_ATTACH), which taskscope reads processes with");
	if (err)
		return fail(r, -EPROTO, "cannot read the debug descriptor at 0x%llx in %d: %s",
			    (unsigned long long)addr, r->pid, strerror(-err));
	if (memcmp(d->magic, TS_DEBUG_MAGIC, sizeof(d->magic)))
		return fail(r, -EPROTO, "%s: bad magic in the debug descriptor", r->target_path);
	if (d->abi_version < 1 || d->abi_version > TS_DEBUG_ABI_VERSION)
		return fail(r, -EPROTONOSUPPORT,
			    "%s: the runtime's debug descriptor is ABI version %u; this taskscope "
			    "reads versions 1 to %u", r->target_path, d->abi_version,
			    TS_DEBUG_ABI_VERSION);
	/* version 2 appended the rings; an older or shorter descriptor has none */
	if (d->abi_version < 2 || d->desc_size < offsetof(struct ts_debug_desc, ring_reserved) ||
	    want < offsetof(struct ts_debug_desc, ring_reserved))
		d->loop_ring = 0;
	/* a block the writer's desc_size or the section we read does not cover is not there */
	size_t ages_end = offsetof(struct ts_debug_desc, loop_timer_next) + 2;
	if (d->desc_size < ages_end || want < ages_end)
		d->features &= (uint16_t)~TS_DEBUG_F_WAIT_AGES;
	if (d->desc_size < min || want < min || !desc_valid(d))
		return fail(r, -EPROTO, "%s: the debug descriptor fails validation",
			    r->target_path);
	return desc_caps(r, d);
}

/* Does this mapped file hold the runtime? 1 yes (r filled), 0 no, or -errno. */
static int try_file(struct tsc_remote *r, size_t first)
{
	const struct tsc_vma *v = &r->maps.vma[first];
	char here[sizeof(r->binary)];
	struct tsc_elf e = { 0 };
	GElf_Shdr sh;
	int fd, err;

	fd = tsc_mem_open_file(r->mem, v, here, sizeof(here));
	if (fd < 0)
		return fd;
	err = tsc_elf_open(fd, &e, TSC_ELF_NOTES, TSC_ELF_MAX_READ);
	if (err) {
		err = err == -ENOEXEC ? 0 : err;
		goto cleanup;
	}
	/* in separate debug info the section is there, empty: a core holds its contents */
	if (tsc_elf_section(&e, TS_DEBUG_SECTION, &sh, NULL) ||
	    (sh.sh_type == SHT_NOBITS && !r->mem->frozen)) {
		err = 0;
		goto cleanup;
	}
	/* the bias from this file's mappings alone, wherever else they lie */
	struct tsc_vma *same = calloc(r->maps.n, sizeof(*same));
	size_t nsame = 0;
	if (!same) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = first; i < r->maps.n; i++)
		if (tsc_vma_same_file(&r->maps.vma[i], v))
			same[nsame++] = r->maps.vma[i];
	err = tsc_elf_bias(&e, same, nsame, &r->bias);
	free(same);
	if (err) {
		err = fail(r, -EPROTO, "%s: cannot find where it is loaded in process %d",
			   v->path, r->pid);
		goto cleanup;
	}
	snprintf(r->binary, sizeof(r->binary), "%s", here);
	snprintf(r->target_path, sizeof(r->target_path), "%s", v->path);
	r->desc_addr = sh.sh_addr + r->bias;
	err = read_desc(r, r->desc_addr, sh.sh_size);
	err = err ? err : 1;
cleanup:
	tsc_elf_close(&e);
	close(fd);
	return err;
}

/* A core whose files hold no runtime: because a file was missing or of another build, or
 * because its process had none. */
static int core_not_found(struct tsc_remote *r, int first_err)
{
	if (first_err == -ESTALE)
		return fail(r, -ESTALE, "no runtime found in the core %s: a file it mapped here is "
			    "another build than the process ran (give the right executable with "
			    "--exe)", r->core);
	if (first_err)
		return first_err;
	return fail(r, -ENODATA, "the process of core %s (PID %d) was not a taskscope process "
		    "(no %s section in its executable or libraries)", r->core, r->pid,
		    TS_DEBUG_SECTION);
}

int tsc_remote_find_runtime(struct tsc_remote *r)
{
	/* Most often the runtime is in the executable, its lowest file mapping: try that alone
	 * first, since listing every mapping walks all the task stacks' anonymous ones too. */
	if (r->procfd >= 0 && !tsc_maps_read_first(r->procfd, &r->maps) && r->maps.n == 1) {
		if (try_file(r, 0) == 1)
			return 0;
	}
	tsc_maps_free(&r->maps);
	r->binary[0] = r->target_path[0] = 0;
	r->err[0] = 0;
	int err = tsc_mem_maps(r->mem, &r->maps);
	if (err == -EACCES || err == -EPERM)
		return fail(r, err, "cannot read the mappings of process %d: permission denied",
			    r->pid);
	if (err == -ESRCH || (err && !tsc_remote_alive(r)))
		return fail(r, -ESRCH, "process %d exited", r->pid);
	if (err)
		return fail(r, err, "cannot read /proc/%d/maps: %s", r->pid, strerror(-err));
	if (!tsc_remote_alive(r))
		return fail(r, -ESRCH, "process %d exited", r->pid);

	int first_err = 0;
	for (size_t i = 0; i < r->maps.n; i++) {
		size_t k;
		for (k = 0; k < i && !tsc_vma_same_file(&r->maps.vma[k], &r->maps.vma[i]); k++)
			;
		if (k < i)
			continue; /* this file was tried already */
		err = try_file(r, i);
		if (err == 1)
			return 0;
		if (err == -EPROTO || err == -EPROTONOSUPPORT || err == -ESRCH || err == -EPERM ||
		    err == -ENOSYS)
			return err;
		if (err && err != -ENODEV && !first_err) {
			first_err = err;
			fail(r, err, "cannot open %s of process %d: %s%s", r->maps.vma[i].path, r->pid,
			     tsc_tfile_strerror(err),
			     err == -TSC_ENOTREG || err == -ESTALE ?
			     " (that path no longer leads to the mapped file; /proc/PID/map_files, "
			     "which does, needs CAP_SYS_ADMIN: run as root)" : "");
		}
	}
	if (!tsc_remote_alive(r))
		return fail(r, -ESRCH, "process %d exited", r->pid);
	if (r->mem->frozen)
		return core_not_found(r, first_err);
	/* an unreadable file might have been the runtime: say so rather than "not taskscope" */
	if (first_err == -EACCES || first_err == -EPERM || first_err == -TSC_ENOTREG ||
	    first_err == -ESTALE)
		return first_err;
	return fail(r, -ENODATA, "process %d is not a taskscope process (no %s section in its "
		    "executable or libraries)", r->pid, TS_DEBUG_SECTION);
}

int tsc_remote_next_id(struct tsc_remote *r, uint64_t *id)
{
	int err = tsc_mem_read1(r->mem, r->desc.next_id_addr, id, sizeof(*id));
	if (err)
		return fail(r, err == -EFAULT ? -EPROTO : err, "cannot read the next task id of "
			    "process %d: %s", r->pid, strerror(-err));
	return 0;
}
