/* SPDX-License-Identifier: MIT */
/* Thread ids across pid namespaces, from /proc/PID/task/TID/status (NSpid). */
#include "target/tids.h"

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

void tsc_tidcache_init(struct tsc_tidcache *c, int procfd, uint64_t reread_ns)
{
	memset(c, 0, sizeof(*c));
	c->procfd = procfd;
	c->reread_ns = reread_ns;
}

int32_t tsc_tidcache_outer(struct tsc_tidcache *c, int32_t inner, uint64_t now_ns)
{
	if (c->ok && c->map.same_ns)
		return inner;
	for (int i = 0; i < c->n; i++)
		if (c->inner[i] == inner)
			return c->outer[i];
	if (!c->read || (c->reread_ns && now_ns - c->read_at > c->reread_ns)) {
		tsc_tidmap_free(&c->map);
		c->ok = tsc_tidmap_read(c->procfd, &c->map) == 0;
		c->read = 1;
		c->read_at = now_ns;
		if (c->ok && c->map.same_ns)
			return inner;
	}
	int32_t outer = c->ok ? tsc_tidmap_outer(&c->map, inner) : 0;
	if (!outer)
		return inner; /* gone already: not cached, a later read may know it */
	if (c->n < (int)(sizeof(c->inner) / sizeof(c->inner[0]))) {
		c->inner[c->n] = inner;
		c->outer[c->n++] = outer;
	}
	return outer;
}

void tsc_tidcache_free(struct tsc_tidcache *c)
{
	if (c && c->read)
		tsc_tidmap_free(&c->map);
	if (c)
		c->read = c->ok = 0;
}

static int cmp_tid(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

int tsc_tidset_read(int procfd, struct tsc_tidset *s)
{
	struct tsc_tidmap m;
	size_t cap = 0;
	int err;
	memset(s, 0, sizeof(*s));
	if ((err = tsc_tidmap_read(procfd, &m)))
		return err;
	if (!m.same_ns) {
		/* the map already lists every thread with the target's own id */
		if (m.n && !(s->tid = malloc(m.n * sizeof(*s->tid)))) {
			err = -ENOMEM;
			goto cleanup;
		}
		for (size_t i = 0; i < m.n; i++)
			s->tid[s->n++] = m.e[i].inner;
		goto cleanup;
	}
	/* same namespace: tsc_tidmap_read skipped the listing, so list here */
	int fd = openat(procfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		goto cleanup;
	}
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		if (s->n == cap) {
			if (cap >= MAX_THREADS)
				break;
			size_t ncap = cap ? cap * 2 : 64;
			int32_t *nt = realloc(s->tid, ncap * sizeof(*nt));
			if (!nt) {
				err = -ENOMEM;
				break;
			}
			s->tid = nt;
			cap = ncap;
		}
		s->tid[s->n++] = (int32_t)strtol(de->d_name, NULL, 10);
	}
	closedir(d);
cleanup:
	tsc_tidmap_free(&m);
	if (!err && s->n)
		qsort(s->tid, s->n, sizeof(*s->tid), cmp_tid);
	if (err)
		tsc_tidset_free(s);
	return err;
}

int tsc_tidset_has(const struct tsc_tidset *s, int32_t tid)
{
	return s->n && bsearch(&tid, s->tid, s->n, sizeof(*s->tid), cmp_tid) != NULL;
}

void tsc_tidset_free(struct tsc_tidset *s)
{
	if (!s)
		return;
	free(s->tid);
	s->tid = NULL;
	s->n = 0;
}

#define PF_EXITING_FLAG 0x4u /* include/linux/sched.h */

static int thread_exiting(int procfd, const char *tid)
{
	char path[16 + 256], buf[1024];
	snprintf(path, sizeof(path), "task/%s/stat", tid);
	int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1; /* gone since the listing */
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = 0;
	/* fields after the comm, which may hold anything: from the last ')'; field 3 is the
	 * state, 9 the flags, 31 the thread's pending signals */
	char *p = strrchr(buf, ')');
	unsigned long long flags = 0, sig = 0;
	for (int field = 2; p && field <= 31; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return 0;
		if (field + 1 == 9)
			flags = strtoull(p + 1, NULL, 10);
		else if (field + 1 == 31)
			sig = strtoull(p + 1, NULL, 10);
	}
	return (flags & PF_EXITING_FLAG) || (sig & (1ull << (9 - 1)));
}

int tsc_threads_exiting(int procfd)
{
	int fd = openat(procfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	int err, exiting = 0;
	size_t n = 0;
	if (!d) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		return err == -ENOENT ? 1 : err;
	}
	for (struct dirent *de; !exiting && n < MAX_THREADS && (de = readdir(d)); n++)
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9')
			exiting = thread_exiting(procfd, de->d_name);
	closedir(d);
	return exiting;
}
