/* SPDX-License-Identifier: MIT */
/* The TASKSCOPE_TEST_* environment hooks, for the tests only: every one of them here, read
 * once at first use. Each lets a test act inside a window of the attach protocol or shrink a
 * limit; unset, the CLI behaves as if they did not exist. */
#ifndef TSC_TESTHOOKS_H
#define TSC_TESTHOOKS_H

#include <stdbool.h>

struct tsc_testhooks {
	long snapshot_delay_ms;  /* _SNAPSHOT_DELAY_MS: between the attach and the snapshot read,
				  * so that a test acts on the target there or lets events pile up
				  * (60000 at most) */
	const char *hold_until;  /* _HOLD_UNTIL=FILE: hold at the end of the BPF attach and before
				  * the snapshot until FILE exists (a minute at most) */
	long hold_ms;            /* _HOLD_MS: keep the probes attached N ms before attach returns,
				  * so that a test can kill us while attached */
	long reconcile_delay_ms; /* _RECONCILE_DELAY_MS: before reconciliation reads the maps, so
				  * that tasks created meanwhile are known by their events alone */
	long max_finished;       /* _MAX_FINISHED, _MAX_LIVE: shrink those BPF maps (0 = as built), */
	long max_live;           /*   to see map-full failures counted and reported */
	bool generic_args;       /* _GENERIC_ARGS: the BPF programs decode libbpf's argument specs */
	bool no_multi;           /* _NO_MULTI: one link per probe, as on kernels before 6.6 */
	bool record_state;       /* _RECORD_STATE: record keeps the task maps too, as ps does */
};

/* The hooks, read from the environment at the first call. */
const struct tsc_testhooks *tsc_testhooks(void);

/* Each says so on stderr first, then holds (when its hook is set). */
void tsc_test_hold_until(void);      /* until the _HOLD_UNTIL file exists */
void tsc_test_snapshot_delay(void);  /* _HOLD_UNTIL, then _SNAPSHOT_DELAY_MS */
void tsc_test_attach_hold(void);     /* _HOLD_MS, then _HOLD_UNTIL */
void tsc_test_reconcile_delay(void); /* _RECONCILE_DELAY_MS */

#endif
