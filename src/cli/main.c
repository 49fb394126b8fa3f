/* SPDX-License-Identifier: MIT */
/* taskscope: the command table, global options, dispatch. */
#include "cli.h"

#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TASKSCOPE_VERSION
#define TASKSCOPE_VERSION "unknown"
#endif

int tsc_verbose;

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary; /* NULL: not listed in --help (helpers for the shell completion) */
};

static int cmd_version(int argc, char **argv);

static const struct cmd cmds[] = {
	{ "ls", tsc_cmd_ls, "list the processes running the taskscope runtime" },
	{ "ps", tsc_cmd_ps, "list the live tasks and each thread's current task" },
	{ "tree", tsc_cmd_tree, "show who awaits whom; report await cycles (deadlocks)" },
	{ "probes", tsc_cmd_probes, "list the taskscope USDT probes of a process or binary" },
	{ "record", tsc_cmd_record, "record every task event of a process to a trace file" },
	{ "top", tsc_cmd_top, "a live view of the tasks: CPU, states, switches, waits" },
	{ "metrics", tsc_cmd_metrics, "task metrics for Prometheus: /metrics or a textfile" },
	{ "dump", tsc_cmd_dump, "print a trace file: events, the state at an instant, a summary" },
	{ "export", tsc_cmd_export, "convert a trace file for Perfetto or chrome://tracing" },
	{ "profile", tsc_cmd_profile, "CPU or wait flame graphs, one root per task" },
	{ "version", cmd_version, "print the version and the git commit (as --version)" },
	{ "__pids", tsc_cmd_pids, NULL },
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"taskscope: see the tasks of a running libtaskscope process from outside.\n\n"
		"USAGE: taskscope [-v] COMMAND [ARGS]    taskscope COMMAND --help\n\n"
		"COMMANDS:\n");
	for (size_t i = 0; i < NCMDS; i++)
		if (cmds[i].summary)
			fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f,
		"\nOPTIONS:\n"
		"  -v, --verbose   more detail on errors and libbpf's warnings (-vv: its debug\n"
		"                  messages too)\n"
		"  -V, --version   print the version and the git commit\n"
		"  -h, --help      this help\n"
		"\nEXIT CODES:\n"
		"  0  success\n"
		"  1  other error (the message says what)\n"
		"  2  usage error\n"
		"  3  tree: an await cycle found (a deadlock)\n"
		"  4  no such process\n"
		"  5  not a taskscope process (or a binary without taskscope probes)\n"
		"  6  missing privileges: capabilities or ptrace access (see the message)\n"
		"  7  the target exited while taskscope attached to it or read it\n"
		"  8  the kernel lacks a feature taskscope needs\n"
		"  9  the task registry kept changing or failed validation: nothing shown\n"
		" 10  the runtime's debug descriptor ABI is not one this taskscope reads\n"
		" 11  the target exec'd (a new program) while taskscope attached to it, read it\n"
		"     or recorded it: what it showed or recorded ends there\n"
		" 12  --core: not a core file, or a truncated or damaged one\n"
		" 13  --core: a file given (--exe) is not the build the core's process ran\n"
		"\nEXAMPLES:\n"
		"  taskscope ps 1234              tasks of process 1234 (needs root or CAP_BPF,\n"
		"                                 CAP_PERFMON and CAP_SYS_PTRACE)\n"
		"  taskscope ps --no-bpf 1234     the same from the registry alone (same user)\n"
		"  taskscope tree 1234            await tree; exit 3 on a deadlock\n"
		"  taskscope record -o t.tsc 1234 every event until Ctrl-C; then taskscope dump t.tsc\n"
		"  taskscope probes ./server      probes in a binary\n");
}

static void version_usage(FILE *f)
{
	fprintf(f,
		"taskscope version: print the version and the git commit it was built from.\n\n"
		"USAGE: taskscope version\n\n"
		"The same as taskscope --version.\n");
}

static int cmd_version(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		version_usage(stdout);
		return TSC_EXIT_OK;
	}
	if (argc > 1) {
		fprintf(stderr, "taskscope version: takes no arguments\n");
		version_usage(stderr);
		return TSC_EXIT_USAGE;
	}
	printf("taskscope %s\n", TASKSCOPE_VERSION);
	return TSC_EXIT_OK;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && tsc_verbose < 2)
		return 0;
	if (!tsc_verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static const struct cmd *find_cmd(const char *name)
{
	for (size_t k = 0; k < NCMDS; k++)
		if (!strcmp(name, cmds[k].name))
			return &cmds[k];
	return NULL;
}

static int unknown_cmd(const char *name)
{
	fprintf(stderr, "taskscope: unknown command '%s'\n", name);
	fprintf(stderr, "Try 'taskscope --help'.\n");
	return TSC_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return TSC_EXIT_OK;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			char *version_argv[] = { "version", NULL };
			return cmd_version(1, version_argv);
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			tsc_verbose++;
		} else if (!strcmp(a, "-vv")) {
			tsc_verbose += 2;
		} else {
			fprintf(stderr, "taskscope: unknown option '%s'\n", a);
			fprintf(stderr, "Try 'taskscope --help'.\n");
			return TSC_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "taskscope: no command given\n\n");
		usage(stderr);
		return TSC_EXIT_USAGE;
	}
	libbpf_set_print(libbpf_print);
	if (!strcmp(argv[i], "help")) {
		/* `taskscope help CMD` is `taskscope CMD --help` */
		if (i + 1 >= argc) {
			usage(stdout);
			return TSC_EXIT_OK;
		}
		const struct cmd *c = find_cmd(argv[i + 1]);
		if (!c)
			return unknown_cmd(argv[i + 1]);
		char *help_argv[] = { argv[i + 1], "--help", NULL };
		return c->fn(2, help_argv);
	}
	const struct cmd *c = find_cmd(argv[i]);
	return c ? c->fn(argc - i, argv + i) : unknown_cmd(argv[i]);
}
