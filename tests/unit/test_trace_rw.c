/* SPDX-License-Identifier: MIT */
/*
 * Trace files: writer and reader round trip, cuts at every byte, flipped bytes, unknown
 * records, lost counts, the decompression cap, the state rebuild, and size and speed figures.
 *
 * With --write FILE it is instead the generator the bats tests use: a simulated demo
 * (tests/unit/trace_sim.h) recorded to FILE, optionally with its final state (--truth).
 *   test_trace_rw --write F [--threads N] [--tasks N] [--churn N] [--duration S] [--seed N]
 *                 [--block-events N] [--lost N] [--ext] [--no-footer] [--store] [--truth F]
 *                 [--ready] (READY events where tasks become ready, as the rings give)
 *                 [--stats]
 */
#include "check.h"
#include "trace_sim.h"
#include "trace/format.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* ---- recording a simulation ---- */

struct rec {
	struct tsc_trace_writer *w;
	uint64_t n, block_events, lost_every;
	struct tsc_event *evs;      /* what was written, with owned strings */
	size_t nevs, cap;
	int keep;
	uint64_t lost_pending;
};

static void rec_keep(struct rec *r, const struct tsc_event *ev)
{
	if (r->nevs == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 4096;
		r->evs = realloc(r->evs, r->cap * sizeof(*r->evs));
	}
	struct tsc_event *k = &r->evs[r->nevs++];
	*k = *ev;
	if (ev->type == TSC_EV_CREATE) {
		k->create.name = strdup(ev->create.name);
		k->create.coro = strdup(ev->create.coro);
	} else if (ev->type == TSC_EV_RENAME) {
		k->rename.name = strdup(ev->rename.name);
	}
}

static void rec_emit(void *ctx, const struct tsc_event *ev)
{
	struct rec *r = ctx;
	r->n++;
	/* every lost_every-th switch is "lost": counted, then written as a LOST record */
	if (r->lost_every && ev->type == TSC_EV_SWITCH && r->n % r->lost_every == 0) {
		r->lost_pending++;
		return;
	}
	if (r->lost_pending && r->n % 64 == 0) {
		struct tsc_event l = { .ts_ns = ev->ts_ns, .type = TSC_EV_LOST };
		l.lost.type = TSC_EV_SWITCH;
		l.lost.count = r->lost_pending;
		tsc_trace_lost(r->w, TSC_EV_SWITCH, r->lost_pending, ev->ts_ns);
		if (r->keep)
			rec_keep(r, &l);
		r->lost_pending = 0;
	}
	tsc_trace_event(r->w, ev);
	if (r->keep)
		rec_keep(r, ev);
	if (r->block_events && r->n % r->block_events == 0)
		tsc_trace_flush(r->w);
}

static void rec_free(struct rec *r)
{
	for (size_t i = 0; i < r->nevs; i++) {
		if (r->evs[i].type == TSC_EV_CREATE) {
			free((void *)r->evs[i].create.name);
			free((void *)r->evs[i].create.coro);
		} else if (r->evs[i].type == TSC_EV_RENAME) {
			free((void *)r->evs[i].rename.name);
		}
	}
	free(r->evs);
}

struct gen_opts {
	int threads, tasks, churn, ext, no_footer, store, ready;
	double duration;
	uint32_t seed;
	uint64_t block_events, lost_every;
	const char *binary, *program; /* binary NULL: /usr/bin/taskscope-demo */
	double early;               /* seconds of the simulation before the file begins */
};

static int record_sim(const char *path, const struct gen_opts *o, struct sim *s, struct rec *r)
{
	int err;
	sim_init(s, o->threads, o->tasks, o->churn, o->duration, o->seed);
	s->ready = o->ready;
	r->block_events = o->block_events;
	r->lost_every = o->lost_every;
	/* as record does: the snapshot and the first events are older than the file's header */
	for (struct timespec now; o->early > 0;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec >
		    s->t0 + (uint64_t)(o->early * 1e9))
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	err = tsc_trace_open(path, 4242, o->binary ? o->binary : "/usr/bin/taskscope-demo",
			     o->program, &s->snap, &r->w);
	if (err)
		return err;
	if (o->store)
		tsc_trace_set_compression(r->w, 0);
	s->emit = rec_emit;
	s->ctx = r;
	struct tsc_event start = { .ts_ns = s->t0, .type = TSC_EV_THREAD_START, .tid = 4242 };
	(void)start;
	uint64_t next_flush = s->t0 + 1000000000ull;
	int ext_done = !o->ext;
	while (sim_step(s)) {
		uint64_t now = s->th[0].now;
		if (!o->block_events && now >= next_flush) { /* the recorder's once-a-second flush */
			tsc_trace_flush(r->w);
			next_flush += 1000000000ull;
		}
		if (!ext_done && r->n > 20) {
			tsc_trace_ext(r->w, 20, "future", 6);
			ext_done = 1;
		}
	}
	if (r->lost_pending) {
		struct tsc_event l = { .ts_ns = s->end, .type = TSC_EV_LOST };
		l.lost.type = TSC_EV_SWITCH;
		l.lost.count = r->lost_pending;
		tsc_trace_lost(r->w, TSC_EV_SWITCH, r->lost_pending, s->end);
		if (r->keep)
			rec_keep(r, &l);
		r->lost_pending = 0;
	}
	if (o->no_footer) {
		err = tsc_trace_flush(r->w); /* then die, as if killed after a flush */
		tsc_trace_abandon(r->w);
		r->w = NULL;
		return err;
	}
	err = tsc_trace_close(r->w);
	r->w = NULL;
	return err;
}

