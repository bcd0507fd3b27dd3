/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Data patterns that tell every byte, its position and its writer apart,
 * and the "ok <case>" / "FAIL <case>" lines the data tests print.
 */
#ifndef CHECK_H
#define CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Byte @i of the pattern @seed; different seeds give different data. */
unsigned char pattern_byte(unsigned int seed, size_t i);

/* Bytes @from .. @from + @len - 1 of pattern @seed into @p. */
void pattern_fill_at(void *p, size_t len, unsigned int seed, size_t from);

/*
 * True when @p holds bytes @from.. of pattern @seed; otherwise say where
 * it differs (and what it looks like instead) on stderr, naming @what.
 */
bool pattern_check_at(const void *p, size_t len, unsigned int seed,
		      size_t from, const char *what);

/* The same from byte 0 of the pattern. */
void pattern_fill(void *p, size_t len, unsigned int seed);
bool pattern_check(const void *p, size_t len, unsigned int seed,
		   const char *what);

/* Whether file @fd holds pattern @seed at [off, off + len), by pread(). */
bool fd_pattern_is(int fd, size_t off, size_t len, unsigned int seed,
		   const char *what);

/* True when every byte of @p is @c; otherwise say where it is not. */
bool bytes_check(const void *p, size_t len, unsigned char c, const char *what);

/*
 * Print "# ok <what>" or "# FAIL <what>" (a comment in a kselftest TAP
 * stream) and count the failures.
 */
void expect(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Failures counted by expect() so far. */
int expect_failures(void);

/* Sleep @ms milliseconds, signals or not. */
void sleep_ms(long ms);

/* Microseconds on CLOCK_MONOTONIC, and the same in milliseconds. */
long long now_us(void);

static inline long now_ms(void)
{
	return now_us() / 1000;
}

/* Test memory: @len private anonymous bytes (at @addr, MAP_FIXED, if set). */
void *map_anon(void *addr, size_t len);

/*
 * Keep the hole at @addr (@len bytes, just unmapped or moved away) a hole:
 * PROT_NONE, which an ODP MR must refuse as it refuses no mapping. Else a
 * later mmap() - a new QP's queues, a malloc arena - could land there and
 * be reached through an MR over the old range. Exits on failure.
 */
void hold_hole(void *addr, size_t len);

/* munmap() @len bytes at @addr and hold_hole() them. Exits on failure. */
void munmap_hole(void *addr, size_t len);

/* Bits of a /proc/self/pagemap entry. */
#define PAGEMAP_PRESENT	(1ull << 63)
#define PAGEMAP_SWAPPED	(1ull << 62)

/* The /proc/self/pagemap entry of the page at @p, or 0 if unreadable. */
uint64_t pagemap_entry(const void *p);

/* How many of the @n pages from @p have every bit of @bits in pagemap. */
size_t pagemap_count(const void *p, size_t n, uint64_t bits);

/* A completion status by name; a negative @st means no completion came. */
const char *wc_status_name(int st);

/*
 * The number after "@key:" in a /proc file such as /proc/meminfo, or after
 * "@key " in a cgroup's memory.stat; -1 without one.
 */
long proc_field(const char *path, const char *key);

/*
 * The device's count of @kind ("mr", "qp", "pd") from the kernel's
 * resource tracking (`rdma resource show`), or -1 without the tool.
 */
long rdma_res_count(const char *dev, const char *kind);

/* A device's MR, QP and PD counts (rdma_res_count()), -1 where unknown. */
struct res_counts {
	long mr, qp, pd;
};

struct res_counts rdma_res_counts(const char *dev);

/*
 * Wait up to @ms for @dev's counts to equal @base, leaving the last read in
 * *@now. False at once when @base holds a count that could not be read: a
 * leak check that cannot count must fail.
 */
bool rdma_res_counts_back(const char *dev, const struct res_counts *base,
			  struct res_counts *now, int ms);

/*
 * The ODP counter @name (page_faults, page_invalidations, faults,
 * invalidations) of @dev's MR with @lkey, from `rdma statistic show mr`,
 * or -1 where there is none.
 */
long rdma_mr_counter(const char *dev, uint32_t lkey, const char *name);

/* The next byte from a child on pipe @fd, or 0 at its end or after @ms. */
char pipe_byte(int fd, int ms);

/*
 * Reap child @pid; true when SIGKILL ended it. @how gets what happened,
 * with @why (the child's own account) when it exited.
 */
bool reaped_by_sigkill(pid_t pid, const char *why, char *how, size_t len);

/* Whether THP is on for all memory or for MADV_HUGEPAGE regions. */
bool thp_enabled(void);

/* Port 1's hardware counter @name of @dev (sysfs hw_counters), or -1. */
long port_counter(const char *dev, const char *name);

#endif
