// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mn_bench: time the address-space changes that fire MMU notifier
 * invalidations, one page at a time, with N interval subscribers on the
 * process (through /sys/kernel/debug/mn_bench, bench/mn_bench_kmod.c).
 *
 *   mn_bench <subscribers> <iterations>
 *
 * With 0 subscribers the device is not opened, so the mm has no notifier
 * state at all. Subscribers cover one page each, one per STRIDE; the
 * operations cycle over pages spread across the whole covered region.
 *
 * STRIDE is a PMD (2 MiB): mprotect() and munmap() also invalidate ranges
 * as wide as a page-table page, and with denser subscribers each such
 * invalidation would (correctly) call every subscriber under that PMD,
 * which measures the callbacks rather than the cost of finding them.
 * The iterations run in CHUNKS rounds of the three loops in turn, and each
 * operation's figure is its fastest chunk: under emulation, anything else
 * that happens meanwhile (the host preempting the vCPU, code translated
 * again) only ever adds time, so the fastest chunk is the closest to what
 * the operation itself costs, and the three loops see the same conditions.
 * Prints one line per operation:  <op> <subscribers> <ns per op>
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define STRIDE	512		/* pages between subscribed pages: 2 MiB */
#define SPAN	10000		/* subscribed pages the region has room for */
#define TARGETS	64		/* distinct pages the loops touch */
#define CHUNKS	16		/* timed chunks per loop; the fastest counts */

static long page;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static char *target(char *base, long i)
{
	return base + ((i % TARGETS) * 157 % SPAN) * STRIDE * page;
}

static void keep_min(double *best, double t)
{
	if (t < *best)
		*best = t;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static double run_mprotect(char *base, long iters)
{
	double t0 = now_ns();
	long i;

	for (i = 0; i < iters; i++) {
		char *p = target(base, i);

		if (mprotect(p, page, PROT_READ) || mprotect(p, page, PROT_READ | PROT_WRITE))
			die("mprotect");
	}
	return (now_ns() - t0) / (2.0 * iters);
}

static double run_dontneed(char *base, long iters)
{
	double t0 = now_ns();
	long i;

	for (i = 0; i < iters; i++) {
		char *p = target(base, i);

		if (madvise(p, page, MADV_DONTNEED))
			die("madvise");
		p[0] = 1;
	}
	return (now_ns() - t0) / iters;
}

static double run_munmap(char *base, long iters)
{
	double t0 = now_ns();
	long i;

	for (i = 0; i < iters; i++) {
		char *p = target(base, i);

		if (munmap(p, page))
			die("munmap");
		if (mmap(p, page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p)
			die("mmap");
		p[0] = 1;
	}
	return (now_ns() - t0) / iters;
}

int main(int argc, char **argv)
{
	double best[3] = { INFINITY, INFINITY, INFINITY };
	long subs, iters, chunk, len, i;
	char *base, cmd[96];
	int fd = -1;

	if (argc != 3) {
		fprintf(stderr, "usage: %s <subscribers> <iterations>\n", argv[0]);
		return 2;
	}
	subs = atol(argv[1]);
	iters = atol(argv[2]);
	page = sysconf(_SC_PAGESIZE);
	len = SPAN * STRIDE * page;
	if (subs < 0 || subs > SPAN || iters < CHUNKS) {
		fprintf(stderr, "subscribers must be 0..%d, iterations >= %d\n",
			SPAN, CHUNKS);
		return 2;
	}
	chunk = iters / CHUNKS;
	/* 20 GiB of address space, of which only TARGETS pages are touched. */
	base = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		die("mmap");
	for (i = 0; i < TARGETS; i++)
		target(base, i)[0] = 1;

	if (subs) {
		fd = open("/sys/kernel/debug/mn_bench", O_WRONLY);
		if (fd < 0)
			die("open /sys/kernel/debug/mn_bench");
		snprintf(cmd, sizeof(cmd), "%lu %lu %ld", (unsigned long)base,
			 (unsigned long)(STRIDE * page), subs);
		if (write(fd, cmd, strlen(cmd)) < 0)
			die("subscribe");
	}

	/* One untimed round warms the page tables and the VMA cache. */
	run_mprotect(base, TARGETS);
	for (i = 0; i < CHUNKS; i++) {
		keep_min(&best[0], run_mprotect(base, chunk));
		keep_min(&best[1], run_dontneed(base, chunk));
		keep_min(&best[2], run_munmap(base, chunk));
	}
	printf("mprotect %ld %.0f\n", subs, best[0]);
	printf("dontneed %ld %.0f\n", subs, best[1]);
	printf("munmap %ld %.0f\n", subs, best[2]);

	if (fd >= 0)
		close(fd);
	return 0;
}
