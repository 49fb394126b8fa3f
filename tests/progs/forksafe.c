/* SPDX-License-Identifier: MIT */
/*
 * forksafe: a victim that makes children while tracers patch its probe sites, and checks them.
 *
 *   forksafe [-f MS] DIR            the parent
 *   forksafe --child DIR FLAGS      a child image started by posix_spawn, vfork or exec
 *
 * The parent runs, on one loop thread, tasks that keep every probe but thread_start/stop
 * firing (spawn, await, rename, sleep, yield, a ping-pong that checks its own count), so that
 * a tracer's uprobes on them are optimized into calls, and prints "ready". Its main thread
 * runs no loop. It is the subreaper of everything it starts, and appends "PID exit=N" or
 * "PID signal=N" to DIR/reaped for each process it reaps.
 *
 * On SIGUSR1 it reads DIR/cmd, "MODE COUNT FLAGS", and makes COUNT children; it appends
 * "MODE PID" to DIR/forks for each, then writes DIR/forked.N for the Nth command. MODE:
 *   fork     fork()
 *   daemon   fork(), setsid(), fork() again; the middle process exits at once
 *   spawn    posix_spawn() of this program with --child
 *   vfork    vfork() and exec of this program with --child
 *   exec     fork(), run the child's work, then exec this program with --child
 *   clone    a raw clone system call: no fork handler runs
 *   _fork    glibc's _Fork(): no fork handler runs either
 * FLAGS ("-" for none): g waits for DIR/go before anything else (a test lets the tracer go
 * first); h keeps three tasks "held-K" alive at the end, writes them to DIR/held.PID (JSON
 * lines: id, name, tid, coro) and waits for DIR/release (a test attaches to the child then),
 * with a task "ticker" beside them that creates and awaits a task every 10 ms.
 *
 * A child (clone and _fork ones first rename a copy of the parent's task, firing task_rename
 * with no loop yet) runs its own loop: tasks that spawn, await, rename, sleep and yield, and
 * check every result. It writes DIR/ok.PID if all is right, and exits 0.
 *
 * -f MS makes the parent fork a child (no flags) every MS milliseconds besides.
 * On SIGTERM or SIGINT the parent stops making children, waits for those still running,
 * checks its own tasks' results, and prints "self-check ok" (exit 0) or what went wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

extern char **environ;

#define WORKERS 4
#define CHILD_ROUNDS 50

static const char *dir;
static volatile sig_atomic_t stop, cmd_pending;
static ts_task *first_task; /* the parent's; a clone child renames its copy */
static unsigned long bad;   /* results that were not what they must be */
static unsigned long rounds[WORKERS];
static volatile int pp_stop;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		cmd_pending = 1;
	else
		stop = 1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void path(char *buf, size_t size, const char *name, long n)
{
	if (n >= 0)
		snprintf(buf, size, "%s/%s.%ld", dir, name, n);
	else
		snprintf(buf, size, "%s/%s", dir, name);
}

static int exists(const char *name)
{
	char p[4096];
	struct stat st;
	path(p, sizeof(p), name, -1);
	return stat(p, &st) == 0;
}

/* Appends one line with a single write, so that lines of several processes never mix. */
static void append(const char *name, long n, const char *line)
{
	char p[4096];
	path(p, sizeof(p), name, n);
	int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		perror(p);
		_exit(4);
	}
	close(fd);
}

/* ---- the work, the same in the parent (forever) and in a child (CHILD_ROUNDS rounds) ---- */

static void *triple(void *arg)
{
	return (void *)((uintptr_t)arg * 3 + 1);
}

static void *worker(void *arg)
{
	int k = (int)(intptr_t)arg % WORKERS;
	long limit = (intptr_t)arg >= WORKERS ? CHILD_ROUNDS : -1;
	char name[32];
	for (long r = 0; limit < 0 || r < limit; r++) {
		ts_task *t = ts_spawn(triple, (void *)(uintptr_t)(r + k));
		void *res = NULL;
		int err = t ? ts_await(t, &res) : -ENOMEM;
		if (t)
			ts_task_unref(t);
		if (err == -ECANCELED)
			break;
		if (err || res != (void *)((uintptr_t)(r + k) * 3 + 1))
			__atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
		snprintf(name, sizeof(name), "worker-%d-%ld", k, r % 10);
		ts_task_rename(ts_current_task(), name);
		if (strcmp(ts_task_name(ts_current_task()), name))
			__atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
		if (ts_sleep_ms(1) == -ECANCELED || ts_yield() == -ECANCELED)
			break;
		rounds[k]++;
	}
	return NULL;
}

/* Two tasks take turns on one counter, each adding to its own parity only: a count that
 * does not match the turns taken means a switch lost or corrupted something. They rest a
 * millisecond every 64 turns, not to take a whole CPU. */
