/* SPDX-License-Identifier: MIT */
/* The few things the CLI reads from ELF files with libelf: a section, the load bias, and the
 * USDT notes (.note.stapsdt, SystemTap's format). Section headers survive strip. */
#ifndef TSC_ELFX_H
#define TSC_ELFX_H

#include <gelf.h>
#include <stdint.h>
#include "maps.h"

struct tsc_elf {
	Elf *elf;
	int fd;               /* borrowed, not closed */
};

/* Returns 0, -ENOEXEC when fd is not a 64-bit ELF file, or -errno. */
int tsc_elf_open(int fd, struct tsc_elf *e);
void tsc_elf_close(struct tsc_elf *e); /* accepts a zeroed one */

/* The section named name; -ENOENT when there is none. */
int tsc_elf_section(struct tsc_elf *e, const char *name, GElf_Shdr *out);

/* The load bias where vma[0..n) (mappings of this one file) put it: a file address plus the
 * bias is the address in the process. -ENOENT when no mapping matches a loadable segment. */
int tsc_elf_bias(struct tsc_elf *e, const struct tsc_vma *vma, size_t n, uint64_t *bias);

struct tsc_usdt {
	uint64_t pc;          /* file address of the probe site, .stapsdt.base adjusted */
	uint64_t sema;        /* file address of the semaphore, 0 = none */
	const char *provider, *name, *args;
};

/* Calls fn for each USDT note (stops early when fn returns non-zero and returns that).
 * Returns 0, or -errno; malformed notes are skipped. */
int tsc_elf_usdt_foreach(struct tsc_elf *e, int (*fn)(const struct tsc_usdt *u, void *ctx),
			 void *ctx);

#endif
