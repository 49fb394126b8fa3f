/* SPDX-License-Identifier: MIT */
/* A trace's events as lines of text: see lines.h. */
#include "trace/lines.h"
#include "out/out.h"
#include "trace/format.h"

#include <stdlib.h>
#include <string.h>
#include <taskscope/taskscope.h>

/* Room for a line's own parts and two cached task references; escaped text from the trace
 * (names of any length) reserves its own, and this again after it. */
enum { LINE_ROOM = 1024, TEXT_ROOM = TSC_TEXT_SIZE(TF_STR_MAX + 32) };

/* A task reference as printed, "5 "worker-0-0"", for a live task whose name the next
 * events do not change: one cache line each, indexed by the id's low bits (ids come in
 * sequence, so the tasks of one moment do not collide). */
#define NREFS 1024
#define SHORT_NAME 40           /* names this long or less are formatted on the side first */
struct ref {
	uint64_t id;            /* 0 = empty */
	uint8_t len;
	char text[55];
};

/* A word from one of the runtime's or the format's tables, with its length. */
struct word {
	const char *s;
	uint8_t n;
};

struct tsc_lines {
	struct tsc_json *o;
	const struct tsc_tstate *st;
	uint64_t t0;
	struct word ev[TSC_EV_NR], wait[16];
	struct ref refs[NREFS];
};

static struct word word(const char *s)
{
	return (struct word){ s, (uint8_t)strlen(s) };
}

struct tsc_lines *tsc_lines_new(struct tsc_json *o, const struct tsc_tstate *st, uint64_t t0)
{
	struct tsc_lines *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->o = o;
	l->st = st;
	l->t0 = t0;
	for (uint32_t i = 0; i < TSC_EV_NR; i++)
		l->ev[i] = word(tsc_ev_name(i));
	for (uint32_t i = 0; i < 16; i++)
		l->wait[i] = word(tsc_wait_name(i));
	return l;
}

void tsc_lines_free(struct tsc_lines *l)
{
	free(l);
}

static inline char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}
#define LIT(p, s) put((p), (s), sizeof(s) - 1)

static inline char *put_word(char *p, struct word w)
{
	return put(p, w.s, w.n);
}

static inline char *put_i64(char *p, int64_t v)
{
	if (v < 0) {
		*p++ = '-';
		return tsc_json_fmt_u64(p, (uint64_t)0 - (uint64_t)v);
	}
	return tsc_json_fmt_u64(p, (uint64_t)v);
}

