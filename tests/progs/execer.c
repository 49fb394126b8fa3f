/* SPDX-License-Identifier: MIT */
/*
 * execer: a victim that execs, for the tests of what taskscope does when its target becomes
 * another program under it.
 *
 *   execer [--threads T] [--tasks K] [--rate R] [--gen G] [--after MS [--go FILE]]
 *          [-- PROGRAM ARGS...]
 *
 * Starts T loop threads (default 2) besides the ts_run loop, K long-lived tasks on each
 * (default 3, named "held-G-T-K", sleeping), and a task spawning R short tasks a second
 * (default 500), so that events keep coming. Then it prints "ready gen=G pid=P" and waits for
 * SIGUSR1 (or, with --after, MS milliseconds, counted from when FILE exists with --go, so
 * that a test starts the delay once it watches), prints "exec gen=G" and execs: PROGRAM with
 * ARGS when given (another runtime binary, say), else itself (/proc/self/exe) with the same
 * options but --gen G+1 and no --after, which starts over: task ids from 1 again. G is 0 by
 * default. SIGTERM and SIGINT end it (status 0 from the signal's default action aside).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

static int nthreads = 2, ntasks = 3, rate = 500, gen;
static long after_ms = -1;
static const char *gofile;
static char **prog_argv;      /* after "--", or NULL */
static ts_loop **loops;

static void *held(void *arg)
{
	(void)arg;
	while (ts_sleep_ms(3600 * 1000) == 0)
		;
	return NULL;
}

static void *short_task(void *arg)
{
	(void)arg;
	ts_yield();
	return NULL;
}

static void *churn(void *arg)
{
	(void)arg;
	uint64_t t0 = ts_now_ns(), done = 0;
	while (ts_sleep_ms(1) == 0) {
		uint64_t due = (ts_now_ns() - t0) / 1000 * (uint64_t)rate / 1000000;
		for (; done < due; done++) {
			ts_task *t = ts_spawn_(loops[done % (uint64_t)nthreads], short_task, "short_task",
					       NULL, NULL);
			if (t)
				ts_task_unref(t);
		}
	}
	return NULL;
}

static void do_exec(char **argv)
{
	char genarg[32];
	printf("exec gen=%d\n", gen);
	fflush(stdout);
	if (prog_argv) {
		execv(prog_argv[0], prog_argv);
		fprintf(stderr, "execer: exec %s: %s\n", prog_argv[0], strerror(errno));
		exit(1);
	}
	/* the same options, the next generation, no timer */
	char **av = calloc(16, sizeof(*av));
	int n = 0;
	snprintf(genarg, sizeof(genarg), "--gen=%d", gen + 1);
	av[n++] = argv[0];
	char t[32], k[32], r[32];
	snprintf(t, sizeof(t), "--threads=%d", nthreads);
	snprintf(k, sizeof(k), "--tasks=%d", ntasks);
	snprintf(r, sizeof(r), "--rate=%d", rate);
	av[n++] = t;
	av[n++] = k;
	av[n++] = r;
	av[n++] = genarg;
	av[n] = NULL;
	execv("/proc/self/exe", av);
	fprintf(stderr, "execer: exec itself: %s\n", strerror(errno));
	exit(1);
}

static void *main_task(void *arg)
{
	char **argv = arg;
	char name[64];
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		perror("execer: signalfd");
		exit(1);
	}
	for (int t = 0; t < nthreads; t++) {
		for (int k = 0; k < ntasks; k++) {
			snprintf(name, sizeof(name), "held-%d-%d-%d", gen, t, k);
			ts_task *h = ts_spawn_(loops[t], held, "held", NULL, name);
			if (!h) {
				perror("execer: spawn");
				exit(1);
			}
			ts_task_unref(h);
		}
	}
	ts_task *c = ts_spawn_(NULL, churn, "churn", NULL, "churn");
	if (!c) {
		perror("execer: spawn");
		exit(1);
	}
	ts_task_unref(c);
	printf("ready gen=%d pid=%d\n", gen, (int)getpid());
	fflush(stdout);
	for (int waited = 0; gofile && access(gofile, F_OK); waited += 2) {
		if (waited > 60000) {
			fprintf(stderr, "execer: no %s after a minute\n", gofile);
			exit(3);
		}
		ts_sleep_ms(2);
	}
	int64_t timeout = after_ms >= 0 ? after_ms * 1000000 : -1;
	int err = ts_wait_fd(sfd, TS_READ, timeout);
	if (err < 0 && err != -ETIMEDOUT) {
		fprintf(stderr, "execer: waiting: %s\n", strerror(-err));
		exit(1);
	}
	/* taken, or it would stay pending through the exec and end the next program at once */
	struct signalfd_siginfo si;
	while (read(sfd, &si, sizeof(si)) == sizeof(si))
		;
	do_exec(argv);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "threads", required_argument, NULL, 't' }, { "tasks", required_argument, NULL, 'k' },
		{ "rate", required_argument, NULL, 'r' },    { "gen", required_argument, NULL, 'g' },
		{ "after", required_argument, NULL, 'a' },   { "go", required_argument, NULL, 'o' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': nthreads = atoi(optarg); break;
		case 'k': ntasks = atoi(optarg); break;
		case 'r': rate = atoi(optarg); break;
		case 'g': gen = atoi(optarg); break;
		case 'a': after_ms = atol(optarg); break;
		case 'o': gofile = optarg; break;
		default: goto usage;
		}
	}
	if (nthreads < 1 || nthreads > 64 || ntasks < 0 || rate < 0 || rate > 1000000)
		goto usage;
	if (optind < argc)
		prog_argv = argv + optind;
	/* SIGUSR1 is read through a signalfd: blocked in every thread, before any starts */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	loops = calloc((size_t)nthreads, sizeof(*loops));
	for (int t = 0; t < nthreads; t++) {
		if (!(loops[t] = ts_loop_start())) {
			perror("execer: cannot start a loop");
			return 1;
		}
	}
	ts_run(main_task, argv);
	return 0;
usage:
	fprintf(stderr, "usage: execer [--threads T] [--tasks K] [--rate R] [--gen G] [--after MS "
			"[--go FILE]] [-- PROGRAM ARGS...]\n");
	return 2;
}
