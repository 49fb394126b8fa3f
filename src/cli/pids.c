/* SPDX-License-Identifier: MIT */
/* `taskscope __pids`: the processes that hold a taskscope runtime, one PID a line, for the
 * shell completion. Not listed in --help. The processes `ls` lists (discover.h) whose
 * descriptor is valid, so the list offers exactly the PIDs that `ps` accepts. Processes we
 * may not read (another user's, without privileges) are left out silently, as are processes
 * that exit meanwhile. */
#include "cli.h"
#include "opts.h"
#include "target/discover.h"
#include "target/remote.h"

#include <stdio.h>
#include <string.h>

static int print_pid(struct tsc_remote *r, int err, void *ctx)
{
	(void)ctx;
	if (!err)
		printf("%d\n", r->pid);
	return 0;
}

int tsc_cmd_pids(int argc, char **argv)
{
	struct tsc_discover_cb cb = { .found = print_pid };
	struct tsc_discover *d;
	int err;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("taskscope __pids: the PIDs of the processes that hold a taskscope runtime "
		       "and that\nthis user may read, one a line (for the shell completion).\n");
		return TSC_EXIT_OK;
	}
	if (argc > 1) {
		fprintf(stderr, "taskscope __pids: takes no arguments\n");
		return TSC_EXIT_USAGE;
	}
	if (!(err = tsc_discover_new(&d)))
		err = tsc_discover_scan(d, &cb, NULL);
	tsc_discover_free(d);
	if (err) {
		fprintf(stderr, "taskscope __pids: /proc: %s\n", strerror(-err));
		return TSC_EXIT_ERROR;
	}
	return tsc_flush_stdout();
}
