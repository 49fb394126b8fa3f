/* SPDX-License-Identifier: MIT */
/*
 * A core file as a memory source (memsrc.h, memsrc_core.c), and what else it says: the
 * process it was, each thread's registers (NT_PRSTATUS) and the signal that wrote it
 * (NT_SIGINFO). The file is hostile input: read with pread, never mapped, every count and
 * size bounded before anything is allocated for it.
 */
#ifndef TSC_CORE_H
#define TSC_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "target/memsrc.h"

#define TSC_CORE_MAX_SEGMENTS (1u << 20)  /* program headers read, at most */
#define TSC_CORE_MAX_NOTES (64u << 20)    /* bytes of notes read, at most */
#define TSC_CORE_MAX_THREADS (1u << 16)   /* NT_PRSTATUS notes kept, at most */

/* One thread of the core, in the order of its notes: the kernel and gdb both put the thread
 * the signal hit first. */
struct tsc_core_thread {
	int32_t tid;                  /* as the dumper numbered it */
	int cursig;                   /* pr_cursig */
	/* its registers in DWARF's x86-64 numbering (stacks/cfi.h): 0 rax, 1 rdx, 2 rcx, 3 rbx,
	 * 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8-15 r8-r15, 16 rip */
	uint64_t regs[17];
	int has_siginfo;              /* an NT_SIGINFO followed its NT_PRSTATUS */
	int sig_signo, sig_code;
	uint64_t fault_addr;             /* the faulting address (SIGSEGV, SIGBUS, SIGILL, SIGFPE) */
};

struct tsc_core_info {
	int pid;                      /* NT_PRPSINFO, else the first thread's */
	struct tsc_core_thread *threads;
	size_t nthreads;
	uint64_t entry;               /* AT_ENTRY of NT_AUXV: inside the executable; 0 if none */
	uint64_t written_ns;          /* the file's modification time (CLOCK_REALTIME) */
};

/*
 * Errors of tsc_memsrc_core_new (the detail in err):
 *   -ENOEXEC  not an x86-64 ELF core file
 *   -EBADMSG  a core, but truncated or with damaged headers or notes
 *   -ESTALE   the file given as the executable (exe) is not the one the core ran
 *   -errno    it cannot be opened or read
 */
int tsc_memsrc_core_new(const char *path, const char *exe, struct tsc_memsrc **out, char *err,
			size_t errlen);

/* What the core says beyond its memory; NULL for a source that is not a core. */
const struct tsc_core_info *tsc_memsrc_core_info(const struct tsc_memsrc *m);

#endif
