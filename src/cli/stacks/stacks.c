// SPDX-License-Identifier: MIT
/* The stacks of a snapshot's tasks: unwind them all first (the reads should be close together
 * in time), then symbolize, then print on demand. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <taskscope/taskscope.h>

#include "cli.h"
#include "target/collect.h"
#include "out/json.h"
#include "out/out.h"
#include "target/core.h"
#include "target/remote.h"
#include "stacks/cfi.h"
#include "stacks/stacks.h"
#include "stacks/symbolize.h"
#include "target/walk.h"
#include "idmap.h"
#include "util.h"

struct entry {
	uint64_t id;
	struct tsc_stack stack;
};

/* The printed text of the frames at one address, made once: 10k tasks parked at the same
 * few places print the same lines over and over. */
struct text {
	unsigned n;
	char **line;        /* "0xADDR fn+0xOFF (file:line)", one per inlined level */
	char **rt;          /* a runtime frame's function, escaped, for its folded line; NULL
			     * for the task's own frames */
	char *json;         /* {"addr":...}, one per inlined level, comma-separated */
};

struct tsc_stacks {
	struct entry *e;    /* sorted by id */
	size_t n;
	struct tsc_symbolizer *sym;
	struct text *texts;
	size_t ntexts, texts_cap;
	struct tsc_idmap text_at;   /* pc -> index in texts; keyed: pcs are the target's */
	struct tsc_idmap rt_pcs;    /* addresses in the runtime by their place on a stack */
	char *rt_dirs[8];           /* the source directories of the runtime's ts_* functions */
	unsigned nrt_dirs;
	struct tsc_stacks_stats st;
};

static void text_free(struct text *t, unsigned n);

/* The length of path's directory part, with its '/'; 0 when it has none. */
static size_t dir_len(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? (size_t)(s - path) + 1 : 0;
}

/* Remember where the runtime's sources are, from a frame of one of its ts_* functions: its
 * internal helpers (queue_wait, task_entry) live beside them. */
static void learn_runtime_dir(struct tsc_stacks *st, const struct tsc_sym *y)
{
	size_t l;
	if (!y->fn || strncmp(y->fn, "ts_", 3) || !y->file || !(l = dir_len(y->file)))
		return;
	for (unsigned i = 0; i < st->nrt_dirs; i++)
		if (strlen(st->rt_dirs[i]) == l && !strncmp(st->rt_dirs[i], y->file, l))
			return;
	if (st->nrt_dirs < sizeof(st->rt_dirs) / sizeof(st->rt_dirs[0]) &&
	    (st->rt_dirs[st->nrt_dirs] = strndup(y->file, l)))
		st->nrt_dirs++;
}

static bool in_runtime_dir(const struct tsc_stacks *st, const char *file)
{
	size_t l = file ? dir_len(file) : 0;
	for (unsigned i = 0; l && i < st->nrt_dirs; i++)
		if (strlen(st->rt_dirs[i]) == l && !strncmp(st->rt_dirs[i], file, l))
			return true;
	return false;
}

static int cmp_entry(const void *a, const void *b)
{
	uint64_t x = ((const struct entry *)a)->id, y = ((const struct entry *)b)->id;
	return x < y ? -1 : x > y;
}

/* In a core, a task running at the dump is where its thread's registers say: its stack from
 * them, where a live process can only say "running". */
static void running_from_registers(struct tsc_symbolizer *sym, const struct tsc_memsrc *src,
				   const struct tsc_snapshot *snap, struct tsc_stack *stacks)
{
	const struct tsc_core_info *ci = tsc_memsrc_core_info(src);
	for (size_t i = 0; ci && i < snap->nthreads; i++) {
		const struct tsc_thread *th = &snap->threads[i];
		const struct tsc_task *t = th->current ? tsc_snapshot_find(snap, th->current) : NULL;
		if (!t || t->state != TS_RUNNING)
			continue;
		for (size_t k = 0; k < ci->nthreads; k++)
			if (ci->threads[k].tid == th->tid) {
				tsc_cfi_unwind(sym, src, t, ci->threads[k].regs, &stacks[t - snap->tasks]);
				break;
			}
	}
}

