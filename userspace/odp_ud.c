// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_ud: UD SEND/RECV with both ends in cold ODP memory.
 *
 *   odp_ud [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * Two UD QPs on one device; one sends to the other through an address
 * handle for the port's loopback GID. Every receive lands in pages the CPU
 * has never touched, at offsets that put the 40-byte GRH area and the
 * payload across page boundaries. For each message the receive completion
 * (status, opcode, length, source QP, GRH and immediate flags) is checked,
 * and so are the bytes: the GRH area holds the packet's network header
 * (for an IPv4 GID, the IPv4 header in its last 20 bytes; for an IPv6
 * one, the IPv6 header), the payload holds what was sent, and nothing
 * after it was written. A second phase sends from pages the CPU has never
 * touched (zeros) into receive buffers the CPU filled, and checks that the
 * zeros arrive.
 *
 * Each phase is a case, on ODP MRs and on pinned ones (the variants); the
 * ODP variant skips where the device does not advertise UD ODP for SEND
 * and RECV.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "harness.h"

#include "check.h"
#include "loopback.h"

#define GRH_LEN		40
#define SLOT_PAGES	2	/* each message gets fresh pages at both ends */
#define NCOLD		24	/* messages into cold receive buffers */
#define NZERO		8	/* messages from cold send buffers */
/* RoCEv2 after the IP header: UDP, BTH, DETH, then the payload and ICRC. */
#define UDP_LEN		8
#define BTH_LEN		12
#define DETH_LEN	8
#define IMMDT_LEN	4
#define ICRC_LEN	4

struct ud {
	struct loopback lb;	/* lb.qp[0] sends, lb.qp[1] receives */
	size_t page, mtu;	/* mtu: the largest UD payload */
	size_t size;		/* of each buffer */
	unsigned char *sbuf, *rbuf;
	struct ibv_mr *smr, *rmr;
};

struct msg {
	size_t len;
	size_t soff, roff;	/* payload in sbuf; GRH area in rbuf */
	bool imm;
	bool zeros;		/* sent from pages nobody wrote */
	unsigned int seed;	/* the payload's pattern and immediate */
};

static struct ibv_mr *reg(struct ud *u, void *buf, bool odp)
{
	int access = IBV_ACCESS_LOCAL_WRITE;
	struct ibv_mr *mr;

	if (odp)
		access |= IBV_ACCESS_ON_DEMAND;
	mr = ibv_reg_mr(u->lb.pd, buf, u->size, access);
	if (!mr) {
		perror("ibv_reg_mr");
		exit(1);
	}
	return mr;
}

/* --- what a receive buffer must hold --- */

static bool gid_is_ipv4(const union ibv_gid *gid)
{
	static const unsigned char prefix[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
	};

	return !memcmp(gid->raw, prefix, sizeof(prefix));
}

/* Bytes of the packet after the network header, as the header counts them. */
static size_t l4_len(const struct msg *m)
{
	size_t pad = (4 - m->len % 4) % 4;

	return UDP_LEN + BTH_LEN + DETH_LEN + (m->imm ? IMMDT_LEN : 0) +
	       m->len + pad + ICRC_LEN;
}

/*
 * RoCEv2 over IPv4: the GRH area's last 20 bytes are the IPv4 header.
 * Its checksum is not checked: rxe hands packets for a local address
 * straight to its receive path, and only the IP stack would compute it.
 */
static bool grh_ipv4_ok(struct ud *u, const unsigned char *grh,
			const struct msg *m)
{
	struct iphdr ip;
	uint32_t addr;

	memcpy(&ip, grh + 20, sizeof(ip));
	memcpy(&addr, u->lb.gid.raw + 12, sizeof(addr));
	if (ip.version != 4 || ip.ihl != 5 || ip.protocol != IPPROTO_UDP ||
	    ip.saddr != addr || ip.daddr != addr ||
	    ntohs(ip.tot_len) != sizeof(ip) + l4_len(m)) {
		fprintf(stderr, "GRH: not the IPv4 header of this packet: version %u "
			"ihl %u protocol %u tot_len %u (want %zu) saddr %08x daddr "
			"%08x (want %08x)\n", ip.version, ip.ihl, ip.protocol,
			ntohs(ip.tot_len), sizeof(ip) + l4_len(m), ntohl(ip.saddr),
			ntohl(ip.daddr), ntohl(addr));
		return false;
	}
	return true;
}

/* RoCEv2 over IPv6: the GRH area is the IPv6 header. */
static bool grh_ipv6_ok(struct ud *u, const unsigned char *grh,
			const struct msg *m)
{
	struct ibv_grh g;

	memcpy(&g, grh, sizeof(g));
	if (ntohl(g.version_tclass_flow) >> 28 != 6 || g.next_hdr != IPPROTO_UDP ||
	    ntohs(g.paylen) != l4_len(m) ||
	    memcmp(&g.sgid, &u->lb.gid, sizeof(g.sgid)) ||
	    memcmp(&g.dgid, &u->lb.gid, sizeof(g.dgid))) {
		fprintf(stderr, "GRH: not the IPv6 header of this packet: version %u "
			"next_hdr %u paylen %u (want %zu)\n",
			ntohl(g.version_tclass_flow) >> 28, g.next_hdr,
			ntohs(g.paylen), l4_len(m));
		return false;
	}
	return true;
}

static bool wc_ok(struct ud *u, const struct ibv_wc *wc, const struct msg *m)
{
	bool imm = wc->wc_flags & IBV_WC_WITH_IMM;

	if (wc->status != IBV_WC_SUCCESS || wc->opcode != IBV_WC_RECV ||
	    wc->byte_len != GRH_LEN + m->len || wc->src_qp != u->lb.qp[0]->qp_num ||
	    !(wc->wc_flags & IBV_WC_GRH) || imm != m->imm ||
	    (imm && ntohl(wc->imm_data) != m->seed)) {
		fprintf(stderr, "receive completion: status %s opcode %d byte_len %u "
			"(want %zu) src_qp %u (want %u) flags 0x%x imm %u\n",
			ibv_wc_status_str(wc->status), wc->opcode, wc->byte_len,
			GRH_LEN + m->len, wc->src_qp, u->lb.qp[0]->qp_num,
			wc->wc_flags, imm ? ntohl(wc->imm_data) : 0);
		return false;
	}
	return true;
}

/*
 * The receive buffer holds the GRH and @m's payload, and the rest of its
 * slot still holds @fill (zeros in cold pages).
 */
static bool rbuf_ok(struct ud *u, const struct msg *m, unsigned char fill)
{
	const unsigned char *grh = u->rbuf + m->roff;
	const unsigned char *payload = grh + GRH_LEN;
	size_t slot = m->roff - m->roff % (SLOT_PAGES * u->page);
	size_t end = slot + SLOT_PAGES * u->page;
	size_t after = m->roff + GRH_LEN + m->len;

	return (gid_is_ipv4(&u->lb.gid) ? grh_ipv4_ok(u, grh, m) :
					  grh_ipv6_ok(u, grh, m)) &&
	       (m->zeros ? bytes_check(payload, m->len, 0, "payload") :
			   pattern_check(payload, m->len, m->seed, "payload")) &&
	       bytes_check(u->rbuf + slot, m->roff - slot, fill, "before the GRH") &&
	       bytes_check(u->rbuf + after, end - after, fill, "after the payload");
}

/* --- moving messages --- */

static void post_recv(struct ud *u, const struct msg *m, uint64_t id)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)u->rbuf + m->roff,
		.length = GRH_LEN + u->mtu,
		.lkey = u->rmr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = id, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;

	if (ibv_post_recv(u->lb.qp[1], &wr, &bad)) {
		perror("ibv_post_recv");
		exit(1);
	}
}

