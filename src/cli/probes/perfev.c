/* SPDX-License-Identifier: MIT */
/* One CPU-clock perf event per online CPU, each running a BPF program (perfev.h). */
#include "probes/perfev.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#define MAX_CPUS 4096

/* The online CPUs, from "0-3,5" in /sys/devices/system/cpu/online. */
static int online_cpus(unsigned char *on, int max)
{
	char buf[4096];
	int fd = open("/sys/devices/system/cpu/online", O_RDONLY | O_CLOEXEC), n = 0;
	ssize_t len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (len <= 0) {
		int ncpu = libbpf_num_possible_cpus();
		for (int i = 0; i < ncpu && i < max; i++, n++)
			on[i] = 1;
		return n;
	}
	buf[len] = 0;
	for (char *p = buf; *p && *p != '\n';) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (end == p)
			break;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long c = a; c <= b && c < max; c++, n++)
			on[c] = 1;
		p = *end == ',' ? end + 1 : end;
	}
	return n;
}

static int add_link(struct tsc_perfev *p, struct bpf_link *l)
{
	struct bpf_link **nl = realloc(p->links, (size_t)(p->n + 1) * sizeof(*nl));
	if (!nl) {
		bpf_link__destroy(l);
		return -ENOMEM;
	}
	p->links = nl;
	p->links[p->n++] = l;
	return 0;
}

int tsc_perfev_attach(struct tsc_perfev *p, struct bpf_program *prog, uint64_t period_ns,
		      const char *who)
{
	static unsigned char on[MAX_CPUS];
	int ncpu = online_cpus(on, MAX_CPUS), attached = 0, err = 0;
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_period = period_ns,
	};
	for (int cpu = 0; cpu < MAX_CPUS && ncpu > 0; cpu++) {
		if (!on[cpu])
			continue;
		ncpu--;
		int pfd = (int)syscall(__NR_perf_event_open, &attr, -1, cpu, -1,
				       PERF_FLAG_FD_CLOEXEC);
		if (pfd < 0) {
			err = -errno;
			if (err == -ENODEV || err == -ENOENT)
				continue; /* went offline */
			if (err == -EACCES || err == -EPERM)
				fprintf(stderr, "%s: cannot open a CPU-clock perf event: %s; "
						"needs root or CAP_PERFMON\n", who, strerror(-err));
			else
				fprintf(stderr, "%s: cannot open a CPU-clock perf event on "
						"CPU %d: %s\n", who, cpu, strerror(-err));
			return err;
		}
		struct bpf_link *l = bpf_program__attach_perf_event(prog, pfd);
		if (!l) {
			err = -errno;
			close(pfd);
			fprintf(stderr, "%s: cannot attach the sampler to CPU %d: %s\n", who, cpu,
				strerror(-err));
			return err;
		}
		if ((err = add_link(p, l)))
			return err;
		attached++;
	}
	if (!attached) {
		fprintf(stderr, "%s: no online CPU to sample\n", who);
		return -ENODEV;
	}
	return 0;
}

void tsc_perfev_close(struct tsc_perfev *p)
{
	for (int i = 0; i < p->n; i++)
		bpf_link__destroy(p->links[i]);
	free(p->links);
	p->links = NULL;
	p->n = 0;
}