int tsc_stacks_collect(const struct tsc_memsrc *src, const struct tsc_snapshot *snap,
		       const struct ts_debug_desc *d, struct tsc_symbolizer *sym,
		       struct tsc_stacks **out)
{
	struct tsc_unwinder *u = NULL;
	struct tsc_stacks *st = calloc(1, sizeof(*st));
	int err = -ENOMEM;

	if (!st || !sym) {
		tsc_symbolizer_free(sym);
		free(st);
		return -ENOMEM;
	}
	st->sym = sym;
	st->e = calloc(snap->ntasks ? snap->ntasks : 1, sizeof(*st->e));
	if (!st->e)
		goto fail;
	if ((err = tsc_unwinder_new(src, d, &u)))
		goto fail;
	uint64_t t0 = tsc_now_ns();
	struct tsc_stack *stacks = calloc(snap->ntasks ? snap->ntasks : 1, sizeof(*stacks));
	if (!stacks) {
		err = -ENOMEM;
		goto fail;
	}
	tsc_unwind_tasks(u, snap->tasks, snap->ntasks, stacks);
	running_from_registers(st->sym, src, snap, stacks);
	for (size_t i = 0; i < snap->ntasks; i++) {
		struct entry *e = &st->e[st->n++];
		e->id = snap->tasks[i].id;
		e->stack = stacks[i];
		st->st.frames += e->stack.n;
		st->st.retried += e->stack.tries > 1;
		st->st.changed += e->stack.end == TSC_STACK_CHANGED;
	}
	free(stacks);
	/* Where a task resumes is always the runtime's (the function that switched away), and a
	 * whole stack ends in the runtime's entry frame: runtime frames whatever their names, even
	 * in a stripped binary. */
	if ((err = tsc_idmap_reset(&st->rt_pcs, 64, tsc_hash_key)))
		goto fail;
	for (size_t i = 0; i < st->n; i++) {
		const struct tsc_stack *k = &st->e[i].stack;
		if (k->n && k->pc[0] && (err = tsc_idmap_put(&st->rt_pcs, k->pc[0], 1)))
			goto fail;
		if (k->n && k->pc[k->n - 1] && k->end == TSC_STACK_COMPLETE &&
		    (err = tsc_idmap_put(&st->rt_pcs, k->pc[k->n - 1], 1)))
			goto fail;
	}
	st->st.tasks = st->n;
	st->st.unwind_ns = tsc_now_ns() - t0;
	tsc_unwinder_free(u);
	u = NULL;
	qsort(st->e, st->n, sizeof(*st->e), cmp_entry);

	/* Resolve every address now, so that printing costs nothing and the timing is honest. */
	t0 = tsc_now_ns();
	for (size_t i = 0; i < st->n; i++)
		for (unsigned k = 0; k < st->e[i].stack.n; k++) {
			const struct tsc_sym *s;
			unsigned n = tsc_symbolize(st->sym, st->e[i].stack.pc[k],
						   !(k == 0 && st->e[i].stack.exact_pc0), &s);
			for (unsigned j = 0; j < n; j++)
				learn_runtime_dir(st, &s[j]);
		}
	st->st.symbolize_ns = tsc_now_ns() - t0;
	*out = st;
	return 0;
fail:
	tsc_unwinder_free(u);
	tsc_stacks_free(st);
	return err;
}

void tsc_stacks_free(struct tsc_stacks *st)
{
	if (!st)
		return;
	tsc_symbolizer_free(st->sym);
	tsc_idmap_free(&st->text_at);
	for (size_t i = 0; i < st->ntexts; i++)
		text_free(&st->texts[i], st->texts[i].n);
	free(st->texts);
	tsc_idmap_free(&st->rt_pcs);
	for (unsigned i = 0; i < st->nrt_dirs; i++)
		free(st->rt_dirs[i]);
	free(st->e);
	free(st);
}

