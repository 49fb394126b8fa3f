/* SPDX-License-Identifier: MIT */
/* taskscope probes PID|BINARY: the taskscope USDT probes found, from .note.stapsdt. For a
 * PID, in every mapped ELF file, with each semaphore's current count (non-zero while some
 * tracer is attached). */
#include "cli.h"
#include "target/collect.h"
#include "target/elfx.h"
#include "out/json.h"
#include "opts.h"
#include "out/out.h"
#include "target/remote.h"
#include "target/tfile.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROVIDER "taskscope"

struct pctx {
	struct tsc_json *w;      /* --json: the writer; NULL for text */
	const char *path;        /* as shown */
	struct tsc_remote *r;    /* NULL for a binary */
	uint64_t bias;
	size_t count;            /* probes printed, all files */
	size_t in_file;
};

static int print_probe(const struct tsc_usdt *u, void *arg)
{
	struct pctx *c = arg;
	uint16_t sema_val = 0;
	int have_val = 0;
	if (strcmp(u->provider, PROVIDER))
		return 0;
	if (c->r && u->sema)
		have_val = !tsc_mem_read1(c->r->mem, u->sema + c->bias, &sema_val, sizeof(sema_val));
	if (c->w) {
		struct tsc_json *w = c->w;
		tsc_json_nl(w);
		tsc_json_obj(w);
		tsc_json_key(w, "provider");
		tsc_json_string(w, u->provider);
		tsc_json_key(w, "name");
		tsc_json_string(w, u->name);
		tsc_json_key(w, "file");
		tsc_json_string(w, c->path);
		tsc_json_key(w, "address");
		tsc_json_u64(w, u->pc);
		tsc_json_key(w, "semaphore");
		tsc_json_u64(w, u->sema);
		if (c->r) {
			tsc_json_key(w, "runtime_address");
			tsc_json_u64(w, u->pc + c->bias);
		}
		if (have_val) {
			tsc_json_key(w, "semaphore_count");
			tsc_json_u64(w, sema_val);
		}
		tsc_json_key(w, "args");
		tsc_json_string(w, u->args);
		tsc_json_end_obj(w);
	} else {
		char name[TSC_TEXT_SIZE(64)], args[TSC_TEXT_SIZE(256)];
		if (!c->in_file) {
			char path[TSC_TEXT_SIZE(4096)];
			printf("%s%s\n", c->count ? "\n" : "", tsc_esc(path, sizeof(path), c->path));
			printf("  %-13s %-10s %-10s %s%s\n", "PROBE", "ADDRESS", "SEMAPHORE",
			       c->r ? "COUNT " : "", "ARGS");
		}
		tsc_text(name, sizeof(name), u->name, 64, 0, NULL);
		tsc_text(args, sizeof(args), u->args, 256, 0, NULL);
		fputs("  ", stdout);
		tsc_pad(stdout, name, 13, 0);
		printf(" 0x%-8llx 0x%-8llx ", (unsigned long long)u->pc, (unsigned long long)u->sema);
		if (c->r) {
			if (have_val)
				printf("%-5u ", sema_val);
			else
				printf("%-5s ", "?");
		}
		printf("%s\n", args);
	}
	c->count++;
	c->in_file++;
	return 0;
}

/* --json: {"schema", ["pid",] "probes": [ ... ]}; the writer, or NULL when out of memory. */
static struct tsc_json *json_begin(int pid)
{
	struct tsc_json *w = tsc_json_new(stdout);
	if (!w) {
		fprintf(stderr, "taskscope: out of memory\n");
		return NULL;
	}
	tsc_json_obj(w);
	tsc_json_schema(w);
	if (pid) {
		tsc_json_key(w, "pid");
		tsc_json_i64(w, pid);
	}
	tsc_json_key(w, "probes");
	tsc_json_arr(w);
	return w;
}

static void json_end(struct tsc_json *w)
{
	if (!w)
		return;
	tsc_json_ch(w, '\n');
	tsc_json_end_arr(w);
	tsc_json_end_obj(w);
	tsc_json_ch(w, '\n');
	tsc_json_free(w);
}

static int probes_binary(const char *path, int json)
{
	struct tsc_elf e = { 0 };
	struct pctx c = { .path = path };
	int rc = TSC_EXIT_OK, err;
	/* never blocks on a FIFO, never opens a device */
	int fd = tsc_tfile_open(AT_FDCWD, path, 0, NULL);
	if (fd < 0) {
		fprintf(stderr, "taskscope: cannot open %s: %s\n", path, tsc_tfile_strerror(fd));
		return TSC_EXIT_ERROR;
	}
	if ((err = tsc_elf_open(fd, &e, TSC_ELF_NOTES, TSC_ELF_MAX_READ))) {
		if (err == -ENOEXEC)
			fprintf(stderr, "taskscope: %s is not a 64-bit ELF file (or a damaged one)\n",
				path);
		else
			fprintf(stderr, "taskscope: cannot read %s: %s\n", path,
				tsc_tfile_strerror(err));
		rc = TSC_EXIT_ERROR;
		goto cleanup;
	}
	if (json && !(c.w = json_begin(0))) {
		rc = TSC_EXIT_ERROR;
		goto cleanup;
	}
	err = tsc_elf_usdt_foreach(&e, print_probe, &c);
	json_end(c.w);
	if (err) {
		fprintf(stderr, "taskscope: cannot read the notes of %s: %s\n", path, strerror(-err));
		rc = TSC_EXIT_ERROR;
	} else if (!c.count) {
		fprintf(stderr, "taskscope: %s has no taskscope probes (not linked with "
				"libtaskscope, or built with TASKSCOPE_NO_PROBES)\n", path);
		rc = TSC_EXIT_NOT_TASKSCOPE;
	}
cleanup:
	tsc_elf_close(&e);
	close(fd);
	return rc;
}

