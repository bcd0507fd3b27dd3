// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_swap: memory under an ODP MR is swapped out and back in, and the
 * device reads and writes exactly what the process sees.
 *
 *   odp_swap [-d ib_dev] [-g gid_idx] [-s mr_len] [kselftest harness options]
 *
 * Needs swap (tests/guest/62-odp-swap puts it on zram). Each case runs on
 * an MR registered pinned and one registered with IBV_ACCESS_ON_DEMAND
 * (the variants), to show what pinning costs:
 *
 *   pageout.*.remote_sees_swap  A target written by RDMA WRITE and read
 *       back; MADV_PAGEOUT on its middle half. ODP: the pages leave memory
 *       (swapped in /proc/self/pagemap, pswpout grows), an RDMA READ of
 *       the whole target returns the bytes (pswpin grows: the device's
 *       fault brought them back), and after a second pageout an RDMA WRITE
 *       to the half lands where the CPU reads it. Pinned: no page leaves.
 *   pressure.*.over_limit  A process confined to a memory cgroup with
 *       memory.max a quarter of the MR's length (-s, 128M by default). ODP:
 *       the whole MR is written by RDMA WRITE chunk by chunk, then read
 *       back by RDMA READ chunk by chunk, every byte checked; the cgroup's
 *       swap (memory.swap.current) must have held at least half the MR,
 *       and pswpin must grow during the read-back. Pinned: registering the
 *       MR cannot succeed under the limit; a child that tries gets ENOMEM
 *       or is OOM-killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "cgroup.h"
#include "check.h"
#include "harness.h"
#include "loopback.h"
#include "mirror.h"

#define PAGEOUT_LEN	(8ul << 20)
#define MR_LEN		(opts.size ? opts.size : 128ul << 20)
#define CHUNK		(1ul << 20)
#define SEED_A		0x5a01
#define SEED_B		0x5a02
#define RW		(IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ)

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

static long vmstat(const char *key)
{
	return proc_field("/proc/vmstat", key);
}

/* The ODP counter @name of @mr (rdma_mr_counter()), -1 for pinned MRs. */
static long mr_counter(struct ibv_mr *mr, const char *name)
{
	return rdma_mr_counter(opts.dev, mr->lkey, name);
}

static bool swap_on(void)
{
	return proc_field("/proc/meminfo", "SwapTotal") > 0;
}

/* --- pageout --- */

FIXTURE(pageout) {
	struct loopback lb;
	struct mirror m;
	unsigned char *tgt;
	size_t page;
};

PINNED_AND_ODP_VARIANTS(pageout);

FIXTURE_SETUP(pageout)
{
	ASSERT_TRUE(swap_on()) TH_LOG("no swap: the test's wrapper sets it up");
	LOOPBACK_OPEN_OR_SKIP(&self->lb, &opts, variant->odp, RW);
	ASSERT_EQ(0, loopback_connect(&self->lb));
	self->page = sysconf(_SC_PAGESIZE);
	self->tgt = mirror_open_target(&self->m, &self->lb, PAGEOUT_LEN,
				       variant->odp);
}

FIXTURE_TEARDOWN(pageout)
{
	mirror_close(&self->m);
	loopback_close(&self->lb);
	munmap(self->tgt, PAGEOUT_LEN);
	munmap(self->m.src, PAGEOUT_LEN);
	munmap(self->m.dst, PAGEOUT_LEN);
}

