/* SPDX-License-Identifier: MIT */
/*
 * taskscope-demo: a multi-threaded workload on libtaskscope that the tests, the benchmarks and
 * the README's main job all attach to. Long-lived workers sleep, wait on pipes and on queues;
 * optional churn, a CPU hog and a three-task await cycle (a deadlock).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

static struct {
	int threads, tasks, churn, hog, deadlock;
	long hog_ms;                 /* the hog's CPU between two yields */
	long report_ms;              /* --report: the work done so far, every report_ms */
	size_t flight_ab;            /* --flight-ab: rings of this size, on and off by turns */
	long flight_ab_mib;
	double duration;
	const char *truth;
} opt = { .threads = 2, .tasks = 4, .hog_ms = 1, .duration = -1 };

static ts_loop **loops;
static ts_queue **queues;
static int started;          /* long-lived tasks that have run at least once */
static uint64_t churn_spawned, churn_finished;
static uint64_t rounds;      /* rounds of the long-lived tasks: with churn_finished, the work */
static __thread uint64_t spawn_failures;

static void mark_started(void)
{
	__atomic_add_fetch(&started, 1, __ATOMIC_RELEASE);
}

/* A little CPU work, so that running tasks are seen running. */
static void spin_us(uint64_t us)
{
	uint64_t end = ts_now_ns() + us * 1000;
	while (ts_now_ns() < end)
		;
}

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Three kinds of worker, so every wait reason shows up: sleep, fd, queue. */
static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg >> 16, k = (int)(intptr_t)arg & 0xffff;
	uint32_t seed = (uint32_t)(t * 7919 + k * 104729 + 1);
	int fds[2] = { -1, -1 };
	mark_started();
	if (k % 3 == 1 && pipe(fds))
		return NULL;
	for (;;) {
		int err;
		spin_us(5 + rnd(&seed) % 15);
		switch (k % 3) {
		case 0:
			err = ts_sleep_ms(5 + rnd(&seed) % 50);
			break;
		case 1: /* nobody writes: a timeout each time */
			err = ts_wait_fd(fds[0], TS_READ, (int64_t)(5 + rnd(&seed) % 50) * 1000000);
			err = err == -ETIMEDOUT ? 0 : err;
			break;
		default: {
			void *item;
			err = ts_queue_get(queues[t], &item);
			break;
		}
		}
		if (err)
			break; /* cancelled at shutdown */
		__atomic_add_fetch(&rounds, 1, __ATOMIC_RELAXED);
	}
	if (fds[0] >= 0) {
		close(fds[0]);
		close(fds[1]);
	}
	return NULL;
}

