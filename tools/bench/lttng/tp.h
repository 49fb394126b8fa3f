/* SPDX-License-Identifier: MIT */
/* The LTTng-UST tracepoint of the comparison ping-pong (pingpong.c): one per switch. */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER tsbench

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./tp.h"

#if !defined(TSBENCH_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define TSBENCH_TP_H

#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT(tsbench, task_switch,
	LTTNG_UST_TP_ARGS(uint64_t, prev, uint64_t, next),
	LTTNG_UST_TP_FIELDS(lttng_ust_field_integer(uint64_t, prev, prev)
			    lttng_ust_field_integer(uint64_t, next, next)))

#endif

#include <lttng/tracepoint-event.h>
