// SPDX-License-Identifier: MIT
/* Frame-pointer unwinding of suspended tasks, from outside the process.
 *
 * A suspended task's ctx_sp points at the frame ts__ctx_switch pushed (src/runtime/ctx.h): the
 * descriptor gives the offsets of its saved rbp and return address. From there the walk follows
 * the x86-64 frame records, [rbp] = caller's rbp and [rbp + 8] = return address, until the
 * record whose saved rbp is 0: the runtime starts every task with rbp = 0. Every step is checked
 * (inside the task's stack, above the previous one, aligned) and bounded (frames, bytes), so
 * garbage ends the walk, never loops it. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <taskscope/taskscope.h>

#include "unwind.h"

#define TRIES 4
#define FIRST_READ 2048 /* a parked task's frames usually fit: one read */

struct tsc_unwinder {
	int pid;
	struct tsc_unwind_layout l;
	size_t task_len;   /* bytes of the task struct we read */
	uint8_t *task;
	uint8_t *buf;      /* the stack bytes [base, base + len) */
	size_t cap, len;
	uint64_t base;
};

/* The task fields one try depends on. */
struct task_view {
	uint64_t magic, id, switches, sp, lo, hi;
	uint32_t state;
};

void tsc_unwind_layout_from_desc(const struct ts_debug_desc *d, struct tsc_unwind_layout *l)
{
	*l = (struct tsc_unwind_layout){
		.task_size = d->task_size,
		.task_magic = d->task_magic,
		.task_id = d->task_id,
		.task_state = d->task_state,
		.task_switches = d->task_switches,
		.task_ctx_sp = d->task_ctx_sp,
		.task_stack_lo = d->task_stack_lo,
		.task_stack_hi = d->task_stack_hi,
		.frame_rbp = d->frame_rbp,
		.frame_ret = d->frame_ret,
	};
}

const char *tsc_stack_end_name(enum tsc_stack_end e)
{
	static const char *const names[] = {
		[TSC_STACK_COMPLETE] = "complete",     [TSC_STACK_TRUNCATED] = "truncated",
		[TSC_STACK_BAD_FRAME] = "bad-frame",   [TSC_STACK_UNREADABLE] = "unreadable",
		[TSC_STACK_CHANGED] = "changed",       [TSC_STACK_RUNNING] = "running",
		[TSC_STACK_NOT_STARTED] = "not-started", [TSC_STACK_GONE] = "gone",
	};
	return (unsigned)e < sizeof(names) / sizeof(names[0]) && names[e] ? names[e] : "unknown";
}

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

int tsc_unwinder_new(int pid, const struct tsc_unwind_layout *l, struct tsc_unwinder **out)
{
	uint16_t fields[] = { l->task_magic, l->task_id, l->task_switches, l->task_ctx_sp,
			      l->task_stack_lo, l->task_stack_hi };
	size_t need = l->task_state + 4u;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		need = max_u64(need, fields[i] + 8u);
	/* The frame offsets must leave the saved frame readable as two aligned words. */
	if (need > l->task_size || l->frame_rbp % 8 || l->frame_ret % 8 || l->frame_rbp > 256 ||
	    l->frame_ret > 256)
		return -EINVAL;

	struct tsc_unwinder *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->pid = pid;
	u->l = *l;
	u->task_len = need;
	u->task = malloc(need);
	u->cap = FIRST_READ;
	u->buf = malloc(u->cap);
	if (!u->task || !u->buf) {
		tsc_unwinder_free(u);
		return -ENOMEM;
	}
	*out = u;
	return 0;
}

void tsc_unwinder_free(struct tsc_unwinder *u)
{
	if (!u)
		return;
	free(u->task);
	free(u->buf);
	free(u);
}

static int remote_read(int pid, uint64_t addr, void *dst, size_t n)
{
	struct iovec local = { dst, n }, remote = { (void *)(uintptr_t)addr, n };
	ssize_t r = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (r < 0)
		return -errno;
	return (size_t)r == n ? 0 : -EFAULT;
}

static uint64_t word(const uint8_t *p, size_t off)
{
	uint64_t v;
	memcpy(&v, p + off, sizeof(v));
	return v;
}

static int read_task(struct tsc_unwinder *u, uint64_t addr, struct task_view *v)
{
	int err = remote_read(u->pid, addr, u->task, u->task_len);
	if (err)
		return err;
	const struct tsc_unwind_layout *l = &u->l;
	v->magic = word(u->task, l->task_magic);
	v->id = word(u->task, l->task_id);
	v->switches = word(u->task, l->task_switches);
	v->sp = word(u->task, l->task_ctx_sp);
	v->lo = word(u->task, l->task_stack_lo);
	v->hi = word(u->task, l->task_stack_hi);
	memcpy(&v->state, u->task + l->task_state, sizeof(v->state));
	return 0;
}

/* The bytes [addr, addr + n) of the stack, reading more of it from the target when needed; the
 * buffer always starts at the saved stack pointer. NULL with *end set when out of bounds. */
