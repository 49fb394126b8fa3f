/* SPDX-License-Identifier: MIT */
/*
 * The taskscope probe ABI: USDT probes, provider "taskscope", usable by any task runtime.
 *
 * Each probe is a standard SystemTap SDT note (.note.stapsdt) with a semaphore, so bpftrace,
 * perf, BCC and libbpf all see it. We write the notes ourselves instead of using <sys/sdt.h>:
 * Debian's header hard-codes a 1-byte nop, while a uprobe on a 5-byte nop
 * (0f 1f 44 00 00) is turned into a call by the kernel, about twice as fast as an int3 trap.
 *
 * Red zone: the optimized uprobe writes a return address at [rsp-8]. Every probe site is in
 * a naked hook function, entered by a call, after only the fork guard (below), which leaves
 * rsp and every register as it found them: its red zone is empty by construction, and the
 * arguments sit in the ABI's argument registers, which is what the argument specs say. Hooks
 * are called only while the probe's semaphore is non-zero, so with no tracer the cost is one
 * load and a not-taken branch. (Any C compiler that supports GNU inline asm and naked
 * functions on x86-64 — gcc >= 8, clang — can use this header.)
 *
 * Probes (all arguments 64-bit unsigned; strings are NUL-terminated pointers):
 *   task_create  (id, parent_id, name, coro, loop_tid)  a task exists; parent 0 = none
 *   task_switch  (prev_id, next_id)       on this thread; 0 = the loop's scheduler itself
 *   task_finish  (id, outcome)            outcome: 4 done, 5 cancelled, 6 failed (enum ts_state)
 *   task_rename  (id, name)
 *   task_wait    (id, reason, object)     the task suspends; reason: enum ts_wait
 *   thread_start (loop_id, tid)           a loop starts running on this thread
 *   thread_stop  (loop_id, tid)
 *   rings        ()                    never fired: its semaphore switches the event rings on
 *                                      (docs/rings.md; TASKSCOPE_RINGS_SITE below)
 *
 * Forked children. On this kernel a uprobe on a nop5 is patched into a call to a
 * [uprobes-trampoline] mapping of the traced process. A child made by fork() inherits the
 * patched text and the semaphores but not that mapping, and the kernel never repairs the
 * child's copy: its first probe hit would jump to unmapped memory, even after the tracer is
 * gone. So this header makes every executable or shared object that fires these probes reset
 * them in its children, with nothing for the runtime to do:
 *   - every site is listed, with its semaphore, in the section taskscope_sites;
 *   - a fork handler (pthread_atfork, registered by a constructor) sets every semaphore of the
 *     child to 0, then writes the nop5 back over every site that holds anything else (through
 *     /proc/self/mem, else mprotect). The child starts untraced, like a new process: a tracer
 *     attached to the parent does not follow it (the kernel's unregister then finds the nop5
 *     and leaves the child alone), and a tracer that attaches to the child later works;
 *   - a child made without fork()'s handlers (raw clone(), _Fork(), a fork system call) is
 *     told apart by a byte in a page the kernel zeroes in every child (MADV_WIPEONFORK),
 *     which every hook tests before its site: its probes fire nothing until
 *     TASKSCOPE_AFTER_FORK() resets them (the taskscope runtime calls it whenever it creates
 *     a loop). A runtime that reads a semaphore itself, not through a hook, tests
 *     TASKSCOPE_LIVE() too. A vfork() or posix_spawn() child shares the parent's memory,
 *     trampoline included: nothing to do.
 * The detached path is unchanged: the guard is tested in the hook. Every probe made with
 * TASKSCOPE__HOOK is covered, later ones included. Costs, as tools/bench/run measures them:
 * nothing per detached event, nothing measurable per hit; per fork, the handler's reads and
 * the guard page the child allocates (a few microseconds), and when the parent was traced,
 * the writes (tens of microseconds).
 *
 * Define TASKSCOPE_NO_PROBES to compile every probe out.
 */
#ifndef TASKSCOPE_PROBES_H
#define TASKSCOPE_PROBES_H

#include <stdint.h>

#if defined(TASKSCOPE_NO_PROBES)

