// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Data patterns and result lines for the data tests: see check.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <infiniband/verbs.h>

#include "check.h"

static int failures;

/*
 * A mix of the seed and the position (splitmix64's finaliser), so that
 * data shifted by any offset, or written from another pattern, shows.
 */
unsigned char pattern_byte(unsigned int seed, size_t i)
{
	uint64_t x = i + (uint64_t)seed * 0x9e3779b97f4a7c15ull;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (unsigned char)x;
}

void pattern_fill_at(void *p, size_t len, unsigned int seed, size_t from)
{
	unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = pattern_byte(seed, from + i);
}

void pattern_fill(void *p, size_t len, unsigned int seed)
{
	pattern_fill_at(p, len, seed, 0);
}

/* Say so when what @p holds instead is one repeated byte (zeros, a fill). */
static void describe(const unsigned char *p, size_t len)
{
	size_t i, n = len < 64 ? len : 64;

	for (i = 1; i < n && p[i] == p[0]; i++)
		;
	if (i == n)
		fprintf(stderr, "  the next %zu bytes are all 0x%02x\n", n, p[0]);
}

bool pattern_check_at(const void *p, size_t len, unsigned int seed,
		      size_t from, const char *what)
{
	const unsigned char *b = p;
	size_t i, bad = 0, first = 0;

	for (i = 0; i < len; i++) {
		if (b[i] == pattern_byte(seed, from + i))
			continue;
		if (!bad++)
			first = i;
	}
	if (!bad)
		return true;
	fprintf(stderr, "%s: %zu of %zu bytes differ, first at +%zu (page %zu+%zu "
		"of the pattern): got 0x%02x, want 0x%02x\n", what, bad, len, first,
		(from + first) / 4096, (from + first) % 4096, b[first],
		pattern_byte(seed, from + first));
	describe(b + first, len - first);
	return false;
}

bool pattern_check(const void *p, size_t len, unsigned int seed,
		   const char *what)
{
	return pattern_check_at(p, len, seed, 0, what);
}

bool fd_pattern_is(int fd, size_t off, size_t len, unsigned int seed,
		   const char *what)
{
	unsigned char *buf = malloc(len);
	bool ok = buf && pread(fd, buf, len, off) == (ssize_t)len &&
		  pattern_check_at(buf, len, seed, off, what);

	free(buf);
	return ok;
}

bool bytes_check(const void *p, size_t len, unsigned char c, const char *what)
{
	const unsigned char *b = p;
	size_t i, bad = 0, first = 0;

	for (i = 0; i < len; i++) {
		if (b[i] == c)
			continue;
		if (!bad++)
			first = i;
	}
	if (!bad)
		return true;
	fprintf(stderr, "%s: %zu of %zu bytes are not 0x%02x, first at %zu: 0x%02x\n",
		what, bad, len, c, first, b[first]);
	return false;
}

void expect(bool ok, const char *fmt, ...)
{
	va_list ap;

	/* Diagnostics went to stderr; keep them ahead of the verdict. */
	fflush(stderr);
	fputs(ok ? "# ok " : "# FAIL ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		failures++;
}

void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

int expect_failures(void)
{
	return failures;
}

void *map_anon(void *addr, size_t len)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (addr ? MAP_FIXED : 0);
	void *p = mmap(addr, len, PROT_READ | PROT_WRITE, flags, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

void hold_hole(void *addr, size_t len)
{
	if (mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0) != addr) {
		perror("mmap(PROT_NONE) over a hole");
		exit(1);
	}
}

void munmap_hole(void *addr, size_t len)
{
	if (munmap(addr, len)) {
		perror("munmap");
		exit(1);
	}
	hold_hole(addr, len);
}

const char *wc_status_name(int st)
{
	return st < 0 ? "no completion" : ibv_wc_status_str(st);
}

static uint64_t pagemap_read(int fd, const void *p, size_t page)
{
	uint64_t entry;
	off_t off = (uintptr_t)p / page * sizeof(entry);

	if (pread(fd, &entry, sizeof(entry), off) != sizeof(entry))
		return 0;
	return entry;
}

uint64_t pagemap_entry(const void *p)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t entry;

	if (fd < 0)
		return 0;
	entry = pagemap_read(fd, p, sysconf(_SC_PAGESIZE));
	close(fd);
	return entry;
}

size_t pagemap_count(const void *p, size_t n, uint64_t bits)
{
	size_t page = sysconf(_SC_PAGESIZE), i, count = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	for (i = 0; i < n; i++)
		if ((pagemap_read(fd, (const char *)p + i * page, page) & bits) == bits)
			count++;
	close(fd);
	return count;
}

