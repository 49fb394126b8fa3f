/* SPDX-License-Identifier: MIT */
/*
 * Task stacks, carved from slabs: large anonymous mappings holding many stacks, each with a
 * guard below it. Two layers:
 *
 *   the loop's pool   a LIFO of stacks that tasks of this loop gave back, used without a lock
 *                     (only the loop's thread touches it): spawn churn costs no system call;
 *   the depot         process-wide, under a mutex: the slabs, the stacks given back beyond the
 *                     pools' size, and what was never handed out yet.
 *
 * How memory goes back to the system when a burst of tasks ends: a slab none of whose stacks
 * is out any more is unmapped whole; stacks given back to a slab still in use are "dirty"
 * (their pages may be resident) until more than TS_DEPOT_DIRTY_MAX of them wait in the depot,
 * and then each run of adjacent dirty stacks is dropped with one MADV_DONTNEED (the guards
 * stay: madvise guards survive it, and mprotect guards hold no pages).
 */
#ifndef TS_STACK_H
#define TS_STACK_H

#include <stddef.h>
#include <stdint.h>

struct ts_slab;

/* One stack as handed to a task: usable [lo, hi), its guard right below lo. */
struct ts_stack {
	void *lo, *hi;
	struct ts_slab *slab;
};

/* A loop's own cache of stacks, of whatever sizes were given back. */
struct ts_stack_pool {
	struct ts_stack *items;
	uint32_t n, cap;
};

/* Size of every guard: larger than a page, so that a function with a big frame (built without
 * -fstack-clash-protection) lands in it rather than in the stack below, which in a slab is
 * another task's. It costs address space and page-table entries only. */
#define TS_GUARD_SIZE (64 * 1024)
#define TS_STACK_MIN ((size_t)16 << 10)
#define TS_STACK_MAX ((size_t)1 << 30)

/* A stack of at least `size` bytes (rounded up to pages; 0 = the default size) into *out.
 * pool may be NULL (a thread that is not the loop's): then straight from the depot.
 * Returns 0, or -ENOMEM (also when memory mappings ran out; then one line on stderr names
 * vm.max_map_count). */
int ts__stack_get(struct ts_stack_pool *pool, size_t size, struct ts_stack *out);
/* Give a stack back: to the pool when it has room, else to the depot. */
void ts__stack_put(struct ts_stack_pool *pool, struct ts_stack *s);
/* Give every pooled stack back to the depot and free the pool's array. */
void ts__stack_pool_drain(struct ts_stack_pool *pool);
/* How guards are made: "madvise" or "mprotect" (decided at the first stack), for tests. */
const char *ts__stack_guard_name(void);
/* size rounded as a stack's: pages, at least 16 KiB; 0 = the default (ts_set_stack_size). */
size_t ts__stack_round(size_t size);

/* The SIGSEGV handler that names the task whose stack overflowed, on a per-thread
 * alternate signal stack (the faulting stack has no room left). */
struct ts_loop;
void ts__overflow_handler_install(struct ts_loop *loop);
void ts__overflow_handler_remove(struct ts_loop *loop);

#endif
