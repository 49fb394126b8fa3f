/* SPDX-License-Identifier: MIT */
/* taskscope ls: every process of the machine (our pid namespace) that runs the taskscope
 * runtime, found through discover.h, with its loops, tasks and uptime read from outside. */
#include "cli.h"
#include "opts.h"
#include "out/json.h"
#include "out/out.h"
#include "target/discover.h"
#include "target/procstat.h"
#include "target/registry.h"
#include "target/remote.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void ls_usage(FILE *f)
{
	fprintf(f,
		"taskscope ls: list every process running the taskscope runtime.\n\n"
		"USAGE: taskscope ls [--json] [-v]\n\n"
		"  -j, --json      one JSON object: schema, processes [{pid, exe, runtime, loops,\n"
		"                  tasks, uptime_ns, error}], scanned, unreadable (docs/json.md)\n"
		"  -v, --verbose   more detail on stderr\n"
		"  -h, --help      this help\n\n"
		"A process counts when its executable or a library it linked or loaded with\n"
		"dlopen holds the runtime's debug descriptor. LOOPS is its loop threads, TASKS\n"
		"the tasks its registry lists, both read from outside like ps --no-bpf: no\n"
		"probes, nothing stopped. Processes of other users are seen only by root (or with\n"
		"CAP_SYS_PTRACE); how many were passed over is said on stderr. A runtime that\n"
		"cannot be read (another ABI, a registry that fails validation) shows ? and why.\n\n"
		"EXAMPLES:\n"
		"  taskscope ls\n"
		"  taskscope ls --json | jq '.processes[] | select(.tasks > 1000) | .pid'\n");
}

/* One runtime process, as ls shows it. */
struct entry {
	int pid;
	char exe[PATH_MAX];
	char runtime[PATH_MAX];  /* the file holding the runtime, as the target names it */
	uint32_t loops;
	uint64_t tasks;
	uint64_t uptime_ns;      /* 0: unknown */
	char error[512];         /* "" when read */
};

struct list {
	struct entry *e;
	size_t n, cap;
};

/* Loops and tasks from the registry's loop table and arrays: the tasks are counted, not read. */
static int count_tasks(struct tsc_remote *r, struct entry *e)
{
	struct tsc_reg g;
	int err = tsc_reg_init(&g, r);
	if (!err && !(err = tsc_reg_read_loops(&g)) && !(err = tsc_reg_threads(&g, NULL, NULL))) {
		for (size_t i = 0; i < g.nloops; i++)
			e->loops += g.loops[i].done > 0;
		e->tasks = tsc_reg_nptrs(&g);
	}
	tsc_reg_fini(&g);
	return err;
}

static int found(struct tsc_remote *r, int err, void *ctx)
{
	struct list *l = ctx;
	struct tsc_procstat ps;
	if (tsc_grow((void **)&l->e, &l->cap, l->n + 1, sizeof(*l->e)))
		return -ENOMEM;
	struct entry *e = memset(&l->e[l->n], 0, sizeof(*e));
	e->pid = r->pid;
	tsc_remote_exe(r, e->exe, sizeof(e->exe));
	snprintf(e->runtime, sizeof(e->runtime), "%s", r->target_path);
	if (!err)
		err = count_tasks(r, e);
	if (!tsc_remote_alive(r))
		return 0; /* it exited meanwhile: it is not a process of the machine any more */
	if (err)
		snprintf(e->error, sizeof(e->error), "%s", r->err[0] ? r->err : strerror(-err));
	if (!tsc_procstat_read(r->procfd, "stat", &ps)) {
		uint64_t now = tsc_boottime_ns();
		e->uptime_ns = now > ps.start_ns ? now - ps.start_ns : 0;
	}
	l->n++;
	return 0;
}

static void print_json(const struct list *l, const struct tsc_discover_stats *st)
{
	struct tsc_json *w = tsc_json_new(stdout);
	if (!w)
		return;
	tsc_json_obj(w);
	tsc_json_schema(w);
	tsc_json_key(w, "processes");
	tsc_json_arr(w);
	for (size_t i = 0; i < l->n; i++) {
		const struct entry *e = &l->e[i];
		tsc_json_nl(w);
		tsc_json_obj(w);
		tsc_json_key(w, "pid");
		tsc_json_i64(w, e->pid);
		tsc_json_key(w, "exe");
		tsc_json_string(w, e->exe);
		tsc_json_key(w, "runtime");
		tsc_json_string(w, e->runtime);
		tsc_json_key(w, "loops");
		tsc_json_u64(w, e->loops);
		tsc_json_key(w, "tasks");
		tsc_json_u64(w, e->tasks);
		tsc_json_key(w, "uptime_ns");
		tsc_json_u64(w, e->uptime_ns);
		tsc_json_key(w, "error");
		if (e->error[0])
			tsc_json_string(w, e->error);
		else
			tsc_json_null(w);
		tsc_json_end_obj(w);
	}
	if (l->n)
		tsc_json_ch(w, '\n');
	tsc_json_end_arr(w);
	tsc_json_key(w, "scanned");
	tsc_json_u64(w, st->scanned);
	tsc_json_key(w, "unreadable");
	tsc_json_u64(w, st->unreadable);
	tsc_json_end_obj(w);
	tsc_json_ch(w, '\n');
	tsc_json_free(w);
}

static void print_table(const struct list *l)
{
	char buf[TSC_TEXT_SIZE(PATH_MAX)], age[16];
	printf("%7s %5s %8s %8s  %s\n", "PID", "LOOPS", "TASKS", "UPTIME", "EXE");
	for (size_t i = 0; i < l->n; i++) {
		const struct entry *e = &l->e[i];
		tsc_fmt_age(e->uptime_ns, age, sizeof(age));
		if (e->error[0])
			printf("%7d %5s %8s %8s  %s  (%s)\n", e->pid, "?", "?", age,
			       tsc_esc(buf, sizeof(buf), e->exe), e->error);
		else
			printf("%7d %5u %8llu %8s  %s\n", e->pid, e->loops,
			       (unsigned long long)e->tasks, age, tsc_esc(buf, sizeof(buf), e->exe));
	}
}

int tsc_cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, json = 0, rc;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jvh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'v': tsc_verbose++; break;
		case 'h': ls_usage(stdout); return TSC_EXIT_OK;
		default:
			tsc_opts_bad("ls", c, argc, argv);
			goto usage;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "taskscope ls: takes no operand ('%s')\n", argv[optind]);
		goto usage;
	}

	struct list l = { 0 };
	struct tsc_discover_stats st;
	struct tsc_discover *d;
	struct tsc_discover_cb cb = { .found = found, .ctx = &l };
	int err = tsc_discover_new(&d);
	if (!err)
		err = tsc_discover_scan(d, &cb, &st);
	tsc_discover_free(d);
	if (err) {
		fprintf(stderr, "taskscope ls: %s\n", strerror(-err));
		free(l.e);
		return TSC_EXIT_ERROR;
	}
	if (json)
		print_json(&l, &st);
	else
		print_table(&l);
	if (st.unreadable)
		fprintf(stderr, "taskscope ls: %zu process%s left out: no ptrace access to %s%s\n",
			st.unreadable, st.unreadable == 1 ? "" : "es",
			st.unreadable == 1 ? "it" : "them",
			geteuid() ? " (run as root to see every process)" : "");
	free(l.e);
	rc = tsc_flush_stdout();
	return rc;
usage:
	fprintf(stderr, "Usage: taskscope ls [--json] (see taskscope ls --help)\n");
	return TSC_EXIT_USAGE;
}
