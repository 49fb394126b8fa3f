/* SPDX-License-Identifier: MIT */
/* Opening the target's files: O_PATH first, checks, then a real open that cannot block. */
#include "target/tfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int check(int fd, const struct tsc_vma *want, struct stat *st)
{
	if (fstat(fd, st))
		return -errno;
	if (!S_ISREG(st->st_mode))
		return -TSC_ENOTREG;
	/* the inode alone: maps and stat disagree on the device of some file systems (btrfs) */
	if (want && st->st_ino != want->inode)
		return -ESTALE; /* replaced since it was mapped: its contents would lie */
	if ((uint64_t)st->st_size > TSC_TFILE_MAX)
		return -EFBIG;
	return 0;
}

int tsc_tfile_open(int dirfd, const char *path, int flags, const struct tsc_vma *want)
{
	struct stat st, st2;
	char self[48];
	int err, fd;
	int pfd = openat(dirfd, path,
			 O_PATH | O_CLOEXEC | (flags & TSC_TFILE_NOFOLLOW ? O_NOFOLLOW : 0));
	if (pfd < 0)
		return -errno;
	if ((err = check(pfd, want, &st)))
		goto cleanup;
	/* reopen the very inode checked: the path may have changed meanwhile */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	if (fstat(fd, &st2) || !S_ISREG(st2.st_mode) || st2.st_dev != st.st_dev ||
	    st2.st_ino != st.st_ino) {
		close(fd);
		err = -ESTALE;
		goto cleanup;
	}
	err = fd;
cleanup:
	close(pfd);
	return err;
}

const char *tsc_tfile_strerror(int err)
{
	if (err == -TSC_ENOTREG)
		return "not a regular file";
	if (err == -EFBIG)
		return "file too large";
	return strerror(-err);
}

long tsc_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (long)got;
}

int tsc_tfile_open_build_id(const char *hex, const char *suffix)
{
	const char *env = getenv("TASKSCOPE_DEBUG_DIRS");
	char *list = NULL, *save = NULL;
	int fd = -ENOENT;
	if (strlen(hex) < 3 || strspn(hex, "0123456789abcdef") != strlen(hex))
		return -EINVAL; /* the name comes from the target's file */
	if (asprintf(&list, "%s%s/usr/lib/debug", env ? env : "", env && *env ? ":" : "") < 0)
		return -ENOMEM;
	for (char *d = strtok_r(list, ":", &save); d && fd < 0; d = strtok_r(NULL, ":", &save)) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/.build-id/%.2s/%s%s", d, hex, hex + 2, suffix);
		fd = tsc_tfile_open(AT_FDCWD, path, 0, NULL);
	}
	free(list);
	return fd;
}
