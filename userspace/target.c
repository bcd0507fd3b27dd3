// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/* The responder's memory, here or on the peer: see target.h. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>

#include "check.h"
#include "peer.h"
#include "target.h"

/* Ask the peer to do @op; for its reply's address, pass @rep. */
static bool remote(struct loopback *lb, enum peer_op op, unsigned char *p,
		   size_t len, uint64_t arg, size_t pos, struct peer_msg *rep)
{
	struct peer_msg req = {
		.op = op, .addr = (uintptr_t)p, .len = len, .arg = arg, .pos = pos,
	};
	struct peer_msg r;

	return peer_call(lb->peer, &req, rep ? rep : &r);
}

bool target_check(struct loopback *lb, unsigned char *p, size_t len,
		  unsigned int seed, size_t pos, const char *what)
{
	if (lb->peer) {
		if (remote(lb, PEER_CHECK, p, len, seed, pos, NULL))
			return true;
		fprintf(stderr, "%s: the peer's CPU does not see the data\n", what);
		return false;
	}
	return pattern_check_at(p, len, seed, pos, what);
}

bool target_madvise(struct loopback *lb, unsigned char *p, size_t len,
		    int advice)
{
	if (lb->peer)
		return remote(lb, PEER_MADVISE, p, len, advice, 0, NULL);
	if (madvise(p, len, advice)) {
		perror("madvise");
		return false;
	}
	return true;
}

bool target_unmap_hole(struct loopback *lb, unsigned char *p, size_t len)
{
	if (lb->peer)
		return remote(lb, PEER_UNMAP_HOLE, p, len, 0, 0, NULL);
	munmap_hole(p, len);
	return true;
}

bool target_map(struct loopback *lb, unsigned char *p, size_t len)
{
	if (lb->peer)
		return remote(lb, PEER_MAP, p, len, 0, 0, NULL);
	map_anon(p, len);
	return true;
}

bool target_protect(struct loopback *lb, unsigned char *p, size_t len,
		    int prot)
{
	if (lb->peer)
		return remote(lb, PEER_PROTECT, p, len, prot, 0, NULL);
	if (mprotect(p, len, prot)) {
		perror("mprotect");
		return false;
	}
	return true;
}

/* Move @len bytes at @from to @to, replacing whatever was mapped there. */
static bool move(void *from, void *to, size_t len)
{
	void *p = mremap(from, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);

	if (p == MAP_FAILED) {
		perror("mremap");
		return false;
	}
	if (p != to) {
		fprintf(stderr, "mremap moved to %p, not %p\n", p, to);
		return false;
	}
	return true;
}

bool target_move_in(struct loopback *lb, unsigned char *p, size_t len,
		    unsigned int seed, size_t pos)
{
	unsigned char *other;

	if (lb->peer)
		return remote(lb, PEER_MOVE_IN, p, len, seed, pos, NULL);
	other = map_anon(NULL, len);
	pattern_fill_at(other, len, seed, pos);
	if (move(other, p, len))
		return true;
	munmap(other, len);
	return false;
}

unsigned char *target_move_out(struct loopback *lb, unsigned char *p,
			       size_t len)
{
	struct peer_msg rep;
	unsigned char *away;

	if (lb->peer)
		return remote(lb, PEER_MOVE_OUT, p, len, 0, 0, &rep) ?
		       (unsigned char *)(uintptr_t)rep.addr : NULL;
	away = map_anon(NULL, len);
	if (!move(p, away, len)) {
		munmap(away, len);
		return NULL;
	}
	hold_hole(p, len);
	return away;
}

bool target_unmap(struct loopback *lb, unsigned char *p, size_t len)
{
	if (lb->peer)
		return remote(lb, PEER_UNMAP, p, len, 0, 0, NULL);
	if (munmap(p, len)) {
		perror("munmap");
		return false;
	}
	return true;
}