static int probes_pid(int pid, int json)
{
	struct tsc_remote *r = NULL;
	struct pctx c = { 0 };
	int err, rc = TSC_EXIT_OK;
	size_t unread = 0;

	if ((err = tsc_remote_open(pid, &r))) {
		rc = tsc_remote_report(r, err, 0);
		goto cleanup;
	}
	if ((err = tsc_maps_read(r->procfd, &r->maps))) {
		snprintf(r->err, sizeof(r->err), "cannot read the mappings of process %d: %s", pid,
			 strerror(-err));
		rc = tsc_remote_report(r, err, 1);
		goto cleanup;
	}
	c.r = r;
	if (json && !(c.w = json_begin(pid))) {
		rc = TSC_EXIT_ERROR;
		goto cleanup;
	}
	for (size_t i = 0; i < r->maps.n; i++) {
		const struct tsc_vma *v = &r->maps.vma[i];
		size_t k, nsame = 0;
		char here[PATH_MAX + 64];
		struct tsc_elf e = { 0 };
		for (k = 0; k < i && !tsc_vma_same_file(&r->maps.vma[k], v); k++)
			;
		if (k < i)
			continue; /* that file was listed already */
		int fd = tsc_remote_open_file(r, v, here, sizeof(here));
		if (fd < 0) {
			char path[TSC_TEXT_SIZE(256)];
			if (tsc_verbose)
				fprintf(stderr, "taskscope: skipping %s: %s\n",
					tsc_esc(path, sizeof(path), v->path), tsc_tfile_strerror(fd));
			if (fd != -ENODEV && !unread++) {
				tsc_esc(path, sizeof(path), v->path);
				snprintf(r->err, sizeof(r->err), "%.300s: %s", path,
					 tsc_tfile_strerror(fd));
			}
			continue;
		}
		struct tsc_vma *same = malloc((r->maps.n - i) * sizeof(*same));
		if (same && !tsc_elf_open(fd, &e, TSC_ELF_NOTES, TSC_ELF_MAX_READ)) {
			for (k = i; k < r->maps.n; k++)
				if (tsc_vma_same_file(&r->maps.vma[k], v))
					same[nsame++] = r->maps.vma[k];
			if (!tsc_elf_bias(&e, same, nsame, &c.bias)) {
				c.path = v->path;
				c.in_file = 0;
				tsc_elf_usdt_foreach(&e, print_probe, &c);
			}
		}
		free(same);
		tsc_elf_close(&e);
		close(fd);
	}
	json_end(c.w);
	if (!tsc_remote_alive(r)) {
		fprintf(stderr, "taskscope: process %d exited while taskscope was reading it\n", pid);
		rc = TSC_EXIT_EXITED;
	} else if (!c.count && unread) {
		fprintf(stderr, "taskscope: no taskscope probes in the files of process %d that "
				"could be read; %zu could not (%s)\n", pid, unread, r->err);
		rc = TSC_EXIT_ERROR;
	} else if (!c.count) {
		fprintf(stderr, "taskscope: process %d has no taskscope probes in its executable "
				"or libraries: not a taskscope process\n", pid);
		rc = TSC_EXIT_NOT_TASKSCOPE;
	}
cleanup:
	tsc_remote_close(r);
	return rc;
}

static void probes_usage(FILE *f)
{
	fprintf(f,
		"taskscope probes: list the taskscope USDT probes of a process or a binary.\n\n"
		"USAGE: taskscope probes [--json] [-v] [-p] PID | BINARY\n\n"
		"  -p, --pid PID  the process (or its PID alone, as the last argument)\n"
		"  -j, --json     one JSON object: schema, probes [{provider, name, file,\n"
		"                 address, semaphore, args}], plus pid, runtime_address and\n"
		"                 semaphore_count for a PID (docs/json.md)\n"
		"  -v, --verbose  more detail on stderr\n"
		"  -h, --help     this help\n\n"
		"Addresses are the file's own (as readelf -n shows them). For a PID every mapped\n"
		"ELF file is searched, and COUNT is each semaphore's value now: the number of\n"
		"that probe's sites where a uprobe is installed, however many tracers share\n"
		"them (not how many tracers are attached). 0 = none: the probe then costs\n"
		"nothing.\n\n"
		"EXAMPLES:\n"
		"  taskscope probes ./build/taskscope-demo\n"
		"  taskscope probes 1234\n");
}

int tsc_cmd_probes(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pid", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *pid_opt = NULL, *binary = NULL;
	int json = 0, c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jp:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'p': pid_opt = optarg; break;
		case 'v': tsc_verbose++; break;
		case 'h': probes_usage(stdout); return TSC_EXIT_OK;
		default:
			tsc_opts_bad("probes", c, argc, argv);
			goto usage;
		}
	}
	if (!pid_opt && optind != argc - 1) {
		fprintf(stderr, "taskscope probes: %s\n",
			optind >= argc ? "no PID or binary given" : "one PID or binary only");
		goto usage;
	}
	/* digits are a PID; anything else (./123 for a file named so) is a path */
	int pid = tsc_opts_pid("probes", pid_opt, argc, argv, optind, &binary);
	if (pid == -1)
		goto usage;
	return pid > 0 ? probes_pid(pid, json) : probes_binary(binary, json);
usage:
	fprintf(stderr, "Usage: taskscope probes [--json] [-p] PID | BINARY (see taskscope probes --help)\n");
	return TSC_EXIT_USAGE;
}
