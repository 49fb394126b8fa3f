/* SPDX-License-Identifier: MIT */
/* libparklib.so: a library that tests/progs/lib_victim loads with dlopen, so that one of its
 * tasks is parked inside a library the process chose at run time (a frame of this library on
 * the task's stack). It also carries what a reader of ELF files looks at: taskscope USDT notes
 * (never fired), function symbols, a build-id and DWARF with an inlined call. */
#include <stdint.h>
#include <taskscope/probes.h>

static volatile uint64_t sink;

static inline __attribute__((always_inline)) int through(int (*park)(void))
{
	return park();
}

__attribute__((noinline)) int parklib_park(int (*park)(void))
{
	int r = through(park); /* a frame here while the task is parked */
	sink += (uint64_t)r;
	return r;
}

/* Never called: it makes the probe hooks and their notes part of the library. */
__attribute__((noinline)) void parklib_probes(uint64_t id)
{
	TASKSCOPE_TASK_CREATE(id, 0, "x", "parklib_probes", 0);
	TASKSCOPE_TASK_SWITCH(0, id);
	TASKSCOPE_TASK_FINISH(id, 0);
	TASKSCOPE_TASK_RENAME(id, "y");
	TASKSCOPE_TASK_WAIT(id, 1, 0);
	TASKSCOPE_THREAD_START(0, id);
	TASKSCOPE_THREAD_STOP(0, id);
}
