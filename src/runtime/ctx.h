/* SPDX-License-Identifier: MIT */
/*
 * Context switch for x86-64 (System V psABI).
 *
 * A suspended context is just a stack pointer; the stack holds this frame, lowest address
 * first. Only callee-saved state needs saving (psABI §3.2.1): rbx, rbp, r12-r15, and the
 * control bits of MXCSR and the x87 control word (§3.2.3 makes them callee-saved too).
 * Everything else is clobbered across the call to ts__ctx_switch, which the compiler knows.
 */
#ifndef TS_CTX_H
#define TS_CTX_H

#define TS_FRAME_MXCSR 0  /* uint32_t */
#define TS_FRAME_FPUCW 4  /* uint16_t */
#define TS_FRAME_R15 8
#define TS_FRAME_R14 16
#define TS_FRAME_R13 24   /* new task: entry function */
#define TS_FRAME_R12 32   /* new task: its argument */
#define TS_FRAME_RBX 40
#define TS_FRAME_RBP 48   /* new task: 0, ends frame-pointer walks */
#define TS_FRAME_RET 56   /* where ts__ctx_switch returns to */
#define TS_FRAME_SIZE 64

#ifndef __ASSEMBLER__
#include <stddef.h>
#include <stdint.h>

struct ts_frame {
	uint32_t mxcsr;
	uint16_t fpucw;
	uint16_t pad;
	uint64_t r15, r14, r13, r12, rbx, rbp, ret;
};

_Static_assert(offsetof(struct ts_frame, mxcsr) == TS_FRAME_MXCSR, "frame layout");
_Static_assert(offsetof(struct ts_frame, fpucw) == TS_FRAME_FPUCW, "frame layout");
_Static_assert(offsetof(struct ts_frame, r15) == TS_FRAME_R15, "frame layout");
_Static_assert(offsetof(struct ts_frame, r14) == TS_FRAME_R14, "frame layout");
_Static_assert(offsetof(struct ts_frame, r13) == TS_FRAME_R13, "frame layout");
_Static_assert(offsetof(struct ts_frame, r12) == TS_FRAME_R12, "frame layout");
_Static_assert(offsetof(struct ts_frame, rbx) == TS_FRAME_RBX, "frame layout");
_Static_assert(offsetof(struct ts_frame, rbp) == TS_FRAME_RBP, "frame layout");
_Static_assert(offsetof(struct ts_frame, ret) == TS_FRAME_RET, "frame layout");
_Static_assert(sizeof(struct ts_frame) == TS_FRAME_SIZE, "frame layout");

/* Save the current context's stack pointer into *save, resume the one at load. */
void ts__ctx_switch(void **save, void *load);
/* First code a new context runs: calls r13(r12) and must never return. */
void ts__ctx_trampoline(void);

/* Lay out a frame at the top of [lo, hi) so that switching to it calls fn(arg). */
static inline void *ts__ctx_make(void *lo, void *hi, void (*fn)(void *), void *arg)
{
	(void)lo;
	/* After `ret` pops the frame, rsp = sp + 64 must be 16-byte aligned so that the
	 * trampoline's call leaves the entry function with the psABI's rsp+8 alignment. */
	uintptr_t sp = ((uintptr_t)hi & ~(uintptr_t)15) - 16 - TS_FRAME_SIZE;
	struct ts_frame *f = (struct ts_frame *)sp;
	uint32_t mxcsr;
	uint16_t fpucw;
	__asm__ volatile("stmxcsr %0; fnstcw %1" : "=m"(mxcsr), "=m"(fpucw));
	*f = (struct ts_frame){ .mxcsr = mxcsr, .fpucw = fpucw, .r13 = (uintptr_t)fn,
				.r12 = (uintptr_t)arg, .rbp = 0,
				.ret = (uintptr_t)ts__ctx_trampoline };
	return f;
}
#endif
#endif
