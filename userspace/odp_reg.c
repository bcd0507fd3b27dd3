// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_reg: what ibv_reg_mr(..., IBV_ACCESS_ON_DEMAND) does on a device.
 *
 *   odp_reg [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * On a device that advertises ODP the registration of 64 MiB succeeds
 * without pinning anything (VmPin unchanged); on one that does not, it is
 * refused with an errno, never made pinned instead (that case then skips:
 * it did not see ODP). Either way, a zero length and a range that wraps
 * the address space are refused with an errno.
 */
#include <errno.h>
#include <sys/mman.h>

#include "kselftest_harness.h"

#include "check.h"
#include "harness.h"
#include "loopback.h"

#define LEN		(64u << 20)
#define ODP_LOCAL	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND)

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

FIXTURE(reg) {
	struct loopback lb;
	void *buf;
};

FIXTURE_SETUP(reg)
{
	ASSERT_EQ(0, loopback_open(&self->lb, &opts));
	self->buf = map_anon(NULL, LEN);
}

FIXTURE_TEARDOWN(reg)
{
	munmap(self->buf, LEN);
	loopback_close(&self->lb);
}

/* The errno of a registration that must fail, or 0 if it succeeded. */
static int reg_errno(struct loopback *lb, void *addr, size_t len)
{
	struct ibv_mr *mr;

	errno = 0;
	mr = ibv_reg_mr(lb->pd, addr, len, ODP_LOCAL);
	if (mr) {
		ibv_dereg_mr(mr);
		return 0;
	}
	return errno ? errno : -1;
}

TEST_F(reg, unpinned)
{
	long before = vm_pinned_kb();
	struct ibv_mr *mr;

	ASSERT_LE(0, before);
	if (!loopback_has_odp_rc(&self->lb, 0)) {
		ASSERT_NE(0, reg_errno(&self->lb, self->buf, LEN));
		SKIP(return, "%s has no ODP: the registration was refused",
		     opts.dev);
	}
	mr = ibv_reg_mr(self->lb.pd, self->buf, LEN, ODP_LOCAL);
	ASSERT_NE(NULL, mr) TH_LOG("ibv_reg_mr: %s", strerror(errno));
	EXPECT_EQ(before, vm_pinned_kb());
	EXPECT_EQ(0, ibv_dereg_mr(mr));
}

TEST_F(reg, zero_length_refused)
{
	EXPECT_LT(0, reg_errno(&self->lb, self->buf, 0));
}

TEST_F(reg, wrapping_range_refused)
{
	EXPECT_LT(0, reg_errno(&self->lb, (void *)(~0UL - 4095), 8192));
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
