/* SPDX-License-Identifier: MIT */
/* A process's or thread's /proc stat line: CPU times and start time (ls, metrics). */
#ifndef TSC_PROCSTAT_H
#define TSC_PROCSTAT_H

#include <stdint.h>

struct tsc_procstat {
	uint64_t utime_ns, stime_ns;  /* CPU time in user and kernel mode */
	uint64_t start_ns;            /* when it started, CLOCK_BOOTTIME */
};

/* Read rel ("stat", "task/TID/stat") under dirfd (a /proc/PID directory): one bounded read;
 * the command name, which may hold anything, is skipped. 0 or -errno (-ENOENT: gone). */
int tsc_procstat_read(int dirfd, const char *rel, struct tsc_procstat *s);

/* Thread tid's on-CPU time in ns from the kernel's accounting (task/TID/schedstat's first
 * field, under dirfd, a /proc/PID directory); 0 when gone. Finer than stat's ticks: top's
 * per-task CPU shares it out. */
uint64_t tsc_procstat_sched_ns(int dirfd, int32_t tid);

/* CLOCK_BOOTTIME now, in ns: the clock start_ns counts on. */
uint64_t tsc_boottime_ns(void);

#endif
