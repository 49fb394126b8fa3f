// SPDX-License-Identifier: MIT
/* Unwinding a core's running task by its call frame information (cfi.h). The CFI and the
 * stack are both the target's: each rule is evaluated by a small interpreter that knows the
 * few operations compilers emit for x86-64 frames, and refuses the rest. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdbool.h>
#include <stdlib.h>

#include "stacks/cfi.h"
#include "stacks/symbolize.h"
#include "target/memsrc.h"

#define RBP 6
#define RSP 7
#define RIP 16
#define EXPR_STACK 8

/* Evaluate a DWARF expression of a CFI rule: 0 and *out, or -1 when it is not one we read. A
 * location (no DW_OP_stack_value at the end) is read from memory. */
static int eval(const struct tsc_memsrc *src, const Dwarf_Op *ops, size_t n, uint64_t cfa,
		const uint64_t *regs, const bool *known, bool location, uint64_t *out)
{
	uint64_t st[EXPR_STACK];
	size_t sp = 0;
	for (size_t i = 0; i < n; i++) {
		const Dwarf_Op *o = &ops[i];
		uint64_t v;
		if (o->atom == DW_OP_stack_value) {
			if (i != n - 1)
				return -1;
			location = false;
			continue;
		}
		if (sp == EXPR_STACK)
			return -1;
		if (o->atom >= DW_OP_breg0 && o->atom <= DW_OP_breg16) {
			unsigned r = o->atom - DW_OP_breg0;
			if (!known[r])
				return -1;
			st[sp++] = regs[r] + (uint64_t)(int64_t)o->number;
		} else if (o->atom == DW_OP_bregx) {
			if (o->number >= TSC_CFI_NREGS || !known[o->number])
				return -1;
			st[sp++] = regs[o->number] + (uint64_t)(int64_t)o->number2;
		} else if (o->atom >= DW_OP_lit0 && o->atom <= DW_OP_lit31) {
			st[sp++] = o->atom - DW_OP_lit0;
		} else if (o->atom == DW_OP_call_frame_cfa) {
			st[sp++] = cfa;
		} else if (o->atom == DW_OP_consts || o->atom == DW_OP_constu ||
			   o->atom == DW_OP_const1u || o->atom == DW_OP_const1s ||
			   o->atom == DW_OP_const2u || o->atom == DW_OP_const2s ||
			   o->atom == DW_OP_const4u || o->atom == DW_OP_const4s ||
			   o->atom == DW_OP_const8u || o->atom == DW_OP_const8s) {
			st[sp++] = o->number;
		} else if (o->atom == DW_OP_plus_uconst && sp) {
			st[sp - 1] += o->number;
		} else if ((o->atom == DW_OP_plus || o->atom == DW_OP_minus) && sp >= 2) {
			sp--;
			st[sp - 1] = o->atom == DW_OP_plus ? st[sp - 1] + st[sp] : st[sp - 1] - st[sp];
		} else if (o->atom == DW_OP_deref && sp) {
			if (tsc_mem_read1(src, st[sp - 1], &v, 8))
				return -1;
			st[sp - 1] = v;
		} else {
			return -1;
		}
	}
	if (sp != 1)
		return -1;
	if (!location) {
		*out = st[0];
		return 0;
	}
	return tsc_mem_read1(src, st[0], out, 8) ? -1 : 0;
}

/* One step by CFI: the caller's registers into next. 1 done, 0 when pc has no CFI, -1 when
 * its rules cannot be followed. */
