// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * wire_fuzz: RoCEv2 packets from a hostile peer, at live QPs.
 *
 *   wire_fuzz [-d ib_dev] [-n packets] [-S seed] [kselftest harness options]
 *
 * It sends -n packets (default 20000), or as many as two minutes allow.
 *
 * A victim RC queue pair, connected over ::1 (GID index 2), has a pinned
 * and an ODP MR registered (both take FLUSHes: of type global, and on the
 * ODP MR of type persistent too, over memory that is not persistent),
 * receive buffers in both, and its ODP memory is
 * dropped (MADV_DONTNEED) every few packets, so that packets meet MRs being
 * invalidated. The fuzzer writes packets for it to [::1]:4791 from a UDP
 * socket, as its peer would: well-formed requests of every opcode (SEND,
 * WRITE, READ, CAS, FAA, ATOMIC WRITE, FLUSH, with and without immediate,
 * first/middle/last/only), then mutated: opcode, PSN, rkey, address,
 * DMA length (0, 1, around the MTU, huge), pad count, atomic and FLUSH
 * fields, truncated or lengthened, and a valid ICRC over the result (rxe
 * checks the ICRC after the header checks, so a bad one only reaches
 * those). Each packet's PSN is the one the victim expects, most of the
 * time (read back from the QP); a victim left in the error state is
 * replaced by a new pair.
 *
 * Beside it, a second pair runs verified WRITEs and READs (a position-
 * unique pattern, every byte checked) through an ODP MR every few packets:
 * that traffic must be unaffected. The first packet is a well-formed SEND
 * whose receive completion proves that the packets reach the responder
 * with a valid ICRC. At the end the rxe0 counters that moved are printed.
 * The kernel must stay up with no splat (the harness around this program
 * checks the console).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "check.h"
#include "harness.h"
#include "loopback.h"
#include "roce.h"

#define MR_LEN		(64 * 4096)
#define NRECV		16
#define SIDE_EVERY	64		/* packets between verified rounds */
#define DROP_EVERY	16		/* packets between ODP invalidations */
#define SIDE_LEN	(3 * 4096 + 100)
#define SEED		0x77
#define MAX_SECONDS	120		/* a debug kernel sends fewer */

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = ROCE_GID_IPV6_LO };
static unsigned long npackets = 20000;
static unsigned int seed = 1;

/* Requests a peer sends, and what follows their BTH (FETH before RETH). */
static const struct {
	uint8_t op;
	uint8_t reth, atmeth, imm, feth, data;
} ops[] = {
	{ ROCE_SEND_FIRST, 0, 0, 0, 0, 1 },
	{ ROCE_SEND_MIDDLE, 0, 0, 0, 0, 1 },
	{ ROCE_SEND_LAST, 0, 0, 0, 0, 1 },
	{ ROCE_SEND_LAST_IMM, 0, 0, 1, 0, 1 },
	{ ROCE_SEND_ONLY, 0, 0, 0, 0, 1 },
	{ ROCE_SEND_ONLY_IMM, 0, 0, 1, 0, 1 },
	{ ROCE_WRITE_FIRST, 1, 0, 0, 0, 1 },
	{ ROCE_WRITE_MIDDLE, 0, 0, 0, 0, 1 },
	{ ROCE_WRITE_LAST, 0, 0, 0, 0, 1 },
	{ ROCE_WRITE_LAST_IMM, 0, 0, 1, 0, 1 },
	{ ROCE_WRITE_ONLY, 1, 0, 0, 0, 1 },
	{ ROCE_WRITE_ONLY_IMM, 1, 0, 1, 0, 1 },
	{ ROCE_READ_REQ, 1, 0, 0, 0, 0 },
	{ ROCE_CMP_SWAP, 0, 1, 0, 0, 0 },
	{ ROCE_FETCH_ADD, 0, 1, 0, 0, 0 },
	{ ROCE_SEND_LAST_INV, 0, 0, 1, 0, 1 },
	{ ROCE_SEND_ONLY_INV, 0, 0, 1, 0, 1 },
	{ ROCE_FLUSH, 1, 0, 0, 1, 0 },
	{ ROCE_ATOMIC_WRITE, 1, 0, 0, 0, 1 },
};

