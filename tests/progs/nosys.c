/* SPDX-License-Identifier: MIT */
/*
 * nosys: run a command as if the kernel lacked some system calls, for the tests of the CLI's
 * "kernel lacks a feature" errors. A seccomp filter makes each named call fail with ENOSYS.
 *
 *   nosys CALL[,CALL...] COMMAND [ARGS...]      CALL: pidfd_open process_vm_readv bpf
 *                                                     perf_event_open
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static const struct { const char *name; int nr; } calls[] = {
	{ "pidfd_open", SYS_pidfd_open },
	{ "process_vm_readv", SYS_process_vm_readv },
	{ "bpf", SYS_bpf },
	{ "perf_event_open", SYS_perf_event_open },
};

int main(int argc, char **argv)
{
	struct sock_filter f[64];
	int n = 0, k = 0;
	char list[256];
	if (argc < 3) {
		fprintf(stderr, "usage: nosys CALL[,CALL...] COMMAND [ARGS...]\n");
		return 2;
	}
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, arch));
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, nr));
	snprintf(list, sizeof(list), "%s", argv[1]);
	for (char *c = strtok(list, ","); c; c = strtok(NULL, ",")) {
		size_t i;
		for (i = 0; i < sizeof(calls) / sizeof(calls[0]) && strcmp(c, calls[i].name); i++)
			;
		if (i == sizeof(calls) / sizeof(calls[0]) || n > 56) {
			fprintf(stderr, "nosys: unknown call %s\n", c);
			return 2;
		}
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
						      (unsigned)calls[i].nr, 0, 1);
		f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
						      SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
		k++;
	}
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = { .len = (unsigned short)n, .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		perror("nosys: seccomp");
		return 1;
	}
	execvp(argv[2], argv + 2);
	perror("nosys: exec");
	return 127;
}
