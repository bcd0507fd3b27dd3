// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_prefetch: ibv_advise_mr() on ODP MRs, and the MR's counters.
 *
 *   odp_prefetch [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * Debian 12's rxe provider has no advise_mr; the guest binds one that has
 * (scripts/rdma-core.sh), so these calls reach the kernel. Each case
 * registers a fresh ODP target of LEN bytes on a loopback RC pair; data
 * moves with check.h's pattern at each byte's own offset, every byte
 * checked. Counters are the MR's, from `rdma statistic show mr`:
 * page_faults (pages the device faulted in), page_prefetch (translations
 * advise_mr added), page_invalidations.
 *
 *   prefetch.sync_write  PREFETCH_WRITE with IBV_ADVISE_MR_FLAG_FLUSH over
 *       the whole MR: page_prefetch counts every page; a remote WRITE and
 *       READ after it fault nothing; a second prefetch adds nothing.
 *   prefetch.sync_read  PREFETCH maps the pages for reading only: a READ
 *       faults nothing, a WRITE then faults (for write access).
 *   prefetch.no_fault  The CPU touches the first half; PREFETCH_NO_FAULT
 *       over the whole MR maps that half only: a READ of it faults
 *       nothing, a READ of the other half faults.
 *   prefetch.async  PREFETCH_WRITE without the flag returns at once; the
 *       pages arrive in the background (page_prefetch reaches the MR's
 *       page count), then a WRITE faults nothing.
 *   prefetch.async_dereg  An asynchronous prefetch over 64 MiB, the MR
 *       deregistered at once: it stops, nothing leaks, the device works.
 *   prefetch.async_exit  The same in a child process that exits at once.
 *   prefetch.munmap_invalidates  After a prefetch, munmap of the target
 *       counts its pages in page_invalidations.
 *   prefetch.implicit  The same target through an implicit MR: a sync
 *       PREFETCH_WRITE of its range counts every page, and a WRITE to it
 *       through the implicit rkey faults nothing.
 *   bad.*  The errnos of ibv_advise_mr(3): an lkey that names no MR and a
 *       range outside the MR (EFAULT), an MR of another PD and a
 *       PREFETCH_WRITE into an MR without local write (EPERM), a pinned MR
 *       and unknown flags (EINVAL), an unknown advice (EOPNOTSUPP).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "check.h"
#include "harness.h"
#include "loopback.h"
#include "mirror.h"

#define LEN		(1ul << 20)
#define BIG		(64ul << 20)
#define SEED		0x9f37
#define RW		(IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ)

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

FIXTURE(prefetch) {
	struct res_counts base;
	struct loopback lb;
	struct mirror m;
	unsigned char *tgt;
	size_t page;
};

FIXTURE_SETUP(prefetch)
{
	self->page = sysconf(_SC_PAGESIZE);
	self->base = rdma_res_counts(opts.dev);
	LOOPBACK_OPEN_OR_SKIP(&self->lb, &opts, true, RW);
	ASSERT_EQ(0, loopback_connect(&self->lb));
	self->tgt = mirror_open_target(&self->m, &self->lb, LEN, true);
}

FIXTURE_TEARDOWN(prefetch)
{
	mirror_close(&self->m);
	loopback_close(&self->lb);
	munmap(self->m.src, LEN);
	munmap(self->m.dst, LEN);
	if (self->tgt)
		munmap(self->tgt, LEN);
	EXPECT_RES_COUNTS_BACK(opts.dev, &self->base, 5000);
}

static long counter(struct ibv_mr *mr, const char *name)
{
	return rdma_mr_counter(opts.dev, mr->lkey, name);
}

/* ibv_advise_mr() over [off, off + len) of @mr; 0 or its errno. */
static int advise(struct ibv_mr *mr, enum ibv_advise_mr_advice advice,
		  uint32_t flags, size_t off, size_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)mr->addr + off,
		.length = len,
		.lkey = mr->lkey,
	};

	return ibv_advise_mr(mr->pd, advice, flags, &sge, 1);
}

/* Wait up to @ms for counter @name of @mr to reach @want; its value. */
static long counter_reaches(struct ibv_mr *mr, const char *name, long want,
			    int ms)
{
	long end = now_ms() + ms, v;

	while ((v = counter(mr, name)) < want && now_ms() < end)
		sleep_ms(20);
	return v;
}

TEST_F(prefetch, sync_write)
{
	struct ibv_mr *mr = self->m.tmr;
	long pages = LEN / self->page, faults;

	ASSERT_EQ(0, advise(mr, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			    IBV_ADVISE_MR_FLAG_FLUSH, 0, LEN));
	EXPECT_EQ(pages, counter(mr, "page_prefetch"));
	faults = counter(mr, "page_faults");
	EXPECT_EQ(0, faults);
	EXPECT_TRUE(mirror_write_ok(&self->m, 123, LEN - 246, SEED, "WRITE"));
	EXPECT_TRUE(mirror_read_is(&self->m, 123, LEN - 246, SEED, "READ"));
	EXPECT_EQ(faults, counter(mr, "page_faults"));
	ASSERT_EQ(0, advise(mr, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			    IBV_ADVISE_MR_FLAG_FLUSH, 0, LEN));
	EXPECT_EQ(pages, counter(mr, "page_prefetch"));
}

