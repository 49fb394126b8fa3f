/* SPDX-License-Identifier: MIT */
/* taskscope metrics: the task numbers of runtime processes for Prometheus, served at /metrics
 * (--listen) or written for node_exporter's textfile collector (--textfile), or printed once. */
#include "cli.h"
#include "metrics/metrics.h"
#include "opts.h"
#include "out/outfile.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEXTFILE_NAME "taskscope.prom"

static void metrics_usage(FILE *f)
{
	fprintf(f,
		"taskscope metrics: task metrics of runtime processes, for Prometheus.\n\n"
		"USAGE: taskscope metrics [--listen ADDR:PORT] [--textfile DIR [--interval SECS]\n"
		"                         [--once]] [-v] (--all | [-p] PID...)\n\n"
		"  -a, --all             every process running the runtime (as taskscope ls\n"
		"                        finds them), found again at each scrape\n"
		"  -p, --pid PID         a process (or PIDs as the last arguments); one that\n"
		"                        exits leaves the output\n"
		"  -l, --listen ADDR:PORT  serve /metrics over HTTP there: OpenMetrics to\n"
		"                        Prometheus, text format 0.0.4 to others. \":PORT\" or\n"
		"                        \"PORT\" is loopback (127.0.0.1); port 0 picks a free one;\n"
		"                        where it listens is printed on stdout\n"
		"  -t, --textfile DIR    write DIR/" TEXTFILE_NAME " (text format) every interval,\n"
		"                        replaced atomically, for node_exporter's\n"
		"                        --collector.textfile.directory\n"
		"  -i, --interval SECS   between textfile writes (default 15)\n"
		"  -1, --once            write the textfile once and exit\n"
		"  -w, --wait-thresholds LIST  count the tasks waiting longer than each of\n"
		"                        LIST, seconds separated by commas (default\n"
		"                        1,10,60,600; at most 16)\n"
		"  -v, --verbose         more detail on stderr\n"
		"  -h, --help            this help\n\n"
		"Without --listen or --textfile, the text format is printed once on stdout.\n"
		"A scrape reads each process's task registry the way top does: no probe, no BPF,\n"
		"nothing stopped; root is needed only for other users' processes (ptrace access).\n"
		"Series (labels pid and exe): taskscope_up, taskscope_scrape_error{reason},\n"
		"taskscope_tasks{state}, taskscope_tasks_created_total,\n"
		"taskscope_tasks_finished_total, taskscope_task_switches_total,\n"
		"taskscope_loop_cpu_seconds_total{tid}, taskscope_loop_lag_seconds{tid},\n"
		"taskscope_task_wait_longest_seconds,\n"
		"taskscope_tasks_waiting_longer_than{seconds}, taskscope_loops,\n"
		"taskscope_registry_retries_total, taskscope_registry_invalid,\n"
		"taskscope_scrape_duration_seconds,\n"
		"taskscope_process_start_time_seconds; and taskscope_exporter_* (README: fleet).\n\n"
		"EXAMPLES:\n"
		"  taskscope metrics --all --listen 127.0.0.1:9464\n"
		"  taskscope metrics --all --textfile /var/lib/prometheus/node-exporter\n"
		"  taskscope metrics 1234 | promtool check metrics\n");
}

struct metrics_opts {
	int all, once;
	double thresholds[MX_MAX_THRESHOLDS];
	size_t nthresholds;
	const char *listen, *textfile;
	double interval;
	int *pids;
	size_t npids;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* "1,10,60": seconds, ascending, each once. 0 or -1. */
static int parse_thresholds(const char *arg, struct metrics_opts *o)
{
	char buf[512], *save = NULL;
	size_t n = 0;
	if (snprintf(buf, sizeof(buf), "%s", arg) >= (int)sizeof(buf))
		return -1;
	for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (n == MX_MAX_THRESHOLDS || tsc_parse_double(w, 0, 1e9, &o->thresholds[n]))
			return -1;
		n++;
	}
	if (!n)
		return -1;
	qsort(o->thresholds, n, sizeof(double), cmp_double);
	o->nthresholds = 0;
	for (size_t i = 0; i < n; i++)
		if (!o->nthresholds || o->thresholds[i] != o->thresholds[o->nthresholds - 1])
			o->thresholds[o->nthresholds++] = o->thresholds[i];
	return 0;
}

