/* SPDX-License-Identifier: MIT */
/*
 * parked: a victim for the CLI tests and the snapshot benchmarks: many tasks parked for good.
 *
 *   parked [--threads T] [--tasks N] [--stack KIB] [--truth FILE] [--exit-after MS] [--odd-name]
 *          [--corrupt gen|id] [--chain]
 *
 * Starts T loop threads (default 2; 0 puts every task on the ts_run loop) and spawns N tasks
 * on each (default 4), named "parked-T-K", coroutine parked_task, each sleeping an hour at a
 * time. Once every one has run up to its sleep, it writes FILE (one JSON line per task: id,
 * name, tid, coro, as taskscope-demo does), prints "ready" and sleeps. --stack sets the task
 * stack size (small stacks let 100k tasks fit); --exit-after makes the process _exit(0) MS
 * milliseconds after "ready", from a plain thread, whatever it is doing then. --odd-name adds
 * one more task on the ts_run loop (not in FILE) whose name holds a quote, a backslash, a
 * newline, a terminal escape and a byte that is not UTF-8: output must stay safe.
 * --corrupt damages what outside readers see, through the runtime's own debug descriptor,
 * just before "ready": "gen" leaves the ts_run loop's registry generation odd for good (as if a
 * writer died mid-change), "id" gives a parked task an id the runtime never handed out.
 * Neither touches anything the runtime itself reads while the tasks stay parked.
 * --chain adds, on the ts_run loop and not in FILE, an await chain that merges:
 * chain-0 awaits chain-1, which awaits chain-2 (sleeping), and chain-x awaits chain-2 too.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <taskscope/debug.h>
#include <taskscope/taskscope.h>

extern struct ts_debug_desc ts__debug_desc; /* the runtime's, see src/runtime/debug.c */

static int nthreads = 2, ntasks = 4;
static long exit_after_ms = -1;
static const char *truth;
static ts_loop **loops;
static ts_task **tasks;
static int started, odd_name, chain;
static const char *corrupt;

static void *parked_task(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&started, 1, __ATOMIC_RELEASE);
	while (ts_sleep_ms(3600 * 1000) == 0)
		;
	return NULL;
}

static void *awaiter_task(void *arg)
{
	__atomic_add_fetch(&started, 1, __ATOMIC_RELEASE);
	ts_await(arg, NULL);
	return NULL;
}

static void *exiter(void *arg)
{
	(void)arg;
	struct timespec ts = { exit_after_ms / 1000, exit_after_ms % 1000 * 1000000 };
	nanosleep(&ts, NULL);
	_exit(0);
}

static int write_truth(int total)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", truth);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	for (int i = 0; i < total; i++) {
		ts_loop *l = nthreads ? loops[i / ntasks] : ts_current_loop();
		fprintf(f, "{\"id\":%llu,\"name\":\"%s\",\"tid\":%d,\"coro\":\"%s\"}\n",
			(unsigned long long)ts_task_id(tasks[i]), ts_task_name(tasks[i]),
			ts_loop_tid(l), ts_task_coro(tasks[i]));
	}
	if (fclose(f))
		return -1;
	return rename(tmp, truth); /* readers never see a partial file */
}

static void *main_coro(void *arg)
{
	char name[64];
	int total = (nthreads ? nthreads : 1) * ntasks;
	(void)arg;
	for (int i = 0; i < total; i++) {
		ts_loop *l = nthreads ? loops[i / ntasks] : NULL;
		snprintf(name, sizeof(name), "parked-%d-%d", nthreads ? i / ntasks : 0, i % ntasks);
		tasks[i] = ts_spawn_on(l, parked_task, NULL, name);
		if (!tasks[i]) {
			perror("parked: spawn");
			return (void *)1;
		}
	}
	if (odd_name) {
		ts_task *t = ts_spawn_named(parked_task, NULL, "odd\"\\\n\x1b[31mred\xff");
		if (!t) {
			perror("parked: spawn");
			return (void *)1;
		}
		total++;
	}
	if (chain) {
		ts_task *c2 = ts_spawn_named(parked_task, NULL, "chain-2");
		ts_task *c1 = c2 ? ts_spawn_named(awaiter_task, c2, "chain-1") : NULL;
		ts_task *c0 = c1 ? ts_spawn_named(awaiter_task, c1, "chain-0") : NULL;
		ts_task *cx = c0 ? ts_spawn_named(awaiter_task, c2, "chain-x") : NULL;
		if (!cx) {
			perror("parked: spawn");
			return (void *)1;
		}
		total += 4; /* the handles stay with us: the awaiters need them alive */
	}
	while (__atomic_load_n(&started, __ATOMIC_ACQUIRE) < total)
		ts_sleep_ms(1);
	if (truth && write_truth(total - odd_name - 4 * chain)) {
		perror("parked: truth file");
		return (void *)1;
	}
	if (corrupt && !strcmp(corrupt, "gen")) {
		char *loop = (char *)ts_current_loop();
		__atomic_add_fetch((uint64_t *)(loop + ts__debug_desc.loop_gen), 1, __ATOMIC_RELEASE);
	} else if (corrupt && !strcmp(corrupt, "id")) {
		char *t = (char *)tasks[0];
		__atomic_store_n((uint64_t *)(t + ts__debug_desc.task_id), 1ull << 60, __ATOMIC_RELEASE);
	}
	printf("ready\n");
	fflush(stdout);
	pthread_t th;
	if (exit_after_ms >= 0 && pthread_create(&th, NULL, exiter, NULL)) {
		perror("parked: thread");
		return (void *)1;
	}
	while (ts_sleep_ms(3600 * 1000) == 0)
		;
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "threads", required_argument, NULL, 't' }, { "tasks", required_argument, NULL, 'n' },
		{ "stack", required_argument, NULL, 's' },   { "truth", required_argument, NULL, 'T' },
		{ "exit-after", required_argument, NULL, 'x' }, { "odd-name", no_argument, NULL, 'o' },
		{ "corrupt", required_argument, NULL, 'C' }, { "chain", no_argument, NULL, 'c' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': nthreads = atoi(optarg); break;
		case 'n': ntasks = atoi(optarg); break;
		case 's': ts_set_stack_size((size_t)atol(optarg) * 1024); break;
		case 'T': truth = optarg; break;
		case 'x': exit_after_ms = atol(optarg); break;
		case 'o': odd_name = 1; break;
		case 'C': corrupt = optarg; break;
		case 'c': chain = 1; break;
		default:
			fprintf(stderr, "usage: parked [--threads T] [--tasks N] [--stack KIB] "
					"[--truth FILE] [--exit-after MS] [--odd-name]\n"
					"              [--corrupt gen|id] [--chain]\n");
			return 2;
		}
	}
	if (nthreads < 0 || nthreads > 64 || ntasks < 1 || ntasks > 10000000) {
		fprintf(stderr, "parked: bad --threads or --tasks\n");
		return 2;
	}
	loops = calloc((size_t)nthreads + 1, sizeof(*loops));
	tasks = calloc((size_t)(nthreads ? nthreads : 1) * (size_t)ntasks, sizeof(*tasks));
	if (!loops || !tasks)
		return 1;
	for (int t = 0; t < nthreads; t++)
		if (!(loops[t] = ts_loop_start())) {
			perror("parked: loop");
			return 1;
		}
	return ts_run(main_coro, NULL) ? 1 : 0;
}
