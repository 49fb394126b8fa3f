/* SPDX-License-Identifier: MIT */
/* libFuzzer target: a target's event ring as the CLI reads it (src/cli/target/rings.c,
 * rings_map.c and ring_decode.c), on any bytes. The input becomes the memory of a fake process: a descriptor
 * of one loop whose ring it is. Its first bytes choose the ring's header: a valid one (slot
 * count, head and flags from the input), or, with bit 0 of the first byte, the input's own
 * bytes; the rest are the slots. The ring is drained twice (the second time after the head
 * moved), and the slots are also decoded alone at an input-chosen position. With the top bit
 * of the second byte the ring is read as the recorder reads a mapped one: a backlog; with the
 * bit below it, a valid header has ABI version 2's layout (include/taskscope/debug.h). Every event must
 * be one the decoder may hand on: a known type (READY included), strings NUL-terminated within bounds. Built
 * by `make fuzz` with ASan and UBSan; run by tests/fuzz/run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "target/backlog.c"
#include "target/ring_decode.c"
#include "target/rings.c"
#include "target/rings_map.c"

#define A_NLOOPS 0x1000ull
#define A_LOOPS 0x2000ull
#define A_LOOP 0x3000ull
#define A_RING 0x100000ull
#define LOOP_SIZE 64
#define LOOP_RING 8

static uint8_t *ring;
static size_t ring_len;

static int fake_read(void *ctx, struct tsc_mem_req *req, size_t n)
{
	static const uint32_t nloops = 1;
	static const uint64_t loop_ptr = A_LOOP;
	static uint8_t loop[LOOP_SIZE];
	uint64_t ring_at = A_RING;
	(void)ctx;
	memcpy(loop + LOOP_RING, &ring_at, 8);
	for (size_t i = 0; i < n; i++) {
		const void *src = NULL;
		uint64_t a = req[i].addr, len = req[i].len;
		if (a == A_NLOOPS && len <= 4)
			src = &nloops;
		else if (a == A_LOOPS && len <= 8)
			src = &loop_ptr;
		else if (a >= A_LOOP && a - A_LOOP <= LOOP_SIZE && len <= LOOP_SIZE - (a - A_LOOP))
			src = loop + (a - A_LOOP);
		else if (a >= A_RING && a - A_RING <= ring_len && len <= ring_len - (a - A_RING))
			src = ring + (a - A_RING);
		req[i].ok = src != NULL;
		if (src)
			memcpy(req[i].buf, src, len);
	}
	return 0;
}

static const struct tsc_memsrc_ops fake_ops = { .read = fake_read };
static const struct tsc_memsrc fake = { .ops = &fake_ops };

static int check_event(void *ctx, const struct tsc_event *ev)
{
	(void)ctx;
	if ((ev->type < 1 || ev->type > TSC_EV_EVENTS_NR) && ev->type != TSC_EV_READY)
		abort();
	if (ev->type == TSC_EV_READY && !ev->ready.id)
		abort();
	if (ev->type == TSC_EV_CREATE &&
	    (strnlen(ev->create.name, TS_NAME_MAX) >= TS_NAME_MAX ||
	     strnlen(ev->create.coro, TS_NAME_MAX) >= TS_NAME_MAX))
		abort();
	if (ev->type == TSC_EV_RENAME && strnlen(ev->rename.name, TS_NAME_MAX) >= TS_NAME_MAX)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 16)
		return 0;
	uint8_t ctl = data[0], shift = data[1] % 6, as_map = data[1] & 0x80, v2 = data[1] & 0x40;
	uint64_t head;
	memcpy(&head, data + 2, 8);
	data += 10, size -= 10;
	struct ts_ring_hdr h = { .magic = TS_RING_MAGIC, .hdr_size = 256, .slot_size = TS_RING_SLOT,
				 .nslots = 16ull << shift, .flags = ctl & 2 ? TS_RING_F_TSC : 0,
				 .tsc0 = 1000, .mono0 = 5000 };
	h.head = ctl & 4 ? head : head % (4 * h.nslots);
	size_t head_at = offsetof(struct ts_ring_hdr, head);
	if (v2) { /* head at its old place, the counts (none yet) from byte 64 */
		h.magic = TS_RING_MAGIC_V2;
		h.head_v2 = h.head;
		h.head = 0;
		head_at = TS_RING_V2_HEAD;
	}
	ring_len = 256 + h.nslots * TS_RING_SLOT;
	ring = calloc(1, ring_len);
	if (ctl & 1) /* the header too from the input */
		memcpy(ring, data, size < ring_len ? size : ring_len);
	else {
		memcpy(ring, &h, sizeof(h));
		memcpy(ring + 256, data, size < ring_len - 256 ? size : ring_len - 256);
	}
	struct ts_debug_desc d = { .abi_version = v2 ? 2 : 3, .loops_addr = A_LOOPS, .nloops_addr = A_NLOOPS,
				   .max_loops = 4, .loop_size = LOOP_SIZE, .loop_ring = LOOP_RING };
	struct tsc_rings *R = NULL;
	if (!tsc_rings_new(&fake, &d, ctl & 8 ? TSC_RINGS_FROM_NOW : TSC_RINGS_FROM_OLDEST, &R)) {
		tsc_rings_scan(R);
		/* with the top bit of the second byte: read as a mapping of the ring (the memfd
		 * path), its backlog decoded 5 events at a time; the mapping as large as the
		 * ring the header claims, as ring_map checks */
		int mapped = 0;
		if (as_map)
			for (size_t i = 0; i < R->n; i++) {
				struct ring *g = R->r[i];
				if (!g->bad && g->hdr_size + g->nslots * TS_RING_SLOT <= ring_len) {
					g->map = ring;
					mapped = 1;
				}
			}
		if (mapped)
			tsc_rings_budget(R, 5);
		tsc_rings_drain(R, ctl & 16 ? 7 : 0, check_event, NULL);
		if (!(ctl & 1)) { /* the writer moved on */
			uint64_t h2 = (v2 ? h.head_v2 : h.head) + (uint64_t)(ctl >> 5) * 5;
			memcpy(ring + head_at, &h2, 8);
		}
		tsc_rings_drain(R, 0, check_event, NULL);
		tsc_rings_budget(R, 0);
		tsc_rings_drain(R, 0, check_event, NULL);
		for (size_t i = 0; i < tsc_rings_count(R); i++) {
			struct tsc_ring_stats st;
			tsc_rings_stats(R, i, &st);
			R->r[i]->map = NULL; /* not ours to unmap */
		}
		tsc_rings_free(R);
	}
	/* the decoder alone, over the slots as they are */
	struct tsc_ring_clock clk = { .tsc = 1, .t0 = 1, .m0 = 2, .t1 = 3, .m1 = 4 };
	struct tsc_ring_dstats st = { 0 };
	struct tsc_ring_cursor c = { .slots = (const uint64_t *)(ring + 256), .pos0 = head,
				     .n = (ring_len - 256) / TS_RING_SLOT, .tid = 1, .clock = &clk,
				     .st = &st };
	struct tsc_ring_event e;
	while (tsc_ring_next(&c, &e))
		check_event(NULL, &e.ev);
	free(ring);
	return 0;
}
