// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_srq: RC SENDs into a shared receive queue whose buffers are cold
 * ODP memory.
 *
 *   odp_srq [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * Both loopback RC QPs receive through one SRQ, so messages arrive in it
 * from either direction. Every receive buffer is a slot of pages the CPU
 * has never touched, at an offset that is not page aligned, and is used
 * once. First one message at a time (sizes from 1 byte to several
 * packets), then bursts of messages posted on both QPs at once. For each
 * receive: the completion (status, opcode, length, receiving QP) and the
 * bytes: the message in full, and nothing written after it in the slot.
 *
 * Each phase is a case, on ODP MRs and on pinned ones (the variants); the
 * ODP variant skips where the device does not advertise RC ODP for SEND
 * and SRQ receives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "harness.h"

#include "check.h"
#include "loopback.h"

#define MAX_MSG		10000		/* three packets at a 4096 MTU */
#define SLOT		(MAX_MSG + 1000)	/* not a multiple of the page */
#define NSINGLE		45		/* messages one at a time */
#define NBURST		4		/* bursts ... */
#define BURST		24		/* ... of this many messages */
#define NMSG		(NSINGLE + NBURST * BURST)
#define OUTSTANDING	32		/* receives kept posted in the SRQ */
#define NSLOTS		(NMSG + OUTSTANDING)
#define NSEND		64		/* send slots, reused */
#define SEND_ID		(1ull << 32)	/* send wr_id: SEND_ID | message */

struct srq_test {
	struct loopback lb;
	unsigned char *rbuf, *sbuf;
	struct ibv_mr *rmr, *smr;
	int next_slot;			/* the next fresh receive slot */
	bool seen[NMSG];		/* messages received */
};

static struct ibv_mr *reg(struct srq_test *t, void *buf, size_t len, bool odp)
{
	int access = IBV_ACCESS_LOCAL_WRITE;
	struct ibv_mr *mr;

	if (odp)
		access |= IBV_ACCESS_ON_DEMAND;
	mr = ibv_reg_mr(t->lb.pd, buf, len, access);
	if (!mr) {
		perror("ibv_reg_mr");
		exit(1);
	}
	return mr;
}

/* --- messages: which one a buffer holds, from its first 8 bytes --- */

static size_t msg_len(int id)
{
	static const size_t single[] = {
		1, 7, 8, 64, 1000, 4095, 4096, 4097, 8191, 8192, 8193, MAX_MSG, 333,
	};

	if (id < NSINGLE)
		return single[id % (sizeof(single) / sizeof(single[0]))];
	/* Bursts: 8 bytes to MAX_MSG, spread out. */
	return 8 + (size_t)id * 7919 % (MAX_MSG - 8 + 1);
}

/* Message @id goes from qp[id % 2] to the other QP. */
static int receiver(int id)
{
	return !(id % 2);
}

/*
 * A message of 8 bytes or more starts with its id and the id's complement,
 * the rest is the pattern seeded with the id; a shorter one is all pattern.
 */
static void msg_fill(unsigned char *p, int id)
{
	size_t len = msg_len(id);
	uint32_t hdr[2] = { id, ~(uint32_t)id };

	if (len < sizeof(hdr)) {
		pattern_fill(p, len, id);
		return;
	}
	memcpy(p, hdr, sizeof(hdr));
	pattern_fill_at(p + sizeof(hdr), len - sizeof(hdr), id, sizeof(hdr));
}

/* The message id a received buffer names, or -1. */
static int msg_id(const unsigned char *p, size_t len)
{
	uint32_t hdr[2];

	if (len < sizeof(hdr))
		return -1;
	memcpy(hdr, p, sizeof(hdr));
	if (hdr[1] != ~hdr[0] || hdr[0] >= NMSG)
		return -1;
	return hdr[0];
}

static bool msg_check(const unsigned char *p, size_t len, int id)
{
	char what[48];

	snprintf(what, sizeof(what), "message %d", id);
	if (len < 8)
		return pattern_check(p, len, id, what);
	return msg_id(p, len) == id &&
	       pattern_check_at(p + 8, len - 8, id, 8, what);
}

/* --- the SRQ --- */

static void post_srq_recv(struct srq_test *t)
{
	int slot = t->next_slot++;
	struct ibv_sge sge = {
		.addr = (uintptr_t)t->rbuf + (size_t)slot * SLOT,
		.length = SLOT,
		.lkey = t->rmr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = slot, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;

	if (slot >= NSLOTS)
		return;
	if (ibv_post_srq_recv(t->lb.srq, &wr, &bad)) {
		perror("ibv_post_srq_recv");
		exit(1);
	}
}

static bool post_msg(struct srq_test *t, int id)
{
	unsigned char *buf = t->sbuf + (size_t)(id % NSEND) * SLOT;
	struct ibv_sge sge = {
		.addr = (uintptr_t)buf,
		.length = msg_len(id),
		.lkey = t->smr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = SEND_ID | id,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_SEND,
	};
	struct ibv_send_wr *bad;

	msg_fill(buf, id);
	if (ibv_post_send(t->lb.qp[!receiver(id)], &wr, &bad)) {
		perror("ibv_post_send");
		return false;
	}
	return true;
}

/*
 * A receive completion: it names a message (@want, or from its header
 * when @want is -1) not seen before, that arrived complete on the right
 * QP, with nothing written past it. Its slot is replaced by a fresh one.
 */
static bool recv_ok(struct srq_test *t, const struct ibv_wc *wc, int want)
{
	const unsigned char *slot = t->rbuf + (size_t)wc->wr_id * SLOT;
	int id = want >= 0 ? want : msg_id(slot, wc->byte_len);

	post_srq_recv(t);
	if (wc->status != IBV_WC_SUCCESS || wc->opcode != IBV_WC_RECV) {
		fprintf(stderr, "receive in slot %llu: %s, opcode %d\n",
			(unsigned long long)wc->wr_id,
			ibv_wc_status_str(wc->status), wc->opcode);
		return false;
	}
	if (id < 0 || t->seen[id]) {
		fprintf(stderr, "slot %llu: %s message (%u bytes)\n",
			(unsigned long long)wc->wr_id, id < 0 ? "unnamed" :
			"repeated", wc->byte_len);
		return false;
	}
	t->seen[id] = true;
	if (wc->byte_len != msg_len(id) ||
	    wc->qp_num != t->lb.qp[receiver(id)]->qp_num) {
		fprintf(stderr, "message %d: %u bytes on QP %u, want %zu on QP %u\n",
			id, wc->byte_len, wc->qp_num, msg_len(id),
			t->lb.qp[receiver(id)]->qp_num);
		return false;
	}
	return msg_check(slot, msg_len(id), id) &&
	       bytes_check(slot + msg_len(id), SLOT - msg_len(id), 0,
			   "slot after the message");
}

/* Wait for @nsend send and @nrecv receive completions, checking each. */
static bool collect(struct srq_test *t, int nsend, int nrecv, int want)
{
	struct ibv_wc wc;
	bool ok = true;

	while (nsend > 0 || nrecv > 0) {
		if (loopback_poll(&t->lb, &wc, 20000)) {
			fprintf(stderr, "%d sends and %d receives did not complete "
				"within 20 s\n", nsend, nrecv);
			return false;
		}
		if (wc.wr_id & SEND_ID) {
			nsend--;
			if (wc.status != IBV_WC_SUCCESS) {
				fprintf(stderr, "send %llu: %s\n",
					(unsigned long long)(wc.wr_id & ~SEND_ID),
					ibv_wc_status_str(wc.status));
				ok = false;
			}
		} else {
			nrecv--;
			ok &= recv_ok(t, &wc, want);
		}
	}
	return ok;
}

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

FIXTURE(srq) {
	struct srq_test t;
};

PINNED_AND_ODP_VARIANTS(srq);

FIXTURE_SETUP(srq)
{
	struct ibv_srq_init_attr sattr = {
		.attr = { .max_wr = 2 * OUTSTANDING, .max_sge = 1 },
	};
	struct srq_test *t = &self->t;
	int i;

	LOOPBACK_OPEN_OR_SKIP(&t->lb, &opts, variant->odp,
			      IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_SRQ_RECV);
	t->lb.srq = ibv_create_srq(t->lb.pd, &sattr);
	ASSERT_NE(NULL, t->lb.srq);
	ASSERT_EQ(0, loopback_connect(&t->lb));
	t->rbuf = map_anon(NULL, (size_t)NSLOTS * SLOT);
	t->sbuf = map_anon(NULL, (size_t)NSEND * SLOT);
	t->rmr = reg(t, t->rbuf, (size_t)NSLOTS * SLOT, variant->odp);
	t->smr = reg(t, t->sbuf, (size_t)NSEND * SLOT, variant->odp);
	for (i = 0; i < OUTSTANDING; i++)
		post_srq_recv(t);
}

FIXTURE_TEARDOWN(srq)
{
	struct srq_test *t = &self->t;

	loopback_dereg(t->rmr);
	loopback_dereg(t->smr);
	loopback_close(&t->lb);
	munmap(t->rbuf, (size_t)NSLOTS * SLOT);
	munmap(t->sbuf, (size_t)NSEND * SLOT);
}

/* One message at a time, alternating direction. */
TEST_F_TIMEOUT(srq, single, 120)
{
	struct srq_test *t = &self->t;
	int id;

	for (id = 0; id < NSINGLE; id++)
		EXPECT_TRUE(post_msg(t, id) && collect(t, 1, 1, id))
			TH_LOG("message %d: %zu bytes from QP %d into the SRQ",
			       id, msg_len(id), !receiver(id));
}

/* Bursts posted on both QPs at once, each message verified. */
TEST_F_TIMEOUT(srq, bursts, 120)
{
	struct srq_test *t = &self->t;
	int b, i, first;
	bool ok;

	for (b = 0; b < NBURST; b++) {
		first = NSINGLE + b * BURST;
		ok = true;
		for (i = 0; i < BURST && ok; i++)
			ok = post_msg(t, first + i);
		ok = ok && collect(t, BURST, BURST, -1);
		for (i = 0; i < BURST; i++)
			ok &= t->seen[first + i];
		EXPECT_TRUE(ok) TH_LOG("burst %d: %d messages", b, BURST);
	}
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
