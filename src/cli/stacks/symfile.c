// SPDX-License-Identifier: MIT
/* One ELF file's functions (libelf), lines and inlined calls (libdw), bounded against a
 * hostile file. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target/elfx.h"
#include "stacks/symfile.h"

#define MAX_UNITS (1u << 18)       /* DWARF units in one file (big programs: tens of 1000s) */
#define MAX_SCOPE_DEPTH 128        /* scopes nested around one address, followed down */
#define MAX_DIE_STEPS (1u << 18)   /* DIEs looked at to resolve one address */
#define MAX_SYMS (1u << 24)        /* function symbols kept from one file */
#define MAX_NAME 4096              /* a longer name or path from the file is dropped */

struct fsym {
	uint64_t addr, size;
	const char *name;   /* in the image of the file it came from */
	int rank;           /* global before weak before local, among aliases */
};

struct tsc_symfile {
	struct tsc_elf e;   /* the file */
	struct tsc_elf de;  /* its separate debug file (de.elf NULL: none) */
	struct tsc_elf ae;  /* the DWARF supplement (dwz) of whichever holds the DWARF */
	char *build_id;
	Dwarf *dwarf, *alt;
	Dwarf_CFI *cfi;     /* of .eh_frame, made at first use */
	int cfi_tried;
	struct fsym *syms;  /* functions, sorted by address */
	size_t nsyms, cap;
};

/* ---- symbols ---- */

static int sym_cmp(const void *a, const void *b)
{
	const struct fsym *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->rank - y->rank;
}

static int add_sym(struct tsc_symfile *f, const struct fsym *s)
{
	if (f->nsyms == f->cap) {
		if (f->cap >= MAX_SYMS)
			return 0; /* enough: the rest stay nameless */
		size_t cap = f->cap ? 2 * f->cap : 256;
		struct fsym *n = realloc(f->syms, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		f->syms = n;
		f->cap = cap;
	}
	f->syms[f->nsyms++] = *s;
	return 0;
}

/* The functions of e's symbol table of type `type` (only the first such table was read). */
static int read_syms(struct tsc_symfile *f, struct tsc_elf *e, Elf64_Word type)
{
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(e->elf, scn));) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != type || sh.sh_entsize != sizeof(Elf64_Sym))
			continue;
		Elf_Data *d = tsc_elf_data(e, scn);
		if (!d)
			continue;
		/* the data's own size, not sh_size over sh_entsize: either may lie, not both */
		size_t n = d->d_size / sizeof(Elf64_Sym);
		for (size_t i = 0; i < n && i <= INT_MAX; i++) {
			GElf_Sym sym;
			if (!gelf_getsym(d, (int)i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_value)
				continue;
			int t = GELF_ST_TYPE(sym.st_info), bind = GELF_ST_BIND(sym.st_info);
			if (t != STT_FUNC && t != STT_GNU_IFUNC)
				continue;
			const char *name = elf_strptr(e->elf, sh.sh_link, sym.st_name);
			if (!name || !*name || strnlen(name, MAX_NAME) == MAX_NAME)
				continue;
			struct fsym s = {
				.addr = sym.st_value, .size = sym.st_size, .name = name,
				.rank = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2,
			};
			int err = add_sym(f, &s);
			if (err)
				return err;
		}
	}
	if (f->nsyms)
		qsort(f->syms, f->nsyms, sizeof(*f->syms), sym_cmp);
	return 0;
}

