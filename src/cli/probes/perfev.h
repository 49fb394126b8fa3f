/* SPDX-License-Identifier: MIT */
/* A BPF program on a CPU-clock perf event on every online CPU, hz samples a second each: top's
 * sampler and profile share it. The program filters on the target itself, so a sample that
 * lands on another process costs a map-less tgid test. */
#ifndef TSC_PERFEV_H
#define TSC_PERFEV_H

#include <stdint.h>

struct bpf_program;
struct bpf_link;

struct tsc_perfev {
	struct bpf_link **links;    /* one per CPU */
	int n;
};

/* Attach prog to a CPU-clock event of period_ns on each online CPU. who names the command
 * in messages ("taskscope top"). Returns 0, or -errno after a message on stderr (then
 * tsc_perfev_close still releases what was attached). */
int tsc_perfev_attach(struct tsc_perfev *p, struct bpf_program *prog, uint64_t period_ns,
		      const char *who);
void tsc_perfev_close(struct tsc_perfev *p); /* accepts a zeroed one */

#endif
