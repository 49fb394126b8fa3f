/* SPDX-License-Identifier: MIT */
/* The one attacher of taskscope USDT probes, for every BPF object of the CLI: the sites are
 * read from the binary's notes and checked once, then attached with one uprobe-multi link
 * where the kernel has it (Linux 6.6: no perf event per probe), else with one libbpf USDT
 * link per probe. Prefer multi, fall back to single; the decision is made here only. */
#ifndef TSC_USDT_ATTACH_H
#define TSC_USDT_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpf_program;
struct bpf_link;

#define TSC_USDT_MAX_PROBES 16

/* One probe of provider taskscope that the object knows. */
struct tsc_usdt_probe {
	const char *name;  /* taskscope:NAME */
	const char *args;  /* its argument spec in the probe ABI (include/taskscope/probes.h) */
	uint64_t cookie;   /* the BPF cookie of its sites in the uprobe-multi link */
};

/* What the attacher asks of the BPF object it attaches; ctx is the caller's. */
struct tsc_usdt_object {
	void *ctx;
	/* Open and configure the object: for one uprobe-multi link (multi: the program of
	 * prog(-1) expects BPF_TRACE_UPROBE_MULTI) or for one link per probe; reg_args: every
	 * note passes its arguments as the probe ABI says, so the programs may read the
	 * registers directly. 0 or -errno, explained. */
	int (*open)(void *ctx, bool multi, bool reg_args);
	/* Load it: 0 or -errno, which the attacher explains (or falls back on). */
	int (*load)(void *ctx);
	/* Optional: once loaded, before any probe is attached. 0 or -errno, explained. */
	int (*prepare)(void *ctx);
	/* Destroy what open made (the attacher falls back, or failed). */
	void (*close)(void *ctx);
	/* The program of probe i of the request, or with i = -1 of the uprobe-multi link. */
	struct bpf_program *(*prog)(void *ctx, int i);
};

struct tsc_usdt_req {
	const char *who;      /* what messages start with: "taskscope", "taskscope top" */
	int pid;              /* filter: only this process's hits */
	const char *binary;   /* the ELF holding the sites, reachable from here */
	const struct tsc_usdt_probe *probes; /* every probe the object knows, in attach order */
	size_t nprobes;       /* at most TSC_USDT_MAX_PROBES */
	unsigned want;        /* bit i: attach probes[i] (each one must have a site) */
};

/* The links that hold the probes: releasing them unregisters the uprobes, and the kernel
 * lowers the probes' semaphores, so the target goes back to its untraced path. */
struct tsc_usdt_links {
	int multi_fd;         /* the uprobe-multi link, or -1 */
	struct bpf_link *links[TSC_USDT_MAX_PROBES]; /* else one per wanted probe */
	int nlinks;
};

/* Open and load the object through obj, and attach the wanted probes of req->binary. Returns
 * 0 with the object loaded and *l filled, or -errno with nothing attached, the object closed
 * and a message on stderr. */
int tsc_usdt_attach(const struct tsc_usdt_req *req, const struct tsc_usdt_object *obj,
		    struct tsc_usdt_links *l);
/* Release the links (before the object goes: libbpf's USDT links use its USDT manager). */
void tsc_usdt_release(struct tsc_usdt_links *l);

/* The message for a failure to load BPF programs, in terms of what the user can do. */
void tsc_usdt_explain_load(const char *who, int err);

#endif
