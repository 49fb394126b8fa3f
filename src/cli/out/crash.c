/* SPDX-License-Identifier: MIT */
/* A core file's crash in one line and in JSON (crash.h). */
#include "out/crash.h"
#include "out/out.h"

#include <inttypes.h>
#include <string.h>
#include <taskscope/taskscope.h>

/* "SIGSEGV", or "signal 42" for one without a name. */
static const char *sig_name(int sig, char *buf, size_t n)
{
	const char *abbrev = sigabbrev_np(sig);
	if (abbrev)
		snprintf(buf, n, "SIG%s", abbrev);
	else
		snprintf(buf, n, "signal %d", sig);
	return buf;
}

void tsc_crash_print(FILE *f, const struct tsc_snapshot *s)
{
	const struct tsc_crash *c = &s->crash;
	char sig[32], name[TSC_TEXT_SIZE(TS_NAME_MAX)];
	if (!s->core || !c->signo)
		return;
	fprintf(f, "killed by %s", sig_name(c->signo, sig, sizeof(sig)));
	if (c->has_addr)
		fprintf(f, " (address 0x%" PRIx64 ")", c->addr);
	fprintf(f, " in thread %d", c->tid);
	const struct tsc_task *t = c->task ? tsc_snapshot_find(s, c->task) : NULL;
	if (t)
		fprintf(f, ", running task '%s' (id %" PRIu64 ")\n\n",
			tsc_esc(name, sizeof(name), t->name), t->id);
	else
		fprintf(f, ", outside any task\n\n");
}

void tsc_crash_json(struct tsc_json *w, const struct tsc_snapshot *s)
{
	const struct tsc_crash *c = &s->crash;
	char sig[32];
	if (!s->core)
		return;
	tsc_json_key(w, "core");
	tsc_json_string(w, s->core);
	tsc_json_key(w, "crash");
	if (!c->signo) {
		tsc_json_null(w);
		return;
	}
	const struct tsc_task *t = c->task ? tsc_snapshot_find(s, c->task) : NULL;
	tsc_json_obj(w);
	tsc_json_key(w, "signal");
	tsc_json_string(w, sig_name(c->signo, sig, sizeof(sig)));
	tsc_json_key(w, "signo");
	tsc_json_i64(w, c->signo);
	tsc_json_key(w, "code");
	tsc_json_i64(w, c->code);
	tsc_json_key(w, "addr");
	if (c->has_addr)
		tsc_json_u64(w, c->addr);
	else
		tsc_json_null(w);
	tsc_json_key(w, "thread");
	tsc_json_i64(w, c->tid);
	tsc_json_key(w, "task");
	tsc_json_id(w, t ? t->id : 0);
	tsc_json_key(w, "task_name");
	if (t)
		tsc_json_string(w, t->name);
	else
		tsc_json_null(w);
	tsc_json_end_obj(w);
}
