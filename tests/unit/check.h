/* SPDX-License-Identifier: MIT */
/* A tiny TAP producer for the runtime's unit tests: one binary per feature, many cases each.
 *   TEST(name) { CHECK(cond); CHECK_EQ(a, b); }   and   int main(void) { RUN(name); return DONE(); }
 * tests/run reads the TAP lines of every test binary. */
#ifndef TS_CHECK_H
#define TS_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_n, check_failed_cases, check_case_failed;
static const char *check_skip; /* set by SKIP(): the case reports "ok # skip" */

#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond)) {                                                            \
			printf("#   %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);   \
			check_case_failed = 1;                                            \
		}                                                                         \
	} while (0)

#define CHECK_EQ(a, b)                                                                    \
	do {                                                                              \
		long long a__ = (long long)(a), b__ = (long long)(b);                     \
		if (a__ != b__) {                                                         \
			printf("#   %s:%d: %s == %s failed: %lld != %lld\n", __FILE__,        \
			       __LINE__, #a, #b, a__, b__);                               \
			check_case_failed = 1;                                            \
		}                                                                         \
	} while (0)

#define CHECK_STR(a, b)                                                                   \
	do {                                                                              \
		const char *a__ = (a), *b__ = (b);                                        \
		if (!a__ || !b__ || strcmp(a__, b__)) {                                   \
			printf("#   %s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__,    \
			       __LINE__, #a, #b, a__ ? a__ : "(null)", b__ ? b__ : "(null)"); \
			check_case_failed = 1;                                            \
		}                                                                         \
	} while (0)

/* Leave the case as skipped (the machine cannot run it); only for what the code cannot control.
 * With CI=true a skip fails instead, as in the bats suites. */
#define SKIP(why)                                                                         \
	do {                                                                              \
		const char *ci__ = getenv("CI");                                          \
		if (ci__ && !strcmp(ci__, "true")) {                                      \
			printf("#   would skip in CI, which fails instead: %s\n", (why));    \
			check_case_failed = 1;                                            \
		}                                                                         \
		check_skip = (why);                                                       \
		return;                                                                   \
	} while (0)

#define TEST(name) static void test_##name(void)
#define RUN(name)                                                                         \
	do {                                                                              \
		check_case_failed = 0;                                                    \
		check_skip = NULL;                                                        \
		fflush(stdout);                                                           \
		test_##name();                                                            \
		check_n++;                                                                \
		if (check_case_failed)                                                    \
			check_failed_cases++;                                             \
		printf("%s %d - %s%s%s\n", check_case_failed ? "not ok" : "ok", check_n, #name, \
		       check_skip && !check_case_failed ? " # skip " : "",                \
		       check_skip && !check_case_failed ? check_skip : "");              \
		fflush(stdout);                                                           \
	} while (0)
#define DONE() (printf("1..%d\n", check_n), check_failed_cases ? 1 : 0)

#endif