static bool post_send(struct ud *u, const struct msg *m, uint64_t id)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)u->sbuf + m->soff,
		.length = m->len,
		.lkey = u->smr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = id,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = m->imm ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND,
		.imm_data = htonl(m->seed),
	};
	struct ibv_send_wr *bad;

	loopback_ud_dest(&u->lb, &wr);
	if (ibv_post_send(u->lb.qp[0], &wr, &bad)) {
		perror("ibv_post_send");
		return false;
	}
	return true;
}

/* Wait for the send @sid and the receive @rid; the latter into @rwc. */
static bool wait_pair(struct ud *u, uint64_t sid, uint64_t rid, struct ibv_wc *rwc)
{
	bool sent = false, received = false;
	struct ibv_wc wc = { 0 };

	while (!sent || !received) {
		if (loopback_poll(&u->lb, &wc, 20000)) {
			fprintf(stderr, "%s: no completion within 20 s\n",
				sent ? "receive" : "send");
			return false;
		}
		if (wc.wr_id == sid && !sent) {
			sent = true;
			if (wc.status != IBV_WC_SUCCESS) {
				fprintf(stderr, "send: %s\n",
					ibv_wc_status_str(wc.status));
				return false;
			}
		} else if (wc.wr_id == rid && !received) {
			received = true;
			*rwc = wc;
		} else {
			fprintf(stderr, "unexpected completion %llu (%s)\n",
				(unsigned long long)wc.wr_id,
				ibv_wc_status_str(wc.status));
			return false;
		}
	}
	return true;
}

