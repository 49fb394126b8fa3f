/* SPDX-License-Identifier: MIT */
/* Kernel ABI that the build's headers (Debian 12: UAPI 6.1, libbpf 1.1) predate. Each entry
 * says which version makes it unnecessary; the layouts are the kernel's, checked by size. */
#ifndef TSC_COMPAT_H
#define TSC_COMPAT_H

#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/types.h>

/* ---- BPF_TRACE_UPROBE_MULTI links (Linux 6.6) ----
 * Unnecessary with UAPI <linux/bpf.h> >= 6.6 (union bpf_attr's link_create.uprobe_multi and
 * enum bpf_attach_type's BPF_TRACE_UPROBE_MULTI) and libbpf >= 1.3, whose bpf_link_create()
 * takes .uprobe_multi options and bpf_program__attach_uprobe_multi() does all of this. */
#define TSC_BPF_TRACE_UPROBE_MULTI 48 /* enum bpf_attach_type */

/* union bpf_attr's link_create for BPF_TRACE_UPROBE_MULTI, as the kernel lays it out. */
struct tsc_uprobe_multi_attr {
	__u32 prog_fd, target_fd, attach_type, flags;
	__u64 path, offsets, ref_ctr_offsets, cookies;
	__u32 cnt, flags2, pid, pad;
};
_Static_assert(sizeof(struct tsc_uprobe_multi_attr) == 64, "uprobe_multi link_create is 64 bytes");

/* ---- PROCMAP_QUERY on /proc/PID/maps (Linux 6.11) ----
 * Unnecessary with UAPI <linux/fs.h> >= 6.11 (struct procmap_query, PROCMAP_QUERY): the one
 * mapping covering an address, without listing (and paying for) all the others. */
struct tsc_procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start;
	uint64_t vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};
#define TSC_PROCMAP_QUERY _IOWR('f', 17, struct tsc_procmap_query)
#define TSC_PROCMAP_VMA_EXECUTABLE 0x04   /* PROCMAP_QUERY_VMA_EXECUTABLE */
#define TSC_PROCMAP_COVERING_OR_NEXT 0x10 /* PROCMAP_QUERY_COVERING_OR_NEXT_VMA */
#define TSC_PROCMAP_FILE_BACKED 0x20      /* PROCMAP_QUERY_FILE_BACKED_VMA */
_Static_assert(sizeof(struct tsc_procmap_query) == 104, "procmap_query is 104 bytes");

#endif
