/* SPDX-License-Identifier: MIT */
/* What the fork safety of include/taskscope/probes.h costs, each figure beside its baseline
 * in the same run (interleaved rounds; best and median):
 *   - a probe hit with its semaphore up and no tracer: the hook with its fork guard, against
 *     a bare nop5-and-ret hook called the same way (the hit itself, without the uprobe);
 *   - the fork handler, timed in the child it runs in: with every site holding the nop5 (it
 *     only reads, then makes the fork guard's page live: a fresh page for the child), its
 *     reads alone, and with every site patched and every semaphore up, as a tracer leaves
 *     them (it writes them all back, copying the pages the child shared with its parent);
 *     beside them, a whole fork() + _exit + waitpid, the scale to read them against.
 * The detached path is not here: it does not change (tools/bench/run counts its instructions).
 * Needs no privileges: the patched sites are written through /proc/self/mem. */
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <taskscope/probes.h>
#include <taskscope/taskscope.h>

#include "bench.h"

static long hits = 10000000, forks = 200, rounds = 7;

#ifndef TASKSCOPE_NO_PROBES

/* The hook as it was before the fork guard: the site first, then return. */
__attribute__((naked, noinline)) static void bare_hook(void)
{
	__asm__ __volatile__(".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"
			     "ret\n");
}

static uint64_t hit_round(int guarded)
{
	uint64_t t0 = bench_now();
	if (guarded) {
		for (long i = 0; i < hits; i++)
			TASKSCOPE_TASK_SWITCH(i, i + 1);
	} else {
		for (long i = 0; i < hits; i++)
			if (TASKSCOPE_ENABLED(task_switch))
				__asm__ __volatile__("lea -128(%%rsp), %%rsp\n\t"
						     "call %P[fn]\n\t"
						     "lea 128(%%rsp), %%rsp"
						     :
						     : [fn] "i"(bare_hook), "D"((uint64_t)i),
						       "S"((uint64_t)i + 1)
						     : "memory");
	}
	return bench_now() - t0;
}

/* Every site patched (int3, as a uprobe leaves it before its first hit) and every semaphore
 * up; or, with patch 0, all back as they were. Nothing here fires a probe meanwhile. */
