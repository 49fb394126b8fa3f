/* SPDX-License-Identifier: MIT */
/*
 * taskscope metrics: what its files share.
 *
 *   metrics.c          the command: options, the poll loop, the textfile writes
 *   metrics/targets.c  the processes watched: given PIDs, or every runtime (discover.h)
 *   metrics/scrape.c   one read of one process: the registry as top reads it (top_reg, no
 *                      probe, no BPF), its loop threads' CPU from /proc
 *   metrics/expo.c     the exposition: Prometheus text 0.0.4 or OpenMetrics 1.0
 *   metrics/http.c     the endpoint: a poll loop, bounded requests, deadlines
 */
#ifndef TSC_METRICS_H
#define TSC_METRICS_H

#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "idmap.h"
#include "top/top.h"

struct tsc_remote;
struct tsc_discover;

/* One loop thread's CPU and timer lag. */
struct mx_loop {
	int32_t tid;
	uint64_t cpu_ns;
	uint64_t lag_ns;
};

/* Wait-age thresholds (--wait-thresholds): at most this many. */
#define MX_MAX_THRESHOLDS 16

/* One process watched, and what its last scrape found. */
struct mx_target {
	int pid;
	char exe[PATH_MAX];
	struct tsc_remote *r;
	struct top_reg *reg;        /* NULL when its runtime cannot be read at all */
	struct top_model m;
	uint64_t start_ns;          /* CLOCK_BOOTTIME when it started */
	/* the last scrape */
	const char *error;          /* NULL, or the reason label of taskscope_scrape_error */
	int gone;                   /* it exited or exec'd: reported once, then dropped */
	double scrape_s;
	struct mx_loop *loops;
	size_t nloops, loopcap;
	/* wait ages, from a runtime that publishes them (TS_DEBUG_F_WAIT_AGES) */
	int ages;
	uint64_t wait_longest_ns;   /* the longest current wait, 0 = none */
	size_t waiting_over[MX_MAX_THRESHOLDS]; /* tasks waiting longer than each threshold */
	/* counters, kept monotonic across scrapes */
	int counted;                /* a scrape succeeded once: the counters hold */
	uint64_t created, finished, switches;
	struct tsc_idmap sw_seen, sw_next; /* task id -> its switches at the last scrape */
};

struct mx_set {
	struct mx_target **t;
	size_t n, cap;
	int all;                    /* --all: every runtime process, found at each scrape */
	double thresholds[MX_MAX_THRESHOLDS]; /* wait ages, seconds, ascending */
	size_t nthresholds;
	struct tsc_discover *disc;
	size_t unreadable;          /* processes passed over at the last discovery */
	double discovery_s;         /* the time it took */
	double scrape_s;            /* the whole last scrape */
};

/* ---- targets.c ---- */
/* Watch pid (a runtime found, or the failure said on stderr): an exit code. */
int mx_set_add_pid(struct mx_set *s, int pid);
/* With --all, find the runtime processes not watched yet; then drop the ones reported gone
 * at the last scrape. 0 or -errno. */
int mx_set_refresh(struct mx_set *s);
void mx_set_free(struct mx_set *s);

/* ---- scrape.c ---- */
/* Read every target once (its error and gone set on failure); wait ages against the set's
 * thresholds. */
void mx_scrape_all(struct mx_set *s);
void mx_target_free(struct mx_target *t); /* accepts NULL */

/* ---- expo.c ---- */
enum mx_format { MX_TEXT, MX_OPENMETRICS };
/* The content type of each format, for HTTP. */
const char *mx_content_type(enum mx_format f);
/* The exposition of every target's last scrape onto f. */
void mx_expose(FILE *f, const struct mx_set *s, enum mx_format fmt);
/* Refresh the set, scrape, and render into a malloc'd buffer: 0 or -errno. */
int mx_render(struct mx_set *s, enum mx_format fmt, char **buf, size_t *len);

/* ---- http.c ---- */
struct mx_http;
/* Listen on addr ("HOST:PORT", "[V6]:PORT", ":PORT" or "PORT" for loopback; port 0: any
 * free one). 0 or -errno with a message in err. */
int mx_http_listen(const char *addr, struct mx_http **out, char *err, size_t n);
/* Where it listens, "127.0.0.1:9100". */
const char *mx_http_where(const struct mx_http *h);
/* Its descriptors for poll (at most MX_HTTP_MAX_FDS); returns how many. */
#define MX_HTTP_MAX_FDS 65
size_t mx_http_pollfds(struct mx_http *h, struct pollfd *p);
/* Milliseconds until the next connection deadline, -1 when none. */
int mx_http_timeout_ms(const struct mx_http *h);
/* Serve what poll found on p[0..n) and expire what is late; render makes a response body. */
void mx_http_serve(struct mx_http *h, const struct pollfd *p, size_t n, struct mx_set *s);
void mx_http_free(struct mx_http *h);

#endif
