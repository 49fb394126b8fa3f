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
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <taskscope/taskscope.h>

#include "target/memsrc.h"
#include "target/registry.h"
#include "stacks/unwind.h"

#define TRIES 4
#define FIRST_READ 1024 /* a parked task's frames usually fit: one read */
#define BATCH 256       /* tasks whose structs and stacks are read in one syscall each */

struct tsc_unwinder {
	const struct tsc_memsrc *src;
	/* batches: BATCH task structs, BATCH first windows of stacks */
	uint8_t *tasks_after, *windows;
	size_t window_len[BATCH];
	struct tsc_mem_req req[BATCH];
	const struct ts_debug_desc *d;
	size_t task_len;   /* bytes of the task struct we read */
	uint8_t *task;
	uint8_t *buf;      /* the stack bytes [base, base + len) */
	size_t cap, len;
	uint64_t base;
	uint64_t read_left; /* stack bytes it may still read past the first windows */
};

/* The task fields one try depends on. */
struct task_view {
	uint64_t magic, id, switches, sp, lo, hi;
	uint32_t state;
};

const char *tsc_stack_end_name(enum tsc_stack_end e)
{
	static const char *const names[] = {
		[TSC_STACK_COMPLETE] = "complete",     [TSC_STACK_TRUNCATED] = "truncated",
		[TSC_STACK_BAD_FRAME] = "bad-frame",   [TSC_STACK_UNREADABLE] = "unreadable",
		[TSC_STACK_CHANGED] = "changed",       [TSC_STACK_RUNNING] = "running",
		[TSC_STACK_NOT_STARTED] = "not-started", [TSC_STACK_GONE] = "gone",
		[TSC_STACK_UNREGISTERED] = "not-in-registry",
	};
	return (unsigned)e < sizeof(names) / sizeof(names[0]) && names[e] ? names[e] : "unknown";
}

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

int tsc_unwinder_new(const struct tsc_memsrc *src, const struct ts_debug_desc *d,
		     struct tsc_unwinder **out)
{
	size_t need = tsc_reg_task_size(d);
	/* The frame offsets must leave the saved frame readable as two aligned words. */
	if (tsc_reg_task_end(d) > d->task_size || d->frame_rbp % 8 || d->frame_ret % 8 ||
	    d->frame_rbp > 256 || d->frame_ret > 256)
		return -EINVAL;