static int parse_metrics_opts(int argc, char **argv, struct metrics_opts *o)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "pid", required_argument, NULL, 'p' },
		{ "listen", required_argument, NULL, 'l' },
		{ "textfile", required_argument, NULL, 't' },
		{ "interval", required_argument, NULL, 'i' },
		{ "once", no_argument, NULL, '1' },
		{ "wait-thresholds", required_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	size_t cap = 0;
	int c, pid;
	*o = (struct metrics_opts){ .interval = 15, .thresholds = { 1, 10, 60, 600 },
				    .nthresholds = 4 };
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":ap:l:t:i:1w:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'a': o->all = 1; break;
		case 'p':
			if ((pid = tsc_parse_pid(optarg)) < 0) {
				fprintf(stderr, "taskscope metrics: '%s' is not a PID\n", optarg);
				goto usage;
			}
			if (tsc_grow((void **)&o->pids, &cap, o->npids + 1, sizeof(int)))
				return TSC_EXIT_ERROR;
			o->pids[o->npids++] = pid;
			break;
		case 'l': o->listen = optarg; break;
		case 't': o->textfile = optarg; break;
		case 'i':
			if (tsc_parse_double(optarg, 0.1, 86400, &o->interval)) {
				fprintf(stderr, "taskscope metrics: --interval takes seconds, "
					"0.1 to 86400\n");
				goto usage;
			}
			break;
		case '1': o->once = 1; break;
		case 'w':
			if (parse_thresholds(optarg, o)) {
				fprintf(stderr, "taskscope metrics: --wait-thresholds takes up to %d "
					"numbers of seconds, separated by commas\n", MX_MAX_THRESHOLDS);
				goto usage;
			}
			break;
		case 'v': tsc_verbose++; break;
		case 'h': metrics_usage(stdout); return TSC_EXIT_OK;
		default:
			tsc_opts_bad("metrics", c, argc, argv);
			goto usage;
		}
	}
	for (; optind < argc; optind++) {
		if ((pid = tsc_parse_pid(argv[optind])) < 0) {
			fprintf(stderr, "taskscope metrics: '%s' is not a PID\n", argv[optind]);
			goto usage;
		}
		if (tsc_grow((void **)&o->pids, &cap, o->npids + 1, sizeof(int)))
			return TSC_EXIT_ERROR;
		o->pids[o->npids++] = pid;
	}
	if (o->all == !!o->npids) {
		fprintf(stderr, "taskscope metrics: %s\n",
			o->all ? "--all, or PIDs: not both" : "no PID given (or --all)");
		goto usage;
	}
	if (o->once && !o->textfile) {
		fprintf(stderr, "taskscope metrics: --once goes with --textfile\n");
		goto usage;
	}
	return -1;
usage:
	fprintf(stderr, "Usage: taskscope metrics [--listen ADDR:PORT] [--textfile DIR] "
		"(--all | PID...) (see taskscope metrics --help)\n");
	return TSC_EXIT_USAGE;
}

/* Scrape and print once on f. */
static int print_once(struct mx_set *s, FILE *f)
{
	char *buf;
	size_t len;
	int err = mx_render(s, MX_TEXT, &buf, &len);
	if (err) {
		fprintf(stderr, "taskscope metrics: %s\n", strerror(-err));
		return TSC_EXIT_ERROR;
	}
	fwrite(buf, 1, len, f);
	free(buf);
	return TSC_EXIT_OK;
}

