/* SPDX-License-Identifier: MIT */
/* What ps and tree share at their front door: their options, and the final flush. */
#ifndef TSC_PID_OPTS_H
#define TSC_PID_OPTS_H

#include <stdio.h>

/* The options ps and tree share: [--json] [--no-bpf] [--stacks] [-v] PID. */
struct tsc_pid_cmd {
	int pid, json, use_bpf, stacks;
};
/* Returns -1 when o is filled and the command goes on, else the exit code to return
 * (0 after --help, TSC_EXIT_USAGE after a message on stderr). */
int tsc_pid_cmd_parse(const char *cmd, int argc, char **argv, void (*usage)(FILE *),
		      struct tsc_pid_cmd *o);

/* Flush stdout: TSC_EXIT_OK, or TSC_EXIT_ERROR after saying the write failed. */
int tsc_flush_stdout(void);

#endif
