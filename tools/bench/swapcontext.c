/* SPDX-License-Identifier: MIT */
/* The same ping-pong as switch.c with glibc's ucontext: two contexts swapcontext()ing to each
 * other; ns per switch. Needs no runtime (the Makefile links it in anyway). swapcontext also
 * saves and restores the signal mask, a system call per switch: that is its known cost. */
#include <ucontext.h>

#include "bench.h"

static long switches = 400000, rounds = 7, warmup = 1;

static ucontext_t ctx_main, ctx_a, ctx_b;
static char stack_a[64 * 1024] __attribute__((aligned(16)));
static char stack_b[64 * 1024] __attribute__((aligned(16)));
static long per_ctx;

static void run_a(void)
{
	for (long i = 0; i < per_ctx; i++)
		swapcontext(&ctx_a, &ctx_b);
	/* returns to ctx_main through uc_link; b stays suspended and is rebuilt next round */
}

static void run_b(void)
{
	for (;;)
		swapcontext(&ctx_b, &ctx_a);
}

static void make(ucontext_t *c, char *stack, size_t size, void (*fn)(void))
{
	if (getcontext(c)) {
		perror("getcontext");
		exit(1);
	}
	c->uc_stack.ss_sp = stack;
	c->uc_stack.ss_size = size;
	c->uc_link = &ctx_main;
	makecontext(c, fn, 0);
}

static uint64_t one_round(void)
{
	make(&ctx_a, stack_a, sizeof(stack_a), run_a);
	make(&ctx_b, stack_b, sizeof(stack_b), run_b);
	uint64_t t0 = bench_now();
	swapcontext(&ctx_main, &ctx_a);
	return bench_now() - t0;
}

int main(int argc, char **argv)
{
	struct bench_opt opts[] = {
		{ "switches", &switches, "switches per round" },
		{ "rounds", &rounds, "timed rounds; the best and the median are printed" },
		{ "warmup", &warmup, "untimed rounds first" },
		{ 0 },
	};
	bench_parse(argc, argv, "swapcontext: two ucontexts ping-ponging, ns per switch", opts);
	if (rounds < 1 || rounds > 64 || switches < 2) {
		fprintf(stderr, "swapcontext: need 1..64 rounds and at least 2 switches\n");
		return 2;
	}
	per_ctx = switches / 2;
	double ns[64];
	for (long r = 0; r < warmup; r++)
		one_round();
	/* a->b and b->a per iteration, plus the entry into a and the exit to main */
	for (long r = 0; r < rounds; r++)
		ns[r] = (double)one_round() / (double)(2 * per_ctx);
	double med = bench_median(ns, (int)rounds);
	printf("BENCH switch impl=swapcontext ns_per_switch=%.3f median=%.3f rounds=%ld "
	       "switches=%ld\n",
	       ns[0], med, rounds, 2 * per_ctx);
	return 0;
}
