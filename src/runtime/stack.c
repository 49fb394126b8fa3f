/* SPDX-License-Identifier: MIT */
/* Task stacks: mmap'd with a PROT_NONE guard page below, pooled per loop, and a SIGSEGV
 * handler on an alternate stack that names the task whose stack overflowed. */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define TS_STACK_POOL_MAX 1024 /* enough to absorb a burst without an mmap per spawn */
/* PROT_NONE below each stack. Larger than a page so that a function with a big frame
 * (without -fstack-clash-protection) still lands in it instead of in a neighbour; it costs
 * address space only. */
#define TS_GUARD_SIZE (64 * 1024)

size_t ts__stack_size = 64 * 1024;
static size_t page_size;

static size_t page(void)
{
	if (!page_size)
		page_size = (size_t)sysconf(_SC_PAGESIZE);
	return page_size;
}

void ts_set_stack_size(size_t bytes)
{
	size_t p = page();
	if (bytes < 4 * p)
		bytes = 4 * p;
	__atomic_store_n(&ts__stack_size, (bytes + p - 1) & ~(p - 1), __ATOMIC_RELAXED);
}

struct ts_pooled_stack {
	void *base; /* the guard page; the stack follows it */
	size_t size;
};

int ts__stack_get(ts_loop *loop, ts_task *t)
{
	size_t size = __atomic_load_n(&ts__stack_size, __ATOMIC_RELAXED), p = TS_GUARD_SIZE;
	void *base = NULL;

	/* The pool is only touched by the loop's own thread; remote spawns allocate fresh. */
	if (loop == ts__tls_loop && loop->npool) {
		struct ts_pooled_stack *ps = &((struct ts_pooled_stack *)loop->stack_pool)[--loop->npool];
		if (ps->size == size)
			base = ps->base;
		else /* the stack size changed since it was pooled */
			munmap(ps->base, ps->size + p);
	}
	if (!base) {
		base = mmap(NULL, size + p, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
		if (base == MAP_FAILED)
			return -errno;
		if (mprotect(base, p, PROT_NONE)) {
			int err = -errno;
			munmap(base, size + p);
			return err;
		}
	}
	t->ctx.stack_lo = (char *)base + p;
	t->ctx.stack_size = size;
	t->stack_hi = (char *)base + p + size;
	return 0;
}

void ts__stack_put(ts_loop *loop, ts_task *t)
{
	if (!t->ctx.stack_lo)
		return;
	void *base = (char *)t->ctx.stack_lo - TS_GUARD_SIZE;
	t->ctx.stack_lo = NULL;
	if (loop->npool < TS_STACK_POOL_MAX) {
		if (!loop->stack_pool) {
			loop->stack_pool = malloc(TS_STACK_POOL_MAX * sizeof(struct ts_pooled_stack));
			if (!loop->stack_pool)
				goto unmap;
		}
		/* Kept mapped: reusing a stack costs no syscall. */
		((struct ts_pooled_stack *)loop->stack_pool)[loop->npool++] =
			(struct ts_pooled_stack){ base, t->ctx.stack_size };
		return;
	}
unmap:
	munmap(base, t->ctx.stack_size + TS_GUARD_SIZE);
}

void ts__stack_pool_free(ts_loop *loop)
{
	struct ts_pooled_stack *pool = loop->stack_pool;
	for (uint32_t i = 0; i < loop->npool; i++)
		munmap(pool[i].base, pool[i].size + TS_GUARD_SIZE);
	free(pool);
	loop->stack_pool = NULL;
	loop->npool = 0;
}

/* ---- stack overflow ---- */

static struct sigaction old_segv;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;

static void write_str(const char *s)
{
	(void)!write(STDERR_FILENO, s, strlen(s));
}

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
	ts_loop *loop = ts__tls_loop;
	ts_task *t = loop ? loop->current : NULL;
	char *addr = si->si_addr, *lo = t ? t->ctx.stack_lo : NULL;
	char *sp = (char *)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RSP];
	/* The fault is in the guard, or the stack pointer itself went below the stack (a frame
	 * bigger than the guard jumped over it). */
	if (lo && ((addr < lo && addr >= lo - TS_GUARD_SIZE) ||
		   (sp < lo && sp >= lo - (1 << 20)))) {
		char num[24], *p = num + sizeof(num);
		uint64_t id = t->id;
		*--p = 0;
		do
			*--p = (char)('0' + id % 10);
		while (id /= 10);
		write_str("taskscope: stack overflow in task '");
		write_str(t->name);
		write_str("' (id ");
		write_str(p);
		write_str("); raise it with ts_set_stack_size()\n");
		signal(SIGSEGV, SIG_DFL);
		return; /* the fault repeats with the default action: a core dump */
	}
	if (old_segv.sa_flags & SA_SIGINFO && old_segv.sa_sigaction) {
		old_segv.sa_sigaction(sig, si, uc);
	} else if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN &&
		   old_segv.sa_handler) {
		old_segv.sa_handler(sig);
	} else {
		signal(SIGSEGV, SIG_DFL);
	}
}

static void install_once(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
}

/* The handler must run on its own stack: the faulting one has none left. */
void ts__overflow_handler_install(ts_loop *loop)
{
	stack_t cur;
	pthread_once(&handler_once, install_once);
	if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE))
		return; /* the thread already has one (e.g. a sanitizer's) */
	size_t size = 64 * 1024;
	void *alt = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (alt == MAP_FAILED)
		return;
	stack_t ss = { .ss_sp = alt, .ss_size = size, .ss_flags = 0 };
	if (sigaltstack(&ss, NULL)) {
		munmap(alt, size);
		return;
	}
	loop->altstack = alt;
	loop->altstack_size = size;
}

void ts__overflow_handler_remove(ts_loop *loop)
{
	if (!loop->altstack)
		return;
	stack_t ss = { .ss_flags = SS_DISABLE };
	sigaltstack(&ss, NULL);
	munmap(loop->altstack, loop->altstack_size);
	loop->altstack = NULL;
}