/* The simulation's own idea of the final state, in `ps --json`'s shape. */
static void write_truth(const char *path, struct sim *s)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "{\"pid\":4242,\"threads\":[");
	for (int i = 0; i < s->nthreads; i++) {
		fprintf(f, "%s{\"tid\":%d,\"current\":", i ? "," : "", s->th[i].tid);
		if (s->th[i].current)
			fprintf(f, "%llu}", (unsigned long long)s->th[i].current);
		else
			fprintf(f, "null}");
	}
	fprintf(f, "],\"tasks\":[");
	int first = 1;
	for (uint64_t id = 1; id <= s->ntasks; id++) {
		struct sim_task *t = &s->tasks[id];
		if (t->state >= TS_DONE)
			continue;
		fprintf(f, "%s{\"id\":%llu,\"name\":\"%s\",\"coro\":\"%s\",\"state\":\"%s\","
			   "\"thread\":%d,\"parent\":",
			first ? "" : ",", (unsigned long long)id, t->name, t->coro,
			ts_state_name(t->state), s->th[t->thread].tid);
		if (t->parent)
			fprintf(f, "%llu", (unsigned long long)t->parent);
		else
			fprintf(f, "null");
		/* as `ps --json`: a wait reason only while waiting, else "none" */
		fprintf(f, ",\"awaiting\":[");
		if (t->state == TS_WAITING && t->wait == TS_WAIT_AWAIT)
			fprintf(f, "%llu", (unsigned long long)t->wait_obj);
		fprintf(f, "],\"wait\":\"%s\"}",
			t->state == TS_WAITING ? ts_wait_name(t->wait) : "none");
		first = 0;
	}
	fprintf(f, "]}\n");
	fclose(f);
}

static int generate(int argc, char **argv)
{
	struct gen_opts o = { .threads = 2, .tasks = 4, .churn = 1000, .duration = 1, .seed = 1 };
	const char *out = NULL, *truth = NULL;
	int stats = 0;
	static const struct option lo[] = {
		{ "write", 1, 0, 'w' },   { "threads", 1, 0, 't' },  { "tasks", 1, 0, 'k' },
		{ "churn", 1, 0, 'c' },   { "duration", 1, 0, 'd' }, { "seed", 1, 0, 's' },
		{ "block-events", 1, 0, 'b' }, { "lost", 1, 0, 'l' }, { "ext", 0, 0, 'e' },
		{ "no-footer", 0, 0, 'n' }, { "truth", 1, 0, 'T' },  { "stats", 0, 0, 'S' },
		{ "store", 0, 0, 'z' },   { "binary", 1, 0, 'B' },   { "program", 1, 0, 'P' },
		{ "early", 1, 0, 'E' },   { "ready", 0, 0, 'r' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'w': out = optarg; break;
		case 't': o.threads = atoi(optarg); break;
		case 'k': o.tasks = atoi(optarg); break;
		case 'c': o.churn = atoi(optarg); break;
		case 'd': o.duration = atof(optarg); break;
		case 's': o.seed = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'b': o.block_events = strtoull(optarg, NULL, 0); break;
		case 'l': o.lost_every = strtoull(optarg, NULL, 0); break;
		case 'e': o.ext = 1; break;
		case 'n': o.no_footer = 1; break;
		case 'T': truth = optarg; break;
		case 'S': stats = 1; break;
		case 'z': o.store = 1; break;
		case 'B': o.binary = optarg; break;
		case 'P': o.program = optarg; break;
		case 'E': o.early = atof(optarg); break;
		case 'r': o.ready = 1; break;
		default: return 2;
		}
	}
	if (!out || o.threads < 1 || o.threads > SIM_MAX_THREADS) {
		fprintf(stderr, "usage: %s --write FILE [options]\n", argv[0]);
		return 2;
	}
	struct sim s;
	struct rec r = { 0 };
	int err = record_sim(out, &o, &s, &r);
	if (err) {
		fprintf(stderr, "recording %s: %s\n", out, strerror(-err));
		return 1;
	}
	if (truth)
		write_truth(truth, &s);
	if (stats) {
		struct stat st;
		uint64_t n = 0;
		for (int i = 1; i < TSC_EV_NR; i++)
			n += s.emitted[i];
		stat(out, &st);
		printf("events %llu bytes %lld bytes/event %.3f\n", (unsigned long long)n,
		       (long long)st.st_size, (double)st.st_size / (double)n);
	}
	for (int i = 1; i <= TSC_EV_EVENTS_NR; i++)
		fprintf(stderr, "emitted %s %llu\n", tsc_ev_name((uint32_t)i),
			(unsigned long long)s.emitted[i]);
	sim_free(&s);
	return 0;
}

