/* SPDX-License-Identifier: MIT */
/* The TASKSCOPE_TEST_* hooks: one reading of the environment, and the holds they ask for. */
#include "testhooks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long env_long(const char *var)
{
	const char *s = getenv(var);
	return s && *s ? strtol(s, NULL, 10) : 0;
}

const struct tsc_testhooks *tsc_testhooks(void)
{
	static struct tsc_testhooks h;
	static bool read;
	if (read)
		return &h;
	read = true;
	h.snapshot_delay_ms = env_long("TASKSCOPE_TEST_SNAPSHOT_DELAY_MS");
	h.hold_until = getenv("TASKSCOPE_TEST_HOLD_UNTIL");
	if (h.hold_until && !*h.hold_until)
		h.hold_until = NULL;
	h.hold_ms = env_long("TASKSCOPE_TEST_HOLD_MS");
	h.reconcile_delay_ms = env_long("TASKSCOPE_TEST_RECONCILE_DELAY_MS");
	h.max_finished = env_long("TASKSCOPE_TEST_MAX_FINISHED");
	h.max_live = env_long("TASKSCOPE_TEST_MAX_LIVE");
	/* set at all, even empty */
	h.generic_args = getenv("TASKSCOPE_TEST_GENERIC_ARGS") != NULL;
	h.no_multi = getenv("TASKSCOPE_TEST_NO_MULTI") != NULL;
	h.record_state = getenv("TASKSCOPE_TEST_RECORD_STATE") != NULL;
	return &h;
}

static void hold_ms(long ms, const char *var)
{
	if (ms <= 0)
		return;
	fprintf(stderr, "taskscope: test: holding for %ld ms (%s)\n", ms, var);
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void tsc_test_hold_until(void)
{
	const char *f = tsc_testhooks()->hold_until;
	if (!f || !access(f, F_OK))
		return;
	fprintf(stderr, "taskscope: test: holding until %s exists\n", f);
	for (int i = 0; i < 6000 && access(f, F_OK); i++)
		usleep(10000);
}

void tsc_test_snapshot_delay(void)
{
	tsc_test_hold_until();
	long ms = tsc_testhooks()->snapshot_delay_ms;
	if (ms > 0 && ms <= 60000) {
		struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };
		nanosleep(&ts, NULL);
	}
}

void tsc_test_attach_hold(void)
{
	hold_ms(tsc_testhooks()->hold_ms, "TASKSCOPE_TEST_HOLD_MS");
	tsc_test_hold_until();
}

void tsc_test_reconcile_delay(void)
{
	hold_ms(tsc_testhooks()->reconcile_delay_ms, "TASKSCOPE_TEST_RECONCILE_DELAY_MS");
}