/* Message @i's layout: its own pages at both ends, at shifting offsets. */
static struct msg msg_layout(struct ud *u, int i, size_t len)
{
	size_t slot = (size_t)i * SLOT_PAGES * u->page;
	/* Puts the GRH or the payload across the page boundary, or not. */
	static const size_t rshift[] = { 0, 4096 - 20, 4096 - 40, 4096 - 41, 1, 2000 };
	size_t roff = rshift[i % 6] % u->page;

	if (roff + GRH_LEN + u->mtu > SLOT_PAGES * u->page)
		roff = 0;
	return (struct msg){
		.len = len,
		.soff = slot + (i * 1237) % u->page,
		.roff = slot + roff,
		.imm = i % 3 == 1,
		.seed = 1000 + i,
	};
}

static bool one_message(struct ud *u, const struct msg *m, int i, unsigned char fill)
{
	struct ibv_wc wc = { 0 };

	post_recv(u, m, i);
	return post_send(u, m, 100000 + i) && wait_pair(u, 100000 + i, i, &wc) &&
	       wc_ok(u, &wc, m) && rbuf_ok(u, m, fill);
}

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

FIXTURE(ud) {
	struct ud u;
};

PINNED_AND_ODP_VARIANTS(ud);

FIXTURE_SETUP(ud)
{
	struct ud *u = &self->u;

	ASSERT_EQ(0, loopback_open(&u->lb, &opts));
	if (variant->odp && !loopback_has_odp_ud(&u->lb, IBV_ODP_SUPPORT_SEND |
						 IBV_ODP_SUPPORT_RECV))
		SKIP(return, "%s does not advertise UD ODP for SEND and RECV",
		     opts.dev);
	ASSERT_EQ(0, loopback_connect_ud(&u->lb));
	u->page = sysconf(_SC_PAGESIZE);
	u->mtu = 128u << u->lb.mtu;	/* IBV_MTU_256 is 1 */
	u->size = (NCOLD + NZERO) * SLOT_PAGES * u->page;
	u->sbuf = map_anon(NULL, u->size);
	u->rbuf = map_anon(NULL, u->size);
	u->smr = reg(u, u->sbuf, variant->odp);
	u->rmr = reg(u, u->rbuf, variant->odp);
	TH_LOG("UD payload up to %zu bytes, GID %s", u->mtu,
	       gid_is_ipv4(&u->lb.gid) ? "IPv4" : "IPv6");
}

FIXTURE_TEARDOWN(ud)
{
	struct ud *u = &self->u;

	loopback_dereg(u->smr);
	loopback_dereg(u->rmr);
	loopback_close(&u->lb);
	munmap(u->sbuf, u->size);
	munmap(u->rbuf, u->size);
}

/* Receive buffers the CPU never touched; sent data written by the CPU. */
TEST_F_TIMEOUT(ud, cold_receive, 120)
{
	struct ud *u = &self->u;
	size_t sizes[] = { 0, 1, 3, 40, 255, 1000, 2048, 3001, u->mtu - 1, u->mtu };
	int i;

	for (i = 0; i < NCOLD; i++) {
		size_t len = sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
		struct msg m = msg_layout(u, i, len);

		pattern_fill(u->sbuf + m.soff, m.len, m.seed);
		EXPECT_TRUE(one_message(u, &m, i, 0))
			TH_LOG("message %d: %zu bytes%s, GRH at page offset %zu",
			       i, m.len, m.imm ? " with immediate" : "",
			       m.roff % u->page);
	}
}

/* Send buffers the CPU never touched (zeros); receive buffers it filled. */
TEST_F_TIMEOUT(ud, cold_send, 120)
{
	struct ud *u = &self->u;
	int i;

	for (i = NCOLD; i < NCOLD + NZERO; i++) {
		struct msg m = msg_layout(u, i, u->mtu - 7 * (i - NCOLD));
		size_t slot = m.roff - m.roff % (SLOT_PAGES * u->page);

		m.zeros = true;

		memset(u->rbuf + slot, 0xa5, SLOT_PAGES * u->page);
		EXPECT_TRUE(one_message(u, &m, i, 0xa5))
			TH_LOG("message %d: %zu zero bytes arrive as zeros",
			       i, m.len);
	}
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