/* DIR/taskscope.prom, replaced whole: the collector never reads half a file. */
static int write_textfile(struct mx_set *s, const char *path)
{
	struct tsc_outfile of = { .fd = -1, .dirfd = -1 };
	char *buf = NULL;
	size_t len = 0, done = 0;
	int err = mx_render(s, MX_TEXT, &buf, &len);
	if (!err)
		err = tsc_outfile_open(&of, path);
	while (!err && done < len) {
		ssize_t k = write(of.fd, buf + done, len - done);
		if (k < 0 && errno != EINTR)
			err = -errno;
		done += k > 0 ? (size_t)k : 0;
	}
	if (!err)
		err = tsc_outfile_publish(&of);
	if (err)
		fprintf(stderr, "taskscope metrics: cannot write %s: %s\n", path,
			tsc_outfile_strerror(err));
	tsc_outfile_close(&of);
	free(buf);
	return err;
}

static int serve(struct mx_set *s, const struct metrics_opts *o, struct mx_http *h,
		 const char *path)
{
	struct pollfd p[MX_HTTP_MAX_FDS];
	uint64_t next = tsc_now_ns(), step = (uint64_t)(o->interval * 1e9);
	if (h) {
		printf("taskscope metrics: listening on http://%s/metrics\n", mx_http_where(h));
		fflush(stdout);
	}
	for (;;) {
		int timeout = -1;
		size_t n = 0;
		if (path) {
			uint64_t now = tsc_now_ns();
			if (now >= next) {
				write_textfile(s, path);
				if (o->once)
					break;
				next = now + step;
			}
			now = tsc_now_ns();
			timeout = next > now ? (int)((next - now) / 1000000 + 1) : 0;
		}
		if (h) {
			int ht = mx_http_timeout_ms(h);
			if (ht >= 0 && (timeout < 0 || ht < timeout))
				timeout = ht;
			n = mx_http_pollfds(h, p);
		}
		if (poll(p, n, timeout) < 0 && errno != EINTR) {
			perror("taskscope metrics: poll");
			break;
		}
		if (h)
			mx_http_serve(h, p, n, s);
	}
	return TSC_EXIT_OK;
}

int tsc_cmd_metrics(int argc, char **argv)
{
	struct metrics_opts o;
	struct mx_set s = { 0 };
	struct mx_http *h = NULL;
	char *path = NULL, msg[320];
	int err, rc = parse_metrics_opts(argc, argv, &o);
	if (rc >= 0)
		goto cleanup;
	if (o.textfile) {
		int dfd = open(o.textfile, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			fprintf(stderr, "taskscope metrics: --textfile %s: %s\n", o.textfile,
				strerror(errno));
			rc = TSC_EXIT_USAGE;
			goto cleanup;
		}
		close(dfd);
		if (asprintf(&path, "%s/%s", o.textfile, TEXTFILE_NAME) < 0) {
			path = NULL;
			rc = TSC_EXIT_ERROR;
			goto cleanup;
		}
	}
	/* bound before any target is read: a wrong address is a usage error, said first */
	if (o.listen && (err = mx_http_listen(o.listen, &h, msg, sizeof(msg)))) {
		fprintf(stderr, "taskscope metrics: %s\n", msg);
		rc = err == -EINVAL ? TSC_EXIT_USAGE : TSC_EXIT_ERROR;
		goto cleanup;
	}
	s.all = o.all;
	memcpy(s.thresholds, o.thresholds, sizeof(s.thresholds));
	s.nthresholds = o.nthresholds;
	for (size_t i = 0; i < o.npids; i++) {
		size_t k = 0;
		while (k < i && o.pids[k] != o.pids[i])
			k++; /* a PID given twice is one process: its series once */
		if (k == i && (rc = mx_set_add_pid(&s, o.pids[i])))
			goto cleanup;
	}
	if (!o.listen && !o.textfile)
		rc = print_once(&s, stdout);
	else
		rc = serve(&s, &o, h, path);
	if (!rc)
		rc = tsc_flush_stdout();
cleanup:
	mx_http_free(h);
	mx_set_free(&s);
	free(o.pids);
	free(path);
	return rc;
}
