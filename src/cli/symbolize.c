// SPDX-License-Identifier: MIT
/* Addresses of a live process to function, file and line.
 *
 * /proc/PID/maps gives each address's mapping; the file is opened through
 * /proc/PID/map_files (the very file mapped, even if deleted or in another mount namespace),
 * else /proc/PID/root/PATH checked against the mapping's device and inode, never blocking and
 * never anything but a regular file (tfile.h). A mapping's load bias comes from the PT_LOAD
 * header that maps its file offset. Each binary is loaded once per build-id (symfile.h); each
 * address is resolved once. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "maps.h"
#include "symbolize.h"
#include "walk.h"
#include "symfile.h"
#include "tfile.h"
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
	uint64_t key;       /* pc << 1 | ret, + 1 so that 0 is free */
	unsigned n;
	struct tsc_sym *syms;
};

struct tsc_symbolizer {
	int pid;
	int procfd, mapsfd;
	struct mapping *maps; /* executable file mappings met so far, in address order */
	size_t nmaps, cap;
	bool all_read;      /* every one of them is in maps */
	struct bin *bins;
	struct pc_entry *tab;
	size_t tabcap, tabn;
	uint64_t resolve_ns; /* spent resolving, against TSC_SYM_MAX_NS */
	char **dirs;        /* where separate debug info is looked up */
	size_t ndirs;
	uint64_t budget;    /* bytes the files may still take (see symfile.h) */
	struct tsc_symbolizer_stats st;
};

/* ---- the mappings ---- */

/* PROCMAP_QUERY, from <linux/fs.h> of Linux 6.11 (our build headers may be older): the
 * mapping covering one address, without listing the others. A process with thousands of task
 * stacks has thousands of anonymous mappings, and listing them costs milliseconds. */
struct procmap_query {
	uint64_t size, query_flags, query_addr;
	uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
	uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};
#define PROCMAP_QUERY_IOCTL _IOWR('f', 17, struct procmap_query)
#define PROCMAP_QUERY_VMA_EXECUTABLE 0x04
#define PROCMAP_QUERY_FILE_BACKED_VMA 0x20
_Static_assert(sizeof(struct procmap_query) == 104, "procmap_query is 104 bytes");

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
	int err = tsc_maps_read(s->procfd, &all);
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
	struct procmap_query q = {
		.size = sizeof(q),
		.query_flags = PROCMAP_QUERY_FILE_BACKED_VMA,
		.query_addr = pc,
		.vma_name_addr = (uint64_t)(uintptr_t)name,
		.vma_name_size = sizeof(name),
	};
	int r = ioctl(s->mapsfd, PROCMAP_QUERY_IOCTL, &q);
	if (r && errno == ENAMETOOLONG) { /* a path past PATH_MAX: map_files needs none */
		q.vma_name_addr = 0;
		q.vma_name_size = 0;
		r = ioctl(s->mapsfd, PROCMAP_QUERY_IOCTL, &q);
	}
	if (r) {
		if (errno == ENOTTY || errno == EINVAL)
			return read_all_maps(s) ? NULL : search(s, pc);
		return NULL; /* ENOENT: anonymous memory, or nothing, at pc */
	}
	if (!(q.vma_flags & PROCMAP_QUERY_VMA_EXECUTABLE) || q.vma_start > pc || q.vma_end <= pc)
		return NULL;
	struct tsc_vma v = {
		.start = q.vma_start, .end = q.vma_end, .offset = q.vma_offset, .inode = q.inode,
		.dev_major = q.dev_major, .dev_minor = q.dev_minor, .exec = 1,
		.path = q.vma_name_size ? name : "",
	};
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

/* Separate debug info (or a DWARF supplement): DIR/.build-id/xx/rest.debug. Our own
 * directories, but the name comes from the target's file: opened with the same care. */
static int find_debug(const char *hex, void *ctx)
{
	struct tsc_symbolizer *s = ctx;
	for (size_t i = 0; i < s->ndirs; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/.build-id/%.2s/%s.debug", s->dirs[i], hex, hex + 2);
		int fd = tsc_tfile_open(AT_FDCWD, path, 0, NULL);
		if (fd >= 0)
			return fd;
	}
	return -1;
}

/* The file a mapping shows, opened so that it is the one mapped; -errno when it cannot be.
 * map_files first: the very file mapped, even if deleted, replaced on disk, or hidden by
 * whatever the target mounted over its path since. */
static int open_mapped(struct tsc_symbolizer *s, const struct tsc_vma *m)
{
	char path[4352];
	snprintf(path, sizeof(path), "map_files/%" PRIx64 "-%" PRIx64, m->start, m->end);
	int fd = tsc_tfile_open(s->procfd, path, 0, NULL);
	if (fd >= 0 || fd == -TSC_ENOTREG || m->path[0] != '/')
		return fd;
	/* map_files needs CAP_SYS_ADMIN: else the path under the target's root, checked to be
	 * the mapped file (replaced on disk since, its symbols would lie) */
	snprintf(path, sizeof(path), "root%s", m->path);
	return tsc_tfile_open(s->procfd, path, TSC_TFILE_NOFOLLOW, m);
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
			m->bias = tsc_symfile_bias(m->bin->f, &m->v);
	}
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
	uint64_t t0 = tsc_now_ns();
	unsigned n = resolve(s, pc, ret, tmp);
	s->resolve_ns += tsc_now_ns() - t0;
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

int tsc_symbolizer_new(int pid, struct tsc_symbolizer **out)
{
	struct tsc_symbolizer *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->pid = pid;
	s->procfd = s->mapsfd = -1;
	s->budget = READ_BUDGET;
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
	char path[32];
	snprintf(path, sizeof(path), "/proc/%d", pid);
	if ((s->procfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (s->mapsfd = openat(s->procfd, "maps", O_RDONLY | O_CLOEXEC)) < 0) {
		err = -errno;
		goto fail;
	}
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
	if (s->mapsfd >= 0)
		close(s->mapsfd);
	if (s->procfd >= 0)
		close(s->procfd);
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
