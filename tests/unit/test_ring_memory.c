/* SPDX-License-Identifier: MIT */
/* The memory a ring is made of (src/runtime/ring.c): a sealed memfd mapped shared, which a
 * tracer can map too; where memfd_create is forbidden (a seccomp filter), private anonymous
 * memory. Neither is mapped in a forked child: a child never writes into its parent's ring,
 * nor holds a private one copy-on-write (each page the loop wrote next would be copied while
 * the child lived). Read back from /proc. */
#include "internal.h"
#include "check.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

struct mapping {
	char perms[8];
	char path[256];
};

/* The mapping of /proc/PID/maps that holds addr: 0, or -1 when none does. */
static int mapping_of(pid_t pid, uintptr_t addr, struct mapping *m)
{
	char name[64], line[512];
	snprintf(name, sizeof(name), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(name, "r");
	int found = -1;
	if (!f)
		return -1;
	while (found && fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		int at = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &s, &e, m->perms, &at) != 3 ||
		    addr < s || addr >= e)
			continue;
		snprintf(m->path, sizeof(m->path), "%s", line + at);
		m->path[strcspn(m->path, "\n")] = 0;
		found = 0;
	}
	fclose(f);
	return found;
}

/* What make_ring found, as bits of an exit status: the ring made and found mapped, shared
 * (a memfd) or private (anonymous), mapped in a child forked then. */
enum { RING_MADE = 1, RING_SHARED = 2, RING_PRIVATE = 4, RING_IN_CHILD = 8 };

static void *make_ring(void *arg)
{
	(void)arg;
	ts_yield(); /* the loop's first event makes its ring */
	uintptr_t ring = (uintptr_t)ts__tls_loop->ring;
	struct mapping m;
	int found = 0;
	if (ring && !mapping_of(getpid(), ring, &m)) {
		found |= RING_MADE;
		if (!strcmp(m.perms, "rw-s") && !strncmp(m.path, "/memfd:taskscope-ring", 21))
			found |= RING_SHARED;
		if (!strcmp(m.perms, "rw-p") && !m.path[0])
			found |= RING_PRIVATE;
		printf("#   pid %d: ring at %#lx, %s %s\n", (int)getpid(), (unsigned long)ring,
		       m.perms, m.path);
	}
	pid_t pid = fork();
	if (pid == 0) /* the child makes nothing: it only looks */
		_exit(mapping_of(getpid(), ring, &m) == 0);
	int status = -1;
	if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status))
		found |= RING_IN_CHILD;
	return (void *)(intptr_t)found;
}

/* The flight recorder's ring, in this process or in a child that memfd_create fails in
 * (ENOSYS, as a seccomp filter makes it); what make_ring found. */
static int ring_found(int no_memfd)
{
	if (!no_memfd) {
		CHECK_EQ(ts_flight_recorder(1 << 20), 0);
		intptr_t found = (intptr_t)ts_run(make_ring, NULL);
		ts_flight_recorder(0);
		return (int)found;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_memfd_create, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			_exit(100);
		if (ts_flight_recorder(1 << 20))
			_exit(101);
		int found = (int)(intptr_t)ts_run(make_ring, NULL);
		fflush(stdout);
		_exit(found);
	}
	int status = -1;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) < 100);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(a_ring_is_a_sealed_memfd_never_mapped_in_a_child)
{
	CHECK_EQ(ring_found(0), RING_MADE | RING_SHARED);
}

TEST(without_memfd_a_ring_is_private_memory_never_mapped_in_a_child)
{
	CHECK_EQ(ring_found(1), RING_MADE | RING_PRIVATE);
}

int main(void)
{
	RUN(a_ring_is_a_sealed_memfd_never_mapped_in_a_child);
	RUN(without_memfd_a_ring_is_private_memory_never_mapped_in_a_child);
	return DONE();
}
