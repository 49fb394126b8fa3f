/* SPDX-License-Identifier: MIT */
/* libFuzzer target: everything the CLI reads from a target's ELF files, on any bytes.
 *  - the note reader (src/cli/target/elfx.c): sections, build-id, USDT notes and the checks before a
 *    uprobe goes on one of their sites, load biases;
 *  - the symbolizer's file half (src/cli/stacks/symfile.c): symbol tables, DWARF through libdw with
 *    its guards, separate debug info found by build-id (here: the same bytes again).
 * The input is the file. Built by `make fuzz` with ASan and UBSan; run by tests/fuzz/run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target/elfx.c"
#include "stacks/symfile.c"
#include "target/tfile.c"
#include "memfd.h"

#define MAX_LOOKUPS 48

static const uint8_t *cur;
static size_t cur_len;

/* Any build-id asked for (debug file, DWARF supplement) finds the input again. */
static int find_same(const char *hex, void *ctx)
{
	(void)hex, (void)ctx;
	return fuzz_memfd(cur, cur_len);
}

static int on_note(const struct tsc_usdt *u, void *ctx)
{
	struct tsc_elf *e = ctx;
	uint64_t off, ref;
	if (!tsc_elf_usdt_site(e, u, &off, &ref) && (off >= e->size || ref >= e->size))
		abort(); /* a site we would attach must lie in the file */
	return strlen(u->provider) + strlen(u->name) + strlen(u->args) > (1u << 30);
}

static void notes(int fd)
{
	struct tsc_elf e;
	GElf_Shdr sh;
	uint64_t bias;
	if (tsc_elf_open(fd, &e, TSC_ELF_NOTES, 1u << 26))
		return;
	(void)tsc_elf_section(&e, ".taskscope_debug", &sh, NULL);
	free(tsc_elf_build_id(&e));
	(void)tsc_elf_usdt_foreach(&e, on_note, &e);
	struct tsc_vma v[4];
	size_t n = 0;
	for (size_t i = 0; i < e.nloads && n < 4; i++, n++)
		v[n] = (struct tsc_vma){ .start = 0x7f0000000000ull + i * 0x100000,
					 .offset = e.loads[i].p_offset & ~0xfffull };
	(void)tsc_elf_bias(&e, v, n, &bias);
	tsc_elf_close(&e);
}

static void lookup(struct tsc_symfile *f, uint64_t addr)
{
	struct tsc_sym out[16];
	unsigned n = tsc_symfile_lookup(f, addr, addr ? addr - 1 : 0, out, 16);
	if (n < 1 || n > 16)
		abort();
	for (unsigned i = 0; i < n; i++) /* every string it hands out must end */
		if ((out[i].fn && strlen(out[i].fn) >= MAX_NAME) ||
		    (out[i].file && strlen(out[i].file) >= MAX_NAME))
			abort();
}

static void symbols(int fd)
{
	struct tsc_symfile *f;
	uint64_t budget = 1u << 26;
	size_t k = 0;
	if (tsc_symfile_load(fd, find_same, NULL, &budget, &f))
		return;
	struct tsc_vma v = { .start = 0x7f0000001000ull, .offset = 0x1000 };
	(void)tsc_symfile_bias(f, &v);
	for (size_t i = 0; i < f->nsyms && k < MAX_LOOKUPS / 3; i++, k++)
		lookup(f, f->syms[i].addr + (f->syms[i].size ? f->syms[i].size / 2 : 0));
	for (size_t i = 0; i < f->e.nloads && k < MAX_LOOKUPS / 2; i++, k++)
		lookup(f, f->e.loads[i].p_vaddr);
	/* where the DWARF says code is: the paths through the scopes and the lines */
	Dwarf_Aranges *ar;
	size_t nar;
	if (f->dwarf && !dwarf_getaranges(f->dwarf, &ar, &nar)) {
		for (size_t i = 0; i < nar && k < MAX_LOOKUPS; i++, k++) {
			Dwarf_Addr start;
			Dwarf_Word len;
			if (!dwarf_getarangeinfo(dwarf_onearange(ar, i), &start, &len, NULL))
				lookup(f, start + len / 2);
		}
	}
	tsc_symfile_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cur = data;
	cur_len = size;
	int fd = fuzz_memfd(data, size);
	notes(fd);
	symbols(fd);
	close(fd);
	return 0;
}
