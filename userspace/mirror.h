/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Verified RDMA WRITE and READ between a target in the responder's memory
 * and two requester buffers laid over it byte for byte: target bytes
 * [off, off + len) are written from src + off and read into dst + off, so
 * every transfer carries the position-unique pattern of check.h at its
 * own offset, and a byte from the wrong page can never look right.
 */
#ifndef MIRROR_H
#define MIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loopback.h"

struct mirror {
	struct loopback *lb;
	unsigned char *tgt;		/* the responder's memory */
	uint32_t rkey;			/* the MR over tgt the operations use */
	unsigned char *src, *dst;	/* what WRITE sends, where READ lands */
	struct ibv_mr *smr, *dmr;
	struct ibv_mr *tmr;		/* the target's, if mirror_open_target()
					 * made it here */
	bool remote;			/* the target is the peer's (peer.h) */
};

/*
 * Register @len bytes at @buf for local write and remote WRITE and READ,
 * on demand when @odp; exits (failing the harness case) when refused.
 */
struct ibv_mr *mirror_reg(struct loopback *lb, void *buf, size_t len, bool odp);

/*
 * Register the requester's buffers @src and @dst, @len bytes each, as
 * mirror_reg() does; mirror_close() deregisters them (not unmaps).
 */
void mirror_open(struct mirror *m, struct loopback *lb, void *src, void *dst,
		 size_t len, bool odp);
void mirror_close(struct mirror *m);

/*
 * mirror_open() over fresh buffers of @len bytes, and a fresh target of
 * @len bytes under an MR of its own (m->tmr, ODP when @odp) that @m aims
 * at. Returns the target. mirror_close() deregisters its MR too;
 * mirror_unmap() unmaps the three. When @lb has a peer, the peer makes
 * the target and its MR, and frees them when the connection closes; the
 * address returned is the peer's, for target.h.
 */
unsigned char *mirror_open_target(struct mirror *m, struct loopback *lb,
				  size_t len, bool odp);
void mirror_unmap(struct mirror *m, size_t len);

/* Aim @m's operations at the target memory of @mr, through @mr. */
static inline struct mirror *mirror_at(struct mirror *m, struct ibv_mr *mr)
{
	m->tgt = mr->addr;
	m->rkey = mr->rkey;
	return m;
}

/*
 * One RDMA WRITE or READ of target bytes [off, off + len). Returns the
 * completion status, or -1 when none came. Any other outcome than success
 * leaves both QPs in the error state, so they are replaced by a fresh
 * connected pair before returning.
 */
int mirror_rdma(struct mirror *m, enum ibv_wr_opcode op, size_t off, size_t len);

/* WRITE pattern @seed to [off, off + len); the CPU must see it there. */
bool mirror_write_ok(struct mirror *m, size_t off, size_t len,
		     unsigned int seed, const char *what);

/* READ [off, off + len); it must hold pattern @seed. */
bool mirror_read_is(struct mirror *m, size_t off, size_t len,
		    unsigned int seed, const char *what);

/* READ [off, off + len); it must be all zeros. */
bool mirror_read_zero(struct mirror *m, size_t off, size_t len,
		      const char *what);

/* @op on [off, off + len) must complete with a remote access error. */
bool mirror_access_error(struct mirror *m, enum ibv_wr_opcode op, size_t off,
			 size_t len, const char *what);

/*
 * Whether the device of @o still moves data: on a fresh loopback pair, a
 * fresh @size-byte ODP target takes a WRITE of @len bytes at @off, returns
 * it to a READ, and keeps zeros around it. For after something that could
 * have broken the device.
 */
bool mirror_fresh_round_trip(const struct loopback_opts *o, size_t size,
			     size_t off, size_t len);

#endif
