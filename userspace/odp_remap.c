// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_remap: an ODP MR follows the process's page tables.
 *
 *   odp_remap [-d ib_dev] [-g gid_idx] [--peer ADDR [-p port]]
 *             [kselftest harness options]
 *
 * The responder's MR covers NPAGES pages. Before each sub-case RDMA WRITE
 * and READ go over all of it, so that the device has every page mapped;
 * then the CPU changes PART_PAGES pages in the middle with munmap(),
 * madvise(MADV_DONTNEED), mprotect() or mremap(), and the next RDMA
 * operation must see exactly the new state:
 *
 *   dontneed        READ returns zeros; WRITE lands in the new pages
 *   munmap          WRITE and READ fail with a remote access error; once
 *                   the range is mapped again, READ returns its zeros
 *   prot_none       WRITE and READ fail with a remote access error; the
 *                   data is intact when the protection is restored
 *   prot_read       READ works; WRITE fails and changes nothing
 *   mremap_in       other pages moved into the range: READ returns their
 *                   bytes, WRITE lands in them
 *   mremap_out      the range's pages moved away: WRITE and READ fail,
 *                   and the moved pages do not receive the WRITE
 *
 * and the pages outside the part must keep working throughout. A remote
 * access error moves both RC QPs to the error state; they are replaced
 * by a freshly connected pair before the next operation.
 *
 * With --peer, the responder and its memory are odp_peer's on another
 * host (peer.h), and the CPU's changes happen there (target.h): the same
 * cases, over a wire.
 *
 * Each sub-case is a case of the harness, on a fresh fixture; they skip
 * where the device does not advertise RC ODP for WRITE and READ. (A
 * pinned MR keeps the pages it had at registration, so none of this holds
 * for one: there is no pinned variant.)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "harness.h"

#include "check.h"
#include "loopback.h"
#include "mirror.h"
#include "target.h"

#define NPAGES		16
#define PART_FIRST	5	/* the pages the CPU changes */
#define PART_PAGES	4

struct remap {
	struct loopback lb;
	struct mirror m;		/* the responder's memory and its mirrors */
	size_t page, size;		/* page size, NPAGES pages */
	unsigned char *tgt;		/* m.tgt */
};

static size_t part_off(struct remap *r)
{
	return PART_FIRST * r->page;
}

static size_t part_len(struct remap *r)
{
	return PART_PAGES * r->page;
}

/*
 * Fill the whole target with pattern @seed through RDMA WRITE and read it
 * back, so that the device has every page mapped for writing and reading
 * when the CPU changes some of them.
 */
static bool prime(struct remap *r, unsigned int seed)
{
	return mirror_write_ok(&r->m, 0, r->size, seed, "prime: WRITE all pages") &&
	       mirror_read_is(&r->m, 0, r->size, seed, "prime: READ all pages");
}

/* The pages outside the part still hold @seed and take WRITE and READ. */
static bool rest_works(struct remap *r, unsigned int seed, unsigned int wseed)
{
	size_t end = part_off(r) + part_len(r);

	return mirror_read_is(&r->m, 0, part_off(r), seed, "pages before the part: READ") &&
	       mirror_read_is(&r->m, end, r->size - end, seed, "pages after the part: READ") &&
	       mirror_write_ok(&r->m, 0, r->page, wseed, "first page: WRITE") &&
	       mirror_read_is(&r->m, 0, r->page, wseed, "first page: READ back") &&
	       mirror_write_ok(&r->m, r->size - r->page, r->page, wseed, "last page: WRITE") &&
	       mirror_read_is(&r->m, r->size - r->page, r->page, wseed, "last page: READ back");
}

/* The part takes a WRITE of @seed and returns it to a READ. */
static bool part_round_trips(struct remap *r, unsigned int seed)
{
	return mirror_write_ok(&r->m, part_off(r), part_len(r), seed, "part: WRITE") &&
	       mirror_read_is(&r->m, part_off(r), part_len(r), seed, "part: READ back");
}

/* Both RDMA directions on the part fail with a remote access error. */
static bool part_inaccessible(struct remap *r)
{
	return mirror_access_error(&r->m, IBV_WR_RDMA_WRITE, part_off(r), part_len(r),
				   "part: WRITE") &&
	       mirror_access_error(&r->m, IBV_WR_RDMA_READ, part_off(r), part_len(r),
				   "part: READ");
}

static bool case_dontneed(struct remap *r)
{
	if (!prime(r, 11) ||
	    !target_madvise(&r->lb, r->tgt + part_off(r), part_len(r), MADV_DONTNEED))
		return false;
	return mirror_read_zero(&r->m, part_off(r), part_len(r), "part: READ after DONTNEED") &&
	       rest_works(r, 11, 12) && part_round_trips(r, 13);
}

static bool case_munmap(struct remap *r)
{
	bool ok;

	if (!prime(r, 21) || !target_unmap_hole(&r->lb, r->tgt + part_off(r), part_len(r)))
		return false;
	ok = part_inaccessible(r) && rest_works(r, 21, 22);
	return target_map(&r->lb, r->tgt + part_off(r), part_len(r)) && ok && mirror_read_zero(&r->m, part_off(r), part_len(r), "part: READ after mmap") &&
	       part_round_trips(r, 23);
}

