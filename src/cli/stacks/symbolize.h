/* SPDX-License-Identifier: MIT */
/* Addresses of a process to function, file and line: the mapping from its memory source
 * (memsrc.h) and its load bias, symbols from .symtab/.dynsym (libelf), lines and inlined
 * calls from DWARF (libdw), in the binary or in separate debug info found by build-id. Each
 * binary is loaded once, keyed by build-id; each address is resolved once. */
#ifndef TSC_SYMBOLIZE_H
#define TSC_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>

struct tsc_sym {
	const char *fn;       /* NULL when no symbol covers the address */
	uint64_t fn_off;      /* the address minus the function's start (0 for inlined frames) */
	const char *file;     /* NULL when there is no line information */
	unsigned line;        /* 0 when unknown */
	bool inlined;         /* a call inlined into the function of the next tsc_sym */
	const char *obj;      /* the mapped file as /proc/PID/maps names it; NULL if none */
	uint64_t obj_addr;    /* the address in that file's own address space (pc - load bias) */
	const char *build_id; /* lower-case hex; NULL when the file has none */
};

struct tsc_symbolizer;

/* Debug info is looked up under each directory of $TASKSCOPE_DEBUG_DIRS (':'-separated),
 * then /usr/lib/debug, as DIR/.build-id/xx/rest.debug. Returns 0 or -errno. */
struct tsc_memsrc;
/* Mappings and files come from src, which must outlive the symbolizer. */
int tsc_symbolizer_new(const struct tsc_memsrc *src, struct tsc_symbolizer **out);
void tsc_symbolizer_free(struct tsc_symbolizer *s); /* accepts NULL */

/* Resolve pc; ret: pc is a return address, so its call is looked up (at pc - 1). Sets *syms to
 * the frames at pc, innermost first (inlined calls, then the real function), owned by s and
 * valid until tsc_symbolizer_free; returns their number, at least 1. Returns 0 (and an unknown
 * frame) for an address first met once the symbolizer's budget is spent: the addresses come
 * from the target's stacks, and a target can make millions of distinct ones. */
#define TSC_SYM_MAX_ADDRS 100000             /* distinct addresses resolved, at most */
#define TSC_SYM_MAX_NS (2 * 1000000000ull)  /* time spent resolving them, at most */
unsigned tsc_symbolize(struct tsc_symbolizer *s, uint64_t pc, bool ret, const struct tsc_sym **syms);

/* The call frame information for pc (its file's .eh_frame) and that file's load bias; NULL
 * when pc is in no file mapping or its file has none. Owned by s. */
#include <elfutils/libdw.h>
Dwarf_CFI *tsc_symbolizer_cfi(struct tsc_symbolizer *s, uint64_t pc, uint64_t *bias);

/* Counters for -v and the benchmarks. */
struct tsc_symbolizer_stats {
	unsigned binaries, lookups, cache_hits;
	unsigned unresolved;  /* lookups refused once the budget was spent */
	uint64_t load_ns;     /* spent opening binaries and their debug info */
};
void tsc_symbolizer_stats(const struct tsc_symbolizer *s, struct tsc_symbolizer_stats *st);

#endif