/* --- the fuzzer's state --- */

FIXTURE(wire) {
	struct loopback victim, side;
	struct roce_sock sock;
	size_t mtu;
	unsigned char *pinned_buf, *odp_buf, *side_src, *side_dst;
	struct ibv_mr *pinned, *odp, *side_smr, *side_dmr;
	unsigned long sent, recvs, side_rounds, reconnects;
	uint64_t rnd;
};

static uint32_t rnd(FIXTURE_DATA(wire) *self)
{
	/* xorshift64*: reproducible from -s */
	self->rnd ^= self->rnd >> 12;
	self->rnd ^= self->rnd << 25;
	self->rnd ^= self->rnd >> 27;
	return (self->rnd * 0x2545f4914f6cdd1dull) >> 32;
}

static void post_victim_recvs(FIXTURE_DATA(wire) *self, int n)
{
	struct ibv_recv_wr wr = { .num_sge = 1 }, *bad;
	struct ibv_sge sge;
	int i;

	for (i = 0; i < n; i++) {
		struct ibv_mr *mr = i & 1 ? self->odp : self->pinned;

		sge = (struct ibv_sge){ (uintptr_t)mr->addr, MR_LEN, mr->lkey };
		wr.sg_list = &sge;
		if (ibv_post_recv(self->victim.qp[1], &wr, &bad))
			break;
	}
}

/* A fresh victim takes FLUSHes too, and has its receives posted. */
static int victim_ready(FIXTURE_DATA(wire) *self)
{
	if (roce_allow_flush(self->victim.qp[1]))
		return -1;
	post_victim_recvs(self, NRECV);
	return 0;
}

static int victim_connect(FIXTURE_DATA(wire) *self)
{
	if (loopback_connect(&self->victim))
		return -1;
	return victim_ready(self);
}

/* Reap the victim's completions; replace it when it is in error. */
static void victim_service(FIXTURE_DATA(wire) *self)
{
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr ia;
	struct ibv_wc wc[16];
	int n, i, fresh = 0;

	while ((n = ibv_poll_cq(self->victim.cq, 16, wc)) > 0) {
		for (i = 0; i < n; i++) {
			if (wc[i].status == IBV_WC_SUCCESS &&
			    wc[i].opcode & IBV_WC_RECV) {
				self->recvs++;
				fresh++;
			}
		}
	}
	post_victim_recvs(self, fresh);
	if (ibv_query_qp(self->victim.qp[1], &a, IBV_QP_STATE, &ia) ||
	    a.qp_state == IBV_QPS_ERR || a.qp_state == IBV_QPS_SQE) {
		self->reconnects++;
		if (!loopback_reconnect(&self->victim))
			victim_ready(self);
	}
}

static uint32_t victim_psn(FIXTURE_DATA(wire) *self)
{
	struct ibv_qp_attr a = {};
	struct ibv_qp_init_attr ia;

	ibv_query_qp(self->victim.qp[1], &a, IBV_QP_RQ_PSN, &ia);
	return a.rq_psn;
}

/* A field of the victim's address space: in an MR, at its edges, or not. */
static uint64_t pick_va(FIXTURE_DATA(wire) *self, struct ibv_mr *mr)
{
	uint64_t base = (uintptr_t)mr->addr;

	switch (rnd(self) % 8) {
	case 0: return 0;
	case 1: return base + MR_LEN - 1 - rnd(self) % 16;
	case 2: return base - 1 - rnd(self) % 4096;
	case 3: return (uint64_t)rnd(self) << 32 | rnd(self);
	case 4: return base + MR_LEN;
	default: return base + (rnd(self) % MR_LEN & ~7ull);
	}
}

static uint32_t pick_len(FIXTURE_DATA(wire) *self)
{
	switch (rnd(self) % 9) {
	case 0: return 0;
	case 1: return 1;
	case 2: return self->mtu - 1;
	case 3: return self->mtu;
	case 4: return self->mtu + 1;
	case 5: return MR_LEN;
	case 6: return 0x80000000u;
	case 7: return rnd(self);
	default: return rnd(self) % (4 * self->mtu);
	}
}

