/* SPDX-License-Identifier: MIT */
/* A task that was running when a core was written, unwound from its thread's registers with
 * the call frame information (.eh_frame) of each frame's file, and by frame pointers where a
 * file has none. Frame pointers alone stop at the first function built without them (the C
 * library, around abort() or a system call); CFI walks through those back into the task's
 * own frames. Parked tasks keep the frame-pointer walk (unwind.h): CFI is for the one
 * running frame per thread. */
#ifndef TSC_CFI_H
#define TSC_CFI_H

#include <stdint.h>

#include "stacks/unwind.h"
#include "target/model.h"

#define TSC_CFI_NREGS 17 /* DWARF x86-64: 0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi, 5 rdi, 6 rbp,
			  * 7 rsp, 8-15 r8-r15, 16 the return address (rip) */

struct tsc_memsrc;
struct tsc_symbolizer;

/* Task t (its stack bounds as the snapshot read them) from the registers regs (DWARF
 * numbering): pc[0] = rip, exact; then each caller, every step checked to stay inside the
 * task's stack and to move up it, bounded by TSC_STACK_MAX_FRAMES. A thread whose rsp is
 * not on t's stack gives TSC_STACK_RUNNING and no frames. */
void tsc_cfi_unwind(struct tsc_symbolizer *sym, const struct tsc_memsrc *src,
		    const struct tsc_task *t, const uint64_t regs[TSC_CFI_NREGS],
		    struct tsc_stack *out);

#endif
