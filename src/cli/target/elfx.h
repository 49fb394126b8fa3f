/* SPDX-License-Identifier: MIT */
/* The few things the CLI reads from ELF files with libelf: a section, the load bias, the
 * build-id and the USDT notes (.note.stapsdt, SystemTap's format). Section headers survive
 * strip.
 *
 * Every file read here is the target's, so hostile. It is never mapped: a target truncating
 * the file under a mapping would kill us with SIGBUS. Instead tsc_elf_open reads, with pread,
 * only what the caller will look at (headers, section names, notes; symbols and DWARF on
 * request) into a private image of the file's size whose other pages stay untouched, and
 * hands that to libelf (elf_memory). So the file may change under us, libelf never sees it
 * change; the header's counts are checked before libelf allocates for them; the bytes read
 * are bounded per file and by the caller's budget. */
#ifndef TSC_ELFX_H
#define TSC_ELFX_H

#include <gelf.h>
#include <stddef.h>
#include <stdint.h>
#include "target/maps.h"

#define TSC_ELF_MAX_SECTIONS 65536u      /* section headers, program headers: at most */
#define TSC_ELF_MAX_LOADS 64             /* PT_LOAD headers looked at (real files: 2 to 5) */
#define TSC_ELF_MAX_NOTE (16u << 20)     /* bytes of one note section */
#define TSC_ELF_MAX_READ (1ull << 30)    /* bytes read from one file, at most */

enum {
	TSC_ELF_NOTES = 0,        /* headers, section names and notes */
	TSC_ELF_SYMBOLS = 1,      /* ... and the symbol tables, their strings, DWARF and
				   * .eh_frame */
};

struct tsc_elf {
	Elf *elf;
	int fd;               /* borrowed, not closed; -1 once the caller closed it */
	char *image;          /* the file's bytes that were read, at their offsets */
	size_t size;          /* of the file, when opened */
	size_t mapped;        /* of the image: a zero page more */
	uint64_t used;        /* bytes read, plus the DWARF's decompressed sizes */
	uint8_t *filled;      /* per section: its bytes are in the image */
	size_t shnum, shstrndx;
	GElf_Phdr loads[TSC_ELF_MAX_LOADS];
	size_t nloads;
	int dwarf;            /* every DWARF section is in the image (TSC_ELF_SYMBOLS) */
};

/* Read fd's file: what is TSC_ELF_NOTES or TSC_ELF_SYMBOLS; at most budget bytes (and
 * TSC_ELF_MAX_READ); sections beyond it are left out. Returns 0, -ENOEXEC when fd is not a
 * 64-bit little-endian ELF file within our bounds, -TSC_ENOTREG, -EFBIG, or -errno. */
int tsc_elf_open(int fd, struct tsc_elf *e, int what, uint64_t budget);
void tsc_elf_close(struct tsc_elf *e); /* accepts a zeroed one */

/* The name of a section, NULL when unknown. */
const char *tsc_elf_scn_name(struct tsc_elf *e, const GElf_Shdr *sh);

/* The section named name (the first one); -ENOENT when there is none. scn may be NULL. */
int tsc_elf_section(struct tsc_elf *e, const char *name, GElf_Shdr *out, Elf_Scn **scn);

/* The data of a section that was read (see tsc_elf_open); NULL for any other. */
Elf_Data *tsc_elf_data(struct tsc_elf *e, Elf_Scn *scn);

/* The load bias where vma[0..n) (mappings of this one file) put it: a file address plus the
 * bias is the address in the process. -ENOENT when no mapping matches a loadable segment. */
int tsc_elf_bias(const struct tsc_elf *e, const struct tsc_vma *vma, size_t n, uint64_t *bias);

/* The file offset of a file address inside a loadable segment with all of the flags pf
 * (PF_X, PF_W), len bytes of file data there; -ENOENT when there is none. */
int tsc_elf_file_offset(const struct tsc_elf *e, uint64_t addr, uint64_t len, unsigned pf,
			uint64_t *off);

/* The build-id (NT_GNU_BUILD_ID) in lower-case hex, malloc'd; NULL when there is none. */
char *tsc_elf_build_id(struct tsc_elf *e);

struct tsc_usdt {
	uint64_t pc;          /* file address of the probe site, .stapsdt.base adjusted */
	uint64_t sema;        /* file address of the semaphore, 0 = none */
	const char *provider, *name, *args;
};

/* Calls fn for each USDT note (stops early when fn returns non-zero and returns that).
 * Returns 0, or -errno; malformed notes are skipped. */
int tsc_elf_usdt_foreach(struct tsc_elf *e, int (*fn)(const struct tsc_usdt *u, void *ctx),
			 void *ctx);

/* Where a uprobe for taskscope note u may go: the file offsets of its site and of its
 * semaphore (0 = none). A damaged or hostile note must not make us patch the target's code or
 * write into its data: the site must hold the 5-byte nop of include/taskscope/probes.h (every
 * taskscope site does; a lone 0x90 could be the middle of another instruction) in an
 * executable segment, read from the file now; the semaphore 2 aligned bytes inside .probes in
 * a writable segment, where <sys/sdt.h> and probes.h put them. -ENOEXEC otherwise. */
int tsc_elf_usdt_site(struct tsc_elf *e, const struct tsc_usdt *u, uint64_t *off, uint64_t *ref);

#endif