#define TASKSCOPE_ENABLED(probe) 0
#define TASKSCOPE_HOT() 0
#define TASKSCOPE_RINGS_SITE()
#define TASKSCOPE_RINGS_ON() 0
#define TASKSCOPE_RINGS_ALWAYS(on) ((void)(on))
#define TASKSCOPE_AFTER_FORK() do { } while (0)
#define TASKSCOPE_LIVE() 0
#define TASKSCOPE_TASK_CREATE(id, parent, name, coro, tid) do { } while (0)
#define TASKSCOPE_TASK_SWITCH(prev, next) do { } while (0)
#define TASKSCOPE_TASK_FINISH(id, outcome) do { } while (0)
#define TASKSCOPE_TASK_RENAME(id, name) do { } while (0)
#define TASKSCOPE_TASK_WAIT(id, reason, object) do { } while (0)
#define TASKSCOPE_THREAD_START(loop, tid) do { } while (0)
#define TASKSCOPE_THREAD_STOP(loop, tid) do { } while (0)

#elif defined(__x86_64__)

#include <pthread.h>

/* The semaphores, all in one object: weak so that every translation unit may define it and
 * the linker keeps one; hidden so two runtimes in one process stay apart; section .probes as
 * <sys/sdt.h> does, which is where tools expect them. The first 8 bytes are the hot word:
 * the two probes a context switch fires (task_switch, task_wait), the rings probe's semaphore
 * and the runtime's own "rings always on" flag (the flight recorder), so that a switch tests
 * all four with one 64-bit load (TASKSCOPE_HOT). The kernel adds to one 16-bit semaphore at a
 * time and never touches its neighbours. */
struct taskscope__semaphores {
	volatile uint16_t task_switch, task_wait, rings, always; /* the hot word */
	volatile uint16_t task_create, task_finish, task_rename, thread_start, thread_stop;
};
__attribute__((weak, visibility("hidden"), section(".probes"), aligned(8)))
struct taskscope__semaphores taskscope__sems;
/* Each probe's semaphore as an offset in that object, for the notes (text, for the asm). */
#define TASKSCOPE__SEM_task_switch "0"
#define TASKSCOPE__SEM_task_wait "2"
#define TASKSCOPE__SEM_rings "4"
#define TASKSCOPE__SEM_task_create "8"
#define TASKSCOPE__SEM_task_finish "10"
#define TASKSCOPE__SEM_task_rename "12"
#define TASKSCOPE__SEM_thread_start "14"
#define TASKSCOPE__SEM_thread_stop "16"
#define TASKSCOPE__SEM(probe) "taskscope__sems+" TASKSCOPE__SEM_##probe

/* The note, as <sys/sdt.h> lays it out: pc, .stapsdt.base, semaphore, provider, name, args. */
#define TASKSCOPE__NOTE(probe, args)                                                         \
	".pushsection .note.stapsdt,\"?\",\"note\"\n"                                        \
	".balign 4\n"                                                                        \
	".4byte 992f-991f, 994f-993f, 3\n"                                                   \
	"991: .asciz \"stapsdt\"\n"                                                          \
	"992: .balign 4\n"                                                                   \
	"993: .8byte 990b\n"                                                                 \
	".8byte _.stapsdt.base\n"                                                            \
	".8byte " TASKSCOPE__SEM(probe) "\n"                                               \
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

/* The fork guard: 1 in this process; 0 in a child that does not share our memory, until its
 * probes are reset (2 while they are). It points at a constant 1 until the constructor has
 * mapped the page, and for good if it cannot. Weak, hidden: one per executable or .so. */
__attribute__((weak, visibility("hidden"))) const uint8_t taskscope__one = 1;
__attribute__((weak, visibility("hidden"), used)) const volatile uint8_t *taskscope__guard =
	&taskscope__one;

/* The site and its semaphore, for the fork handler: offsets from the entry, so that nothing
 * needs relocating at load. The linker brackets the section in each executable or .so. */
#define TASKSCOPE__SITE(probe)                                                               \
	".pushsection taskscope_sites,\"a\"\n"                                                \
	".balign 4\n"                                                                        \
	"995: .4byte 990b - 995b, " TASKSCOPE__SEM(probe) " - 995b\n"                        \
	".popsection\n"

/* The hook: the fork guard, the nop5 probe site, return. naked: no prologue touches the
 * stack, and rax is back when the site runs, so the site sees exactly its caller's state with
 * nothing live below rsp. Aligned to 8, the site never crosses a page (the kernel optimizes
 * only a nop5 within one page). The guard is tested here rather than in the caller so that
 * the caller's code, the detached path included, stays what it was without it. */
