/* SPDX-License-Identifier: MIT */
/* taskscope ps: the live tasks and each thread's current task, as a table or JSON. */
#include "cli.h"
#include "collect.h"
#include "out.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <taskscope/taskscope.h>

static void ps_usage(FILE *f)
{
	fprintf(f,
		"taskscope ps: list the live tasks of a process and each thread's current task.\n\n"
		"USAGE: taskscope ps [--json] [--no-bpf] PID\n\n"
		"  --json      one JSON object: pid, threads [{tid, current}], tasks [{id, name,\n"
		"              coro, state, thread, parent, awaiting, wait, wait_obj, created_ns,\n"
		"              age_ms, switches}], and the events, lost and map_full counters\n"
		"  --no-bpf    read the task registry only: no probes, no privileges beyond\n"
		"              ptrace access (a process of your own user)\n"
		"  -v          more detail on stderr\n\n"
		"Probes are attached before the registry is read, so tasks that finish meanwhile\n"
		"are never shown and tasks created meanwhile are. Exit codes: taskscope --help.\n\n"
		"EXAMPLES:\n"
		"  taskscope ps 1234\n"
		"  taskscope ps --json 1234 | jq '.tasks[] | select(.state == \"waiting\")'\n");
}

static void print_json(const struct tsc_snapshot *s)
{
	FILE *f = stdout;
	fprintf(f, "{\"pid\":%d,\"reconciled\":%s,\"events\":%llu,\"lost\":%llu,\"map_full\":%llu,"
		   "\"retries\":%u,\"taken_ns\":%llu,\"threads\":[",
		s->pid, s->reconciled ? "true" : "false", (unsigned long long)s->events,
		(unsigned long long)s->lost, (unsigned long long)s->map_full, s->retries,
		(unsigned long long)s->taken_ns);
	for (size_t i = 0; i < s->nthreads; i++) {
		const struct tsc_thread *th = &s->threads[i];
		fprintf(f, "%s{\"tid\":%d,\"loop\":%llu,\"current\":", i ? "," : "", th->tid,
			(unsigned long long)th->loop_id);
		if (th->current)
			fprintf(f, "%llu}", (unsigned long long)th->current);
		else
			fputs("null}", f);
	}
	fputs("],\"tasks\":[", f);
	for (size_t i = 0; i < s->ntasks; i++) {
		const struct tsc_task *t = &s->tasks[i];
		uint64_t aw;
		fprintf(f, "%s\n{\"id\":%llu,\"name\":", i ? "," : "", (unsigned long long)t->id);
		tsc_json_str(f, t->name);
		fputs(",\"coro\":", f);
		tsc_json_str(f, t->coro);
		fprintf(f, ",\"state\":\"%s\",\"thread\":%d,\"parent\":", tsc_state_name(t->state),
			t->tid);
		if (t->parent)
			fprintf(f, "%llu", (unsigned long long)t->parent);
		else
			fputs("null", f);
		fputs(",\"awaiting\":[", f);
		if (tsc_task_awaits(t, &aw))
			fprintf(f, "%llu", (unsigned long long)aw);
		int waiting = t->state == TS_WAITING;
		fprintf(f, "],\"wait\":\"%s\"", tsc_wait_name(waiting ? t->wait : TS_WAIT_NONE));
		if (waiting && t->wait != TS_WAIT_NONE)
			fprintf(f, ",\"wait_obj\":%llu", (unsigned long long)t->wait_obj);
		uint64_t age = s->taken_ns > t->created_ns ? s->taken_ns - t->created_ns : 0;
		fprintf(f, ",\"created_ns\":%llu,\"age_ms\":%llu,\"switches\":%llu}",
			(unsigned long long)t->created_ns, (unsigned long long)(age / 1000000),
			(unsigned long long)t->switches);
	}
	fputs("\n]}\n", f);
}

struct row {
	char id[24], name[TS_NAME_MAX], state[12], wait[40], thread[16], parent[24], age[16];
	const char *coro;
};