/* MADV_PAGEOUT the target's middle half; how many of its pages left. */
static size_t page_out_half(struct __test_metadata *_metadata,
			    FIXTURE_DATA(pageout) *self, bool odp)
{
	unsigned char *half = self->tgt + PAGEOUT_LEN / 4;
	size_t n = PAGEOUT_LEN / 2 / self->page;
	long before = vmstat("pswpout");
	long inval = mr_counter(self->m.tmr, "page_invalidations");

	EXPECT_EQ(0, madvise(half, PAGEOUT_LEN / 2, MADV_PAGEOUT));
	n = pagemap_count(half, n, PAGEMAP_SWAPPED);
	inval = mr_counter(self->m.tmr, "page_invalidations") - inval;
	TH_LOG("MADV_PAGEOUT: %zu of %lu pages swapped out, pswpout +%ld, "
	       "the MR's page_invalidations +%ld", n,
	       PAGEOUT_LEN / 2 / self->page, vmstat("pswpout") - before, inval);
	/* Reclaim unmaps a page only after the device let go of it. */
	if (odp)
		EXPECT_GE(inval, (long)n);
	return n;
}

TEST_F_TIMEOUT(pageout, remote_sees_swap, 300)
{
	size_t half = PAGEOUT_LEN / 2 / self->page, out;
	long swpin;

	ASSERT_TRUE(mirror_write_ok(&self->m, 0, PAGEOUT_LEN, SEED_A, "warm"));
	ASSERT_TRUE(mirror_read_is(&self->m, 0, PAGEOUT_LEN, SEED_A, "warm"));

	out = page_out_half(_metadata, self, variant->odp);
	if (!variant->odp) {
		/* What pinning costs: the pages cannot leave memory. */
		EXPECT_EQ(0, out);
	} else {
		EXPECT_GE(out * 10, half * 9);
	}
	swpin = vmstat("pswpin");
	EXPECT_TRUE(mirror_read_is(&self->m, 0, PAGEOUT_LEN, SEED_A,
				   "READ after pageout"));
	swpin = vmstat("pswpin") - swpin;
	TH_LOG("the READ swapped %ld pages back in", swpin);
	if (variant->odp)
		EXPECT_GE(swpin, (long)out / 2);

	out = page_out_half(_metadata, self, variant->odp);
	EXPECT_TRUE(mirror_write_ok(&self->m, PAGEOUT_LEN / 4, PAGEOUT_LEN / 2,
				    SEED_B, "WRITE into swapped-out pages"));
	EXPECT_TRUE(pattern_check_at(self->tgt, PAGEOUT_LEN / 4, SEED_A, 0,
				     "before the half"));
	EXPECT_TRUE(pattern_check_at(self->tgt + PAGEOUT_LEN * 3 / 4,
				     PAGEOUT_LEN / 4, SEED_A,
				     PAGEOUT_LEN * 3 / 4, "after the half"));
}

/* --- pressure --- */

FIXTURE(pressure) {
	char cg_max[24];
	struct cgroup cg;
	struct loopback lb;
	unsigned char *tgt, *src, *dst;
	struct ibv_mr *tmr, *smr, *dmr;
};

PINNED_AND_ODP_VARIANTS(pressure);

FIXTURE_SETUP(pressure)
{
	ASSERT_TRUE(swap_on()) TH_LOG("no swap: the test's wrapper sets it up");
	LOOPBACK_OPEN_OR_SKIP(&self->lb, &opts, variant->odp, RW);
	ASSERT_EQ(0, loopback_connect(&self->lb));
	/* Pinned before the cgroup is entered: the limit is the target's. */
	self->src = map_anon(NULL, CHUNK);
	self->dst = map_anon(NULL, CHUNK);
	self->smr = mirror_reg(&self->lb, self->src, CHUNK, false);
	self->dmr = mirror_reg(&self->lb, self->dst, CHUNK, false);
	ASSERT_EQ(0, cgroup_enter(&self->cg, "odp_swap", 0));
	snprintf(self->cg_max, sizeof(self->cg_max), "%zu", MR_LEN / 4);
	ASSERT_EQ(0, cgroup_write(&self->cg, "memory.max", self->cg_max));
	ASSERT_EQ(0, cgroup_write(&self->cg, "memory.swap.max", "max"));
	self->tgt = mmap(NULL, MR_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->tgt);
}

