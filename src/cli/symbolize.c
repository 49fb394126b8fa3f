// SPDX-License-Identifier: MIT
/* Addresses of a process to function, file and line.
 *
 * The memory source (memsrc.h) gives each address's mapping, and opens its file as the one
 * mapped (for a live process: through its root, checked against the mapping's inode, or
 * map_files, even if deleted or in another mount namespace). A mapping's load
 * bias comes from the PT_LOAD header that maps its file offset. Each binary is loaded once per
 * build-id; each address is resolved once. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "maps.h"
#include "memsrc.h"
#include "symbolize.h"
#include "walk.h"

#define MAX_INLINE 16       /* inlined calls shown for one address, innermost first */

struct fsym {
	uint64_t addr, size;
	const char *name;   /* owned by the Elf it came from */
	int rank;           /* global before weak before local, among aliases */
};

struct bin {
	char *key;          /* the build-id in hex, else "dev:inode" */
	char *build_id;
	int fd, dfd;        /* the binary, its separate debug file (-1: none) */
	Elf *elf, *delf;
	Dwarf *dwarf;
	GElf_Phdr *loads;   /* PT_LOAD headers, for load biases */
	size_t nloads;
	struct fsym *syms;  /* functions, sorted by address */
	size_t nsyms;
	struct bin *next;
};

struct mapping {
	struct tsc_vma v;   /* its path owned here */
	struct bin *bin;    /* NULL until loaded, or when it cannot be */
	uint64_t bias;
	int tried;
};

struct pc_entry {
	uint64_t key;       /* pc << 1 | ret, + 1 so that 0 is free */
	unsigned n;
	struct tsc_sym *syms;
};

struct tsc_symbolizer {
	const struct tsc_memsrc *src;
	struct mapping *maps; /* executable file mappings met so far, in address order */
	size_t nmaps, cap;
	bool all_read;      /* every one of them is in maps */
	struct bin *bins;
	struct pc_entry *tab;
	size_t tabcap, tabn;
	uint64_t resolve_ns; /* spent resolving, against TSC_SYM_MAX_NS */
	char **dirs;        /* where separate debug info is looked up */
	size_t ndirs;
	struct tsc_symbolizer_stats st;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the mappings ---- */

static int add_mapping(struct tsc_symbolizer *s, const struct tsc_vma *v)
{
	if (s->nmaps == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		struct mapping *n = realloc(s->maps, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->maps = n;
		s->cap = cap;
	}
	size_t i = s->nmaps;
	while (i && s->maps[i - 1].v.start > v->start) /* kept in address order */
		i--;
	struct mapping m = { .v = *v };
	if (!(m.v.path = strdup(v->path)))
		return -ENOMEM;
	memmove(&s->maps[i + 1], &s->maps[i], (s->nmaps - i) * sizeof(*s->maps));
	s->maps[i] = m;
	s->nmaps++;
	return 0;
}

/* Every executable file mapping at once: for kernels before 6.11. */
static int read_all_maps(struct tsc_symbolizer *s)
{
	struct tsc_maps all;
	int err = tsc_mem_maps(s->src, &all);
	s->all_read = true;
	for (size_t i = 0; !err && i < all.n; i++)
		if (all.vma[i].exec)
			err = add_mapping(s, &all.vma[i]);
	tsc_maps_free(&all);
	return err;
}

static struct mapping *search(struct tsc_symbolizer *s, uint64_t pc)
{
	size_t lo = 0, hi = s->nmaps;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (pc < s->maps[mid].v.start)
			hi = mid;
		else if (pc >= s->maps[mid].v.end)
			lo = mid + 1;
		else
			return &s->maps[mid];
	}
	return NULL;
}

/* The executable file mapping holding pc, asked of the kernel the first time; NULL if none. */
static struct mapping *find_mapping(struct tsc_symbolizer *s, uint64_t pc)
{
	struct mapping *m = search(s, pc);
	if (m || s->all_read)
		return m;
	char name[PATH_MAX + 32];
	struct tsc_vma v;
	int err = tsc_mem_vma_at(s->src, pc, &v, name, sizeof(name));
	if (err == -ENOTSUP)
		return read_all_maps(s) ? NULL : search(s, pc);
	if (err || !v.exec)
		return NULL; /* ENOENT: anonymous memory, or nothing, at pc */
	return add_mapping(s, &v) ? NULL : search(s, pc);
}

/* ---- ELF: build-id, load segments, function symbols ---- */

static char *read_build_id(Elf *elf)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
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
			const unsigned char *p = (const unsigned char *)d->d_buf + desc_off;
			for (size_t i = 0; i < nh.n_descsz; i++)
				sprintf(hex + 2 * i, "%02x", p[i]);
			return hex;
		}
	}
	return NULL;
}