int tsc_stacks_read(struct tsc_remote *r, const struct tsc_snapshot *snap,
		    struct tsc_symbolizer *sym, struct tsc_stacks **out)
{
	struct tsc_stacks_stats ss;
	int err = tsc_stacks_collect(r->mem, snap, &r->desc, sym, out);
	int alive = tsc_remote_alive(r), execd = tsc_report_exec(r);
	tsc_remote_close(r);
	if (execd) {
		tsc_stacks_free(*out);
		*out = NULL;
		return execd;
	}
	if (!alive) {
		fprintf(stderr, "taskscope: process %d exited while its stacks were read\n", snap->pid);
		tsc_stacks_free(*out);
		*out = NULL;
		return TSC_EXIT_EXITED;
	}
	if (err) {
		fprintf(stderr, "taskscope: cannot read the stacks of process %d: %s\n", snap->pid,
			strerror(-err));
		*out = NULL;
		return TSC_EXIT_ERROR;
	}
	tsc_stacks_stats(*out, &ss);
	if (ss.unresolved)
		fprintf(stderr, "taskscope: %u frame address(es) of process %d left unresolved: "
			"symbolizing stops after %u distinct addresses or %.0f s\n", ss.unresolved,
			snap->pid, TSC_SYM_MAX_ADDRS, TSC_SYM_MAX_NS / 1e9);
	if (tsc_verbose) {
		fprintf(stderr,
			"taskscope: stacks of %zu tasks, %zu frames: unwound in %.1f ms (%u read "
			"again, %u changed), symbolized in %.1f ms (%u binaries loaded in %.1f ms)\n",
			ss.tasks, ss.frames, ss.unwind_ns / 1e6, ss.retried, ss.changed,
			ss.symbolize_ns / 1e6, ss.binaries, ss.load_ns / 1e6);
	}
	return TSC_EXIT_OK;
}

const struct tsc_stack *tsc_stacks_find(const struct tsc_stacks *st, uint64_t id)
{
	struct entry key = { .id = id };
	const struct entry *e = st ? bsearch(&key, st->e, st->n, sizeof(*st->e), cmp_entry) : NULL;
	return e ? &e->stack : NULL;
}

