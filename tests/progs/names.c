/* SPDX-License-Identifier: MIT */
/*
 * names: a victim whose task and coroutine names are hostile to a terminal and to JSON, for
 * the escaping tests (tests/bats/25-escaping.bats).
 *
 *   names [GOFILE]
 *
 * On the ts_run loop it spawns one task per name below, with that name and the coroutine
 * name "co-" + name, each parked in a sleep, and one more, named "waiter-\e[1m", awaiting the
 * task with the wide name. Then it prints "ready". With GOFILE, once GOFILE exists (a tracer
 * attached meanwhile), it spawns the same set again, renames the first task of the first set
 * to "renamed-\e[2J", and prints "done" once the new tasks are parked. It runs until killed.
 *
 * The names: terminal escape sequences (CSI and OSC), a C1 CSI as a raw byte and as UTF-8,
 * bytes that are not UTF-8 (a lone lead byte, 0xff, an overlong '/', a UTF-16 surrogate), a
 * newline and a tab, a quote and a backslash, and valid UTF-8 that must pass unchanged:
 * accents and Greek, wide CJK characters, and a combining accent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

static const char *const names[] = {
	"esc-\x1b[31mred\x1b[0m",
	"osc-\x1b]0;title\a",
	"c1raw-\x9b" "31m",
	"c1utf8-\xc2\x9b" "31m",
	"bad-\xc3-\xff-\xc0\xaf-\xed\xa0\x80",
	"nl\nand\ttab",
	"q\"uote\\back",
	"r\xc3\xa9seau-\xce\xb1",                                  /* réseau-α */
	"\xe4\xbb\xbb\xe5\x8a\xa1-\xe6\xbc\xa2\xe5\xad\x97",        /* 任务-漢字 */
	"cafe\xcc\x81",                                            /* café, e + U+0301 */
};
#define NNAMES (sizeof(names) / sizeof(names[0]))
#define WIDE 8

static int parked;

static void *parked_task(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&parked, 1, __ATOMIC_RELEASE);
	while (ts_sleep_ms(3600 * 1000) == 0)
		;
	return NULL;
}

static void *waiter_task(void *arg)
{
	__atomic_add_fetch(&parked, 1, __ATOMIC_RELEASE);
	ts_await((ts_task *)arg, NULL);
	return NULL;
}

/* The set of tasks; returns the first, or NULL. */
static ts_task *spawn_set(void)
{
	ts_task *t[NNAMES];
	char coro[64];
	for (size_t i = 0; i < NNAMES; i++) {
		snprintf(coro, sizeof(coro), "co-%s", names[i]);
		/* the coroutine's name is a string the runtime records: give it the name too */
		if (!(t[i] = ts_spawn_(NULL, (ts_fn)parked_task, strdup(coro), NULL, names[i]))) {
			perror("names: spawn");
			exit(1);
		}
	}
	if (!ts_spawn_named(waiter_task, t[WIDE], "waiter-\x1b[1m")) {
		perror("names: spawn");
		exit(1);
	}
	return t[0];
}

static void wait_parked(int n)
{
	while (__atomic_load_n(&parked, __ATOMIC_ACQUIRE) < n)
		ts_sleep_ms(1);
}

static void *main_coro(void *arg)
{
	const char *go = arg;
	ts_task *first = spawn_set();
	wait_parked(NNAMES + 1);
	printf("ready\n");
	fflush(stdout);
	if (go) {
		for (int i = 0; access(go, F_OK); i++) {
			if (i > 6000) {
				fprintf(stderr, "names: %s did not appear within a minute\n", go);
				exit(3);
			}
			ts_sleep_ms(10);
		}
		spawn_set();
		ts_task_rename(first, "renamed-\x1b[2J");
		wait_parked(2 * (NNAMES + 1));
		printf("done\n");
		fflush(stdout);
	}
	while (ts_sleep_ms(3600 * 1000) == 0)
		;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: names [GOFILE]\n");
		return 2;
	}
	return ts_run(main_coro, argc == 2 ? argv[1] : NULL) ? 1 : 0;
}
