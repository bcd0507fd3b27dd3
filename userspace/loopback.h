/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Two RC queue pairs on one device, connected to each other through the
 * port's loopback GID: the smallest setup that moves data through every
 * verb (WRITE, READ, SEND, atomics) with both ends in one process. Or two
 * UD queue pairs and an address handle for that GID (loopback_connect_ud()).
 * Or, when the options name a peer (peer.h), the requester here and the
 * responder in odp_peer on another host, reached through both GIDs.
 */
#ifndef LOOPBACK_H
#define LOOPBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <infiniband/verbs.h>

#include "peer.h"

/* Exit status a test uses when the device cannot run it (automake's). */
#define EXIT_SKIP 77

/* The queue sizes of every QP here: 64 WRs each way, one SGE each. */
#define LOOPBACK_QP_CAP {						\
	.max_send_wr = 64, .max_recv_wr = 64,				\
	.max_send_sge = 1, .max_recv_sge = 1,				\
}

/* The Q_Key of the UD QPs loopback_connect_ud() makes. */
#define LOOPBACK_QKEY 0x11111111u

struct loopback {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp[2];	/* qp[0] is the requester, qp[1] the responder
				 * (NULL when it is the peer's) */
	struct ibv_ah *ah;	/* UD: reaches either QP through the GID */
	struct ibv_srq *srq;	/* if set before loopback_connect(), both QPs
				 * receive through it; loopback_close() frees it */
	uint8_t timeout;	/* if set before loopback_connect(): the QPs'
				 * local ACK timeout, 4.096 us << timeout
				 * (default 14, 67 ms) */
	uint8_t retry_cnt;	/* if set before loopback_connect(): how often
				 * the requester resends after a timeout
				 * (default 7, which rxe takes as "forever") */
	uint64_t send_ops;	/* if set before loopback_connect(): the QPs
				 * are made with ibv_create_qp_ex() and these
				 * IBV_QP_EX_WITH_* flags, for ibv_wr_*() */
	uint8_t port;
	int gid_index;
	union ibv_gid gid;
	union ibv_gid dgid;	/* the responder's GID: gid, or the peer's */
	struct peer *peer;	/* the responder's host, or NULL: this process */
	enum ibv_mtu mtu;
};

struct loopback_opts {
	const char *dev;	/* default "rxe0" */
	int gid_index;		/* default 1: ::ffff:127.0.0.1 on lo */
	size_t size;		/* 0: the program's own default */
	const char *peer;	/* odp_peer's address, or NULL: loopback */
	int port;		/* its TCP port (0: PEER_PORT) */
};

/*
 * Take the leading -d/--ib-dev NAME, -g/--gid-idx N, -s/--size BYTES
 * (with an optional K, M or G), --peer ADDR and -p/--port N options
 * (named as in rdma-core's examples, which take the peer's address as
 * their last argument) off the command line into @o, leaving the
 * program name and the rest, for another parser such as the kselftest
 * harness's. Also loads libibverbs' providers, which the harness's
 * per-case processes then inherit.
 */
void loopback_take_opts(int *argc, char ***argv, struct loopback_opts *o);

int loopback_open(struct loopback *lb, const struct loopback_opts *o);
int loopback_connect(struct loopback *lb);
void loopback_close(struct loopback *lb);

/*
 * Instead of loopback_connect(): two UD QPs in RTS with the Q_Key
 * LOOPBACK_QKEY, and lb->ah for the port's loopback GID, which
 * loopback_close() destroys. loopback_reconnect() does not apply.
 */
int loopback_connect_ud(struct loopback *lb);

/*
 * Instead of loopback_connect(), for a requester in one process and its
 * responder in another: loopback_peer_qp() makes the RC QP lb->qp[0] (in
 * INIT, so its number can be handed over), and loopback_peer_connect()
 * takes it to RTS towards the other process's QP number @qpn at lb->dgid
 * (the port's own GID, unless the caller set another).
 */
int loopback_peer_qp(struct loopback *lb);
int loopback_peer_connect(struct loopback *lb, uint32_t qpn);

/* Address @wr, a UD send to be posted on lb->qp[0], to lb->qp[1]. */
void loopback_ud_dest(struct loopback *lb, struct ibv_send_wr *wr);

/* Deregister @mr, if there is one (a fixture's teardown after a failure). */
void loopback_dereg(struct ibv_mr *mr);

/*
 * Replace both QPs with a fresh connected pair, for after an error
 * completion has moved them to the error state. Completions still queued
 * for the old QPs are discarded; the PD, CQ, SRQ and MRs stay.
 */
int loopback_reconnect(struct loopback *lb);

/* Wait for one completion; returns 0 and fills @wc, or -1 on timeout. */
int loopback_poll(struct loopback *lb, struct ibv_wc *wc, int timeout_ms);

/* Post one work request on @qp with a single SGE and wait for it. */
int loopback_post_wait(struct loopback *lb, struct ibv_send_wr *wr,
		       struct ibv_wc *wc);

/*
 * One RDMA WRITE or READ on the requester between @local (in the MR with
 * @lkey) and @remote (in the MR with @rkey), waited for. Returns the
 * completion status, or -1 when nothing completed in time.
 */
int loopback_rdma(struct loopback *lb, enum ibv_wr_opcode op, void *local,
		  uint32_t lkey, void *remote, uint32_t rkey, size_t len);

/*
 * One FAA or CAS on the requester: the 8 bytes at @remote (in the MR with
 * @rkey) get @compare_add added, or @swap if they equal @compare_add; the
 * value found lands at @local (in the MR with @lkey). Waited for; returns
 * the completion status, or -1 when nothing completed in time.
 */
int loopback_atomic(struct loopback *lb, enum ibv_wr_opcode op, void *local,
		    uint32_t lkey, void *remote, uint32_t rkey,
		    uint64_t compare_add, uint64_t swap);

/* True when the device advertises ODP for every bit of @rc_caps on RC. */
bool loopback_has_odp_rc(struct loopback *lb, uint32_t rc_caps);

/* True when the device advertises ODP for every bit of @ud_caps on UD. */
bool loopback_has_odp_ud(struct loopback *lb, uint32_t ud_caps);

/* The process's pinned memory (VmPin) in kB, or -1. */
long vm_pinned_kb(void);

#endif
