/* SPDX-License-Identifier: MIT */
/* Do we hold what attaching BPF probes takes? Asked before anything is attached. */
#include "cli.h"
#include "target/collect.h"

#include <linux/capability.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TSC_CAP_SYS_PTRACE 19
#define TSC_CAP_SYS_ADMIN 21
#define TSC_CAP_PERFMON 38
#define TSC_CAP_BPF 39

static uint64_t effective_caps(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d))
		return 0;
	return (uint64_t)d[1].effective << 32 | d[0].effective;
}

int tsc_check_bpf_caps(void)
{
	uint64_t caps = effective_caps();
	int has_admin = !!(caps & (1ull << TSC_CAP_SYS_ADMIN));
	static const struct { int bit; const char *name; } need[] = {
		{ TSC_CAP_BPF, "CAP_BPF" },
		{ TSC_CAP_PERFMON, "CAP_PERFMON" },
		{ TSC_CAP_SYS_PTRACE, "CAP_SYS_PTRACE" },
	};
	char missing[128] = "";
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (caps & (1ull << need[i].bit))
			continue;
		/* CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON */
		if (has_admin && need[i].bit != TSC_CAP_SYS_PTRACE)
			continue;
		if (missing[0])
			strcat(missing, ", ");
		strcat(missing, need[i].name);
	}
	if (!missing[0])
		return 0;
	fprintf(stderr,
		"taskscope: attaching BPF probes needs root, or CAP_BPF, CAP_PERFMON and "
		"CAP_SYS_PTRACE;\n"
		"  this process lacks %s. Nothing was attached.\n"
		"  Run it as root (sudo), or add --no-bpf to read the task registry alone\n"
		"  (possible for a process of your own user).\n", missing);
	return TSC_EXIT_PRIVILEGE;
}
