/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * The responder on another host: a process running odp_peer holds the
 * responder's QP and its memory (the target), and does to that memory
 * what the test asks, over a TCP connection. A struct loopback whose
 * options name a peer (--peer ADDR) is connected to it: loopback_connect()
 * makes the requester's QP here and the responder's there, and the
 * target_*() calls of target.h reach the peer's memory. Closing the
 * connection frees what the peer made for it.
 *
 * Messages are fixed-size, every field a big-endian 64-bit integer (the
 * GID excepted, which is bytes already), one reply per request.
 */
#ifndef PEER_H
#define PEER_H

#include <stdbool.h>
#include <stdint.h>
#include <infiniband/verbs.h>

/* The TCP port odp_peer listens on, as rdma-core's examples default. */
#define PEER_PORT 18515

enum peer_op {
	PEER_TARGET = 1,	/* len, arg: ODP? -> addr, arg: rkey */
	PEER_QP,		/* arg: our QPN, gid -> arg: its QPN, gid */
	PEER_CHECK,		/* addr, len, arg: seed, pos */
	PEER_MADVISE,		/* addr, len, arg: advice */
	PEER_UNMAP_HOLE,	/* addr, len */
	PEER_MAP,		/* addr, len */
	PEER_PROTECT,		/* addr, len, arg: prot */
	PEER_MOVE_IN,		/* addr, len, arg: seed, pos */
	PEER_MOVE_OUT,		/* addr, len -> addr: where they went */
	PEER_UNMAP,		/* addr, len (of a PEER_MOVE_OUT's pages) */
};

struct peer_msg {
	uint64_t op;
	uint64_t ok;		/* reply: 1 done, 0 refused or failed */
	uint64_t addr, len, arg, pos;
	uint8_t gid[16];
};

struct peer {
	int fd;
};

/* Connect to odp_peer at @addr ("fe80::1%eth0", "10.0.0.2") port @port. */
struct peer *peer_connect(const char *addr, int port);
void peer_close(struct peer *p);

/*
 * Send @req, wait for the reply into @rep. False when the connection
 * failed (and says so) or the peer refused or failed (rep->ok == 0).
 */
bool peer_call(struct peer *p, const struct peer_msg *req, struct peer_msg *rep);

bool peer_send_msg(int fd, const struct peer_msg *m);
bool peer_recv_msg(int fd, struct peer_msg *m);

#endif
