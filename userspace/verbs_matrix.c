// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * verbs_matrix: every RC opcode rxe supports, and UD SEND, at the lengths
 * where packet and page boundaries fall, through pinned MRs, ODP MRs and,
 * for zero bytes, no MR at all. Each case checks the completion status of
 * both ends and every byte of the destination, its surroundings and the
 * source. The base kernel's rxe completes every RC case here successfully;
 * so must ours, ODP or not.
 *
 *   verbs_matrix [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * Data crosses page boundaries at different offsets in the source and the
 * destination, and one position-unique pattern fills the source, so a
 * byte from a wrong page, or shifted, never matches. ODP destinations are
 * cold: the first access to them is the responder's (or the requester's,
 * for a READ's local buffer). A zero-length RDMA READ or WRITE carries
 * no rkey and address at all (IBTA C9-88): the "none" variants send rkey
 * 0, address 0 and no SGE.
 *
 * UD SEND and SEND with immediate at 0, 1, MTU-1, MTU and MTU+1 bytes,
 * pinned, ODP and (for zero bytes) with no SGE at either end, check the
 * receive completion (GRH flag, source QP, length with the 40-byte GRH
 * area) and the payload after that area, which crosses a page boundary as
 * the area does. Where base rxe completes the send and never the receive
 * (MTU+1: no packet goes out; no SGE: no room for the GRH, the message is
 * dropped), so must ours.
 *
 * Atomics through a pinned and an ODP MR over the same memory, from two
 * requesters at once, lose no update.
 *
 * Not here: FLUSH, which Debian 12's libibverbs (rdma-core 44) cannot
 * post (it has no IBV_WR_FLUSH), and the GRH area's contents and longer
 * UD runs, which odp_ud checks.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "check.h"
#include "harness.h"
#include "loopback.h"

/* The device and GID index every case opens (-d, -g). */
static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

enum mr_kind { MR_PINNED, MR_ODP, MR_NONE };

#define ACCESS_RW	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
#define SEED		0x6d61
#define IMM		0x12345678u
#define POLL_MS		20000

static int mr_access(enum mr_kind kind)
{
	return ACCESS_RW | (kind == MR_ODP ? IBV_ACCESS_ON_DEMAND : 0);
}

/* The connected pair every case runs on, with ODP advertised if needed. */
static void open_pair(struct __test_metadata *_metadata, struct loopback *lb,
		      enum mr_kind kind, uint64_t send_ops)
{
	ASSERT_EQ(0, loopback_open(lb, &opts));
	lb->send_ops = send_ops;
	ASSERT_EQ(0, loopback_connect(lb));
	if (kind == MR_ODP)
		ASSERT_TRUE(loopback_has_odp_rc(lb, IBV_ODP_SUPPORT_SEND |
						IBV_ODP_SUPPORT_RECV |
						IBV_ODP_SUPPORT_WRITE |
						IBV_ODP_SUPPORT_READ |
						IBV_ODP_SUPPORT_ATOMIC))
			TH_LOG("%s does not advertise RC ODP", opts.dev);
}

static struct ibv_mr *reg(struct __test_metadata *_metadata,
			  struct loopback *lb, void *buf, size_t len,
			  enum mr_kind kind)
{
	struct ibv_mr *mr;

	if (kind == MR_NONE)
		return NULL;
	mr = ibv_reg_mr(lb->pd, buf, len, mr_access(kind));
	EXPECT_NE(NULL, mr) TH_LOG("ibv_reg_mr: %m");
	return mr;
}

/*
 * Wait for the completions of @n work requests, whatever their order, and
 * put each in @wc at the index its wr_id names (wr_ids are 0 .. n - 1).
 */
static int wait_all(struct loopback *lb, struct ibv_wc *wc, int n)
{
	struct ibv_wc one;
	int got;

	for (got = 0; got < n; got++) {
		if (loopback_poll(lb, &one, POLL_MS))
			return -1;
		if (one.wr_id >= (uint64_t)n)
			return -1;
		wc[one.wr_id] = one;
	}
	return 0;
}

/* --- SEND, WRITE and READ at every length --- */

/* A pair and two buffers: also what the UD cases run on. */
FIXTURE(xfer) {
	struct loopback lb;
	size_t page, mtu, len, buflen;
	size_t soff, doff;		/* where the data starts in src, dst */
	unsigned char *src, *dst;
	struct ibv_mr *smr, *dmr;
	struct ibv_sge ssge, dsge;	/* over the data, when there is an MR */
};

/* A fixture's variants: mtus * MTU + extra bytes in memory of a kind. */
#define LENGTH_VARIANT(f)						\
	FIXTURE_VARIANT(f) {						\
		enum mr_kind kind;					\
		int mtus;						\
		int extra;						\
	}

#define LENGTH(f, name, k, m, e) \
	FIXTURE_VARIANT_ADD(f, name) { .kind = k, .mtus = m, .extra = e }

/* 0, 1, MTU-1, MTU and MTU+1 bytes: variants <name>_0 .. <name>_mtu_plus_1. */
#define PACKET_LENGTHS(f, name, k)					\
	LENGTH(f, name##_0, k, 0, 0);					\
	LENGTH(f, name##_1, k, 0, 1);					\
	LENGTH(f, name##_mtu_less_1, k, 1, -1);				\
	LENGTH(f, name##_mtu, k, 1, 0);					\
	LENGTH(f, name##_mtu_plus_1, k, 1, 1)

LENGTH_VARIANT(xfer);
PACKET_LENGTHS(xfer, pinned, MR_PINNED);
LENGTH(xfer, pinned_multi, MR_PINNED, 5, 123);
PACKET_LENGTHS(xfer, odp, MR_ODP);
LENGTH(xfer, odp_multi, MR_ODP, 5, 123);
LENGTH(xfer, none_0, MR_NONE, 0, 0);

/*
 * The rest of a set-up once self->lb, page, len and doff are set: src and
 * dst, cold, the pattern in src (at another page offset than the data in
 * dst), MRs of @kind over both, and SGEs over the data in src and over
 * @dlen bytes of dst.
 */
static void map_bufs(struct __test_metadata *_metadata,
		     FIXTURE_DATA(xfer) *self, enum mr_kind kind, size_t dlen)
{
	size_t end;

	self->soff = self->page - 3;
	end = self->soff + self->len;
	if (end < self->doff + dlen)
		end = self->doff + dlen;
	self->buflen = (end + 2 * self->page) & ~(self->page - 1);
	self->src = map_anon(NULL, self->buflen);
	self->dst = map_anon(NULL, self->buflen);
	ASSERT_NE(NULL, self->src);
	ASSERT_NE(NULL, self->dst);
	pattern_fill_at(self->src + self->soff, self->len, SEED, 0);
	self->smr = reg(_metadata, &self->lb, self->src, self->buflen, kind);
	self->dmr = reg(_metadata, &self->lb, self->dst, self->buflen, kind);
	ASSERT_EQ(kind == MR_NONE, self->smr == NULL);
	ASSERT_EQ(kind == MR_NONE, self->dmr == NULL);
	if (self->smr) {
		self->ssge = (struct ibv_sge){ (uintptr_t)self->src + self->soff,
					       self->len, self->smr->lkey };
		self->dsge = (struct ibv_sge){ (uintptr_t)self->dst + self->doff,
					       dlen, self->dmr->lkey };
	}
}

static void unmap_bufs(FIXTURE_DATA(xfer) *self)
{
	loopback_dereg(self->smr);
	loopback_dereg(self->dmr);
	loopback_close(&self->lb);
	munmap(self->src, self->buflen);
	munmap(self->dst, self->buflen);
}

FIXTURE_SETUP(xfer)
{
	open_pair(_metadata, &self->lb, variant->kind, 0);
	self->mtu = 128 << self->lb.mtu;
	self->page = sysconf(_SC_PAGESIZE);
	self->len = (size_t)variant->mtus * self->mtu + variant->extra;
	self->doff = self->page - 5;
	map_bufs(_metadata, self, variant->kind, self->len);
}

FIXTURE_TEARDOWN(xfer)
{
	unmap_bufs(self);
}

/* The destination holds the data and nothing around it changed. */
static void expect_landed(struct __test_metadata *_metadata,
			  FIXTURE_DATA(xfer) *self)
{
	EXPECT_TRUE(pattern_check_at(self->dst + self->doff, self->len, SEED,
				     0, "destination"));
	EXPECT_TRUE(bytes_check(self->dst, self->doff, 0, "before the data"));
	EXPECT_TRUE(bytes_check(self->dst + self->doff + self->len,
				self->buflen - self->doff - self->len, 0,
				"after the data"));
	EXPECT_TRUE(pattern_check_at(self->src + self->soff, self->len, SEED,
				     0, "source"));
}

/* A receive on the responder into @sge, or with no SGE when @sge is NULL. */
static void post_recv(struct __test_metadata *_metadata, struct loopback *lb,
		      struct ibv_sge *sge, uint64_t wr_id)
{
	struct ibv_recv_wr wr = {
		.wr_id = wr_id,
		.sg_list = sge,
		.num_sge = sge ? 1 : 0,
	}, *bad;

	ASSERT_EQ(0, ibv_post_recv(lb->qp[1], &wr, &bad));
}

static void post_send(struct __test_metadata *_metadata, struct loopback *lb,
		      struct ibv_send_wr *wr)
{
	struct ibv_send_wr *bad;

	wr->wr_id = 0;
	ASSERT_EQ(0, ibv_post_send(lb->qp[0], wr, &bad));
}

/* The destination's SGE, or NULL for no MR. */
static struct ibv_sge *dst_sge(FIXTURE_DATA(xfer) *self)
{
	return self->dmr ? &self->dsge : NULL;
}

/* A SEND (with immediate data if @imm) of the source's data. */
static struct ibv_send_wr send_wr(FIXTURE_DATA(xfer) *self, bool imm)
{
	return (struct ibv_send_wr){
		.sg_list = &self->ssge,
		.num_sge = self->smr ? 1 : 0,
		.opcode = imm ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND,
		.imm_data = htobe32(IMM),
	};
}

/* A SEND (with or without immediate data) into a posted receive. */
static void do_send(struct __test_metadata *_metadata,
		    FIXTURE_DATA(xfer) *self, bool imm)
{
	struct ibv_send_wr wr = send_wr(self, imm);
	struct ibv_wc wc[2] = {};

	post_recv(_metadata, &self->lb, dst_sge(self), 1);
	post_send(_metadata, &self->lb, &wr);
	ASSERT_EQ(0, wait_all(&self->lb, wc, 2));
	EXPECT_EQ(IBV_WC_SUCCESS, wc[0].status)
		TH_LOG("send: %s", wc_status_name(wc[0].status));
	ASSERT_EQ(IBV_WC_SUCCESS, wc[1].status)
		TH_LOG("recv: %s", wc_status_name(wc[1].status));
	EXPECT_EQ(IBV_WC_RECV, wc[1].opcode);
	EXPECT_EQ(self->len, wc[1].byte_len);
	EXPECT_EQ(imm, !!(wc[1].wc_flags & IBV_WC_WITH_IMM));
	if (imm)
		EXPECT_EQ(IMM, be32toh(wc[1].imm_data));
	expect_landed(_metadata, self);
}

/* An RDMA WRITE (or WRITE with immediate) from src to dst. */
static void do_write(struct __test_metadata *_metadata,
		     FIXTURE_DATA(xfer) *self, bool imm)
{
	struct ibv_send_wr wr = {
		.sg_list = &self->ssge,
		.num_sge = self->smr ? 1 : 0,
		.opcode = imm ? IBV_WR_RDMA_WRITE_WITH_IMM : IBV_WR_RDMA_WRITE,
		.imm_data = htobe32(IMM),
		.wr.rdma = {
			.remote_addr = self->dmr ? self->dsge.addr : 0,
			.rkey = self->dmr ? self->dmr->rkey : 0,
		},
	};
	struct ibv_wc wc[2] = {};

	if (imm)
		post_recv(_metadata, &self->lb, dst_sge(self), 1);
	post_send(_metadata, &self->lb, &wr);
	ASSERT_EQ(0, wait_all(&self->lb, wc, imm ? 2 : 1));
	ASSERT_EQ(IBV_WC_SUCCESS, wc[0].status)
		TH_LOG("write: %s", wc_status_name(wc[0].status));
	if (imm) {
		ASSERT_EQ(IBV_WC_SUCCESS, wc[1].status)
			TH_LOG("recv: %s", wc_status_name(wc[1].status));
		EXPECT_EQ(IBV_WC_RECV_RDMA_WITH_IMM, wc[1].opcode);
		EXPECT_EQ(IMM, be32toh(wc[1].imm_data));
	}
	expect_landed(_metadata, self);
}

TEST_F(xfer, send)
{
	do_send(_metadata, self, false);
}

TEST_F(xfer, send_imm)
{
	do_send(_metadata, self, true);
}

TEST_F(xfer, write)
{
	do_write(_metadata, self, false);
}

TEST_F(xfer, write_imm)
{
	do_write(_metadata, self, true);
}

/* An RDMA READ of src (the remote side) into dst (the local side). */
TEST_F(xfer, read)
{
	struct ibv_send_wr wr = {
		.sg_list = &self->dsge,
		.num_sge = self->dmr ? 1 : 0,
		.opcode = IBV_WR_RDMA_READ,
		.wr.rdma = {
			.remote_addr = self->smr ? self->ssge.addr : 0,
			.rkey = self->smr ? self->smr->rkey : 0,
		},
	};
	struct ibv_wc wc = {};

	post_send(_metadata, &self->lb, &wr);
	ASSERT_EQ(0, wait_all(&self->lb, &wc, 1));
	ASSERT_EQ(IBV_WC_SUCCESS, wc.status)
		TH_LOG("read: %s", wc_status_name(wc.status));
	expect_landed(_metadata, self);
}

/* --- UD: SEND into a receive that starts with the GRH area --- */

#define GRH_LEN		sizeof(struct ibv_grh)	/* 40, before every payload */
#define QUIET_MS	1000	/* no receive completion for this long */

/* The xfer fixture's pair and buffers, the pair UD. */
FIXTURE(ud) {
	FIXTURE_DATA(xfer) x;
};

LENGTH_VARIANT(ud);
PACKET_LENGTHS(ud, pinned, MR_PINNED);
PACKET_LENGTHS(ud, odp, MR_ODP);
LENGTH(ud, none_0, MR_NONE, 0, 0);

FIXTURE_SETUP(ud)
{
	FIXTURE_DATA(xfer) *x = &self->x;

	ASSERT_EQ(0, loopback_open(&x->lb, &opts));
	ASSERT_EQ(0, loopback_connect_ud(&x->lb));
	if (variant->kind == MR_ODP)
		ASSERT_TRUE(loopback_has_odp_ud(&x->lb, IBV_ODP_SUPPORT_SEND |
						IBV_ODP_SUPPORT_RECV))
			TH_LOG("%s does not advertise UD ODP", opts.dev);
	/* rxe's UD limit is the port's MTU, which is also its active MTU. */
	x->mtu = 128 << x->lb.mtu;
	x->page = sysconf(_SC_PAGESIZE);
	x->len = (size_t)variant->mtus * x->mtu + variant->extra;
	/* The GRH area across dst's first page boundary, an MTU the next. */
	x->doff = x->page - GRH_LEN / 2;
	/*
	 * Room for one byte more than a UD payload may hold, so that an
	 * MTU+1 message that went out would land, not be dropped.
	 */
	map_bufs(_metadata, x, variant->kind, GRH_LEN + x->mtu + 1);
}

FIXTURE_TEARDOWN(ud)
{
	unmap_bufs(&self->x);
}

/* A receive completion for @len bytes from qp[0], the GRH area first. */
static void expect_ud_recv(struct __test_metadata *_metadata,
			   FIXTURE_DATA(xfer) *self, const struct ibv_wc *wc,
			   size_t len, bool imm)
{
	ASSERT_EQ(IBV_WC_SUCCESS, wc->status)
		TH_LOG("recv: %s", wc_status_name(wc->status));
	EXPECT_EQ(IBV_WC_RECV, wc->opcode);
	EXPECT_EQ(GRH_LEN + len, wc->byte_len);
	EXPECT_TRUE(wc->wc_flags & IBV_WC_GRH);
	EXPECT_EQ(imm, !!(wc->wc_flags & IBV_WC_WITH_IMM));
	if (imm)
		EXPECT_EQ(IMM, be32toh(wc->imm_data));
	EXPECT_EQ(self->lb.qp[0]->qp_num, wc->src_qp);
}

/*
 * The first @len bytes of the source follow the GRH area (whose contents
 * odp_ud checks), nothing else in dst was written and the source is as it
 * was. @len 0 with @grh false: dst was not written at all.
 */
static void expect_ud_landed(struct __test_metadata *_metadata,
			     FIXTURE_DATA(xfer) *self, size_t len, bool grh)
{
	size_t at = self->doff + (grh ? GRH_LEN : 0);

	EXPECT_TRUE(bytes_check(self->dst, self->doff, 0, "before the GRH"));
	EXPECT_TRUE(pattern_check_at(self->dst + at, len, SEED, 0, "payload"));
	EXPECT_TRUE(bytes_check(self->dst + at + len, self->buflen - at - len,
				0, "after the payload"));
	EXPECT_TRUE(pattern_check_at(self->src + self->soff, self->len, SEED,
				     0, "source"));
}

/* A UD SEND (with or without immediate data) into a posted receive. */
static void do_ud_send(struct __test_metadata *_metadata,
		       FIXTURE_DATA(xfer) *self, bool imm)
{
	struct ibv_send_wr wr = send_wr(self, imm);
	struct ibv_wc wc[2] = {};

	loopback_ud_dest(&self->lb, &wr);
	post_recv(_metadata, &self->lb, dst_sge(self), 1);
	post_send(_metadata, &self->lb, &wr);
	if (self->dmr && self->len <= self->mtu) {
		ASSERT_EQ(0, wait_all(&self->lb, wc, 2));
		EXPECT_EQ(IBV_WC_SUCCESS, wc[0].status)
			TH_LOG("send: %s", wc_status_name(wc[0].status));
		expect_ud_recv(_metadata, self, &wc[1], self->len, imm);
		expect_ud_landed(_metadata, self, self->len, true);
		return;
	}

	/*
	 * What base rxe does with the rest, its sends succeeding and its
	 * receives never completing. More than an MTU: rxe_requester() emits
	 * no packet and completes the send successfully (IBTA C10-93.1.1).
	 * No SGE in the receive: rxe_resp_check_length() finds no room for
	 * the GRH, and a UD QP without an SRQ drops the message (class D),
	 * leaving the receive posted.
	 */
	ASSERT_EQ(0, wait_all(&self->lb, wc, 1));
	EXPECT_EQ(IBV_WC_SUCCESS, wc[0].status)
		TH_LOG("send: %s", wc_status_name(wc[0].status));
	EXPECT_NE(0, loopback_poll(&self->lb, &wc[1], QUIET_MS))
		TH_LOG("a receive completed: %s, %u bytes",
		       wc_status_name(wc[1].status), wc[1].byte_len);
	expect_ud_landed(_metadata, self, 0, false);
	if (!self->dmr)
		return;

	/* The receive is still there for the next message, which fits. */
	self->ssge.length = 1;
	wr.opcode = IBV_WR_SEND;
	post_send(_metadata, &self->lb, &wr);
	ASSERT_EQ(0, wait_all(&self->lb, wc, 2));
	EXPECT_EQ(IBV_WC_SUCCESS, wc[0].status)
		TH_LOG("send: %s", wc_status_name(wc[0].status));
	expect_ud_recv(_metadata, self, &wc[1], 1, false);
	expect_ud_landed(_metadata, self, 1, true);
}

TEST_F(ud, send)
{
	do_ud_send(_metadata, &self->x, false);
}

TEST_F(ud, send_imm)
{
	do_ud_send(_metadata, &self->x, true);
}

/* --- atomics: compare-and-swap, fetch-and-add, ATOMIC WRITE --- */

FIXTURE(atomic) {
	struct loopback lb;
	size_t page;
	uint64_t *tgt;			/* remote: two pages, the 2nd cold */
	uint64_t *res;			/* local: where the old value lands */
	struct ibv_mr *tmr, *rmr;
	uint64_t *word;			/* the target word, on the cold page */
};

FIXTURE_VARIANT(atomic) {
	enum mr_kind kind;
};

FIXTURE_VARIANT_ADD(atomic, pinned) { .kind = MR_PINNED };
FIXTURE_VARIANT_ADD(atomic, odp) { .kind = MR_ODP };

FIXTURE_SETUP(atomic)
{
	open_pair(_metadata, &self->lb, variant->kind,
		  IBV_QP_EX_WITH_ATOMIC_WRITE | IBV_QP_EX_WITH_SEND);
	self->page = sysconf(_SC_PAGESIZE);
	self->tgt = map_anon(NULL, 2 * self->page);
	self->res = map_anon(NULL, self->page);
	ASSERT_NE(NULL, self->tgt);
	ASSERT_NE(NULL, self->res);
	/* The first page is warm; the target word is on the second. */
	pattern_fill(self->tgt, self->page, SEED);
	self->word = (uint64_t *)((char *)self->tgt + self->page + 8);
	self->tmr = reg(_metadata, &self->lb, self->tgt, 2 * self->page,
			variant->kind);
	self->rmr = reg(_metadata, &self->lb, self->res, self->page,
			variant->kind);
	ASSERT_NE(NULL, self->tmr);
	ASSERT_NE(NULL, self->rmr);
}

FIXTURE_TEARDOWN(atomic)
{
	loopback_dereg(self->tmr);
	loopback_dereg(self->rmr);
	loopback_close(&self->lb);
	munmap(self->tgt, 2 * self->page);
	munmap(self->res, self->page);
}

/* One CAS or FAA on the target word; returns the value it found. */
static uint64_t atomic_op(struct __test_metadata *_metadata,
			  FIXTURE_DATA(atomic) *self, enum ibv_wr_opcode op,
			  uint64_t compare_add, uint64_t swap)
{
	struct ibv_sge sge = { (uintptr_t)self->res, 8, self->rmr->lkey };
	struct ibv_send_wr wr = {
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.wr.atomic = {
			.remote_addr = (uintptr_t)self->word,
			.compare_add = compare_add,
			.swap = swap,
			.rkey = self->tmr->rkey,
		},
	}, *bad;
	struct ibv_wc wc = {};

	*self->res = 0xdeadbeefdeadbeefull;
	EXPECT_EQ(0, ibv_post_send(self->lb.qp[0], &wr, &bad));
	EXPECT_EQ(0, wait_all(&self->lb, &wc, 1));
	EXPECT_EQ(IBV_WC_SUCCESS, wc.status)
		TH_LOG("atomic: %s", wc_status_name(wc.status));
	return *self->res;
}

/* Only the target word changed; the warm page still holds its pattern. */
static void expect_only_word(struct __test_metadata *_metadata,
			     FIXTURE_DATA(atomic) *self, uint64_t want)
{
	unsigned char *cold = (unsigned char *)self->tgt + self->page;

	EXPECT_EQ(want, *self->word);
	EXPECT_TRUE(bytes_check(cold, 8, 0, "before the word"));
	EXPECT_TRUE(bytes_check(cold + 16, self->page - 16, 0,
				"after the word"));
	EXPECT_TRUE(pattern_check(self->tgt, self->page, SEED, "warm page"));
}

TEST_F(atomic, cas)
{
	const uint64_t v = 0x0123456789abcdefull;

	EXPECT_EQ(0, atomic_op(_metadata, self, IBV_WR_ATOMIC_CMP_AND_SWP, 0, v));
	expect_only_word(_metadata, self, v);
	/* A compare that does not match returns the value and swaps nothing. */
	EXPECT_EQ(v, atomic_op(_metadata, self, IBV_WR_ATOMIC_CMP_AND_SWP, 1, 2));
	expect_only_word(_metadata, self, v);
}

TEST_F(atomic, faa)
{
	const uint64_t a = 0x100000001ull;

	EXPECT_EQ(0, atomic_op(_metadata, self, IBV_WR_ATOMIC_FETCH_AND_ADD, a, 0));
	EXPECT_EQ(a, atomic_op(_metadata, self, IBV_WR_ATOMIC_FETCH_AND_ADD, a, 0));
	EXPECT_EQ(2 * a, atomic_op(_metadata, self, IBV_WR_ATOMIC_FETCH_AND_ADD,
				   a, 0));
	expect_only_word(_metadata, self, 3 * a);
}

/* ATOMIC WRITE: all 8 bytes land at once, on a page nobody touched yet. */
TEST_F(atomic, atomic_write)
{
	const uint64_t v = 0xfedcba9876543210ull;
	struct ibv_qp_ex *qpx = ibv_qp_to_qp_ex(self->lb.qp[0]);
	struct ibv_wc wc = {};

	ASSERT_NE(NULL, qpx);
	ibv_wr_start(qpx);
	qpx->wr_id = 0;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_atomic_write(qpx, self->tmr->rkey, (uintptr_t)self->word, &v);
	ASSERT_EQ(0, ibv_wr_complete(qpx));
	ASSERT_EQ(0, wait_all(&self->lb, &wc, 1));
	ASSERT_EQ(IBV_WC_SUCCESS, wc.status)
		TH_LOG("atomic write: %s", wc_status_name(wc.status));
	expect_only_word(_metadata, self, v);
}

/*
 * Atomics through a pinned MR and an ODP MR over the same word, from two
 * requesters at once (each QP of the pair is one, and each responder runs
 * on its own worker): no update is lost between the two paths.
 */
#define MIX_OPS		20000	/* fetch-and-adds per requester, at most */
#define MIX_SECONDS	60	/* and no longer than this (a debug kernel) */
#define MIX_DEPTH	8	/* outstanding on each */

FIXTURE(atomic_mix) {
	struct loopback lb;
	size_t page;
	uint64_t *word, *res;
	struct ibv_mr *pinned, *odp, *rmr;
};

FIXTURE_SETUP(atomic_mix)
{
	open_pair(_metadata, &self->lb, MR_ODP, 0);
	self->page = sysconf(_SC_PAGESIZE);
	self->word = map_anon(NULL, self->page);
	self->res = map_anon(NULL, self->page);
	ASSERT_NE(NULL, self->word);
	ASSERT_NE(NULL, self->res);
	self->pinned = reg(_metadata, &self->lb, self->word, self->page,
			   MR_PINNED);
	self->odp = reg(_metadata, &self->lb, self->word, self->page, MR_ODP);
	self->rmr = reg(_metadata, &self->lb, self->res, self->page, MR_PINNED);
	ASSERT_NE(NULL, self->pinned);
	ASSERT_NE(NULL, self->odp);
	ASSERT_NE(NULL, self->rmr);
}

FIXTURE_TEARDOWN(atomic_mix)
{
	loopback_dereg(self->pinned);
	loopback_dereg(self->odp);
	loopback_dereg(self->rmr);
	loopback_close(&self->lb);
	munmap(self->word, self->page);
	munmap(self->res, self->page);
}

/* One fetch-and-add of 1 from requester @side through the MR with @rkey. */
static int mix_post(FIXTURE_DATA(atomic_mix) *self, int side, uint32_t rkey)
{
	struct ibv_sge sge = {
		(uintptr_t)&self->res[side], 8, self->rmr->lkey
	};
	struct ibv_send_wr wr = {
		.wr_id = side,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD,
		.wr.atomic = {
			.remote_addr = (uintptr_t)self->word,
			.compare_add = 1,
			.rkey = rkey,
		},
	}, *bad;

	return ibv_post_send(self->lb.qp[side], &wr, &bad);
}

TEST_F_TIMEOUT(atomic_mix, faa_pinned_and_odp, 300)
{
	uint32_t rkey[2] = { self->pinned->rkey, self->odp->rkey };
	int posted[2] = { 0, 0 }, done[2] = { 0, 0 }, side, ops = MIX_OPS;
	time_t end = time(NULL) + MIX_SECONDS;
	struct ibv_wc wc;

	for (;;) {
		/* Out of time: post no more, count what completes. */
		if (time(NULL) > end)
			ops = 0;
		for (side = 0; side < 2; side++) {
			while (posted[side] < ops &&
			       posted[side] - done[side] < MIX_DEPTH) {
				ASSERT_EQ(0, mix_post(self, side, rkey[side]));
				posted[side]++;
			}
		}
		if (done[0] + done[1] == posted[0] + posted[1])
			break;
		ASSERT_EQ(0, loopback_poll(&self->lb, &wc, POLL_MS));
		ASSERT_EQ(IBV_WC_SUCCESS, wc.status)
			TH_LOG("FAA: %s", wc_status_name(wc.status));
		ASSERT_GT(2, wc.wr_id);
		done[wc.wr_id]++;
	}
	TH_LOG("%d and %d fetch-and-adds", done[0], done[1]);
	EXPECT_LT(0, done[0]);
	EXPECT_LT(0, done[1]);
	EXPECT_EQ(done[0] + done[1], *self->word)
		TH_LOG("%lu updates lost", done[0] + done[1] - *self->word);
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
