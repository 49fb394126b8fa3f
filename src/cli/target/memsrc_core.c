/* SPDX-License-Identifier: MIT */
/*
 * A core file as a memory source (memsrc.h, core.h).
 *
 * Memory: the PT_LOAD segments, with pread. A dump leaves out what the file on disk holds
 * (the kernel keeps only the first page of a read-only file mapping, gcore the same, and
 * neither the text): such a range is read from the mapped file that NT_FILE names, once that
 * file is verified to be the one the process ran (its build-id against the one in the dumped
 * ELF header), and is not readable otherwise. The mappings come from NT_FILE, the threads
 * from NT_PRSTATUS and NT_SIGINFO.
 *
 * The whole file is hostile: headers checked against the file's size before they are
 * believed, counts capped (core.h) before anything is allocated for them, every note
 * bounded by its own header and by the notes' segment.
 */
#include "target/core.h"
#include "target/elfx.h"
#include "target/tfile.h"
#include "target/tids.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOTE_NAME_MAX 64       /* bytes of a note's owner name we look at */
#define FILE_NOTE_MAX 1048576u /* NT_FILE entries kept, at most */
#define HDR_PAGE 4096          /* bytes of a dumped ELF header page looked at */

/* x86-64 struct elf_prstatus and siginfo_t: the offsets the kernel writes. */
#define PRSTATUS_SIZE 336
#define PRSTATUS_CURSIG 12
#define PRSTATUS_PID 32
#define PRSTATUS_REGS 112
/* struct user_regs_struct's index of each DWARF register (core.h) */
static const unsigned char user_reg[17] = { 10, 12, 11, 5, 13, 14, 4, 19, 9, 8, 7, 6, 3, 2, 1,
					    0, 16 };
#define PRPSINFO_SIZE 136
#define PRPSINFO_PID 24
#define SIGINFO_SIZE 128

struct seg {
	uint64_t vaddr, memsz, off, filesz;
	uint32_t flags;
};

struct cfile {                 /* one distinct path of NT_FILE */
	char *path;                /* as the core names it */
	int fd;                    /* verified, opened at first use; -1 */
	int state;                 /* 0 not tried, 1 usable, -errno refused */
	int is_exe;
	int symbols_only;          /* separate debug info found by build-id: its sections of
				    * code and data hold nothing, so memory is never read there */
};

struct cmap {                  /* one NT_FILE entry */
	uint64_t start, end, offset;
	size_t file;               /* index in files */
};

struct core {
	int fd;
	uint64_t size;
	struct seg *segs;          /* PT_LOAD, by address */
	size_t nsegs;
	struct cmap *maps;         /* NT_FILE, by address */
	size_t nmaps;
	struct cfile *files;
	size_t nfiles;
	const char *exe;           /* --exe: the file to read as the executable; NULL */
	struct tsc_core_info info;
};

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t n, int code,
						       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && n)
		vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return code;
}

