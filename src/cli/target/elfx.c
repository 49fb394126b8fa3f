/* SPDX-License-Identifier: MIT */
/* libelf on a private image of a target's file: a section by name, the load bias, the
 * build-id, the USDT notes and where their uprobes may go. */
#include "target/elfx.h"
#include "target/tfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_NOTE_SECTIONS 64
#define MAX_SHSTRTAB (16u << 20)
#define MAX_SPANS 256

/* ---- reading the image ---- */

/* The file ranges already in the image, sorted and disjoint: each byte is read once, so what
 * was checked in the image stays what libelf sees, whatever the file does meanwhile. */
struct filler {
	struct tsc_elf *e;
	uint64_t budget;
	struct { uint64_t lo, hi; } span[MAX_SPANS];
	size_t n;
};

static int read_gap(struct tsc_elf *e, uint64_t lo, uint64_t hi)
{
	long r = tsc_pread_full(e->fd, e->image + lo, (size_t)(hi - lo), lo);
	return r == (long)(hi - lo) ? 0 : -1; /* short: the file shrank */
}

/* Bring [lo, lo + len) of the file into the image: 0, or -1 when it lies outside the file,
 * goes beyond the budget or cannot be read. */
static int fill(struct filler *f, uint64_t lo, uint64_t len)
{
	struct tsc_elf *e = f->e;
	uint64_t hi, at, need = 0;
	size_t i;
	if (lo > e->size || len > e->size - lo || f->n == MAX_SPANS)
		return -1;
	hi = lo + len;
	for (i = 0, at = lo; i < f->n && at < hi; i++) {
		if (f->span[i].hi <= at)
			continue;
		if (f->span[i].lo >= hi)
			break;
		if (f->span[i].lo > at)
			need += f->span[i].lo - at;
		at = f->span[i].hi;
	}
	if (at < hi)
		need += hi - at;
	if (need > f->budget)
		return -1;
	for (i = 0, at = lo; i < f->n && at < hi; i++) {
		if (f->span[i].hi <= at)
			continue;
		if (f->span[i].lo >= hi)
			break;
		if (f->span[i].lo > at && read_gap(e, at, f->span[i].lo))
			return -1;
		at = f->span[i].hi;
	}
	if (at < hi && read_gap(e, at, hi))
		return -1;
	f->budget -= need;
	e->used += need;
	/* insert [lo, hi), merging what it touches */
	size_t first = 0, last;
	while (first < f->n && f->span[first].hi < lo)
		first++;
	for (last = first; last < f->n && f->span[last].lo <= hi; last++) {
		if (f->span[last].lo < lo)
			lo = f->span[last].lo;
		if (f->span[last].hi > hi)
			hi = f->span[last].hi;
	}
	memmove(&f->span[first + 1], &f->span[last], (f->n - last) * sizeof(f->span[0]));
	f->n = f->n - (last - first) + 1;
	f->span[first].lo = lo;
	f->span[first].hi = hi;
	return 0;
}

static void shdr_at(const struct tsc_elf *e, uint64_t shoff, size_t i, Elf64_Shdr *sh)
{
	memcpy(sh, e->image + shoff + i * sizeof(*sh), sizeof(*sh));
}

/* A name from the section-name table in the image; NULL when out of it. */
static const char *image_name(const struct tsc_elf *e, const Elf64_Shdr *strsh, uint32_t off)
{
	if (off >= strsh->sh_size)
		return NULL;
	const char *s = e->image + strsh->sh_offset + off;
	size_t room = (size_t)(strsh->sh_size - off);
	return strnlen(s, room) < room ? s : NULL;
}

static int is_dwarf_name(const char *n)
{
	return !strncmp(n, ".debug_", 7) || !strncmp(n, ".zdebug_", 8) ||
	       !strncmp(n, ".gnu.debuglto_", 14) || !strcmp(n, ".gnu_debugaltlink");
}