static long pp_count, pp_turns[2];
static void *pinger(void *arg)
{
	long parity = (intptr_t)arg;
	for (long i = 1; !__atomic_load_n(&pp_stop, __ATOMIC_RELAXED); i++) {
		if (pp_count % 2 == parity) {
			pp_count++;
			pp_turns[parity]++;
		}
		if ((i % 64 ? ts_yield() : ts_sleep_ms(1)) == -ECANCELED)
			break;
	}
	return NULL;
}

static void *holder(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&pp_stop, __ATOMIC_RELAXED) && ts_sleep_ms(10) == 0)
		;
	return NULL;
}

/* Beside the held tasks: a task created and finished every 10 ms, for a tracer to see. */
static void *ticker(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&pp_stop, __ATOMIC_RELAXED) && ts_sleep_ms(10) == 0) {
		ts_task *t = ts_spawn(triple, NULL);
		void *res = NULL;
		if (!t || ts_await(t, &res) || res != (void *)1)
			bad++;
		if (t)
			ts_task_unref(t);
	}
	return NULL;
}

/* ---- a child ---- */

static void wait_file(const char *name)
{
	for (int i = 0; !exists(name); i++) {
		if (i == 12000) { /* 120 s: the test is gone */
			fprintf(stderr, "forksafe: no %s/%s after 120 s\n", dir, name);
			_exit(3);
		}
		sleep_ms(10);
	}
}

static void *child_main(void *arg)
{
	const char *flags = arg;
	ts_task *w[WORKERS];
	for (int k = 0; k < WORKERS; k++)
		w[k] = ts_spawn_named(worker, (void *)(intptr_t)(WORKERS + k), "child-worker");
	for (int k = 0; k < WORKERS; k++) {
		if (!w[k] || ts_await(w[k], NULL) || rounds[k] != CHILD_ROUNDS)
			bad++;
		if (w[k])
			ts_task_unref(w[k]);
	}
	if (!strchr(flags, 'h'))
		return NULL;
	ts_task *held[3], *tick = ts_spawn_named(ticker, NULL, "ticker");
	char line[256], name[16];
	for (int k = 0; k < 3; k++) {
		snprintf(name, sizeof(name), "held-%d", k);
		held[k] = ts_spawn_named(holder, NULL, name);
		if (!held[k]) {
			bad++;
			return NULL;
		}
	}
	ts_yield(); /* every held task has run */
	for (int k = 0; k < 3; k++) {
		snprintf(line, sizeof(line), "{\"id\":%llu,\"name\":\"%s\",\"tid\":%d,\"coro\":\"%s\"}\n",
			 (unsigned long long)ts_task_id(held[k]), ts_task_name(held[k]), gettid(),
			 ts_task_coro(held[k]));
		append("held", getpid(), line);
	}
	while (!exists("release"))
		ts_sleep_ms(10);
	pp_stop = 1;
	for (int k = 0; k < 3; k++) {
		ts_await(held[k], NULL);
		ts_task_unref(held[k]);
	}
	if (!tick || ts_await(tick, NULL))
		bad++;
	if (tick)
		ts_task_unref(tick);
	return NULL;
}

static void child_work(const char *flags)
{
	memset(rounds, 0, sizeof(rounds));
	bad = 0;
	pp_stop = 0;
	ts_run(child_main, (void *)flags);
}

static void child_report(void)
{
	char line[64];
	snprintf(line, sizeof(line), bad ? "bad %lu\n" : "ok\n", bad);
	append(bad ? "bad" : "ok", getpid(), line);
	_exit(bad ? 1 : 0);
}

static void exec_child(const char *flags)
{
	char *argv[] = { "forksafe", "--child", (char *)dir, (char *)flags, NULL };
	execve("/proc/self/exe", argv, environ);
	_exit(127);
}

static pid_t make_child(const char *mode, const char *flags)
{
	pid_t pid;
	if (!strcmp(mode, "spawn")) {
		char *argv[] = { "forksafe", "--child", (char *)dir, (char *)flags, NULL };
		int err = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ);
		return err ? -1 : pid;
	}
	if (!strcmp(mode, "vfork")) {
		pid = vfork();
		if (pid == 0)
			exec_child(flags);
		return pid;
	}
	if (!strcmp(mode, "clone"))
		pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, 0);
	else if (!strcmp(mode, "_fork"))
		pid = _Fork();
	else
		pid = fork();
	if (pid != 0)
		return pid;

	/* the child */
	if (!strcmp(mode, "clone") || !strcmp(mode, "_fork"))
		ts_task_rename(first_task, "renamed-in-child");
	if (strchr(flags, 'g'))
		wait_file("go");
	if (!strcmp(mode, "daemon")) {
		setsid();
		pid = fork();
		if (pid != 0)
			_exit(pid > 0 ? 0 : 5);
	}
	child_work(flags);
	if (!strcmp(mode, "exec"))
		exec_child("-");
	child_report();
	return 0;
}

