/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the benchmark drivers: clock, options, result lines.
 * Every driver prints one machine-readable line per result, starting with "BENCH", made of
 * key=value words; tools/bench/run parses those and ignores everything else. */
#ifndef TS_BENCH_H
#define TS_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <taskscope/taskscope.h>

#ifdef TASKSCOPE_NO_PROBES
#define BENCH_PROBES 0
#else
#define BENCH_PROBES 1
#endif

static inline uint64_t bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --name VALUE options with numeric values; unknown options are a usage error. */
struct bench_opt {
	const char *name;
	long *value;
	const char *help;
};

static inline void bench_usage(FILE *f, const char *prog, const char *what,
			       const struct bench_opt *opts)
{
	fprintf(f, "%s\nUSAGE: %s [OPTIONS]\n", what, prog);
	for (const struct bench_opt *o = opts; o->name; o++)
		fprintf(f, "  --%-12s %s (default %ld)\n", o->name, o->help, *o->value);
}

static inline void bench_parse(int argc, char **argv, const char *what, struct bench_opt *opts)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			bench_usage(stdout, argv[0], what, opts);
			exit(0);
		}
		struct bench_opt *o = opts;
		for (; o->name; o++)
			if (argv[i][0] == '-' && argv[i][1] == '-' && !strcmp(argv[i] + 2, o->name))
				break;
		char *end = NULL;
		if (!o->name || i + 1 >= argc ||
		    (*o->value = strtol(argv[i + 1], &end, 0), *end != 0) || *o->value < 0) {
			fprintf(stderr, "%s: bad option '%s'\n", argv[0], argv[i]);
			bench_usage(stderr, argv[0], what, opts);
			exit(2);
		}
		i++;
	}
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Sorts v in place; returns the median (v[0] is then the best). */
static inline double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Spawn a(arg) and b(arg) on this loop and await both: the nanoseconds it took. For the
 * drivers that time two tasks playing against each other (switch, wake). */
static inline uint64_t bench_pair_ns(ts_fn a, ts_fn b, void *arg)
{
	uint64_t t0 = bench_now();
	ts_task *ta = ts_spawn(a, arg);
	ts_task *tb = ts_spawn(b, arg);
	if (!ta || !tb) {
		perror("ts_spawn");
		exit(1);
	}
	ts_await(ta, NULL);
	ts_await(tb, NULL);
	uint64_t t1 = bench_now();
	ts_task_unref(ta);
	ts_task_unref(tb);
	return t1 - t0;
}

#endif