#define TASKSCOPE__HOOK(probe, args, ...)                                                    \
	__attribute__((naked, noinline, unused)) static void taskscope__hook_##probe(        \
		__VA_ARGS__)                                                                 \
	{                                                                                    \
		__asm__ __volatile__("push %rax\n"                                           \
				     "mov taskscope__guard(%rip), %rax\n"                    \
				     "cmpb $1, (%rax)\n"                                     \
				     "pop %rax\n"                                            \
				     "jne 996f\n"                                            \
				     ".balign 8\n"                                           \
				     "990: .byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"             \
				     "996: ret\n" TASKSCOPE__NOTE(probe, args)               \
					     TASKSCOPE__SITE(probe));                        \
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

/* ---- fork safety (see the top of this file) ---- */

struct taskscope__site {
	int32_t site, semaphore; /* from the entry's own address */
};
/* Weak: an object whose translation units fire no probe has no such section. */
extern const struct taskscope__site __start_taskscope_sites[]
	__attribute__((weak, visibility("hidden")));
extern const struct taskscope__site __stop_taskscope_sites[]
	__attribute__((weak, visibility("hidden")));

void taskscope__reset(void);
void taskscope__init(void);
void taskscope__fork_child(void);
void taskscope__after_fork(void);

/* Raw system calls: no errno to clobber in the code we run in, nothing for libc to lock in a
 * child of a multi-threaded process. x86-64 numbers and flags, which never change. */
enum {
	TASKSCOPE__SYS_PWRITE64 = 18, TASKSCOPE__SYS_MMAP = 9, TASKSCOPE__SYS_MPROTECT = 10,
	TASKSCOPE__SYS_MUNMAP = 11, TASKSCOPE__SYS_CLOSE = 3, TASKSCOPE__SYS_MADVISE = 28,
	TASKSCOPE__SYS_OPENAT = 257, TASKSCOPE__AT_FDCWD = -100, TASKSCOPE__O_RDWR_CLOEXEC = 02000002,
	TASKSCOPE__PROT_RW = 3, TASKSCOPE__PROT_RX = 5, TASKSCOPE__PROT_RWX = 7,
	TASKSCOPE__MAP_PRIVATE_ANON = 0x22, TASKSCOPE__MADV_WIPEONFORK = 18,
};
__attribute__((unused)) static inline long taskscope__sys(long nr, long a, long b, long c,
							     long d, long e, long f)
{
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
	long ret;
	__asm__ __volatile__("syscall"
			     : "=a"(ret)
			     : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			     : "rcx", "r11", "memory");
	return ret;
}

/* Every semaphore to 0 first, then every site back to the nop5: a tracer unregistering at
 * the same moment can refuse to lower a semaphore we zeroed and leave its int3, which the
 * second loop then removes. A semaphore is written only if set, a site only if patched:
 * a child of an untraced process copies no page. */
__attribute__((weak, visibility("hidden"))) void taskscope__reset(void)
{
	static const uint8_t nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	const struct taskscope__site *s;
	long fd = -1;
	int tried = 0;

	for (s = __start_taskscope_sites; s < __stop_taskscope_sites; s++) {
		volatile uint16_t *sem = (volatile uint16_t *)((uintptr_t)s + s->semaphore);
		if (*sem)
			*sem = 0;
	}
	for (s = __start_taskscope_sites; s < __stop_taskscope_sites; s++) {
		volatile uint8_t *site = (volatile uint8_t *)((uintptr_t)s + s->site);
		int i;
		for (i = 0; i < 5 && site[i] == nop5[i]; i++)
			;
		if (i == 5)
			continue;
		/* /proc/self/mem writes through the page protections: this code may share a page
		 * with a site, so making it writable and not executable is no option. */
		if (!tried) {
			fd = taskscope__sys(TASKSCOPE__SYS_OPENAT, TASKSCOPE__AT_FDCWD,
					    (long)"/proc/self/mem", TASKSCOPE__O_RDWR_CLOEXEC, 0, 0, 0);
			tried = 1;
		}
		if (fd >= 0 && taskscope__sys(TASKSCOPE__SYS_PWRITE64, fd, (long)nop5, 5,
					      (long)site, 0, 0) == 5)
			continue;
		uintptr_t page = (uintptr_t)site & ~(uintptr_t)4095;
		long len = (long)((uintptr_t)site + 5 - page);
		if (taskscope__sys(TASKSCOPE__SYS_MPROTECT, (long)page, len, TASKSCOPE__PROT_RWX, 0,
				   0, 0))
			continue; /* the semaphores at 0 keep the child away from it */
		for (i = 0; i < 5; i++)
			site[i] = nop5[i];
		taskscope__sys(TASKSCOPE__SYS_MPROTECT, (long)page, len, TASKSCOPE__PROT_RX, 0, 0, 0);
	}
	if (fd >= 0)
		taskscope__sys(TASKSCOPE__SYS_CLOSE, fd, 0, 0, 0, 0, 0);
}

/* pthread_atfork's child handler: the child is single-threaded here. */
__attribute__((weak, visibility("hidden"))) void taskscope__fork_child(void)
{
	taskscope__reset();
	if (taskscope__guard != &taskscope__one)
		*(volatile uint8_t *)(uintptr_t)taskscope__guard = 1;
}

/* For children made without fork()'s handlers; any thread, any time, cheap when not one. */
__attribute__((weak, visibility("hidden"))) void taskscope__after_fork(void)
{
	uint8_t *g = (uint8_t *)(uintptr_t)taskscope__guard, zero = 0;
	if (g == &taskscope__one || *g != 0 ||
	    !__atomic_compare_exchange_n(g, &zero, 2, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	taskscope__reset();
	__atomic_store_n(g, 1, __ATOMIC_RELEASE);
}

/* In every translation unit that includes this header, all resolving to one function per
 * executable or .so: hence the flag. Nothing to do where no probe is fired. The guard page
 * stays for the life of the process. */
__attribute__((weak, visibility("hidden"), constructor)) void taskscope__init(void)
{
	static int done;
	if (done || (uintptr_t)__start_taskscope_sites == (uintptr_t)__stop_taskscope_sites)
		return;
	done = 1;
	long p = taskscope__sys(TASKSCOPE__SYS_MMAP, 0, 4096, TASKSCOPE__PROT_RW,
				TASKSCOPE__MAP_PRIVATE_ANON, -1, 0);
	if ((unsigned long)p < -4096ul) {
		if (taskscope__sys(TASKSCOPE__SYS_MADVISE, p, 4096, TASKSCOPE__MADV_WIPEONFORK, 0, 0,
				   0) == 0) {
			*(volatile uint8_t *)p = 1;
			taskscope__guard = (const volatile uint8_t *)p;
		} else {
			taskscope__sys(TASKSCOPE__SYS_MUNMAP, p, 4096, 0, 0, 0, 0);
		}
	}
	pthread_atfork(NULL, NULL, taskscope__fork_child);
}

/* A child made by raw clone(), _Fork() or a fork system call fires no probe until this has
 * run in it (once, from any thread); then tracers that attach to it work. */
#define TASKSCOPE_AFTER_FORK() taskscope__after_fork()

/* False in a child that no reset has run in yet: for a runtime that acts on a semaphore
 * itself rather than through a hook (the hooks test it on their own). */
#define TASKSCOPE_LIVE() (*taskscope__guard == 1)

#define TASKSCOPE_ENABLED(probe) __builtin_expect(taskscope__sems.probe != 0, 0)

/* The hot word at once: non-zero when task_switch or task_wait is traced, or the rings are on
 * (traced, or always on). A compare with memory and a not-taken branch per switch while
 * nothing is: two instructions. The load is a plain one (a volatile one costs a third
 * instruction), so the compiler may keep its value across code that calls nothing it cannot
 * see; test it on a path that goes on to call out anyway, as a context switch does. */
typedef uint64_t __attribute__((may_alias)) taskscope__u64_alias;
#define TASKSCOPE_HOT()                                                                      \
	__builtin_expect(*(const taskscope__u64_alias *)&taskscope__sems != 0, 0)

/* ---- the event rings (docs/rings.md) ---- */

/* The rings probe: one site, which nothing ever calls, and a semaphore. A tracer attaches a
 * uprobe to it only for the kernel to raise the semaphore, and the kernel lowers it when the
 * tracer lets go, even by dying: the runtime writes its rings while it is non-zero (or while
 * it keeps them on itself, TASKSCOPE_RINGS_ALWAYS). A runtime that offers rings expands this
 * once, in one translation unit. */
#define TASKSCOPE_RINGS_SITE()                                                               \
	__attribute__((naked, noinline, used)) void taskscope__hook_rings(void)              \
	{                                                                                    \
		__asm__ __volatile__("ret\n" /* a call never reaches the site */              \
				     ".balign 8\n"                                           \
				     "990: .byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"             \
				     "ret\n" TASKSCOPE__NOTE(rings, "")                      \
					     TASKSCOPE__SITE(rings));                        \
	}

/* Write the rings now? Traced (and not a forked child that nobody traces: the guard), or
 * kept on by the runtime. */
#define TASKSCOPE_RINGS_ON() (taskscope__sems.always || (taskscope__sems.rings && TASKSCOPE_LIVE()))
/* Keep the rings on without a tracer (the flight recorder), or not. Survives fork. */
#define TASKSCOPE_RINGS_ALWAYS(on) (taskscope__sems.always = (on) ? 1 : 0)

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
