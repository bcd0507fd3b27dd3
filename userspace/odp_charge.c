// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_charge: an ODP MR's translation table is charged to the memory
 * cgroup of the process whose memory it translates.
 *
 *   odp_charge [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * Registration allocates no translations; the device's first access to
 * each part of the MR does, from whatever task the device faults in (on
 * rxe, a kernel worker). Charged to that task, they would land in the
 * root cgroup: a process could grow kernel memory past its memory.max,
 * and its own limit would not reclaim for them.
 *
 * The case moves itself into a memory cgroup of its own (cgroup2 at
 * /sys/fs/cgroup), registers a 1 GiB ODP MR over untouched memory, has
 * the responder write 8 bytes into every 2 MiB of it, and checks that the
 * cgroup's slab and vmalloc (memory.stat) grew by at least the entries
 * those writes needed: 8 bytes for each of 512 pages of every 2 MiB.
 * Every written word is checked.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "cgroup.h"
#include "check.h"
#include "loopback.h"
#include "harness.h"

#define MR_LEN		(1ul << 30)
#define STRIDE		(2ul << 20)
#define SEED		0x4367

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

FIXTURE(charge) {
	struct loopback lb;
	struct cgroup cg;
	unsigned char *target, *src;
	struct ibv_mr *tmr, *smr;
};

/* The cgroup's slab plus vmalloc bytes, from its memory.stat, or -1. */
static long cg_kernel_tables(const struct cgroup *cg)
{
	long slab = cgroup_stat(cg, "memory.stat", "slab");
	long vmalloc = cgroup_stat(cg, "memory.stat", "vmalloc");

	return slab < 0 || vmalloc < 0 ? -1 : slab + vmalloc;
}

FIXTURE_SETUP(charge)
{
	ASSERT_EQ(0, cgroup_enter(&self->cg, "odp_charge", 0));
	LOOPBACK_OPEN_OR_SKIP(&self->lb, &opts, true, IBV_ODP_SUPPORT_WRITE);
	ASSERT_EQ(0, loopback_connect(&self->lb));
	self->target = map_anon(NULL, MR_LEN);
	self->src = map_anon(NULL, STRIDE);
	ASSERT_NE(NULL, self->target);
	ASSERT_NE(NULL, self->src);
	pattern_fill(self->src, STRIDE, SEED);
	self->tmr = ibv_reg_mr(self->lb.pd, self->target, MR_LEN,
			       IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			       IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, self->tmr);
	self->smr = ibv_reg_mr(self->lb.pd, self->src, STRIDE, 0);
	ASSERT_NE(NULL, self->smr);
}

FIXTURE_TEARDOWN(charge)
{
	loopback_dereg(self->tmr);
	loopback_dereg(self->smr);
	loopback_close(&self->lb);
	munmap(self->target, MR_LEN);
	munmap(self->src, STRIDE);
	cgroup_leave(&self->cg);
}

TEST_F(charge, entries_to_owner)
{
	const long need = MR_LEN / STRIDE * (STRIDE / getpagesize()) * 8;
	long before, after;
	size_t off;

	before = cg_kernel_tables(&self->cg);
	ASSERT_LE(0, before);
	for (off = 0; off < MR_LEN; off += STRIDE) {
		unsigned char *at = self->target + off + (off / STRIDE) % 512 * 8;

		ASSERT_EQ(IBV_WC_SUCCESS,
			  loopback_rdma(&self->lb, IBV_WR_RDMA_WRITE,
					self->src + (at - self->target) % STRIDE,
					self->smr->lkey, at, self->tmr->rkey, 8));
	}
	after = cg_kernel_tables(&self->cg);
	for (off = 0; off < MR_LEN; off += STRIDE) {
		size_t in = off + (off / STRIDE) % 512 * 8;

		ASSERT_TRUE(pattern_check_at(self->target + in, 8, SEED,
					     in % STRIDE, "written word"));
	}
	TH_LOG("slab + vmalloc of the cgroup: %ld -> %ld bytes (entries need %ld)",
	       before, after, need);
	/*
	 * Other slab of the cgroup may be freed meanwhile (tens of KiB have
	 * been seen): allow a tenth. Charged elsewhere, it grows by ~200.
	 */
	EXPECT_GE(after - before, need - need / 10);
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
