// SPDX-License-Identifier: MIT
/* Spawn sites, resolved once per distinct address (sites.h). */
#include "stacks/sites.h"
#include "stacks/symbolize.h"
#include "out/json.h"
#include "out/out.h"
#include <inttypes.h>
#include <stdio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The level that names the spawning code: a ts_spawn* shorthand of the public header is
 * inlined into its caller, and the call site is the caller's. */
static const struct tsc_sym *caller_level(const struct tsc_sym *syms, unsigned n)
{
	unsigned k = 0;
	while (k + 1 < n && syms[k].fn && !strncmp(syms[k].fn, "ts_", 3))
		k++;
	return &syms[k];
}

int tsc_sites_collect(struct tsc_symbolizer *sym, const struct tsc_snapshot *snap,
		      struct tsc_sites *out)
{
	uint64_t *pcs = NULL;
	size_t n = 0;
	int err = -ENOMEM;

	memset(out, 0, sizeof(*out));
	pcs = malloc((snap->ntasks ? snap->ntasks : 1) * sizeof(*pcs));
	if (!pcs)
		goto cleanup;
	for (size_t i = 0; i < snap->ntasks; i++)
		if (snap->tasks[i].spawn_pc)
			pcs[n++] = snap->tasks[i].spawn_pc;
	err = 0;
	if (!n)
		goto cleanup;
	qsort(pcs, n, sizeof(*pcs), cmp_u64);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (!u || pcs[i] != pcs[u - 1])
			pcs[u++] = pcs[i];
	err = -ENOMEM;
	if (!(out->v = calloc(u, sizeof(*out->v))))
		goto cleanup;
	for (size_t i = 0; i < u; i++) {
		const struct tsc_sym *syms;
		struct tsc_site *s = &out->v[out->n++];
		s->pc = pcs[i];
		unsigned k = tsc_symbolize(sym, pcs[i], true, &syms);
		const struct tsc_sym *y = caller_level(syms, k ? k : 1);
		s->line = y->line;
		if ((y->fn && !(s->fn = strdup(y->fn))) || (y->file && !(s->file = strdup(y->file)))) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	err = 0;
cleanup:
	free(pcs);
	if (err)
		tsc_sites_free(out);
	return err;
}

void tsc_sites_free(struct tsc_sites *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].fn);
		free(s->v[i].file);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

const struct tsc_site *tsc_sites_find(const struct tsc_sites *s, uint64_t pc)
{
	if (!s || !pc || !s->n)
		return NULL;
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->v[mid].pc < pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n && s->v[lo].pc == pc ? &s->v[lo] : NULL;
}

const char *tsc_sites_describe(const struct tsc_sites *s, uint64_t pc, char *buf, size_t n)
{
	const struct tsc_site *site = tsc_sites_find(s, pc);
	char fn[TSC_TEXT_SIZE(256)], file[TSC_TEXT_SIZE(512)];
	if (!pc)
		return NULL;
	if (site && site->fn && site->file)
		snprintf(buf, n, "created by %s at %s:%u", tsc_esc(fn, sizeof(fn), site->fn),
			 tsc_esc(file, sizeof(file), site->file), site->line);
	else if (site && site->fn)
		snprintf(buf, n, "created by %s (0x%" PRIx64 ")", tsc_esc(fn, sizeof(fn), site->fn),
			 pc);
	else
		snprintf(buf, n, "created by 0x%" PRIx64, pc);
	return buf;
}

void tsc_sites_json(struct tsc_json *w, const struct tsc_sites *s, uint64_t pc)
{
	tsc_json_key(w, "spawned_at");
	if (!pc) {
		tsc_json_null(w);
		return;
	}
	const struct tsc_site *site = tsc_sites_find(s, pc);
	tsc_json_obj(w);
	tsc_json_key(w, "addr");
	tsc_json_u64(w, pc);
	tsc_json_key(w, "fn");
	if (site && site->fn)
		tsc_json_string(w, site->fn);
	else
		tsc_json_null(w);
	tsc_json_key(w, "file");
	if (site && site->file)
		tsc_json_string(w, site->file);
	else
		tsc_json_null(w);
	tsc_json_key(w, "line");
	if (site && site->line)
		tsc_json_u64(w, site->line);
	else
		tsc_json_null(w);
	tsc_json_end_obj(w);
}
