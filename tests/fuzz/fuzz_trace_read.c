/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the trace reader, and the state rebuild fed by what it delivers, on any
 * bytes. Built by `make fuzz` with ASan and UBSan; run by tests/fuzz/run. */
#include <stddef.h>
#include <stdint.h>
#include "trace/trace.h"

static void quiet(void *ctx, const char *msg)
{
	(void)ctx, (void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tsc_trace_reader *r = tsc_trace_reader_new(quiet, NULL);
	struct tsc_tstate st;
	struct tsc_event ev;
	if (!r)
		return 0;
	if (tsc_trace_reader_open_mem(r, data, size) == 0 &&
	    tsc_tstate_init(&st, tsc_trace_snapshot(r)) == 0) {
		while (tsc_trace_next(r, &ev) == 1)
			if (tsc_tstate_apply(&st, &ev))
				break;
		tsc_tstate_free(&st);
	}
	(void)tsc_trace_reader_error(r);
	tsc_trace_reader_free(r);
	return 0;
}