/* ---- tests ---- */

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
	static char p[512];
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	return p;
}

static void *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	void *b = malloc((size_t)n + 1);
	*len = fread(b, 1, (size_t)n, f);
	fclose(f);
	return b;
}

static int same_event(const struct tsc_event *a, const struct tsc_event *b)
{
	if (a->type != b->type || a->ts_ns != b->ts_ns || a->tid != b->tid)
		return 0;
	switch (a->type) {
	case TSC_EV_CREATE:
		return a->create.id == b->create.id && a->create.parent == b->create.parent &&
		       !strcmp(a->create.name, b->create.name) &&
		       !strcmp(a->create.coro, b->create.coro) &&
		       a->create.loop_tid == b->create.loop_tid;
	case TSC_EV_SWITCH:
		return a->sw.prev == b->sw.prev && a->sw.next == b->sw.next;
	case TSC_EV_FINISH:
		return a->finish.id == b->finish.id && a->finish.outcome == b->finish.outcome;
	case TSC_EV_RENAME:
		return a->rename.id == b->rename.id && !strcmp(a->rename.name, b->rename.name);
	case TSC_EV_WAIT:
		return a->wait.id == b->wait.id && a->wait.reason == b->wait.reason &&
		       a->wait.object == b->wait.object;
	case TSC_EV_THREAD_START:
	case TSC_EV_THREAD_STOP:
		return a->thread.loop == b->thread.loop && a->thread.tid == b->thread.tid;
	case TSC_EV_LOST:
		return a->lost.type == b->lost.type && a->lost.count == b->lost.count;
	case TSC_EV_EXEC:
		return !strcmp(a->exec.file, b->exec.file);
	case TSC_EV_READY:
		return a->ready.id == b->ready.id;
	}
	return 0;
}

static int nwarn;
static char last_warn[512];
static void count_warn(void *ctx, const char *msg)
{
	(void)ctx;
	nwarn++;
	snprintf(last_warn, sizeof(last_warn), "%s", msg);
}

/* Read buf[0, len); every event must equal want[i]. Returns the reader's final status and
 * sets *n to the events delivered (-1 if one differed). */
static int read_compare(const void *buf, size_t len, const struct tsc_event *want, size_t nwant,
			long *n, char *msg, size_t msgsize)
{
	struct tsc_trace_reader *r = tsc_trace_reader_new(count_warn, NULL);
	struct tsc_event ev;
	int rc = tsc_trace_reader_open_mem(r, buf, len);
	*n = 0;
	while (rc == 0 && (rc = tsc_trace_next(r, &ev)) == 1) {
		if ((size_t)*n >= nwant || !same_event(&ev, &want[*n])) {
			*n = -1;
			break;
		}
		++*n;
		rc = 0;
	}
	if (msg)
		snprintf(msg, msgsize, "%s", tsc_trace_reader_error(r));
	tsc_trace_reader_free(r);
	return rc;
}

static const struct gen_opts small_opts = { .threads = 2, .tasks = 4, .churn = 300,
					    .duration = 0.03, .seed = 7, .block_events = 40 };

/* The file at path, read whole and checked: every event as r kept it. Returns its bytes. */
static void *read_back(const char *path, const struct rec *r, size_t *len)
{
	void *buf = slurp(path, len);
	long n;
	char msg[512];
	int rc = read_compare(buf, *len, r->evs, r->nevs, &n, msg, sizeof(msg));
	if (rc)
		printf("#   %s\n", msg);
	CHECK_EQ(rc, 0);
	CHECK_EQ(n, (long)r->nevs);
	return buf;
}

