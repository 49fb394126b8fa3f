/* SPDX-License-Identifier: MIT */
/* What the CLI's files share: exit codes, the command entry points, the -v flag. */
#ifndef TSC_CLI_H
#define TSC_CLI_H

#include <stdio.h>

/* Exit codes: part of the interface (documented in `taskscope --help`); append only. */
enum tsc_exit {
	TSC_EXIT_OK = 0,
	TSC_EXIT_ERROR = 1,        /* anything else; the message says what */
	TSC_EXIT_USAGE = 2,        /* bad command line */
	TSC_EXIT_DEADLOCK = 3,     /* tree: the await graph has a cycle */
	TSC_EXIT_NO_PROCESS = 4,   /* no such PID */
	TSC_EXIT_NOT_TASKSCOPE = 5, /* the process (or binary) holds no taskscope runtime */
	TSC_EXIT_PRIVILEGE = 6,    /* missing capabilities or ptrace access */
	TSC_EXIT_EXITED = 7,       /* the target exited while we attached or read it */
	TSC_EXIT_KERNEL = 8,       /* the kernel lacks a feature we need */
	TSC_EXIT_INCONSISTENT = 9, /* the registry kept changing or failed validation */
	TSC_EXIT_ABI = 10,         /* the runtime's descriptor ABI is not one we read */
	TSC_EXIT_EXECED = 11,      /* the target exec'd another program while we watched it */
	TSC_EXIT_CORE = 12,        /* --core: not a core file, or a truncated or damaged one */
	TSC_EXIT_CORE_MISMATCH = 13, /* --core: a file given is not the build the core ran */
};

extern int tsc_verbose;

/* Commands, all of them: argv[0] is the command name; return an exit code. Each parses its
 * options into a struct first (parse_X_opts, with opts.h), then runs (run_X). */
int tsc_cmd_ls(int argc, char **argv);
int tsc_cmd_ps(int argc, char **argv);
int tsc_cmd_tree(int argc, char **argv);
int tsc_cmd_probes(int argc, char **argv);
int tsc_cmd_record(int argc, char **argv);
int tsc_cmd_top(int argc, char **argv);
int tsc_cmd_metrics(int argc, char **argv);
int tsc_cmd_dump(int argc, char **argv);
int tsc_cmd_export(int argc, char **argv);
int tsc_cmd_profile(int argc, char **argv);
int tsc_cmd_pids(int argc, char **argv); /* hidden: runtime PIDs for the shell completion */

#endif
