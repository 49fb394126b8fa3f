/* SPDX-License-Identifier: MIT */
/* The processes `metrics` watches: the PIDs given, or with --all every runtime process, found
 * again at each scrape (discover.h): a new one joins, one reported gone leaves. */
#include "metrics/metrics.h"
#include "cli.h"
#include "target/collect.h"
#include "target/discover.h"
#include "target/procstat.h"
#include "target/remote.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Take r (its runtime found, or err why it cannot be read) as a new target. */
static int add(struct mx_set *s, struct tsc_remote *r, int err)
{
	struct tsc_procstat ps;
	struct mx_target *t;
	if (tsc_grow((void **)&s->t, &s->cap, s->n + 1, sizeof(*s->t)) ||
	    !(t = calloc(1, sizeof(*t))))
		return -ENOMEM;
	t->pid = r->pid;
	t->r = r;
	t->m.pid = r->pid;
	tsc_remote_exe(r, t->exe, sizeof(t->exe));
	if (!tsc_procstat_read(r->procfd, "stat", &ps))
		t->start_ns = ps.start_ns;
	/* a runtime that cannot be read keeps its reason: reported at every scrape */
	if (err)
		t->error = err == -EPROTONOSUPPORT ? "abi" : "invalid";
	else if (top_reg_new(r, &t->reg)) {
		t->r = NULL;
		mx_target_free(t);
		return -ENOMEM;
	}
	s->t[s->n++] = t;
	return 0;
}

int mx_set_add_pid(struct mx_set *s, int pid)
{
	struct tsc_remote *r;
	struct tsc_bpf *b;
	int rc = tsc_attach_target(pid, NULL, &r, &b);
	if (rc)
		return rc;
	if (add(s, r, 0)) {
		tsc_remote_close(r);
		fprintf(stderr, "taskscope metrics: out of memory\n");
		return TSC_EXIT_ERROR;
	}
	return TSC_EXIT_OK;
}

static int held(int pid, void *ctx)
{
	const struct mx_set *s = ctx;
	for (size_t i = 0; i < s->n; i++)
		if (s->t[i]->pid == pid && !s->t[i]->gone)
			return 1;
	return 0;
}

static int found(struct tsc_remote *r, int err, void *ctx)
{
	int e = add(ctx, r, err);
	return e ? e : 1;
}

int mx_set_refresh(struct mx_set *s)
{
	size_t w = 0;
	int err = 0;
	/* the ones reported gone at the last scrape leave now: reported once, never again */
	for (size_t i = 0; i < s->n; i++) {
		if (s->t[i]->gone)
			mx_target_free(s->t[i]);
		else
			s->t[w++] = s->t[i];
	}
	s->n = w;
	if (s->all) {
		struct tsc_discover_stats st = { 0 };
		struct tsc_discover_cb cb = { .skip = held, .found = found, .ctx = s };
		if (!s->disc && (err = tsc_discover_new(&s->disc)))
			return err;
		uint64_t t0 = tsc_now_ns();
		err = tsc_discover_scan(s->disc, &cb, &st);
		s->unreadable = st.unreadable;
		s->discovery_s = (double)(tsc_now_ns() - t0) / 1e9;
	}
	return err;
}

void mx_set_free(struct mx_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		mx_target_free(s->t[i]);
	free(s->t);
	tsc_discover_free(s->disc);
	memset(s, 0, sizeof(*s));
}
