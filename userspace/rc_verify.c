// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rc_verify: move data with every RC verb between two loopback QPs and
 * check every byte that arrives, not just the completion status.
 *
 *   rc_verify [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * Both sides' memory is registered pinned or with IBV_ACCESS_ON_DEMAND
 * (the variants; the ODP one skips where the device does not advertise RC
 * ODP for every verb used). The buffers are freshly mapped: each range's
 * WRITE lands on memory nothing touched before, so with ODP its first
 * access is a page fault; the READ and the SEND after it land where the
 * CPU or that WRITE has been. Data is one position-unique pattern
 * (check.h), so a byte from a wrong page never matches.
 */
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

#define BUF_SIZE (4u << 20)

struct side {
	unsigned char *buf;
	struct ibv_mr *mr;
};

static int side_init(struct loopback *lb, struct side *s, int odp)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		     IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;

	s->buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->buf == MAP_FAILED) {
		perror("mmap");
		return -1;
	}
	if (odp)
		access |= IBV_ACCESS_ON_DEMAND;
	s->mr = ibv_reg_mr(lb->pd, s->buf, BUF_SIZE, access);
	if (!s->mr) {
		perror("ibv_reg_mr");
		return -1;
	}
	return 0;
}

/* RDMA @op between @local and @remote at offset @off of both, waited for. */
static bool rdma(struct loopback *lb, enum ibv_wr_opcode op, struct side *local,
		 struct side *remote, size_t off, size_t len)
{
	int st = loopback_rdma(lb, op, local->buf + off, local->mr->lkey,
			       remote->buf + off, remote->mr->rkey, len);

	if (st == IBV_WC_SUCCESS)
		return true;
	fprintf(stderr, "RDMA %s at +%zu: %s\n",
		op == IBV_WR_RDMA_WRITE ? "WRITE" : "READ", off, wc_status_name(st));
	return false;
}

static bool write_ok(struct loopback *lb, struct side *a, struct side *b,
		     size_t off, size_t len, unsigned int seed)
{
	pattern_fill_at(a->buf + off, len, seed, off);
	return rdma(lb, IBV_WR_RDMA_WRITE, a, b, off, len) &&
	       pattern_check_at(b->buf + off, len, seed, off, "write");
}

static bool read_ok(struct loopback *lb, struct side *a, struct side *b,
		    size_t off, size_t len, unsigned int seed)
{
	pattern_fill_at(b->buf + off, len, seed, off);
	return rdma(lb, IBV_WR_RDMA_READ, a, b, off, len) &&
	       pattern_check_at(a->buf + off, len, seed, off, "read");
}

static bool send_recv(struct loopback *lb, struct side *a, struct side *b,
		      size_t off, size_t len)
{
	struct ibv_sge rsge = {
		.addr = (uintptr_t)b->buf + off, .length = len, .lkey = b->mr->lkey,
	};
	struct ibv_recv_wr rwr = { .wr_id = 1, .sg_list = &rsge, .num_sge = 1 };
	struct ibv_sge ssge = {
		.addr = (uintptr_t)a->buf + off, .length = len, .lkey = a->mr->lkey,
	};
	struct ibv_send_wr swr = {
		.wr_id = 2, .sg_list = &ssge, .num_sge = 1, .opcode = IBV_WR_SEND,
	};
	struct ibv_recv_wr *rbad;
	struct ibv_send_wr *sbad;
	struct ibv_wc wc;
	int seen = 0, i;

	if (ibv_post_recv(lb->qp[1], &rwr, &rbad) ||
	    ibv_post_send(lb->qp[0], &swr, &sbad)) {
		perror("post");
		return false;
	}
	for (i = 0; i < 2; i++) {
		if (loopback_poll(lb, &wc, 20000)) {
			fprintf(stderr, "send: no completion within 20 s\n");
			return false;
		}
		if (wc.status != IBV_WC_SUCCESS) {
			fprintf(stderr, "send wr %llu: %s\n",
				(unsigned long long)wc.wr_id,
				ibv_wc_status_str(wc.status));
			return false;
		}
		seen |= 1 << wc.wr_id;
		if (wc.wr_id == 1 && wc.byte_len != len) {
			fprintf(stderr, "recv byte_len %u, want %zu\n", wc.byte_len, len);
			return false;
		}
	}
	return seen == 6;
}