void tsc_stacks_stats(const struct tsc_stacks *st, struct tsc_stacks_stats *out)
{
	struct tsc_symbolizer_stats ss;
	*out = st->st;
	tsc_symbolizer_stats(st->sym, &ss);
	out->binaries = ss.binaries;
	out->lookups = ss.lookups;
	out->cache_hits = ss.cache_hits;
	out->unresolved = ss.unresolved;
	out->load_ns = ss.load_ns;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* Why a stack stopped short, or NULL when it reached its entry frame. */
static const char *end_text(const struct tsc_stack *s, char *buf, size_t n)
{
	switch (s->end) {
	case TSC_STACK_COMPLETE:
		return NULL;
	case TSC_STACK_TRUNCATED:
		snprintf(buf, n, "... more frames (stopped at %u frames)", s->n);
		return buf;
	case TSC_STACK_BAD_FRAME:
		snprintf(buf, n, "<bad frame pointer 0x%" PRIx64 ": stack ends here>", s->bad_fp);
		return buf;
	case TSC_STACK_UNREADABLE:
		return "<stack unreadable>";
	case TSC_STACK_CHANGED:
		snprintf(buf, n, "<the task ran during each of %u reads of its stack>", s->tries);
		return buf;
	case TSC_STACK_RUNNING:
		return "running";
	case TSC_STACK_NOT_STARTED:
		return "not started";
	case TSC_STACK_GONE:
		return "<finished while its stack was read>";
	case TSC_STACK_UNREGISTERED:
		return "<created after the registry was read: no stack>";
	}
	return "<unknown>";
}

/* Symbol and file names come from the target's files: never let one drive the terminal. */
static char *frame_line(uint64_t pc, const struct tsc_sym *y)
{
	char name[TSC_TEXT_SIZE(256)], file[TSC_TEXT_SIZE(512)], fn[sizeof(name) + 40];
	char where[sizeof(file) + sizeof(name) + 64], *line;
	if (!y->fn) {
		snprintf(fn, sizeof(fn), "??");
	} else {
		tsc_text(name, sizeof(name), y->fn, 256, 0, NULL);
		if (y->inlined)
			snprintf(fn, sizeof(fn), "%s (inlined)", name);
		else
			snprintf(fn, sizeof(fn), "%s+0x%" PRIx64, name, y->fn_off);
	}
	where[0] = 0;
	if (y->file) {
		tsc_text(file, sizeof(file), y->file, 512, 0, NULL);
		snprintf(where, sizeof(where), " (%s:%u)", file, y->line);
	} else if (y->obj) {
		tsc_text(file, sizeof(file), base_name(y->obj), 512, 0, NULL);
		tsc_text(name, sizeof(name), y->build_id ? y->build_id : "", 256, 0, NULL);
		snprintf(where, sizeof(where), " (%s+0x%" PRIx64 "%s%s)", file, y->obj_addr,
			 y->build_id ? " build-id " : "", name);
	}
	return asprintf(&line, "0x%012" PRIx64 " %s%s", pc, fn, where) < 0 ? NULL : line;
}

static void json_str(FILE *f, const char *s)
{
	if (s)
		tsc_json_str(f, s);
	else
		fputs("null", f);
}

/* The JSON objects of the frames at pc; rt[i]: level i is the runtime's. */
static char *frame_json(uint64_t pc, const struct tsc_sym *sym, unsigned n, const bool *rt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	for (unsigned i = 0; i < n; i++) {
		const struct tsc_sym *y = &sym[i];
		fprintf(f, "%s{\"addr\":%" PRIu64 ",\"fn\":", i ? "," : "", pc);
		json_str(f, y->fn);
		fputs(",\"file\":", f);
		json_str(f, y->file);
		if (y->line)
			fprintf(f, ",\"line\":%u", y->line);
		else
			fputs(",\"line\":null", f);
		if (y->fn && !y->inlined)
			fprintf(f, ",\"offset\":%" PRIu64, y->fn_off);
		if (y->inlined)
			fputs(",\"inlined\":true", f);
		if (rt[i])
			fputs(",\"runtime\":true", f);
		fputs(",\"obj\":", f);
		json_str(f, y->obj);
		fprintf(f, ",\"obj_addr\":%" PRIu64 ",\"build_id\":", y->obj_addr);
		json_str(f, y->build_id);
		fputc('}', f);
	}
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * Which levels of the frames at pc are the runtime's: its functions are named ts_* (the API,
 * and ts__* inside), its internal ones are in the same source directory, anything inlined
 * into one of them is its too, and so is an address whose place on a stack says so (rt_pcs).
 */
static void runtime_levels(const struct tsc_stacks *st, uint64_t pc, const struct tsc_sym *sym,
			   unsigned n, bool *rt)
{
	bool outer = tsc_idmap_get(&st->rt_pcs, pc) != NULL;
	for (unsigned i = n; i-- > 0;) {
		outer = outer || (sym[i].fn && !strncmp(sym[i].fn, "ts_", 3)) ||
			in_runtime_dir(st, sym[i].file);
		rt[i] = outer;
	}
}

static void text_free(struct text *t, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		if (t->line)
			free(t->line[k]);
		if (t->rt)
			free(t->rt[k]);
	}
	free(t->line);
	free(t->rt);
	free(t->json);
}

/* The lines of the frames at pc; NULL when out of memory. */
static const struct text *frame_text(struct tsc_stacks *st, uint64_t pc, bool ret)
{
	if (!pc)
		return NULL;
	/* keyed by the address and whether it is a return address (user addresses are below
	 * 2^63: the shift loses nothing) */
	const uint64_t key = pc << 1 | ret;
	const uint64_t *at = tsc_idmap_get(&st->text_at, key);
	if (at)
		return &st->texts[*at];
	if (!st->text_at.cap && tsc_idmap_reset(&st->text_at, 256, tsc_hash_key))
		return NULL;
	if (tsc_grow((void **)&st->texts, &st->texts_cap, st->ntexts + 1, sizeof(*st->texts)))
		return NULL;
	const struct tsc_sym *sym;
	unsigned n = tsc_symbolize(st->sym, pc, ret, &sym);
	if (!n)
		return NULL; /* left unresolved: printed as the address alone, and not kept */
	bool rt[n];
	runtime_levels(st, pc, sym, n, rt);
	struct text nt = { .n = n, .line = calloc(n, sizeof(char *)),
			   .rt = calloc(n, sizeof(char *)), .json = frame_json(pc, sym, n, rt) };
	bool ok = nt.line && nt.rt && nt.json;
	for (unsigned i = 0; ok && i < n; i++) {
		ok = (nt.line[i] = frame_line(pc, &sym[i])) != NULL;
		if (ok && rt[i]) {
			char name[TSC_TEXT_SIZE(256)];
			tsc_text(name, sizeof(name), sym[i].fn ? sym[i].fn : "??", 256, 0, NULL);
			ok = (nt.rt[i] = strdup(name)) != NULL;
		}
	}
	if (!ok || tsc_idmap_put(&st->text_at, key, st->ntexts)) {
		text_free(&nt, n);
		return NULL;
	}
	struct text *t = &st->texts[st->ntexts++];
	*t = nt;
	return t;
}

