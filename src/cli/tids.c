/* SPDX-License-Identifier: MIT */
/* Thread ids across pid namespaces, from /proc/PID/task/TID/status (NSpid). */
#include "tids.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_THREADS (1u << 20)

static int read_nspid(int procfd, const char *tid, struct tsc_tid_pair *p)
{
	char path[16 + 256], line[512]; /* tid is a d_name: up to 255 bytes */
	int found = 0;
	snprintf(path, sizeof(path), "task/%s/status", tid);
	int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* gone since the listing */
	FILE *f = fdopen(fd, "re");
	if (!f) {
		close(fd);
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "NSpid:", 6))
			continue;
		/* ours first (the namespace of this /proc), the target's own last */
		char *s = line + 6, *end;
		long v, first = -1, last = -1;
		while ((v = strtol(s, &end, 10)), end != s) {
			if (first < 0)
				first = v;
			last = v;
			s = end;
		}
		if (first > 0 && last > 0) {
			p->outer = (int32_t)first;
			p->inner = (int32_t)last;
			found = 1;
		}
		break;
	}
	fclose(f);
	return found;
}

int tsc_tidmap_read(int procfd, struct tsc_tidmap *m)
{
	struct stat ours, theirs;
	memset(m, 0, sizeof(*m));
	m->procfd = procfd;
	if (stat("/proc/self/ns/pid", &ours) || fstatat(procfd, "ns/pid", &theirs, 0) ||
	    (ours.st_ino == theirs.st_ino && ours.st_dev == theirs.st_dev)) {
		m->same_ns = 1;
		return 0;
	}
	int fd = openat(procfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	size_t cap = 0;
	int err = 0;
	if (!d) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		return err;
	}
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		if (m->n == cap) {
			if (cap >= MAX_THREADS)
				break;
			size_t ncap = cap ? cap * 2 : 64;
			struct tsc_tid_pair *ne = realloc(m->e, ncap * sizeof(*ne));
			if (!ne) {
				err = -ENOMEM;
				break;
			}
			m->e = ne;
			cap = ncap;
		}
		m->n += read_nspid(procfd, de->d_name, &m->e[m->n]);
	}
	closedir(d);
	if (err)
		tsc_tidmap_free(m);
	return err;
}

int32_t tsc_tidmap_outer(const struct tsc_tidmap *m, int32_t inner)
{
	char path[32];
	if (inner <= 0)
		return 0;
	if (m->same_ns) {
		snprintf(path, sizeof(path), "task/%d", inner);
		return faccessat(m->procfd, path, F_OK, 0) ? 0 : inner;
	}
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].inner == inner)
			return m->e[i].outer;
	return 0;
}

void tsc_tidmap_free(struct tsc_tidmap *m)
{
	if (!m)
		return;
	free(m->e);
	m->e = NULL;
	m->n = 0;
}
