/* SPDX-License-Identifier: MIT */
/* Output files: a new inode in the name's directory, renamed into place (see outfile.h). */
#include "out/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* What is at the name now: 0 nothing or a regular file (may be replaced), else -errno. */
static int check_name(int dirfd, const char *name)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return errno == ENOENT ? 0 : -errno;
	if (S_ISREG(st.st_mode))
		return 0;
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
}

/* A fresh hidden name: ".tsc-" and 12 random hex digits. */
static void tmp_name(char *buf, size_t n)
{
	unsigned long long r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = (unsigned long long)ts.tv_nsec * 2654435761u ^ (unsigned long long)getpid() << 32 ^
		    (unsigned long long)ts.tv_sec;
	}
	snprintf(buf, n, ".tsc-%012llx.tmp", r & 0xffffffffffffull);
}

int tsc_outfile_open(struct tsc_outfile *o, const char *path)
{
	const char *slash = strrchr(path, '/');
	int err;

	memset(o, 0, sizeof(*o));
	o->fd = o->dirfd = -1;
	const char *base = slash ? slash + 1 : path;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return -EISDIR;
	if (!(o->name = strdup(base)))
		return -ENOMEM;
	if (slash) {
		size_t dlen = slash == path ? 1 : (size_t)(slash - path);
		char *dir = strndup(path, dlen);
		if (!dir)
			return -ENOMEM;
		o->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		free(dir);
	} else {
		o->dirfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (o->dirfd < 0)
		return -errno;
	if ((err = check_name(o->dirfd, o->name)))
		return err;

	o->fd = openat(o->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (o->fd >= 0) {
		o->unnamed = 1;
	} else if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) {
		/* a file system (or an old kernel) without O_TMPFILE: a hidden name */
		for (int i = 0; i < 100 && o->fd < 0; i++) {
			tmp_name(o->tmp, sizeof(o->tmp));
			o->fd = openat(o->dirfd, o->tmp,
				       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (o->fd < 0 && errno != EEXIST)
				break;
		}
		if (o->fd < 0) {
			o->tmp[0] = 0;
			return -errno;
		}
	} else {
		return -errno;
	}
	/* our own new inode: the mode holds whatever the umask */
	if (fchmod(o->fd, 0600))
		return -errno;
	return 0;
}

/* Give the unnamed file a hidden name, from which it is renamed. */
static int link_unnamed(struct tsc_outfile *o)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->fd);
	for (int i = 0; i < 100; i++) {
		tmp_name(o->tmp, sizeof(o->tmp));
		/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc path works for anyone */
		if (!linkat(o->fd, "", o->dirfd, o->tmp, AT_EMPTY_PATH) ||
		    (errno != EEXIST &&
		     !linkat(AT_FDCWD, proc, o->dirfd, o->tmp, AT_SYMLINK_FOLLOW)))
			return 0;
		if (errno != EEXIST)
			break;
	}
	int err = -errno;
	o->tmp[0] = 0;
	return err;
}

int tsc_outfile_publish(struct tsc_outfile *o)
{
	int err;
	if (o->fd < 0 || o->published)
		return o->published ? 0 : -EBADF;
	/* refused at open, refused now: whatever came meanwhile is not replaced */
	if ((err = check_name(o->dirfd, o->name)))
		return err;
	if (o->unnamed && (err = link_unnamed(o)))
		return err;
	if (renameat(o->dirfd, o->tmp, o->dirfd, o->name)) {
		err = -errno;
		unlinkat(o->dirfd, o->tmp, 0);
		o->tmp[0] = 0;
		return err;
	}
	o->tmp[0] = 0;
	o->published = 1;
	return 0;
}

void tsc_outfile_close(struct tsc_outfile *o)
{
	if (!o)
		return;
	if (o->tmp[0] && o->dirfd >= 0)
		unlinkat(o->dirfd, o->tmp, 0);
	o->tmp[0] = 0;
	if (o->fd >= 0)
		close(o->fd);
	if (o->dirfd >= 0)
		close(o->dirfd);
	o->fd = o->dirfd = -1;
	free(o->name);
	o->name = NULL;
}

const char *tsc_outfile_strerror(int err)
{
	switch (err) {
	case -ELOOP:
		return "it is a symbolic link, which taskscope does not write through: name the "
		       "file itself";
	case -EISDIR:
		return "it is a directory";
	case -EINVAL:
		return "it is not a regular file";
	default:
		return strerror(-err);
	}
}
