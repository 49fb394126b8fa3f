/* SPDX-License-Identifier: MIT */
/* One ELF file's functions, lines and inlined calls: symbols from .symtab/.dynsym (libelf),
 * lines and inlined calls from DWARF (libdw), in the file itself or in separate debug info
 * found by build-id.
 *
 * The file is the target's, so hostile. It is read through tsc_elf (bounded, never mapped),
 * and libdw is kept from what it would otherwise do on its own: open files that the DWARF
 * names (split units, a supplement by path), recurse as deep as the DIEs nest, or inflate
 * compressed sections beyond our budget. */
#ifndef TSC_SYMFILE_H
#define TSC_SYMFILE_H

#include <stdint.h>
#include "target/maps.h"
#include "stacks/symbolize.h"

struct tsc_symfile;

/* Opens the file whose build-id is hex (separate debug info, or a DWARF supplement) for
 * reading; returns its fd (the caller of the callback's caller closes it) or -1. */
typedef int (*tsc_find_debug_fn)(const char *hex, void *ctx);

/* Load the file open at fd (not kept: the caller may close it at once). find may be NULL.
 * *budget: the bytes it may read from the file and its debug files, lowered by what they
 * took. Returns 0, or -errno (-ENOEXEC: not an ELF file we read). */
int tsc_symfile_load(int fd, tsc_find_debug_fn find, void *ctx, uint64_t *budget,
		     struct tsc_symfile **out);
void tsc_symfile_free(struct tsc_symfile *f); /* accepts NULL */

/* Lower-case hex; NULL when the file has none. */
const char *tsc_symfile_build_id(const struct tsc_symfile *f);

/* The load bias of mapping v of this file: an address in the process minus the bias is the
 * file's own address. */
uint64_t tsc_symfile_bias(const struct tsc_symfile *f, const struct tsc_vma *v);

/* The frames at file address addr (look: addr, or addr - 1 to look up the call of a return
 * address), innermost first, into out[0..max): fn, fn_off, file, line and inlined set, the
 * rest zero. Returns their number, at least 1. */
unsigned tsc_symfile_lookup(struct tsc_symfile *f, uint64_t addr, uint64_t look,
			    struct tsc_sym *out, unsigned max);

/* The call frame information of the file's .eh_frame (libdw), NULL when it has none. */
#include <elfutils/libdw.h>
Dwarf_CFI *tsc_symfile_cfi(struct tsc_symfile *f);

#endif
