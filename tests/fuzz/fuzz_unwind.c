/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the frame-pointer walk (src/cli/stacks/unwind.c) on any stack bytes. Whatever a
 * target's stack holds, the walk must end, inside its bounds, with at most
 * TSC_STACK_MAX_FRAMES frames. Input: 2 bytes of the stack's low end below the saved stack
 * pointer (in words), then the stack's bytes from the saved stack pointer up to its top.
 * Built by `make fuzz` with ASan and UBSan; run by tests/fuzz/run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stacks/unwind.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The layout of src/runtime/ctx.h; the task offsets are not used by the walk. */
	const struct ts_debug_desc l = { .frame_rbp = 48, .frame_ret = 56 };
	struct tsc_stack out;
	if (size < 2)
		return 0;
	uint64_t below = (uint64_t)(data[0] | data[1] << 8) * 8;
	/* A copy at an address the walk never sees: it computes with target addresses only. */
	uint8_t *image = malloc(size - 2 ? size - 2 : 1);
	if (!image)
		return 0;
	memcpy(image, data + 2, size - 2);
	uint64_t sp = 0x7f0000100000ull + below;
	tsc_unwind_image(&l, image, size - 2, sp, sp - below, &out);
	if (out.n > TSC_STACK_MAX_FRAMES)
		abort();
	if (out.end == TSC_STACK_COMPLETE && out.n == 0)
		abort(); /* complete means at least the resume address */
	free(image);
	return 0;
}