static int read_loads(struct bin *b)
{
	size_t n;
	if (elf_getphdrnum(b->elf, &n))
		return -EINVAL;
	b->loads = calloc(n ? n : 1, sizeof(*b->loads));
	if (!b->loads)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(b->elf, (int)i, &ph) && ph.p_type == PT_LOAD)
			b->loads[b->nloads++] = ph;
	}
	return 0;
}

static int sym_cmp(const void *a, const void *b)
{
	const struct fsym *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->rank - y->rank;
}

/* The functions of elf's symbol table of type `type`; 0 when it has none. */
static int read_syms(struct bin *b, Elf *elf, Elf64_Word type)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != type || !sh.sh_entsize)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		size_t n = sh.sh_size / sh.sh_entsize;
		struct fsym *syms = realloc(b->syms, (b->nsyms + n) * sizeof(*syms));
		if (!syms)
			return -ENOMEM;
		b->syms = syms;
		for (size_t i = 0; i < n; i++) {
			GElf_Sym sym;
			if (!gelf_getsym(d, (int)i, &sym) || sym.st_shndx == SHN_UNDEF ||
			    !sym.st_value)
				continue;
			int t = GELF_ST_TYPE(sym.st_info), bind = GELF_ST_BIND(sym.st_info);
			if (t != STT_FUNC && t != STT_GNU_IFUNC)
				continue;
			const char *name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!name || !*name)
				continue;
			syms[b->nsyms++] = (struct fsym){
				.addr = sym.st_value, .size = sym.st_size, .name = name,
				.rank = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2,
			};
		}
	}
	if (b->nsyms)
		qsort(b->syms, b->nsyms, sizeof(*b->syms), sym_cmp);
	return 0;
}

static const struct fsym *find_sym(const struct bin *b, uint64_t addr)
{
	size_t lo = 0, hi = b->nsyms;
	while (lo < hi) { /* first symbol above addr */
		size_t mid = lo + (hi - lo) / 2;
		if (b->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	uint64_t at = b->syms[lo - 1].addr;
	while (lo > 1 && b->syms[lo - 2].addr == at) /* the best-ranked alias */
		lo--;
	const struct fsym *f = &b->syms[lo - 1];
	return !f->size || addr < f->addr + f->size ? f : NULL;
}

static bool has_section(Elf *elf, const char *name)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	if (elf_getshdrstrndx(elf, &shstrndx))
		return false;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *n;
		if (gelf_getshdr(scn, &sh) && sh.sh_type != SHT_NOBITS &&
		    (n = elf_strptr(elf, shstrndx, sh.sh_name)) && !strcmp(n, name))
			return true;
	}
	return false;
}

/* Separate debug info: DIR/.build-id/xx/rest.debug, with the same build-id. */
static void open_debug_file(struct tsc_symbolizer *s, struct bin *b)
{
	if (!b->build_id || strlen(b->build_id) < 3)
		return;
	for (size_t i = 0; i < s->ndirs; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/.build-id/%.2s/%s.debug", s->dirs[i], b->build_id,
			 b->build_id + 2);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
		char *id = e ? read_build_id(e) : NULL;
		if (id && !strcmp(id, b->build_id)) {
			free(id);
			b->dfd = fd;
			b->delf = e;
			return;
		}
		free(id);
		elf_end(e);
		close(fd);
	}
}

static void bin_free(struct bin *b)
{
	if (!b)
		return;
	dwarf_end(b->dwarf);
	elf_end(b->delf);
	elf_end(b->elf);
	if (b->dfd >= 0)
		close(b->dfd);
	if (b->fd >= 0)
		close(b->fd);
	free(b->syms);
	free(b->loads);
	free(b->key);
	free(b->build_id);
	free(b);
}

/* The file a mapping shows, opened so that it is the one mapped; -1 when it cannot be. */
static int open_mapped(struct tsc_symbolizer *s, const struct tsc_vma *m)
{
	char here[PATH_MAX + 64];
	int fd = tsc_mem_open_file(s->src, m, here, sizeof(here));
	return fd < 0 ? -1 : fd;
}

