/* SPDX-License-Identifier: MIT */
/* The file-backed mappings of a process, from /proc/PID/maps. */
#ifndef TSC_MAPS_H
#define TSC_MAPS_H

#include <stddef.h>
#include <stdint.h>

struct tsc_vma {
	uint64_t start, end;  /* [start, end) in the target */
	uint64_t offset;      /* file offset of start */
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	int exec;             /* mapped executable */
	const char *path;     /* as the target names it; may end with " (deleted)" */
};

struct tsc_maps {
	struct tsc_vma *vma;
	size_t n;
	char *strings;        /* storage of the paths */
	size_t strings_len, strings_cap;
};

/* Read the file-backed mappings of the process whose /proc directory is procfd, in address
 * order. Uses the PROCMAP_QUERY ioctl where the kernel has it (it skips the anonymous
 * mappings, which a process with many task stacks has by the hundred thousand), else parses
 * the text. Returns 0 or -errno. */
int tsc_maps_read(int procfd, struct tsc_maps *m);
/* Only the lowest file-backed mapping (usually the executable's first), when the kernel has
 * PROCMAP_QUERY: one query, however many anonymous mappings follow. -ENOTTY without it. */
int tsc_maps_read_first(int procfd, struct tsc_maps *m);
void tsc_maps_free(struct tsc_maps *m);

/* Same file: same device and inode. */
static inline int tsc_vma_same_file(const struct tsc_vma *a, const struct tsc_vma *b)
{
	return a->inode == b->inode && a->dev_major == b->dev_major && a->dev_minor == b->dev_minor;
}

#endif
