/* SPDX-License-Identifier: MIT */
/*
 * The front door's shared pieces: parsing PIDs, durations, sizes and counts the same way in
 * every command, with the same messages; and the options ps and tree share. Each command
 * parses its options into a struct (parse_X_opts) and then runs (run_X).
 */
#ifndef TSC_OPTS_H
#define TSC_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A PID argument: > 0 and all digits. Returns it, or -1. */
int tsc_parse_pid(const char *s);
/* A number in [lo, hi] (strtod's syntax, nothing after it): 0, or -1 when not one. */
int tsc_parse_double(const char *s, double lo, double hi, double *out);
/* A whole number in [lo, hi]: 0, or -1. */
int tsc_parse_long(const char *s, long lo, long hi, long *out);
/* A duration: a number with a unit, ns, us, ms, s (the default), m or min, h, d ("30s",
 * "1.5m", "250ms", "2"), up to TSC_DURATION_MAX_NS. 0 and *ns, or -1 when not one. */
#define TSC_DURATION_MAX_NS (100ull * 365 * 86400 * 1000000000ull)
int tsc_parse_duration(const char *s, uint64_t *ns);
/* Bytes with an optional K, M or G (and i, B, iB) up to 1G, rounded up to a power of two of
 * at least a page: "16M" -> 16777216. 0 when invalid. */
size_t tsc_parse_size(const char *s);

/*
 * The PID of a command that takes one: -p PID / --pid PID (given, pid_opt) or the one operand
 * left at argv[optind]. Says what is wrong on stderr ("taskscope CMD: ...") and returns -1;
 * else the PID. A command that takes a PID or a file (probes) passes allow_other: an operand
 * that is not a PID is then returned as *other, with -2.
 */
int tsc_opts_pid(const char *cmd, const char *pid_opt, int argc, char **argv, int optind,
		 const char **other);

/* The message for an option getopt_long refused (c: what it returned, ':' first in the
 * optstring): "unknown option '-x'" or "option '-d' needs a value". */
void tsc_opts_bad(const char *cmd, int c, int argc, char **argv);

/* The options ps and tree share: [-j|--json] [-n|--no-bpf] [-s|--stacks] [-v] -p PID | PID,
 * or --core FILE [--exe PATH] instead of a PID; for the stacks [-a|--all-frames]
 * [-G|--no-group]; and ps's --stuck DURATION, --warnings. */
struct tsc_pid_opts {
	int pid, json, use_bpf, stacks;
	const char *core, *exe;       /* a core file read instead of a live process; NULL */
	uint64_t stuck_ns;            /* --stuck: only tasks waiting longer; 0 = every task */
	int stuck;
	int all_frames, no_group;
	int warnings;                 /* ps only: -w, --warnings */
};
/* Returns -1 when o is filled and the command goes on, else the exit code to return
 * (0 after --help, TSC_EXIT_USAGE after a message on stderr). */
int tsc_parse_pid_opts(const char *cmd, int argc, char **argv, void (*usage)(FILE *),
		       struct tsc_pid_opts *o);

/* Flush stdout: TSC_EXIT_OK, or TSC_EXIT_ERROR after saying the write failed. */
int tsc_flush_stdout(void);

#endif
