/* SPDX-License-Identifier: MIT */
/* ts__ctx_switch(void **save (rdi), void *load (rsi)); frame layout in ctx.h. */
#include "ctx.h"

#if !defined(__x86_64__)
#error "taskscope: the context switch is written for x86-64 only"
#endif

	.text
	.globl ts__ctx_switch
	.hidden ts__ctx_switch
	.type ts__ctx_switch, @function
	.p2align 4
ts__ctx_switch:
	.cfi_startproc
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	subq $8, %rsp
	stmxcsr TS_FRAME_MXCSR(%rsp)
	fnstcw TS_FRAME_FPUCW(%rsp)
	movq %rsp, (%rdi)
	/* the new frame pointer before the new stack: a sampler that reads the current task
	 * (stored before this call) and walks the frame pointers never sees the old frames
	 * with the new stack, only, for one instruction, the new frames with the old stack */
	movq TS_FRAME_RBP(%rsi), %rbp
	movq %rsi, %rsp
	ldmxcsr TS_FRAME_MXCSR(%rsp)
	fldcw TS_FRAME_FPUCW(%rsp)
	addq $8, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.cfi_endproc
	.size ts__ctx_switch, .-ts__ctx_switch

	.globl ts__ctx_trampoline
	.hidden ts__ctx_trampoline
	.type ts__ctx_trampoline, @function
	.p2align 4
ts__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip	/* outermost frame: unwinders stop here */
	movq %r12, %rdi
	callq *%r13
	ud2
	.cfi_endproc
	.size ts__ctx_trampoline, .-ts__ctx_trampoline

	.section .note.GNU-stack,"",@progbits
