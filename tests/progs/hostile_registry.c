/* SPDX-License-Identifier: MIT */
/*
 * hostile_registry: a victim whose registry, as outside readers see it, is an attack.
 *
 *   hostile_registry MODE [--tasks N] [--truth FILE]
 *
 * Runs the real runtime: N tasks (default 4) named "real-K" parked on the ts_run loop, and the
 * main task, which wakes every 20 ms and prints "alive" on SIGUSR1 (the runtime still runs).
 * Once they all sleep it writes FILE (id and name of each real task, one JSON line each),
 * builds the attack, prints "ready" and waits to be read. The attacks never touch what the
 * runtime itself uses: they point the debug descriptor (which only readers read) at a fake
 * loop table, fake loops and fake tasks made of copies of the real ones, then damage those.
 * What a reader must do about each: tests/bats/24-hostile-registry.bats.
 *
 *   loops       256 loop slots, each claiming a 2^20-entry task array (2^28 tasks)
 *   dup         one loop's array: the real tasks repeated to 2^20 entries
 *   oddseq      a task whose seq stays odd, 200,000 times in the array, and 5,000 more
 *   coros       60,000 tasks, each with its own coroutine name; a few names unterminated
 *               before an unmapped page, unreadable, or 4 KiB long
 *   bogus       loop and task pointers that are NULL, unmapped, kernel, misaligned, or point
 *               at the table, the descriptor, an array, a loop (the loop table reads as a
 *               loop on no thread; a loop's task array is the loop table)
 *   frames      5,000 tasks of 60 frames each, every return address a different one
 *   cycle       await cycles, a self-await, a parent cycle, a 20,000-task await chain, 20,000
 *               awaits of ids nobody has, unknown states and wait reasons, looping and
 *               endless frame-pointer chains
 *   desc        task fields at the end of a 64 KiB task, 8,000 copies of its pointer
 *   desc-name   a name_max of 4000 bytes
 *   desc-loops  a max_loops of 65536
 *   ids         ids 0 and past the next id, a parent past it, loop threads not the process's
 *   gen         a loop generation stuck odd (a 2^20-entry array under it)
 *   gen-moving  a loop generation that moves all the time (a 2^20-entry array under it)
 *   gen-table   the loop table's generation stuck odd
 */
#include "../../src/runtime/internal.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

extern struct ts_debug_desc ts__debug_desc;

static int ntasks = 4;
static const char *mode, *truth;
static ts_task **real;
static ts_loop *real_loop;
static int started;
static volatile sig_atomic_t usr1;

/* the fake registry the descriptor is pointed at */
static ts_loop *fake_table[TS_MAX_LOOPS];
static uint32_t fake_nloops;
static uint64_t fake_gen, fake_next_id = 1ull << 40, next_fake_id = 1ull << 30;

static void die(const char *what)
{
	fprintf(stderr, "hostile_registry: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = calloc(1, n);
	if (!p)
		die("calloc");
	return p;
}

static void *parked_task(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&started, 1, __ATOMIC_RELEASE);
	while (ts_sleep_ms(3600 * 1000) == 0)
		;
	return NULL;
}

/* Readers now walk fake_table[0 .. n) and take ids below fake_next_id. */
static void redirect(uint32_t n)
{
	fake_nloops = n;
	ts__debug_desc.loops_addr = (uint64_t)(uintptr_t)fake_table;
	ts__debug_desc.nloops_addr = (uint64_t)(uintptr_t)&fake_nloops;
	ts__debug_desc.loops_gen_addr = (uint64_t)(uintptr_t)&fake_gen;
	ts__debug_desc.next_id_addr = (uint64_t)(uintptr_t)&fake_next_id;
}

/* A copy of the real loop with its own task array. */
static ts_loop *fake_loop(ts_task **arr, uint32_t n)
{
	ts_loop *l = xmalloc(sizeof(*l));
	memcpy(l, real_loop, sizeof(*l));
	l->tasks = arr;
	l->ntasks = n;
	l->gen = 0;
	return l;
}

