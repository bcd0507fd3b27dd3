// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_implicit: one implicit ODP MR, ibv_reg_mr(pd, NULL, SIZE_MAX, ... |
 * IBV_ACCESS_ON_DEMAND), over the whole address space.
 *
 *   odp_implicit [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * Its lkey and rkey reach any address: data moves between a pinned
 * staging buffer and separate mappings, at their own addresses, with
 * check.h's pattern at each byte's own offset in its mapping, every byte
 * checked.
 *
 *   implicit.caps  rxe0 advertises IBV_ODP_SUPPORT_IMPLICIT.
 *   implicit.rc  Three mappings (anonymous 64 KiB and 1 MiB, a shared
 *       memfd of 256 KiB): remote WRITE and READ through the rkey; FAA and
 *       CAS on a word; a SEND received into one through the lkey; a WRITE
 *       whose local SGE is in one.
 *   implicit.span  A WRITE and a READ of 16 KiB across a 128 MiB boundary,
 *       where the MR's translations change blocks (implicit_children >= 2).
 *   implicit.unmapped  WRITE into a mapping, munmap it: a WRITE there gets
 *       a remote access error, a READ into there a local protection error
 *       (6.12's requester reports a failed local SGE of a WRITE or SEND as
 *       IBV_WC_WR_FLUSH_ERR, pinned or not: odp_bad); mapped again at the
 *       same address it reads zeros and takes a WRITE.
 *   implicit.fork  The child writes its copy and exits; the parent's
 *       WRITE through the MR lands in the parent's memory only.
 *   implicit.bounded  8 GiB of address space, 128 MiB at a time, mapped,
 *       written at both ends and unmapped: implicit_children never grows
 *       past a few, and falls back once the last mapping is gone.
 *   ud.recv  UD SENDs received into a mapping through the lkey.
 *   srq.recv  RC SENDs received from an SRQ into a mapping.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
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

#define STAGE		(1ul << 20)
#define BLOCK		(128ul << 20)	/* the MR's child blocks */
#define SEED		0x1a11
#define GRH_LEN		40
#define IMPLICIT_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC | \
			 IBV_ACCESS_ON_DEMAND)

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

/* What every fixture here has: a pair, the implicit MR, a pinned stage. */
struct imp {
	struct res_counts base;
	struct loopback lb;
	struct ibv_mr *imr, *smr;
	unsigned char *stage;
};

/* Open @t's pair (UD with @ud, through an SRQ with @srq) and its MRs. */
static int imp_open(struct imp *t, bool ud, bool srq)
{
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = 64, .max_sge = 1 } };

	t->base = rdma_res_counts(opts.dev);
	if (loopback_open(&t->lb, &opts))
		return -1;
	if (srq && !(t->lb.srq = ibv_create_srq(t->lb.pd, &sa)))
		return -1;
	if (ud ? loopback_connect_ud(&t->lb) : loopback_connect(&t->lb))
		return -1;
	t->imr = ibv_reg_mr(t->lb.pd, NULL, SIZE_MAX, IMPLICIT_ACCESS);
	if (!t->imr) {
		perror("implicit ibv_reg_mr");
		return -1;
	}
	t->stage = map_anon(NULL, STAGE);
	t->smr = t->stage ? ibv_reg_mr(t->lb.pd, t->stage, STAGE,
				       IBV_ACCESS_LOCAL_WRITE) : NULL;
	return t->smr ? 0 : -1;
}

static void imp_close(struct __test_metadata *_metadata, struct imp *t)
{
	loopback_dereg(t->imr);
	loopback_dereg(t->smr);
	loopback_close(&t->lb);
	if (t->stage)
		munmap(t->stage, STAGE);
	EXPECT_RES_COUNTS_BACK(opts.dev, &t->base, 5000);
}

static long children(struct imp *t)
{
	return rdma_mr_counter(opts.dev, t->imr->lkey, "implicit_children");
}

/* A remote WRITE of @len pattern bytes to @to, which the CPU then sees. */
static bool write_ok(struct imp *t, unsigned char *to, size_t len,
		     const char *what)
{
	pattern_fill_at(t->stage, len, SEED, (uintptr_t)to);
	return loopback_rdma(&t->lb, IBV_WR_RDMA_WRITE, t->stage,
			     t->smr->lkey, to, t->imr->rkey, len) ==
		IBV_WC_SUCCESS &&
	       pattern_check_at(to, len, SEED, (uintptr_t)to, what);
}

