// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_access: what an ODP MR may be given, and what it refuses.
 *
 *   odp_access [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * - caps: the ODP capabilities rxe0 advertises, general, RC, UC, UD and
 *   XRC, exactly.
 * - rereg: a change of access (IBV_REREG_MR_CHANGE_ACCESS) of an ODP MR
 *   with flags that keep IBV_ACCESS_ON_DEMAND succeeds, and the new rights
 *   hold (a WRITE the MR no longer allows fails); flags that would make it
 *   a pinned MR are refused (EOPNOTSUPP).
 * - FLUSH persistence: which pages back an ODP MR is known only when it
 *   faults, so an ODP MR registers with IB_UVERBS_ACCESS_FLUSH_PERSISTENT,
 *   or gains it by rereg, over any memory, and each persistent FLUSH checks
 *   its pages (odp_dax tests that); over ordinary memory a pinned MR is
 *   refused it at registration (the pinned path wants persistent memory).
 * - memfd_secret() memory, which the kernel removed from its own direct
 *   map: a pinned MR over it is refused, an ODP MR registers (nothing is
 *   touched) but every access through it completes with an error, remote
 *   (WRITE, READ, atomic) and local (a SEND's source), and the kernel
 *   stays up. The QPs are reconnected after each error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <rdma/ib_user_verbs.h>

#include "kselftest_harness.h"

#include "check.h"
#include "harness.h"
#include "loopback.h"

#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif
/* The kernel's flag; rdma-core 44 passes it through but does not name it. */
#define ACCESS_FLUSH_PERSISTENT	(1 << 9)

#define ACCESS_RW	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
#define ODP_RW		(ACCESS_RW | IBV_ACCESS_ON_DEMAND)
#define SEED		0x4163

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

FIXTURE(odp) {
	struct loopback lb;
	size_t page, len;
	unsigned char *buf, *local;	/* remote target, local buffer */
	struct ibv_mr *lmr;		/* ODP, over local */
};

FIXTURE_SETUP(odp)
{
	ASSERT_EQ(0, loopback_open(&self->lb, &opts));
	ASSERT_EQ(0, loopback_connect(&self->lb));
	ASSERT_TRUE(loopback_has_odp_rc(&self->lb, IBV_ODP_SUPPORT_SEND |
					IBV_ODP_SUPPORT_WRITE |
					IBV_ODP_SUPPORT_READ))
		TH_LOG("%s does not advertise RC ODP", opts.dev);
	self->page = sysconf(_SC_PAGESIZE);
	self->len = 4 * self->page;
	self->buf = map_anon(NULL, self->len);
	self->local = map_anon(NULL, self->len);
	ASSERT_NE(NULL, self->buf);
	ASSERT_NE(NULL, self->local);
	self->lmr = ibv_reg_mr(self->lb.pd, self->local, self->len, ODP_RW);
	ASSERT_NE(NULL, self->lmr);
}

FIXTURE_TEARDOWN(odp)
{
	loopback_dereg(self->lmr);
	loopback_close(&self->lb);
	munmap(self->buf, self->len);
	munmap(self->local, self->len);
}

/*
 * Exactly what rxe advertises (Documentation/rxe_odp.rst): bits 6 and 7 are
 * FLUSH and ATOMIC_WRITE, which rdma-core 44 does not name.
 */
TEST_F(odp, caps_exact)
{
	const uint32_t rc = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV |
			    IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ |
			    IBV_ODP_SUPPORT_ATOMIC | IBV_ODP_SUPPORT_SRQ_RECV |
			    1 << 6 | 1 << 7;
	const uint32_t ud = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV |
			    IBV_ODP_SUPPORT_SRQ_RECV;
	struct ibv_device_attr_ex attr = {};

	ASSERT_EQ(0, ibv_query_device_ex(self->lb.ctx, NULL, &attr));
	EXPECT_EQ(IBV_ODP_SUPPORT | IBV_ODP_SUPPORT_IMPLICIT,
		  attr.odp_caps.general_caps);
	EXPECT_EQ(rc, attr.odp_caps.per_transport_caps.rc_odp_caps);
	EXPECT_EQ(0, attr.odp_caps.per_transport_caps.uc_odp_caps);
	EXPECT_EQ(ud, attr.odp_caps.per_transport_caps.ud_odp_caps);
	EXPECT_EQ(0, attr.xrc_odp_caps);
}

/* The errno of a registration expected to fail, or 0 if it succeeded. */
static int reg_errno(struct ibv_pd *pd, void *buf, size_t len, int access)
{
	struct ibv_mr *mr;

	errno = 0;
	mr = ibv_reg_mr(pd, buf, len, access);
	if (!mr)
		return errno ? errno : -1;
	ibv_dereg_mr(mr);
	return 0;
}

/*
 * ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_ACCESS, ..., access), sent as
 * uverbs' own REREG_MR command: Debian 12's rxe provider (rdma-core 44) has
 * no rereg_mr and answers EOPNOTSUPP without asking the kernel. Returns 0
 * or the kernel's errno.
 */
static int rereg_access(struct ibv_mr *mr, int access)
{
	struct ib_uverbs_rereg_mr_resp resp;
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_rereg_mr cmd;
	} req = {
		.hdr = {
			.command = IB_USER_VERBS_CMD_REREG_MR,
			.in_words = sizeof(req) / 4,
			.out_words = sizeof(resp) / 4,
		},
		.cmd = {
			.response = (uintptr_t)&resp,
			.mr_handle = mr->handle,
			.flags = IBV_REREG_MR_CHANGE_ACCESS,
			.access_flags = access,
		},
	};

	if (write(mr->context->cmd_fd, &req, sizeof(req)) != sizeof(req))
		return errno;
	return 0;
}

static int rdma(FIXTURE_DATA(odp) *self, enum ibv_wr_opcode op,
		void *remote, uint32_t rkey, size_t len)
{
	return loopback_rdma(&self->lb, op, self->local, self->lmr->lkey,
			     remote, rkey, len);
}

TEST_F(odp, rereg_access)
{
	struct ibv_mr *mr = ibv_reg_mr(self->lb.pd, self->buf, self->len,
				       ODP_RW);
	int ro = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
		 IBV_ACCESS_ON_DEMAND;
	int st;

	ASSERT_NE(NULL, mr);
	pattern_fill(self->local, self->len, SEED);
	EXPECT_EQ(IBV_WC_SUCCESS, rdma(self, IBV_WR_RDMA_WRITE, self->buf,
				       mr->rkey, self->len));
	EXPECT_TRUE(pattern_check(self->buf, self->len, SEED, "written"));

	/* Read-only for remote peers: READs still work, WRITEs do not. */
	EXPECT_EQ(0, rereg_access(mr, ro)) TH_LOG("rereg: %m");
	memset(self->local, 0, self->len);
	EXPECT_EQ(IBV_WC_SUCCESS, rdma(self, IBV_WR_RDMA_READ, self->buf,
				       mr->rkey, self->len));
	EXPECT_TRUE(pattern_check(self->local, self->len, SEED, "read back"));
	st = rdma(self, IBV_WR_RDMA_WRITE, self->buf, mr->rkey, 8);
	EXPECT_EQ(IBV_WC_REM_ACCESS_ERR, st) TH_LOG("%s", wc_status_name(st));
	ASSERT_EQ(0, loopback_reconnect(&self->lb));

	/* Back to read-write, and the WRITE lands again. */
	EXPECT_EQ(0, rereg_access(mr, ODP_RW)) TH_LOG("rereg: %m");
	pattern_fill(self->local, self->len, SEED + 1);
	EXPECT_EQ(IBV_WC_SUCCESS, rdma(self, IBV_WR_RDMA_WRITE, self->buf,
				       mr->rkey, self->len));
	EXPECT_TRUE(pattern_check(self->buf, self->len, SEED + 1, "rewritten"));

	/* An ODP MR cannot turn into a pinned one by rereg. */
	EXPECT_EQ(EOPNOTSUPP, rereg_access(mr, ACCESS_RW));
	EXPECT_EQ(0, ibv_dereg_mr(mr));
}

TEST_F(odp, flush_persistent)
{
	struct ibv_mr *mr;

	mr = ibv_reg_mr(self->lb.pd, self->buf, self->len,
			ODP_RW | ACCESS_FLUSH_PERSISTENT);
	ASSERT_NE(NULL, mr) TH_LOG("ODP with FLUSH_PERSISTENT: %m");
	EXPECT_EQ(0, ibv_dereg_mr(mr));
	/* The pinned path sees its pages now, and wants persistent ones. */
	EXPECT_NE(0, reg_errno(self->lb.pd, self->buf, self->len,
			       ACCESS_RW | ACCESS_FLUSH_PERSISTENT));

	mr = ibv_reg_mr(self->lb.pd, self->buf, self->len, ODP_RW);
	ASSERT_NE(NULL, mr);
	EXPECT_EQ(0, rereg_access(mr, ODP_RW | ACCESS_FLUSH_PERSISTENT));
	EXPECT_EQ(0, ibv_dereg_mr(mr));
}

/* A shared mapping of @len bytes of memfd_secret() memory. */
static void *map_secret(struct __test_metadata *_metadata, size_t len)
{
	int fd = syscall(SYS_memfd_secret, 0);
	void *p;

	ASSERT_LE(0, fd) TH_LOG("memfd_secret: %m (CONFIG_SECRETMEM?)");
	ASSERT_EQ(0, ftruncate(fd, len));
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	ASSERT_NE(MAP_FAILED, p);
	return p;
}

TEST_F(odp, secretmem_refused)
{
	unsigned char *secret = map_secret(_metadata, self->len);
	struct ibv_send_wr wr = { .opcode = IBV_WR_SEND, .num_sge = 1 }, *bad;
	struct ibv_sge sge;
	struct ibv_mr *mr;
	struct ibv_wc wc;
	int st;

	/* The owner's own bytes, so that a fault finds pages to hand out. */
	pattern_fill(secret, self->len, SEED);
	EXPECT_NE(0, reg_errno(self->lb.pd, secret, self->len, ACCESS_RW));

	mr = ibv_reg_mr(self->lb.pd, secret, self->len, ODP_RW);
	ASSERT_NE(NULL, mr) TH_LOG("ODP registration: %m");

	st = rdma(self, IBV_WR_RDMA_WRITE, secret, mr->rkey, 64);
	EXPECT_EQ(IBV_WC_REM_ACCESS_ERR, st) TH_LOG("WRITE: %s",
						    wc_status_name(st));
	ASSERT_EQ(0, loopback_reconnect(&self->lb));
	st = rdma(self, IBV_WR_RDMA_READ, secret + self->page, mr->rkey, 64);
	EXPECT_EQ(IBV_WC_REM_ACCESS_ERR, st) TH_LOG("READ: %s",
						    wc_status_name(st));
	ASSERT_EQ(0, loopback_reconnect(&self->lb));

	/* A local SGE in secret memory: the SEND fails on this side. */
	sge = (struct ibv_sge){ (uintptr_t)secret, 64, mr->lkey };
	wr.sg_list = &sge;
	wr.wr_id = 7;
	ASSERT_EQ(0, ibv_post_send(self->lb.qp[0], &wr, &bad));
	ASSERT_EQ(0, loopback_poll(&self->lb, &wc, 20000));
	EXPECT_NE(IBV_WC_SUCCESS, wc.status);
	TH_LOG("SEND from secret memory: %s", wc_status_name(wc.status));
	ASSERT_EQ(0, loopback_reconnect(&self->lb));

	/* Untouched by any of it, and the QPs work again. */
	EXPECT_TRUE(pattern_check(secret, self->len, SEED, "secret memory"));
	EXPECT_EQ(0, ibv_dereg_mr(mr));
	munmap(secret, self->len);
	mr = ibv_reg_mr(self->lb.pd, self->buf, self->len, ODP_RW);
	ASSERT_NE(NULL, mr);
	pattern_fill(self->local, 64, SEED + 2);
	EXPECT_EQ(IBV_WC_SUCCESS, rdma(self, IBV_WR_RDMA_WRITE, self->buf,
				       mr->rkey, 64));
	EXPECT_TRUE(pattern_check(self->buf, 64, SEED + 2, "after"));
	EXPECT_EQ(0, ibv_dereg_mr(mr));
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
