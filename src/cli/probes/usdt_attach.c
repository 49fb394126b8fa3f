// SPDX-License-Identifier: MIT
/* The one USDT attacher: sites read and checked once, one uprobe-multi link, or one libbpf
 * USDT link per probe on kernels without them. */
#include "probes/usdt_attach.h"
#include "cli.h"
#include "probes/compat.h"
#include "target/elfx.h"
#include "out/out.h"
#include "testhooks.h"
#include "target/tfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define MAX_SITES 4096 /* of the probes we attach, in one binary (the runtime: a dozen) */

static const char caps_hint[] =
	"needs root or CAP_BPF+CAP_PERFMON+CAP_SYS_PTRACE (e.g. run it with sudo)";

void tsc_usdt_explain_load(const char *who, int err)
{
	if (err == -EPERM || err == -EACCES)
		fprintf(stderr, "%s: cannot load BPF programs: %s; %s\n", who, strerror(-err),
			caps_hint);
	else if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
		fprintf(stderr, "%s: cannot load BPF programs: %s; the kernel lacks BTF "
				"(CONFIG_DEBUG_INFO_BTF), which taskscope needs\n", who,
			strerror(-err));
	else
		fprintf(stderr, "%s: cannot load BPF programs: %s (run with -v for the verifier's "
				"log)\n", who, strerror(-err));
}

static void explain_attach(const char *who, const char *probe, const char *path, int err)
{
	char binary[TSC_TEXT_SIZE(1024)];
	tsc_esc(binary, sizeof(binary), path); /* the target chose it */
	if (err == -EPERM || err == -EACCES)
		fprintf(stderr, "%s: cannot attach probe taskscope:%s: %s; %s\n", who, probe,
			strerror(-err), caps_hint);
	else if (access("/sys/bus/event_source/devices/uprobe/type", R_OK) != 0)
		fprintf(stderr, "%s: cannot attach probe taskscope:%s: %s; the kernel lacks "
				"uprobes (CONFIG_UPROBE_EVENTS)\n", who, probe, strerror(-err));
	else if (err == -ENOENT)
		fprintf(stderr, "%s: %s has no USDT probe taskscope:%s: is it linked with a "
				"libtaskscope that has probes?\n", who, binary, probe);
	else if (err == -ESRCH)
		fprintf(stderr, "%s: cannot attach probe taskscope:%s: the process exited\n", who,
			probe);
	else
		fprintf(stderr, "%s: cannot attach probe taskscope:%s in %s: %s\n", who, probe,
			binary, strerror(-err));
}

/* The probe sites of one binary, read and checked once: what the uprobe-multi link wants, and
 * what must hold before libbpf's USDT attach may patch the same sites. */
struct sites {
	const struct tsc_usdt_req *req;
	struct tsc_elf e;
	uint64_t *off, *ref, *cookie;
	uint8_t *rank;     /* the probe's index in req->probes */
	size_t n, cap;
	unsigned seen;     /* bit i: probes[i] has a site */
	bool reg_args;     /* every note of a known probe passes its arguments as the ABI says */
	int err;
	const char *bad;   /* the probe whose note failed the checks */
};

static int sites_room(struct sites *st)
{
	if (st->n < st->cap)
		return 0;
	size_t cap = st->cap ? 2 * st->cap : 16;
	uint64_t *o = realloc(st->off, cap * 8);
	if (o)
		st->off = o;
	uint64_t *r = o ? realloc(st->ref, cap * 8) : NULL;
	if (r)
		st->ref = r;
	uint64_t *c = r ? realloc(st->cookie, cap * 8) : NULL;
	if (c)
		st->cookie = c;
	uint8_t *k = c ? realloc(st->rank, cap) : NULL;
	if (!k)
		return -ENOMEM;
	st->rank = k;
	st->cap = cap;
	return 0;
}