long proc_field(const char *path, const char *key)
{
	size_t klen = strlen(key);
	char line[256];
	long n = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) ||
		    (line[klen] != ':' && line[klen] != ' '))
			continue;
		n = strtol(line + klen + 1, NULL, 10);
		break;
	}
	fclose(f);
	return n;
}

long port_counter(const char *dev, const char *name)
{
	char path[256];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/class/infiniband/%s/ports/1/hw_counters/%s", dev, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &n) != 1)
		n = -1;
	fclose(f);
	return n;
}

/* @n kinds of @dev's resources from one `rdma resource show`, or -1. */
static void rdma_res_show(const char *dev, const char *const *kinds, int n,
			  long *counts)
{
	char line[512], key[32], name[64];
	FILE *f = popen("rdma resource show 2>/dev/null", "r");
	char *p;
	int i;

	for (i = 0; i < n; i++)
		counts[i] = -1;
	if (!f)
		return;
	snprintf(name, sizeof(name), " %s: ", dev);
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, name))
			continue;
		for (i = 0; i < n; i++) {
			snprintf(key, sizeof(key), " %s ", kinds[i]);
			p = strstr(line, key);
			if (p)
				counts[i] = strtol(p + strlen(key), NULL, 10);
		}
	}
	pclose(f);
}

long rdma_res_count(const char *dev, const char *kind)
{
	long n;

	rdma_res_show(dev, &kind, 1, &n);
	return n;
}

struct res_counts rdma_res_counts(const char *dev)
{
	static const char *const kinds[] = { "mr", "qp", "pd" };
	long n[3];

	rdma_res_show(dev, kinds, 3, n);
	return (struct res_counts){ .mr = n[0], .qp = n[1], .pd = n[2] };
}

bool rdma_res_counts_back(const char *dev, const struct res_counts *base,
			  struct res_counts *now, int ms)
{
	long end = now_ms() + ms;

	if (base->mr < 0 || base->qp < 0 || base->pd < 0) {
		fprintf(stderr, "no `rdma resource show`: cannot count %s's "
			"resources\n", dev);
		return false;
	}
	for (;;) {
		*now = rdma_res_counts(dev);
		if (now->mr == base->mr && now->qp == base->qp &&
		    now->pd == base->pd)
			return true;
		if (now_ms() >= end)
			return false;
		poll(NULL, 0, 20);
	}
}

/* The number after " @key " in @line, or -1. */
static long line_field(const char *line, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), " %s ", key);
	p = strstr(line, k);
	return p ? strtol(p + strlen(k), NULL, 0) : -1;
}

/* The restrack id (mrn) of @dev's MR with @lkey, or -1. */
static long rdma_mrn(const char *dev, uint32_t lkey)
{
	char line[1024], want[64];
	FILE *f = popen("rdma resource show mr 2>/dev/null", "r");
	long mrn = -1;

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "dev %s ", dev);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want)) &&
		    line_field(line, "lkey") == (long)lkey)
			mrn = line_field(line, "mrn");
	pclose(f);
	return mrn;
}

long rdma_mr_counter(const char *dev, uint32_t lkey, const char *name)
{
	long mrn = rdma_mrn(dev, lkey), v = -1;
	char line[1024], want[96];
	FILE *f;

	if (mrn < 0)
		return -1;
	f = popen("rdma statistic show mr 2>/dev/null", "r");
	if (!f)
		return -1;
	snprintf(want, sizeof(want), "dev %s mrn %ld ", dev, mrn);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want)))
			v = line_field(line, name);
	pclose(f);
	return v;
}

bool thp_enabled(void)
{
	char line[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (!f)
		return false;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	return strstr(line, "[always]") || strstr(line, "[madvise]");
}

char pipe_byte(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&pfd, 1, ms) != 1)
		return 0;
	return read(fd, &c, 1) == 1 ? c : 0;
}

bool reaped_by_sigkill(pid_t pid, const char *why, char *how, size_t len)
{
	int status;

	if (waitpid(pid, &status, 0) != pid) {
		snprintf(how, len, "waitpid: %s", strerror(errno));
		return false;
	}
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
		snprintf(how, len, "killed");
		return true;
	}
	if (WIFSIGNALED(status))
		snprintf(how, len, "died of signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(how, len, "exited with %d: %s", WEXITSTATUS(status),
			 why && why[0] ? why : "no reason given");
	return false;
}
