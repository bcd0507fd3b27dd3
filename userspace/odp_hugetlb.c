// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_hugetlb: ODP MRs over hugetlbfs memory.
 *
 *   odp_hugetlb [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * The target is NHUGE 2 MiB pages from mmap(MAP_HUGETLB), registered twice:
 * with IBV_ACCESS_ON_DEMAND | IBV_ACCESS_HUGETLB (one translation per huge
 * page) and with IBV_ACCESS_ON_DEMAND alone (4 KiB at a time). The
 * requester's source and READ destination are ordinary ODP MRs.
 *
 *   hugetlb MR   RDMA WRITE and READ at offsets and lengths that start,
 *                end and cross inside and across huge pages, the first into
 *                the never-touched target; every byte checked by the CPU
 *                and read back. Then the hugetlb MR as the local side: a
 *                WRITE from it and a READ into it.
 *   plain MR     the same over the same memory through the plain ODP MR;
 *                both MRs see each other's data.
 *   munmap       one huge page unmapped: WRITE and READ of it (and of a
 *                range running into it) fail with IBV_WC_REM_ACCESS_ERR
 *                through either MR, the other huge pages keep their data
 *                and work. A new huge page mapped there reads as zeros;
 *                ordinary 4 KiB pages mapped there instead are refused
 *                through the hugetlb MR and read as zeros through the
 *                plain one.
 *
 * Each of those is a case of the harness on a fresh fixture, as are the
 * registration (nothing pinned) and the pool (every huge page back in it
 * once the MRs and the mapping are gone); a case fails if any of its
 * checks (printed as "# ok ..." or "# FAIL ...") failed. They skip where
 * the device does not advertise RC ODP for WRITE and READ or there are no
 * free 2 MiB huge pages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "harness.h"

#include "check.h"
#include "loopback.h"
#include "mirror.h"

#define HUGE		(2ul << 20)
#define NHUGE		4
#define SIZE		(NHUGE * HUGE)
#define HOLE		1		/* the huge page the munmap case removes */

#define ODP_RW		(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND)

struct huge {
	struct loopback lb;
	unsigned char *tgt;		/* hugetlb */
	struct ibv_mr *hmr, *pmr;	/* over tgt: with and without HUGETLB */
	struct mirror m;		/* src, dst: ordinary memory */
};

/* @len bytes of 2 MiB huge pages (at @addr if given), or NULL. */
static void *map_huge(void *addr, size_t len)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT) |
		    (addr ? MAP_FIXED : 0);
	void *p = mmap(addr, len, PROT_READ | PROT_WRITE, flags, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static struct ibv_mr *reg(struct huge *h, void *buf, int access, const char *what)
{
	struct ibv_mr *mr = ibv_reg_mr(h->lb.pd, buf, SIZE, access);

	if (!mr) {
		fprintf(stderr, "ibv_reg_mr (%s): %s\n", what, strerror(errno));
		return NULL;
	}
	return mr;
}

/* The mirrored operations aimed at the target through @mr. */
static struct mirror *via(struct huge *h, struct ibv_mr *mr)
{
	return mirror_at(&h->m, mr);
}

/* --- WRITE/READ across huge pages --- */

static const struct { size_t off, len; } spans[] = {
	{ 0, SIZE },				/* all, first touch of the target */
	{ HUGE - 4096, 8192 },			/* 4 KiB each side of a boundary */
	{ HUGE - 1, 2 },			/* 1 byte each side */
	{ HUGE, HUGE },				/* exactly one huge page */
	{ 4095, HUGE + 2 },			/* odd ends, across */
	{ HUGE / 2, 2 * HUGE },			/* over three huge pages */
	{ 3 * HUGE - 100, HUGE + 100 },		/* the last boundary to the end */
	{ 2 * HUGE + 12345, 777 },		/* inside one */
};

/* WRITE then READ each span through @mr, with seeds from @seed on. */
static void spans_through(struct huge *h, struct ibv_mr *mr, const char *name,
			  unsigned int seed)
{
	unsigned int i;

	for (i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
		size_t off = spans[i].off, len = spans[i].len;

		expect(mirror_write_ok(via(h, mr), off, len, seed + i, name) &&
		       mirror_read_is(via(h, mr), off, len, seed + i, name),
		       "%s: WRITE/READ at +%#zx, %zu bytes", name, off, len);
	}
}

/* The CPU's data is what READ sees, through @mr. */
static void cpu_then_read(struct huge *h, struct ibv_mr *mr, const char *name,
			  unsigned int seed)
{
	pattern_fill(h->tgt, SIZE, seed);
	expect(mirror_read_is(via(h, mr), 0, SIZE, seed, name),
	       "%s: READ of all %d huge pages returns what the CPU wrote", name, NHUGE);
}

/*
 * The hugetlb MR as the requester's local buffer: a WRITE from it into
 * the destination buffer (an MR with remote write), and a READ into it.
 */
static void hugetlb_local(struct huge *h)
{
	size_t off = HUGE - 3000, len = 2 * HUGE + 6000;
	int st;

	pattern_fill(h->tgt, SIZE, 50);
	memset(h->m.dst, 0xee, SIZE);
	st = loopback_rdma(&h->lb, IBV_WR_RDMA_WRITE, h->tgt + off, h->hmr->lkey,
			   h->m.dst + off, h->m.dmr->rkey, len);
	expect(st == IBV_WC_SUCCESS &&
	       pattern_check_at(h->m.dst + off, len, 50, off, "WRITE from the hugetlb MR"),
	       "hugetlb MR, local: WRITE from +%#zx, %zu bytes, across huge pages "
	       "(%s)", off, len, wc_status_name(st));
	if (st != IBV_WC_SUCCESS && loopback_reconnect(&h->lb))
		exit(1);

	pattern_fill(h->m.src, SIZE, 51);
	memset(h->tgt, 0xee, SIZE);
	st = loopback_rdma(&h->lb, IBV_WR_RDMA_READ, h->tgt + off, h->hmr->lkey,
			   h->m.src + off, h->m.smr->rkey, len);
	expect(st == IBV_WC_SUCCESS &&
	       pattern_check_at(h->tgt + off, len, 51, off, "READ into the hugetlb MR") &&
	       bytes_check(h->tgt, off, 0xee, "before the READ") &&
	       bytes_check(h->tgt + off + len, SIZE - off - len, 0xee, "after the READ"),
	       "hugetlb MR, local: READ into +%#zx, %zu bytes, across huge pages "
	       "(%s)", off, len, wc_status_name(st));
	if (st != IBV_WC_SUCCESS && loopback_reconnect(&h->lb))
		exit(1);
}

/* Data written through one MR is seen through the other. */
static void both_mrs(struct huge *h)
{
	expect(mirror_write_ok(via(h, h->hmr), 0, SIZE, 60,
			       "WRITE through the hugetlb MR") &&
	       mirror_read_is(via(h, h->pmr), 0, SIZE, 60,
			      "READ through the plain MR") &&
	       mirror_write_ok(via(h, h->pmr), HUGE / 2, 2 * HUGE, 61,
			       "WRITE through the plain MR") &&
	       mirror_read_is(via(h, h->hmr), HUGE / 2, 2 * HUGE, 61,
			      "READ through the hugetlb MR"),
	       "both MRs: each sees what the other wrote");
}

/* --- one huge page unmapped --- */

static size_t hole_off(void)
{
	return HOLE * HUGE;
}

/* The huge pages other than the hole hold @seed and take WRITE/READ. */
static bool others_work(struct huge *h, struct ibv_mr *mr, unsigned int seed,
			unsigned int wseed)
{
	size_t end = hole_off() + HUGE;

	struct mirror *m = via(h, mr);

	return mirror_read_is(m, 0, hole_off(), seed, "before the hole: READ") &&
	       mirror_read_is(m, end, SIZE - end, seed, "after the hole: READ") &&
	       mirror_write_ok(m, end, SIZE - end, wseed, "after the hole: WRITE") &&
	       mirror_read_is(m, end, SIZE - end, wseed, "after the hole: READ back") &&
	       mirror_write_ok(m, 0, hole_off(), wseed, "before the hole: WRITE") &&
	       mirror_read_is(m, 0, hole_off(), wseed, "before the hole: READ back");
}

static bool hole_refused(struct huge *h, struct ibv_mr *mr)
{
	struct mirror *m = via(h, mr);

	return mirror_access_error(m, IBV_WR_RDMA_READ, hole_off(), HUGE, "hole: READ") &&
	       mirror_access_error(m, IBV_WR_RDMA_WRITE, hole_off(), HUGE, "hole: WRITE") &&
	       mirror_access_error(m, IBV_WR_RDMA_READ, hole_off() - 4096, 8192,
				   "READ running into the hole") &&
	       mirror_access_error(m, IBV_WR_RDMA_READ, hole_off() + HUGE - 1, 2,
				   "READ running out of the hole") &&
	       mirror_access_error(m, IBV_WR_RDMA_WRITE, hole_off() + HUGE - 4096, 8192,
				   "WRITE running out of the hole");
}

static void unmapped_huge_page(struct huge *h)
{
	unsigned char *hole = h->tgt + hole_off();
	size_t end = hole_off() + HUGE;
	bool ok;

	/* Every huge page mapped on the device through both MRs first. */
	ok = mirror_write_ok(via(h, h->hmr), 0, SIZE, 70, "prime: WRITE") &&
	     mirror_read_is(via(h, h->hmr), 0, SIZE, 70, "prime: READ hugetlb MR") &&
	     mirror_read_is(via(h, h->pmr), 0, SIZE, 70, "prime: READ plain MR");
	expect(ok, "munmap: both MRs map every huge page before the munmap");
	munmap_hole(hole, HUGE);
	expect(hole_refused(h, h->hmr),
	       "munmap: WRITE/READ of the unmapped huge page through the hugetlb "
	       "MR: IBV_WC_REM_ACCESS_ERR");
	/* The refused WRITEs must not have reached the pages around the hole. */
	ok = pattern_check(h->tgt, hole_off(), 70, "CPU: before the hole") &&
	     pattern_check_at(h->tgt + end, SIZE - end, 70, end, "CPU: after the hole");
	expect(ok && others_work(h, h->hmr, 70, 71),
	       "munmap: the other huge pages keep their data and work (hugetlb MR)");
	expect(hole_refused(h, h->pmr),
	       "munmap: the same through the plain ODP MR: IBV_WC_REM_ACCESS_ERR");
	expect(others_work(h, h->pmr, 71, 72),
	       "munmap: the other huge pages keep their data and work (plain MR)");

	if (!map_huge(hole, HUGE)) {
		perror("mmap(MAP_HUGETLB | MAP_FIXED)");
		exit(1);
	}
	expect(mirror_read_zero(via(h, h->hmr), hole_off(), HUGE, "new huge page: READ") &&
	       mirror_write_ok(via(h, h->hmr), hole_off() - 4096, HUGE + 8192, 73,
			       "new huge page: WRITE across it") &&
	       mirror_read_is(via(h, h->pmr), hole_off() - 4096, HUGE + 8192, 73,
			      "new huge page: READ through the plain MR"),
	       "munmap: a new huge page there reads as zeros and takes WRITE/READ");

	/* Ordinary pages where a huge page was: no longer hugetlb memory. */
	map_anon(hole, HUGE);
	pattern_fill_at(hole, HUGE, 74, hole_off());
	expect(mirror_access_error(via(h, h->hmr), IBV_WR_RDMA_READ, hole_off(), 4096,
				   "4 KiB pages: READ through the hugetlb MR"),
	       "munmap: 4 KiB pages there are refused through the hugetlb MR "
	       "(IBV_WC_REM_ACCESS_ERR)");
	expect(mirror_read_is(via(h, h->pmr), hole_off(), HUGE, 74,
			      "4 KiB pages: READ plain MR") &&
	       mirror_read_is(via(h, h->hmr), end + 4096, SIZE - end - 4096, 72,
			      "after the hole: READ hugetlb MR"),
	       "munmap: the plain MR reads the 4 KiB pages, the hugetlb MR the rest");
}

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

FIXTURE(hugetlb) {
	struct huge h;
	long free0;		/* HugePages_Free before the mapping */
};

FIXTURE_SETUP(hugetlb)
{
	struct huge *h = &self->h;

	LOOPBACK_OPEN_OR_SKIP(&h->lb, &opts, true,
			      IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ);
	self->free0 = proc_field("/proc/meminfo", "HugePages_Free");
	h->tgt = map_huge(NULL, SIZE);
	if (!h->tgt)
		SKIP(return, "mmap(MAP_HUGETLB) of %d 2 MiB huge pages failed: "
		     "%s (HugePages_Free %ld; boot with hugepages=N)", NHUGE,
		     strerror(errno), self->free0);
	ASSERT_EQ(0, loopback_connect(&h->lb));
	mirror_open(&h->m, &h->lb, map_anon(NULL, SIZE), map_anon(NULL, SIZE),
		    SIZE, true);
	h->hmr = reg(h, h->tgt, ODP_RW | IBV_ACCESS_HUGETLB, "ON_DEMAND | HUGETLB");
	h->pmr = reg(h, h->tgt, ODP_RW, "ON_DEMAND over hugetlb memory");
	ASSERT_NE(NULL, h->hmr);
	ASSERT_NE(NULL, h->pmr);
}

/* What a case leaves: the MRs, then the mapping (a case may have done it). */
static void hugetlb_release(struct huge *h)
{
	loopback_dereg(h->hmr);
	loopback_dereg(h->pmr);
	h->hmr = h->pmr = NULL;
	if (h->tgt)
		munmap(h->tgt, SIZE);
	h->tgt = NULL;
}

FIXTURE_TEARDOWN(hugetlb)
{
	struct huge *h = &self->h;

	hugetlb_release(h);
	mirror_close(&h->m);
	loopback_close(&h->lb);
	munmap(h->m.src, SIZE);
	munmap(h->m.dst, SIZE);
}

/* Both registrations over the huge pages pin nothing. */
TEST_F(hugetlb, registration)
{
	EXPECT_EQ(0, vm_pinned_kb());
}

/*
 * Spans through the hugetlb MR, the first into never-touched memory (which
 * faults all NHUGE pages in), CPU writes read back, and the MR as the
 * local side.
 */
TEST_F_TIMEOUT(hugetlb, hugetlb_mr, 300)
{
	struct huge *h = &self->h;
	long free;

	spans_through(h, h->hmr, "hugetlb MR", 10);
	free = proc_field("/proc/meminfo", "HugePages_Free");
	expect(free == self->free0 - NHUGE, "hugetlb MR: the device's first "
	       "WRITE faulted in %d huge pages (HugePages_Free %ld, %ld before)",
	       NHUGE, free, self->free0);
	cpu_then_read(h, h->hmr, "hugetlb MR", 30);
	hugetlb_local(h);
	EXPECT_EQ(0, expect_failures());
}

/* The same spans through the plain ODP MR over the same huge pages. */
TEST_F_TIMEOUT(hugetlb, plain_mr, 300)
{
	struct huge *h = &self->h;

	spans_through(h, h->pmr, "plain MR", 40);
	cpu_then_read(h, h->pmr, "plain MR", 59);
	EXPECT_EQ(0, expect_failures());
}

/* Data written through one MR is seen through the other. */
TEST_F_TIMEOUT(hugetlb, both_mrs, 300)
{
	both_mrs(&self->h);
	EXPECT_EQ(0, expect_failures());
}

/* One huge page unmapped, then mapped again as a huge page and as 4 KiB. */
TEST_F_TIMEOUT(hugetlb, munmap, 300)
{
	unmapped_huge_page(&self->h);
	EXPECT_EQ(0, expect_failures());
}

/* Once the MRs and the mapping are gone, every huge page is free again. */
TEST_F_TIMEOUT(hugetlb, pool_restored, 300)
{
	struct huge *h = &self->h;

	ASSERT_TRUE(mirror_write_ok(via(h, h->hmr), 0, SIZE, 80,
				    "WRITE through the hugetlb MR"));
	hugetlb_release(h);
	EXPECT_EQ(self->free0, proc_field("/proc/meminfo", "HugePages_Free"));
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
