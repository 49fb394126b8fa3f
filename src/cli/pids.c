/* SPDX-License-Identifier: MIT */
/* `taskscope __pids`: the processes that hold a taskscope runtime, one PID a line, for the
 * shell completion. Not listed in --help. A process counts when the attach protocol's own
 * test finds and validates its debug descriptor, so the list offers exactly the PIDs that
 * `ps` accepts. Processes we may not read (another user's, without privileges) are left out
 * silently, as are processes that exit meanwhile. */
#include "cli.h"
#include "target/collect.h"
#include "opts.h"
#include "target/remote.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A bound on the walk, far above any real PID count: /proc is the kernel's, but a pid
 * namespace with this many processes would make the completion crawl anyway. */
#define MAX_PROCS (1 << 20)

static int holds_runtime(int pid)
{
	struct tsc_remote *r = NULL;
	int yes = !tsc_remote_open(pid, &r) && !tsc_remote_find_runtime(r);
	tsc_remote_close(r);
	return yes;
}

int tsc_cmd_pids(int argc, char **argv)
{
	int self = getpid(), n = 0;
	struct dirent *de;
	DIR *d;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("taskscope __pids: the PIDs of the processes that hold a taskscope runtime "
		       "and that\nthis user may read, one a line (for the shell completion).\n");
		return TSC_EXIT_OK;
	}
	if (argc > 1) {
		fprintf(stderr, "taskscope __pids: takes no arguments\n");
		return TSC_EXIT_USAGE;
	}
	d = opendir("/proc");
	if (!d) {
		perror("taskscope __pids: /proc");
		return TSC_EXIT_ERROR;
	}
	while ((de = readdir(d)) && n++ < MAX_PROCS) {
		int pid = tsc_parse_pid(de->d_name);
		if (pid > 0 && pid != self && holds_runtime(pid))
			printf("%d\n", pid);
	}
	closedir(d);
	return tsc_flush_stdout();
}