TEST_F(prefetch, sync_read)
{
	struct ibv_mr *mr = self->m.tmr;

	ASSERT_EQ(0, advise(mr, IBV_ADVISE_MR_ADVICE_PREFETCH,
			    IBV_ADVISE_MR_FLAG_FLUSH, 0, LEN));
	EXPECT_EQ((long)(LEN / self->page), counter(mr, "page_prefetch"));
	EXPECT_TRUE(mirror_read_zero(&self->m, 0, LEN, "READ"));
	EXPECT_EQ(0, counter(mr, "page_faults"));
	EXPECT_TRUE(mirror_write_ok(&self->m, 5, 3 * self->page, SEED,
				    "WRITE"));
	EXPECT_LE(3, counter(mr, "page_faults"));
}

TEST_F(prefetch, no_fault)
{
	struct ibv_mr *mr = self->m.tmr;
	size_t half = LEN / 2;
	long faults;

	memset(self->tgt, 0, half);
	ASSERT_EQ(0, advise(mr, IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
			    IBV_ADVISE_MR_FLAG_FLUSH, 0, LEN));
	EXPECT_EQ((long)(half / self->page), counter(mr, "page_prefetch"));
	EXPECT_TRUE(mirror_read_zero(&self->m, 0, half, "READ touched half"));
	faults = counter(mr, "page_faults");
	EXPECT_EQ(0, faults);
	EXPECT_TRUE(mirror_read_zero(&self->m, half, half,
				     "READ untouched half"));
	EXPECT_LT(faults, counter(mr, "page_faults"));
}

TEST_F(prefetch, async)
{
	struct ibv_mr *mr = self->m.tmr;
	long pages = LEN / self->page;

	ASSERT_EQ(0, advise(mr, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0, 0,
			    LEN));
	EXPECT_EQ(pages, counter_reaches(mr, "page_prefetch", pages, 20000));
	EXPECT_TRUE(mirror_write_ok(&self->m, 0, LEN, SEED, "WRITE"));
	EXPECT_EQ(0, counter(mr, "page_faults"));
}

/* Register @len bytes at @buf on demand, prefetch them in the background. */
static struct ibv_mr *reg_and_prefetch(struct loopback *lb, void *buf,
				       size_t len)
{
	struct ibv_mr *mr = ibv_reg_mr(lb->pd, buf, len,
				       IBV_ACCESS_LOCAL_WRITE |
				       IBV_ACCESS_REMOTE_WRITE |
				       IBV_ACCESS_ON_DEMAND);

	if (mr && advise(mr, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0, 0, len)) {
		ibv_dereg_mr(mr);
		mr = NULL;
	}
	return mr;
}

TEST_F(prefetch, async_dereg)
{
	unsigned char *big = map_anon(NULL, BIG);
	struct ibv_mr *mr;

	ASSERT_NE(NULL, big);
	mr = reg_and_prefetch(&self->lb, big, BIG);
	ASSERT_NE(NULL, mr) TH_LOG("register and prefetch: %m");
	EXPECT_EQ(0, ibv_dereg_mr(mr));
	munmap(big, BIG);
	EXPECT_TRUE(mirror_write_ok(&self->m, 77, 5 * self->page, SEED,
				    "WRITE after the dereg"));
}

