/* SPDX-License-Identifier: MIT */
/*
 * taskscope profile: CPU and wait flame graphs, cut by task.
 *
 * On-CPU (the default): a perf-event BPF program samples the loop threads' user stacks and
 * reads, at that instant, the task in the loop's current-task slot (profile/cpu.c). Waiting
 * (--wait): each tick, every suspended task's stack read from outside as ps --stacks reads
 * it (profile/wait.c). Either way the samples go to a store (profile/store.c), addresses
 * symbolized while the target lives, and at the end are folded under one root per task
 * (profile/fold.c) and written: folded stacks, pprof or SVG.
 */
#include "cli.h"
#include "opts.h"
#include "out/outfile.h"
#include "profile/prof.h"
#include "stacks/symbolize.h"
#include "target/collect.h"
#include "target/remote.h"
#include "util.h"
#include <linux/types.h>
#include "profile.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WHO "taskscope profile"
#define REFRESH_NS 1000000000ull   /* loops and names read again */
#define DRAIN_NS 100000000ull      /* the ring buffer drained */

struct profile_opts {
	int pid, hz, wait;
	double duration;            /* 0: until a signal or the target exits */
	enum prof_by by;
	enum prof_format format;
	int format_set;
	const char *out;            /* NULL or "-": standard output */
};