TEST(round_trip)
{
	struct gen_opts o = { .threads = 3, .tasks = 5, .churn = 2000, .duration = 2, .seed = 3,
			      .lost_every = 5000, .program = "/opt/app/r\xc3\xa9seau" };
	struct sim s;
	struct rec r = { .keep = 1 };
	const char *path = tmp_path("rt.tsc");
	CHECK_EQ(record_sim(path, &o, &s, &r), 0);
	size_t len;
	void *buf = read_back(path, &r, &len);
	CHECK(r.nevs > 10000);

	/* the snapshot comes back whole */
	struct tsc_trace_reader *rd = tsc_trace_reader_new(NULL, NULL);
	CHECK_EQ(tsc_trace_reader_open_mem(rd, buf, len), 0);
	const struct tsc_snapshot *sn = tsc_trace_snapshot(rd);
	CHECK_EQ(sn->ntasks, s.snap.ntasks);
	CHECK_EQ(sn->nthreads, s.snap.nthreads);
	for (size_t i = 0; i < sn->ntasks && i < s.snap.ntasks; i++) {
		CHECK_EQ(sn->tasks[i].id, s.snap.tasks[i].id);
		CHECK_STR(sn->tasks[i].name, s.snap.tasks[i].name);
		CHECK_STR(sn->tasks[i].coro, s.snap.tasks[i].coro);
		CHECK_EQ(sn->tasks[i].wait_obj, s.snap.tasks[i].wait_obj);
		CHECK_EQ(sn->tasks[i].tid, s.snap.tasks[i].tid);
	}
	CHECK_EQ(tsc_trace_header(rd)->pid, 4242);
	CHECK_STR(tsc_trace_header(rd)->binary, "/usr/bin/taskscope-demo");
	CHECK_STR(tsc_trace_header(rd)->program, "/opt/app/r\xc3\xa9seau");
	CHECK_STR(tsc_trace_process_name(tsc_trace_header(rd)), "r\xc3\xa9seau");
	struct tsc_event ev;
	while (tsc_trace_next(rd, &ev) == 1)
		;
	const struct tsc_trace_rstats *st = tsc_trace_stats(rd);
	CHECK(st->footer);
	CHECK(st->lost[TSC_EV_SWITCH] > 0);
	/* recorded + lost == emitted, per type */
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++)
		CHECK_EQ(st->events[t] + st->lost[t], s.emitted[t]);
	tsc_trace_reader_free(rd);

	/* bytes per event, on this demo-like stream */
	uint64_t total = 0;
	for (int t = 1; t <= TSC_EV_EVENTS_NR; t++)
		total += s.emitted[t];
	printf("# %llu events in %zu bytes: %.3f bytes/event\n", (unsigned long long)total, len,
	       (double)len / (double)total);
	CHECK((double)len / (double)total <= 4.0);
	free(buf);
	rec_free(&r);
	sim_free(&s);
}

TEST(mode_0600)
{
	struct tsc_trace_writer *w;
	struct stat st;
	const char *path = tmp_path("mode.tsc");
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	CHECK(fd >= 0);
	close(fd);
	chmod(path, 0644);
	mode_t old = umask(0);
	CHECK_EQ(tsc_trace_open(path, 1, NULL, NULL, NULL, &w), 0);
	umask(old);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ(tsc_trace_close(w), 0);
	unlink(path);
	CHECK_EQ(tsc_trace_open(path, 1, NULL, NULL, NULL, &w), 0);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ(tsc_trace_close(w), 0);
}

/* Offsets where blocks end, and the events before each, from a whole read. */
static size_t block_ends(const void *buf, size_t len, uint64_t *ends, uint64_t *counts, size_t max)
{
	struct tsc_trace_reader *r = tsc_trace_reader_new(count_warn, NULL);
	struct tsc_event ev;
	struct tsc_trace_pos pos;
	size_t nb = 0;
	uint64_t n = 0, cur_end = 0;
	tsc_trace_reader_open_mem(r, buf, len);
	while (tsc_trace_next(r, &ev) == 1) {
		tsc_trace_position(r, &pos);
		if (pos.end != cur_end) {
			if (cur_end && nb < max) {
				ends[nb] = cur_end;
				counts[nb++] = n;
			}
			cur_end = pos.end;
		}
		n++;
	}
	if (nb < max) {
		ends[nb] = cur_end;
		counts[nb++] = n;
	}
	tsc_trace_reader_free(r);
	return nb;
}

TEST(cut_at_every_offset)
{
	struct sim s;
	struct rec r = { .keep = 1 };
	const char *path = tmp_path("small.tsc");
	CHECK_EQ(record_sim(path, &small_opts, &s, &r), 0);
	size_t len;
	uint8_t *buf = slurp(path, &len);
	uint64_t ends[4096], counts[4096];
	size_t nb = block_ends(buf, len, ends, counts, 4096);
	CHECK(nb >= 5);
	printf("# small trace: %zu bytes, %zu events, %zu blocks\n", len, r.nevs, nb);
	int bad = 0;
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1); /* exactly cut bytes: ASan sees overreads */
		memcpy(copy, buf, cut);
		long n;
		char msg[512];
		int rc = read_compare(copy, cut, r.evs, r.nevs, &n, msg, sizeof(msg));
		uint64_t want = 0;
		for (size_t b = 0; b < nb; b++)
			if (ends[b] <= cut)
				want = counts[b];
		if (rc >= 0 || n < 0 || (uint64_t)n != want || !msg[0]) {
			if (bad++ < 5)
				printf("#   cut %zu: rc %d, %ld events (want %llu): %s\n", cut, rc, n,
				       (unsigned long long)want, msg);
		}
		free(copy);
	}
	CHECK_EQ(bad, 0);
	free(buf);
	rec_free(&r);
	sim_free(&s);
}