static const struct fsym *find_sym(const struct tsc_symfile *f, uint64_t addr)
{
	size_t lo = 0, hi = f->nsyms;
	while (lo < hi) { /* first symbol above addr */
		size_t mid = lo + (hi - lo) / 2;
		if (f->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	uint64_t at = f->syms[lo - 1].addr;
	while (lo > 1 && f->syms[lo - 2].addr == at) /* the best-ranked alias */
		lo--;
	const struct fsym *s = &f->syms[lo - 1];
	return !s->size || addr - s->addr < s->size ? s : NULL;
}

/* ---- DWARF, kept from opening files and from unbounded work ---- */

static bool has_debug_info(struct tsc_elf *e)
{
	GElf_Shdr sh;
	return !tsc_elf_section(e, ".debug_info", &sh, NULL) && sh.sh_type != SHT_NOBITS;
}

/* libdw opens the .dwo file a skeleton unit names, by that path, blocking and mapped: a
 * file with one gets no DWARF from us (split DWARF is not supported anyway). Also bounds
 * the units, each of which libdw allocates for. */
static bool units_safe(Dwarf *d)
{
	Dwarf_CU *cu = NULL;
	uint8_t type;
	size_t n = 0;
	/* a broken unit header ends libdw's walks there too: what lies beyond is unreachable */
	while (dwarf_get_units(d, cu, &cu, NULL, &type, NULL, NULL) == 0)
		if (type == DW_UT_skeleton || ++n > MAX_UNITS)
			return false;
	return true;
}

static char *hex_of(const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *hex = malloc(2 * n + 1);
	if (!hex)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[p[i] >> 4];
		hex[2 * i + 1] = digits[p[i] & 15];
	}
	hex[2 * n] = 0;
	return hex;
}

/* Open the ELF file with build-id hex through find, into e; 0 or -1. */
static int open_by_id(tsc_find_debug_fn find, void *ctx, const char *hex, uint64_t *budget,
		      struct tsc_elf *e)
{
	int fd = find ? find(hex, ctx) : -1;
	if (fd < 0)
		return -1;
	int err = tsc_elf_open(fd, e, TSC_ELF_SYMBOLS, *budget);
	close(fd);
	e->fd = -1;
	if (err)
		return -1;
	*budget -= e->used < *budget ? e->used : *budget;
	char *id = tsc_elf_build_id(e);
	bool same = id && !strcmp(id, hex);
	free(id);
	if (!same) {
		tsc_elf_close(e);
		memset(e, 0, sizeof(*e));
		return -1;
	}
	return 0;
}

/* A DWARF supplement (.gnu_debugaltlink, what dwz makes) is looked for by libdw itself, by
 * the path the file names and under /usr/lib/debug, opened blocking and mapped: we find it
 * by its build-id ourselves and hand it over. Without it, no DWARF. 0 or -1. */
static int set_alt(struct tsc_symfile *f, Dwarf *d, tsc_find_debug_fn find, void *ctx,
		   uint64_t *budget)
{
	const char *name;
	const void *id;
	ssize_t n = dwelf_dwarf_gnu_debugaltlink(d, &name, &id);
	if (n <= 0)
		return 0; /* none: libdw will not look either */
	char *hex = n <= 64 ? hex_of(id, (size_t)n) : NULL;
	int err = -1;
	if (!hex || open_by_id(find, ctx, hex, budget, &f->ae) || !f->ae.dwarf)
		goto cleanup;
	Dwarf *a = dwarf_begin_elf(f->ae.elf, DWARF_C_READ, NULL);
	/* the supplement must need no supplement: libdw would look for that one itself */
	if (!a || !units_safe(a) || dwelf_dwarf_gnu_debugaltlink(a, &name, &id) != 0) {
		dwarf_end(a);
		goto cleanup;
	}
	dwarf_setalt(d, a);
	f->alt = a;
	err = 0;
cleanup:
	free(hex);
	return err;
}

static Dwarf *open_dwarf(struct tsc_symfile *f, struct tsc_elf *e, tsc_find_debug_fn find,
			 void *ctx, uint64_t *budget)
{
	if (!e->dwarf)
		return NULL; /* some DWARF section was left out (bounds, budget) */
	Dwarf *d = dwarf_begin_elf(e->elf, DWARF_C_READ, NULL);
	if (d && (!units_safe(d) || set_alt(f, d, find, ctx, budget))) {
		dwarf_end(d);
		d = NULL;
	}
	return d;
}

static bool may_have_scopes(int tag)
{
	switch (tag) {
	case DW_TAG_compile_unit: case DW_TAG_module: case DW_TAG_lexical_block:
	case DW_TAG_with_stmt: case DW_TAG_catch_block: case DW_TAG_try_block:
	case DW_TAG_entry_point: case DW_TAG_inlined_subroutine: case DW_TAG_subprogram:
	case DW_TAG_namespace: case DW_TAG_class_type: case DW_TAG_structure_type:
		return true;
	default:
		return false;
	}
}

/* The scopes holding addr from the CU down, outermost first: what libdw's dwarf_getscopes
 * finds by recursion, which DIEs nested deep enough would turn into a stack overflow. */
static int scope_chain(Dwarf_Die *cu, Dwarf_Addr addr, Dwarf_Die *chain, int max)
{
	Dwarf_Die cur = *cu, child;
	unsigned steps = 0;
	int n = 0;
	while (n < max && dwarf_child(&cur, &child) == 0) {
		bool found = false;
		do {
			if (++steps > MAX_DIE_STEPS)
				return n;
			if (may_have_scopes(dwarf_tag(&child)) && dwarf_haspc(&child, addr) > 0) {
				found = true;
				break;
			}
		} while (dwarf_siblingof(&child, &child) == 0);
		if (!found)
			break;
		chain[n++] = cur = child;
	}
	return n;
}

/* A string from the DWARF, or NULL: libdw does not check that one ends in its section. */
static const char *bounded(const char *s)
{
	return s && strnlen(s, MAX_NAME) < MAX_NAME ? s : NULL;
}

static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute a;
	const char *n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &a));
	return bounded(n ? n : dwarf_diename(die));
}

/* Frames at addr (a file address, already adjusted for a return address), innermost first;
 * 0 when there is no DWARF for it. */
