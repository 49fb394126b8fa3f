/* SPDX-License-Identifier: MIT */
/* libelf helpers: a section by name, the load bias, the USDT notes. */
#include "elfx.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int tsc_elf_open(int fd, struct tsc_elf *e)
{
	memset(e, 0, sizeof(*e));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;
	e->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e->elf)
		return -ENOEXEC;
	if (elf_kind(e->elf) != ELF_K_ELF || gelf_getclass(e->elf) != ELFCLASS64) {
		elf_end(e->elf);
		e->elf = NULL;
		return -ENOEXEC;
	}
	e->fd = fd;
	return 0;
}

void tsc_elf_close(struct tsc_elf *e)
{
	if (e && e->elf)
		elf_end(e->elf);
	if (e)
		e->elf = NULL;
}

int tsc_elf_section(struct tsc_elf *e, const char *name, GElf_Shdr *out)
{
	size_t shstrndx;
	if (elf_getshdrstrndx(e->elf, &shstrndx))
		return -ENOEXEC;
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(e->elf, scn));) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh))
			continue;
		const char *n = elf_strptr(e->elf, shstrndx, sh.sh_name);
		if (n && !strcmp(n, name)) {
			*out = sh;
			return 0;
		}
	}
	return -ENOENT;
}

int tsc_elf_bias(struct tsc_elf *e, const struct tsc_vma *vma, size_t n, uint64_t *bias)
{
	uint64_t pmask = ~((uint64_t)sysconf(_SC_PAGESIZE) - 1);
	size_t nph;
	if (elf_getphdrnum(e->elf, &nph))
		return -ENOEXEC;
	/* a segment's first mapping starts at its page-aligned file offset */
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < nph; k++) {
			GElf_Phdr ph;
			if (!gelf_getphdr(e->elf, (int)k, &ph) || ph.p_type != PT_LOAD)
				continue;
			if ((ph.p_offset & pmask) == vma[i].offset) {
				*bias = vma[i].start - (ph.p_vaddr & pmask);
				return 0;
			}
		}
	}
	return -ENOENT;
}

/* The note's descriptor: pc, base, semaphore (64-bit), then provider, name, args strings. */
static int parse_note(const char *d, size_t len, uint64_t base_addr, struct tsc_usdt *u)
{
	uint64_t pc, base, sema;
	if (len < 24 + 3)
		return -EINVAL;
	memcpy(&pc, d, 8);
	memcpy(&base, d + 8, 8);
	memcpy(&sema, d + 16, 8);
	const char *s = d + 24, *end = d + len;
	const char *str[3];
	for (int i = 0; i < 3; i++) {
		const char *nul = memchr(s, 0, (size_t)(end - s));
		if (!nul)
			return -EINVAL;
		str[i] = s;
		s = nul + 1;
		if (i < 2 && s >= end)
			return -EINVAL;
	}
	/* prelink-style relocation: the note recorded .stapsdt.base's link-time address */
	if (base && base_addr)
		pc += base_addr - base;
	u->pc = pc;
	u->sema = sema;
	u->provider = str[0];
	u->name = str[1];
	u->args = str[2];
	return 0;
}

int tsc_elf_usdt_foreach(struct tsc_elf *e, int (*fn)(const struct tsc_usdt *u, void *ctx),
			 void *ctx)
{
	GElf_Shdr base_sh;
	uint64_t base_addr = 0;
	size_t shstrndx;
	if (!tsc_elf_section(e, ".stapsdt.base", &base_sh))
		base_addr = base_sh.sh_addr;
	if (elf_getshdrstrndx(e->elf, &shstrndx))
		return -ENOEXEC;
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(e->elf, scn));) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		const char *sname = elf_strptr(e->elf, shstrndx, sh.sh_name);
		if (!sname || strcmp(sname, ".note.stapsdt"))
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		GElf_Nhdr nh;
		size_t off = 0, name_off, desc_off;
		while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			const char *buf = data->d_buf;
			struct tsc_usdt u;
			if (nh.n_type != 3 || nh.n_namesz != 8 || memcmp(buf + name_off, "stapsdt", 8))
				continue;
			if (parse_note(buf + desc_off, nh.n_descsz, base_addr, &u))
				continue;
			int r = fn(&u, ctx);
			if (r)
				return r;
		}
	}
	return 0;
}