TEST(flipped_bits)
{
	struct sim s;
	struct rec r = { .keep = 1 };
	const char *path = tmp_path("small.tsc");
	CHECK_EQ(record_sim(path, &small_opts, &s, &r), 0);
	size_t len;
	uint8_t *buf = slurp(path, &len);
	int bad = 0;
	for (size_t off = 0; off < len; off++) {
		for (int bit = 0; bit < 8; bit += 3) {
			buf[off] ^= (uint8_t)(1 << bit);
			long n;
			char msg[512];
			int rc = read_compare(buf, len, r.evs, r.nevs, &n, msg, sizeof(msg));
			if (rc >= 0 || n < 0) {
				if (bad++ < 5)
					printf("#   flip %zu.%d: rc %d, %ld events: %s\n", off, bit, rc,
					       n, msg);
			}
			buf[off] ^= (uint8_t)(1 << bit);
		}
	}
	CHECK_EQ(bad, 0);
	free(buf);
	rec_free(&r);
	sim_free(&s);
}

TEST(unknown_record_skipped)
{
	struct gen_opts o = small_opts;
	o.ext = 1;
	struct sim s;
	struct rec r = { .keep = 1 };
	const char *path = tmp_path("ext.tsc");
	CHECK_EQ(record_sim(path, &o, &s, &r), 0);
	size_t len;
	void *buf = slurp(path, &len);
	long n;
	nwarn = 0;
	CHECK_EQ(read_compare(buf, len, r.evs, r.nevs, &n, NULL, 0), 0);
	CHECK_EQ(n, (long)r.nevs);
	CHECK_EQ(nwarn, 1);
	CHECK(strstr(last_warn, "record type 20") != NULL);
	free(buf);
	rec_free(&r);
	sim_free(&s);
}

/* A simulation with READY events on three threads, small blocks (so that many a ready is a
 * block's first record, or names a thread not in its block yet), and lost switches: every
 * event back as written, and READY changes nothing of what the other records decode to. */
TEST(round_trip_with_ready)
{
	struct gen_opts o = { .threads = 3, .tasks = 5, .churn = 2000, .duration = 0.5, .seed = 7,
			      .lost_every = 5000, .block_events = 97, .ready = 1 };
	struct sim s;
	struct rec r = { .keep = 1 };
	const char *path = tmp_path("rt-ready.tsc");
	CHECK_EQ(record_sim(path, &o, &s, &r), 0);
	CHECK(s.emitted[TSC_EV_READY] > 1000);
	size_t len;
	free(read_back(path, &r, &len));
	rec_free(&r);
	sim_free(&s);
}

/* An exec record (a 1.1 extension) reads back as an exec event, the last of the trace, and
 * ends every task and loop of the old program. */
