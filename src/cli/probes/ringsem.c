/* SPDX-License-Identifier: MIT */
/* The rings probe's semaphore, raised through the kernel (ringsem.h). The perf event's own
 * uprobe PMU takes the semaphore's file offset as its reference counter (config bits 32..63),
 * exactly as libbpf does for a USDT probe, and the site and semaphore are checked as for any
 * other probe (elfx.h: tsc_elf_usdt_site) before the kernel patches anything. */
#include "probes/ringsem.h"
#include "target/elfx.h"
#include "target/tfile.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define REF_CTR_SHIFT 32 /* PERF_UPROBE_REF_CTR_OFFSET_SHIFT */

struct found {
	struct tsc_elf *e;
	uint64_t off, ref;
	int n, err;
};

static int on_note(const struct tsc_usdt *u, void *ctx)
{
	struct found *f = ctx;
	if (strcmp(u->provider, "taskscope") || strcmp(u->name, "rings"))
		return 0;
	if (tsc_elf_usdt_site(f->e, u, &f->off, &f->ref) || !f->ref)
		return f->err = -ENOEXEC;
	f->n++;
	return 1; /* one site is all it takes: the semaphore is shared */
}

static int uprobe_type(void)
{
	char buf[32];
	int fd = open("/sys/bus/event_source/devices/uprobe/type", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ENOSYS;
	buf[n] = 0;
	return atoi(buf);
}

int tsc_ringsem_hold(const char *who, const char *binary, int pid)
{
	struct tsc_elf e = { 0 };
	struct found f = { .e = &e };
	int fd, err;

	if ((fd = tsc_tfile_open(AT_FDCWD, binary, 0, NULL)) < 0) {
		fprintf(stderr, "%s: cannot open %s: %s\n", who, binary, tsc_tfile_strerror(fd));
		return fd;
	}
	err = tsc_elf_open(fd, &e, TSC_ELF_NOTES, TSC_ELF_MAX_READ);
	if (!err)
		err = tsc_elf_usdt_foreach(&e, on_note, &f); /* reads the sites from fd */
	tsc_elf_close(&e);
	close(fd);
	if (err < 0 || f.err) {
		err = f.err ? f.err : err;
		fprintf(stderr, "%s: %s: cannot use its taskscope:rings note: %s\n", who, binary,
			err == -ENOEXEC ? "it points outside a probe site or its semaphore outside "
			"the .probes section (a damaged file)" : strerror(-err));
		return err;
	}
	if (!f.n)
		return -ENOENT;
	int type = uprobe_type();
	if (type < 0) {
		fprintf(stderr, "%s: this kernel has no uprobe perf events (%s)\n", who,
			strerror(-type));
		return -ENOSYS;
	}
	struct perf_event_attr a = {
		.size = sizeof(a),
		.type = (uint32_t)type,
		.config = f.ref << REF_CTR_SHIFT,
		.config1 = (uint64_t)(uintptr_t)binary,
		.config2 = f.off,
		.sample_period = 1,
		.disabled = 1, /* nothing to count: the semaphore is what we hold it for */
	};
	fd = (int)syscall(SYS_perf_event_open, &a, pid, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "%s: cannot hold the rings probe of process %d: %s\n", who, pid,
			strerror(-err));
		return err;
	}
	return fd;
}