static struct bin *load_bin(struct tsc_symbolizer *s, const struct tsc_vma *m)
{
	int fd = open_mapped(s, m);
	if (fd < 0)
		return NULL;
	uint64_t t0 = now_ns();
	struct bin *b = calloc(1, sizeof(*b));
	if (!b) {
		close(fd);
		return NULL;
	}
	b->fd = fd;
	b->dfd = -1;
	b->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!b->elf || elf_kind(b->elf) != ELF_K_ELF)
		goto fail;
	b->build_id = read_build_id(b->elf);
	if (b->build_id) {
		b->key = strdup(b->build_id);
	} else if (asprintf(&b->key, "%x:%x:%" PRIu64, m->dev_major, m->dev_minor, m->inode) < 0) {
		b->key = NULL;
	}
	if (!b->key)
		goto fail;
	for (struct bin *o = s->bins; o; o = o->next)
		if (!strcmp(o->key, b->key)) { /* the same binary, mapped again */
			bin_free(b);
			return o;
		}
	if (read_loads(b))
		goto fail;
	if (!has_section(b->elf, ".debug_info"))
		open_debug_file(s, b);
	Elf *dw_elf = b->delf ? b->delf : b->elf;
	b->dwarf = dwarf_begin_elf(dw_elf, DWARF_C_READ, NULL);
	/* .symtab (here or in the debug file) is a superset of .dynsym, which strip leaves. */
	if (read_syms(b, b->elf, SHT_SYMTAB))
		goto fail;
	if (!b->nsyms && b->delf && read_syms(b, b->delf, SHT_SYMTAB))
		goto fail;
	if (!b->nsyms && read_syms(b, b->elf, SHT_DYNSYM))
		goto fail;
	b->next = s->bins;
	s->bins = b;
	s->st.binaries++;
	s->st.load_ns += now_ns() - t0;
	return b;
fail:
	bin_free(b);
	return NULL;
}

/* The mapping's load bias: the address minus the file's own virtual address. */
static void set_bias(struct mapping *m, long page)
{
	const struct bin *b = m->bin;
	uint64_t mask = ~((uint64_t)page - 1);
	m->bias = m->v.start - m->v.offset; /* no header matches: mapped at offset = vaddr */
	for (size_t i = 0; i < b->nloads; i++)
		if ((b->loads[i].p_offset & mask) == m->v.offset) {
			m->bias = m->v.start - (b->loads[i].p_vaddr & mask);
			return;
		}
}

/* ---- DWARF: lines and inlined calls ---- */

static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute a;
	const char *n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &a));
	return n ? n : dwarf_diename(die);
}

/* Frames at addr (a file address, already adjusted for a return address), innermost first;
 * 0 when there is no DWARF for it. */
static unsigned dwarf_frames(struct bin *b, uint64_t addr, struct tsc_sym *out, unsigned max)
{
	Dwarf_Die cu, *scopes = NULL;
	if (!b->dwarf || !dwarf_addrdie(b->dwarf, addr, &cu))
		return 0;
	Dwarf_Line *ln = dwarf_getsrc_die(&cu, addr);
	const char *file = ln ? dwarf_linesrc(ln, NULL, NULL) : NULL;
	int line = 0;
	if (ln)
		dwarf_lineno(ln, &line);
	Dwarf_Files *files = NULL;
	size_t nfiles = 0;
	if (dwarf_getsrcfiles(&cu, &files, &nfiles))
		files = NULL;
	/* dwarf_getscopes continues from an inlined instance into its abstract definition; the
	 * chain of inlined calls is that instance's concrete parents (what eu-addr2line -i does). */
	int ns = dwarf_getscopes(&cu, addr, &scopes), in = 0;
	while (in < ns && dwarf_tag(&scopes[in]) != DW_TAG_inlined_subroutine &&
	       dwarf_tag(&scopes[in]) != DW_TAG_subprogram)
		in++;
	if (in < ns && dwarf_tag(&scopes[in]) == DW_TAG_inlined_subroutine) {
		Dwarf_Die inner = scopes[in], *chain = NULL;
		free(scopes);
		scopes = NULL;
		ns = dwarf_getscopes_die(&inner, &chain);
		scopes = chain;
	}
	unsigned n = 0;
	for (int i = 0; i < ns && n < max; i++) {
		int tag = dwarf_tag(&scopes[i]);
		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
			continue;
		out[n++] = (struct tsc_sym){ .fn = die_name(&scopes[i]), .file = file,
					     .line = line > 0 ? (unsigned)line : 0,
					     .inlined = tag == DW_TAG_inlined_subroutine };
		if (tag == DW_TAG_subprogram)
			break;
		/* The next frame out is where this one was inlined. */
		Dwarf_Attribute a;
		Dwarf_Word w;
		file = NULL;
		line = 0;
		if (files && !dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &a), &w) &&
		    w < nfiles)
			file = dwarf_filesrc(files, w, NULL, NULL);
		if (!dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &a), &w))
			line = (int)w;
	}
	free(scopes);
	if (!n && file) /* lines but no scope: a CU without subprogram DIEs (assembly) */
		out[n++] = (struct tsc_sym){ .file = file, .line = line > 0 ? (unsigned)line : 0 };
	return n;
}