static int cfi_step(struct tsc_symbolizer *sym, const struct tsc_memsrc *src, uint64_t pc,
		    bool exact, const uint64_t *regs, const bool *known, uint64_t *next,
		    bool *nknown)
{
	uint64_t bias, cfa;
	Dwarf_CFI *cfi = tsc_symbolizer_cfi(sym, pc, &bias);
	Dwarf_Frame *fr = NULL;
	Dwarf_Op *ops, mem[3];
	size_t nops;
	int rc = -1;
	/* a return address points after its call, maybe past the function's end */
	if (!cfi || dwarf_cfi_addrframe(cfi, (exact ? pc : pc - 1) - bias, &fr))
		return 0;
	if (dwarf_frame_cfa(fr, &ops, &nops) || eval(src, ops, nops, 0, regs, known, false, &cfa))
		goto cleanup;
	for (unsigned r = 0; r < TSC_CFI_NREGS; r++) {
		nknown[r] = false;
		if (dwarf_frame_register(fr, (int)r, mem, &ops, &nops))
			continue;
		if (!nops) { /* undefined (no ops) or the same value */
			/* libdw gives a register no rule mentions as undefined; the psABI's
			 * callee-saved ones (rbx, rbp, r12-r15) keep their value then */
			nknown[r] = (ops || r == 3 || r == RBP || (r >= 12 && r <= 15)) && known[r];
			next[r] = regs[r];
			continue;
		}
		nknown[r] = !eval(src, ops, nops, cfa, regs, known, true, &next[r]);
	}
	next[RSP] = cfa; /* by definition: the stack pointer before the call */
	nknown[RSP] = true;
	rc = nknown[RIP] ? 1 : -1;
cleanup:
	free(fr);
	return rc;
}

void tsc_cfi_unwind(struct tsc_symbolizer *sym, const struct tsc_memsrc *src,
		    const struct tsc_task *t, const uint64_t regs_in[TSC_CFI_NREGS],
		    struct tsc_stack *out)
{
	uint64_t regs[TSC_CFI_NREGS], next[TSC_CFI_NREGS];
	bool known[TSC_CFI_NREGS], nknown[TSC_CFI_NREGS];
	uint64_t lo = t->stack_lo, hi = t->stack_hi;

	*out = (struct tsc_stack){ .tries = 1, .exact_pc0 = true };
	for (unsigned r = 0; r < TSC_CFI_NREGS; r++) {
		regs[r] = regs_in[r];
		known[r] = true;
	}
	if (!regs[RIP] || lo >= hi || regs[RSP] < lo || regs[RSP] >= hi) {
		/* not on its own stack (in the scheduler, or on a signal stack): nothing to show */
		*out = (struct tsc_stack){ .tries = 1, .end = TSC_STACK_RUNNING };
		return;
	}
	out->pc[out->n++] = regs[RIP];
	for (bool exact = true;; exact = false) {
		int rc = cfi_step(sym, src, regs[RIP], exact, regs, known, next, nknown);
		if (rc < 0) {
			out->end = TSC_STACK_BAD_FRAME;
			out->bad_fp = regs[RSP];
			return;
		}
		if (rc == 0) { /* no CFI here: the frame record at rbp, as unwind.c reads it */
			uint64_t fp = regs[RBP], rec[2];
			if (!known[RBP] || fp % 8 || fp < regs[RSP] || fp < lo || fp > hi - 16 ||
			    tsc_mem_read1(src, fp, rec, sizeof(rec))) {
				out->end = TSC_STACK_BAD_FRAME;
				out->bad_fp = fp;
				return;
			}
			for (unsigned r = 0; r < TSC_CFI_NREGS; r++) {
				next[r] = regs[r];
				nknown[r] = known[r] && (r == 3 || r >= 12) && r != RIP;
			}
			next[RBP] = rec[0];
			next[RIP] = rec[1];
			next[RSP] = fp + 16;
			nknown[RBP] = nknown[RIP] = nknown[RSP] = true;
		}
		/* the runtime starts every task with rbp = 0: the frame that restores it is the
		 * task's entry, where its stack ends */
		if (nknown[RBP] && next[RBP] == 0) {
			out->end = TSC_STACK_COMPLETE;
			return;
		}
		if (next[RSP] <= regs[RSP] || next[RSP] > hi || !next[RIP]) {
			out->end = TSC_STACK_BAD_FRAME;
			out->bad_fp = next[RSP];
			return;
		}
		if (out->n == TSC_STACK_MAX_FRAMES) {
			out->end = TSC_STACK_TRUNCATED;
			return;
		}
		out->pc[out->n++] = next[RIP];
		for (unsigned r = 0; r < TSC_CFI_NREGS; r++) {
			regs[r] = next[r];
			known[r] = nknown[r];
		}
	}
}
