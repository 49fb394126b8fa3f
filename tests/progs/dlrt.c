/* SPDX-License-Identifier: MIT */
/*
 * dlrt: a victim that is not linked with the runtime at all, but loads it with dlopen.
 *
 *   dlrt LIB
 *
 * Loads LIB (build/libtaskscope.so), runs a loop on the main thread through the symbols it
 * looks up there, prints "ready" from its first task and sleeps in it for good. It names no
 * runtime symbol, so its static build holds no runtime: only the library loaded at run time
 * does (tests/bats/27-ls.bats checks both).
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>

typedef void *(*task_fn)(void *);
static int (*sleep_ns)(uint64_t ns);

static void *dl_main(void *arg)
{
	(void)arg;
	printf("ready\n");
	fflush(stdout);
	for (;;)
		sleep_ns(3600ull * 1000000000ull);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: dlrt LIB\n");
		return 2;
	}
	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "dlrt: %s\n", dlerror());
		return 1;
	}
	void *(*run)(task_fn fn, const char *coro, void *arg) = dlsym(lib, "ts_run_");
	sleep_ns = dlsym(lib, "ts_sleep_ns");
	if (!run || !sleep_ns) {
		fprintf(stderr, "dlrt: %s lacks ts_run_ or ts_sleep_ns\n", argv[1]);
		return 1;
	}
	run(dl_main, "dl_main", NULL);
	return 0;
}
