// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_thp: ODP MRs over transparent huge pages, and over pages that
 * migrate between NUMA nodes while RDMA runs.
 *
 *   odp_thp [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * Three 2 MiB-aligned MADV_HUGEPAGE buffers (the responder's target, the
 * requester's source and READ destination), each registered as an MR.
 *
 * Phase 1: RDMA WRITE and READ at offsets and lengths that start, end and
 * cross inside and across huge pages, every byte checked by the CPU and
 * read back; the target, first touched by the device, must be THP-backed.
 * With ODP, a DONTNEED of one 4 KiB page splits a huge page under the MR:
 * READ must return zeros for that page and the data around it.
 *
 * Phase 2: a thread moves every page of the three buffers to the other
 * NUMA node, again and again, with move_pages(2), while the main thread
 * runs WRITE/READ pairs (and CPU writes read back by RDMA READ) at random
 * offsets, checking the data after every operation. With ODP, pages must
 * actually have moved during the traffic.
 *
 * Cases: thp.{pinned,odp}.write_read (phase 1 without the split, on
 * pinned and on ODP MRs), thp_odp.split and thp_odp.migrate (ODP only: a
 * pinned MR keeps its old pages, which neither split nor move). A case
 * fails if any of its checks (printed as "# ok ..." or "# FAIL ...")
 * failed. They skip where the device does not advertise RC ODP for WRITE
 * and READ or the kernel gives no THP, and migrate where there is no
 * second NUMA node.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "harness.h"

#include "check.h"
#include "loopback.h"
#include "mirror.h"

#define HUGE		(2ul << 20)
#define BUF_SIZE	(4 * HUGE)
#define MAX_OP		(256ul << 10)	/* phase 2: the longest operation */
#define OP_SECONDS	120		/* phase 2: time limit for the traffic, */
#define MIN_OPS		30		/* by which at least this many must run */
#define NOPS		300		/* phase 2: operations to run */
#define MAX_BAD_OPS	5		/* phase 2: stop after this many */

#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE	(1 << 1)
#endif

struct thp {
	struct loopback lb;
	bool odp;
	size_t page;
	unsigned char *tgt;
	struct ibv_mr *tmr;
	struct mirror m;	/* over tgt: the requester's src and dst */
};

/* --- huge page buffers --- */

/*
 * BUF_SIZE bytes at a 2 MiB boundary, MADV_HUGEPAGE. The rest of the
 * reservation stays mapped PROT_NONE on both sides, so that the buffer's
 * VMA never merges with a neighbour and smaps describes it alone.
 */
static unsigned char *thp_alloc(size_t page)
{
	size_t span = BUF_SIZE + 2 * HUGE;
	unsigned char *base, *buf;

	base = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	buf = (unsigned char *)(((uintptr_t)base + page + HUGE - 1) & ~(HUGE - 1));
	if (mprotect(buf, BUF_SIZE, PROT_READ | PROT_WRITE) ||
	    madvise(buf, BUF_SIZE, MADV_HUGEPAGE)) {
		perror("mprotect/madvise(MADV_HUGEPAGE)");
		exit(1);
	}
	return buf;
}

/* AnonHugePages of the mappings overlapping [p, p + len), in kB. */
static long thp_kb(const void *p, size_t len)
{
	unsigned long start, end, lo = (uintptr_t)p, hi = lo + len;
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;
	long kb, total = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
			in = start < hi && end > lo;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			total += kb;
	}
	fclose(f);
	return total;
}

/* WRITE pattern @seed to target [off, off + len), then READ it back. */
static bool round_trip(struct thp *t, size_t off, size_t len, unsigned int seed)
{
	return mirror_write_ok(&t->m, off, len, seed, "target after WRITE") &&
	       mirror_read_is(&t->m, off, len, seed, "READ of the target");
}

/* --- phase 1 --- */

static void phase_write_read(struct thp *t)
{
	static const struct { size_t off, len; } cases[] = {
		{ 0, BUF_SIZE },			/* all, cold target */
		{ HUGE - 100, 200 },			/* across a 2 MiB boundary */
		{ HUGE, HUGE },				/* exactly one huge page */
		{ 4095, HUGE + 2 },			/* odd ends, across */
		{ 3 * HUGE + 12345, 777 },		/* inside one */
		{ 5 * 4096 + 1, 3 * 4096 },		/* inside, across 4 KiB */
		{ HUGE / 2, 3 * HUGE },			/* over three */
	};
	unsigned int i;
	long kb;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t off = cases[i].off, len = cases[i].len;

		expect(round_trip(t, off, len, 10 + i),
		       "thp: WRITE/READ at +%#zx, %zu bytes", off, len);
		if (i)
			continue;
		kb = thp_kb(t->tgt, BUF_SIZE);
		expect(kb > 0, "thp: the target is THP-backed after the first "
		       "WRITE (AnonHugePages %ld kB)", kb);
	}
}

