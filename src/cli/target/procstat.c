/* SPDX-License-Identifier: MIT */
/* /proc/PID/stat and /proc/PID/task/TID/stat (procstat.h). */
#include "target/procstat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t tsc_boottime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t ticks_ns(unsigned long long t)
{
	static long hz;
	if (!hz)
		hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
	return (uint64_t)(t / (unsigned long long)hz) * 1000000000u +
	       (uint64_t)(t % (unsigned long long)hz) * 1000000000u / (uint64_t)hz;
}

int tsc_procstat_read(int dirfd, const char *rel, struct tsc_procstat *s)
{
	char buf[1024];
	unsigned long long v[22] = { 0 };
	int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* the kernel writes the line at once; 52 numbers and a 16-byte command name fit */
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int err = n < 0 ? -errno : 0;
	close(fd);
	if (n <= 0)
		return err ? err : -ENOENT;
	buf[n] = 0;
	/* fields after the command name, from its last ')': field 3 (the state) on */
	char *p = strrchr(buf, ')');
	if (!p)
		return -EPROTO;
	p++;
	for (int field = 3; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -EPROTO;
		v[field - 1] = field == 3 ? 0 : strtoull(p, &p, 10);
		if (field == 3)
			p++;
	}
	s->utime_ns = ticks_ns(v[13]);
	s->stime_ns = ticks_ns(v[14]);
	s->start_ns = ticks_ns(v[21]);
	return 0;
}

uint64_t tsc_procstat_sched_ns(int dirfd, int32_t tid)
{
	char path[48], buf[128];
	snprintf(path, sizeof(path), "task/%d/schedstat", tid);
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return strtoull(buf, NULL, 10);
}