/* A run of runtime frames #first..#last as one line, named by its outermost function: the
 * call into the runtime that the task made (ts_sleep_ns), or the entry frame. */
static void print_fold(FILE *f, const char *indent, unsigned first, unsigned last,
		       const char *fn)
{
	char num[32];
	if (first == last) {
		snprintf(num, sizeof(num), "#%u", first);
		fprintf(f, "%s%-3s %s (runtime)\n", indent, num, fn);
	} else {
		snprintf(num, sizeof(num), "#%u-%u", first, last);
		fprintf(f, "%s%-3s %s (runtime, %u frames)\n", indent, num, fn, last - first + 1);
	}
}

void tsc_stacks_print(FILE *f, struct tsc_stacks *st, uint64_t id, const char *indent,
		      unsigned flags)
{
	const struct tsc_stack *s = tsc_stacks_find(st, id);
	bool fold = !(flags & TSC_STACKS_ALL_FRAMES);
	const char *fold_fn = NULL; /* a run of runtime frames being folded: its outermost name */
	unsigned fold_first = 0;
	char buf[128];
	unsigned idx = 0;

	if (!s)
		return;
	for (unsigned k = 0; k < s->n; k++) {
		const struct text *t = frame_text(st, s->pc[k], !(k == 0 && s->exact_pc0));
		for (unsigned i = 0; i < (t ? t->n : 1); i++, idx++) {
			if (fold && t && t->rt[i]) {
				if (!fold_fn)
					fold_first = idx;
				fold_fn = t->rt[i];
				continue;
			}
			if (fold_fn)
				print_fold(f, indent, fold_first, idx - 1, fold_fn);
			fold_fn = NULL;
			if (!t) {
				fprintf(f, "%s#%-2u 0x%012" PRIx64 " ??\n", indent, idx, s->pc[k]);
				continue;
			}
			char num[16];
			snprintf(num, sizeof(num), "#%-2u ", idx);
			fputs_unlocked(indent, f);
			fputs_unlocked(num, f);
			fputs_unlocked(t->line[i], f);
			putc_unlocked('\n', f);
		}
	}
	if (fold_fn)
		print_fold(f, indent, fold_first, idx - 1, fold_fn);
	const char *why = end_text(s, buf, sizeof(buf));
	if (why)
		fprintf(f, "%s%s\n", indent, why);
}

void tsc_stacks_json(struct tsc_json *w, struct tsc_stacks *st, uint64_t id)
{
	const struct tsc_stack *s = tsc_stacks_find(st, id);

	tsc_json_key(w, "stack");
	tsc_json_arr(w);
	for (unsigned k = 0; s && k < s->n; k++) {
		const struct text *t = frame_text(st, s->pc[k], !(k == 0 && s->exact_pc0));
		if (t) { /* the frame's objects, made once per address */
			tsc_json_value(w, t->json);
			continue;
		}
		/* left unresolved, or out of memory: the address alone */
		tsc_json_obj(w);
		tsc_json_key(w, "addr");
		tsc_json_u64(w, s->pc[k]);
		tsc_json_key(w, "fn");
		tsc_json_null(w);
		tsc_json_key(w, "file");
		tsc_json_null(w);
		tsc_json_key(w, "line");
		tsc_json_null(w);
		tsc_json_end_obj(w);
	}
	tsc_json_end_arr(w);
	tsc_json_key(w, "stack_end");
	tsc_json_lit(w, s ? tsc_stack_end_name(s->end) : "unknown");
	if (s && s->end == TSC_STACK_BAD_FRAME) { /* any 64-bit value: a string, exact in JSON */
		char fp[24];
		snprintf(fp, sizeof(fp), "0x%" PRIx64, s->bad_fp);
		tsc_json_key(w, "stack_bad_fp");
		tsc_json_lit(w, fp);
	}
}