static int patch_sites(int patch)
{
	const struct taskscope__site *s;
	if (!patch) {
		taskscope__reset();
		return 0;
	}
	int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (s = __start_taskscope_sites; s < __stop_taskscope_sites; s++) {
		static const uint8_t int3 = 0xcc;
		uintptr_t site = (uintptr_t)s + s->site;
		*(volatile uint16_t *)((uintptr_t)s + s->semaphore) = 1;
		if (pwrite(fd, &int3, 1, (off_t)site) != 1) {
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

/* fork() and reap, forks times: the scale the handler's cost is to be read against. */
static uint64_t fork_round(void)
{
	uint64_t t0 = bench_now();
	for (long i = 0; i < forks; i++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		int st;
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
			perror("fork: a child");
			exit(1);
		}
	}
	return bench_now() - t0;
}

/* The handler's work where it runs: in a child just made (by _Fork, so that the handler has
 * not run yet), its pages still shared with the parent; the child times it and reports.
 * fn: the whole handler, or its reset alone (without making the guard page live). */
static double child_handler_round(void (*fn)(void))
{
	uint64_t sum = 0;
	for (long i = 0; i < forks; i++) {
		int fd[2], st;
		uint64_t ns = 0;
		if (pipe(fd)) {
			perror("fork: pipe");
			exit(1);
		}
		pid_t pid = _Fork();
		if (pid == 0) {
			uint64_t t0 = bench_now();
			fn();
			ns = bench_now() - t0;
			_exit(write(fd[1], &ns, sizeof(ns)) == sizeof(ns) ? 0 : 1);
		}
		close(fd[1]);
		if (pid < 0 || read(fd[0], &ns, sizeof(ns)) != sizeof(ns) ||
		    waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
			perror("fork: a child");
			exit(1);
		}
		close(fd[0]);
		sum += ns;
	}
	return (double)sum / (double)forks;
}

/* A run of the runtime first: its probe sites are then in this program, as in any user's. */
static void *short_task(void *arg)
{
	return arg;
}

static void *warm_main(void *arg)
{
	ts_task *t = ts_spawn(short_task, arg);
	if (t) {
		ts_await(t, NULL);
		ts_task_unref(t);
	}
	return arg;
}

int main(int argc, char **argv)
{
	struct bench_opt opts[] = {
		{ "hits", &hits, "probe hits per round" },
		{ "forks", &forks, "forks per round and kind" },
		{ "rounds", &rounds, "timed rounds; the best and the median are printed" },
		{ 0 },
	};
	bench_parse(argc, argv, "fork: the cost of the probes' fork safety", opts);
	if (rounds < 1 || rounds > 64 || hits < 1 || forks < 1) {
		fprintf(stderr, "fork: need 1..64 rounds, at least one hit and one fork\n");
		return 2;
	}
	ts_run(warm_main, NULL);
	long nsites = __stop_taskscope_sites - __start_taskscope_sites;
	double guarded[64], bare[64], trip[64], patched[64], clean[64], reset[64];
	taskscope__sems.task_switch = 1; /* nobody attached: the hooks just run */
	hit_round(1), hit_round(0);
	for (long r = 0; r < rounds; r++) {
		int first = r % 2;
		for (int k = 0; k < 2; k++) {
			int g = k ^ first;
			(g ? guarded : bare)[r] = (double)hit_round(g) / (double)hits;
		}
	}
	taskscope__sems.task_switch = 0;
	fork_round();
	for (long r = 0; r < rounds; r++) {
		for (int k = 0; k < 4; k++) {
			switch ((k + r) % 4) {
			case 0:
				trip[r] = (double)fork_round() / (double)forks;
				break;
			case 1:
				if (patch_sites(1)) {
					perror("fork: patching the sites through /proc/self/mem");
					return 1;
				}
				patched[r] = child_handler_round(taskscope__fork_child);
				patch_sites(0);
				break;
			case 2:
				clean[r] = child_handler_round(taskscope__fork_child);
				break;
			case 3:
				reset[r] = child_handler_round(taskscope__reset);
				break;
			}
		}
	}
	double mg = bench_median(guarded, (int)rounds), mb = bench_median(bare, (int)rounds);
	double mt = bench_median(trip, (int)rounds), mp = bench_median(patched, (int)rounds);
	double mc = bench_median(clean, (int)rounds), mz = bench_median(reset, (int)rounds);
	/* Each line names its own key (tools/bench/run keeps them apart). */
	printf("BENCH fork-hit-guarded ns_per_hit=%.3f median=%.3f\n", guarded[0], mg);
	printf("BENCH fork-hit-bare ns_per_hit=%.3f median=%.3f\n", bare[0], mb);
	printf("BENCH fork-roundtrip us=%.2f median=%.2f\n", trip[0] / 1e3, mt / 1e3);
	printf("BENCH fork-handler-patched us=%.2f median=%.2f sites=%ld\n", patched[0] / 1e3,
	       mp / 1e3, nsites);
	printf("BENCH fork-handler-clean us=%.3f median=%.3f sites=%ld\n", clean[0] / 1e3,
	       mc / 1e3, nsites);
	printf("BENCH fork-handler-reset us=%.3f median=%.3f\n", reset[0] / 1e3, mz / 1e3);
	return 0;
}

#else

int main(int argc, char **argv)
{
	struct bench_opt opts[] = { { "hits", &hits, "probe hits per round" },
				    { "forks", &forks, "forks per round and kind" },
				    { "rounds", &rounds, "timed rounds" },
				    { 0 } };
	bench_parse(argc, argv, "fork: the cost of the probes' fork safety (probes compiled out: "
				"nothing to measure)", opts);
	return 0;
}

#endif