static bool protect_part(struct remap *r, int prot)
{
	return target_protect(&r->lb, r->tgt + part_off(r), part_len(r), prot);
}

static bool case_prot_none(struct remap *r)
{
	bool ok;

	if (!prime(r, 31) || !protect_part(r, PROT_NONE))
		return false;
	ok = part_inaccessible(r) && rest_works(r, 31, 32);
	if (!protect_part(r, PROT_READ | PROT_WRITE))
		exit(1);
	return ok && target_check(&r->lb, r->tgt + part_off(r), part_len(r), 31,
				  part_off(r), "part: CPU after PROT_NONE") &&
	       mirror_read_is(&r->m, part_off(r), part_len(r), 31, "part: READ after restore") &&
	       part_round_trips(r, 33);
}

static bool case_prot_read(struct remap *r)
{
	bool ok;

	if (!prime(r, 41) || !protect_part(r, PROT_READ))
		return false;
	ok = mirror_read_is(&r->m, part_off(r), part_len(r), 41, "part: READ of PROT_READ") &&
	     mirror_access_error(&r->m, IBV_WR_RDMA_WRITE, part_off(r), part_len(r),
				 "part: WRITE to PROT_READ") &&
	     target_check(&r->lb, r->tgt + part_off(r), part_len(r), 41, part_off(r),
			  "part: CPU after the refused WRITE") &&
	     mirror_read_is(&r->m, part_off(r), part_len(r), 41,
			    "part: READ after the refused WRITE") &&
	     rest_works(r, 41, 42);
	if (!protect_part(r, PROT_READ | PROT_WRITE))
		exit(1);
	return ok && part_round_trips(r, 43);
}

static bool case_mremap_in(struct remap *r)
{
	if (!prime(r, 52) ||
	    !target_move_in(&r->lb, r->tgt + part_off(r), part_len(r), 51, part_off(r)))
		return false;
	return mirror_read_is(&r->m, part_off(r), part_len(r), 51,
			      "part: READ of the moved pages") &&
	       rest_works(r, 52, 53) && part_round_trips(r, 54);
}

static bool case_mremap_out(struct remap *r)
{
	unsigned char *away;
	bool ok;

	if (!prime(r, 61))
		return false;
	away = target_move_out(&r->lb, r->tgt + part_off(r), part_len(r));
	if (!away)
		return false;
	ok = part_inaccessible(r) &&
	     target_check(&r->lb, away, part_len(r), 61, part_off(r),
			  "moved pages after the refused WRITE") &&
	     rest_works(r, 61, 62);
	if (!target_unmap(&r->lb, away, part_len(r)) ||
	    !target_map(&r->lb, r->tgt + part_off(r), part_len(r)))
		return false;
	return ok && mirror_read_zero(&r->m, part_off(r), part_len(r), "part: READ after mmap") &&
	       part_round_trips(r, 63);
}

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

FIXTURE(odp_remap) {
	struct remap r;
};

FIXTURE_SETUP(odp_remap)
{
	struct remap *r = &self->r;

	LOOPBACK_OPEN_OR_SKIP(&r->lb, &opts, true,
			      IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ);
	ASSERT_EQ(0, loopback_connect(&r->lb));
	r->page = sysconf(_SC_PAGESIZE);
	r->size = NPAGES * r->page;
	r->tgt = mirror_open_target(&r->m, &r->lb, r->size, true);
}

FIXTURE_TEARDOWN(odp_remap)
{
	struct remap *r = &self->r;

	mirror_close(&r->m);
	loopback_close(&r->lb);
	mirror_unmap(&r->m, r->size);
}

/* READ of the dropped pages returns zeros, WRITE/READ round-trip, rest intact. */
TEST_F(odp_remap, dontneed)
{
	EXPECT_TRUE(case_dontneed(&self->r));
}

/*
 * WRITE/READ of the unmapped pages fail with a remote access error, the
 * rest works, a new mapping reads as zeros.
 */
TEST_F(odp_remap, munmap)
{
	EXPECT_TRUE(case_munmap(&self->r));
}

/*
 * WRITE/READ of PROT_NONE pages fail with a remote access error, the rest
 * works, the data is intact after restoring.
 */
TEST_F(odp_remap, prot_none)
{
	EXPECT_TRUE(case_prot_none(&self->r));
}

/* READ of PROT_READ pages works, WRITE fails and changes nothing. */
TEST_F(odp_remap, prot_read)
{
	EXPECT_TRUE(case_prot_read(&self->r));
}

/* READ returns the bytes of pages moved into the range, WRITE lands in them. */
TEST_F(odp_remap, mremap_in)
{
	EXPECT_TRUE(case_mremap_in(&self->r));
}

/* WRITE/READ fail once the pages moved away; the moved pages keep their data. */
TEST_F(odp_remap, mremap_out)
{
	EXPECT_TRUE(case_mremap_out(&self->r));
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
