/* SPDX-License-Identifier: MIT */
/* A core file's crash in one line, and the same in JSON, for ps and tree (--core):
 * "killed by SIGSEGV (address 0x0) in thread 4412, running task 'worker-3' (id 1234)". */
#ifndef TSC_CRASH_H
#define TSC_CRASH_H

#include <stdio.h>
#include "out/json.h"
#include "target/model.h"

/* The line, then a blank line, when s was read from a core a signal wrote; nothing else. */
void tsc_crash_print(FILE *f, const struct tsc_snapshot *s);

/* For a snapshot read from a core, the members "core": path and "crash": {signal, signo,
 * code, addr, thread, task, task_name} (null when no signal wrote it), into the object w has
 * open; nothing for a live process. */
void tsc_crash_json(struct tsc_json *w, const struct tsc_snapshot *s);

#endif