/* A remote READ of @len bytes at @from: the pattern WRITE left there. */
static bool read_ok(struct imp *t, unsigned char *from, size_t len,
		    const char *what)
{
	memset(t->stage, 0, len);
	return loopback_rdma(&t->lb, IBV_WR_RDMA_READ, t->stage, t->smr->lkey,
			     from, t->imr->rkey, len) == IBV_WC_SUCCESS &&
	       pattern_check_at(t->stage, len, SEED, (uintptr_t)from, what);
}

/* A SEND of @len bytes from the stage, received at @to through the MR. */
static int send_recv(struct imp *t, unsigned char *to, size_t len, bool ud)
{
	struct ibv_sge rsge = { (uintptr_t)to, len + (ud ? GRH_LEN : 0),
				t->imr->lkey };
	struct ibv_recv_wr rwr = { .wr_id = 1, .sg_list = &rsge, .num_sge = 1 };
	struct ibv_sge ssge = { (uintptr_t)t->stage, len, t->smr->lkey };
	struct ibv_send_wr swr = {
		.wr_id = 2, .sg_list = &ssge, .num_sge = 1,
		.opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED,
	}, *sbad;
	struct ibv_recv_wr *rbad;
	struct ibv_wc wc;
	int i, st = IBV_WC_SUCCESS;

	if (ud)
		loopback_ud_dest(&t->lb, &swr);
	if ((t->lb.srq ? ibv_post_srq_recv(t->lb.srq, &rwr, &rbad) :
			 ibv_post_recv(t->lb.qp[1], &rwr, &rbad)) ||
	    ibv_post_send(t->lb.qp[0], &swr, &sbad))
		return -1;
	for (i = 0; i < 2; i++) {
		if (loopback_poll(&t->lb, &wc, 60000))
			return -1;
		if (wc.status != IBV_WC_SUCCESS)
			st = wc.status;
	}
	return st;
}

