/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the core file reader (src/cli/target/memsrc_core.c) on any bytes: its
 * headers, segments and notes (NT_PRSTATUS, NT_SIGINFO, NT_PRPSINFO, NT_AUXV, NT_FILE), then
 * what a reading of it does: the mappings, reads across and between segments, the build-ids
 * of the ELF headers it dumped, the files it names (opened only when they are regular files
 * whose build-id matches). The input is the core. Built by `make fuzz` with ASan and UBSan;
 * run by tests/fuzz/run, seeded with small cores from tests/fuzz/seeds/core_seed.py. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target/memsrc.c"
#include "target/memsrc_core.c"
#include "target/elfx.c"
#include "target/maps.c"
#include "target/tfile.c"
#include "memfd.h"

#define MAX_READS 64

static void reads(struct tsc_memsrc *m, const struct tsc_maps *maps)
{
	const struct core *c = m->ctx;
	struct tsc_mem_req q[MAX_READS];
	unsigned char buf[MAX_READS][64];
	size_t n = 0;
	/* each segment's edges, and across into the next */
	for (size_t i = 0; i < c->nsegs && n + 3 <= MAX_READS; i++) {
		uint64_t a = c->segs[i].vaddr, e = a + c->segs[i].memsz;
		q[n] = (struct tsc_mem_req){ a, buf[n], 64 }, n++;
		q[n] = (struct tsc_mem_req){ e - 8, buf[n], 16 }, n++;
		q[n] = (struct tsc_mem_req){ e > 64 ? e - 64 : 0, buf[n], 64 }, n++;
	}
	for (size_t i = 0; i < maps->n && n + 1 <= MAX_READS; i++)
		q[n] = (struct tsc_mem_req){ maps->vma[i].start, buf[n], 64 }, n++;
	if (tsc_mem_read(m, q, n))
		abort(); /* a core never "goes away" */
	(void)tsc_mem_read_many(m, q, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[256], here[4200];
	int fd = fuzz_memfd(data, size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct tsc_memsrc *m;
	if (!tsc_memsrc_core_new(path, NULL, &m, err, sizeof(err))) {
		const struct tsc_core_info *ci = tsc_memsrc_core_info(m);
		if (!ci || !ci->nthreads || ci->nthreads > TSC_CORE_MAX_THREADS)
			abort();
		struct tsc_maps maps;
		if (!tsc_mem_maps(m, &maps)) {
			reads(m, &maps);
			for (size_t i = 0; i < maps.n && i < 8; i++) {
				int f = tsc_mem_open_file(m, &maps.vma[i], here, sizeof(here));
				if (f >= 0)
					close(f);
			}
			tsc_maps_free(&maps);
		}
		struct tsc_tidmap t;
		if (!tsc_mem_threads(m, &t)) {
			if (t.n != ci->nthreads)
				abort();
			free(t.e);
		}
		tsc_memsrc_free(m);
	} else if (!memchr(err, 0, sizeof(err))) {
		abort();
	}
	close(fd);
	return 0;
}
