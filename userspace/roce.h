/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * RoCEv2 requests written by hand and sent to rxe's UDP port on ::1, as a
 * peer would send them: for packets Debian 12's libibverbs cannot make
 * (FLUSH) and for packets no well-behaved peer would send (wire_fuzz).
 * The target is an RC QP reached through the IPv6 loopback GID (index 2
 * on lo). rxe answers such a request towards the QP's connected peer, so
 * the sender sees no reply: it reads the outcome from the target QP (its
 * expected PSN, its state).
 */
#ifndef ROCE_H
#define ROCE_H

#include <stddef.h>
#include <stdint.h>
#include <infiniband/verbs.h>

#define ROCE_PORT	4791
#define ROCE_GID_IPV6_LO 2	/* ::1 in rxe0's GID table on lo */

/* RC request opcodes (IBTA 9.2). */
enum {
	ROCE_SEND_FIRST = 0x00, ROCE_SEND_MIDDLE, ROCE_SEND_LAST,
	ROCE_SEND_LAST_IMM, ROCE_SEND_ONLY, ROCE_SEND_ONLY_IMM,
	ROCE_WRITE_FIRST, ROCE_WRITE_MIDDLE, ROCE_WRITE_LAST,
	ROCE_WRITE_LAST_IMM, ROCE_WRITE_ONLY, ROCE_WRITE_ONLY_IMM,
	ROCE_READ_REQ, ROCE_CMP_SWAP = 0x13, ROCE_FETCH_ADD = 0x14,
	ROCE_SEND_LAST_INV = 0x16, ROCE_SEND_ONLY_INV = 0x17,
	ROCE_FLUSH = 0x1c, ROCE_ATOMIC_WRITE = 0x1d,
};

/* Header lengths; a FLUSH carries its FETH before its RETH. */
#define ROCE_BTH_LEN	12
#define ROCE_RETH_LEN	16
#define ROCE_ATMETH_LEN	28
#define ROCE_IMM_LEN	4
#define ROCE_FETH_LEN	4
#define ROCE_ICRC_LEN	4

/* FLUSH placement types and selectivity levels (IBA A19.2). */
#define ROCE_FLUSH_GLOBAL	1
#define ROCE_FLUSH_PERSISTENT	2
#define ROCE_FLUSH_RANGE	0
#define ROCE_FLUSH_MR		1

/* IB_UVERBS_ACCESS_FLUSH_*, which rdma-core 44 does not name. */
#define ROCE_ACCESS_FLUSH_GLOBAL	(1 << 8)
#define ROCE_ACCESS_FLUSH_PERSISTENT	(1 << 9)

struct roce_sock {
	int fd;
	uint16_t sport;		/* the UDP source port, part of the ICRC */
};

/*
 * Let the responder @qp, in RTS, take FLUSHes of both types besides
 * remote WRITE, READ and atomics; 0, or an errno.
 */
int roce_allow_flush(struct ibv_qp *qp);

/* A UDP socket on ::1 to send from; 0, or -1 with errno. */
int roce_open(struct roce_sock *s);
void roce_close(struct roce_sock *s);

void roce_put32(uint8_t *p, uint32_t v);
void roce_put64(uint8_t *p, uint64_t v);

/*
 * Write the BTH of a request to QP @qpn with @psn, asking for an ACK,
 * and return its length. @pad is the pad count of the payload.
 */
size_t roce_bth(uint8_t *pkt, uint8_t opcode, uint32_t qpn, uint32_t psn,
		unsigned int pad);

/*
 * Write the ICRC of the @len-byte packet @pkt (its last 4 bytes) as sent
 * from @s, the way rxe computes it: rxe drops a packet whose ICRC does
 * not match after its header checks.
 */
void roce_seal(const struct roce_sock *s, uint8_t *pkt, size_t len);

/* Send @len bytes of @pkt to [::1]:4791; 0, or -1 with errno. */
int roce_send(const struct roce_sock *s, const uint8_t *pkt, size_t len);

/*
 * A sealed FLUSH request for [va, va + len) of the MR with @rkey, of
 * placement @type and selectivity @level, to QP @qpn at @psn, in @pkt
 * (room for 36 bytes); returns its length.
 */
size_t roce_flush(const struct roce_sock *s, uint8_t *pkt, uint32_t qpn,
		  uint32_t psn, unsigned int type, unsigned int level,
		  uint64_t va, uint32_t rkey, uint32_t len);

#endif
