// SPDX-License-Identifier: MIT
/* Addresses of a process to function, file and line.
 *
 * The memory source (memsrc.h) gives each address's mapping, and opens its file as the one
 * mapped (for a live process: /proc/PID/map_files, even if deleted or in another mount
 * namespace, else its root checked against the mapping's inode; never blocking, never anything
 * but a regular file: tfile.h). A mapping's load
 * bias comes from the PT_LOAD header that maps its file offset. Each binary is loaded once per
 * build-id; each address is resolved once. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "target/maps.h"
#include "target/memsrc.h"
#include "stacks/symbolize.h"
#include "target/walk.h"
#include "idmap.h"
#include "stacks/symfile.h"
#include "target/tfile.h"
#include "util.h"

#define MAX_INLINE 16       /* inlined calls shown for one address, innermost first */
#define READ_BUDGET (4ull << 30) /* bytes read from all the target's files, at most */

struct bin;

struct mapping {
	struct tsc_vma v;   /* its path owned here */
	struct bin *bin;    /* NULL until loaded, or when it cannot be */
	uint64_t bias;
	int tried;
};

struct pc_entry {
	unsigned n;
	struct tsc_sym *syms;
};

struct tsc_symbolizer {
	const struct tsc_memsrc *src;
	struct mapping *maps; /* executable file mappings met so far, in address order */
	size_t nmaps, cap;
	bool all_read;      /* every one of them is in maps */
	struct bin *bins;
	struct pc_entry *tab;       /* each address resolved, in the order first asked */
	size_t tabcap, tabn;
	struct tsc_idmap tab_at;    /* pc << 1 | ret, + 1 (never 0) -> index in tab; keyed */
	uint64_t resolve_ns; /* spent resolving, against TSC_SYM_MAX_NS */
	uint64_t budget;    /* bytes the files may still take (see symfile.h) */
	struct tsc_symbolizer_stats st;
};

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

/* ---- the files ---- */

struct bin {
	char *key;          /* the build-id in hex, else "dev:inode" */
	struct tsc_symfile *f;
	struct bin *next;
};

static void bin_free(struct bin *b)
{
	if (!b)
		return;
	tsc_symfile_free(b->f);
	free(b->key);
	free(b);
}

/* Separate debug info (or a DWARF supplement), by build-id (tfile.h). */
static int find_debug(const char *hex, void *ctx)
{
	(void)ctx;
	int fd = tsc_tfile_open_build_id(hex, ".debug");
	return fd < 0 ? -1 : fd;
}

/* The file a mapping shows, opened so that it is the one mapped; -errno when it cannot be.
 * map_files first: the very file mapped, even if deleted, replaced on disk, or hidden by
 * whatever the target mounted over its path since. */
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
	uint64_t t0 = tsc_now_ns();
	struct bin *b = calloc(1, sizeof(*b));
	int err = b ? tsc_symfile_load(fd, find_debug, s, &s->budget, &b->f) : -ENOMEM;
	close(fd);
	if (err)
		goto fail;
	const char *id = tsc_symfile_build_id(b->f);
	if (id) {
		b->key = strdup(id);
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
	b->next = s->bins;
	s->bins = b;
	s->st.binaries++;
	s->st.load_ns += tsc_now_ns() - t0;
	return b;
fail:
	bin_free(b);
	return NULL;
}

/* The file of mapping m, loaded at its first use. */
static void load_mapping(struct tsc_symbolizer *s, struct mapping *m)
{
	if (!m->tried) {
		m->tried = 1;
		if ((m->bin = load_bin(s, &m->v)))
			m->bias = tsc_symfile_bias(m->bin->f, &m->v);
	}
}

static unsigned resolve(struct tsc_symbolizer *s, uint64_t pc, bool ret, struct tsc_sym *out)
{
	struct mapping *m = find_mapping(s, pc);
	out[0] = (struct tsc_sym){ 0 };
	if (!m)
		return 1;
	out[0].obj = m->v.path;
	out[0].obj_addr = pc - m->v.start + m->v.offset;
	load_mapping(s, m);
	struct bin *b = m->bin;
	if (!b)
		return 1;
	uint64_t addr = pc - m->bias, look = ret ? addr - 1 : addr;
	unsigned n = tsc_symfile_lookup(b->f, addr, look, out, MAX_INLINE);
	for (unsigned i = 0; i < n; i++) {
		out[i].obj = m->v.path;
		out[i].obj_addr = addr;
		out[i].build_id = tsc_symfile_build_id(b->f);
	}
	return n;
}

Dwarf_CFI *tsc_symbolizer_cfi(struct tsc_symbolizer *s, uint64_t pc, uint64_t *bias)
{
	struct mapping *m = find_mapping(s, pc);
	if (!m)
		return NULL;
	load_mapping(s, m);
	*bias = m->bias;
	return m->bin ? tsc_symfile_cfi(m->bin->f) : NULL;
}

/* ---- the per-address cache ---- */

unsigned tsc_symbolize(struct tsc_symbolizer *s, uint64_t pc, bool ret, const struct tsc_sym **syms)
{
	static const struct tsc_sym unknown;
	uint64_t key = (pc << 1 | ret) + 1;
	s->st.lookups++;
	const uint64_t *at = tsc_idmap_get(&s->tab_at, key);
	if (at) {
		s->st.cache_hits++;
		*syms = s->tab[*at].syms;
		return s->tab[*at].n;
	}
	if (s->tabn >= TSC_SYM_MAX_ADDRS || s->resolve_ns > TSC_SYM_MAX_NS) {
		s->st.unresolved++;
		*syms = &unknown;
		return 0;
	}
	struct tsc_sym tmp[MAX_INLINE];
	uint64_t t0 = tsc_now_ns();
	unsigned n = resolve(s, pc, ret, tmp);
	s->resolve_ns += tsc_now_ns() - t0;
	struct tsc_sym *copy = malloc(n * sizeof(*copy));
	if (!copy || (!s->tab_at.cap && tsc_idmap_reset(&s->tab_at, 1024, tsc_hash_key)) ||
	    tsc_grow((void **)&s->tab, &s->tabcap, s->tabn + 1, sizeof(*s->tab)) ||
	    tsc_idmap_put(&s->tab_at, key, s->tabn)) {
		free(copy);
		*syms = &unknown;
		return 1;
	}
	memcpy(copy, tmp, n * sizeof(*copy));
	s->tab[s->tabn++] = (struct pc_entry){ .n = n, .syms = copy };
	*syms = copy;
	return n;
}

/* ---- life cycle ---- */

int tsc_symbolizer_new(const struct tsc_memsrc *src, struct tsc_symbolizer **out)
{
	struct tsc_symbolizer *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->src = src;
	s->budget = READ_BUDGET;
	*out = s;
	return 0;
}

void tsc_symbolizer_free(struct tsc_symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->tabn; i++)
		free(s->tab[i].syms);
	free(s->tab);
	tsc_idmap_free(&s->tab_at);
	for (size_t i = 0; i < s->nmaps; i++)
		free((char *)s->maps[i].v.path);
	free(s->maps);
	while (s->bins) {
		struct bin *b = s->bins;
		s->bins = b->next;
		bin_free(b);
	}
	free(s);
}

void tsc_symbolizer_stats(const struct tsc_symbolizer *s, struct tsc_symbolizer_stats *st)
{
	*st = s->st;
}
