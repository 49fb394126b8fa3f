// SPDX-License-Identifier: MIT
/* Warnings about tasks, printed and emitted alike by top and ps (warn.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "out/json.h"
#include "out/out.h"
#include "out/warn.h"
#include "target/model.h"
#include "util.h"

int tsc_warn_add(struct tsc_warnings *ws, const struct tsc_warning *w)
{
	int err = tsc_grow((void **)&ws->w, &ws->cap, ws->n + 1, sizeof(*ws->w));
	if (!err)
		ws->w[ws->n++] = *w;
	return err;
}

void tsc_warnings_clear(struct tsc_warnings *ws)
{
	ws->n = 0;
}

void tsc_warnings_free(struct tsc_warnings *ws)
{
	free(ws->w);
	memset(ws, 0, sizeof(*ws));
}

int tsc_warn_long_wait(struct tsc_warnings *ws, const struct tsc_task *t, uint64_t waited,
		       size_t n, uint64_t threshold_ns, uint64_t now_ns)
{
	struct tsc_warning w = { .kind = TSC_WARN_LONG_WAIT, .task = t->id, .tid = t->tid,
				 .ns = waited };
	char what[96];
	memcpy(w.name, t->name, sizeof(w.name));
	tsc_wait_describe(t, now_ns, what, sizeof(what));
	if (n > 1)
		snprintf(w.evidence, sizeof(w.evidence), "%s; the longest of %zu tasks waiting "
			 "longer than %gs: taskscope ps --stuck %gs", what, n, threshold_ns / 1e9,
			 threshold_ns / 1e9);
	else
		snprintf(w.evidence, sizeof(w.evidence), "%s; longer than %gs", what,
			 threshold_ns / 1e9);
	return tsc_warn_add(ws, &w);
}

int tsc_warn_loop_lag(struct tsc_warnings *ws, int32_t tid, uint64_t lag_ns,
		      const struct tsc_task *cur)
{
	struct tsc_warning w = { .kind = TSC_WARN_LOOP_LAG, .tid = tid, .ns = lag_ns };
	char name[TSC_TEXT_SIZE(TS_NAME_MAX)];
	if (cur)
		snprintf(w.evidence, sizeof(w.evidence), "its latest timer fired late, or its "
			 "earliest is overdue; running now: %s (%llu)",
			 tsc_esc(name, sizeof(name), cur->name), (unsigned long long)cur->id);
	else
		snprintf(w.evidence, sizeof(w.evidence), "its latest timer fired late, or its "
			 "earliest is overdue");
	return tsc_warn_add(ws, &w);
}

const char *tsc_warn_kind_name(enum tsc_warn_kind k)
{
	switch (k) {
	case TSC_WARN_LONG_RUN: return "long-run";
	case TSC_WARN_LONG_WAIT: return "long-wait";
	case TSC_WARN_CYCLE: return "await-cycle";
	case TSC_WARN_LOOP_LAG: return "loop-lag";
	}
	return "?";
}

void tsc_warning_text(const struct tsc_warning *w, char *buf, size_t n)
{
	char name[TSC_TEXT_SIZE(TS_NAME_MAX)], d[16];
	tsc_esc(name, sizeof(name), w->name);
	tsc_fmt_age(w->ns, d, sizeof(d));
	switch (w->kind) {
	case TSC_WARN_LONG_RUN:
		snprintf(buf, n, "%s (%" PRIu64 ") has run %s without yielding on thread %d, "
			 "starving its loop (%s)", name, w->task, d, w->tid, w->evidence);
		break;
	case TSC_WARN_LONG_WAIT:
		snprintf(buf, n, "%s (%" PRIu64 ") has waited %s (%s)", name, w->task, d,
			 w->evidence);
		break;
	case TSC_WARN_CYCLE:
		snprintf(buf, n, "await cycle, a deadlock: %s", w->evidence);
		break;
	case TSC_WARN_LOOP_LAG:
		snprintf(buf, n, "the loop on thread %d fires its timers %s late (%s)", w->tid, d,
			 w->evidence);
		break;
	}
}

void tsc_warnings_print(FILE *f, const struct tsc_warnings *ws, size_t max)
{
	char line[1024];
	for (size_t i = 0; i < ws->n && i < max; i++) {
		tsc_warning_text(&ws->w[i], line, sizeof(line));
		fprintf(f, "warning: %s\n", line);
	}
	if (ws->n > max)
		fprintf(f, "warning: ... and %zu more\n", ws->n - max);
}

void tsc_warnings_json(struct tsc_json *w, const struct tsc_warnings *ws)
{
	tsc_json_key(w, "warnings");
	tsc_json_arr(w);
	for (size_t i = 0; i < ws->n; i++) {
		const struct tsc_warning *x = &ws->w[i];
		tsc_json_obj(w);
		tsc_json_key(w, "kind");
		tsc_json_lit(w, tsc_warn_kind_name(x->kind));
		tsc_json_key(w, "task");
		tsc_json_id(w, x->task);
		tsc_json_key(w, "name");
		if (x->task)
			tsc_json_string(w, x->name);
		else
			tsc_json_null(w);
		tsc_json_key(w, "thread");
		tsc_json_i64(w, x->tid);
		tsc_json_key(w, "ns");
		tsc_json_u64(w, x->ns);
		tsc_json_key(w, "evidence");
		tsc_json_string(w, x->evidence);
		tsc_json_end_obj(w);
	}
	tsc_json_end_arr(w);
}