/* The bytes libdw will allocate to decompress DWARF section sh (0: not compressed). */
static uint64_t inflated_size(const struct tsc_elf *e, const Elf64_Shdr *sh, const char *name)
{
	const unsigned char *p = (const unsigned char *)e->image + sh->sh_offset;
	uint64_t n = 0;
	if ((sh->sh_flags & SHF_COMPRESSED) && sh->sh_size >= sizeof(Elf64_Chdr)) {
		Elf64_Chdr ch;
		memcpy(&ch, p, sizeof(ch));
		return ch.ch_size;
	}
	if (!strncmp(name, ".zdebug", 7) && sh->sh_size >= 12 && !memcmp(p, "ZLIB", 4))
		for (int i = 4; i < 12; i++) /* big-endian, after the magic */
			n = n << 8 | p[i];
	return n;
}

/* Read the sections the caller will use; the headers are in the image already. */
static void fill_sections(struct filler *f, uint64_t shoff, int what)
{
	struct tsc_elf *e = f->e;
	Elf64_Shdr sh, strsh;
	size_t notes = 0, symtab = 0, dynsym = 0;
	uint64_t inflated = 0;
	int names = e->shstrndx < e->shnum && e->filled[e->shstrndx];
	if (names)
		shdr_at(e, shoff, e->shstrndx, &strsh);
	e->dwarf = what == TSC_ELF_SYMBOLS;
	for (size_t i = 1; i < e->shnum; i++) {
		shdr_at(e, shoff, i, &sh);
		const char *name = names ? image_name(e, &strsh, sh.sh_name) : NULL;
		if (sh.sh_type == SHT_NOBITS || sh.sh_type == SHT_NULL || i == e->shstrndx)
			continue;
		if (what == TSC_ELF_SYMBOLS && name && is_dwarf_name(name)) {
			/* libdw takes every one of them, whatever its type: all in, or no DWARF */
			if (fill(f, sh.sh_offset, sh.sh_size)) {
				e->dwarf = 0;
				continue;
			}
			e->filled[i] = 1;
			uint64_t n = inflated_size(e, &sh, name);
			inflated = n > UINT64_MAX - inflated ? UINT64_MAX : inflated + n;
			continue;
		}
		if (sh.sh_type == SHT_NOTE) {
			if (notes < MAX_NOTE_SECTIONS && sh.sh_size <= TSC_ELF_MAX_NOTE &&
			    !fill(f, sh.sh_offset, sh.sh_size))
				e->filled[i] = 1;
			notes++;
			continue;
		}
		if (what != TSC_ELF_SYMBOLS)
			continue;
		if (name && (!strcmp(name, ".eh_frame") || !strcmp(name, ".eh_frame_hdr"))) {
			/* call frame information: a core's running task is unwound with it */
			if (!fill(f, sh.sh_offset, sh.sh_size))
				e->filled[i] = 1;
			continue;
		}
		if ((sh.sh_type == SHT_SYMTAB && !symtab++) || (sh.sh_type == SHT_DYNSYM && !dynsym++)) {
			/* the table with its strings, or neither */
			Elf64_Shdr ssh;
			if (sh.sh_link == 0 || sh.sh_link >= e->shnum)
				continue;
			shdr_at(e, shoff, sh.sh_link, &ssh);
			if (ssh.sh_type == SHT_STRTAB && !fill(f, sh.sh_offset, sh.sh_size) &&
			    !fill(f, ssh.sh_offset, ssh.sh_size))
				e->filled[i] = e->filled[sh.sh_link] = 1;
		}
	}
	/* what libdw will decompress counts too */
	if (inflated > f->budget) {
		e->dwarf = 0;
	} else if (e->dwarf) {
		f->budget -= inflated;
		e->used += inflated;
	}
}