static unsigned resolve(struct tsc_symbolizer *s, uint64_t pc, bool ret, struct tsc_sym *out)
{
	struct mapping *m = find_mapping(s, pc);
	out[0] = (struct tsc_sym){ 0 };
	if (!m)
		return 1;
	out[0].obj = m->v.path;
	out[0].obj_addr = pc - m->v.start + m->v.offset;
	if (!m->tried) {
		m->tried = 1;
		if ((m->bin = load_bin(s, &m->v)))
			set_bias(m, sysconf(_SC_PAGESIZE));
	}
	struct bin *b = m->bin;
	if (!b)
		return 1;
	uint64_t addr = pc - m->bias, look = ret ? addr - 1 : addr;
	out[0].obj_addr = addr;
	unsigned n = dwarf_frames(b, look, out, MAX_INLINE);
	if (!n)
		n = 1;
	const struct fsym *f = find_sym(b, look);
	struct tsc_sym *real = &out[n - 1]; /* the outermost: the function that holds pc */
	if (f) {
		real->fn = f->name;
		real->fn_off = addr - f->addr;
	}
	for (unsigned i = 0; i < n; i++) {
		out[i].obj = m->v.path;
		out[i].obj_addr = addr;
		out[i].build_id = b->build_id;
	}
	return n;
}

/* ---- the per-address cache ---- */

static int grow_table(struct tsc_symbolizer *s)
{
	size_t cap = s->tabcap ? 2 * s->tabcap : 1024;
	struct pc_entry *t = calloc(cap, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < s->tabcap; i++) {
		if (!s->tab[i].key)
			continue;
		size_t j = (size_t)tsc_hash64(s->tab[i].key) & (cap - 1);
		while (t[j].key)
			j = (j + 1) & (cap - 1);
		t[j] = s->tab[i];
	}
	free(s->tab);
	s->tab = t;
	s->tabcap = cap;
	return 0;
}

unsigned tsc_symbolize(struct tsc_symbolizer *s, uint64_t pc, bool ret, const struct tsc_sym **syms)
{
	static const struct tsc_sym unknown;
	uint64_t key = (pc << 1 | ret) + 1;
	s->st.lookups++;
	if (s->tabn * 2 >= s->tabcap && grow_table(s)) {
		*syms = &unknown;
		return 1;
	}
	size_t j = (size_t)tsc_hash64(key) & (s->tabcap - 1);
	for (; s->tab[j].key; j = (j + 1) & (s->tabcap - 1))
		if (s->tab[j].key == key) {
			s->st.cache_hits++;
			*syms = s->tab[j].syms;
			return s->tab[j].n;
		}
	if (s->tabn >= TSC_SYM_MAX_ADDRS || s->resolve_ns > TSC_SYM_MAX_NS) {
		s->st.unresolved++;
		*syms = &unknown;
		return 0;
	}
	struct tsc_sym tmp[MAX_INLINE];
	uint64_t t0 = now_ns();
	unsigned n = resolve(s, pc, ret, tmp);
	s->resolve_ns += now_ns() - t0;
	struct tsc_sym *copy = malloc(n * sizeof(*copy));
	if (!copy) {
		*syms = &unknown;
		return 1;
	}
	memcpy(copy, tmp, n * sizeof(*copy));
	s->tab[j] = (struct pc_entry){ .key = key, .n = n, .syms = copy };
	s->tabn++;
	*syms = copy;
	return n;
}

/* ---- life cycle ---- */

int tsc_symbolizer_new(const struct tsc_memsrc *src, struct tsc_symbolizer **out)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;
	struct tsc_symbolizer *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->src = src;
	const char *env = getenv("TASKSCOPE_DEBUG_DIRS");
	char *list = NULL;
	int err = -ENOMEM;
	if (asprintf(&list, "%s%s/usr/lib/debug", env ? env : "", env && *env ? ":" : "") < 0)
		goto fail;
	s->dirs = calloc(strlen(list) / 2 + 2, sizeof(*s->dirs));
	if (!s->dirs) {
		free(list);
		goto fail;
	}
	char *save = NULL;
	for (char *d = strtok_r(list, ":", &save); d; d = strtok_r(NULL, ":", &save))
		if (!(s->dirs[s->ndirs++] = strdup(d))) {
			free(list);
			goto fail;
		}
	free(list);
	*out = s;
	return 0;
fail:
	tsc_symbolizer_free(s);
	return err;
}

void tsc_symbolizer_free(struct tsc_symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->tabcap; i++)
		free(s->tab[i].syms);
	free(s->tab);
	for (size_t i = 0; i < s->nmaps; i++)
		free((char *)s->maps[i].v.path);
	free(s->maps);
	while (s->bins) {
		struct bin *b = s->bins;
		s->bins = b->next;
		bin_free(b);
	}
	for (size_t i = 0; i < s->ndirs; i++)
		free(s->dirs[i]);
	free(s->dirs);
	free(s);
}

void tsc_symbolizer_stats(const struct tsc_symbolizer *s, struct tsc_symbolizer_stats *st)
{
	*st = s->st;
}
