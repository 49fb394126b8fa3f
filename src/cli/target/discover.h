/* SPDX-License-Identifier: MIT */
/*
 * Finding the processes that hold a taskscope runtime, among all of /proc (our pid namespace):
 * for `ls`, `metrics --all` and the shell completion. A process counts when its executable or
 * one of its libraries (linked or dlopen'd) has the debug descriptor section, found the way
 * the attach protocol finds it (tsc_remote_find_runtime).
 *
 * Cheap enough to run at every scrape: a mapped file found to hold no runtime is remembered
 * by device and inode (for a while: TSC_DISCOVER_FORGET_NS), so a process whose files are all
 * known is passed over after one query of its mappings, without opening any ELF. Safe: every
 * read is bounded (remote.h, maps.h, elfx.h); a process that exits or cannot be read is
 * passed over and counted, never waited on.
 */
#ifndef TSC_DISCOVER_H
#define TSC_DISCOVER_H

#include <stddef.h>
#include <stdint.h>

struct tsc_remote;
struct tsc_discover;

/* Negative verdicts on files are forgotten after this long: a file rewritten in place keeps
 * its inode. */
#define TSC_DISCOVER_FORGET_NS (300ull * 1000000000ull)

struct tsc_discover_stats {
	size_t scanned;      /* processes looked at */
	size_t unreadable;   /* ... that this user may not read (another user's, without root) */
	size_t vanished;     /* ... that exited while looked at */
};

/*
 * What a scan reports of each runtime process. skip(pid): 1 when the caller holds that
 * process already (it is then not opened again), else 0; NULL: never. found(r, err): r is
 * open; err 0: its runtime found and its descriptor valid; else the runtime is there but not
 * readable (-EPROTONOSUPPORT another ABI, -EPROTO a descriptor that fails validation; r->err
 * says what). found returns 1 when it keeps r (then it closes it), 0 to have it closed, or a
 * negative errno to end the scan with.
 */
struct tsc_discover_cb {
	int (*skip)(int pid, void *ctx);
	int (*found)(struct tsc_remote *r, int err, void *ctx);
	void *ctx;
};

int tsc_discover_new(struct tsc_discover **out);
void tsc_discover_free(struct tsc_discover *d); /* accepts NULL */

/* Walk /proc once, in PID order, ourselves left out. st (may be NULL) gets the counts.
 * Returns 0, what found returned to end it, or -errno when /proc cannot be read. */
int tsc_discover_scan(struct tsc_discover *d, const struct tsc_discover_cb *cb,
		      struct tsc_discover_stats *st);

#endif