static int add_site(const struct tsc_usdt *u, void *ctx)
{
	struct sites *st = ctx;
	const struct tsc_usdt_req *req = st->req;
	if (strcmp(u->provider, "taskscope"))
		return 0;
	for (size_t i = 0; i < req->nprobes; i++) {
		const struct tsc_usdt_probe *p = &req->probes[i];
		if (strcmp(u->name, p->name))
			continue;
		/* the BPF programs may read the registers directly only if every note agrees */
		if (strcmp(u->args, p->args))
			st->reg_args = false;
		if (!(req->want & (1u << i)))
			continue;
		if (st->n == MAX_SITES)
			return st->err = -E2BIG;
		if (sites_room(st))
			return st->err = -ENOMEM;
		/* a damaged note must not make us patch the target anywhere but at a probe site */
		if (tsc_elf_usdt_site(&st->e, u, &st->off[st->n], &st->ref[st->n])) {
			st->bad = p->name;
			return st->err = -ENOEXEC;
		}
		st->cookie[st->n] = p->cookie;
		st->rank[st->n++] = (uint8_t)i;
		st->seen |= 1u << i;
	}
	return 0;
}

static void sites_free(struct sites *st)
{
	tsc_elf_close(&st->e);
	free(st->off);
	free(st->ref);
	free(st->cookie);
	free(st->rank);
}

/* The kernel registers the sites in this order: the request's (for taskscope.bpf.c,
 * task_finish before task_create). An insertion sort: the sites are a dozen. */
static void sites_sort(struct sites *st)
{
	for (size_t i = 1; i < st->n; i++) {
		for (size_t j = i; j > 0 && st->rank[j] < st->rank[j - 1]; j--) {
			uint64_t t;
			uint8_t k;
			t = st->off[j], st->off[j] = st->off[j - 1], st->off[j - 1] = t;
			t = st->ref[j], st->ref[j] = st->ref[j - 1], st->ref[j - 1] = t;
			t = st->cookie[j], st->cookie[j] = st->cookie[j - 1], st->cookie[j - 1] = t;
			k = st->rank[j], st->rank[j] = st->rank[j - 1], st->rank[j - 1] = k;
		}
	}
}

/* Read and check every wanted site of the binary open at fd; explains its failures. */
static int read_sites(int fd, const struct tsc_usdt_req *req, struct sites *st)
{
	const char *who = req->who, *binary = req->binary;
	int err;
	memset(st, 0, sizeof(*st));
	st->req = req;
	st->reg_args = true;
	if ((err = tsc_elf_open(fd, &st->e, TSC_ELF_NOTES, TSC_ELF_MAX_READ))) {
		fprintf(stderr, "%s: cannot read the USDT notes of %s: %s\n", who, binary,
			err == -ENOEXEC ? "not a 64-bit ELF file we can read" : tsc_tfile_strerror(err));
		return err;
	}
	if ((err = tsc_elf_usdt_foreach(&st->e, add_site, st)) || (err = st->err)) {
		if (err == -ENOEXEC)
			fprintf(stderr, "%s: %s: the note of probe taskscope:%s points outside a "
					"probe site or its semaphore outside .probes: a damaged file; "
					"not attaching\n", who, binary, st->bad);
		else if (err == -E2BIG)
			fprintf(stderr, "%s: %s has more than %d taskscope probe sites; not "
					"attaching\n", who, binary, MAX_SITES);
		else
			fprintf(stderr, "%s: cannot read the USDT notes of %s: %s\n", who, binary,
				strerror(-err));
		return err;
	}
	for (size_t i = 0; i < req->nprobes; i++) {
		if ((req->want & (1u << i)) && !(st->seen & (1u << i))) {
			explain_attach(who, req->probes[i].name, binary, -ENOENT);
			return -ENOENT;
		}
	}
	sites_sort(st);
	return 0;
}

/* The errors of a kernel that has no uprobe-multi links (or not for this many sites). */
static bool multi_unsupported(int err)
{
	return err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUP || err == -E2BIG;
}

