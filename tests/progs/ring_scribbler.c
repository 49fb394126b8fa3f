/* SPDX-License-Identifier: MIT */
/*
 * ring_scribbler: a victim that writes over its own event ring (tests/bats/42-rings.bats).
 *
 *   ring_scribbler MODE
 *
 * Keeps its ring on (the flight recorder, 64 KiB), runs a ping-pong of two tasks for 3000
 * yields, then, from its main task, damages the ring of its loop as MODE says, prints
 * "ready" and sleeps until killed:
 *
 *   header   the header's magic number overwritten
 *   slots    every slot filled with pseudo-random words (a few with their own stamp)
 *   none     nothing: the control
 */
#include "../../src/runtime/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *mode;

static void *pinger(void *arg)
{
	(void)arg;
	for (int i = 0; i < 3000; i++)
		ts_yield();
	return NULL;
}

static void scribble(struct ts_ring_hdr *h)
{
	uint64_t *s = (uint64_t *)((char *)h + h->hdr_size), x = 0x9e3779b97f4a7c15ull;
	if (!strcmp(mode, "header")) {
		h->magic = 0x4141414141414141ull;
		return;
	}
	if (strcmp(mode, "slots"))
		return;
	for (uint64_t i = 0; i < h->nslots * 4; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		s[i] = x;
	}
	/* some slots that claim their own position, with a random type and payload */
	for (uint64_t p = h->head - h->nslots; p < h->head; p += 7) {
		uint64_t *w = s + (p & (h->nslots - 1)) * 4;
		w[0] = (w[0] & 0xffff) | p << 16;
	}
}

static void *main_task(void *arg)
{
	(void)arg;
	ts_task *a = ts_spawn(pinger, NULL), *b = ts_spawn(pinger, NULL);
	ts_await(a, NULL);
	ts_await(b, NULL);
	ts_task_unref(a);
	ts_task_unref(b);
	scribble(ts__tls_loop->ring);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		ts_sleep_ms(1000);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: ring_scribbler header|slots|none\n");
		return 2;
	}
	mode = argv[1];
	if (ts_flight_recorder(64 << 10)) {
		fprintf(stderr, "ring_scribbler: no flight recorder\n");
		return 1;
	}
	ts_run(main_task, NULL);
	return 0;
}
