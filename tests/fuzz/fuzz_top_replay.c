/* SPDX-License-Identifier: MIT */
/* libFuzzer target: top --exact's replay of ring events (src/cli/top/replay.c) on any event
 * sequence, as a hostile ring may decode into: switches, lost stretches, ready, waits,
 * finishes, loops starting and stopping, drains and refreshes, in any order, with times that
 * may go backwards. What it must hold: no crash, no unbounded growth, every task's time
 * switched in sums to its threads' (while nothing was forgotten or refused), and each
 * refresh's latency figures ordered (p50 <= p99 <= max, kept <= count). Built by `make fuzz`
 * with ASan and UBSan; run by tests/fuzz/run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.c"
#include "top/replay.c"

uint64_t tsc_hash_key = 0x9e3779b97f4a7c15ull;

static uint64_t sum_tasks(const struct top_exact *x)
{
	uint64_t s = 0;
	for (size_t i = 0; i < x->tasks.cap; i++)
		if (x->tasks.slot[i].key)
			s += x->tasks.slot[i].val;
	return s;
}

static uint64_t sum_threads(const struct top_exact *x)
{
	uint64_t s = 0;
	for (size_t i = 0; i < x->nth; i++)
		s += x->th[i].v.run_ns;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct top_exact *x = calloc(1, sizeof(*x));
	struct top_thread th[4] = { { .tid = 1, .inner_tid = 1 }, { .tid = 2, .inner_tid = 2 },
				    { .tid = 3, .inner_tid = 3 }, { .tid = 4, .inner_tid = 4 } };
	struct top_model m = { .threads = th, .nthreads = 4 };
	uint64_t now = 1000000;
	int forgot = 0;
	if (!x || top_replay_init(x, now / 2))
		abort();
	for (size_t i = 0; i + 4 <= size; i += 4) {
		uint8_t op = data[i], a = data[i + 1], b = data[i + 2], c = data[i + 3];
		/* mostly forward in time, now and then back (a ring's clock is the target's) */
		now = c & 0x80 ? now - (c & 0x3f) : now + (uint64_t)c * 37;
		/* threads 1 to 4; now and then 0, which no ring has */
		struct tsc_event ev = { .ts_ns = now, .tid = (op >> 4) == 15 ? 0 : (op >> 4) % 4 + 1 };
		switch (op & 15) {
		case 0: case 1: case 2: case 3:
			ev.type = TSC_EV_SWITCH;
			ev.sw.prev = a % 8;
			ev.sw.next = b % 8;
			break;
		case 4:
			ev.type = TSC_EV_LOST;
			ev.lost.count = a + 1;
			break;
		case 5:
			ev.type = TSC_EV_READY;
			ev.ready.id = a % 8 + 1;
			break;
		case 6:
			ev.type = TSC_EV_WAIT;
			ev.wait.id = a % 8 + 1;
			ev.wait.reason = b % 8;
			break;
		case 7:
			ev.type = TSC_EV_FINISH;
			ev.finish.id = a % 8 + 1;
			break;
		case 8:
			ev.type = b & 1 ? TSC_EV_THREAD_STOP : TSC_EV_THREAD_START;
			break;
		case 9:
			top_replay_begin(x, now);
			continue;
		case 10: {
			top_exact_latency(x, &m);
			for (int k = 0; k < 4; k++)
				if (th[k].lat.p50 > th[k].lat.p99 || th[k].lat.p99 > th[k].lat.max ||
				    th[k].lat.kept > th[k].lat.count)
					abort();
			continue;
		}
		case 11: {
			uint64_t id = a % 8 + 1;
			top_exact_forget(x, &id, 1);
			forgot = 1;
			continue;
		}
		case 12:
			top_exact_forget_thread(x, (int32_t)(a % 5));
			forgot = 1;
			continue;
		case 13:
			top_exact_seed(x, a % 8 + 1);
			continue;
		default: {
			struct tss_thread t;
			if (!top_exact_thread(x, (int32_t)(a % 5), &t) && t.current > 7)
				abort();
			(void)top_exact_gap_ns(x, (int32_t)(a % 5), now);
			continue;
		}
		}
		top_replay_event(x, &ev);
	}
	if (x->nth > TSC_RINGS_MAX || x->tasks.n > TSS_MAX_TASKS || x->ready.n > TSS_MAX_TASKS)
		abort();
	if (!forgot && !x->full && sum_tasks(x) != sum_threads(x))
		abort();
	top_replay_free(x);
	free(x);
	return 0;
}