TEST_F(prefetch, async_exit)
{
	pid_t pid = fork();
	int status;

	ASSERT_LE(0, pid);
	if (!pid) {
		struct loopback lb;
		unsigned char *big = map_anon(NULL, BIG);

		if (!big || loopback_open(&lb, &opts) ||
		    !reg_and_prefetch(&lb, big, BIG))
			_exit(1);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the child could not register and prefetch");
	EXPECT_TRUE(mirror_write_ok(&self->m, 77, 5 * self->page, SEED,
				    "WRITE after the child's exit"));
}

TEST_F(prefetch, munmap_invalidates)
{
	struct ibv_mr *mr = self->m.tmr;
	long pages = LEN / self->page;

	ASSERT_EQ(0, advise(mr, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			    IBV_ADVISE_MR_FLAG_FLUSH, 0, LEN));
	EXPECT_EQ(0, counter(mr, "page_invalidations"));
	ASSERT_EQ(0, munmap(self->tgt, LEN));
	self->tgt = NULL;
	EXPECT_EQ(pages, counter(mr, "page_invalidations"));
}

TEST_F(prefetch, implicit)
{
	struct ibv_mr *imr = ibv_reg_mr(self->lb.pd, NULL, SIZE_MAX,
					IBV_ACCESS_LOCAL_WRITE |
					IBV_ACCESS_REMOTE_WRITE |
					IBV_ACCESS_ON_DEMAND);
	struct ibv_sge sge = { (uintptr_t)self->tgt, LEN, 0 };
	long pages = LEN / self->page;

	ASSERT_NE(NULL, imr) TH_LOG("implicit MR: %m");
	sge.lkey = imr->lkey;
	EXPECT_EQ(0, ibv_advise_mr(self->lb.pd,
				   IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				   IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1));
	EXPECT_EQ(pages, counter(imr, "page_prefetch"));
	pattern_fill_at(self->m.src, LEN, SEED, 0);
	EXPECT_EQ(IBV_WC_SUCCESS,
		  loopback_rdma(&self->lb, IBV_WR_RDMA_WRITE, self->m.src,
				self->m.smr->lkey, self->tgt, imr->rkey, LEN));
	EXPECT_TRUE(pattern_check_at(self->tgt, LEN, SEED, 0,
				     "WRITE through the implicit MR"));
	EXPECT_EQ(0, counter(imr, "page_faults"));
	EXPECT_EQ(0, ibv_dereg_mr(imr));
}

FIXTURE(bad) {
	struct loopback lb, other;
	unsigned char *buf;
	struct ibv_mr *odp, *ro, *pinned, *elsewhere;
};

FIXTURE_SETUP(bad)
{
	int odp = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND;

	LOOPBACK_OPEN_OR_SKIP(&self->lb, &opts, true, RW);
	ASSERT_EQ(0, loopback_open(&self->other, &opts));
	self->buf = map_anon(NULL, LEN);
	ASSERT_NE(NULL, self->buf);
	self->odp = ibv_reg_mr(self->lb.pd, self->buf, LEN, odp);
	self->ro = ibv_reg_mr(self->lb.pd, self->buf, LEN,
			      IBV_ACCESS_ON_DEMAND);
	self->pinned = ibv_reg_mr(self->lb.pd, self->buf, LEN,
				  IBV_ACCESS_LOCAL_WRITE);
	self->elsewhere = ibv_reg_mr(self->other.pd, self->buf, LEN, odp);
	ASSERT_TRUE(self->odp && self->ro && self->pinned && self->elsewhere);
}

FIXTURE_TEARDOWN(bad)
{
	loopback_dereg(self->odp);
	loopback_dereg(self->ro);
	loopback_dereg(self->pinned);
	loopback_dereg(self->elsewhere);
	loopback_close(&self->other);
	loopback_close(&self->lb);
	munmap(self->buf, LEN);
}

/* ibv_advise_mr() on @pd with one SGE; 0 or its errno. */
static int advise_sge(struct ibv_pd *pd, enum ibv_advise_mr_advice advice,
		      uint32_t flags, uint32_t lkey, void *addr, size_t len)
{
	struct ibv_sge sge = { (uintptr_t)addr, len, lkey };

	return ibv_advise_mr(pd, advice, flags, &sge, 1);
}

TEST_F(bad, errnos)
{
	const enum ibv_advise_mr_advice pf = IBV_ADVISE_MR_ADVICE_PREFETCH;
	const uint32_t sync = IBV_ADVISE_MR_FLAG_FLUSH;
	struct ibv_pd *pd = self->lb.pd;
	unsigned char *b = self->buf;

	EXPECT_EQ(0, advise_sge(pd, pf, sync, self->odp->lkey, b, LEN));
	EXPECT_EQ(EFAULT, advise_sge(pd, pf, sync, self->odp->lkey ^ 0x7f00,
				     b, LEN));
	EXPECT_EQ(EFAULT, advise_sge(pd, pf, sync, self->odp->lkey ^ 1, b,
				     LEN));
	EXPECT_EQ(EFAULT, advise_sge(pd, pf, sync, self->odp->lkey, b + 1,
				     LEN));
	EXPECT_EQ(EFAULT, advise_sge(pd, pf, sync, self->odp->lkey, b - 4096,
				     100));
	EXPECT_EQ(EPERM, advise_sge(pd, pf, sync, self->elsewhere->lkey, b,
				    LEN));
	EXPECT_EQ(EPERM, advise_sge(pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				    sync, self->ro->lkey, b, LEN));
	EXPECT_EQ(0, advise_sge(pd, pf, sync, self->ro->lkey, b, LEN));
	EXPECT_EQ(EINVAL, advise_sge(pd, pf, sync, self->pinned->lkey, b,
				     LEN));
	EXPECT_EQ(EINVAL, advise_sge(pd, pf, 1u << 5, self->odp->lkey, b,
				     LEN));
	EXPECT_EQ(EOPNOTSUPP, advise_sge(pd, 7, sync, self->odp->lkey, b,
					 LEN));
	/* Asynchronous advice is checked before the call returns too. */
	EXPECT_EQ(EFAULT, advise_sge(pd, pf, 0, self->odp->lkey, b + 1, LEN));
	EXPECT_EQ(EPERM, advise_sge(pd, pf, 0, self->elsewhere->lkey, b,
				    LEN));
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