static uint32_t pick_rkey(FIXTURE_DATA(wire) *self)
{
	switch (rnd(self) % 6) {
	case 0: return 0;
	case 1: return rnd(self);
	case 2: return self->pinned->rkey;
	case 3: return self->pinned->rkey ^ 0x100;
	default: return self->odp->rkey;
	}
}

/*
 * Build one request for the victim into @pkt; return its length. Most
 * fields are plausible and one or two are hostile.
 */
static size_t build(FIXTURE_DATA(wire) *self, uint8_t *pkt, size_t cap)
{
	int k = rnd(self) % (sizeof(ops) / sizeof(ops[0]));
	struct ibv_mr *mr = rnd(self) & 1 ? self->odp : self->pinned;
	uint32_t psn = victim_psn(self), dlen = pick_len(self);
	size_t len = ROCE_BTH_LEN, data = 0, pad = 0;
	uint8_t op = ops[k].op;

	if (rnd(self) % 16 == 0)
		op = rnd(self);				/* any opcode at all */
	if (rnd(self) % 8 == 0)
		psn += rnd(self) % 3 ? -1 - rnd(self) % 4 : 1 + rnd(self) % 4;
	if (ops[k].data)
		data = rnd(self) % 4 ? rnd(self) % (self->mtu + 1) :
		       rnd(self) % (cap - 128);
	if (op == ROCE_ATOMIC_WRITE && rnd(self) % 4)
		data = 8;
	pad = (4 - data % 4) % 4;
	if (rnd(self) % 16 == 0)
		pad = rnd(self) % 4;			/* a wrong pad count */

	memset(pkt, 0, cap);
	pkt[0] = op;
	pkt[1] = (rnd(self) % 8 == 0 ? 0x80 : 0) | pad << 4;	/* SE, pad */
	pkt[2] = pkt[3] = 0xff;				/* default P_Key */
	roce_put32(pkt + 4, self->victim.qp[1]->qp_num);
	roce_put32(pkt + 8, (rnd(self) % 4 == 0 ? 0x80000000u : 0) |
		       (psn & 0xffffff));		/* AckReq */
	if (ops[k].feth) {
		/* Selectivity (bits 5:4) and placement type (bits 3:0). */
		roce_put32(pkt + len, rnd(self) % 4 ? (rnd(self) & 1) << 4 |
			(1 + rnd(self) % 2) : rnd(self));
		len += ROCE_FETH_LEN;
	}
	if (ops[k].reth) {
		roce_put64(pkt + len, pick_va(self, mr));
		roce_put32(pkt + len + 8, pick_rkey(self));
		roce_put32(pkt + len + 12, dlen);
		len += ROCE_RETH_LEN;
	}
	if (ops[k].atmeth) {
		uint64_t va = pick_va(self, mr);

		roce_put64(pkt + len, rnd(self) % 8 ? va : va | 4);
		roce_put32(pkt + len + 8, pick_rkey(self));
		roce_put64(pkt + len + 12, rnd(self));
		roce_put64(pkt + len + 20, rnd(self));
		len += ROCE_ATMETH_LEN;
	}
	if (ops[k].imm) {
		roce_put32(pkt + len, op >= ROCE_SEND_LAST_INV ? pick_rkey(self) :
			rnd(self));
		len += ROCE_IMM_LEN;
	}
	pattern_fill_at(pkt + len, data, SEED, self->sent);
	len += data + pad + ROCE_ICRC_LEN;
	switch (rnd(self) % 32) {
	case 0:				/* truncated anywhere */
		len = 1 + rnd(self) % len;
		break;
	case 1:				/* longer than it says */
		len += 1 + rnd(self) % 64;
		break;
	}
	if (len > cap)
		len = cap;
	if (len >= ROCE_BTH_LEN + ROCE_ICRC_LEN) {
		roce_seal(&self->sock, pkt, len);
		if (rnd(self) % 64 == 0)
			pkt[len - ROCE_ICRC_LEN] ^= 1;
	}
	return len;
}