TEST(exec_record)
{
	const char *path = tmp_path("exec.tsc");
	struct tsc_trace_writer *w;
	struct tsc_event want[3] = {
		{ .ts_ns = 1000, .type = TSC_EV_CREATE, .tid = 7,
		  .create = { .id = 5, .parent = 0, .name = "a", .coro = "f", .loop_tid = 7 } },
		{ .ts_ns = 1100, .type = TSC_EV_SWITCH, .tid = 7, .sw = { .prev = 0, .next = 5 } },
		{ .ts_ns = 1200, .type = TSC_EV_EXEC, .tid = 7, .exec = { .file = "/usr/bin/next" } },
	};
	CHECK_EQ(tsc_trace_open(path, 7, "/usr/bin/first", NULL, NULL, &w), 0);
	CHECK_EQ(tsc_trace_event(w, &want[0]), 0);
	CHECK_EQ(tsc_trace_event(w, &want[1]), 0);
	CHECK_EQ(tsc_trace_exec(w, 1200, 7, "/usr/bin/next"), 0);
	CHECK_EQ(tsc_trace_close(w), 0);
	size_t len;
	void *buf = slurp(path, &len);
	long n;
	nwarn = 0;
	CHECK_EQ(read_compare(buf, len, want, 3, &n, NULL, 0), 0);
	CHECK_EQ(n, 3L);
	CHECK_EQ(nwarn, 0);
	struct tsc_tstate st;
	CHECK_EQ(tsc_tstate_init(&st, NULL), 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(tsc_tstate_apply(&st, &want[i]), 0);
	CHECK(tsc_tstate_task(&st, 5)->live && tsc_tstate_thread(&st, 7)->live);
	CHECK_EQ(tsc_tstate_apply(&st, &want[2]), 0);
	CHECK(!tsc_tstate_task(&st, 5)->live && !tsc_tstate_thread(&st, 7)->live);
	CHECK_EQ(tsc_tstate_task(&st, 5)->cpu_ns, 100u);
	tsc_tstate_free(&st);
	free(buf);
}

/* A ready record (a 1.3 extension) reads back as a ready event, leaves the times of the
 * records after it alone, and with the switches around it gives the scheduling latencies:
 * ready -> switch in, a yield's wait -> switch in; a ready whose switch in never came is
 * forgotten at the task's next (non-yield) wait. */
TEST(ready_record_and_latency)
{
	const char *path = tmp_path("ready.tsc");
	struct tsc_trace_writer *w;
	struct tsc_event want[] = {
		{ .ts_ns = 1000, .type = TSC_EV_CREATE, .tid = 7,
		  .create = { .id = 5, .parent = 0, .name = "a", .coro = "f", .loop_tid = 7 } },
		{ .ts_ns = 1010, .type = TSC_EV_READY, .tid = 7, .ready = { .id = 5 } },
		{ .ts_ns = 1100, .type = TSC_EV_SWITCH, .tid = 7, .sw = { .prev = 0, .next = 5 } },
		{ .ts_ns = 1200, .type = TSC_EV_WAIT, .tid = 7,
		  .wait = { .id = 5, .reason = TS_WAIT_YIELD } },
		{ .ts_ns = 1200, .type = TSC_EV_SWITCH, .tid = 7, .sw = { .prev = 5, .next = 0 } },
		{ .ts_ns = 1500, .type = TSC_EV_SWITCH, .tid = 7, .sw = { .prev = 0, .next = 5 } },
		{ .ts_ns = 1600, .type = TSC_EV_WAIT, .tid = 7,
		  .wait = { .id = 5, .reason = TS_WAIT_EVENT, .object = 9 } },
		{ .ts_ns = 1600, .type = TSC_EV_SWITCH, .tid = 7, .sw = { .prev = 5, .next = 0 } },
		{ .ts_ns = 1700, .type = TSC_EV_READY, .tid = 7, .ready = { .id = 5 } },
		/* its switch in lost; the task waits again, then is switched in with no ready */
		{ .ts_ns = 1800, .type = TSC_EV_WAIT, .tid = 7,
		  .wait = { .id = 5, .reason = TS_WAIT_EVENT, .object = 9 } },
		{ .ts_ns = 1900, .type = TSC_EV_SWITCH, .tid = 7, .sw = { .prev = 0, .next = 5 } },
		/* on a thread not in the block's table: named whole, and not added to it */
		{ .ts_ns = 1950, .type = TSC_EV_READY, .tid = 8, .ready = { .id = 6 } },
		{ .ts_ns = 1960, .type = TSC_EV_SWITCH, .tid = 8, .sw = { .prev = 0, .next = 6 } },
	};
	size_t nw = sizeof(want) / sizeof(want[0]);
	CHECK_EQ(tsc_trace_open(path, 7, "/usr/bin/first", NULL, NULL, &w), 0);
	for (size_t i = 0; i < nw; i++)
		CHECK_EQ(tsc_trace_event(w, &want[i]), 0);
	CHECK_EQ(tsc_trace_close(w), 0);
	size_t len;
	void *buf = slurp(path, &len);
	long n;
	nwarn = 0;
	CHECK_EQ(read_compare(buf, len, want, nw, &n, NULL, 0), 0);
	CHECK_EQ(n, (long)nw);
	CHECK_EQ(nwarn, 0);
	struct tsc_tstate st;
	CHECK_EQ(tsc_tstate_init(&st, NULL), 0);
	tsc_tstate_keep_latency(&st);
	for (size_t i = 0; i < nw; i++)
		CHECK_EQ(tsc_tstate_apply(&st, &want[i]), 0);
	struct tsc_tstate_thread *th = tsc_tstate_thread(&st, 7);
	CHECK(th != NULL);
	CHECK_EQ(th->ready_events, 2u);
	struct tsc_lat_figs f;
	tsc_lat_figs(&th->latency, &f);
	CHECK_EQ(f.count, 2u); /* 90 (ready -> run) and 300 (yield -> run) */
	CHECK_EQ(f.p50, 90u);
	CHECK_EQ(f.max, 300u);
	th = tsc_tstate_thread(&st, 8);
	CHECK(th != NULL);
	tsc_lat_figs(&th->latency, &f);
	CHECK_EQ(f.count, 1u);
	CHECK_EQ(f.max, 10u);
	tsc_tstate_free(&st);
	free(buf);
}

/* Exact nearest-rank percentiles, samples of 4.29 s and more included; the count and the max
 * stay exact past what is kept. */
TEST(latency_percentiles)
{
	struct tsc_lat l = { 0 };
	struct tsc_lat_figs f;
	tsc_lat_figs(&l, &f);
	CHECK_EQ(f.count, 0u);
	CHECK_EQ(f.max, 0u);
	for (uint64_t i = 100; i >= 1; i--) /* 1..100, backwards */
		CHECK_EQ(tsc_lat_add(&l, i * 1000, 1), 1);
	tsc_lat_figs(&l, &f);
	CHECK_EQ(f.count, 100u);
	CHECK_EQ(f.p50, 50000u);
	CHECK_EQ(f.p99, 99000u);
	CHECK_EQ(f.max, 100000u);
	/* two samples above 2^32 ns: they rank above every small one */
	CHECK_EQ(tsc_lat_add(&l, 6000000000ull, 1), 1);
	CHECK_EQ(tsc_lat_add(&l, 5000000000ull, 1), 1);
	tsc_lat_figs(&l, &f);
	CHECK_EQ(f.count, 102u);
	CHECK_EQ(f.p99, 5000000000ull); /* the 101st of 102 */
	CHECK_EQ(f.max, 6000000000ull);
	/* one counted, not kept */
	CHECK_EQ(tsc_lat_add(&l, 7000000000ull, 0), 0);
	tsc_lat_figs(&l, &f);
	CHECK_EQ(f.count, 103u);
	CHECK_EQ(f.kept, 102u);
	CHECK_EQ(f.max, 7000000000ull);
	tsc_lat_free(&l);
}

/* Rewrite the first events block's header with new raw_len and codec, fixing its CRC. */
static size_t first_block(uint8_t *buf, size_t len)
{
	uint32_t hsize = tf_get32(buf + TF_HDR_OFF_SIZE);
	size_t off = hsize;
	/* skip the snapshot chunk */
	off += tf_get16(buf + off + TF_CH_OFF_HDRLEN) + tf_get32(buf + off + TF_CH_OFF_PAYLOAD);
	return off < len ? off : 0;
}

static void fix_crc(uint8_t *c)
{
	uint16_t hlen = tf_get16(c + TF_CH_OFF_HDRLEN);
	uint32_t plen = tf_get32(c + TF_CH_OFF_PAYLOAD);
	uint32_t crc = (uint32_t)crc32(0, c + 8, hlen - 8);
	crc = (uint32_t)crc32(crc, c + hlen, plen);
	tf_put32(c + TF_CH_OFF_CRC, crc);
}

TEST(decompression_capped)
{
	struct sim s;
	struct rec r = { .keep = 1 };
	const char *path = tmp_path("small.tsc");
	CHECK_EQ(record_sim(path, &small_opts, &s, &r), 0);
	size_t len;
	uint8_t *buf = slurp(path, &len);
	size_t off = first_block(buf, len);
	CHECK(off > 0);
	uint8_t *c = buf + off;
	CHECK_EQ(c[TF_CH_OFF_CODEC], TF_CODEC_ZLIB);
	uint32_t plen = tf_get32(c + TF_CH_OFF_PAYLOAD);
	/* a block claiming more than the ratio allows is refused before any allocation */
	tf_put32(c + TF_CH_OFF_RAW, plen * (TF_RATIO_MAX + 1) + 8192);
	fix_crc(c);
	long n;
	char msg[512];
	CHECK(read_compare(buf, len, r.evs, r.nevs, &n, msg, sizeof(msg)) < 0);
	CHECK(strstr(msg, "ratio") != NULL);
	CHECK_EQ(n, 0);
	/* one claiming less than it inflates to is refused too */
	tf_put32(c + TF_CH_OFF_RAW, 10);
	fix_crc(c);
	CHECK(read_compare(buf, len, r.evs, r.nevs, &n, msg, sizeof(msg)) < 0);
	CHECK(strstr(msg, "decompress") != NULL);
	free(buf);
	rec_free(&r);
	sim_free(&s);
}

TEST(no_footer)
{
	struct gen_opts o = small_opts;
	o.no_footer = 1;
	struct sim s;
	struct rec r = { .keep = 1 };
	const char *path = tmp_path("nofooter.tsc");
	CHECK_EQ(record_sim(path, &o, &s, &r), 0);
	size_t len;
	void *buf = slurp(path, &len);
	long n;
	char msg[512];
	CHECK_EQ(read_compare(buf, len, r.evs, r.nevs, &n, msg, sizeof(msg)), -ENODATA);
	CHECK_EQ(n, (long)r.nevs); /* everything flushed is there */
	CHECK(strstr(msg, "without a footer") != NULL);
	free(buf);
	rec_free(&r);
	sim_free(&s);
}

TEST(state_rebuild)
{
	struct tsc_snapshot snap = { .pid = 9, .taken_ns = 1000 };
	struct tsc_thread th[1] = { { .tid = 9, .loop_id = 1, .current = 0 } };
	struct tsc_task tk[1] = { { .id = 1, .name = "Task-1", .coro = "main", .state = TS_WAITING,
				    .wait = TS_WAIT_SLEEP, .tid = 9 } };
	snap.threads = th, snap.nthreads = 1, snap.tasks = tk, snap.ntasks = 1;
	struct tsc_tstate s;
	CHECK_EQ(tsc_tstate_init(&s, &snap), 0);
	struct tsc_event e[] = {
		{ .ts_ns = 2000, .type = TSC_EV_SWITCH, .tid = 9, .sw = { 0, 1 } },
		{ .ts_ns = 2100, .type = TSC_EV_CREATE, .tid = 9,
		  .create = { 2, 1, "Task-2", "child", 9 } },
		{ .ts_ns = 2200, .type = TSC_EV_WAIT, .tid = 9, .wait = { 1, 2, TS_WAIT_AWAIT } },
		{ .ts_ns = 2300, .type = TSC_EV_SWITCH, .tid = 9, .sw = { 1, 2 } },
		{ .ts_ns = 2400, .type = TSC_EV_RENAME, .tid = 9, .rename = { 2, "renamed" } },
		{ .ts_ns = 3300, .type = TSC_EV_FINISH, .tid = 9, .finish = { 2, TS_DONE } },
		{ .ts_ns = 3400, .type = TSC_EV_SWITCH, .tid = 9, .sw = { 2, 1 } },
	};
	for (int i = 0; i < 4; i++)
		CHECK_EQ(tsc_tstate_apply(&s, &e[i]), 0);
	struct tsc_tstate_task *t1 = tsc_tstate_task(&s, 1), *t2 = tsc_tstate_task(&s, 2);
	CHECK(t1 && t2);
	CHECK_EQ(t1->state, TS_WAITING);
	CHECK_EQ(t1->wait, TS_WAIT_AWAIT);
	CHECK_EQ(t1->wait_obj, 2);
	CHECK_EQ(t1->cpu_ns, 300);
	CHECK_EQ(t2->state, TS_RUNNING);
	CHECK_EQ(tsc_tstate_thread(&s, 9)->current, 2);
	for (int i = 4; i < 7; i++)
		CHECK_EQ(tsc_tstate_apply(&s, &e[i]), 0);
	CHECK_STR(t2->name, "renamed");
	CHECK_EQ(t2->live, 0);
	CHECK_EQ(t2->cpu_ns, 1100);
	CHECK_EQ(t2->finished_ns, 3300);
	CHECK_EQ(t1->state, TS_RUNNING);
	CHECK_EQ(t1->wait, TS_WAIT_NONE);
	CHECK_EQ(t1->waits[TS_WAIT_AWAIT], 1);
	tsc_tstate_free(&s);
}

TEST(read_speed)
{
	struct gen_opts o = { .threads = 4, .tasks = 6, .churn = 5000, .duration = 2, .seed = 5 };
	struct sim s;
	struct rec r = { 0 };
	const char *path = tmp_path("speed.tsc");
	CHECK_EQ(record_sim(path, &o, &s, &r), 0);
	size_t len;
	void *buf = slurp(path, &len);
	struct timespec a, b;
	uint64_t n = 0;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int k = 0; k < 5; k++) {
		struct tsc_trace_reader *rd = tsc_trace_reader_new(NULL, NULL);
		struct tsc_event ev;
		tsc_trace_reader_open_mem(rd, buf, len);
		while (tsc_trace_next(rd, &ev) == 1)
			n++;
		tsc_trace_reader_free(rd);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double sec = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("# decoded %llu events in %.3f s: %.1f M events/s\n", (unsigned long long)n, sec,
	       (double)n / sec / 1e6);
	CHECK(n > 0);
	free(buf);
	sim_free(&s);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return generate(argc, argv);
	snprintf(tmpdir, sizeof(tmpdir), "%s/tsc-trace-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(round_trip);
	RUN(mode_0600);
	RUN(cut_at_every_offset);
	RUN(flipped_bits);
	RUN(unknown_record_skipped);
	RUN(exec_record);
	RUN(round_trip_with_ready);
	RUN(ready_record_and_latency);
	RUN(latency_percentiles);
	RUN(decompression_capped);
	RUN(no_footer);
	RUN(state_rebuild);
	RUN(read_speed);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd)) {
	}
	return DONE();
}
