/* SPDX-License-Identifier: MIT */
/* The sample store: each distinct (task, loop, stack) once, found again by a keyed hash of
 * its contents, so that memory grows with the distinct stacks, not with the samples. */
#include "profile/prof.h"
#include "target/walk.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <time.h>

int prof_store_init(struct prof_store *s, enum prof_kind kind, uint64_t period_ns)
{
	struct timespec ts;
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->period_ns = period_ns;
	s->seed = tsc_hash_key | 1; /* keyed: the target picks the addresses */
	clock_gettime(CLOCK_REALTIME, &ts);
	s->wall_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	s->t0_ns = s->t1_ns = tsc_now_ns();
	if (tsc_idmap_reset(&s->index, 1024, s->seed) ||
	    tsc_idmap_reset(&s->task_index, 256, s->seed)) {
		prof_store_fini(s);
		return -ENOMEM;
	}
	return 0;
}

void prof_store_fini(struct prof_store *s)
{
	free(s->st);
	free(s->pcs);
	free(s->tasks);
	tsc_idmap_free(&s->index);
	tsc_idmap_free(&s->task_index);
	memset(s, 0, sizeof(*s));
}

static uint64_t stack_hash(uint64_t seed, uint64_t task, uint64_t loop, const uint64_t *pc,
			   unsigned n)
{
	uint64_t h = tsc_hash_mix(seed ^ task);
	h = tsc_hash_mix(h ^ loop);
	for (unsigned i = 0; i < n; i++)
		h = tsc_hash_mix(h ^ pc[i]);
	return h ? h : 1; /* 0 is the map's free key */
}

int prof_store_add(struct prof_store *s, uint64_t task, uint64_t loop, const uint64_t *pc,
		   unsigned n, uint64_t weight)
{
	if (n > PROF_MAX_FRAMES)
		n = PROF_MAX_FRAMES;
	uint64_t h = stack_hash(s->seed, task, loop, pc, n);
	uint64_t *first = tsc_idmap_get(&s->index, h);
	for (uint32_t i = first ? (uint32_t)*first : 0; i; i = s->st[i - 1].next) {
		struct prof_stack *st = &s->st[i - 1];
		if (st->task == task && st->loop == loop && st->n == n &&
		    !memcmp(&s->pcs[st->pc], pc, n * sizeof(*pc))) {
			st->count++;
			st->weight += weight;
			s->samples++;
			return 0;
		}
	}
	if (s->n >= PROF_MAX_STACKS || s->npcs + n > PROF_MAX_PCS ||
	    tsc_grow((void **)&s->st, &s->cap, s->n + 1, sizeof(*s->st)) ||
	    tsc_grow((void **)&s->pcs, &s->pcs_cap, s->npcs + n + 1, sizeof(*s->pcs))) {
		s->lost++;
		return -ENOMEM;
	}
	struct prof_stack *st = &s->st[s->n];
	*st = (struct prof_stack){ .task = task, .loop = loop, .count = 1, .weight = weight,
				   .pc = s->npcs, .n = n, .next = first ? (uint32_t)*first : 0 };
	memcpy(&s->pcs[s->npcs], pc, n * sizeof(*pc));
	if (tsc_idmap_put(&s->index, h, s->n + 1)) {
		s->lost++;
		return -ENOMEM;
	}
	s->npcs += n;
	s->n++;
	s->samples++;
	return 0;
}

static void copy_name(char *dst, size_t n, const char *src)
{
	size_t len = strnlen(src ? src : "", n - 1);
	memcpy(dst, src ? src : "", len);
	dst[len] = 0;
}

int prof_store_task(struct prof_store *s, uint64_t id, const char *name, const char *coro)
{
	if (!id)
		return 0;
	uint64_t *i = tsc_idmap_get(&s->task_index, id);
	struct prof_task *t;
	if (i) {
		t = &s->tasks[*i];
	} else {
		if (tsc_grow((void **)&s->tasks, &s->tasks_cap, s->ntasks + 1, sizeof(*s->tasks)) ||
		    tsc_idmap_put(&s->task_index, id, s->ntasks))
			return -ENOMEM;
		t = &s->tasks[s->ntasks++];
		t->id = id;
	}
	copy_name(t->name, sizeof(t->name), name);
	copy_name(t->coro, sizeof(t->coro), coro);
	return 0;
}

const struct prof_task *prof_store_find_task(const struct prof_store *s, uint64_t id)
{
	uint64_t *i = tsc_idmap_get(&s->task_index, id);
	return i ? &s->tasks[*i] : NULL;
}
