/* SPDX-License-Identifier: MIT */
/* The front door's shared parsing (opts.h). */
#include "opts.h"
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tsc_parse_pid(const char *s)
{
	long v = 0;
	if (!s || !*s)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
		if (v > 0x7fffffff)
			return -1;
	}
	return v > 0 ? (int)v : -1;
}

int tsc_parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

int tsc_parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || *end || errno || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int tsc_parse_duration(const char *s, uint64_t *ns)
{
	static const struct { const char *unit; double ns; } units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "", 1e9 },
		{ "m", 60e9 }, { "min", 60e9 }, { "h", 3600e9 }, { "d", 86400e9 },
	};
	char *end;
	if (!s || !((*s >= '0' && *s <= '9') || *s == '.'))
		return -1; /* strtod would take spaces, signs, "inf" and "nan" */
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit))
			continue;
		double t = v * units[i].ns;
		if (!(t >= 0 && t <= (double)TSC_DURATION_MAX_NS))
			return -1;
		*ns = (uint64_t)t;
		return 0;
	}
	return -1;
}

size_t tsc_parse_size(const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || !(v > 0))
		return 0;
	switch (*end) {
	case 'k': case 'K': v *= 1024; end++; break;
	case 'm': case 'M': v *= 1024 * 1024; end++; break;
	case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
	}
	if (*end == 'i' || *end == 'B')
		end += *end == 'i' && end[1] == 'B' ? 2 : 1;
	if (*end || v > (double)(1ul << 30))
		return 0;
	size_t want = (size_t)v, n = (size_t)sysconf(_SC_PAGESIZE);
	while (n < want)
		n <<= 1;
	return n;
}

int tsc_opts_pid(const char *cmd, const char *pid_opt, int argc, char **argv, int optind,
		 const char **other)
{
	const char *arg = pid_opt;
	if (pid_opt && optind < argc) {
		fprintf(stderr, "taskscope %s: a PID with -p, and '%s' too\n", cmd, argv[optind]);
		return -1;
	}
	if (!pid_opt) {
		if (optind != argc - 1) {
			fprintf(stderr, "taskscope %s: %s\n", cmd,
				optind >= argc ? "no PID given" : "one PID only");
			return -1;
		}
		arg = argv[optind];
	}
	int pid = tsc_parse_pid(arg);
	if (pid > 0)
		return pid;
	if (other && !pid_opt) {
		*other = arg;
		return -2;
	}
	fprintf(stderr, "taskscope %s: '%s' is not a PID\n", cmd, arg);
	return -1;
}

void tsc_opts_bad(const char *cmd, int c, int argc, char **argv)
{
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
	if (c == ':')
		fprintf(stderr, "taskscope %s: option '%s' needs a value\n", cmd, arg);
	else
		fprintf(stderr, "taskscope %s: unknown option '%s'\n", cmd, arg);
}

int tsc_parse_pid_opts(const char *cmd, int argc, char **argv, void (*usage)(FILE *),
		       struct tsc_pid_opts *o)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-bpf", no_argument, NULL, 'n' },
		{ "stacks", no_argument, NULL, 's' },
		{ "all-frames", no_argument, NULL, 'a' },
		{ "no-group", no_argument, NULL, 'G' },
		{ "warnings", no_argument, NULL, 'w' },
		{ "pid", required_argument, NULL, 'p' },
		{ "core", required_argument, NULL, 'c' },
		{ "exe", required_argument, NULL, 'e' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "stuck", required_argument, NULL, 'S' },
		{ 0 },
	};
	const char *pid_opt = NULL;
	int c;
	*o = (struct tsc_pid_opts){ .use_bpf = 1 };
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jnsaGwp:c:e:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': o->json = 1; break;
		case 'n': o->use_bpf = 0; break;
		case 's': o->stacks = 1; break;
		case 'a': o->all_frames = 1; break;
		case 'G': o->no_group = 1; break;
		case 'w':
			if (strcmp(cmd, "ps")) { /* a section of ps's output */
				tsc_opts_bad(cmd, '?', argc, argv);
				goto usage;
			}
			o->warnings = 1;
			break;
		case 'p': pid_opt = optarg; break;
		case 'c': o->core = optarg; break;
		case 'e': o->exe = optarg; break;
		case 'v': tsc_verbose++; break;
		case 'h': usage(stdout); return TSC_EXIT_OK;
		case 'S':
			if (strcmp(cmd, "ps")) { /* tree shows every task of a chain */
				fprintf(stderr, "taskscope %s: --stuck is an option of ps\n", cmd);
				goto usage;
			}
			if (tsc_parse_duration(optarg, &o->stuck_ns)) {
				fprintf(stderr, "taskscope %s: --stuck takes a duration such as 30s, "
					"500ms or 2m, not '%s'\n", cmd, optarg);
				goto usage;
			}
			o->stuck = 1;
			break;
		default:
			tsc_opts_bad(cmd, c, argc, argv);
			goto usage;
		}
	}
	if (o->exe && !o->core) {
		fprintf(stderr, "taskscope %s: --exe goes with --core\n", cmd);
		goto usage;
	}
	if (o->core) { /* offline: no process, no probes */
		if (pid_opt || optind < argc) {
			fprintf(stderr, "taskscope %s: a core file or a PID, not both\n", cmd);
			goto usage;
		}
		o->use_bpf = 0;
		return -1;
	}
	if ((o->pid = tsc_opts_pid(cmd, pid_opt, argc, argv, optind, NULL)) < 0)
		goto usage;
	o->stacks |= o->all_frames | o->no_group; /* how to show stacks: shows them */
	return -1;
usage:
	fprintf(stderr, "Usage: taskscope %s [--json] [--no-bpf] [--stacks] PID | --core FILE "
		"(see taskscope %s --help)\n", cmd, cmd);
	return TSC_EXIT_USAGE;
}

int tsc_flush_stdout(void)
{
	if (fflush(stdout) || ferror(stdout)) {
		perror("taskscope: writing the output");
		return TSC_EXIT_ERROR;
	}
	return TSC_EXIT_OK;
}