static int send_pkt(FIXTURE_DATA(wire) *self, const uint8_t *pkt, size_t len)
{
	self->sent++;
	return roce_send(&self->sock, pkt, len);
}

/* One verified WRITE and READ back on the side pair. */
static bool side_round(FIXTURE_DATA(wire) *self)
{
	unsigned int s = SEED + 1 + self->side_rounds++;
	bool ok;

	pattern_fill(self->side_src, SIDE_LEN, s);
	ok = loopback_rdma(&self->side, IBV_WR_RDMA_WRITE, self->side_src,
			   self->side_smr->lkey, self->side_dst,
			   self->side_dmr->rkey, SIDE_LEN) == IBV_WC_SUCCESS;
	ok = ok && pattern_check(self->side_dst, SIDE_LEN, s, "side WRITE");
	memset(self->side_src, 0, SIDE_LEN);
	ok = ok && loopback_rdma(&self->side, IBV_WR_RDMA_READ, self->side_src,
				 self->side_smr->lkey, self->side_dst,
				 self->side_dmr->rkey, SIDE_LEN) == IBV_WC_SUCCESS;
	ok = ok && pattern_check(self->side_src, SIDE_LEN, s, "side READ");
	/* The side pair's ODP memory is invalidated too. */
	madvise(self->side_dst, SIDE_LEN, MADV_DONTNEED);
	return ok;
}

