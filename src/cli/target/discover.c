/* SPDX-License-Identifier: MIT */
/* Finding the runtime processes of /proc (discover.h). */
#include "target/discover.h"
#include "idmap.h"
#include "opts.h"
#include "target/maps.h"
#include "target/remote.h"
#include "target/walk.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* A bound on the walk, far above any real PID count. */
#define MAX_PROCS (1u << 22)
/* Files remembered: past this, all are forgotten at once (a bound, not an eviction policy). */
#define MAX_FILES (1u << 16)

struct tsc_discover {
	struct tsc_idmap negative;  /* files without a runtime: key of (dev, inode) -> inode */
	uint64_t since;             /* when they started to be remembered */
	int self;
};

int tsc_discover_new(struct tsc_discover **out)
{
	struct tsc_discover *d = calloc(1, sizeof(*d));
	*out = d;
	if (!d)
		return -ENOMEM;
	d->self = getpid();
	return 0;
}

void tsc_discover_free(struct tsc_discover *d)
{
	if (!d)
		return;
	tsc_idmap_free(&d->negative);
	free(d);
}

/* The key is exact: given the inode (the value, checked), it gives the device back. */
static uint64_t file_key(const struct tsc_vma *v)
{
	uint64_t k = tsc_hash_mix(v->inode) ^ ((uint64_t)v->dev_major << 32 | v->dev_minor);
	return k ? k : 1;
}

static int known_negative(const struct tsc_discover *d, const struct tsc_vma *v)
{
	const uint64_t *ino = tsc_idmap_get(&d->negative, file_key(v));
	return ino && *ino == v->inode;
}

/* Every file of m is known to hold no runtime (a process with no file mapped at all, a
 * kernel thread, holds none). */
static int all_negative(const struct tsc_discover *d, const struct tsc_maps *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (!known_negative(d, &m->vma[i]))
			return 0;
	return 1;
}

static void remember_negative(struct tsc_discover *d, const struct tsc_maps *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (d->negative.n < MAX_FILES)
			(void)tsc_idmap_put(&d->negative, file_key(&m->vma[i]), m->vma[i].inode);
}

static void forget_old(struct tsc_discover *d)
{
	uint64_t now = tsc_now_ns();
	if (d->negative.cap && d->negative.n < MAX_FILES && now - d->since < TSC_DISCOVER_FORGET_NS)
		return;
	(void)tsc_idmap_reset(&d->negative, 1024, tsc_hash_key);
	d->since = now;
}

enum verdict { NONE, RUNTIME, GONE, UNREADABLE };

static enum verdict classify(int err)
{
	if (err == -ESRCH || err == -ENOENT)
		return GONE;
	return err == -EINVAL ? NONE : UNREADABLE;
}

/* Look at one process: its verdict; RUNTIME with *rp open (and *rerr 0 or why its runtime
 * cannot be read). */
static enum verdict look(struct tsc_discover *d, int pid, struct tsc_remote **rp, int *rerr)
{
	struct tsc_remote *r = NULL;
	struct tsc_maps m = { 0 };
	enum verdict v;
	int err = tsc_remote_open(pid, &r);
	*rp = NULL;
	if (err) {
		v = classify(err);
		goto cleanup;
	}
	/* the mappings first: one query per file mapped, and the permission check done */
	if ((err = tsc_maps_read(r->procfd, &m))) {
		v = !tsc_remote_alive(r) ? GONE : classify(err);
		goto cleanup;
	}
	if (all_negative(d, &m)) {
		v = NONE;
		goto cleanup;
	}
	err = tsc_remote_find_runtime(r);
	if (!err || err == -EPROTO || err == -EPROTONOSUPPORT) {
		v = RUNTIME;
		*rerr = err;
		*rp = r;
		r = NULL;
	} else if (err == -ENODATA) {
		remember_negative(d, &m);
		v = NONE;
	} else {
		v = !tsc_remote_alive(r) ? GONE : classify(err);
	}
cleanup:
	tsc_maps_free(&m);
	tsc_remote_close(r);
	return v;
}

int tsc_discover_scan(struct tsc_discover *d, const struct tsc_discover_cb *cb,
		      struct tsc_discover_stats *st)
{
	struct tsc_discover_stats s = { 0 };
	struct dirent *de;
	int ret = 0;
	DIR *dir = opendir("/proc");
	if (!dir)
		return -errno;
	forget_old(d);
	while (ret >= 0 && s.scanned < MAX_PROCS && (de = readdir(dir))) {
		int pid = tsc_parse_pid(de->d_name), rerr = 0;
		struct tsc_remote *r;
		if (pid <= 0 || pid == d->self || (cb->skip && cb->skip(pid, cb->ctx)))
			continue;
		s.scanned++;
		switch (look(d, pid, &r, &rerr)) {
		case RUNTIME:
			ret = cb->found(r, rerr, cb->ctx);
			if (ret != 1)
				tsc_remote_close(r);
			break;
		case GONE: s.vanished++; break;
		case UNREADABLE: s.unreadable++; break;
		case NONE: break;
		}
	}
	closedir(dir);
	if (st)
		*st = s;
	return ret < 0 ? ret : 0;
}