static bool send_ok(struct loopback *lb, struct side *a, struct side *b,
		    size_t off, size_t len, unsigned int seed)
{
	pattern_fill(a->buf + off, len, seed);
	return send_recv(lb, a, b, off, len) &&
	       pattern_check(b->buf + off, len, seed, "send");
}

static bool atomic(struct loopback *lb, enum ibv_wr_opcode op, struct side *a,
		   size_t loff, struct side *b, size_t roff, uint64_t add_or_cmp,
		   uint64_t swap)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)a->buf + loff, .length = 8, .lkey = a->mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = 3, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.wr.atomic = {
			.remote_addr = (uintptr_t)b->buf + roff,
			.compare_add = add_or_cmp,
			.swap = swap,
			.rkey = b->mr->rkey,
		},
	};
	struct ibv_wc wc;

	if (loopback_post_wait(lb, &wr, &wc))
		return false;
	if (wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "atomic: %s\n", ibv_wc_status_str(wc.status));
		return false;
	}
	return true;
}

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

FIXTURE(rc) {
	struct loopback lb;
	struct side a, b;
};

PINNED_AND_ODP_VARIANTS(rc);

FIXTURE_SETUP(rc)
{
	LOOPBACK_OPEN_OR_SKIP(&self->lb, &opts, variant->odp,
			      IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV |
			      IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ |
			      IBV_ODP_SUPPORT_ATOMIC);
	ASSERT_EQ(0, loopback_connect(&self->lb));
	ASSERT_EQ(0, side_init(&self->lb, &self->a, variant->odp));
	ASSERT_EQ(0, side_init(&self->lb, &self->b, variant->odp));
}

FIXTURE_TEARDOWN(rc)
{
	loopback_dereg(self->a.mr);
	loopback_dereg(self->b.mr);
	loopback_close(&self->lb);
	munmap(self->a.buf, BUF_SIZE);
	munmap(self->b.buf, BUF_SIZE);
}

/* Each range: a WRITE into cold memory, then a READ and a SEND over it. */
TEST_F_TIMEOUT(rc, write_read_send, 300)
{
	static const struct { size_t off, len; } ranges[] = {
		{ 0, 1 }, { 0, 4096 }, { 100, 5000 }, { 4095, 2 },
		{ 8192, 65536 }, { 1 << 20, 1 << 20 }, { 3 << 20, (1 << 20) - 1 },
	};
	struct loopback *lb = &self->lb;
	unsigned int i;

	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		size_t off = ranges[i].off, len = ranges[i].len;

		EXPECT_TRUE(write_ok(lb, &self->a, &self->b, off, len, i + 1))
			TH_LOG("write off=%zu len=%zu", off, len);
		EXPECT_TRUE(read_ok(lb, &self->a, &self->b, off, len, i + 101))
			TH_LOG("read off=%zu len=%zu", off, len);
		EXPECT_TRUE(send_ok(lb, &self->a, &self->b, off, len, i + 201))
			TH_LOG("send off=%zu len=%zu", off, len);
	}
}

/* FETCH_AND_ADD, then CMP_AND_SWAP that hits and one that misses. */
TEST_F_TIMEOUT(rc, atomics, 120)
{
	static const size_t offs[] = { 0, 2 << 20 };
	struct loopback *lb = &self->lb;
	unsigned int i;

	for (i = 0; i < 2; i++) {
		size_t off = offs[i];
		uint64_t *remote = (uint64_t *)(self->b.buf + off);
		uint64_t *fetched = (uint64_t *)(self->a.buf + off);

		*remote = 1000;
		ASSERT_TRUE(atomic(lb, IBV_WR_ATOMIC_FETCH_AND_ADD, &self->a,
				   off, &self->b, off, 23, 0));
		EXPECT_EQ(1000, *fetched);
		EXPECT_EQ(1023, *remote);
		ASSERT_TRUE(atomic(lb, IBV_WR_ATOMIC_CMP_AND_SWP, &self->a,
				   off, &self->b, off, 1023, 77));
		EXPECT_EQ(1023, *fetched);
		EXPECT_EQ(77, *remote);
		ASSERT_TRUE(atomic(lb, IBV_WR_ATOMIC_CMP_AND_SWP, &self->a,
				   off, &self->b, off, 5, 99));
		EXPECT_EQ(77, *fetched);
		EXPECT_EQ(77, *remote);
	}
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