static void fill_row(const struct tsc_snapshot *s, const struct tsc_task *t, struct row *r)
{
	snprintf(r->id, sizeof(r->id), "%llu", (unsigned long long)t->id);
	tsc_safe_str(t->name, r->name, sizeof(r->name));
	snprintf(r->state, sizeof(r->state), "%s", tsc_state_name(t->state));
	tsc_wait_describe(t, s->taken_ns, r->wait, sizeof(r->wait));
	snprintf(r->thread, sizeof(r->thread), "%d", t->tid);
	if (t->parent)
		snprintf(r->parent, sizeof(r->parent), "%llu", (unsigned long long)t->parent);
	else
		snprintf(r->parent, sizeof(r->parent), "-");
	tsc_fmt_age(s->taken_ns > t->created_ns ? s->taken_ns - t->created_ns : 0, r->age,
		    sizeof(r->age));
	r->coro = t->coro;
}

#define WIDEN(w, s) do { size_t l__ = strlen(s); if (l__ > (w)) (w) = l__; } while (0)

static void print_table(const struct tsc_snapshot *s)
{
	char buf[TS_NAME_MAX + 32], coro[64];
	struct row r;

	printf("PID %d: %zu thread%s, %zu task%s", s->pid, s->nthreads, s->nthreads == 1 ? "" : "s",
	       s->ntasks, s->ntasks == 1 ? "" : "s");
	if (s->reconciled)
		printf(" (%llu events since attach, %llu lost)", (unsigned long long)s->events,
		       (unsigned long long)s->lost);
	else
		printf(" (registry only)");
	printf("\n\n%-8s %s\n", "TID", "CURRENT");
	for (size_t i = 0; i < s->nthreads; i++) {
		const struct tsc_thread *th = &s->threads[i];
		const struct tsc_task *t = tsc_snapshot_find(s, th->current);
		if (t) {
			tsc_safe_str(t->name, buf, sizeof(buf));
			printf("%-8d %llu %s\n", th->tid, (unsigned long long)t->id, buf);
		} else {
			printf("%-8d -\n", th->tid);
		}
	}

	/* columns as wide as their widest cell: one pass to measure, one to print */
	size_t w[7] = { 2, 4, 5, 4, 6, 6, 3 };
	for (size_t i = 0; i < s->ntasks; i++) {
		fill_row(s, &s->tasks[i], &r);
		WIDEN(w[0], r.id);
		WIDEN(w[1], r.name);
		WIDEN(w[2], r.state);
		WIDEN(w[3], r.wait);
		WIDEN(w[4], r.thread);
		WIDEN(w[5], r.parent);
		WIDEN(w[6], r.age);
	}
	printf("\n%*s %-*s %-*s %-*s %*s %*s %*s %s\n", (int)w[0], "ID", (int)w[1], "NAME",
	       (int)w[2], "STATE", (int)w[3], "WAIT", (int)w[4], "THREAD", (int)w[5], "PARENT",
	       (int)w[6], "AGE", "CORO");
	for (size_t i = 0; i < s->ntasks; i++) {
		fill_row(s, &s->tasks[i], &r);
		tsc_safe_str(r.coro, coro, sizeof(coro));
		printf("%*s %-*s %-*s %-*s %*s %*s %*s %s\n", (int)w[0], r.id, (int)w[1], r.name,
		       (int)w[2], r.state, (int)w[3], r.wait, (int)w[4], r.thread, (int)w[5],
		       r.parent, (int)w[6], r.age, coro);
	}
}

int tsc_cmd_ps(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-bpf", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int json = 0, use_bpf = 1, c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "jnvh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'n': use_bpf = 0; break;
		case 'v': tsc_verbose++; break;
		case 'h': ps_usage(stdout); return TSC_EXIT_OK;
		default:
			fprintf(stderr, "taskscope ps: unknown option '%s'\n", argv[optind - 1]);
			goto usage;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "taskscope ps: %s\n", optind >= argc ? "no PID given" : "one PID only");
		goto usage;
	}
	int pid = tsc_parse_pid(argv[optind]);
	if (pid < 0) {
		fprintf(stderr, "taskscope ps: '%s' is not a PID\n", argv[optind]);
		goto usage;
	}
	struct tsc_snapshot s;
	int rc = tsc_collect(pid, use_bpf, &s);
	if (rc)
		return rc;
	if (json)
		print_json(&s);
	else
		print_table(&s);
	tsc_snapshot_free(&s);
	if (fflush(stdout) || ferror(stdout)) {
		perror("taskscope: writing the output");
		return TSC_EXIT_ERROR;
	}
	return TSC_EXIT_OK;
usage:
	fprintf(stderr, "Usage: taskscope ps [--json] [--no-bpf] PID (see taskscope ps --help)\n");
	return TSC_EXIT_USAGE;
}
