// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_wire: what only a second host can do to an ODP requester.
 *
 *   ODP_WIRE_KILL=COMMAND odp_wire [-d ib_dev] [-g gid_idx] --peer ADDR
 *            [-p port] [kselftest harness options]
 *
 * The responder is odp_peer on another host (peer.h), with its target
 * under an ODP MR; ours are ODP too.
 *
 *   peer_killed   a stream of RDMA WRITEs is running when COMMAND (a shell
 *                 command) kills the peer's host: from then on nothing
 *                 answers. The WRITEs in flight end in a retry-exceeded
 *                 error (and flushes after it), not a hang, and closing
 *                 frees every MR, QP and PD of our device.
 *
 * (A process that dies is not a host that dies: its memory goes first, and
 * the WRITEs that reach its QP meanwhile get a remote access error.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"

#include "harness.h"

#include "check.h"
#include "loopback.h"
#include "mirror.h"

#define SIZE	(4u << 20)
#define CHUNK	(64u << 10)
#define DEPTH	16	/* WRITEs in flight */

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

FIXTURE(odp_wire) {
	struct loopback lb;
	struct mirror m;
	struct res_counts base;
};

FIXTURE_SETUP(odp_wire)
{
	ASSERT_NE(NULL, opts.peer)
		TH_LOG("odp_wire runs against odp_peer: give --peer ADDR");
	ASSERT_NE(NULL, getenv("ODP_WIRE_KILL"))
		TH_LOG("set ODP_WIRE_KILL to a command that kills the peer's host");
	self->base = rdma_res_counts(opts.dev);
	LOOPBACK_OPEN_OR_SKIP(&self->lb, &opts, true,
			      IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ);
	/* Resent thrice, not "forever" (rxe's reading of 7). */
	self->lb.retry_cnt = 3;
	ASSERT_EQ(0, loopback_connect(&self->lb));
	mirror_open_target(&self->m, &self->lb, SIZE, true);
}

FIXTURE_TEARDOWN(odp_wire)
{
	mirror_close(&self->m);
	loopback_close(&self->lb);
	mirror_unmap(&self->m, SIZE);
	EXPECT_RES_COUNTS_BACK(opts.dev, &self->base, 10000);
}

static int post_write(struct loopback *lb, struct mirror *m, uint64_t n)
{
	size_t off = n % (SIZE / CHUNK) * CHUNK;
	struct ibv_sge sge = {
		.addr = (uintptr_t)m->src + off, .length = CHUNK, .lkey = m->smr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = n, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_WRITE,
		.wr.rdma = { .remote_addr = (uintptr_t)m->tgt + off, .rkey = m->rkey },
	}, *bad;

	return ibv_post_send(lb->qp[0], &wr, &bad);
}

TEST_F(odp_wire, peer_killed)
{
	int first = IBV_WC_SUCCESS, errors = 0;
	uint64_t posted = 0, done = 0, ok = 0;
	long end;
	struct ibv_wc wc;

	ASSERT_TRUE(mirror_write_ok(&self->m, 0, SIZE, 5, "WRITE before the death"));
	ASSERT_TRUE(mirror_read_is(&self->m, 0, SIZE, 5, "READ before the death"));

	while (posted < DEPTH)
		ASSERT_EQ(0, post_write(&self->lb, &self->m, posted++));
	TH_LOG("killing the peer: %s", getenv("ODP_WIRE_KILL"));
	ASSERT_EQ(0, system(getenv("ODP_WIRE_KILL")));
	/* Keep the stream going until it breaks: a retry-exceeded takes 4 ACK
	 * timeouts (67 ms each), and a hang runs out the minute. */
	end = now_ms() + 60000;
	while (done < posted && now_ms() < end) {
		if (loopback_poll(&self->lb, &wc, 1000))
			continue;
		done++;
		if (wc.status == IBV_WC_SUCCESS) {
			ok++;
			if (!errors)
				ASSERT_EQ(0, post_write(&self->lb, &self->m, posted++));
			continue;
		}
		if (!errors++)
			first = wc.status;
	}
	TH_LOG("%llu WRITEs completed, then %d errors, the first: %s",
	       (unsigned long long)ok, errors, wc_status_name(first));
	EXPECT_EQ(posted, done) TH_LOG("%llu WRITEs never completed",
				       (unsigned long long)(posted - done));
	EXPECT_EQ(IBV_WC_RETRY_EXC_ERR, first);
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