/*
 * DONTNEED one 4 KiB page in the middle of a huge page the device has
 * mapped: the huge page splits, READ returns zeros for that page only.
 */
static void phase_split(struct thp *t)
{
	size_t hole = HUGE + 37 * t->page;
	bool ok;

	ok = round_trip(t, HUGE, HUGE, 30);
	if (ok && madvise(t->tgt + hole, t->page, MADV_DONTNEED)) {
		perror("madvise(MADV_DONTNEED)");
		ok = false;
	}
	memset(t->m.dst + HUGE, 0xee, HUGE);
	ok = ok && mirror_rdma(&t->m, IBV_WR_RDMA_READ, HUGE, HUGE) == IBV_WC_SUCCESS &&
	     pattern_check_at(t->m.dst + HUGE, hole - HUGE, 30, HUGE, "before the hole") &&
	     bytes_check(t->m.dst + hole, t->page, 0, "the DONTNEED page") &&
	     pattern_check_at(t->m.dst + hole + t->page, 2 * HUGE - hole - t->page,
			      30, hole + t->page, "after the hole") &&
	     round_trip(t, HUGE, HUGE, 31);
	expect(ok, "thp split: READ after DONTNEED of one 4 KiB page inside a "
	       "huge page returns zeros there, the data around it");
}

/* --- phase 2 --- */

struct mover {
	pthread_t thread;
	atomic_bool stop;
	unsigned long n;		/* pages */
	void **pages;
	int *nodes, *status;
	int *prev, *now;		/* where each page was, and is */
	long passes, moved;		/* moved: 4 KiB pages that changed node */
	int err;			/* errno of a failed move_pages() */
};

static bool second_node(void)
{
	return access("/sys/devices/system/node/node1", F_OK) == 0;
}

static long move_pages(unsigned long n, void **pages, const int *nodes,
		       int *status)
{
	return syscall(SYS_move_pages, 0, n, pages, nodes, status, MPOL_MF_MOVE);
}

static void mover_init(struct mover *m, struct thp *t)
{
	unsigned char *bufs[] = { t->tgt, t->m.src, t->m.dst };
	unsigned long per = BUF_SIZE / t->page, i;

	memset(m, 0, sizeof(*m));
	m->n = 3 * per;
	m->pages = calloc(m->n, sizeof(*m->pages));
	m->nodes = calloc(m->n, sizeof(*m->nodes));
	m->status = calloc(m->n, sizeof(*m->status));
	m->prev = calloc(m->n, sizeof(*m->prev));
	m->now = calloc(m->n, sizeof(*m->now));
	if (!m->pages || !m->nodes || !m->status || !m->prev || !m->now) {
		perror("calloc");
		exit(1);
	}
	for (i = 0; i < m->n; i++)
		m->pages[i] = bufs[i / per] + i % per * t->page;
	/* With no target nodes, move_pages() says where each page is. */
	move_pages(m->n, m->pages, NULL, m->prev);
}

/*
 * Move every page to node 1, then 0, then 1 ... until told to stop, and
 * count the pages that changed node. move_pages() stops at the first
 * batch it could not move entirely and then leaves the status of the rest
 * unwritten, so where each page is comes from a separate query.
 */