	struct tsc_unwinder *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->src = src;
	u->d = d;
	u->read_left = TSC_STACKS_READ_BASE;
	u->task_len = need;
	u->task = malloc(need);
	u->cap = FIRST_READ;
	u->buf = malloc(u->cap);
	u->tasks_after = malloc(BATCH * need);
	u->windows = malloc(BATCH * FIRST_READ);
	if (!u->task || !u->buf || !u->tasks_after || !u->windows) {
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
	free(u->tasks_after);
	free(u->windows);
	free(u);
}

static uint64_t word(const uint8_t *p, size_t off)
{
	uint64_t v;
	memcpy(&v, p + off, sizeof(v));
	return v;
}

static void task_view(const struct ts_debug_desc *d, const uint8_t *p, struct task_view *v)
{
	struct tsc_reg_task_fields f;
	tsc_reg_task_decode(d, p, &f);
	*v = (struct task_view){ .magic = f.magic, .id = f.id, .switches = f.switches,
				 .sp = f.ctx_sp, .lo = f.stack_lo, .hi = f.stack_hi,
				 .state = f.state };
}

static int read_task(struct tsc_unwinder *u, uint64_t addr, struct task_view *v)
{
	int err = tsc_mem_read1(u->src, addr, u->task, u->task_len);
	if (!err)
		task_view(u->d, u->task, v);
	return err;
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
	if (len - u->len > u->read_left) {
		*end = TSC_STACK_TRUNCATED;
		return NULL;
	}
	if (len > u->cap) {
		uint8_t *b = realloc(u->buf, len);
		if (!b) {
			*end = TSC_STACK_UNREADABLE;
			return NULL;
		}
		u->buf = b;
		u->cap = len;
	}
	u->read_left -= len - u->len;
	if (tsc_mem_read1(u->src, u->base + u->len, u->buf + u->len, len - u->len)) {
		*end = TSC_STACK_UNREADABLE;
		return NULL;
	}
	u->len = len;
	return u->buf + (addr - u->base);
}

static void chain(struct tsc_unwinder *u, uint64_t lo, uint64_t hi, uint64_t fp, uint64_t prev,
		  struct tsc_stack *out);

/* One walk from the saved frame of a task whose fields are v; u->buf holds u->len bytes of its
 * stack from u->base = v->sp (0 or more: the walk reads what else it needs). */
static void walk(struct tsc_unwinder *u, const struct task_view *v, struct tsc_stack *out)
{
	const struct ts_debug_desc *l = u->d;
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
	const uint8_t *p = stack_at(u, v->sp, saved, v->hi, &end);
	if (!p) {
		out->end = end;
		return;
	}
	uint64_t fp = word(p, l->frame_rbp), pc = word(p, l->frame_ret);
	if (fp == 0) { /* the frame ts__ctx_make laid out: never ran */
		/* a task that did run cannot have it: its stack memory reads as zeros (gdb's
		 * gcore writes a mapping with guard markers so) */
		out->end = v->switches ? TSC_STACK_UNREADABLE : TSC_STACK_NOT_STARTED;
		return;
	}
	out->pc[out->n++] = pc;
	/* every frame record lies above the saved frame */
	chain(u, v->lo, v->hi, fp, v->sp + saved - 8, out);
}

/* Follow the frame records from fp (each above prev, inside [lo, hi)), after the frames
 * out holds already. */
static void chain(struct tsc_unwinder *u, uint64_t lo, uint64_t hi, uint64_t fp, uint64_t prev,
		  struct tsc_stack *out)
{
	enum tsc_stack_end end = TSC_STACK_COMPLETE;
	for (;;) {
		if (fp % 8 || fp <= prev || fp < lo || fp > hi - 16) {
			out->end = TSC_STACK_BAD_FRAME;
			out->bad_fp = fp;
			return;
		}
		const uint8_t *r = stack_at(u, fp, 16, hi, &end);
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
		out->end = TSC_STACK_UNREGISTERED;
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
		u->len = 0;
		u->base = before.sp;
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

void tsc_unwind_image(const struct ts_debug_desc *d, const uint8_t *image, size_t len,
		      uint64_t sp, uint64_t lo, struct tsc_stack *out)
{
	/* The whole stack is in the buffer, so the walk never reads (and never writes) more. */
	struct tsc_unwinder u = { .d = d, .buf = (uint8_t *)image, .cap = len,
				  .len = len, .base = sp, .read_left = UINT64_MAX };
	struct task_view v = { .magic = TS_TASK_MAGIC, .sp = sp, .lo = lo, .hi = sp + len,
			       .state = TS_WAITING };
	*out = (struct tsc_stack){ .tries = 1 };
	if (sp + len < sp) {
		out->end = TSC_STACK_BAD_FRAME;
		return;
	}
	walk(&u, &v, out);
}

/* Read the task structs of t[0..n) into `into`; u->req[i].ok says which could be. */
static int read_structs(struct tsc_unwinder *u, const struct tsc_task *t, size_t n, uint8_t *into)
{
	for (size_t i = 0; i < n; i++)
		u->req[i] = (struct tsc_mem_req){ t[i].addr, into + i * u->task_len, u->task_len };
	return tsc_mem_read(u->src, u->req, n);
}

void tsc_unwind_tasks(struct tsc_unwinder *u, const struct tsc_task *t, size_t n,
		      struct tsc_stack *out)
{
	u->read_left += (uint64_t)n * TSC_STACKS_READ_PER_TASK;
	for (size_t base = 0; base < n; base += BATCH) {
		size_t m = n - base < BATCH ? n - base : BATCH;
		const struct tsc_task *tt = t + base;
		struct tsc_stack *oo = out + base;
		bool again[BATCH] = { false }, walked[BATCH] = { false };
		struct task_view v[BATCH];

		/* 1: the first window of every suspended stack, where the snapshot saw it; 2: walk
		 * each, reading more of its stack if it needs; 3: every task struct again. A task
		 * that ran since the snapshot, or that a read missed, goes the slow way. */
		size_t nw = 0;
		size_t widx[BATCH];
		for (size_t i = 0; i < m; i++) {
			oo[i] = (struct tsc_stack){ .tries = 1 };
			v[i] = (struct task_view){ .magic = TS_TASK_MAGIC, .id = tt[i].id,
						   .switches = tt[i].switches, .sp = tt[i].ctx_sp,
						   .lo = tt[i].stack_lo, .hi = tt[i].stack_hi,
						   .state = tt[i].state };
			if (!tt[i].addr || v[i].state == TS_RUNNING || v[i].state >= TS_DONE) {
				again[i] = true; /* (running now, perhaps not any more) */
			} else if (v[i].state == TS_PENDING) {
				oo[i].end = TSC_STACK_NOT_STARTED;
				walked[i] = true; /* still to check that it did not start since */
			} else if (v[i].sp >= v[i].lo && v[i].sp < v[i].hi) {
				size_t len = v[i].hi - v[i].sp < FIRST_READ ? v[i].hi - v[i].sp : FIRST_READ;
				u->window_len[i] = len;
				u->req[nw] = (struct tsc_mem_req){ v[i].sp, u->windows + i * FIRST_READ,
								   len };
				widx[nw++] = i;
			} else {
				u->len = 0; /* walk() reports the bad stack pointer, reading nothing */
				u->base = v[i].sp;
				walk(u, &v[i], &oo[i]);
				walked[i] = true;
			}
		}
		bool wok[BATCH];
		if (nw && tsc_mem_read(u->src, u->req, nw)) {
			for (size_t i = 0; i < m; i++)
				tsc_unwind_task(u, &tt[i], &oo[i]);
			continue;
		}
		for (size_t k = 0; k < nw; k++)
			wok[k] = u->req[k].ok;
		for (size_t k = 0; k < nw; k++) {
			size_t i = widx[k];
			if (!wok[k]) {
				again[i] = true;
				continue;
			}
			memcpy(u->buf, u->windows + i * FIRST_READ, u->window_len[i]);
			u->base = v[i].sp;
			u->len = u->window_len[i];
			walk(u, &v[i], &oo[i]);
			walked[i] = true;
		}
		if (read_structs(u, tt, m, u->tasks_after)) {
			for (size_t i = 0; i < m; i++)
				tsc_unwind_task(u, &tt[i], &oo[i]);
			continue;
		}
		for (size_t i = 0; i < m; i++) {
			struct task_view a;
			if (!walked[i])
				continue; /* to do again anyway */
			if (!u->req[i].ok) {
				again[i] = true;
				continue;
			}
			task_view(u->d, u->tasks_after + i * u->task_len, &a);
			if (a.switches != v[i].switches || a.sp != v[i].sp || a.state == TS_RUNNING ||
			    finished(&a, tt[i].id))
				again[i] = true;
		}
		for (size_t i = 0; i < m; i++)
			if (again[i]) {
				tsc_unwind_task(u, &tt[i], &oo[i]);
				oo[i].tries++;
			}
	}
}