FIXTURE_TEARDOWN(pressure)
{
	loopback_dereg(self->tmr);
	loopback_dereg(self->smr);
	loopback_dereg(self->dmr);
	loopback_close(&self->lb);
	munmap(self->tgt, MR_LEN);
	munmap(self->src, CHUNK);
	munmap(self->dst, CHUNK);
	cgroup_leave(&self->cg);
}

/* One chunk of the target, by WRITE from src or READ into dst. */
static int chunk_rdma(FIXTURE_DATA(pressure) *self, enum ibv_wr_opcode op,
		      size_t off)
{
	bool write = op == IBV_WR_RDMA_WRITE;

	return loopback_rdma(&self->lb, op, write ? self->src : self->dst,
			     write ? self->smr->lkey : self->dmr->lkey,
			     self->tgt + off, self->tmr->rkey, CHUNK);
}

/* In a child, so in the cgroup: register the whole target pinned. */
static void pinned_child(FIXTURE_DATA(pressure) *self)
{
	struct loopback lb;
	struct ibv_mr *mr;

	if (loopback_open(&lb, &opts))
		_exit(3);
	mr = ibv_reg_mr(lb.pd, self->tgt, MR_LEN,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (mr) {
		fprintf(stderr, "pinned: %zu bytes registered under memory.max %s\n",
			MR_LEN, self->cg_max);
		_exit(0);
	}
	fprintf(stderr, "pinned: ibv_reg_mr: %s\n", strerror(errno));
	_exit(errno == ENOMEM || errno == EFAULT ? 1 : 2);
}

TEST_F_TIMEOUT(pressure, over_limit, 900)
{
	long swapped, swpin, events, faulted, inval;
	size_t off;
	int status;
	pid_t pid;

	if (!variant->odp) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid)
			pinned_child(self);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		TH_LOG("pinned: the child %s %d",
		       WIFSIGNALED(status) ? "was killed by signal" : "exited",
		       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		EXPECT_TRUE((WIFEXITED(status) && WEXITSTATUS(status) == 1) ||
			    (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
		return;
	}
	self->tmr = ibv_reg_mr(self->lb.pd, self->tgt, MR_LEN,
			       IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			       IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, self->tmr);
	for (off = 0; off < MR_LEN; off += CHUNK) {
		pattern_fill_at(self->src, CHUNK, SEED_A, off);
		ASSERT_EQ(IBV_WC_SUCCESS, chunk_rdma(self, IBV_WR_RDMA_WRITE, off))
			TH_LOG("WRITE at %zu", off);
	}
	swapped = cgroup_read(&self->cg, "memory.swap.current");
	swpin = vmstat("pswpin");
	for (off = 0; off < MR_LEN; off += CHUNK) {
		memset(self->dst, 0, CHUNK);
		ASSERT_EQ(IBV_WC_SUCCESS, chunk_rdma(self, IBV_WR_RDMA_READ, off))
			TH_LOG("READ at %zu", off);
		ASSERT_TRUE(pattern_check_at(self->dst, CHUNK, SEED_A, off,
					     "READ back"));
	}
	swpin = vmstat("pswpin") - swpin;
	events = cgroup_stat(&self->cg, "memory.events", "max");
	faulted = mr_counter(self->tmr, "page_faults");
	inval = mr_counter(self->tmr, "page_invalidations");
	TH_LOG("%zu MiB under memory.max %s: %ld MiB in swap after the WRITEs, "
	       "%ld pages swapped in by the READs, memory.events max %ld; "
	       "the MR's page_faults %ld, page_invalidations %ld",
	       MR_LEN >> 20, self->cg_max, swapped >> 20, swpin, events,
	       faulted, inval);
	EXPECT_GE(swapped, (long)MR_LEN / 2);
	EXPECT_GT(swpin, 0);
	/* Every page was reclaimed from under the device at least once... */
	EXPECT_GE(inval, (long)(MR_LEN / 2 / getpagesize()));
	/* ... and faulted back for the READ. */
	EXPECT_GE(faulted, (long)(MR_LEN * 3 / 2 / getpagesize()));
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
