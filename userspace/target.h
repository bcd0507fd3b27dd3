/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * What the CPU does to the responder's memory while the device uses it,
 * wherever that memory is: in this process (lb->peer is NULL), or in the
 * process of the peer on another host (peer.h), which runs these same
 * functions on its own memory when asked. Addresses are the responder's:
 * ours, or the peer's as it reported them (PEER_TARGET), never touched
 * here in the latter case.
 *
 * Each returns whether it worked, saying why not on stderr (the peer's
 * stderr for the peer's part).
 */
#ifndef TARGET_H
#define TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "loopback.h"

/* The CPU sees pattern @seed, at position @pos on, in @len bytes at @p. */
bool target_check(struct loopback *lb, unsigned char *p, size_t len,
		  unsigned int seed, size_t pos, const char *what);

bool target_madvise(struct loopback *lb, unsigned char *p, size_t len,
		    int advice);

/* Unmap, holding the hole (munmap_hole() of check.h). */
bool target_unmap_hole(struct loopback *lb, unsigned char *p, size_t len);

/* Map fresh anonymous memory at @p, over whatever was there. */
bool target_map(struct loopback *lb, unsigned char *p, size_t len);

bool target_protect(struct loopback *lb, unsigned char *p, size_t len,
		    int prot);

/* Move other pages, holding pattern @seed from @pos, to @p (mremap). */
bool target_move_in(struct loopback *lb, unsigned char *p, size_t len,
		    unsigned int seed, size_t pos);

/*
 * Move the pages at @p elsewhere (mremap), holding the hole; returns
 * where they went, for target_check() and target_unmap(), or NULL.
 */
unsigned char *target_move_out(struct loopback *lb, unsigned char *p,
			       size_t len);

bool target_unmap(struct loopback *lb, unsigned char *p, size_t len);

#endif
