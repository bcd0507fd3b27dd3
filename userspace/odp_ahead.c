// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_ahead: an ODP miss faults for write only the bytes a message will
 * write.
 *
 *   odp_ahead [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * A write fault is not free: it gives a private page its own copy (after
 * fork, copy-on-write sharing ends) and marks a file page dirty, to be
 * written back. So however far the device faults ahead, it may write-fault
 * only pages the message reaches. A receive buffer is the hard case: how
 * much of it a SEND fills is known only at its last packet.
 *
 * Each case moves data into an ODP MR over never-touched anonymous
 * memory, checks every byte, waits for background fault-ahead to settle,
 * and then reads /proc/self/pagemap: exactly the pages the data reached
 * are present, none after them.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "check.h"
#include "loopback.h"
#include "harness.h"

#define TARGET_LEN	(4u << 20)
/* Longer than background fault-ahead takes to cover 2 MiB on TCG. */
#define SETTLE_MS	500
#define SEED		0x4168

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

FIXTURE(ahead) {
	struct loopback lb;
	size_t page;
	unsigned char *target, *src;	/* target is never touched by the CPU */
	struct ibv_mr *tmr, *smr;	/* ODP over target; pinned over src */
};

FIXTURE_SETUP(ahead)
{
	LOOPBACK_OPEN_OR_SKIP(&self->lb, &opts, true,
			      IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_RECV);
	ASSERT_EQ(0, loopback_connect(&self->lb));
	self->page = sysconf(_SC_PAGESIZE);
	self->target = map_anon(NULL, TARGET_LEN);
	self->src = map_anon(NULL, TARGET_LEN);
	ASSERT_NE(NULL, self->target);
	ASSERT_NE(NULL, self->src);
	pattern_fill(self->src, TARGET_LEN, SEED);
	self->tmr = ibv_reg_mr(self->lb.pd, self->target, TARGET_LEN,
			       IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			       IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, self->tmr);
	self->smr = ibv_reg_mr(self->lb.pd, self->src, TARGET_LEN, 0);
	ASSERT_NE(NULL, self->smr);
}

FIXTURE_TEARDOWN(ahead)
{
	loopback_dereg(self->tmr);
	loopback_dereg(self->smr);
	loopback_close(&self->lb);
	munmap(self->target, TARGET_LEN);
	munmap(self->src, TARGET_LEN);
}

/*
 * After fault-ahead has settled: exactly target pages [@first, @last] are
 * present, and every other page of the target is not.
 */
static void expect_faulted(struct __test_metadata *_metadata,
			   FIXTURE_DATA(ahead) *self, size_t first, size_t last)
{
	size_t n = TARGET_LEN / self->page, i, stray = 0, missing = 0;

	sleep_ms(SETTLE_MS);
	for (i = 0; i < n; i++) {
		bool want = i >= first && i <= last;
		bool got = pagemap_entry(self->target + i * self->page) &
			   PAGEMAP_PRESENT;

		if (got && !want && !stray++)
			TH_LOG("page %zu was faulted in, which no data reached", i);
		if (!got && want && !missing++)
			TH_LOG("page %zu, which the data reached, is not present", i);
	}
	EXPECT_EQ(0, stray) TH_LOG("%zu pages faulted in beyond the data", stray);
	EXPECT_EQ(0, missing);
}

/* The requester's and the responder's completions of a SEND, in any order. */
static void wait_send_recv(struct __test_metadata *_metadata,
			   FIXTURE_DATA(ahead) *self, size_t len)
{
	struct ibv_wc wc;
	int i;

	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, loopback_poll(&self->lb, &wc, 60000));
		ASSERT_EQ(IBV_WC_SUCCESS, wc.status)
			TH_LOG("wr %llu: %s", (unsigned long long)wc.wr_id,
			       wc_status_name(wc.status));
		if (wc.opcode == IBV_WC_RECV)
			EXPECT_EQ(len, wc.byte_len);
	}
}

/*
 * A SEND of @len bytes into a receive of the whole target from @off; the
 * data lands at @off.
 */
static void send_into(struct __test_metadata *_metadata,
		      FIXTURE_DATA(ahead) *self, size_t off, size_t len)
{
	struct ibv_sge rsge = {
		.addr = (uintptr_t)self->target + off,
		.length = TARGET_LEN - off,
		.lkey = self->tmr->lkey,
	};
	struct ibv_recv_wr rwr = { .wr_id = 1, .sg_list = &rsge, .num_sge = 1 };
	struct ibv_sge ssge = {
		.addr = (uintptr_t)self->src + off,
		.length = len,
		.lkey = self->smr->lkey,
	};
	struct ibv_send_wr swr = {
		.wr_id = 2, .sg_list = &ssge, .num_sge = 1,
		.opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_recv_wr *rbad;
	struct ibv_send_wr *sbad;

	ASSERT_EQ(0, ibv_post_recv(self->lb.qp[1], &rwr, &rbad));
	ASSERT_EQ(0, ibv_post_send(self->lb.qp[0], &swr, &sbad));
	wait_send_recv(_metadata, self, len);
	EXPECT_TRUE(pattern_check_at(self->target + off, len, SEED, off,
				     "received data"));
}

/* An RDMA WRITE of @len bytes to the target at @off. */
static void write_into(struct __test_metadata *_metadata,
		       FIXTURE_DATA(ahead) *self, size_t off, size_t len)
{
	ASSERT_EQ(IBV_WC_SUCCESS,
		  loopback_rdma(&self->lb, IBV_WR_RDMA_WRITE, self->src + off,
				self->smr->lkey, self->target + off,
				self->tmr->rkey, len));
	EXPECT_TRUE(pattern_check_at(self->target + off, len, SEED, off,
				     "written data"));
}

/* 100 bytes into a 4 MiB receive buffer write one page. */
TEST_F(ahead, recv_small)
{
	send_into(_metadata, self, 0, 100);
	expect_faulted(_metadata, self, 0, 0);
}

/* A multi-packet SEND, from mid-page: its pages and no more. */
TEST_F(ahead, recv_multi_packet)
{
	size_t off = 5 * self->page + 300;

	send_into(_metadata, self, off, 3 * self->page);
	expect_faulted(_metadata, self, 5, 8);
}

/* An RDMA WRITE says its length up front: its pages and no more. */
TEST_F(ahead, write_small)
{
	write_into(_metadata, self, 7 * self->page + 4000, 200);
	expect_faulted(_metadata, self, 7, 8);
}

/* A WRITE longer than one fault's step: all of it, and no more. */
TEST_F(ahead, write_large)
{
	size_t len = 300 * self->page + 1;

	write_into(_metadata, self, self->page, len);
	expect_faulted(_metadata, self, 1, 301);
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
