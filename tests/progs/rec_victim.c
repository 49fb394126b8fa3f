/* SPDX-License-Identifier: MIT */
/*
 * rec_victim: a victim for the `taskscope record` tests and benchmark: a known number of tasks,
 * spawned only after a tracer is attached, then a quiescent process.
 *
 *   rec_victim [--threads T] [--tasks N] [--yields Y] [--park P] [--batch B] [--rate R]
 *              [--exit] [--exit-after FILE] GOFILE
 *
 * Starts T loop threads (default 2) besides the ts_run loop, prints "ready", and waits until
 * GOFILE exists (checked every 2 ms; exit status 3 after a minute). Then it spawns P parked
 * tasks ("parked-K", spread over the loop threads, or on the ts_run loop when T is 0), each of
 * which renames itself "held-K" and sleeps for good; and N short tasks, B at a time (default
 * 256) spread over the loops, each yielding Y times (default 1) before it returns; each batch
 * is awaited before the next. Once every parked task sleeps and every short task is awaited it
 * prints
 *
 *   created C finished F
 *
 * C counts the tasks spawned after GOFILE appeared (N + P), F the short tasks seen finished;
 * the line before it, "elapsed_ns E", how long the spawning and awaiting took, and before that
 * "cpu_ns C", the CPU time the process took meanwhile (a benchmark's figures: run it traced
 * and untraced; C leaves out the time other processes had the CPUs).
 * Then it holds, quiescent: every task sleeping, until killed; or, with --exit, it cancels the
 * parked tasks, stops its loops, prints "exiting" and exits 0 (with --exit-after FILE, once
 * FILE exists: a test lets it go when its tracer is ready). With --rate R it does not hold
 * still but spawns R short tasks a second (a few every millisecond, spread over the loops,
 * each yielding Y times), a steady stream of events, until killed.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

static int nthreads = 2, park, do_exit, batch = 256, rate;
static long ntasks, yields = 1;
static const char *gofile, *exit_after;
static ts_loop **loops;
static int parked_asleep;

static void *short_task(void *arg)
{
	(void)arg;
	for (long i = 0; i < yields; i++)
		if (ts_yield())
			return NULL;
	return (void *)1;
}

static void *parked_task(void *arg)
{
	char name[32];
	snprintf(name, sizeof(name), "held-%d", (int)(long)arg);
	ts_task_rename(ts_current_task(), name);
	__atomic_add_fetch(&parked_asleep, 1, __ATOMIC_RELEASE);
	while (ts_sleep_ms(3600 * 1000) == 0)
		;
	return NULL;
}

static ts_loop *loop_of(long i)
{
	return nthreads ? loops[i % nthreads] : NULL;
}

/* The process's CPU time: its threads' own, whoever else had the CPUs meanwhile. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Until file f exists, checked every 2 ms; exit status 3 after a minute. */
static void wait_file(const char *f)
{
	for (int waited = 0; access(f, F_OK); waited += 2) {
		if (waited > 60000) {
			printf("no %s after a minute\n", f);
			exit(3);
		}
		ts_sleep_ms(2);
	}
}

static void *main_task(void *arg)
{
	(void)arg;
	printf("ready\n");
	fflush(stdout);
	wait_file(gofile);
	long created = 0, finished = 0;
	uint64_t t0 = ts_now_ns(), c0 = cpu_ns();
	ts_task **parked = calloc((size_t)park + 1, sizeof(*parked));
	ts_task **b = calloc((size_t)batch, sizeof(*b));
	if (!parked || !b)
		exit(1);
	for (int k = 0; k < park; k++) {
		char name[32];
		snprintf(name, sizeof(name), "parked-%d", k);
		if (!(parked[k] = ts_spawn_(loop_of(k), parked_task, "parked_task", (void *)(long)k,
					    name))) {
			perror("rec_victim: spawn");
			exit(1);
		}
		created++;
	}
	for (long done = 0; done < ntasks;) {
		int n = ntasks - done < batch ? (int)(ntasks - done) : batch;
		for (int i = 0; i < n; i++) {
			if (!(b[i] = ts_spawn_(loop_of(done + i), short_task, "short_task", NULL,
					       NULL))) {
				perror("rec_victim: spawn");
				exit(1);
			}
			created++;
		}
		for (int i = 0; i < n; i++) {
			void *res = NULL;
			if (ts_await(b[i], &res) == 0 && res)
				finished++;
			ts_task_unref(b[i]);
		}
		done += n;
	}
	uint64_t t1 = ts_now_ns(), c1 = cpu_ns();
	while (__atomic_load_n(&parked_asleep, __ATOMIC_ACQUIRE) < park)
		ts_sleep_ms(1);
	printf("cpu_ns %llu\n", (unsigned long long)(c1 - c0));
	printf("elapsed_ns %llu\n", (unsigned long long)(t1 - t0));
	printf("created %ld finished %ld\n", created, finished);
	fflush(stdout);
	if (rate) {
		uint64_t start = ts_now_ns(), done = 0;
		while (ts_sleep_ms(1) == 0) {
			uint64_t due = (ts_now_ns() - start) / 1000 * (uint64_t)rate / 1000000;
			for (; done < due; done++) {
				ts_task *t = ts_spawn_(loop_of((long)done), short_task, "short_task",
						       NULL, NULL);
				if (!t) {
					perror("rec_victim: spawn");
					exit(1);
				}
				ts_task_unref(t);
			}
		}
	}
	if (!do_exit) {
		while (ts_sleep_ms(3600 * 1000) == 0)
			;
	}
	if (exit_after)
		wait_file(exit_after);
	for (int k = 0; k < park; k++) {
		ts_cancel(parked[k]);
		ts_await(parked[k], NULL);
		ts_task_unref(parked[k]);
	}
	free(parked);
	free(b);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "threads", required_argument, NULL, 't' }, { "tasks", required_argument, NULL, 'n' },
		{ "yields", required_argument, NULL, 'y' },  { "park", required_argument, NULL, 'p' },
		{ "batch", required_argument, NULL, 'b' },   { "exit", no_argument, NULL, 'x' },
		{ "rate", required_argument, NULL, 'r' },    { "exit-after", required_argument, NULL, 'e' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': nthreads = atoi(optarg); break;
		case 'n': ntasks = atol(optarg); break;
		case 'y': yields = atol(optarg); break;
		case 'p': park = atoi(optarg); break;
		case 'b': batch = atoi(optarg); break;
		case 'x': do_exit = 1; break;
		case 'r': rate = atoi(optarg); break;
		case 'e': exit_after = optarg; do_exit = 1; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || nthreads < 0 || nthreads > 64 || ntasks < 0 || yields < 0 ||
	    park < 0 || batch < 1 || rate < 0 || rate > 10000000)
		goto usage;
	gofile = argv[optind];
	loops = calloc((size_t)nthreads + 1, sizeof(*loops));
	for (int t = 0; t < nthreads; t++) {
		if (!(loops[t] = ts_loop_start())) {
			perror("rec_victim: cannot start a loop");
			return 1;
		}
	}
	ts_run(main_task, NULL);
	for (int t = 0; t < nthreads; t++)
		ts_loop_stop(loops[t]);
	free(loops);
	printf("exiting\n");
	fflush(stdout);
	return 0;
usage:
	fprintf(stderr, "usage: rec_victim [--threads T] [--tasks N] [--yields Y] [--park P] "
			"[--batch B] [--rate R] [--exit] GOFILE\n");
	return 2;
}