/* A copy of real task 0 (parked, with a real stack) under a new id and name. */
static ts_task *fake_task(const char *fmt, long k)
{
	ts_task *t = xmalloc(sizeof(*t));
	memcpy(t, real[0], sizeof(*t));
	t->id = next_fake_id++;
	t->seq = 0;
	snprintf(t->name, sizeof(t->name), fmt, k);
	return t;
}

/* An array of n entries: the real loop's tasks, then `extra`, then the real ones again and
 * again up to n. */
static ts_task **array_of(size_t n, ts_task **extra, size_t nextra)
{
	ts_task **a = mmap(NULL, (n ? n : 1) * sizeof(*a), PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t k = 0, nreal = real_loop->ntasks;
	if (a == MAP_FAILED)
		die("mmap");
	for (size_t i = 0; i < nreal && k < n; i++)
		a[k++] = real_loop->tasks[i];
	for (size_t i = 0; i < nextra && k < n; i++)
		a[k++] = extra[i];
	for (size_t i = 0; k < n; i++)
		a[k++] = real_loop->tasks[i % nreal];
	return a;
}

static void one_loop(ts_task **extra, size_t nextra, size_t n)
{
	size_t total = real_loop->ntasks + nextra;
	fake_table[0] = fake_loop(array_of(n > total ? n : total, extra, nextra),
				  (uint32_t)(n > total ? n : total));
	redirect(1);
}

static void attack_loops(void)
{
	ts_task **a = array_of(1u << 20, NULL, 0);
	for (int i = 0; i < TS_MAX_LOOPS; i++)
		fake_table[i] = fake_loop(a, 1u << 20);
	redirect(TS_MAX_LOOPS);
}

static void attack_oddseq(void)
{
	size_t nodd = 5000, copies = 200000;
	ts_task **extra = xmalloc((copies + nodd) * sizeof(*extra));
	ts_task *odd = fake_task("odd-seq", 0);
	odd->seq = 1;
	for (size_t i = 0; i < copies; i++)
		extra[i] = odd;
	for (size_t i = 0; i < nodd; i++) {
		extra[copies + i] = fake_task("odd-%ld", (long)i);
		extra[copies + i]->seq = 3;
	}
	one_loop(extra, copies + nodd, 0);
}

/* A string that runs into a page nobody may read, without a NUL before it. */
static const char *unterminated(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (p == MAP_FAILED || mprotect(p + pg, (size_t)pg, PROT_NONE))
		die("mmap");
	memset(p, 'u', (size_t)pg);
	return p + pg - 10;
}

static void attack_coros(void)
{
	size_t n = 60000;
	ts_task **extra = xmalloc((n + 3) * sizeof(*extra));
	char *names = xmalloc(n * 16), *longname = xmalloc(4097);
	memset(longname, 'L', 4096);
	for (size_t i = 0; i < n; i++) {
		snprintf(names + i * 16, 16, "coro_%05zu", i);
		extra[i] = fake_task("c-%ld", (long)i);
		extra[i]->coro = names + i * 16;
	}
	const char *odd[3] = { unterminated(), (const char *)(uintptr_t)0x1000, longname };
	for (int i = 0; i < 3; i++) {
		extra[n + i] = fake_task("c-odd-%ld", i);
		extra[n + i]->coro = odd[i];
	}
	one_loop(extra, n + 3, 0);
}

static void attack_bogus(void)
{
	ts_task **arr = array_of(real_loop->ntasks + 8, NULL, 0);
	ts_loop *l = fake_loop(arr, real_loop->ntasks + 8);
	ts_task **bad = arr + real_loop->ntasks;
	bad[0] = NULL;
	bad[1] = (ts_task *)(uintptr_t)0x1000;
	bad[2] = (ts_task *)(uintptr_t)0xffffffffff600000ull;
	bad[3] = (ts_task *)((char *)real[0] + 4);
	bad[4] = (ts_task *)fake_table;
	bad[5] = (ts_task *)&ts__debug_desc;
	bad[6] = (ts_task *)arr;
	bad[7] = (ts_task *)l;
	/* a loop whose task array is the loop table itself */
	ts_loop *self = fake_loop((ts_task **)fake_table, 8);
	ts_loop *table[] = { l, NULL, (ts_loop *)(uintptr_t)0x1000,
			     (ts_loop *)(uintptr_t)0xffffffffff600000ull, (ts_loop *)((char *)l + 4),
			     (ts_loop *)fake_table, self };
	memcpy(fake_table, table, sizeof(table));
	redirect(sizeof(table) / sizeof(table[0]));
}

/* A fake stack of `len` bytes for task t: its saved frame at the bottom, then frames. */
static uint64_t *fake_stack(ts_task *t, size_t len)
{
	uint64_t *s = xmalloc(len);
	t->ctx.sp = s;
	t->ctx.stack.lo = s;
	t->ctx.stack.hi = (char *)s + len;
	t->switches = 7;
	return s;
}

static void attack_cycle(void)
{
	size_t chain = 20000, missing = 20000, k = 0;
	ts_task **extra = xmalloc((chain + missing + 16) * sizeof(*extra));
	ts_task *a = fake_task("cycle-a", 0), *b = fake_task("cycle-b", 0);
	a->wait = b->wait = TS_WAIT_AWAIT;
	a->wait_obj = b->id;
	b->wait_obj = a->id;
	ts_task *self = fake_task("self-await", 0);
	self->wait = TS_WAIT_AWAIT;
	self->wait_obj = self->id;
	ts_task *p = fake_task("parent-p", 0), *q = fake_task("parent-q", 0);
	p->parent = q->id;
	q->parent = p->id;
	ts_task *weird = fake_task("weird", 0);
	weird->state = TS_WAITING;
	weird->wait = 999;
	weird->wait_obj = ~0ull;
	extra[k++] = a, extra[k++] = b, extra[k++] = self, extra[k++] = p, extra[k++] = q;
	extra[k++] = weird;
	/* frames: one that points back at itself, and 100 frames climbing 8 KiB apart */
	ts_task *loopy = fake_task("frames-loop", 0), *deep = fake_task("frames-deep", 0);
	uint64_t *s = fake_stack(loopy, 4096);
	size_t rbp = ts__debug_desc.frame_rbp / 8, ret = ts__debug_desc.frame_ret / 8;
	s[rbp] = (uint64_t)(uintptr_t)&s[64];
	s[ret] = (uint64_t)(uintptr_t)parked_task;
	s[64] = (uint64_t)(uintptr_t)&s[64];
	s[65] = (uint64_t)(uintptr_t)parked_task + 1;
	s = fake_stack(deep, 1 << 20);
	s[rbp] = (uint64_t)(uintptr_t)&s[1024];
	s[ret] = (uint64_t)(uintptr_t)parked_task;
	for (size_t f = 1024; f + 1024 < (1 << 20) / 8; f += 1024) {
		s[f] = (uint64_t)(uintptr_t)&s[f + 1024];
		s[f + 1] = (uint64_t)(uintptr_t)parked_task + f;
	}
	extra[k++] = loopy, extra[k++] = deep;
	/* chain-0 awaits chain-1 ... awaits chain-(n-1), which sleeps */
	size_t first = k;
	for (size_t i = 0; i < chain; i++)
		extra[k++] = fake_task("chain-%ld", (long)i);
	for (size_t i = 0; i + 1 < chain; i++) {
		extra[first + i]->wait = TS_WAIT_AWAIT;
		extra[first + i]->wait_obj = extra[first + i + 1]->id;
	}
	for (size_t i = 0; i < missing; i++) {
		ts_task *t = fake_task("await-missing-%ld", (long)i);
		t->wait = TS_WAIT_AWAIT;
		t->wait_obj = (1ull << 39) + i;
		extra[k++] = t;
	}
	one_loop(extra, k, 0);
}

/* Tasks whose stacks all differ: each a chain of 60 frames whose return addresses are all
 * distinct, inside the C library's code. */
static void attack_frames(void)
{
	size_t n = 5000, depth = 60, k = 0;
	size_t rbp = ts__debug_desc.frame_rbp / 8, ret = ts__debug_desc.frame_ret / 8;
	ts_task **extra = xmalloc(n * sizeof(*extra));
	uintptr_t code = (uintptr_t)printf;
	for (size_t i = 0; i < n; i++) {
		ts_task *t = fake_task("frames-%ld", (long)i);
		uint64_t *s = fake_stack(t, (2 * depth + 16) * 8);
		s[rbp] = (uint64_t)(uintptr_t)&s[8];
		s[ret] = code + k++;
		for (size_t f = 0; f < depth; f++) {
			uint64_t *fr = &s[8 + 2 * f];
			fr[0] = f + 1 < depth ? (uint64_t)(uintptr_t)(fr + 2) : 0;
			fr[1] = code + k++;
		}
		extra[i] = t;
	}
	one_loop(extra, n, 0);
}

/* The descriptor says the fields lie at the end of a 64 KiB task. */
static void attack_desc(void)
{
	struct ts_debug_desc *d = &ts__debug_desc;
	size_t copies = 8000, sz = 65535, base = 65535 - 255;
	unsigned char *t = xmalloc(65536);
	ts_task **extra = xmalloc(copies * sizeof(*extra));
	d->task_size = (uint16_t)sz;
	d->task_magic = (uint16_t)(base & ~7u);
	d->task_seq = d->task_magic + 8;
	d->task_id = d->task_magic + 16;
	d->task_parent = d->task_magic + 24;
	d->task_coro = d->task_magic + 32;
	d->task_wait_obj = d->task_magic + 40;
	d->task_created_ns = d->task_magic + 48;
	d->task_switches = d->task_magic + 56;
	d->task_ctx_sp = d->task_magic + 64;
	d->task_stack_lo = d->task_magic + 72;
	d->task_stack_hi = d->task_magic + 80;
	d->task_state = d->task_magic + 88;
	d->task_wait = d->task_magic + 92;
	d->task_tid = d->task_magic + 96;
	d->task_name = d->task_magic + 104;
	d->name_max = 64;
	uint64_t magic = TS_TASK_MAGIC, id = 5;
	int32_t tid = real_loop->tid;
	uint32_t state = TS_WAITING;
	memcpy(t + d->task_magic, &magic, 8);
	memcpy(t + d->task_id, &id, 8);
	memcpy(t + d->task_tid, &tid, 4);
	memcpy(t + d->task_state, &state, 4);
	memcpy(t + d->task_name, "far-task", 9);
	for (size_t i = 0; i < copies; i++)
		extra[i] = (ts_task *)t;
	fake_table[0] = fake_loop(array_of(copies, NULL, 0), (uint32_t)copies);
	memcpy(fake_table[0]->tasks, extra, copies * sizeof(*extra));
	redirect(1);
}

static void attack_desc_name(void)
{
	ts__debug_desc.task_size = 65535;
	ts__debug_desc.name_max = 4000;
}

static void attack_desc_loops(void)
{
	ts_loop **table = xmalloc(65536 * sizeof(*table));
	table[0] = real_loop;
	redirect(1);
	ts__debug_desc.loops_addr = (uint64_t)(uintptr_t)table;
	ts__debug_desc.max_loops = 65536;
}

static void attack_ids(void)
{
	ts_task *extra[4];
	extra[0] = fake_task("id-zero", 0);
	extra[0]->id = 0;
	extra[1] = fake_task("id-future", 0);
	extra[1]->id = fake_next_id + 5;
	extra[2] = fake_task("parent-future", 0);
	extra[2]->parent = fake_next_id + 1;
	extra[3] = fake_task("other-thread", 0);
	extra[3]->tid = real_loop->tid + 1000000;
	one_loop(extra, 4, 0);
	/* loops on threads that are not the process's, or on none */
	ts_loop *l1 = fake_loop(real_loop->tasks, real_loop->ntasks);
	ts_loop *l2 = fake_loop(real_loop->tasks, real_loop->ntasks);
	l1->tid = -5;
	l2->tid = 0x7ffffff0;
	fake_table[1] = l1;
	fake_table[2] = l2;
	redirect(3);
}

/* Bumps the generation without pause: a read of the loop holds still only while this thread
 * is not running. */
static void *gen_mover(void *arg)
{
	ts_loop *l = arg;
	for (;;) {
		__atomic_add_fetch(&l->gen, 2, __ATOMIC_RELEASE);
		for (int i = 0; i < 100; i++)
			__builtin_ia32_pause();
	}
	return NULL;
}

static void attack_gen_moving(void)
{
	pthread_t th;
	one_loop(NULL, 0, 1u << 20);
	if ((errno = pthread_create(&th, NULL, gen_mover, fake_table[0])))
		die("pthread_create");
}

static void attack_gen(void)
{
	one_loop(NULL, 0, 1u << 20);
	fake_table[0]->gen = 1;
}

static void attack_gen_table(void)
{
	one_loop(NULL, 0, 0);
	fake_gen = 1;
}

static const struct {
	const char *name;
	void (*fn)(void);
} modes[] = {
	{ "loops", attack_loops },
	{ "dup", NULL },
	{ "oddseq", attack_oddseq },
	{ "coros", attack_coros },
	{ "bogus", attack_bogus },
	{ "cycle", attack_cycle },
	{ "frames", attack_frames },
	{ "desc", attack_desc },
	{ "desc-name", attack_desc_name },
	{ "desc-loops", attack_desc_loops },
	{ "ids", attack_ids },
	{ "gen", attack_gen },
	{ "gen-moving", attack_gen_moving },
	{ "gen-table", attack_gen_table },
};

static int write_truth(void)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", truth);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	for (int i = 0; i < ntasks; i++)
		fprintf(f, "{\"id\":%llu,\"name\":\"%s\"}\n", (unsigned long long)ts_task_id(real[i]),
			ts_task_name(real[i]));
	if (fclose(f))
		return -1;
	return rename(tmp, truth);
}

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static void *main_coro(void *arg)
{
	char name[32];
	(void)arg;
	real_loop = ts_current_loop();
	for (int i = 0; i < ntasks; i++) {
		snprintf(name, sizeof(name), "real-%d", i);
		if (!(real[i] = ts_spawn_named(parked_task, NULL, name)))
			die("spawn");
	}
	while (__atomic_load_n(&started, __ATOMIC_ACQUIRE) < ntasks)
		ts_sleep_ms(1);
	if (truth && write_truth())
		die("truth file");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(mode, modes[i].name)) {
			if (modes[i].fn)
				modes[i].fn();
			else
				one_loop(NULL, 0, 1u << 20); /* dup */
		}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		ts_sleep_ms(20);
		if (usr1) {
			usr1 = 0;
			ts_task **all;
			int n = ts_all_tasks(&all);
			printf("alive %d\n", n);
			fflush(stdout);
			if (n > 0)
				ts_tasks_free(all, n);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tasks", required_argument, NULL, 'n' },
		{ "truth", required_argument, NULL, 'T' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': ntasks = atoi(optarg); break;
		case 'T': truth = optarg; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || ntasks < 1 || ntasks > 100000)
		goto usage;
	mode = argv[optind];
	size_t i;
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]) && strcmp(mode, modes[i].name); i++)
		;
	if (i == sizeof(modes) / sizeof(modes[0]))
		goto usage;
	real = xmalloc((size_t)ntasks * sizeof(*real));
	signal(SIGUSR1, on_usr1);
	ts_set_stack_size(16 * 1024);
	return ts_run(main_coro, NULL) ? 1 : 0;
usage:
	fprintf(stderr, "usage: hostile_registry MODE [--tasks N] [--truth FILE] (modes: see the "
			"source)\n");
	return 2;
}