/* rxe0's port counters, by name, into @v (NULL-terminated @name). */
#define NCOUNTERS 32
static int read_counters(char name[][40], unsigned long *v)
{
	const char *dir = "/sys/class/infiniband/rxe0/ports/1/hw_counters";
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	while (d && (e = readdir(d)) && n < NCOUNTERS) {
		char path[512];
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		snprintf(name[n], 40, "%.39s", e->d_name);
		if (fscanf(f, "%lu", &v[n]) == 1)
			n++;
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

FIXTURE_SETUP(wire)
{
	struct loopback_opts side_opts = { .dev = opts.dev, .gid_index = 1 };

	self->sock.fd = -1;
	self->rnd = 0x9e3779b97f4a7c15ull * (seed | 1);
	ASSERT_EQ(0, loopback_open(&self->victim, &opts));
	self->mtu = 128 << self->victim.mtu;
	ASSERT_TRUE(loopback_has_odp_rc(&self->victim, IBV_ODP_SUPPORT_WRITE |
					IBV_ODP_SUPPORT_READ |
					IBV_ODP_SUPPORT_RECV));
	self->pinned_buf = map_anon(NULL, MR_LEN);
	self->odp_buf = map_anon(NULL, MR_LEN);
	ASSERT_NE(NULL, self->pinned_buf);
	ASSERT_NE(NULL, self->odp_buf);
	self->pinned = ibv_reg_mr(self->victim.pd, self->pinned_buf, MR_LEN,
				  IBV_ACCESS_LOCAL_WRITE |
				  IBV_ACCESS_REMOTE_WRITE |
				  IBV_ACCESS_REMOTE_READ |
				  IBV_ACCESS_REMOTE_ATOMIC |
				  ROCE_ACCESS_FLUSH_GLOBAL);
	/* Persistent FLUSHes reach the ODP MR and are refused there. */
	self->odp = ibv_reg_mr(self->victim.pd, self->odp_buf, MR_LEN,
			       IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			       IBV_ACCESS_REMOTE_READ |
			       IBV_ACCESS_REMOTE_ATOMIC | IBV_ACCESS_ON_DEMAND |
			       ROCE_ACCESS_FLUSH_GLOBAL |
			       ROCE_ACCESS_FLUSH_PERSISTENT);
	ASSERT_NE(NULL, self->pinned);
	ASSERT_NE(NULL, self->odp);
	ASSERT_EQ(0, victim_connect(self));

	ASSERT_EQ(0, loopback_open(&self->side, &side_opts));
	ASSERT_EQ(0, loopback_connect(&self->side));
	self->side_src = map_anon(NULL, SIDE_LEN);
	self->side_dst = map_anon(NULL, SIDE_LEN);
	self->side_smr = ibv_reg_mr(self->side.pd, self->side_src, SIDE_LEN,
				    IBV_ACCESS_LOCAL_WRITE |
				    IBV_ACCESS_ON_DEMAND);
	self->side_dmr = ibv_reg_mr(self->side.pd, self->side_dst, SIDE_LEN,
				    IBV_ACCESS_LOCAL_WRITE |
				    IBV_ACCESS_REMOTE_WRITE |
				    IBV_ACCESS_REMOTE_READ |
				    IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, self->side_smr);
	ASSERT_NE(NULL, self->side_dmr);

	ASSERT_EQ(0, roce_open(&self->sock));
}

FIXTURE_TEARDOWN(wire)
{
	roce_close(&self->sock);
	loopback_dereg(self->side_smr);
	loopback_dereg(self->side_dmr);
	loopback_close(&self->side);
	loopback_dereg(self->pinned);
	loopback_dereg(self->odp);
	loopback_close(&self->victim);
}

/* A well-formed SEND ONLY must reach a receive buffer. */
static void calibrate(struct __test_metadata *_metadata,
		      FIXTURE_DATA(wire) *self)
{
	uint8_t pkt[ROCE_BTH_LEN + 64 + ROCE_ICRC_LEN];
	int i;

	roce_bth(pkt, ROCE_SEND_ONLY, self->victim.qp[1]->qp_num,
		 victim_psn(self), 0);
	pattern_fill(pkt + ROCE_BTH_LEN, 64, SEED);
	roce_seal(&self->sock, pkt, sizeof(pkt));
	ASSERT_EQ(0, send_pkt(self, pkt, sizeof(pkt)));
	for (i = 0; i < 2000 && !self->recvs; i++) {
		usleep(1000);
		victim_service(self);
	}
	ASSERT_EQ(1, self->recvs) TH_LOG("a well-formed SEND was not received");
	EXPECT_TRUE(pattern_check(self->pinned_buf, 64, SEED, "SEND payload"));
}

TEST_F_TIMEOUT(wire, fuzz, 1800)
{
	static uint8_t pkt[9000];
	char name[NCOUNTERS][40], name2[NCOUNTERS][40];
	unsigned long before[NCOUNTERS], after[NCOUNTERS], i;
	time_t end = time(NULL) + MAX_SECONDS;
	int n, m, j;

	n = read_counters(name, before);
	ASSERT_LT(0, n) TH_LOG("no rxe0 counters");
	calibrate(_metadata, self);
	for (i = 0; i < npackets && time(NULL) < end; i++) {
		size_t len = build(self, pkt, self->mtu + 256);

		ASSERT_EQ(0, send_pkt(self, pkt, len));
		if (i % 8 == 7)
			victim_service(self);
		if (i % DROP_EVERY == 0)
			madvise(self->odp_buf, MR_LEN, MADV_DONTNEED);
		if (i % SIDE_EVERY == 0)
			ASSERT_TRUE(side_round(self))
				TH_LOG("verified traffic broke after %lu packets",
				       i);
	}
	usleep(200000);
	victim_service(self);
	ASSERT_TRUE(side_round(self));

	m = read_counters(name2, after);
	ASSERT_EQ(n, m);
	printf("# %lu packets sent (seed %u), %lu received into buffers, "
	       "%lu victim QPs replaced, %lu verified side rounds\n",
	       self->sent, seed, self->recvs, self->reconnects,
	       self->side_rounds);
	for (j = 0; j < n; j++)
		if (after[j] != before[j])
			printf("# rxe0 %s: +%lu\n", name[j], after[j] - before[j]);
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	while (argc > 2 && (!strcmp(argv[1], "-n") || !strcmp(argv[1], "-S"))) {
		if (argv[1][1] == 'n')
			npackets = strtoul(argv[2], NULL, 0);
		else
			seed = strtoul(argv[2], NULL, 0);
		argv[2] = argv[0];
		argv += 2;
		argc -= 2;
	}
	return test_harness_run(argc, argv);
}