/* Every wanted site in one uprobe-multi link, filtered on the target's pid. */
static int attach_multi(const struct tsc_usdt_req *req, const struct tsc_usdt_object *obj,
			const char *path, const struct sites *st, struct tsc_usdt_links *l)
{
	union bpf_attr attr;
	struct tsc_uprobe_multi_attr um = {
		.prog_fd = (__u32)bpf_program__fd(obj->prog(obj->ctx, -1)),
		.attach_type = TSC_BPF_TRACE_UPROBE_MULTI,
		.path = (uintptr_t)path,
		.offsets = (uintptr_t)st->off,
		.ref_ctr_offsets = (uintptr_t)st->ref,
		.cookies = (uintptr_t)st->cookie,
		.cnt = (__u32)st->n,
		.pid = (__u32)req->pid,
	};
	_Static_assert(sizeof(um) <= sizeof(attr), "bpf_attr too small");
	memset(&attr, 0, sizeof(attr));
	memcpy(&attr, &um, sizeof(um));
	l->multi_fd = (int)syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	if (l->multi_fd >= 0)
		return 0;
	int err = -errno;
	l->multi_fd = -1;
	if (!multi_unsupported(err))
		explain_attach(req->who, "*", req->binary, err);
	return err;
}

/* obj's open, load and prepare. A multi load that fails for another reason than privilege
 * is an older kernel: -EOPNOTSUPP, unexplained, and the caller falls back. */
static int load(const struct tsc_usdt_req *req, const struct tsc_usdt_object *obj, bool multi,
		bool reg_args)
{
	int err = obj->open(obj->ctx, multi, reg_args);
	if (err)
		return err;
	if ((err = obj->load(obj->ctx))) {
		if (multi && err != -EPERM && err != -EACCES)
			return -EOPNOTSUPP;
		tsc_usdt_explain_load(req->who, err);
		return err;
	}
	return obj->prepare ? obj->prepare(obj->ctx) : 0;
}

/* One libbpf USDT link per wanted probe, in the request's order. */
static int attach_single(const struct tsc_usdt_req *req, const struct tsc_usdt_object *obj,
			 const char *path, struct tsc_usdt_links *l)
{
	for (size_t i = 0; i < req->nprobes; i++) {
		if (!(req->want & (1u << i)))
			continue;
		const char *name = req->probes[i].name;
		struct bpf_link *link = bpf_program__attach_usdt(obj->prog(obj->ctx, (int)i),
								 req->pid, path, "taskscope", name,
								 NULL);
		if (!link) {
			int err = -errno;
			explain_attach(req->who, name, req->binary, err);
			return err;
		}
		l->links[l->nlinks++] = link;
	}
	return 0;
}

int tsc_usdt_attach(const struct tsc_usdt_req *req, const struct tsc_usdt_object *obj,
		    struct tsc_usdt_links *l)
{
	struct sites st = { 0 };
	char path[48];
	int err, fd;

	memset(l, 0, sizeof(*l));
	l->multi_fd = -1;
	if (!req->want || req->nprobes > TSC_USDT_MAX_PROBES)
		return -EINVAL;
	/* The binary as checked, by the fd we hold: the kernel and libbpf then look at that
	 * very file, whatever its path becomes meanwhile. */
	if ((fd = tsc_tfile_open(AT_FDCWD, req->binary, 0, NULL)) < 0) {
		fprintf(stderr, "%s: cannot open %s: %s\n", req->who, req->binary,
			tsc_tfile_strerror(fd));
		return fd;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((err = read_sites(fd, req, &st)))
		goto cleanup;
	const struct tsc_testhooks *th = tsc_testhooks();
	bool reg_args = st.reg_args && !th->generic_args;
	/* the multi program reads the arguments' registers: it needs notes that follow the ABI */
	if (reg_args && !th->no_multi) {
		if (!(err = load(req, obj, true, true)) &&
		    !(err = attach_multi(req, obj, path, &st, l)))
			goto cleanup;
		if (!multi_unsupported(err))
			goto cleanup; /* already explained */
		if (tsc_verbose)
			fprintf(stderr, "%s: no uprobe-multi link (%s): one link per probe\n",
				req->who, strerror(-err));
		obj->close(obj->ctx);
	}
	if (!(err = load(req, obj, false, reg_args)))
		err = attach_single(req, obj, path, l);
cleanup:
	if (err) {
		tsc_usdt_release(l);
		obj->close(obj->ctx);
	}
	sites_free(&st);
	close(fd);
	return err;
}

void tsc_usdt_release(struct tsc_usdt_links *l)
{
	for (int i = 0; i < l->nlinks; i++)
		bpf_link__destroy(l->links[i]);
	l->nlinks = 0;
	if (l->multi_fd >= 0)
		close(l->multi_fd);
	l->multi_fd = -1;
}
