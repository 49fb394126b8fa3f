/* SPDX-License-Identifier: MIT */
/* Opening a file the target names: a path from its maps, under its root, behind its
 * map_files, or found by its build-id. The target may have put a FIFO, a device, a socket or a
 * symlink there, or may truncate the file while we read it. Nothing here blocks, and nothing
 * but a regular file is ever opened for reading. */
#ifndef TSC_TFILE_H
#define TSC_TFILE_H

#include <errno.h>
#include <stdint.h>
#include "target/maps.h"

#define TSC_TFILE_MAX (4ull << 30)  /* a larger file is refused: -EFBIG */
#define TSC_TFILE_NOFOLLOW 1        /* refuse a symlink as the last component */
/* Linux has no EFTYPE: "not a regular file" travels as this errno (see tsc_tfile_strerror). */
#define TSC_ENOTREG ENOMEDIUM

/* Open path (relative to dirfd, as openat) for reading. It is looked up with O_PATH first,
 * which opens nothing (a FIFO cannot block us, a device is never opened), and must be a
 * regular file of at most TSC_TFILE_MAX bytes and, when want is given, the very file of that
 * mapping (its inode). Only then is it opened, O_RDONLY|O_NONBLOCK|O_NOCTTY.
 * Returns an fd or -errno: -TSC_ENOTREG not a regular file, -ESTALE not the mapped file. */
int tsc_tfile_open(int dirfd, const char *path, int flags, const struct tsc_vma *want);

/* The file of build-id hex (lower-case) under each directory of $TASKSCOPE_DEBUG_DIRS
 * (':'-separated), then /usr/lib/debug, as DIR/.build-id/xx/rest followed by suffix (".debug"
 * for separate debug info, "" for the binary itself), opened as tsc_tfile_open does. An fd,
 * or -errno (-ENOENT: in none of them). */
int tsc_tfile_open_build_id(const char *hex, const char *suffix);

/* strerror, with "not a regular file" for -TSC_ENOTREG and "file too large" for -EFBIG. */
const char *tsc_tfile_strerror(int err);

/* pread until len bytes or the end of the file: the count read, or -errno. */
long tsc_pread_full(int fd, void *buf, size_t len, uint64_t off);

#endif