int tsc_elf_open(int fd, struct tsc_elf *e, int what, uint64_t budget)
{
	struct filler f;
	Elf64_Ehdr eh;
	Elf64_Shdr s0;
	struct stat st;
	int err = -ENOEXEC;

	memset(e, 0, sizeof(*e));
	e->fd = fd;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;
	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -TSC_ENOTREG;
	if ((uint64_t)st.st_size > TSC_TFILE_MAX)
		return -EFBIG;
	if ((size_t)st.st_size < sizeof(eh))
		return -ENOEXEC;
	e->size = (size_t)st.st_size;
	/* Untouched pages cost nothing: only what is read takes memory. A zero page beyond the
	 * end: libdw hands out strings unchecked for their NUL, and one running off the end of
	 * the file must stop there. */
	e->mapped = e->size + (size_t)sysconf(_SC_PAGESIZE);
	e->image = mmap(NULL, e->mapped, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (e->image == MAP_FAILED) {
		e->image = NULL;
		return -ENOMEM;
	}
	memset(&f, 0, sizeof(f));
	f.e = e;
	f.budget = budget < TSC_ELF_MAX_READ ? budget : TSC_ELF_MAX_READ;

	if (fill(&f, 0, sizeof(eh)))
		goto fail;
	memcpy(&eh, e->image, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB)
		goto fail;
	/* the counts, before libelf allocates for them; past 0xff00 they live in section 0 */
	uint64_t shnum = eh.e_shnum, phnum = eh.e_phnum, shstrndx = eh.e_shstrndx;
	if (!eh.e_shoff && shnum)
		goto fail;
	if (eh.e_shoff) {
		if (fill(&f, eh.e_shoff, sizeof(s0)))
			goto fail;
		memcpy(&s0, e->image + eh.e_shoff, sizeof(s0));
		if (!shnum)
			shnum = s0.sh_size;
		if (phnum == PN_XNUM)
			phnum = s0.sh_info;
		if (shstrndx == SHN_XINDEX)
			shstrndx = s0.sh_link;
	}
	if (shnum > TSC_ELF_MAX_SECTIONS || phnum > TSC_ELF_MAX_SECTIONS ||
	    (shnum && eh.e_shentsize != sizeof(Elf64_Shdr)) ||
	    (phnum && eh.e_phentsize != sizeof(Elf64_Phdr)))
		goto fail;
	if (phnum && fill(&f, eh.e_phoff, phnum * sizeof(Elf64_Phdr)))
		goto fail;
	if (shnum && fill(&f, eh.e_shoff, shnum * sizeof(Elf64_Shdr)))
		goto fail;
	e->shnum = shnum;
	e->shstrndx = shstrndx;
	if (shnum && !(e->filled = calloc(shnum, 1))) {
		err = -ENOMEM;
		goto fail;
	}
	if (shstrndx && shstrndx < shnum) {
		Elf64_Shdr sh;
		shdr_at(e, eh.e_shoff, shstrndx, &sh);
		if (sh.sh_type == SHT_STRTAB && sh.sh_size <= MAX_SHSTRTAB &&
		    !fill(&f, sh.sh_offset, sh.sh_size))
			e->filled[shstrndx] = 1;
	}
	if (shnum)
		fill_sections(&f, eh.e_shoff, what);

	e->elf = elf_memory(e->image, e->size);
	if (!e->elf || elf_kind(e->elf) != ELF_K_ELF || gelf_getclass(e->elf) != ELFCLASS64)
		goto fail;
	for (size_t i = 0; i < phnum && e->nloads < TSC_ELF_MAX_LOADS; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(e->elf, (int)i, &ph) && ph.p_type == PT_LOAD)
			e->loads[e->nloads++] = ph;
	}
	return 0;
fail:
	tsc_elf_close(e);
	e->fd = fd;
	return err;
}

void tsc_elf_close(struct tsc_elf *e)
{
	if (!e)
		return;
	if (e->elf)
		elf_end(e->elf);
	if (e->image)
		munmap(e->image, e->mapped);
	free(e->filled);
	e->elf = NULL;
	e->image = NULL;
	e->filled = NULL;
}

/* ---- sections ---- */

const char *tsc_elf_scn_name(struct tsc_elf *e, const GElf_Shdr *sh)
{
	if (e->shstrndx >= e->shnum || !e->filled[e->shstrndx])
		return NULL;
	return elf_strptr(e->elf, e->shstrndx, sh->sh_name);
}

int tsc_elf_section(struct tsc_elf *e, const char *name, GElf_Shdr *out, Elf_Scn **scnp)
{
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(e->elf, scn));) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh))
			continue;
		const char *n = tsc_elf_scn_name(e, &sh);
		if (n && !strcmp(n, name)) {
			*out = sh;
			if (scnp)
				*scnp = scn;
			return 0;
		}
	}
	return -ENOENT;
}

