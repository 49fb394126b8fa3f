/* SPDX-License-Identifier: MIT */
/*
 * lib_victim: a victim with a task parked inside a library it loaded with dlopen, for the tests
 * of hostile files (tests/bats/23-hostile-files.bats).
 *
 *   lib_victim LIB [-r]
 *
 * Loads LIB (build/progs/libparklib.so or a copy) and, on the ts_run loop, spawns "in-lib",
 * parked inside LIB's parklib_park() (so a frame of LIB is on its stack), and "sleeper",
 * parked in this program; then prints "ready" and parks the ts_run task itself.
 *
 * -r: then truncates LIB and writes it back, over and over, from a thread of its own (the
 * file's bytes are read once, before): whoever reads LIB meanwhile finds it cut short at any
 * moment. The process itself never touches LIB's pages again: its parked task never resumes.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

#define HOUR_MS (3600 * 1000)

static int (*parklib_park)(int (*park)(void));
static const char *lib_path;
static int parked;
static volatile uint64_t sink;

static int park_here(void)
{
	parked++;
	return ts_sleep_ms(HOUR_MS);
}

static void *in_lib(void *arg)
{
	(void)arg;
	sink += (uint64_t)parklib_park(park_here);
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	sink += (uint64_t)park_here();
	return NULL;
}

static void pause_us(long us)
{
	struct timespec ts = { 0, us * 1000 };
	nanosleep(&ts, NULL);
}

/* Cut LIB short at one of several lengths, then write it back whole, forever. */
static void *rewrite(void *arg)
{
	(void)arg;
	int fd = open(lib_path, O_RDWR);
	struct stat st;
	if (fd < 0 || fstat(fd, &st)) {
		perror("lib_victim: open LIB");
		exit(1);
	}
	size_t len = (size_t)st.st_size;
	char *bytes = malloc(len);
	if (!bytes || pread(fd, bytes, len, 0) != (ssize_t)len) {
		perror("lib_victim: read LIB");
		exit(1);
	}
	const off_t cuts[] = { 0, 64, 4096, (off_t)len / 2, (off_t)len - 1 };
	for (unsigned i = 0;; i++) {
		if (pwrite(fd, bytes, len, 0) != (ssize_t)len) {
			perror("lib_victim: write LIB");
			exit(1);
		}
		pause_us(20 + i % 7 * 10);
		if (ftruncate(fd, cuts[i % 5])) {
			perror("lib_victim: truncate LIB");
			exit(1);
		}
		pause_us(20 + i % 5 * 10);
	}
	return NULL;
}

static void *main_task(void *arg)
{
	int rw = (int)(intptr_t)arg;
	ts_spawn_detached(in_lib, NULL, "in-lib");
	ts_spawn_detached(sleeper, NULL, "sleeper");
	while (parked < 2)
		ts_yield();
	if (rw) {
		pthread_t t;
		if (pthread_create(&t, NULL, rewrite, NULL)) {
			fprintf(stderr, "lib_victim: pthread_create failed\n");
			exit(1);
		}
	}
	printf("ready\n");
	fflush(stdout);
	sink += (uint64_t)ts_sleep_ms(HOUR_MS);
	return NULL;
}

int main(int argc, char **argv)
{
	int rw = argc == 3 && !strcmp(argv[2], "-r");
	if (argc < 2 || (argc == 3 && !rw) || argc > 3) {
		fprintf(stderr, "usage: lib_victim LIB [-r]\n");
		return 2;
	}
	lib_path = argv[1];
	void *h = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
	if (!h || !(*(void **)&parklib_park = dlsym(h, "parklib_park"))) {
		fprintf(stderr, "lib_victim: %s\n", dlerror());
		return 1;
	}
	ts_run(main_task, (void *)(intptr_t)rw);
	return 0;
}
