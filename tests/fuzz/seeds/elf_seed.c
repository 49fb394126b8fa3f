/* SPDX-License-Identifier: MIT */
/* A small shared object with what the ELF fuzz target reads: taskscope USDT notes and their
 * semaphores, function symbols, a build-id, and DWARF with an inlined call and a lexical
 * block. tests/fuzz/run builds seeds from it in a few variants (stripped, debug only,
 * compressed DWARF, DWARF 4). */
#include <stdint.h>
#include <taskscope/probes.h>

static inline __attribute__((always_inline)) uint64_t twice(uint64_t x)
{
	return 2 * x;
}

uint64_t seed_work(uint64_t id, const char *name)
{
	uint64_t r = twice(id);
	TASKSCOPE_TASK_CREATE(id, 0, name, "seed_work", 1);
	TASKSCOPE_TASK_SWITCH(0, id);
	TASKSCOPE_TASK_FINISH(id, 0);
	TASKSCOPE_TASK_RENAME(id, name);
	TASKSCOPE_TASK_WAIT(id, 1, r);
	{
		volatile uint64_t in_block = r + 1;
		r += in_block;
	}
	TASKSCOPE_THREAD_START(0, id);
	TASKSCOPE_THREAD_STOP(0, id);
	return r;
}