Elf_Data *tsc_elf_data(struct tsc_elf *e, Elf_Scn *scn)
{
	size_t i = elf_ndxscn(scn);
	if (i == SHN_UNDEF || i >= e->shnum || !e->filled[i])
		return NULL;
	return elf_getdata(scn, NULL);
}

/* ---- addresses ---- */

int tsc_elf_bias(const struct tsc_elf *e, const struct tsc_vma *vma, size_t n, uint64_t *bias)
{
	uint64_t pmask = ~((uint64_t)sysconf(_SC_PAGESIZE) - 1);
	/* a segment's first mapping starts at its page-aligned file offset */
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < e->nloads; k++) {
			if ((e->loads[k].p_offset & pmask) == vma[i].offset) {
				*bias = vma[i].start - (e->loads[k].p_vaddr & pmask);
				return 0;
			}
		}
	}
	return -ENOENT;
}

int tsc_elf_file_offset(const struct tsc_elf *e, uint64_t addr, uint64_t len, unsigned pf,
			uint64_t *off)
{
	for (size_t i = 0; i < e->nloads; i++) {
		const GElf_Phdr *ph = &e->loads[i];
		if ((ph->p_flags & pf) != pf || addr < ph->p_vaddr)
			continue;
		uint64_t in = addr - ph->p_vaddr;
		if (in >= ph->p_filesz || len > ph->p_filesz - in || ph->p_offset > e->size ||
		    in > e->size - ph->p_offset || len > e->size - ph->p_offset - in)
			continue;
		*off = ph->p_offset + in;
		return 0;
	}
	return -ENOENT;
}

/* ---- notes ---- */

char *tsc_elf_build_id(struct tsc_elf *e)
{
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(e->elf, scn));) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		Elf_Data *d = tsc_elf_data(e, scn);
		size_t off = 0, name_off, desc_off;
		GElf_Nhdr nh;
		while (d && (off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
			if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
			    memcmp((char *)d->d_buf + name_off, "GNU", 4) || !nh.n_descsz ||
			    nh.n_descsz > 64)
				continue;
			char *hex = malloc(2 * nh.n_descsz + 1);
			if (!hex)
				return NULL;
			static const char digits[] = "0123456789abcdef";
			const unsigned char *p = (const unsigned char *)d->d_buf + desc_off;
			for (size_t i = 0; i < nh.n_descsz; i++) {
				hex[2 * i] = digits[p[i] >> 4];
				hex[2 * i + 1] = digits[p[i] & 15];
			}
			hex[2 * nh.n_descsz] = 0;
			return hex;
		}
	}
	return NULL;
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
	if (!tsc_elf_section(e, ".stapsdt.base", &base_sh, NULL))
		base_addr = base_sh.sh_addr;
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(e->elf, scn));) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		const char *sname = tsc_elf_scn_name(e, &sh);
		if (!sname || strcmp(sname, ".note.stapsdt"))
			continue;
		Elf_Data *data = tsc_elf_data(e, scn);
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

int tsc_elf_usdt_site(struct tsc_elf *e, const struct tsc_usdt *u, uint64_t *off, uint64_t *ref)
{
	static const unsigned char nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	unsigned char b[5];
	GElf_Shdr p;
	long r;
	*ref = 0;
	if (tsc_elf_file_offset(e, u->pc, sizeof(b), PF_X, off))
		return -ENOEXEC;
	r = e->fd >= 0 ? tsc_pread_full(e->fd, b, sizeof(b), *off) : -EBADF;
	if (r != sizeof(b) || memcmp(b, nop5, sizeof(nop5)))
		return -ENOEXEC;
	if (!u->sema)
		return 0;
	if (tsc_elf_section(e, ".probes", &p, NULL) || p.sh_type == SHT_NOBITS ||
	    u->sema % 2 || u->sema < p.sh_addr || u->sema - p.sh_addr >= p.sh_size ||
	    p.sh_size - (u->sema - p.sh_addr) < 2 || tsc_elf_file_offset(e, u->sema, 2, PF_W, ref))
		return -ENOEXEC;
	return 0;
}
