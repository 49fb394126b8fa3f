/* SPDX-License-Identifier: MIT */
/*
 * The taskscope probe ABI: USDT probes, provider "taskscope", usable by any task runtime.
 *
 * Each probe is a standard SystemTap SDT note (.note.stapsdt) with a semaphore, so bpftrace,
 * perf, BCC and libbpf all see it. We write the notes ourselves instead of using <sys/sdt.h>:
 * Debian's header hard-codes a 1-byte nop, while a uprobe on a 5-byte nop
 * (0f 1f 44 00 00) is turned into a call by the kernel, about twice as fast as an int3 trap.
 *
 * Red zone: the optimized uprobe writes a return address at [rsp-8]. Every probe site is the
 * first instruction of a naked hook function, entered by a call, so its red zone is empty by
 * construction, and the arguments sit in the ABI's argument registers, which is what the
 * argument specs say. Hooks are called only while the probe's semaphore is non-zero, so with
 * no tracer the cost is one load and a not-taken branch. (Any C compiler that supports GNU
 * inline asm and naked functions on x86-64 — gcc >= 8, clang — can use this header.)
 *
 * Probes (all arguments 64-bit unsigned; strings are NUL-terminated pointers):
 *   task_create  (id, parent_id, name, coro, loop_tid)  a task exists; parent 0 = none
 *   task_switch  (prev_id, next_id)       on this thread; 0 = the loop's scheduler itself
 *   task_finish  (id, outcome)            outcome: 4 done, 5 cancelled, 6 failed (enum ts_state)
 *   task_rename  (id, name)
 *   task_wait    (id, reason, object)     the task suspends; reason: enum ts_wait
 *   thread_start (loop_id, tid)           a loop starts running on this thread
 *   thread_stop  (loop_id, tid)
 *
 * Define TASKSCOPE_NO_PROBES to compile every probe out.
 */
#ifndef TASKSCOPE_PROBES_H
#define TASKSCOPE_PROBES_H

#include <stdint.h>

#if defined(TASKSCOPE_NO_PROBES)

#define TASKSCOPE_ENABLED(probe) 0
#define TASKSCOPE_TASK_CREATE(id, parent, name, coro, tid) do { } while (0)
#define TASKSCOPE_TASK_SWITCH(prev, next) do { } while (0)
#define TASKSCOPE_TASK_FINISH(id, outcome) do { } while (0)
#define TASKSCOPE_TASK_RENAME(id, name) do { } while (0)
#define TASKSCOPE_TASK_WAIT(id, reason, object) do { } while (0)
#define TASKSCOPE_THREAD_START(loop, tid) do { } while (0)
#define TASKSCOPE_THREAD_STOP(loop, tid) do { } while (0)

#elif defined(__x86_64__)

/* One semaphore per probe, shared by all sites in the binary: weak so that every translation
 * unit may define it and the linker keeps one; hidden so two runtimes in one process stay apart;
 * section .probes as <sys/sdt.h> does, which is where tools expect it. */
#define TASKSCOPE__SEMAPHORE(probe)                                                          \
	__attribute__((weak, visibility("hidden"), section(".probes"))) volatile uint16_t   \
		taskscope_##probe##_semaphore

/* The note, as <sys/sdt.h> lays it out: pc, .stapsdt.base, semaphore, provider, name, args. */
#define TASKSCOPE__NOTE(probe, args)                                                         \
	".pushsection .note.stapsdt,\"?\",\"note\"\n"                                        \
	".balign 4\n"                                                                        \
	".4byte 992f-991f, 994f-993f, 3\n"                                                   \
	"991: .asciz \"stapsdt\"\n"                                                          \
	"992: .balign 4\n"                                                                   \
	"993: .8byte 990b\n"                                                                 \
	".8byte _.stapsdt.base\n"                                                            \
	".8byte taskscope_" #probe "_semaphore\n"                                            \
	".asciz \"taskscope\"\n"                                                             \
	".asciz \"" #probe "\"\n"                                                            \
	".asciz \"" args "\"\n"                                                              \
	"994: .balign 4\n"                                                                   \
	".popsection\n"                                                                      \
	".ifndef _.stapsdt.base\n"                                                           \
	".pushsection .stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n"              \
	".weak _.stapsdt.base\n"                                                             \
	".hidden _.stapsdt.base\n"                                                           \
	"_.stapsdt.base: .space 1\n"                                                         \
	".size _.stapsdt.base, 1\n"                                                          \
	".popsection\n"                                                                      \
	".endif\n"