static unsigned dwarf_frames(struct tsc_symfile *f, uint64_t addr, struct tsc_sym *out,
			     unsigned max)
{
	Dwarf_Die cu, chain[MAX_SCOPE_DEPTH];
	if (!f->dwarf || !dwarf_addrdie(f->dwarf, addr, &cu))
		return 0;
	Dwarf_Line *ln = dwarf_getsrc_die(&cu, addr);
	const char *file = ln ? bounded(dwarf_linesrc(ln, NULL, NULL)) : NULL;
	int line = 0;
	if (ln)
		dwarf_lineno(ln, &line);
	Dwarf_Files *files = NULL;
	size_t nfiles = 0;
	if (dwarf_getsrcfiles(&cu, &files, &nfiles))
		files = NULL;
	/* The chain of concrete scopes down to addr: the innermost inlined call first, each
	 * inlined into the next, up to the real function (what eu-addr2line -i shows). */
	int ns = scope_chain(&cu, addr, chain, MAX_SCOPE_DEPTH);
	unsigned n = 0;
	for (int i = ns - 1; i >= 0 && n < max; i--) {
		int tag = dwarf_tag(&chain[i]);
		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
			continue;
		out[n++] = (struct tsc_sym){ .fn = die_name(&chain[i]), .file = file,
					     .line = line > 0 ? (unsigned)line : 0,
					     .inlined = tag == DW_TAG_inlined_subroutine };
		if (tag == DW_TAG_subprogram)
			break;
		/* The next frame out is where this one was inlined. */
		Dwarf_Attribute a;
		Dwarf_Word w;
		file = NULL;
		line = 0;
		if (files && !dwarf_formudata(dwarf_attr(&chain[i], DW_AT_call_file, &a), &w) &&
		    w < nfiles)
			file = bounded(dwarf_filesrc(files, w, NULL, NULL));
		if (!dwarf_formudata(dwarf_attr(&chain[i], DW_AT_call_line, &a), &w) && w <= INT_MAX)
			line = (int)w;
	}
	if (!n && file) /* lines but no scope: a CU without subprogram DIEs (assembly) */
		out[n++] = (struct tsc_sym){ .file = file, .line = line > 0 ? (unsigned)line : 0 };
	return n;
}

/* ---- the file ---- */

int tsc_symfile_load(int fd, tsc_find_debug_fn find, void *ctx, uint64_t *budget,
		     struct tsc_symfile **out)
{
	struct tsc_symfile *f = calloc(1, sizeof(*f));
	int err;
	*out = NULL;
	if (!f)
		return -ENOMEM;
	if ((err = tsc_elf_open(fd, &f->e, TSC_ELF_SYMBOLS, *budget)))
		goto fail;
	f->e.fd = -1; /* everything needed is in the image */
	*budget -= f->e.used < *budget ? f->e.used : *budget;
	f->build_id = tsc_elf_build_id(&f->e);
	if (!has_debug_info(&f->e) && f->build_id && strlen(f->build_id) >= 3)
		open_by_id(find, ctx, f->build_id, budget, &f->de);
	f->dwarf = open_dwarf(f, f->de.elf ? &f->de : &f->e, find, ctx, budget);
	/* .symtab (here or in the debug file) is a superset of .dynsym, which strip leaves. */
	if ((err = read_syms(f, &f->e, SHT_SYMTAB)))
		goto fail;
	if (!f->nsyms && f->de.elf && (err = read_syms(f, &f->de, SHT_SYMTAB)))
		goto fail;
	if (!f->nsyms && (err = read_syms(f, &f->e, SHT_DYNSYM)))
		goto fail;
	*out = f;
	return 0;
fail:
	tsc_symfile_free(f);
	return err;
}

void tsc_symfile_free(struct tsc_symfile *f)
{
	if (!f)
		return;
	dwarf_cfi_end(f->cfi);
	dwarf_end(f->dwarf);
	dwarf_end(f->alt);
	tsc_elf_close(&f->ae);
	tsc_elf_close(&f->de);
	tsc_elf_close(&f->e);
	free(f->syms);
	free(f->build_id);
	free(f);
}

const char *tsc_symfile_build_id(const struct tsc_symfile *f)
{
	return f->build_id;
}

uint64_t tsc_symfile_bias(const struct tsc_symfile *f, const struct tsc_vma *v)
{
	uint64_t bias;
	if (tsc_elf_bias(&f->e, v, 1, &bias))
		bias = v->start - v->offset; /* no header matches: mapped at offset = vaddr */
	return bias;
}

unsigned tsc_symfile_lookup(struct tsc_symfile *f, uint64_t addr, uint64_t look,
			    struct tsc_sym *out, unsigned max)
{
	unsigned n = max ? dwarf_frames(f, look, out, max) : 0;
	if (!n) {
		n = 1;
		out[0] = (struct tsc_sym){ 0 };
	}
	const struct fsym *s = find_sym(f, look);
	struct tsc_sym *real = &out[n - 1]; /* the outermost: the function that holds addr */
	if (s) {
		real->fn = s->name;
		real->fn_off = addr - s->addr;
	}
	return n;
}

Dwarf_CFI *tsc_symfile_cfi(struct tsc_symfile *f)
{
	if (!f->cfi_tried) {
		f->cfi_tried = 1;
		f->cfi = dwarf_getcfi_elf(f->e.elf);
	}
	return f->cfi;
}