static void profile_usage(FILE *f)
{
	fprintf(f,
		"taskscope profile: CPU or wait flame graphs of a process, one root per task.\n\n"
		"USAGE: taskscope profile [-d SECS] [--hz N] [--by task|name|coro] [--wait]\n"
		"                         [-f FORMAT] [-o FILE] [-v] [-p] PID\n\n"
		"  -p, --pid PID        the process (or its PID alone, as the last argument)\n"
		"  -d, --duration SECS  stop after SECS (default: at SIGINT or SIGTERM, or when\n"
		"                       the process exits; the profile is written either way)\n"
		"  --hz N               samples per second (default 99; 10 with --wait)\n"
		"  -b, --by KEY         the root frame of each stack: task (default: \"NAME #ID\"),\n"
		"                       name (tasks of one name together) or coro (by coroutine);\n"
		"                       samples outside any task go under \"[loop ID]\"\n"
		"  -w, --wait           a wait profile instead: where suspended tasks wait, each\n"
		"                       stack weighted by the time it was seen (wall clock)\n"
		"  -f, --format FORMAT  folded (flamegraph.pl's input), pprof (gzipped protobuf,\n"
		"                       for go tool pprof) or svg (an interactive flame graph:\n"
		"                       click a frame to zoom, Ctrl-F to search); by default from\n"
		"                       FILE's extension: .svg, .pb.gz or .pprof, else folded\n"
		"  -o, --output FILE    the output (default or \"-\": standard output), mode 0600;\n"
		"                       a regular file there is replaced once the profile is\n"
		"                       written, a symbolic link or anything else refused\n"
		"  -v, --verbose        samples, losses and timings on stderr\n"
		"  -h, --help           this help\n\n"
		"On-CPU samples come from a perf-event BPF program on every CPU that reads, when\n"
		"it interrupts a loop thread of the process, that loop's current task and the\n"
		"thread's user stack, walked by frame pointers. Build with\n"
		"-fno-omit-frame-pointer: without them (gcc's and clang's default at -O1 and\n"
		"above) the sampled function is still right, and so is the task it is counted\n"
		"for (that comes from the loop, not the stack), but the callers are not: the\n"
		"caller of a function without a frame pointer is missing, and a walk through\n"
		"one ends early or goes astray. The wait profile reads suspended tasks' stacks\n"
		"from outside, as ps --stacks does (by frame pointers too), and needs only\n"
		"ptrace access; the CPU profile needs root or CAP_BPF+CAP_PERFMON+\n"
		"CAP_SYS_PTRACE. Frames are named by the symbolizer of ps --stacks.\n"
		"Addresses are resolved while the process lives: a profile of a process that\n"
		"exits is written whole. Folded values are samples (CPU) or microseconds\n"
		"(--wait). Exit codes: taskscope --help.\n\n"
		"EXAMPLES:\n"
		"  taskscope profile -d 10 -o cpu.svg 1234\n"
		"  taskscope profile -d 10 1234 | flamegraph.pl > cpu.svg\n"
		"  taskscope profile -d 30 --by name -o cpu.pb.gz 1234\n"
		"  go tool pprof -top cpu.pb.gz\n"
		"  taskscope profile --wait -d 5 -o wait.svg 1234\n");
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

/* Options into o: -1 to go on, else the exit code (0 after --help). */
static int parse_profile_opts(int argc, char **argv, struct profile_opts *o)
{
	static const struct option opts[] = {
		{ "duration", required_argument, NULL, 'd' },
		{ "hz", required_argument, NULL, 'H' },
		{ "by", required_argument, NULL, 'b' },
		{ "wait", no_argument, NULL, 'w' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "pid", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *pid_opt = NULL;
	long hz = 0;
	int c;
	*o = (struct profile_opts){ 0 };
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:b:wf:o:p:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (tsc_parse_double(optarg, 0, 1e9, &o->duration) || !(o->duration > 0)) {
				fprintf(stderr, WHO ": --duration takes seconds > 0, not '%s'\n",
					optarg);
				goto usage;
			}
			break;
		case 'H':
			if (tsc_parse_long(optarg, 1, 10000, &hz)) {
				fprintf(stderr, WHO ": --hz takes 1 to 10000, not '%s'\n", optarg);
				goto usage;
			}
			break;
		case 'b':
			if (!strcmp(optarg, "task"))
				o->by = PROF_BY_TASK;
			else if (!strcmp(optarg, "name"))
				o->by = PROF_BY_NAME;
			else if (!strcmp(optarg, "coro"))
				o->by = PROF_BY_CORO;
			else {
				fprintf(stderr, WHO ": --by takes task, name or coro, not '%s'\n",
					optarg);
				goto usage;
			}
			break;
		case 'w': o->wait = 1; break;
		case 'f':
			o->format_set = 1;
			if (!strcmp(optarg, "folded"))
				o->format = PROF_FMT_FOLDED;
			else if (!strcmp(optarg, "pprof"))
				o->format = PROF_FMT_PPROF;
			else if (!strcmp(optarg, "svg"))
				o->format = PROF_FMT_SVG;
			else {
				fprintf(stderr, WHO ": --format takes folded, pprof or svg, not '%s'\n",
					optarg);
				goto usage;
			}
			break;
		case 'o': o->out = optarg; break;
		case 'p': pid_opt = optarg; break;
		case 'v': tsc_verbose++; break;
		case 'h': profile_usage(stdout); return TSC_EXIT_OK;
		default:
			tsc_opts_bad("profile", c, argc, argv);
			goto usage;
		}
	}
	if ((o->pid = tsc_opts_pid("profile", pid_opt, argc, argv, optind, NULL)) < 0)
		goto usage;
	if (o->out && !strcmp(o->out, "-"))
		o->out = NULL;
	if (!o->format_set && o->out) {
		if (ends_with(o->out, ".svg"))
			o->format = PROF_FMT_SVG;
		else if (ends_with(o->out, ".pb.gz") || ends_with(o->out, ".pprof"))
			o->format = PROF_FMT_PPROF;
	}
	o->hz = hz ? (int)hz : o->wait ? 10 : 99;
	return -1;
usage:
	fprintf(stderr, "Usage: taskscope profile [-d S] [--hz N] [--by task|name|coro] [--wait] "
			"[-f FORMAT] [-o FILE] [-p] PID (see taskscope profile --help)\n");
	return TSC_EXIT_USAGE;
}

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

struct profile {
	const struct profile_opts *o;
	struct tsc_remote *r;
	struct tsc_symbolizer *sym;
	struct prof_cpu *cpu;
	struct prof_wait *wait;
	struct prof_loops loops;
	struct prof_store store;
	size_t resolved;            /* stacks of the store symbolized so far */
	unsigned ticks, skipped;    /* wait ticks read, and skipped: the registry would not
				     * hold still, or failed validation (last_err) */
	int last_err;
	int exited;
};

/* Symbolize what came since the last call, while the process and its mappings live: once
 * it exits, nothing more can be resolved. The symbolizer keeps every address it resolved. */
static void resolve_new(struct profile *p)
{
	const struct prof_store *s = &p->store;
	for (; p->resolved < s->n; p->resolved++) {
		const struct prof_stack *st = &s->st[p->resolved];
		for (uint32_t k = 0; k < st->n; k++) {
			const struct tsc_sym *y;
			int ret = k > 0 || s->kind == PROF_WAIT;
			tsc_symbolize(p->sym, s->pcs[st->pc + k], ret, &y);
		}
	}
}

/* The loops and the tasks' names read again; a registry that would not hold still now is
 * read at the next refresh. */
static void refresh(struct profile *p)
{
	if (p->cpu) {
		if (!prof_loops_read(p->r, &p->loops))
			prof_cpu_slots(p->cpu, &p->loops);
		prof_names_read(p->r, &p->store, &p->loops);
	}
	resolve_new(p);
}

/* Sample until the duration, a signal or the target's exit. Returns an exit code. */
static int sample(struct profile *p)
{
	const struct profile_opts *o = p->o;
	uint64_t start = tsc_now_ns(), next_refresh = start + REFRESH_NS;
	uint64_t tick = p->wait ? 1000000000ull / (uint64_t)o->hz : DRAIN_NS;
	uint64_t end = o->duration > 0 ? start + (uint64_t)(o->duration * 1e9) : UINT64_MAX;
	uint64_t next = start + (p->wait ? 0 : tick);
	int err;

	while (!stop_signal) {
		uint64_t now = tsc_now_ns();
		if (now >= end)
			break;
		if (now < next) {
			uint64_t until = next < end ? next : end;
			struct pollfd pf = { .fd = p->r->pidfd, .events = POLLIN };
			int ms = (int)((until - now + 999999) / 1000000);
			if (poll(&pf, 1, ms) > 0) {
				p->exited = 1;
				break;
			}
			continue;
		}
		next += tick;
		if (next <= now)
			next = now + tick; /* fell behind: no burst of ticks to catch up */
		if (p->cpu) {
			prof_cpu_drain(p->cpu, &p->loops, &p->store);
			resolve_new(p); /* at once: the process may be gone at the next drain */
		} else {
			err = prof_wait_tick(p->wait, &p->store, now);
			if (err == -EAGAIN || err == -EPROTO) {
				p->skipped++;
				p->last_err = err;
			} else if (err == -ESRCH || !tsc_remote_alive(p->r)) {
				p->exited = 1;
				break;
			} else if (err) {
				return tsc_remote_report(p->r, err, 1);
			} else {
				p->ticks++;
			}
		}
		if (now >= next_refresh) {
			refresh(p);
			next_refresh = now + REFRESH_NS;
		}
	}
	if (p->cpu) {
		prof_cpu_drain(p->cpu, &p->loops, &p->store);
		refresh(p);
	} else {
		prof_wait_flush(p->wait, &p->store, tsc_now_ns());
		resolve_new(p);
	}
	p->store.t1_ns = tsc_now_ns();
	if (!tsc_remote_alive(p->r))
		p->exited = 1;
	int rc = tsc_report_exec(p->r);
	if (rc || !p->wait || p->ticks)
		return rc;
	/* not one tick read: an empty profile would be a guess */
	if (p->skipped && !p->exited)
		return tsc_remote_report(p->r, p->last_err, 1);
	if (!p->exited)
		return TSC_EXIT_OK; /* stopped before the first tick */
	fprintf(stderr, WHO ": process %d exited before its tasks were read\n", p->o->pid);
	return TSC_EXIT_EXITED;
}

static int write_profile(struct profile *p, FILE *f)
{
	const struct profile_opts *o = p->o;
	struct prof_tree t;
	int err;
	if (o->format == PROF_FMT_PPROF)
		return prof_write_pprof(f, &p->store, p->sym, o->by);
	if ((err = prof_fold(&p->store, p->sym, o->by, &t)))
		return err;
	if (o->format == PROF_FMT_SVG) {
		char title[128];
		snprintf(title, sizeof(title), "taskscope profile%s: process %d",
			 o->wait ? " --wait" : "", o->pid);
		err = prof_write_svg(f, &t, title);
	} else {
		err = prof_write_folded(f, &t);
	}
	prof_tree_fini(&t);
	return err;
}

/* The output opened before anything is sampled: a name that cannot be written fails now. */
static int open_output(const char *out, struct tsc_outfile *of, FILE **f)
{
	int fd = -1, err;
	if (!out) {
		*f = stdout;
		return 0;
	}
	err = tsc_outfile_open(of, out);
	if (!err && ((fd = fcntl(of->fd, F_DUPFD_CLOEXEC, 0)) < 0 || !(*f = fdopen(fd, "w")))) {
		err = -errno;
		if (fd >= 0)
			close(fd);
	}
	if (err)
		fprintf(stderr, WHO ": cannot create %s: %s\n", out, tsc_outfile_strerror(err));
	return err;
}

static int run_profile(const struct profile_opts *o)
{
	struct profile p = { .o = o };
	struct tsc_outfile of = { .fd = -1, .dirfd = -1 };
	struct tsc_bpf *none = NULL;
	FILE *f = NULL;
	int rc, err;
	uint64_t sums[TSP_C_NR] = { 0 };

	if (open_output(o->out, &of, &f))
		return TSC_EXIT_ERROR;
	/* the CPU profile's BPF needs the capabilities; the wait profile only ptrace access */
	if (!o->wait && (rc = tsc_check_bpf_caps()))
		goto cleanup;
	if ((rc = tsc_attach_target(o->pid, NULL, &p.r, &none)))
		goto cleanup;
	if ((err = prof_store_init(&p.store, o->wait ? PROF_WAIT : PROF_CPU,
				   1000000000ull / (uint64_t)o->hz)) ||
	    (err = tsc_symbolizer_new(p.r->mem, &p.sym))) {
		fprintf(stderr, WHO ": %s\n", strerror(-err));
		rc = TSC_EXIT_ERROR;
		goto cleanup;
	}
	if (o->wait) {
		if ((err = prof_wait_open(p.r, &p.wait))) {
			fprintf(stderr, WHO ": %s\n", strerror(-err));
			rc = TSC_EXIT_ERROR;
			goto cleanup;
		}
	} else {
		/* the slots first, then the sampler: its first samples find their loops */
		if ((err = prof_loops_read(p.r, &p.loops))) {
			rc = tsc_remote_report(p.r, err, 1);
			goto cleanup;
		}
		if ((err = prof_cpu_open(p.r, o->hz, &p.cpu))) {
			rc = tsc_bpf_exit_code(p.r, err);
			goto cleanup;
		}
		if ((err = prof_cpu_slots(p.cpu, &p.loops))) {
			fprintf(stderr, WHO ": cannot fill the sampler's slots: %s\n", strerror(-err));
			rc = TSC_EXIT_ERROR;
			goto cleanup;
		}
		prof_names_read(p.r, &p.store, &p.loops);
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	p.store.t0_ns = tsc_now_ns();
	if ((rc = sample(&p)))
		goto cleanup;
	if (p.cpu) {
		prof_cpu_counters(p.cpu, sums, TSP_C_NR);
		prof_cpu_close(p.cpu); /* the target is sampled no more */
		p.cpu = NULL;
	}
	uint64_t t0 = tsc_now_ns();
	err = write_profile(&p, f);
	if (fflush(f) || ferror(f))
		err = err ? err : -EIO;
	if (f != stdout && !err)
		err = tsc_outfile_publish(&of);
	if (err) {
		fprintf(stderr, WHO ": writing %s: %s\n", o->out ? o->out : "the output",
			tsc_outfile_strerror(err));
		rc = TSC_EXIT_ERROR;
		goto cleanup;
	}
	if (p.exited)
		fprintf(stderr, WHO ": process %d exited; profile complete\n", o->pid);
	if (tsc_verbose) {
		fprintf(stderr, WHO ": %llu samples in %zu distinct stacks over %.1f s, "
				"written in %.1f ms",
			(unsigned long long)p.store.samples, p.store.n,
			(double)(p.store.t1_ns - p.store.t0_ns) / 1e9,
			(double)(tsc_now_ns() - t0) / 1e6);
		if (p.wait)
			fprintf(stderr, "; %u ticks skipped (registry moving)\n", p.skipped);
		else
			fprintf(stderr, "; BPF: %llu on the process, %llu off its loops, %llu "
					"slot unreadable, %llu lost (buffer full), %llu without stack\n",
				(unsigned long long)sums[TSP_C_SAMPLES],
				(unsigned long long)sums[TSP_C_NO_SLOT],
				(unsigned long long)sums[TSP_C_READ_ERR],
				(unsigned long long)sums[TSP_C_RB_FULL],
				(unsigned long long)sums[TSP_C_NO_STACK]);
	}
	if (sums[TSP_C_RB_FULL])
		fprintf(stderr, WHO ": %llu samples lost: the ring buffer was full (a lower --hz "
				"loses fewer)\n", (unsigned long long)sums[TSP_C_RB_FULL]);
	if (p.store.lost)
		fprintf(stderr, WHO ": %llu samples not kept (more than %u distinct stacks or %u "
				"addresses in them, or out of memory)\n",
			(unsigned long long)p.store.lost, PROF_MAX_STACKS, PROF_MAX_PCS);
	rc = TSC_EXIT_OK;
cleanup:
	prof_cpu_close(p.cpu);
	prof_wait_close(p.wait);
	tsc_symbolizer_free(p.sym);
	prof_store_fini(&p.store);
	prof_loops_fini(&p.loops);
	tsc_remote_close(p.r);
	if (f && f != stdout)
		fclose(f);
	tsc_outfile_close(&of);
	return rc;
}

int tsc_cmd_profile(int argc, char **argv)
{
	struct profile_opts o;
	int rc = parse_profile_opts(argc, argv, &o);
	return rc >= 0 ? rc : run_profile(&o);
}
