/* SPDX-License-Identifier: MIT */
/* <bpf/usdt.bpf.h> includes <linux/errno.h>, which wants <asm/errno.h>: clang -target bpf does
 * not search the host's multiarch include folder, and every architecture we build for uses the
 * generic numbers. */
#include <asm-generic/errno.h>