/* A fresh mapping of @len bytes, or a shared memfd one when @shared. */
static unsigned char *map(size_t len, bool shared)
{
	int fd;
	void *p;

	if (!shared)
		return map_anon(NULL, len);
	fd = memfd_create("odp_implicit", 0);
	if (fd < 0 || ftruncate(fd, len))
		return NULL;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

FIXTURE(implicit) {
	struct imp t;
};

FIXTURE_SETUP(implicit)
{
	ASSERT_EQ(0, imp_open(&self->t, false, false));
}

FIXTURE_TEARDOWN(implicit)
{
	imp_close(_metadata, &self->t);
}

TEST_F(implicit, caps)
{
	struct ibv_device_attr_ex attr;

	ASSERT_EQ(0, ibv_query_device_ex(self->t.lb.ctx, NULL, &attr));
	EXPECT_TRUE(attr.odp_caps.general_caps & IBV_ODP_SUPPORT_IMPLICIT);
}

TEST_F(implicit, rc)
{
	struct imp *t = &self->t;
	size_t len[3] = { 64 << 10, 1 << 20, 256 << 10 };
	unsigned char *m[3];
	uint64_t *word;
	int i;

	for (i = 0; i < 3; i++) {
		m[i] = map(len[i], i == 2);
		ASSERT_NE(NULL, m[i]);
		EXPECT_TRUE(write_ok(t, m[i] + 5, len[i] - 9, "WRITE"));
		EXPECT_TRUE(read_ok(t, m[i] + 5, len[i] - 9, "READ"));
	}
	/* Atomics on a word of the second mapping. */
	word = (uint64_t *)(m[1] + 4096 * 7);
	*word = 40;
	EXPECT_EQ(IBV_WC_SUCCESS, loopback_atomic(&t->lb, IBV_WR_ATOMIC_FETCH_AND_ADD,
						  t->stage, t->smr->lkey, word,
						  t->imr->rkey, 2, 0));
	EXPECT_EQ(40, *(uint64_t *)t->stage);
	EXPECT_EQ(IBV_WC_SUCCESS, loopback_atomic(&t->lb, IBV_WR_ATOMIC_CMP_AND_SWP,
						  t->stage, t->smr->lkey, word,
						  t->imr->rkey, 42, 7));
	EXPECT_EQ(42, *(uint64_t *)t->stage);
	EXPECT_EQ(7, *word);
	/* A SEND received into the third mapping. */
	pattern_fill_at(t->stage, 3000, SEED, (uintptr_t)m[2] + 100);
	EXPECT_EQ(IBV_WC_SUCCESS, send_recv(t, m[2] + 100, 3000, false));
	EXPECT_TRUE(pattern_check_at(m[2] + 100, 3000, SEED,
				     (uintptr_t)m[2] + 100, "SEND"));
	/* The implicit MR's lkey as the local side of a WRITE. */
	pattern_fill_at(m[0], 8192, SEED + 1, 0);
	EXPECT_EQ(IBV_WC_SUCCESS, loopback_rdma(&t->lb, IBV_WR_RDMA_WRITE, m[0],
						t->imr->lkey, m[1],
						t->imr->rkey, 8192));
	EXPECT_TRUE(pattern_check_at(m[1], 8192, SEED + 1, 0,
				     "WRITE from an implicit local SGE"));
	for (i = 0; i < 3; i++)
		munmap(m[i], len[i]);
}

TEST_F(implicit, span)
{
	struct imp *t = &self->t;
	unsigned char *area = map_anon(NULL, 2 * BLOCK);
	unsigned char *edge;

	ASSERT_NE(NULL, area);
	edge = (unsigned char *)((((uintptr_t)area + BLOCK) & ~(BLOCK - 1)));
	EXPECT_TRUE(write_ok(t, edge - 8192, 16384, "WRITE across a block"));
	EXPECT_TRUE(read_ok(t, edge - 8192, 16384, "READ across a block"));
	EXPECT_LE(2, children(t));
	munmap(area, 2 * BLOCK);
}

TEST_F(implicit, unmapped)
{
	struct imp *t = &self->t;
	size_t len = 256 << 10;
	unsigned char *m = map_anon(NULL, len), *again;
	struct ibv_sge sge;
	struct ibv_send_wr wr = { .wr_id = 9, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_RDMA_READ,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_wc wc;

	ASSERT_NE(NULL, m);
	ASSERT_TRUE(write_ok(t, m, len, "WRITE"));
	ASSERT_EQ(0, munmap(m, len));
	EXPECT_EQ(IBV_WC_REM_ACCESS_ERR,
		  loopback_rdma(&t->lb, IBV_WR_RDMA_WRITE, t->stage,
				t->smr->lkey, m + 100, t->imr->rkey, 4096));
	ASSERT_EQ(0, loopback_reconnect(&t->lb));
	/* The local side unmapped: a READ into there, of mapped memory. */
	sge = (struct ibv_sge){ (uintptr_t)m, 4096, t->imr->lkey };
	wr.wr.rdma.remote_addr = (uintptr_t)t->stage;
	wr.wr.rdma.rkey = t->imr->rkey;
	ASSERT_EQ(0, loopback_post_wait(&t->lb, &wr, &wc));
	EXPECT_EQ(IBV_WC_LOC_PROT_ERR, wc.status)
		TH_LOG("status %s", wc_status_name(wc.status));
	ASSERT_EQ(0, loopback_reconnect(&t->lb));
	again = mmap(m, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_EQ(m, again);
	memset(t->stage, 0xee, len);
	EXPECT_EQ(IBV_WC_SUCCESS,
		  loopback_rdma(&t->lb, IBV_WR_RDMA_READ, t->stage,
				t->smr->lkey, m, t->imr->rkey, len));
	EXPECT_TRUE(bytes_check(t->stage, len, 0, "READ of the new mapping"));
	EXPECT_TRUE(write_ok(t, m + 1, len - 2, "WRITE into the new mapping"));
	munmap(m, len);
}

TEST_F(implicit, fork)
{
	struct imp *t = &self->t;
	size_t len = 64 << 10;
	unsigned char *m = map_anon(NULL, len);
	int status;
	pid_t pid;

	ASSERT_NE(NULL, m);
	ASSERT_TRUE(write_ok(t, m, len, "WRITE before fork"));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		memset(m, 0x5a, len);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(pattern_check_at(m, len, SEED, (uintptr_t)m,
				     "the parent's copy after the child wrote"));
	pattern_fill_at(t->stage, len, SEED + 2, 0);
	EXPECT_EQ(IBV_WC_SUCCESS, loopback_rdma(&t->lb, IBV_WR_RDMA_WRITE,
						t->stage, t->smr->lkey, m,
						t->imr->rkey, len));
	EXPECT_TRUE(pattern_check_at(m, len, SEED + 2, 0,
				     "WRITE after fork, seen by the parent"));
	munmap(m, len);
}

TEST_F_TIMEOUT(implicit, bounded, 600)
{
	struct imp *t = &self->t;
	unsigned long total = 8ul << 30, done, most = 0, now;
	unsigned char *base, *m;

	/* Address space for all of it, each mapping a block of its own. */
	base = mmap(NULL, total + BLOCK, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, base);
	munmap(base, total + BLOCK);
	base = (unsigned char *)(((uintptr_t)base + BLOCK - 1) & ~(BLOCK - 1));
	for (done = 0; done < total; done += BLOCK) {
		m = mmap(base + done, BLOCK, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			 -1, 0);
		ASSERT_EQ(base + done, m);
		ASSERT_TRUE(write_ok(t, m, 4096, "WRITE at the start"));
		ASSERT_TRUE(write_ok(t, m + BLOCK - 4096, 4096,
				     "WRITE at the end"));
		/* The counter sees the one child a mapped block has. */
		if (!done)
			EXPECT_EQ(1, children(t));
		ASSERT_EQ(0, munmap(m, BLOCK));
		now = children(t);
		most = now > most ? now : most;
	}
	/* Children of unmapped blocks go in the background. */
	for (done = 0; done < 100 && (now = children(t)) > 1; done++)
		sleep_ms(50);
	TH_LOG("8 GiB in 128 MiB mappings: at most %lu children, %lu at the end",
	       most, now);
	EXPECT_GE(4, most);
	EXPECT_GE(1, now);
	EXPECT_LE((long)(total / BLOCK),
		  rdma_mr_counter(opts.dev, t->imr->lkey, "invalidations"));
}

/* UD and SRQ receives through the implicit MR's lkey. */
FIXTURE(ud) {
	struct imp t;
};

FIXTURE_SETUP(ud)
{
	ASSERT_EQ(0, imp_open(&self->t, true, false));
}

FIXTURE_TEARDOWN(ud)
{
	imp_close(_metadata, &self->t);
}

TEST_F(ud, recv)
{
	size_t len = 64 << 10;
	unsigned char *m = map_anon(NULL, len);
	size_t n;
	int i;

	ASSERT_NE(NULL, m);
	for (i = 0; i < 4; i++) {
		n = 100 + 900 * i;
		pattern_fill_at(self->t.stage, n, SEED + i, 0);
		EXPECT_EQ(IBV_WC_SUCCESS,
			  send_recv(&self->t, m + 4096 * i * 3, n, true));
		EXPECT_TRUE(pattern_check_at(m + 4096 * i * 3 + GRH_LEN, n,
					     SEED + i, 0, "UD payload"));
	}
	munmap(m, len);
}

FIXTURE(srq) {
	struct imp t;
};

FIXTURE_SETUP(srq)
{
	ASSERT_EQ(0, imp_open(&self->t, false, true));
}

FIXTURE_TEARDOWN(srq)
{
	imp_close(_metadata, &self->t);
}

TEST_F(srq, recv)
{
	size_t len = 256 << 10;
	unsigned char *m = map_anon(NULL, len);
	size_t n;
	int i;

	ASSERT_NE(NULL, m);
	for (i = 0; i < 4; i++) {
		n = 5000 + 3000 * i;
		pattern_fill_at(self->t.stage, n, SEED + i, 0);
		EXPECT_EQ(IBV_WC_SUCCESS,
			  send_recv(&self->t, m + 50000 * i + 7, n, false));
		EXPECT_TRUE(pattern_check_at(m + 50000 * i + 7, n, SEED + i,
					     0, "SRQ payload"));
	}
	munmap(m, len);
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