static void *mover_run(void *arg)
{
	struct mover *m = arg;
	unsigned long i;
	int node;

	while (!atomic_load(&m->stop)) {
		node = (m->passes + 1) % 2;
		for (i = 0; i < m->n; i++)
			m->nodes[i] = node;
		if (move_pages(m->n, m->pages, m->nodes, m->status) < 0 ||
		    move_pages(m->n, m->pages, NULL, m->now) < 0) {
			m->err = errno;
			break;
		}
		for (i = 0; i < m->n; i++) {
			if (m->now[i] >= 0 && m->prev[i] >= 0 && m->now[i] != m->prev[i])
				m->moved++;
			m->prev[i] = m->now[i];
		}
		m->passes++;
	}
	return NULL;
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * One verified operation at a random place: a WRITE checked by the CPU
 * and read back, or (every third) a CPU write read back by RDMA READ.
 */
static bool random_op(struct thp *t, uint64_t *rng, int k)
{
	size_t len = 1 + next_rand(rng) % MAX_OP;
	size_t off = next_rand(rng) % (BUF_SIZE - len + 1);
	unsigned int seed = 1000 + k;

	if (k % 3 == 2) {
		pattern_fill_at(t->tgt + off, len, seed, off);
		return mirror_read_is(&t->m, off, len, seed, "READ of the target");
	}
	return round_trip(t, off, len, seed);
}

static long now_s(void)
{
	return now_us() / 1000000;
}

static void phase_migrate(struct thp *t, int nops)
{
	uint64_t rng = 0x2545f4914f6cdd1dull;
	long start = now_s(), end = start + OP_SECONDS;
	int k, bad = 0;
	struct mover m;

	mover_init(&m, t);
	if (pthread_create(&m.thread, NULL, mover_run, &m)) {
		perror("pthread_create");
		exit(1);
	}
	for (k = 0; k < nops && bad < MAX_BAD_OPS && now_s() < end; k++)
		bad += !random_op(t, &rng, k);
	atomic_store(&m.stop, true);
	pthread_join(m.thread, NULL);

	if (m.err)
		fprintf(stderr, "move_pages: %s\n", strerror(m.err));
	expect(!bad && k >= (nops < MIN_OPS ? nops : MIN_OPS),
	       "migrate: %d of %d operations verified in %d s while %ld passes "
	       "of move_pages moved %ld pages", k - bad, nops,
	       (int)(now_s() - start), m.passes, m.moved);
	if (t->odp)
		expect(!m.err && m.passes > 1 && m.moved > 0,
		       "migrate: pages moved between the nodes during the traffic");
	else
		printf("pinned: %ld pages moved (pinned pages are expected to stay)\n",
		       m.moved);
	free(m.pages);
	free(m.nodes);
	free(m.status);
	free(m.prev);
	free(m.now);
}

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

/*
 * Open the device and three THP-backed buffers registered as MRs (ODP if
 * @t->odp). Skips, with the harness's SKIP(), what cannot run here.
 */
static void thp_open(struct __test_metadata *_metadata, struct thp *t)
{
	unsigned char *src, *dst;
	long kb;

	LOOPBACK_OPEN_OR_SKIP(&t->lb, &opts, t->odp,
			      IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ);
	if (!thp_enabled())
		SKIP(return, "transparent huge pages are not enabled (always "
		     "or madvise)");
	ASSERT_EQ(0, loopback_connect(&t->lb));
	t->page = sysconf(_SC_PAGESIZE);
	t->tgt = thp_alloc(t->page);
	src = thp_alloc(t->page);
	dst = thp_alloc(t->page);
	/* The source is written by the CPU first: it shows whether THP works. */
	pattern_fill(src, BUF_SIZE, 1);
	kb = thp_kb(src, BUF_SIZE);
	if (kb <= 0)
		SKIP(return, "the kernel gave no huge page to a MADV_HUGEPAGE "
		     "buffer");
	t->tmr = mirror_reg(&t->lb, t->tgt, BUF_SIZE, t->odp);
	mirror_open(mirror_at(&t->m, t->tmr), &t->lb, src, dst, BUF_SIZE, t->odp);
}

static void thp_close(struct thp *t)
{
	mirror_close(&t->m);
	loopback_dereg(t->tmr);
	loopback_close(&t->lb);
	if (t->tgt) {
		munmap(t->tgt, BUF_SIZE);
		munmap(t->m.src, BUF_SIZE);
		munmap(t->m.dst, BUF_SIZE);
	}
}

FIXTURE(thp) {
	struct thp t;
};

PINNED_AND_ODP_VARIANTS(thp);

FIXTURE_SETUP(thp)
{
	self->t.odp = variant->odp;
	thp_open(_metadata, &self->t);
}

FIXTURE_TEARDOWN(thp)
{
	thp_close(&self->t);
}

TEST_F_TIMEOUT(thp, write_read, 300)
{
	phase_write_read(&self->t);
	EXPECT_EQ(0, expect_failures());
}

FIXTURE(thp_odp) {
	struct thp t;
};

FIXTURE_SETUP(thp_odp)
{
	self->t.odp = true;
	thp_open(_metadata, &self->t);
}

FIXTURE_TEARDOWN(thp_odp)
{
	thp_close(&self->t);
}

TEST_F_TIMEOUT(thp_odp, split, 300)
{
	phase_split(&self->t);
	EXPECT_EQ(0, expect_failures());
}

TEST_F_TIMEOUT(thp_odp, migrate, 600)
{
	if (!second_node())
		SKIP(return, "no second NUMA node");
	phase_migrate(&self->t, NOPS);
	EXPECT_EQ(0, expect_failures());
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