/* Feeds the queue workers of its thread. */
static void *feeder(void *arg)
{
	ts_queue *q = arg;
	mark_started();
	while (ts_sleep_ms(20) == 0) {
		if (ts_queue_put(q, NULL))
			break;
		__atomic_add_fetch(&rounds, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *short_task(void *arg)
{
	(void)arg;
	ts_yield();
	__atomic_add_fetch(&churn_finished, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* Spawns opt.churn short tasks per second on its loop, a few every millisecond. A loop starved
 * of CPU (a loaded machine) cannot run them as fast: past a second's worth unfinished, what
 * fell due is skipped, not piled up (millions of live tasks would exhaust memory). */
static void *churner(void *arg)
{
	(void)arg;
	mark_started();
	uint64_t t0 = ts_now_ns(), done = 0;
	const uint64_t backlog_max = opt.churn > 1000 ? (uint64_t)opt.churn : 1000;
	while (ts_sleep_ms(1) == 0) {
		uint64_t due = (ts_now_ns() - t0) / 1000 * (uint64_t)opt.churn / 1000000;
		uint64_t spawned = __atomic_load_n(&churn_spawned, __ATOMIC_RELAXED),
			 finished = __atomic_load_n(&churn_finished, __ATOMIC_RELAXED);
		if (spawned > finished && spawned - finished > backlog_max)
			done = due;
		for (; done < due; done++) {
			if (ts_spawn_detached(short_task, NULL, NULL)) {
				/* Out of memory or mappings: say so once, then catch up later. */
				if (!spawn_failures++)
					fprintf(stderr, "taskscope-demo: churn: cannot spawn: %s\n",
						strerror(errno));
				break;
			}
			__atomic_add_fetch(&churn_spawned, 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

static void *hog(void *arg)
{
	(void)arg;
	mark_started();
	do
		spin_us((uint64_t)opt.hog_ms * 1000);
	while (ts_yield() == 0);
	return NULL;
}

/* Three tasks that await each other in a cycle: a deadlock for `taskscope tree` to find. */
static ts_task *cycle[3];
static ts_event *cycle_ready;
static void *deadlocked(void *arg)
{
	int i = (int)(intptr_t)arg;
	mark_started();
	if (ts_event_wait(cycle_ready))
		return NULL;
	ts_await(cycle[(i + 1) % 3], NULL);
	return NULL;
}

static int long_lived_total(void)
{
	return opt.threads * (opt.tasks + (opt.tasks > 2) + (opt.churn > 0)) + opt.hog +
	       3 * opt.deadlock;
}

static int spawn_all(void)
{
	char name[64];
	for (int t = 0; t < opt.threads; t++) {
		for (int k = 0; k < opt.tasks; k++) {
			snprintf(name, sizeof(name), "worker-%d-%d", t, k);
			ts_task *w = ts_spawn_on(loops[t], worker, (void *)(intptr_t)(t << 16 | k), name);
			if (!w)
				return -errno;
			ts_task_unref(w);
		}
		ts_task *extra[2] = { NULL, NULL };
		snprintf(name, sizeof(name), "feeder-%d", t);
		if (opt.tasks > 2 && !(extra[0] = ts_spawn_on(loops[t], feeder, queues[t], name)))
			return -errno;
		snprintf(name, sizeof(name), "churn-%d", t);
		if (opt.churn > 0 && !(extra[1] = ts_spawn_on(loops[t], churner, NULL, name)))
			return -errno;
		ts_task_unref(extra[0]);
		ts_task_unref(extra[1]);
	}
	ts_loop *where = opt.threads ? loops[0] : ts_current_loop();
	if (opt.hog) {
		ts_task *h = ts_spawn_on(where, hog, NULL, "hog");
		if (!h)
			return -errno;
		ts_task_unref(h);
	}
	if (opt.deadlock) {
		static const char *const names[3] = { "deadlock-A", "deadlock-B", "deadlock-C" };
		for (int i = 0; i < 3; i++)
			if (!(cycle[i] = ts_spawn_on(where, deadlocked, (void *)(intptr_t)i, names[i])))
				return -errno;
		ts_event_set(cycle_ready);
	}
	return 0;
}

/* One JSON line per long-lived task of every loop: what the CLI must rebuild. */
static void *truth_of_loop(void *arg)
{
	FILE *f = arg;
	ts_task **all;
	int n = ts_all_tasks(&all);
	for (int i = 0; i < n; i++) {
		const char *coro = ts_task_coro(all[i]);
		if (!strcmp(coro, "short_task") || !strcmp(coro, "truth_of_loop"))
			continue;
		fprintf(f, "{\"id\":%llu,\"name\":\"%s\",\"tid\":%d,\"coro\":\"%s\"}\n",
			(unsigned long long)ts_task_id(all[i]), ts_task_name(all[i]),
			ts_loop_tid(ts_current_loop()), ts_task_coro(all[i]));
	}
	if (n > 0)
		ts_tasks_free(all, n);
	return NULL;
}

static int write_truth(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	for (int t = 0; t < opt.threads; t++) {
		ts_task *w = ts_spawn_on(loops[t], truth_of_loop, f, "truth");
		if (!w || ts_await(w, NULL))
			return -EIO;
		ts_task_unref(w);
	}
	/* the hog and the cycle live on loop 0 when there are loop threads, else here */
	if (!opt.threads)
		truth_of_loop(f);
	if (fclose(f))
		return -errno;
	return rename(tmp, path) ? -errno : 0; /* readers never see a partial file */
}

/* The work done so far: short tasks run to their end and rounds of the long-lived ones. */
static uint64_t work_done(void)
{
	return __atomic_load_n(&churn_finished, __ATOMIC_RELAXED) +
	       __atomic_load_n(&rounds, __ATOMIC_RELAXED);
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* every thread, to the nanosecond */
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --flight-ab: the state of the flight recorder for report period i, in pairs whose order
 * alternates (off on, on off, off on, ...): a drift in the machine's load over a pair falls
 * on both sides alike. */
static bool flight_on_in(uint64_t i)
{
	return ((i >> 1) ^ i) & 1;
}

/* Until SIGINT/SIGTERM or the duration is up; with --report, a line every report_ms:
 * "work MONOTONIC_MS UNITS CPU_NS", both counts since the start, so that a benchmark takes
 * the work per CPU second of any stretch it likes (tools/bench/flight). With --flight-ab, a
 * fifth field: the flight recorder's state during the period the line ends, "on" or "off"
 * (the first line's, "on", is the start's: the rings are made then). */
static void run_until_done(int sfd)
{
	uint64_t end = opt.duration < 0 ? UINT64_MAX : ts_now_ns() + (uint64_t)(opt.duration * 1e9);
	uint64_t period = 0;
	bool on = true;
	for (;;) {
		uint64_t now = ts_now_ns();
		if (now >= end)
			return;
		uint64_t left = end - now, step = (uint64_t)opt.report_ms * 1000000;
		int64_t timeout = end == UINT64_MAX ? -1 : (int64_t)left;
		if (step && (timeout < 0 || step < left))
			timeout = (int64_t)step;
		if (ts_wait_fd(sfd, TS_READ, timeout) != -ETIMEDOUT)
			return; /* a signal (or an error: stop rather than spin) */
		if (step) {
			printf("work %llu %llu %llu%s\n", (unsigned long long)(ts_now_ns() / 1000000),
			       (unsigned long long)work_done(), (unsigned long long)cpu_ns(),
			       !opt.flight_ab ? "" : on ? " on" : " off");
			fflush(stdout);
		}
		if (opt.flight_ab) {
			on = flight_on_in(period++);
			ts_flight_recorder(on ? opt.flight_ab : 0);
		}
	}
}

static void *main_coro(void *arg)
{
	int sfd = (int)(intptr_t)arg, err = spawn_all();
	if (err) {
		fprintf(stderr, "taskscope-demo: cannot spawn tasks: %s\n", strerror(-err));
		return (void *)1;
	}
	while (__atomic_load_n(&started, __ATOMIC_ACQUIRE) < long_lived_total())
		ts_sleep_ms(1);
	if (opt.truth && (err = write_truth(opt.truth))) {
		fprintf(stderr, "taskscope-demo: cannot write %s: %s\n", opt.truth, strerror(-err));
		return (void *)1;
	}
	run_until_done(sfd);
	if (opt.deadlock)
		for (int i = 0; i < 3; i++)
			ts_cancel(cycle[i]); /* references dropped once no task can await them */
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: taskscope-demo [OPTIONS]\n"
		"A workload of tasks on several loop threads, for taskscope to attach to.\n\n"
		"  --threads N    loop threads (default 2)\n"
		"  --tasks N      long-lived tasks per thread, named worker-T-K (default 4)\n"
		"  --churn N      short tasks spawned and finished per second per thread\n"
		"  --hog          one CPU-bound task\n"
		"  --hog-ms MS    the hog runs MS ms between two yields (default 1): a long\n"
		"                 burst starves its loop, as a long synchronous call does\n"
		"  --deadlock     three tasks that await each other in a cycle\n"
		"  --duration S   exit 0 after S seconds (default: until SIGINT/SIGTERM)\n"
		"  --truth FILE   once every long-lived task runs, write one JSON line per task\n"
		"  --report MS    every MS ms, print \"work MONOTONIC_MS UNITS CPU_NS\": the units\n"
		"                 of work done so far (short tasks run to their end, rounds of\n"
		"                 long-lived tasks) and the process's CPU time, on stdout\n"
		"  --flight-ab MIB  with --report: the flight recorder on (rings of MIB MiB) from\n"
		"                 the start, then off and on by turns at every report, in\n"
		"                 pairs (off on, on off, ...); each line ends with its period's\n"
		"                 state, \"on\" or \"off\" (tools/bench/flight)\n"
		"  -h, --help     this help\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "threads", required_argument, NULL, 't' }, { "tasks", required_argument, NULL, 'k' },
		{ "churn", required_argument, NULL, 'c' },   { "hog", no_argument, NULL, 'H' },
		{ "deadlock", no_argument, NULL, 'D' },      { "duration", required_argument, NULL, 'd' },
		{ "truth", required_argument, NULL, 'T' },   { "help", no_argument, NULL, 'h' },
		{ "hog-ms", required_argument, NULL, 'B' },  { "report", required_argument, NULL, 'R' },
		{ "flight-ab", required_argument, NULL, 'F' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 't': opt.threads = atoi(optarg); break;
		case 'k': opt.tasks = atoi(optarg); break;
		case 'c': opt.churn = atoi(optarg); break;
		case 'H': opt.hog = 1; break;
		case 'B': opt.hog_ms = atol(optarg); break;
		case 'D': opt.deadlock = 1; break;
		case 'd': opt.duration = atof(optarg); break;
		case 'T': opt.truth = optarg; break;
		case 'R': opt.report_ms = atol(optarg); break;
		case 'F': opt.flight_ab_mib = atol(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || opt.threads < 0 || opt.threads > 64 || opt.tasks < 0 ||
	    opt.tasks > 65535 || opt.churn < 0 || opt.hog_ms < 1 || opt.hog_ms > 86400000 ||
	    opt.report_ms < 0 || opt.report_ms > 3600000 || opt.flight_ab_mib < 0 ||
	    opt.flight_ab_mib > 4096 || (opt.flight_ab_mib && !opt.report_ms)) {
		usage(stderr);
		return 2;
	}

	/* Signals arrive through a signalfd the main task waits on; block them everywhere. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		perror("taskscope-demo: signalfd");
		return 1;
	}

	opt.flight_ab = (size_t)opt.flight_ab_mib << 20;
	if (opt.flight_ab && ts_flight_recorder(opt.flight_ab)) {
		fprintf(stderr, "taskscope-demo: this runtime has no flight recorder\n");
		return 1;
	}

	loops = calloc((size_t)opt.threads + 1, sizeof(*loops));
	queues = calloc((size_t)opt.threads + 1, sizeof(*queues));
	cycle_ready = ts_event_new();
	for (int t = 0; t < opt.threads; t++) {
		if (!(loops[t] = ts_loop_start()) || !(queues[t] = ts_queue_new(16))) {
			perror("taskscope-demo: cannot start a loop");
			return 1;
		}
	}
	void *rc = ts_run(main_coro, (void *)(intptr_t)sfd);
	for (int t = 0; t < opt.threads; t++) {
		ts_queue_close(queues[t]);
		ts_loop_stop(loops[t]);
		ts_queue_free(queues[t]);
	}
	for (int i = 0; i < 3; i++)
		ts_task_unref(cycle[i]);
	ts_event_free(cycle_ready);
	free(loops);
	free(queues);
	close(sfd);
	fprintf(stderr, "taskscope-demo: churn spawned %llu, finished %llu\n",
		(unsigned long long)churn_spawned, (unsigned long long)churn_finished);
	fprintf(stderr, "taskscope-demo: work done: %llu units (short tasks finished, rounds of "
		"long-lived tasks) in %.3f s of CPU\n", (unsigned long long)work_done(), cpu_ns() / 1e9);
	return rc ? 1 : 0;
}