/* ---- the parent ---- */

/* Every child that has exited (all of them, waiting, with block set). */
static void reap(int block)
{
	int st;
	pid_t pid;
	char line[64];
	while ((pid = waitpid(-1, &st, block ? 0 : WNOHANG)) > 0 || (pid < 0 && errno == EINTR)) {
		if (pid < 0)
			continue;
		if (WIFEXITED(st))
			snprintf(line, sizeof(line), "%d exit=%d\n", pid, WEXITSTATUS(st));
		else
			snprintf(line, sizeof(line), "%d signal=%d\n", pid, WTERMSIG(st));
		append("reaped", -1, line);
	}
}

static long run_cmd(long seq)
{
	char p[4096], mode[16], flags[16], line[64];
	long count = 0;
	path(p, sizeof(p), "cmd", -1);
	FILE *f = fopen(p, "r");
	if (!f || fscanf(f, "%15s %ld %15s", mode, &count, flags) != 3 || count < 1 ||
	    count > 1000) {
		fprintf(stderr, "forksafe: bad %s\n", p);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	for (long i = 0; i < count; i++) {
		pid_t pid = make_child(mode, flags);
		if (pid < 0) {
			perror("forksafe: making a child");
			return -1;
		}
		snprintf(line, sizeof(line), "%s %d\n", mode, pid);
		append("forks", -1, line);
	}
	append("forked", seq, "done\n");
	return 0;
}

int main(int argc, char **argv)
{
	long fork_ms = 0;
	if (argc == 4 && !strcmp(argv[1], "--child")) {
		dir = argv[2];
		if (strchr(argv[3], 'g'))
			wait_file("go");
		child_work(argv[3]);
		child_report();
	}
	int opt;
	while ((opt = getopt(argc, argv, "f:")) != -1) {
		if (opt != 'f' || (fork_ms = atol(optarg)) <= 0) {
			fprintf(stderr, "usage: forksafe [-f MS] DIR | --child DIR FLAGS\n");
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: forksafe [-f MS] DIR | --child DIR FLAGS\n");
		return 2;
	}
	dir = argv[optind];
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	ts_loop *loop = ts_loop_start();
	if (!loop) {
		perror("forksafe: ts_loop_start");
		return 1;
	}
	ts_task *w[WORKERS], *pp[2];
	for (int k = 0; k < WORKERS; k++)
		w[k] = ts_spawn_on(loop, worker, (void *)(intptr_t)k, "worker");
	pp[0] = ts_spawn_on(loop, pinger, (void *)(intptr_t)0, "ping");
	pp[1] = ts_spawn_on(loop, pinger, (void *)(intptr_t)1, "pong");
	first_task = w[0];
	for (int k = 0; k < WORKERS; k++)
		if (!w[k]) {
			perror("forksafe: ts_spawn_on");
			return 1;
		}
	while (!__atomic_load_n(&rounds[WORKERS - 1], __ATOMIC_RELAXED))
		sleep_ms(1);
	printf("ready\n");
	fflush(stdout);

	long seq = 0, ticks = 0;
	while (!stop) {
		if (cmd_pending) {
			cmd_pending = 0;
			if (run_cmd(++seq))
				return 1;
		}
		if (fork_ms && ++ticks * 5 >= fork_ms) {
			ticks = 0;
			char line[64];
			pid_t pid = make_child("fork", "-");
			if (pid < 0) {
				perror("forksafe: fork");
				return 1;
			}
			snprintf(line, sizeof(line), "fork %d\n", pid);
			append("forks", -1, line);
		}
		reap(0);
		sleep_ms(5);
	}
	__atomic_store_n(&pp_stop, 1, __ATOMIC_RELAXED);
	ts_loop_stop(loop); /* cancels the workers, waits for every task */
	reap(1);
	for (int k = 0; k < WORKERS; k++)
		ts_task_unref(w[k]);
	for (int k = 0; k < 2; k++)
		ts_task_unref(pp[k]);
	if (bad || !pp_count || pp_count != pp_turns[0] + pp_turns[1] ||
	    pp_turns[0] - pp_turns[1] > 1 || pp_turns[0] < pp_turns[1]) {
		printf("self-check FAILED: %lu bad results, ping-pong %ld = %ld + %ld\n", bad,
		       pp_count, pp_turns[0], pp_turns[1]);
		return 1;
	}
	printf("self-check ok\n");
	return 0;
}
