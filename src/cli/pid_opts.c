/* SPDX-License-Identifier: MIT */
/* What ps and tree share at their front door: their options, and the final flush. */
#include "pid_opts.h"
#include "cli.h"

#include <getopt.h>
#include <stdio.h>

int tsc_pid_cmd_parse(const char *cmd, int argc, char **argv, void (*usage)(FILE *),
		      struct tsc_pid_cmd *o)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-bpf", no_argument, NULL, 'n' },
		{ "stacks", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	*o = (struct tsc_pid_cmd){ .use_bpf = 1 };
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "jnsvh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': o->json = 1; break;
		case 'n': o->use_bpf = 0; break;
		case 's': o->stacks = 1; break;
		case 'v': tsc_verbose++; break;
		case 'h': usage(stdout); return TSC_EXIT_OK;
		default:
			fprintf(stderr, "taskscope %s: unknown option '%s'\n", cmd, argv[optind - 1]);
			goto usage;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "taskscope %s: %s\n", cmd,
			optind >= argc ? "no PID given" : "one PID only");
		goto usage;
	}
	o->pid = tsc_parse_pid(argv[optind]);
	if (o->pid < 0) {
		fprintf(stderr, "taskscope %s: '%s' is not a PID\n", cmd, argv[optind]);
		goto usage;
	}
	return -1;
usage:
	fprintf(stderr, "Usage: taskscope %s [--json] [--no-bpf] [--stacks] PID (see taskscope %s --help)\n",
		cmd, cmd);
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
