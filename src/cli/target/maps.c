/* SPDX-License-Identifier: MIT */
/* The file-backed mappings of a process: PROCMAP_QUERY when the kernel has it, else text. */
#include "target/maps.h"
#include "probes/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MAX_VMAS (1u << 20) /* file-backed ones: a sane bound */
#define MAX_TEXT (256u << 20) /* of /proc/PID/maps: 65530 mappings with 4 KiB paths fit */

/* Append a mapping; its path is kept as an offset until the end (the pool may move). */
static int add(struct tsc_maps *m, size_t *cap, const struct tsc_vma *v, const char *path)
{
	if (m->n >= MAX_VMAS)
		return -E2BIG;
	if (m->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct tsc_vma *nv = realloc(m->vma, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		m->vma = nv;
		*cap = ncap;
	}
	/* consecutive mappings of one file share its path */
	size_t len = strlen(path) + 1, off;
	const char *prev = m->n ? m->strings + (uintptr_t)m->vma[m->n - 1].path : NULL;
	if (prev && !strcmp(prev, path)) {
		off = (uintptr_t)m->vma[m->n - 1].path;
	} else {
		if (m->strings_len + len > m->strings_cap) {
			size_t ncap = (m->strings_cap + len) * 2;
			char *ns = realloc(m->strings, ncap);
			if (!ns)
				return -ENOMEM;
			m->strings = ns;
			m->strings_cap = ncap;
		}
		off = m->strings_len;
		memcpy(m->strings + off, path, len);
		m->strings_len += len;
	}
	m->vma[m->n] = *v;
	m->vma[m->n].path = (const char *)(uintptr_t)off;
	m->n++;
	return 0;
}

static int read_query(int fd, struct tsc_maps *m, size_t *cap, size_t limit)
{
	char name[PATH_MAX + 32];
	uint64_t addr = 0;
	for (;;) {
		struct tsc_procmap_query q = {
			.size = sizeof(q),
			.query_flags = TSC_PROCMAP_COVERING_OR_NEXT | TSC_PROCMAP_FILE_BACKED,
			.query_addr = addr,
			.vma_name_addr = (uint64_t)(uintptr_t)name,
			.vma_name_size = sizeof(name),
		};
		int r = ioctl(fd, TSC_PROCMAP_QUERY, &q);
		if (r && errno == ENAMETOOLONG) {
			/* a path past PATH_MAX (the target can make one): kept nameless, its file
			 * is still reached through map_files */
			q.vma_name_addr = 0;
			q.vma_name_size = 0;
			r = ioctl(fd, TSC_PROCMAP_QUERY, &q);
		}
		if (r)
			return errno == ENOENT ? 0 : -errno;
		struct tsc_vma v = {
			.start = q.vma_start, .end = q.vma_end, .offset = q.vma_offset,
			.inode = q.inode, .dev_major = q.dev_major, .dev_minor = q.dev_minor,
			.exec = !!(q.vma_flags & TSC_PROCMAP_VMA_EXECUTABLE),
		};
		if (q.vma_end <= addr)
			return -EPROTO;
		int err = add(m, cap, &v, q.vma_name_size ? name : "");
		if (err)
			return err;
		if (limit && m->n >= limit)
			return 0;
		addr = q.vma_end;
	}
}

static int read_text(int fd, struct tsc_maps *m, size_t *cap)
{
	size_t len = 0, bufcap = 1 << 16;
	char *buf = malloc(bufcap);
	int err = 0;
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len + 4096 > bufcap && bufcap >= MAX_TEXT) {
			err = -E2BIG;
			goto cleanup;
		}
		if (len + 4096 > bufcap) {
			char *nb = realloc(buf, bufcap * 2);
			if (!nb) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = nb;
			bufcap *= 2;
		}
		ssize_t r = read(fd, buf + len, bufcap - len - 1);
		if (r < 0) {
			err = -errno;
			goto cleanup;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = 0;
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		struct tsc_vma v = { 0 };
		unsigned long long start, end, off, ino;
		char perms[8];
		int pathpos = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &off,
			   &v.dev_major, &v.dev_minor, &ino, &pathpos) < 7 || !ino)
			continue;
		v.start = start, v.end = end, v.offset = off, v.inode = ino;
		v.exec = perms[2] == 'x';
		if ((err = add(m, cap, &v, line + pathpos)))
			goto cleanup;
	}
cleanup:
	free(buf);
	return err;
}

static int maps_read(int procfd, struct tsc_maps *m, size_t limit)
{
	size_t cap = 0;
	int err;
	memset(m, 0, sizeof(*m));
	int fd = openat(procfd, "maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = read_query(fd, m, &cap, limit);
	if (limit && (err == -ENOTTY || err == -EINVAL)) {
		close(fd);
		return -ENOTTY;
	}
	if (err == -ENOTTY || err == -EINVAL) { /* a kernel before 6.11 */
		m->n = 0;
		m->strings_len = 0;
		err = read_text(fd, m, &cap);
	}
	close(fd);
	if (err) {
		tsc_maps_free(m);
		return err;
	}
	for (size_t i = 0; i < m->n; i++)
		m->vma[i].path = m->strings + (uintptr_t)m->vma[i].path;
	return 0;
}

int tsc_maps_read(int procfd, struct tsc_maps *m)
{
	return maps_read(procfd, m, 0);
}

int tsc_maps_read_first(int procfd, struct tsc_maps *m)
{
	return maps_read(procfd, m, 1);
}

void tsc_maps_free(struct tsc_maps *m)
{
	if (!m)
		return;
	free(m->vma);
	free(m->strings);
	memset(m, 0, sizeof(*m));
}
