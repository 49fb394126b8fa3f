/* SPDX-License-Identifier: MIT */
/*
 * Task stacks (layout and policy in stack.h): slabs of stacks, each stack with a guard below
 * it, per-loop pools over one process-wide depot, and the SIGSEGV handler that names the task
 * whose stack overflowed.
 *
 * Guards: MADV_GUARD_INSTALL (Linux 6.13) writes guard markers into the page tables, so a slab
 * stays one mapping whatever its number of stacks, and a million tasks fit under the default
 * vm.max_map_count. Where madvise refuses it (EINVAL: an older kernel, or a locked mapping), or
 * with TASKSCOPE_STACK_GUARD=mprotect in the environment (read once), each guard is an
 * mprotect(PROT_NONE) range instead: two mappings per stack, as before slabs.
 */
#include "internal.h"
#include "stack.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

/* Linux 6.13's guard markers (uapi asm-generic/mman-common.h); older headers lack them. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
/* uapi linux/pidfd.h (Linux 6.15): this process, for process_madvise without a pidfd */
#ifndef PIDFD_SELF_THREAD_GROUP
#define PIDFD_SELF_THREAD_GROUP -10001
#endif
#define TS_GUARD_BATCH 64       /* guards installed by one process_madvise */

#define TS_POOL_MAX 256         /* a loop's cache: spawn churn below it makes no system call */
#define TS_POOL_SCAN 8          /* pooled stacks looked at for one of the wanted size */
#define TS_SLAB_FIRST 16        /* stacks in a size's first slab, doubling up to TS_SLAB_MAX */
#define TS_SLAB_MAX 512
#define TS_SLAB_MAX_BYTES ((size_t)64 << 20)
#define TS_DEPOT_DIRTY_MAX 1024 /* free stacks left resident in the depot before a purge */
#define WORDS (TS_SLAB_MAX / 64)

size_t ts__stack_size = 64 * 1024;

enum guard_mode { GUARD_MADVISE = 1, GUARD_MPROTECT = 2 };

struct size_class;

/* Stack i of a slab: its guard at base + i * stride, then the stack. */
struct ts_slab {
	struct ts_slab *next, **pprev; /* in its class's avail or busy list */
	struct size_class *cls;
	char *base;
	size_t bytes;
	uint32_t nstacks;             /* how many the mapping holds */
	uint32_t ncarved;             /* [0, ncarved) were handed out at least once */
	uint32_t nout;                /* out now: in tasks or in loops' pools */
	uint32_t nfree;               /* carved and back in the depot */
	uint32_t ndirty;              /* of those, the ones whose pages may be resident */
	uint64_t free[WORDS], dirty[WORDS], guarded[WORDS];
};

struct size_class {
	struct size_class *next;
	size_t size, stride;
	struct ts_slab *avail;        /* slabs with stacks free in the depot */
	struct ts_slab *busy;         /* the others */
	struct ts_slab *carving;      /* the one slab that may have stacks never handed out */
	uint32_t next_nstacks;
};

static struct {
	pthread_mutex_t lock;
	struct size_class *classes;
	uint32_t ndirty;              /* dirty stacks over every slab */
} depot = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint32_t guard_mode;        /* enum guard_mode, 0 until the first stack */
static pthread_once_t mode_once = PTHREAD_ONCE_INIT;
static size_t page_size;

static void mode_init(void)
{
	const char *e = getenv("TASKSCOPE_STACK_GUARD");
	page_size = (size_t)sysconf(_SC_PAGESIZE);
	ts_store(&guard_mode, e && !strcmp(e, "mprotect") ? GUARD_MPROTECT : GUARD_MADVISE);
}

const char *ts__stack_guard_name(void)
{
	switch (ts_load(&guard_mode)) {
	case GUARD_MADVISE: return "madvise";
	case GUARD_MPROTECT: return "mprotect";
	default: return "none yet";
	}
}