static const uint8_t *stack_at(struct tsc_unwinder *u, uint64_t addr, size_t n, uint64_t hi,
			       enum tsc_stack_end *end)
{
	uint64_t want = addr + n - u->base;
	if (want <= u->len)
		return u->buf + (addr - u->base);
	if (want > TSC_STACK_MAX_BYTES) {
		*end = TSC_STACK_TRUNCATED;
		return NULL;
	}
	/* Grow geometrically, to the stack's top at most: few reads for deep stacks. */
	uint64_t len = max_u64(want, max_u64(FIRST_READ, 2 * (uint64_t)u->len));
	if (len > TSC_STACK_MAX_BYTES)
		len = TSC_STACK_MAX_BYTES;
	if (len > hi - u->base)
		len = hi - u->base;
	if (len > u->cap) {
		uint8_t *b = realloc(u->buf, len);
		if (!b) {
			*end = TSC_STACK_UNREADABLE;
			return NULL;
		}
		u->buf = b;
		u->cap = len;
	}
	if (remote_read(u->pid, u->base + u->len, u->buf + u->len, len - u->len)) {
		*end = TSC_STACK_UNREADABLE;
		return NULL;
	}
	u->len = len;
	return u->buf + (addr - u->base);
}

/* One walk from the saved frame of a task whose fields are v. */
static void walk(struct tsc_unwinder *u, const struct task_view *v, struct tsc_stack *out)
{
	const struct tsc_unwind_layout *l = &u->l;
	size_t saved = max_u64(l->frame_rbp, l->frame_ret) + 8;
	enum tsc_stack_end end = TSC_STACK_COMPLETE;

	out->n = 0;
	out->bad_fp = 0;
	if (v->lo >= v->hi || v->sp % 8 || v->sp < v->lo || v->sp > v->hi ||
	    v->hi - v->sp < saved) {
		out->end = TSC_STACK_BAD_FRAME;
		out->bad_fp = v->sp;
		return;
	}
	u->base = v->sp;
	u->len = 0;
	const uint8_t *p = stack_at(u, v->sp, saved, v->hi, &end);
	if (!p) {
		out->end = end;
		return;
	}
	uint64_t fp = word(p, l->frame_rbp), pc = word(p, l->frame_ret);
	if (fp == 0) { /* the frame ts__ctx_make laid out: never ran */
		out->end = TSC_STACK_NOT_STARTED;
		return;
	}
	out->pc[out->n++] = pc;
	uint64_t prev = v->sp + saved - 8; /* every frame record lies above the saved frame */
	for (;;) {
		if (fp % 8 || fp <= prev || fp < v->lo || fp > v->hi - 16) {
			out->end = TSC_STACK_BAD_FRAME;
			out->bad_fp = fp;
			return;
		}
		const uint8_t *r = stack_at(u, fp, 16, v->hi, &end);
		if (!r) {
			out->end = end;
			return;
		}
		uint64_t next = word(r, 0), ret = word(r, 8);
		if (next == 0) { /* the entry frame: its return address is the trampoline */
			out->end = TSC_STACK_COMPLETE;
			return;
		}
		if (ret == 0) {
			out->end = TSC_STACK_BAD_FRAME;
			out->bad_fp = fp;
			return;
		}
		if (out->n == TSC_STACK_MAX_FRAMES) {
			out->end = TSC_STACK_TRUNCATED;
			return;
		}
		out->pc[out->n++] = ret;
		prev = fp;
		fp = next;
	}
}

static bool finished(const struct task_view *v, uint64_t id)
{
	return v->magic != TS_TASK_MAGIC || v->id != id || v->state >= TS_DONE;
}

void tsc_unwind_task(struct tsc_unwinder *u, const struct tsc_task *t, struct tsc_stack *out)
{
	struct task_view before, after;

	out->n = 0;
	out->bad_fp = 0;
	out->tries = 0;
	if (!t->addr) {
		out->end = TSC_STACK_UNREADABLE; /* known only from events: no struct to read */
		return;
	}
	for (unsigned i = 0; i < TRIES; i++) {
		out->tries++;
		if (read_task(u, t->addr, &before)) {
			out->end = TSC_STACK_GONE;
			return;
		}
		if (finished(&before, t->id)) {
			out->end = TSC_STACK_GONE;
			return;
		}
		if (before.state == TS_RUNNING) {
			out->end = TSC_STACK_RUNNING;
			return;
		}
		if (before.state == TS_PENDING) {
			out->end = TSC_STACK_NOT_STARTED;
			return;
		}
		walk(u, &before, out);
		if (read_task(u, t->addr, &after) || finished(&after, t->id)) {
			out->n = 0;
			out->end = TSC_STACK_GONE;
			return;
		}
		/* Switched in (and maybe out again) while we read: the bytes may mix two moments. */
		if (after.switches == before.switches && after.sp == before.sp &&
		    after.state != TS_RUNNING)
			return;
	}
	out->n = 0;
	out->end = after.state == TS_RUNNING ? TSC_STACK_RUNNING : TSC_STACK_CHANGED;
}
