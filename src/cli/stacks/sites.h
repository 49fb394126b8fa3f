/* SPDX-License-Identifier: MIT */
/* Where a snapshot's tasks were spawned: each task's spawn_pc (the return address into the
 * code that called ts_spawn*, from a runtime with TS_DEBUG_F_WAIT_AGES) resolved once per
 * distinct address to function, file and line, for `spawned_at` in JSON and "created by". */
#ifndef TSC_SITES_H
#define TSC_SITES_H

#include <stdint.h>

#include "target/model.h"

struct tsc_site {
	uint64_t pc;          /* the return address as the runtime recorded it */
	char *fn;             /* NULL when unknown; the runtime's own inlined ts_* levels skipped */
	char *file;           /* NULL when there is no line information */
	unsigned line;        /* 0 when unknown */
};

struct tsc_sites {
	struct tsc_site *v;   /* sorted by pc, each once */
	size_t n;
};

struct tsc_symbolizer;
/* Resolve the spawn sites of snap's tasks with sym (symbolize.h, with its budget): the
 * command's one symbolizer, which its stacks use too (target/collect.c). Returns 0 or -errno;
 * on failure *out is empty and valid. */
int tsc_sites_collect(struct tsc_symbolizer *sym, const struct tsc_snapshot *snap,
		      struct tsc_sites *out);
void tsc_sites_free(struct tsc_sites *s);
/* The site of pc, or NULL (0, or not collected). */
const struct tsc_site *tsc_sites_find(const struct tsc_sites *s, uint64_t pc);

/* "created by FN at FILE:LINE" (or what of it is known) for spawn address pc into buf;
 * NULL when the runtime did not say (pc 0). */
const char *tsc_sites_describe(const struct tsc_sites *s, uint64_t pc, char *buf, size_t n);

struct tsc_json;
/* The member "spawned_at": {"addr", "fn", "file", "line"} (unknown ones null), or null when
 * the runtime did not say, into the task object w has open. s may be NULL. */
void tsc_sites_json(struct tsc_json *w, const struct tsc_sites *s, uint64_t pc);

#endif