static size_t round_pages(size_t bytes)
{
	pthread_once(&mode_once, mode_init);
	if (bytes < TS_STACK_MIN)
		bytes = TS_STACK_MIN;
	if (bytes > TS_STACK_MAX)
		bytes = TS_STACK_MAX;
	return (bytes + page_size - 1) & ~(page_size - 1);
}

void ts_set_stack_size(size_t bytes)
{
	__atomic_store_n(&ts__stack_size, round_pages(bytes), __ATOMIC_RELAXED);
}

size_t ts__stack_round(size_t size)
{
	if (!size)
		return __atomic_load_n(&ts__stack_size, __ATOMIC_RELAXED);
	return round_pages(size);
}

static void say_no_mapping(const char *call, int err)
{
	static int said;
	if (__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
		return;
	long max = -1;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
	if (f) {
		if (fscanf(f, "%ld", &max) != 1)
			max = -1;
		fclose(f);
	}
	fprintf(stderr,
		"taskscope: cannot map a task stack: %s: %s. Memory or the process's memory "
		"mappings ran out; mappings are capped by the sysctl vm.max_map_count (%ld here)%s\n",
		call, strerror(err), max,
		ts_load(&guard_mode) == GUARD_MPROTECT
			? ", and with mprotect guards each task stack takes 2 of them: raise it "
			  "(sysctl -w vm.max_map_count=N) or run fewer tasks"
			: "");
}

static int guard_install(char *guard)
{
	if (ts_load(&guard_mode) == GUARD_MADVISE) {
		if (!madvise(guard, TS_GUARD_SIZE, MADV_GUARD_INSTALL))
			return 0;
		if (errno != EINVAL)
			return -errno;
		ts_store(&guard_mode, GUARD_MPROTECT); /* no guard markers here: before 6.13 */
	}
	if (!mprotect(guard, TS_GUARD_SIZE, PROT_NONE))
		return 0;
	int err = errno;
	if (err == ENOMEM)
		say_no_mapping("mprotect", err);
	return -err;
}

/* ---- the depot; everything below runs under depot.lock ---- */

static bool bit(const uint64_t *m, uint32_t i) { return m[i / 64] >> (i % 64) & 1; }
static void bit_set(uint64_t *m, uint32_t i) { m[i / 64] |= 1ull << (i % 64); }
static void bit_clear(uint64_t *m, uint32_t i) { m[i / 64] &= ~(1ull << (i % 64)); }

static int first_bit(const uint64_t *m, uint32_t n)
{
	for (uint32_t w = 0; w < (n + 63) / 64; w++)
		if (m[w])
			return (int)(w * 64 + (uint32_t)__builtin_ctzll(m[w]));
	return -1;
}

static void slab_unlink(struct ts_slab *s)
{
	*s->pprev = s->next;
	if (s->next)
		s->next->pprev = s->pprev;
}

static void slab_push(struct ts_slab **head, struct ts_slab *s)
{
	s->next = *head;
	if (s->next)
		s->next->pprev = &s->next;
	*head = s;
	s->pprev = head;
}

static struct size_class *class_get(size_t size)
{
	struct size_class *c;
	for (c = depot.classes; c; c = c->next)
		if (c->size == size)
			return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->size = size;
	c->stride = size + TS_GUARD_SIZE;
	c->next_nstacks = TS_SLAB_FIRST;
	c->next = depot.classes;
	depot.classes = c;
	return c;
}

static struct ts_slab *slab_new(struct size_class *c)
{
	size_t fit = TS_SLAB_MAX_BYTES / c->stride;
	uint32_t n = c->next_nstacks;
	if (n > fit)
		n = fit ? (uint32_t)fit : 1;
	struct ts_slab *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->bytes = n * c->stride;
	/* MAP_NORESERVE: only the pages a stack touches count; MAP_STACK and no huge pages, or a
	 * stack's first touch could make 2 MiB resident. */
	s->base = mmap(NULL, s->bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (s->base == MAP_FAILED) {
		int err = errno;
		if (err == ENOMEM)
			say_no_mapping("mmap", err);
		free(s);
		errno = err;
		return NULL;
	}
	madvise(s->base, s->bytes, MADV_NOHUGEPAGE);
	s->cls = c;
	s->nstacks = n;
	if (c->next_nstacks < TS_SLAB_MAX)
		c->next_nstacks *= 2;
	slab_push(&c->busy, s);
	return s;
}

static void slab_unmap(struct ts_slab *s)
{
	slab_unlink(s);
	if (s->cls->carving == s)
		s->cls->carving = NULL;
	depot.ndirty -= s->ndirty;
	munmap(s->base, s->bytes);
	free(s);
}

static void stack_of(struct ts_slab *s, uint32_t i, struct ts_stack *out)
{
	out->lo = s->base + (size_t)i * s->cls->stride + TS_GUARD_SIZE;
	out->hi = (char *)out->lo + s->cls->size;
	out->slab = s;
}

static int batch_broken; /* process_madvise cannot do it here: one madvise per guard */

/* Guard the stacks from i on that were never handed out, up to TS_GUARD_BATCH of them, in one
 * system call: a system call costs about as much as a guard itself. */
static void guard_ahead(struct ts_slab *s, uint32_t i)
{
	struct iovec iov[TS_GUARD_BATCH];
	uint32_t n = 0;
	if (batch_broken || ts_load(&guard_mode) != GUARD_MADVISE)
		return;
	for (; n < TS_GUARD_BATCH && i + n < s->nstacks; n++) {
		iov[n].iov_base = s->base + (size_t)(i + n) * s->cls->stride;
		iov[n].iov_len = TS_GUARD_SIZE;
	}
	long r = syscall(SYS_process_madvise, PIDFD_SELF_THREAD_GROUP, iov, (size_t)n,
			 MADV_GUARD_INSTALL, 0u);
	if (r < 0) {
		batch_broken = 1; /* before Linux 6.15, or a seccomp filter */
		return;
	}
	for (uint32_t k = 0; k < (uint32_t)(r / TS_GUARD_SIZE); k++)
		bit_set(s->guarded, i + k);
}

/* Drop the pages of every dirty stack in the depot: one madvise per run of neighbours. */
static void purge(void)
{
	for (struct size_class *c = depot.classes; c; c = c->next) {
		for (struct ts_slab *s = c->avail; s; s = s->next) {
			for (uint32_t i = 0; s->ndirty && i < s->ncarved; i++) {
				if (!bit(s->dirty, i))
					continue;
				uint32_t j = i;
				while (j + 1 < s->ncarved && bit(s->dirty, j + 1))
					j++;
				struct ts_stack a, b;
				stack_of(s, i, &a);
				stack_of(s, j, &b);
				madvise(a.lo, (size_t)((char *)b.hi - (char *)a.lo), MADV_DONTNEED);
				for (uint32_t k = i; k <= j; k++)
					bit_clear(s->dirty, k);
				s->ndirty -= j - i + 1;
				i = j;
			}
		}
	}
	depot.ndirty = 0;
}

static void depot_put_locked(struct ts_stack *st, bool dirty)
{
	struct ts_slab *s = st->slab;
	uint32_t i = (uint32_t)(((char *)st->lo - TS_GUARD_SIZE - s->base) / s->cls->stride);
	bit_set(s->free, i);
	s->nout--;
	if (++s->nfree == 1) {
		slab_unlink(s);
		slab_push(&s->cls->avail, s);
	}
	if (dirty) {
		bit_set(s->dirty, i);
		s->ndirty++;
		depot.ndirty++;
	}
	if (!s->nout)
		slab_unmap(s); /* wholly free: back to the system at once */
	else if (depot.ndirty > TS_DEPOT_DIRTY_MAX)
		purge();
}

static __attribute__((noinline)) int depot_get(size_t size, struct ts_stack *out)
{
	struct ts_slab *s;
	int i, err = 0;
	pthread_once(&mode_once, mode_init);
	pthread_mutex_lock(&depot.lock);
	struct size_class *c = class_get(size);
	if (!c) {
		err = -ENOMEM;
		goto cleanup;
	}
	if ((s = c->avail)) {
		/* a dirty one first: its pages are likely still there, no fault */
		if ((i = first_bit(s->dirty, s->ncarved)) >= 0) {
			bit_clear(s->dirty, (uint32_t)i);
			s->ndirty--;
			depot.ndirty--;
		} else {
			i = first_bit(s->free, s->ncarved);
		}
		bit_clear(s->free, (uint32_t)i);
		if (!--s->nfree) {
			slab_unlink(s);
			slab_push(&c->busy, s);
		}
	} else {
		s = c->carving;
		if (!s || s->ncarved == s->nstacks) {
			if (!(s = c->carving = slab_new(c))) {
				err = -ENOMEM;
				goto cleanup;
			}
		}
		i = (int)s->ncarved++;
		if (!bit(s->guarded, (uint32_t)i))
			guard_ahead(s, (uint32_t)i);
	}
	s->nout++;
	stack_of(s, (uint32_t)i, out);
	bool guarded = bit(s->guarded, (uint32_t)i);
	bit_set(s->guarded, (uint32_t)i); /* the stack is ours alone until we give it back */
	pthread_mutex_unlock(&depot.lock);

	if (!guarded && (err = guard_install((char *)out->lo - TS_GUARD_SIZE))) {
		pthread_mutex_lock(&depot.lock);
		bit_clear(s->guarded, (uint32_t)i);
		depot_put_locked(out, false);
		pthread_mutex_unlock(&depot.lock);
		out->lo = NULL;
		return err == -EINVAL ? -ENOMEM : err;
	}
	return 0;
cleanup:
	pthread_mutex_unlock(&depot.lock);
	return err;
}

/* ---- the loop's pool ---- */

int ts__stack_get(struct ts_stack_pool *pool, size_t size, struct ts_stack *out)
{
	size = ts__stack_round(size);
	if (pool && pool->n) {
		uint32_t n = pool->n, last = n > TS_POOL_SCAN ? n - TS_POOL_SCAN : 0;
		for (uint32_t i = n; i-- > last;) {
			struct ts_stack *s = &pool->items[i];
			if ((size_t)((char *)s->hi - (char *)s->lo) == size) {
				*out = *s;
				*s = pool->items[--pool->n];
				return 0;
			}
		}
	}
	return depot_get(size, out);
}

void ts__stack_put(struct ts_stack_pool *pool, struct ts_stack *s)
{
	if (!s->lo)
		return;
	if (pool && pool->n < TS_POOL_MAX) {
		if (!pool->items)
			pool->items = malloc(TS_POOL_MAX * sizeof(*pool->items));
		if (pool->items) {
			pool->items[pool->n++] = *s; /* kept as it is: reuse costs no system call */
			s->lo = NULL;
			return;
		}
	}
	pthread_mutex_lock(&depot.lock);
	depot_put_locked(s, true);
	pthread_mutex_unlock(&depot.lock);
	s->lo = NULL;
}

void ts__stack_pool_drain(struct ts_stack_pool *pool)
{
	pthread_mutex_lock(&depot.lock);
	for (uint32_t i = 0; i < pool->n; i++)
		depot_put_locked(&pool->items[i], true);
	pthread_mutex_unlock(&depot.lock);
	free(pool->items);
	pool->items = NULL;
	pool->n = 0;
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
	char *addr = si->si_addr, *lo = t ? t->ctx.stack.lo : NULL;
	char *sp = (char *)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RSP];
	/* The fault is in the task's guard (a guard marker or a PROT_NONE page: SIGSEGV at the
	 * address either way), or the stack pointer itself went below the stack (a frame bigger
	 * than the guard jumped over it). */
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
		write_str("); raise it with ts_set_stack_size() or ts_spawn_opts()\n");
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