/* The hook: the nop5 probe site first, then return. naked: no prologue touches the stack. */
#define TASKSCOPE__HOOK(probe, args, ...)                                                    \
	TASKSCOPE__SEMAPHORE(probe);                                                         \
	__attribute__((naked, noinline, unused)) static void taskscope__hook_##probe(        \
		__VA_ARGS__)                                                                 \
	{                                                                                    \
		__asm__ __volatile__("990: .byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"             \
				     "ret\n" TASKSCOPE__NOTE(probe, args));                  \
	}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
TASKSCOPE__HOOK(task_create, "8@%rdi 8@%rsi 8@%rdx 8@%rcx 8@%r8", uint64_t id,
		uint64_t parent, const char *name, const char *coro, uint64_t tid)
TASKSCOPE__HOOK(task_switch, "8@%rdi 8@%rsi", uint64_t prev, uint64_t next)
TASKSCOPE__HOOK(task_finish, "8@%rdi 8@%rsi", uint64_t id, uint64_t outcome)
TASKSCOPE__HOOK(task_rename, "8@%rdi 8@%rsi", uint64_t id, const char *name)
TASKSCOPE__HOOK(task_wait, "8@%rdi 8@%rsi 8@%rdx", uint64_t id, uint64_t reason,
		uint64_t object)
TASKSCOPE__HOOK(thread_start, "8@%rdi 8@%rsi", uint64_t loop, uint64_t tid)
TASKSCOPE__HOOK(thread_stop, "8@%rdi 8@%rsi", uint64_t loop, uint64_t tid)
#pragma GCC diagnostic pop

#define TASKSCOPE_ENABLED(probe) __builtin_expect(taskscope_##probe##_semaphore != 0, 0)

/* The hook is called from inline asm, not as a C function: the hook clobbers nothing, and
 * telling the compiler so keeps the probe-free path's register allocation as it would be
 * without probes. The call first steps over the caller's 128-byte red zone, since a call
 * writes below rsp. */
#define TASKSCOPE__CALL(probe, ...)                                                          \
	__asm__ __volatile__("lea -128(%%rsp), %%rsp\n\t"                                   \
			     "call %P[fn]\n\t"                                              \
			     "lea 128(%%rsp), %%rsp"                                         \
			     : : [fn] "i"(taskscope__hook_##probe), __VA_ARGS__ : "memory")
#define TASKSCOPE__FIRE2(probe, a, b)                                                        \
	do {                                                                                 \
		if (TASKSCOPE_ENABLED(probe))                                                \
			TASKSCOPE__CALL(probe, "D"((uint64_t)(a)), "S"((uint64_t)(b)));      \
	} while (0)
#define TASKSCOPE__FIRE3(probe, a, b, c)                                                     \
	do {                                                                                 \
		if (TASKSCOPE_ENABLED(probe))                                                \
			TASKSCOPE__CALL(probe, "D"((uint64_t)(a)), "S"((uint64_t)(b)),       \
					"d"((uint64_t)(c)));                                 \
	} while (0)
#define TASKSCOPE__FIRE5(probe, a, b, c, d, e)                                               \
	do {                                                                                 \
		if (TASKSCOPE_ENABLED(probe)) {                                              \
			register uint64_t r8__ __asm__("r8") = (uint64_t)(e);                \
			TASKSCOPE__CALL(probe, "D"((uint64_t)(a)), "S"((uint64_t)(b)),       \
					"d"((uint64_t)(c)), "c"((uint64_t)(d)), "r"(r8__));  \
		}                                                                            \
	} while (0)

#define TASKSCOPE_TASK_CREATE(id, parent, name, coro, tid)                                  \
	TASKSCOPE__FIRE5(task_create, (id), (parent), (uintptr_t)(name), (uintptr_t)(coro), (tid))
#define TASKSCOPE_TASK_SWITCH(prev, next) TASKSCOPE__FIRE2(task_switch, (prev), (next))
#define TASKSCOPE_TASK_FINISH(id, outcome) TASKSCOPE__FIRE2(task_finish, (id), (outcome))
#define TASKSCOPE_TASK_RENAME(id, name) TASKSCOPE__FIRE2(task_rename, (id), (uintptr_t)(name))
#define TASKSCOPE_TASK_WAIT(id, reason, object)                                             \
	TASKSCOPE__FIRE3(task_wait, (id), (reason), (object))
#define TASKSCOPE_THREAD_START(loop, tid) TASKSCOPE__FIRE2(thread_start, (loop), (tid))
#define TASKSCOPE_THREAD_STOP(loop, tid) TASKSCOPE__FIRE2(thread_stop, (loop), (tid))

#else
#error "taskscope probes: only x86-64 is supported; define TASKSCOPE_NO_PROBES elsewhere"
#endif

#endif