static char *put_hex(char *p, uint64_t v)
{
	char t[16];
	int i = sizeof(t);
	do {
		t[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	return put(p, t + i, sizeof(t) - (size_t)i);
}

/* Text from the trace, escaped: the line so far is committed to the buffer first, as the
 * room taken for the text may flush it. Returns where the line goes on, with LINE_ROOM. */
static char *put_text(struct tsc_lines *l, char *p, const char *s, unsigned flags)
{
	struct tsc_json *o = l->o;
	o->n = (size_t)(p - o->b);
	p = tsc_json_room(o, TEXT_ROOM + LINE_ROOM);
	return p + tsc_text(p, TEXT_ROOM, s, SIZE_MAX, flags, NULL);
}

/* A name in quotes: "worker-1" */
static char *put_name(struct tsc_lines *l, char *p, const char *s)
{
	*p++ = '"';
	p = put_text(l, p, s, TSC_TEXT_QUOTED);
	*p++ = '"';
	return p;
}

/* A task reference not in the cache: formatted from the state, and cached when it fits. */
static char *put_task_slow(struct tsc_lines *l, char *p, uint64_t id, struct ref *r)
{
	const struct tsc_tstate_task *t = tsc_tstate_task(l->st, id);
	const char *name = t ? t->name : "";
	if (strnlen(name, SHORT_NAME + 1) > SHORT_NAME) {
		p = tsc_json_fmt_u64(p, id);
		*p++ = ' ';
		return put_name(l, p, name);
	}
	char b[20 + 2 + TSC_TEXT_SIZE(SHORT_NAME) + 1], *q = tsc_json_fmt_u64(b, id);
	*q++ = ' ';
	*q++ = '"';
	q += tsc_text(q, TSC_TEXT_SIZE(SHORT_NAME), name, SIZE_MAX, TSC_TEXT_QUOTED, NULL);
	*q++ = '"';
	size_t n = (size_t)(q - b);
	/* a finished task is forgotten at its last switch out, and shows without a name after */
	if (t && t->live && n <= sizeof(r->text)) {
		r->id = id;
		r->len = (uint8_t)n;
		memcpy(r->text, b, n);
	}
	return put(p, b, n);
}

/* "5 "worker-0-0"", or "scheduler" for 0 */
static inline char *put_task(struct tsc_lines *l, char *p, uint64_t id)
{
	if (!id)
		return LIT(p, "scheduler");
	struct ref *r = &l->refs[id & (NREFS - 1)];
	if (r->id != id)
		return put_task_slow(l, p, id, r);
	memcpy(p, r->text, sizeof(r->text)); /* whole: a fixed size copies fastest */
	return p + r->len;
}

/* The event changes the name its task shows with from now on (or forgets the task). */
static void forget_ref(struct tsc_lines *l, uint64_t id)
{
	struct ref *r = &l->refs[id & (NREFS - 1)];
	if (r->id == id)
		r->id = 0;
}

static char *put_wait(struct tsc_lines *l, char *p, const struct tsc_event *ev)
{
	uint32_t reason = ev->wait.reason;
	p = put_task(l, p, ev->wait.id);
	*p++ = ' ';
	p = put_word(p, reason < 16 ? l->wait[reason] : word(tsc_wait_name(reason)));
	switch (reason) {
	case TS_WAIT_SLEEP:
		p = LIT(p, " until=");
		return tsc_json_fmt_secs(p, (int64_t)(ev->wait.object - l->t0));
	case TS_WAIT_FD:
		p = LIT(p, " fd=");
		return tsc_json_fmt_u64(p, ev->wait.object);
	case TS_WAIT_AWAIT:
		p = LIT(p, " task=");
		return put_task(l, p, ev->wait.object);
	case TS_WAIT_YIELD:
		return p;
	default:
		p = LIT(p, " obj=0x");
		return put_hex(p, ev->wait.object);
	}
}

static char *put_create(struct tsc_lines *l, char *p, const struct tsc_event *ev)
{
	p = tsc_json_fmt_u64(p, ev->create.id);
	*p++ = ' ';
	p = put_name(l, p, ev->create.name);
	p = LIT(p, " coro=");
	p = put_name(l, p, ev->create.coro);
	p = LIT(p, " parent=");
	p = put_task(l, p, ev->create.parent);
	if (ev->create.loop_tid != ev->tid) {
		p = LIT(p, " loop_tid=");
		p = put_i64(p, ev->create.loop_tid);
	}
	return p;
}

void tsc_lines_event(struct tsc_lines *l, const struct tsc_event *ev)
{
	struct tsc_json *o = l->o;
	char *p = tsc_json_room(o, LINE_ROOM);
	p = tsc_json_fmt_secs(p, (int64_t)(ev->ts_ns - l->t0));
	if (ev->type == TSC_EV_LOST) {
		p = LIT(p, " LOST ");
		p = tsc_json_fmt_u64(p, ev->lost.count);
		*p++ = ' ';
		p = put_word(p, word(tsc_ev_name(ev->lost.type)));
		p = LIT(p, " events\n");
		o->n = (size_t)(p - o->b);
		return;
	}
	*p++ = ' ';
	p = put_word(p, ev->type < TSC_EV_NR ? l->ev[ev->type] : word(tsc_ev_name(ev->type)));
	p = LIT(p, " tid=");
	p = put_i64(p, ev->tid);
	*p++ = ' ';
	switch (ev->type) {
	case TSC_EV_CREATE:
		p = put_create(l, p, ev);
		forget_ref(l, ev->create.id);
		break;
	case TSC_EV_SWITCH:
		p = put_task(l, p, ev->sw.prev);
		p = LIT(p, " -> ");
		p = put_task(l, p, ev->sw.next);
		break;
	case TSC_EV_FINISH:
		p = put_task(l, p, ev->finish.id);
		*p++ = ' ';
		p = put_word(p, word(tsc_state_name(ev->finish.outcome)));
		forget_ref(l, ev->finish.id);
		break;
	case TSC_EV_RENAME:
		p = put_task(l, p, ev->rename.id);
		p = LIT(p, " -> ");
		p = put_name(l, p, ev->rename.name);
		forget_ref(l, ev->rename.id);
		break;
	case TSC_EV_WAIT:
		p = put_wait(l, p, ev);
		break;
	case TSC_EV_READY:
		p = put_task(l, p, ev->ready.id);
		break;
	case TSC_EV_THREAD_START:
	case TSC_EV_THREAD_STOP:
		p = LIT(p, "loop=");
		p = tsc_json_fmt_u64(p, ev->thread.loop);
		p = LIT(p, " thread=");
		p = put_i64(p, ev->thread.tid);
		break;
	case TSC_EV_EXEC:
		p = LIT(p, "file=");
		p = put_name(l, p, ev->exec.file);
		/* every task of the old program is gone */
		for (size_t i = 0; i < NREFS; i++)
			l->refs[i].id = 0;
		break;
	}
	*p++ = '\n';
	o->n = (size_t)(p - o->b);
}
