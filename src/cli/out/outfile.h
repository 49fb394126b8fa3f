/* SPDX-License-Identifier: MIT */
/*
 * Output files the user names (record -o, export -o), created safely.
 *
 * The data never goes through the name: it is written to a new file of mode 0600 in the same
 * directory (unnamed with O_TMPFILE, else a hidden name created O_CREAT|O_EXCL|O_NOFOLLOW),
 * and tsc_outfile_publish renames it into place. So a symbolic link at the name is never
 * followed, an existing file is never truncated nor chmod-ed (other links to it keep their
 * contents), and a reader of the name sees the whole new file or the old one, never a
 * partial header. Policy: a regular file already at the name is replaced; a symbolic link,
 * directory, device, FIFO or socket there is refused, at open and again at publish.
 */
#ifndef TSC_OUTFILE_H
#define TSC_OUTFILE_H

struct tsc_outfile {
	int fd;             /* write here (O_WRONLY, close-on-exec); -1 when not open */
	int dirfd;          /* the directory of the name */
	char *name;         /* the name's last component */
	char tmp[32];       /* a hidden name in that directory while it has one, else "" */
	int unnamed;        /* O_TMPFILE: no name at all until published */
	int published;
};

/* Check the name and create the new file: 0, or -errno (-ELOOP: a symbolic link is there;
 * -EISDIR: a directory; -EINVAL: something else that is not a regular file). *o is always
 * left ready for tsc_outfile_close. */
int tsc_outfile_open(struct tsc_outfile *o, const char *path);
/* Give the file its name, replacing a regular file there; o->fd stays open for more
 * writes. 0 or -errno (then the name is untouched and the data stays unnamed). */
int tsc_outfile_publish(struct tsc_outfile *o);
/* Close; a file never published leaves nothing behind. Accepts a zeroed or failed *o. */
void tsc_outfile_close(struct tsc_outfile *o);
/* What an error of the two calls above means, for "cannot write PATH: %s". */
const char *tsc_outfile_strerror(int err);

#endif