static uint64_t u64at(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t u32at(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static int32_t i32at(const unsigned char *p) { int32_t v; memcpy(&v, p, 4); return v; }

static int full_pread(int fd, void *buf, size_t len, uint64_t off)
{
	long n = tsc_pread_full(fd, buf, len, off);
	return n < 0 ? (int)n : (size_t)n == len ? 0 : -EFAULT;
}

/* ---- memory ---- */

/* How many of the n entries of size `size` at base, sorted by the u64 at offset `off` of
 * each, start at or below addr. */
static size_t at_or_below(const void *base, size_t n, size_t size, size_t off, uint64_t addr)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t key;
		memcpy(&key, (const char *)base + mid * size + off, 8);
		if (key <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The last segment starting at or below addr (NULL when none). */
static const struct seg *seg_at(const struct core *c, uint64_t addr)
{
	size_t k = at_or_below(c->segs, c->nsegs, sizeof(*c->segs), offsetof(struct seg, vaddr), addr);
	return k ? &c->segs[k - 1] : NULL;
}

/* The NT_FILE mapping covering addr (NULL when none). */
static const struct cmap *map_at(const struct core *c, uint64_t addr)
{
	size_t k = at_or_below(c->maps, c->nmaps, sizeof(*c->maps), offsetof(struct cmap, start), addr);
	return k && addr < c->maps[k - 1].end ? &c->maps[k - 1] : NULL;
}

/* Up to len bytes at addr that the core itself holds: how many (0: none). */
static size_t read_dumped(const struct core *c, uint64_t addr, void *buf, size_t len)
{
	const struct seg *s = seg_at(c, addr);
	if (!s || addr - s->vaddr >= s->filesz)
		return 0;
	uint64_t left = s->filesz - (addr - s->vaddr);
	size_t n = len < left ? len : (size_t)left;
	return full_pread(c->fd, buf, n, s->off + (addr - s->vaddr)) ? 0 : n;
}

static int file_usable(struct core *c, size_t i);

/* Up to len bytes at addr from the file mapped there: how many (0: none). */
static size_t read_mapped(struct core *c, uint64_t addr, void *buf, size_t len)
{
	const struct cmap *m = map_at(c, addr);
	if (!m || file_usable(c, m->file) <= 0 || c->files[m->file].symbols_only)
		return 0;
	uint64_t left = m->end - addr;
	size_t n = len < left ? len : (size_t)left;
	/* a segment of the core that starts inside this piece holds the newer bytes */
	const struct seg *s = seg_at(c, addr + n - 1);
	if (s && s->vaddr > addr && s->filesz)
		n = (size_t)(s->vaddr - addr);
	return full_pread(c->files[m->file].fd, buf, n, m->offset + (addr - m->start)) ? 0 : n;
}

static int core_read(void *ctx, struct tsc_mem_req *req, size_t n)
{
	struct core *c = ctx;
	for (size_t i = 0; i < n; i++) {
		uint64_t addr = req[i].addr;
		size_t left = req[i].len, got;
		unsigned char *p = req[i].buf;
		req[i].ok = 0;
		if (addr + left < addr)
			continue;
		while (left && ((got = read_dumped(c, addr, p, left)) ||
				(got = read_mapped(c, addr, p, left)))) {
			addr += got;
			p += got;
			left -= got;
		}
		req[i].ok = !left;
	}
	return 0;
}

/* ---- the files it mapped ---- */

/* The build-id in the ELF header page the dump kept of file i's first mapping: lower-case
 * hex into hex[0..n), or 0 when the core holds none (the header page was not dumped). */
static int dumped_build_id(const struct core *c, size_t file, char *hex, size_t n)
{
	const struct cmap *m = NULL;
	for (size_t i = 0; i < c->nmaps && !m; i++)
		if (c->maps[i].file == file && c->maps[i].offset == 0)
			m = &c->maps[i];
	unsigned char page[HDR_PAGE];
	if (!m || read_dumped(c, m->start, page, sizeof(page)) != sizeof(page))
		return 0;
	Elf64_Ehdr eh;
	memcpy(&eh, page, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phoff > HDR_PAGE || eh.e_phnum > (HDR_PAGE - eh.e_phoff) / sizeof(Elf64_Phdr))
		return 0;
	for (unsigned k = 0; k < eh.e_phnum; k++) {
		Elf64_Phdr ph;
		memcpy(&ph, page + eh.e_phoff + k * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_NOTE || ph.p_offset >= HDR_PAGE ||
		    ph.p_filesz > HDR_PAGE - ph.p_offset)
			continue;
		/* the notes lie in the first page of the file, mapped at m->start */
		const unsigned char *q = page + ph.p_offset, *end = q + ph.p_filesz;
		while (end - q >= 12) {
			uint32_t nsz = u32at(q), dsz = u32at(q + 4), type = u32at(q + 8);
			uint64_t nal = ((uint64_t)nsz + 3) & ~3ull, dal = ((uint64_t)dsz + 3) & ~3ull;
			if (nal + dal > (uint64_t)(end - q - 12))
				break;
			if (type == NT_GNU_BUILD_ID && nsz == 4 && !memcmp(q + 12, "GNU", 4) &&
			    dsz && dsz <= 64 && 2 * (size_t)dsz < n) {
				const unsigned char *d = q + 12 + nal;
				for (uint32_t j = 0; j < dsz; j++)
					snprintf(hex + 2 * j, 3, "%02x", d[j]);
				return 1;
			}
			q += 12 + nal + dal;
		}
	}
	return 0;
}

/* The build-id of the file open at fd, into hex; 0 when it has none. */
static int file_build_id(int fd, char *hex, size_t n)
{
	struct tsc_elf e = { 0 };
	int found = 0;
	if (!tsc_elf_open(fd, &e, TSC_ELF_NOTES, TSC_ELF_MAX_READ)) {
		char *id = tsc_elf_build_id(&e);
		if (id && strlen(id) < n) {
			strcpy(hex, id);
			found = 1;
		}
		free(id);
	}
	tsc_elf_close(&e);
	return found;
}

/* Where file i is read from here: --exe for the executable, else the path the core names. */
static const char *file_path(const struct core *c, size_t i)
{
	return c->files[i].is_exe && c->exe ? c->exe : c->files[i].path;
}

/* Open file i once, and keep it only when it is the file the process ran: 1, or -errno
 * (-ESTALE: another build; said once on stderr). */
static int file_usable(struct core *c, size_t i)
{
	struct cfile *f = &c->files[i];
	if (f->state)
		return f->state;
	char want[160], have[160];
	const char *path = file_path(c, i);
	int known = dumped_build_id(c, i, want, sizeof(want));
	int fd = path[0] == '/' || f->is_exe ? tsc_tfile_open(AT_FDCWD, path, 0, NULL) : -ENOENT;
	if (fd == -ENOENT && known && !(f->is_exe && c->exe)) {
		/* not here (the core came from another machine): by its build-id, the binary
		 * itself, else its separate debug info, for symbols alone */
		if ((fd = tsc_tfile_open_build_id(want, "")) < 0 &&
		    (fd = tsc_tfile_open_build_id(want, ".debug")) >= 0)
			f->symbols_only = 1;
	}
	if (fd < 0)
		return f->state = fd;
	if (known && (!file_build_id(fd, have, sizeof(have)) || strcmp(want, have))) {
		/* never symbols or data of another build: left unresolved instead */
		if (!f->is_exe || !c->exe)
			fprintf(stderr, "taskscope: warning: %s is not the file the core's process "
				"mapped (build-id %s, the core's %s): left out\n", path,
				have[0] ? have : "none", want);
		close(fd);
		return f->state = -ESTALE;
	}
	f->fd = fd;
	return f->state = 1;
}

static int core_maps(void *ctx, struct tsc_maps *out)
{
	struct core *c = ctx;
	size_t len = 0;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < c->nfiles; i++)
		len += strlen(c->files[i].path) + 1;
	out->vma = calloc(c->nmaps ? c->nmaps : 1, sizeof(*out->vma));
	out->strings = malloc(len ? len : 1);
	if (!out->vma || !out->strings) {
		tsc_maps_free(out);
		return -ENOMEM;
	}
	size_t *at = calloc(c->nfiles ? c->nfiles : 1, sizeof(*at));
	if (!at) {
		tsc_maps_free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->nfiles; i++) {
		at[i] = out->strings_len;
		size_t l = strlen(c->files[i].path) + 1;
		memcpy(out->strings + out->strings_len, c->files[i].path, l);
		out->strings_len += l;
	}
	out->strings_cap = len;
	for (size_t i = 0; i < c->nmaps; i++) {
		const struct cmap *m = &c->maps[i];
		const struct seg *s = seg_at(c, m->start);
		int covered = s && m->start - s->vaddr < s->memsz;
		out->vma[out->n++] = (struct tsc_vma){
			.start = m->start, .end = m->end, .offset = m->offset,
			/* no inode in a core: one per distinct path, so that tsc_vma_same_file
			 * tells files apart */
			.inode = m->file + 1,
			/* a segment says whether it was executable; gcore leaves text out */
			.exec = covered ? !!(s->flags & PF_X) : 1,
			.path = out->strings + at[m->file],
		};
	}
	free(at);
	return 0;
}

static int core_open_file(void *ctx, const struct tsc_vma *v, char *here, size_t n)
{
	struct core *c = ctx;
	const struct cmap *m = map_at(c, v->start);
	if (!m)
		return -ENOENT;
	int ok = file_usable(c, m->file);
	if (ok < 0)
		return ok;
	snprintf(here, n, "%s", file_path(c, m->file));
	int fd = dup(c->files[m->file].fd);
	return fd < 0 ? -errno : fd;
}

/* The core's threads, as its own ids: they are the only ones it knows. */
static int core_threads(void *ctx, struct tsc_tidmap *t)
{
	struct core *c = ctx;
	memset(t, 0, sizeof(*t));
	t->procfd = -1;
	t->e = calloc(c->info.nthreads ? c->info.nthreads : 1, sizeof(*t->e));
	if (!t->e)
		return -ENOMEM;
	for (size_t i = 0; i < c->info.nthreads; i++)
		t->e[t->n++] = (struct tsc_tid_pair){ c->info.threads[i].tid, c->info.threads[i].tid };
	return 0;
}

static void core_free(void *ctx)
{
	struct core *c = ctx;
	if (c->fd >= 0)
		close(c->fd);
	for (size_t i = 0; i < c->nfiles; i++) {
		free(c->files[i].path);
		if (c->files[i].fd >= 0)
			close(c->files[i].fd);
	}
	free(c->files);
	free(c->maps);
	free(c->segs);
	free(c->info.threads);
	free(c);
}

static const struct tsc_memsrc_ops core_ops = {
	.read = core_read,
	.maps = core_maps,
	.open_file = core_open_file,
	.threads = core_threads,
	.free = core_free,
};

/* ---- parsing ---- */

static int cmp_seg(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

static int cmp_map(const void *a, const void *b)
{
	const struct cmap *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* NT_FILE: count, page size, then count (start, end, page offset), then count paths. */
static int parse_file_note(struct core *c, const unsigned char *d, size_t len)
{
	if (c->nmaps || len < 16)
		return 0; /* the first one only */
	uint64_t count = u64at(d), page = u64at(d + 8);
	if (count > FILE_NOTE_MAX || count > (len - 16) / 24 || !page || page > (1u << 30) ||
	    (page & (page - 1)))
		return -EBADMSG;
	const unsigned char *s = d + 16 + count * 24, *end = d + len;
	c->maps = calloc(count ? count : 1, sizeof(*c->maps));
	c->files = calloc(count ? count : 1, sizeof(*c->files));
	if (!c->maps || !c->files)
		return -ENOMEM;
	for (uint64_t i = 0; i < count; i++) {
		const unsigned char *e = d + 16 + i * 24;
		const unsigned char *nul = memchr(s, 0, (size_t)(end - s));
		uint64_t start = u64at(e), stop = u64at(e + 8), pgoff = u64at(e + 16);
		if (!nul || stop <= start || pgoff > UINT64_MAX / page)
			return -EBADMSG;
		const char *path = (const char *)s;
		s = nul + 1;
		size_t f;
		for (f = c->nfiles; f > 0 && strcmp(c->files[f - 1].path, path); f--)
			;
		if (f) {
			f--;
		} else {
			if (!(c->files[c->nfiles].path = strdup(path)))
				return -ENOMEM;
			c->files[c->nfiles].fd = -1;
			f = c->nfiles++;
		}
		c->maps[c->nmaps++] = (struct cmap){ start, stop, pgoff * page, f };
	}
	qsort(c->maps, c->nmaps, sizeof(*c->maps), cmp_map);
	for (size_t i = 1; i < c->nmaps; i++)
		if (c->maps[i].start < c->maps[i - 1].end)
			return -EBADMSG;
	return 0;
}

static int parse_notes(struct core *c, const unsigned char *p, size_t len)
{
	struct tsc_core_info *in = &c->info;
	size_t off = 0, cap = len / (12 + 8 + PRSTATUS_SIZE) + 1;
	int err;
	/* room for as many threads as the notes could hold, and the cap */
	in->threads = calloc(cap < TSC_CORE_MAX_THREADS ? cap : TSC_CORE_MAX_THREADS,
			     sizeof(*in->threads));
	if (!in->threads)
		return -ENOMEM;
	while (len - off >= 12) {
		uint32_t nsz = u32at(p + off), dsz = u32at(p + off + 4), type = u32at(p + off + 8);
		uint64_t nal = ((uint64_t)nsz + 3) & ~3ull, dal = ((uint64_t)dsz + 3) & ~3ull;
		size_t room = len - off - 12;
		if (nal > room || dsz > room - nal)
			return -EBADMSG;
		const char *name = (const char *)p + off + 12;
		const unsigned char *d = p + off + 12 + nal;
		int core = nsz == 5 && !memcmp(name, "CORE", 5);
		off += 12 + nal + (dal <= room - nal ? dal : dsz);
		if (!core)
			continue;
		if (type == NT_PRSTATUS) {
			if (dsz < PRSTATUS_SIZE)
				return -EBADMSG;
			if (in->nthreads == cap || in->nthreads == TSC_CORE_MAX_THREADS)
				continue;
			struct tsc_core_thread *t = &in->threads[in->nthreads++];
			const unsigned char *r = d + PRSTATUS_REGS;
			int16_t sig;
			memcpy(&sig, d + PRSTATUS_CURSIG, 2);
			*t = (struct tsc_core_thread){ .tid = i32at(d + PRSTATUS_PID), .cursig = sig };
			for (unsigned k = 0; k < sizeof(user_reg); k++)
				t->regs[k] = u64at(r + 8 * user_reg[k]);
		} else if (type == NT_SIGINFO && in->nthreads && dsz >= SIGINFO_SIZE) {
			struct tsc_core_thread *t = &in->threads[in->nthreads - 1];
			t->has_siginfo = 1;
			t->sig_signo = i32at(d);
			t->sig_code = i32at(d + 8);
			t->fault_addr = u64at(d + 16);
		} else if (type == NT_PRPSINFO && dsz >= PRPSINFO_SIZE && !in->pid) {
			in->pid = i32at(d + PRPSINFO_PID);
		} else if (type == NT_AUXV) {
			for (uint32_t k = 0; k + 16 <= dsz; k += 16)
				if (u64at(d + k) == AT_ENTRY)
					in->entry = u64at(d + k + 8);
		} else if (type == NT_FILE) {
			if ((err = parse_file_note(c, d, dsz)))
				return err;
		}
	}
	return 0;
}

static int read_headers(struct core *c, char *err, size_t errlen, const char *path)
{
	Elf64_Ehdr eh;
	struct stat st;
	int rc;
	if (fstat(c->fd, &st))
		return fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(err, errlen, -ENOEXEC, "%s is not a regular file", path);
	c->size = (uint64_t)st.st_size;
	c->info.written_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
	if (full_pread(c->fd, &eh, sizeof(eh), 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG))
		return fail(err, errlen, -ENOEXEC, "%s is not a core file (not ELF)", path);
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64)
		return fail(err, errlen, -ENOEXEC, "%s is not an x86-64 core file", path);
	if (eh.e_type != ET_CORE)
		return fail(err, errlen, -ENOEXEC, "%s is an ELF file but not a core file "
			    "(an executable? give it with --exe)", path);
	uint64_t phnum = eh.e_phnum;
	if (phnum == PN_XNUM) { /* the real count is in the first section header's sh_info */
		Elf64_Shdr sh;
		if (!eh.e_shoff || full_pread(c->fd, &sh, sizeof(sh), eh.e_shoff))
			return fail(err, errlen, -EBADMSG, "%s: damaged program header count", path);
		phnum = sh.sh_info;
	}
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || !phnum || phnum > TSC_CORE_MAX_SEGMENTS ||
	    eh.e_phoff > c->size || phnum * sizeof(Elf64_Phdr) > c->size - eh.e_phoff)
		return fail(err, errlen, -EBADMSG, "%s: truncated or damaged core file (program "
			    "headers beyond its %llu bytes)", path, (unsigned long long)c->size);
	Elf64_Phdr *ph = malloc(phnum * sizeof(*ph));
	unsigned char *notes = NULL;
	size_t nnotes = 0;
	uint64_t need = 0;
	if (!ph || !(c->segs = calloc(phnum, sizeof(*c->segs)))) {
		rc = -ENOMEM;
		goto cleanup;
	}
	if ((rc = full_pread(c->fd, ph, phnum * sizeof(*ph), eh.e_phoff))) {
		rc = fail(err, errlen, -EBADMSG, "%s: cannot read its program headers", path);
		goto cleanup;
	}
	for (uint64_t i = 0; i < phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		if (p->p_type != PT_LOAD && p->p_type != PT_NOTE)
			continue;
		if (p->p_offset + p->p_filesz < p->p_offset ||
		    (p->p_type == PT_LOAD && (p->p_vaddr + p->p_memsz < p->p_vaddr ||
					      p->p_filesz > p->p_memsz))) {
			rc = fail(err, errlen, -EBADMSG, "%s: damaged program header %llu", path,
				  (unsigned long long)i);
			goto cleanup;
		}
		if (p->p_offset + p->p_filesz > need)
			need = p->p_offset + p->p_filesz;
		if (p->p_type == PT_LOAD) {
			c->segs[c->nsegs++] = (struct seg){ p->p_vaddr, p->p_memsz, p->p_offset,
							    p->p_filesz, p->p_flags };
			continue;
		}
		if (p->p_filesz > TSC_CORE_MAX_NOTES - nnotes) {
			rc = fail(err, errlen, -EBADMSG, "%s: more than %u MiB of notes", path,
				  TSC_CORE_MAX_NOTES >> 20);
			goto cleanup;
		}
		if (p->p_offset + p->p_filesz > c->size)
			continue; /* said below */
		unsigned char *nn = realloc(notes, nnotes + p->p_filesz + 1);
		if (!nn) {
			rc = -ENOMEM;
			goto cleanup;
		}
		notes = nn;
		if (full_pread(c->fd, notes + nnotes, p->p_filesz, p->p_offset)) {
			rc = fail(err, errlen, -EBADMSG, "%s: cannot read its notes", path);
			goto cleanup;
		}
		nnotes += p->p_filesz;
	}
	if (need > c->size) {
		rc = fail(err, errlen, -EBADMSG, "%s is truncated: %llu bytes, its headers describe "
			  "%llu (the dump was cut short, by the core size limit or a full disk?)",
			  path, (unsigned long long)c->size, (unsigned long long)need);
		goto cleanup;
	}
	rc = 0;
cleanup:
	free(ph);
	if (!rc) {
		/* notes were appended segment by segment; parse them now that all is read */
		rc = notes ? parse_notes(c, notes, nnotes) : 0;
		if (rc == -EBADMSG)
			fail(err, errlen, rc, "%s: damaged notes", path);
	}
	free(notes);
	if (rc == -ENOMEM)
		fail(err, errlen, rc, "out of memory");
	return rc;
}

/* Which NT_FILE path is the executable: the one mapping AT_ENTRY, else the lowest. */
static void find_exe(struct core *c)
{
	const struct cmap *m = c->info.entry ? map_at(c, c->info.entry) : NULL;
	if (!m && c->nmaps)
		m = &c->maps[0];
	if (m)
		c->files[m->file].is_exe = 1;
}

int tsc_memsrc_core_new(const char *path, const char *exe, struct tsc_memsrc **out, char *err,
			size_t errlen)
{
	struct tsc_memsrc *m = calloc(1, sizeof(*m));
	struct core *c = calloc(1, sizeof(*c));
	int rc;
	*out = NULL;
	if (!m || !c) {
		rc = fail(err, errlen, -ENOMEM, "out of memory");
		goto cleanup;
	}
	c->exe = exe;
	c->fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (c->fd < 0) {
		rc = fail(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
		goto cleanup;
	}
	if ((rc = read_headers(c, err, errlen, path)))
		goto cleanup;
	if (!c->info.nthreads) {
		rc = fail(err, errlen, -EBADMSG, "%s: a core file without threads (no NT_PRSTATUS "
			  "note)", path);
		goto cleanup;
	}
	if (!c->info.pid)
		c->info.pid = c->info.threads[0].tid;
	qsort(c->segs, c->nsegs, sizeof(*c->segs), cmp_seg);
	find_exe(c);
	if (exe) {
		size_t i;
		for (i = 0; i < c->nfiles && !c->files[i].is_exe; i++)
			;
		if (i == c->nfiles) {
			rc = fail(err, errlen, -ESTALE, "%s: the core names no executable for --exe",
				  path);
			goto cleanup;
		}
		if ((rc = file_usable(c, i)) < 0) {
			rc = fail(err, errlen, rc == -ESTALE ? -ESTALE : rc, "%s %s", exe,
				  rc == -ESTALE ? "is not the executable the core's process ran "
						  "(another build-id)" : strerror(-rc));
			goto cleanup;
		}
	}
	m->ops = &core_ops;
	m->ctx = c;
	m->frozen = 1;
	*out = m;
	return 0;
cleanup:
	if (c)
		core_free(c);
	free(m);
	return rc;
}

const struct tsc_core_info *tsc_memsrc_core_info(const struct tsc_memsrc *m)
{
	return m && m->ops == &core_ops ? &((const struct core *)m->ctx)->info : NULL;
}
