// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_bad: bad input against ODP MRs, each refused cleanly, nothing leaked.
 *
 *   odp_bad [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * Each case runs on a fresh fixture: the device opened, two connected RC
 * QPs, and NPAGES-page target, source and READ buffers under ODP MRs.
 *
 *   registration      ibv_reg_mr with IBV_ACCESS_ON_DEMAND, on a PD of its
 *                     own: a kernel-half address, a zero length, a range
 *                     that wraps, a range past the top of the user address
 *                     space and IBV_ACCESS_HUGETLB over memory that is not
 *                     hugetlb fail with the errno Documentation/rxe_odp.rst
 *                     gives (a wrap may also be EINVAL); flag combinations
 *                     the kernel refuses fail with some errno. Each errno
 *                     is printed. The PD then deallocates (no MR left on
 *                     it), the device's MR count is back and VmPin is 0.
 *   churn             CHURN_MRS ODP MRs of mixed sizes up to 64 MiB over
 *                     memory nobody touches, at most 8 alive at a time:
 *                     VmPin stays 0, VmRSS grows by less than 4 MiB, and
 *                     the device's MR count comes back.
 *   beyond_aligned_mr RDMA WRITE and READ reaching 1 byte or a page past
 *   beyond_odd_mr     the end of an ODP MR (or starting a byte before it),
 *                     for an MR on page boundaries and one with odd ends,
 *                     complete with IBV_WC_REM_ACCESS_ERR and change no
 *                     byte inside or around the MR.
 *   missing_rights    a WRITE to an ODP MR without IBV_ACCESS_REMOTE_WRITE
 *                     and a READ of one without IBV_ACCESS_REMOTE_READ do
 *                     the same; READ through the first works.
 *   local_sge         a WRITE, a SEND and a READ whose local SGE lies in
 *                     (or runs into) an munmapped part of a local ODP MR
 *                     complete with an error status and send nothing from
 *                     it. Documentation/rxe_odp.rst says
 *                     IBV_WC_LOC_PROT_ERR; where it is another status a
 *                     note says so (6.12's rxe requester flushes the WRITE
 *                     or SEND that failed, IBV_WC_WR_FLUSH_ERR, with pinned
 *                     MRs too; the READ response's copy gives
 *                     IBV_WC_LOC_PROT_ERR).
 *   recv_buffer       an RC receive buffer in (or running into) an
 *                     munmapped part gives the receiver a local error
 *                     completion (IBV_WC_LOC_PROT_ERR or
 *                     IBV_WC_LOC_QP_OP_ERR) and the sender an error
 *                     completion.
 *
 * Both munmap cases first WRITE from all of the local MR, so that the
 * device has every page mapped, and end by mapping the part again: WRITE
 * from all of it works. Every status is printed; the QPs are reconnected
 * after every error. Every case ends with a leak check in the fixture's
 * teardown: with the fixture's MRs deregistered, the device's MR count
 * (`rdma resource show`) is back where it was before the fixture opened
 * the device; with the device closed, so are its MR, QP and PD counts, and
 * VmPin is 0. A count that cannot be read fails the check.
 *
 * A case fails if any of its checks (printed as "# ok ..." or
 * "# FAIL ...") failed. All skip where the device does not advertise RC
 * ODP for SEND, RECV, WRITE and READ.
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

#define MiB		(1ul << 20)
#define CHURN_MRS	1000		/* MRs the churn registers */
#define CHURN_MAX	(64 * MiB)	/* the churn's largest MR */
#define CHURN_LIVE	8		/* MRs alive at once in the churn */
#define RSS_SLACK_KB	4096		/* VmRSS growth the churn may cause */
#define NPAGES		16		/* the data cases' buffers */
#define HOLE_FIRST	5		/* the local MR's munmapped pages */
#define HOLE_PAGES	4
#define CASE_TIMEOUT	300		/* s; the debug kernel is ~10x slower */

/* What the leak check counts, by their `rdma resource show` names. */

struct bad {
	struct loopback lb;
	struct mirror m;		/* tgt (through m.rkey, the MR a case
					 * aims at), ODP src and dst */
	size_t page, size;		/* page size, NPAGES pages */
	unsigned char *tgt;		/* the responder's memory */
	unsigned char *loc;		/* the munmap cases' local memory */
	struct ibv_mr *lmr;		/* ODP, local write only, over loc */
	struct res_counts count;	/* before the fixture opened the device */
};

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

static const char *errno_name(int e)
{
	const char *n = e ? strerrorname_np(e) : "no errno";

	return n ? n : "unknown errno";
}

/* --- registration --- */

/*
 * Register [@addr, @addr + @len) with @access on @pd: it must fail with
 * @want (or @alt, when not 0). Any other errno fails too, and says so.
 */
static void reg_refused(struct ibv_pd *pd, void *addr, size_t len, int access,
			int want, int alt, const char *what)
{
	const char *or = alt ? " or " : "", *alt_name = alt ? errno_name(alt) : "";
	struct ibv_mr *mr;
	int e;

	errno = 0;
	mr = ibv_reg_mr(pd, addr, len, access);
	e = errno;
	if (mr) {
		ibv_dereg_mr(mr);
		expect(false, "reg: %s: refused (it was registered)", what);
		return;
	}
	printf("# errno %d %s (%s), documented: %s%s%s\n", e, errno_name(e),
	       strerror(e), errno_name(want), or, alt_name);
	expect(e == want || (alt && e == alt), "reg: %s: refused with %s%s%s",
	       what, errno_name(want), or, alt_name);
}

/*
 * A flag combination the kernel should refuse: fails only if it was
 * registered. Says whether the errno is the one the kernel would give.
 */
static void reg_flags_refused(struct ibv_pd *pd, void *addr, size_t len,
			      int access, int kernel_errno, const char *why,
			      const char *what)
{
	struct ibv_mr *mr;
	int e;

	errno = 0;
	mr = ibv_reg_mr(pd, addr, len, access);
	e = errno;
	if (mr)
		ibv_dereg_mr(mr);
	else
		printf("# errno %d %s (%s); the kernel's answer would be %s (%s)\n",
		       e, errno_name(e), strerror(e), errno_name(kernel_errno), why);
	expect(!mr, "reg: %s (access %#x): refused", what, access);
}

/* The device's MR count is @mrs again (and could be read at all). */
static void mr_count_back(const char *who, long mrs)
{
	long now = rdma_res_count(opts.dev, "mr");

	expect(mrs >= 0 && now == mrs, "%s: %s's MR count is back at %ld (now %ld)",
	       who, opts.dev, mrs, now);
}

static void registration(struct bad *b)
{
	size_t len = 16 * b->page;
	unsigned char *anon = map_anon(NULL, len);
	unsigned char *big = malloc(MiB), *small = malloc(16384);
	long mrs = rdma_res_count(opts.dev, "mr");
	struct ibv_pd *pd = ibv_alloc_pd(b->lb.ctx);
	int odp = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND;
	int ret;

	if (!pd || !big || !small) {
		perror("ibv_alloc_pd/malloc");
		exit(1);
	}
	reg_refused(pd, (void *)0xffff888000000000ul, MiB, odp, EFAULT, 0,
		    "a kernel-half address (0xffff888000000000, 1 MiB)");
	reg_refused(pd, anon, 0, odp, EINVAL, 0, "zero length");
	reg_refused(pd, (void *)(~0ul - 4095), 8192, odp, EOVERFLOW, EINVAL,
		    "a range that wraps (0xfffffffffffff000, 8 KiB)");
	reg_refused(pd, (void *)(0x7ffffffff000ul - 4096), 8192, odp, EFAULT, 0,
		    "a range past the top of user space (0x7fffffffe000, 8 KiB)");
	reg_refused(pd, anon, len, odp | IBV_ACCESS_HUGETLB, EINVAL, 0,
		    "IBV_ACCESS_HUGETLB over anonymous mmap memory");
	reg_refused(pd, big, MiB, odp | IBV_ACCESS_HUGETLB, EINVAL, 0,
		    "IBV_ACCESS_HUGETLB over malloc(1 MiB) memory");
	reg_refused(pd, small, 16384, odp | IBV_ACCESS_HUGETLB, EINVAL, 0,
		    "IBV_ACCESS_HUGETLB over malloc(16 KiB) memory");

	reg_flags_refused(pd, anon, len,
			  IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_ON_DEMAND, EINVAL,
			  "remote write needs local write",
			  "ODP, REMOTE_WRITE without LOCAL_WRITE");
	reg_flags_refused(pd, anon, len,
			  IBV_ACCESS_REMOTE_ATOMIC | IBV_ACCESS_ON_DEMAND, EINVAL,
			  "remote atomic needs local write",
			  "ODP, REMOTE_ATOMIC without LOCAL_WRITE");
	reg_flags_refused(pd, anon, len, odp | IBV_ACCESS_ZERO_BASED,
			  EOPNOTSUPP, "rxe takes ZERO_BASED for MWs only",
			  "ODP with ZERO_BASED");
	reg_flags_refused(pd, anon, len, odp | (1 << 15), EINVAL,
			  "bit 15 is no access flag", "ODP with unknown bit 15");
	reg_flags_refused(pd, anon, len,
			  IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_HUGETLB, EOPNOTSUPP,
			  "HUGETLB is for ODP MRs only",
			  "HUGETLB without ON_DEMAND");

	errno = 0;
	ret = ibv_dealloc_pd(pd);
	expect(ret == 0, "reg: the PD of the refused registrations deallocates "
	       "(no MR left on it)%s%s", ret ? ": " : "", ret ? strerror(errno) : "");
	mr_count_back("reg", mrs);
	expect(vm_pinned_kb() == 0, "reg: VmPin is 0 (%ld kB)", vm_pinned_kb());
	free(big);
	free(small);
	munmap(anon, len);
}

/* --- churn --- */

/* The length of the churn's MR @i: 1 byte to 64 MiB, odd and even. */
static size_t churn_len(unsigned int i)
{
	static const size_t lens[] = {
		1, 4096, 4097, 65536, MiB - 3, 2 * MiB, 8 * MiB + 4095,
		33 * MiB, CHURN_MAX - 4096, CHURN_MAX,
	};
	return lens[i % (sizeof(lens) / sizeof(lens[0]))];
}

static void churn(struct bad *b, unsigned int n)
{
	unsigned char *buf = mmap(NULL, CHURN_MAX, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct ibv_mr *live[CHURN_LIVE] = { 0 };
	long mrs = rdma_res_count(opts.dev, "mr");
	long rss0, rss1, slab0, vm0, pin, max_pin = 0;
	unsigned int i, failed = 0, no_pin = 0, slot;

	if (buf == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	rss0 = proc_field("/proc/self/status", "VmRSS");
	slab0 = proc_field("/proc/meminfo", "Slab");
	vm0 = proc_field("/proc/meminfo", "VmallocUsed");
	for (i = 0; i < n; i++) {
		size_t len = churn_len(i);
		size_t off = len <= CHURN_MAX - b->page ? (i * 4099ul) % b->page : 0;

		slot = i % CHURN_LIVE;
		if (live[slot] && ibv_dereg_mr(live[slot])) {
			perror("ibv_dereg_mr");
			failed++;
		}
		live[slot] = ibv_reg_mr(b->lb.pd, buf + off, len,
					IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND);
		if (!live[slot] && failed++ < 5)
			fprintf(stderr, "churn: MR %u (+%zu, %zu bytes): %s\n", i,
				off, len, strerror(errno));
		pin = vm_pinned_kb();
		if (pin < 0)
			no_pin++;
		else if (pin > max_pin)
			max_pin = pin;
	}
	for (slot = 0; slot < CHURN_LIVE; slot++)
		if (live[slot] && ibv_dereg_mr(live[slot]))
			failed++;
	rss1 = proc_field("/proc/self/status", "VmRSS");
	expect(!failed, "churn: %u ODP MRs of 1 byte to 64 MiB registered and "
	       "deregistered (%u failures)", n, failed);
	expect(!no_pin && max_pin == 0, "churn: VmPin stayed 0 (at most %ld kB, "
	       "unreadable %u times)", max_pin, no_pin);
	expect(rss0 >= 0 && rss1 >= 0 && rss1 - rss0 < RSS_SLACK_KB,
	       "churn: VmRSS grew by %ld kB (limit %d kB)", rss1 - rss0,
	       RSS_SLACK_KB);
	mr_count_back("churn", mrs);
	printf("# kernel memory after the churn: Slab %+ld kB, VmallocUsed %+ld kB\n",
	       proc_field("/proc/meminfo", "Slab") - slab0,
	       proc_field("/proc/meminfo", "VmallocUsed") - vm0);
	munmap(buf, CHURN_MAX);
}

/* --- remote access --- */

/* WRITE then READ back target bytes [@off, @off + @len) through m.rkey. */
static bool round_trip(struct bad *b, size_t off, size_t len, unsigned int seed,
		       const char *what)
{
	return mirror_write_ok(&b->m, off, len, seed, what) &&
	       mirror_read_is(&b->m, off, len, seed, what);
}

/* Both operations on target bytes [@off, @off + @len) must be refused. */
static void both_refused(struct bad *b, size_t off, size_t len, const char *name,
			 const char *range)
{
	static const enum ibv_wr_opcode ops[] = { IBV_WR_RDMA_WRITE, IBV_WR_RDMA_READ };
	char what[160];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		snprintf(what, sizeof(what), "%s: %s of %s", name,
			 i ? "READ" : "WRITE", range);
		expect(mirror_access_error(&b->m, ops[i], off, len, what),
		       "%s: IBV_WC_REM_ACCESS_ERR", what);
	}
}

/*
 * An ODP MR over [@off, @off + @len) of the target, inside a mapping that
 * goes on around it. Each operation ends past the MR (or starts before
 * it); none may change a byte of the target, in or around the MR.
 */
static void beyond_end(struct bad *b, size_t off, size_t len, const char *name)
{
	struct ibv_mr *mr = mirror_reg(&b->lb, b->tgt + off, len, true);
	size_t page = b->page, end = off + len;
	unsigned int seed = 300 + (unsigned int)off;

	b->m.rkey = mr->rkey;
	/* The MR's pages are mapped on the device first: the range check alone refuses. */
	pattern_fill(b->tgt, b->size, seed);
	expect(round_trip(b, off, len, seed, "prime the MR"),
	       "%s: WRITE/READ of all of the MR", name);
	both_refused(b, end - 2 * page + 1, 2 * page, name,
		     "8 KiB ending 1 byte past the end");
	both_refused(b, end - page, 2 * page, name, "8 KiB ending a page past the end");
	both_refused(b, end, 1, name, "1 byte just past the end");
	both_refused(b, off - 1, page, name, "4 KiB starting 1 byte before the start");
	expect(pattern_check(b->tgt, b->size, seed, "target after the refused operations"),
	       "%s: no byte of the MR or around it changed", name);
	expect(round_trip(b, off, len, seed + 1, "after the errors"),
	       "%s: reconnected QPs WRITE/READ all of the MR", name);
	loopback_dereg(mr);
}

static struct ibv_mr *reg(struct bad *b, void *buf, size_t len, int access)
{
	struct ibv_mr *mr = ibv_reg_mr(b->lb.pd, buf, len, access);

	if (!mr) {
		perror("ibv_reg_mr");
		exit(1);
	}
	return mr;
}

static void missing_rights(struct bad *b)
{
	size_t off = 2 * b->page, len = 4 * b->page;
	int odp = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND;
	struct ibv_mr *ro = reg(b, b->tgt + off, len, odp | IBV_ACCESS_REMOTE_READ);
	struct ibv_mr *wo = reg(b, b->tgt + off, len, odp | IBV_ACCESS_REMOTE_WRITE);
	const char *w = "rights: WRITE to an ODP MR without REMOTE_WRITE";
	const char *r = "rights: READ of an ODP MR without REMOTE_READ";

	pattern_fill(b->tgt, b->size, 400);
	b->m.rkey = ro->rkey;
	expect(mirror_access_error(&b->m, IBV_WR_RDMA_WRITE, off, len, w),
	       "%s: IBV_WC_REM_ACCESS_ERR", w);
	expect(pattern_check(b->tgt, b->size, 400, "target after the refused WRITE"),
	       "rights: the refused WRITE changed nothing");
	expect(mirror_read_is(&b->m, off, len, 400, "READ through the read-only MR"),
	       "rights: READ through that MR works");
	b->m.rkey = wo->rkey;
	expect(mirror_access_error(&b->m, IBV_WR_RDMA_READ, off, len, r),
	       "%s: IBV_WC_REM_ACCESS_ERR", r);
	loopback_dereg(ro);
	loopback_dereg(wo);
}

/* --- local faults --- */

static void reconnect(struct bad *b)
{
	if (loopback_reconnect(&b->lb)) {
		fprintf(stderr, "cannot reconnect the QPs after an error\n");
		exit(1);
	}
}

/*
 * Post one send-queue request with a single SGE (@local, @lkey, @len) and
 * wait for its completion; the QPs are replaced after anything but success.
 */
static int post_send_wait(struct bad *b, enum ibv_wr_opcode op, void *local,
			  uint32_t lkey, size_t len, void *remote)
{
	static uint64_t id = 2000000;
	struct ibv_sge sge = { .addr = (uintptr_t)local, .length = len, .lkey = lkey };
	struct ibv_send_wr wr = {
		.wr_id = ++id, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.wr.rdma = { .remote_addr = (uintptr_t)remote, .rkey = b->m.tmr->rkey },
	};
	struct ibv_wc wc;
	int st = -1;

	if (!loopback_post_wait(&b->lb, &wr, &wc))
		st = wc.status;
	if (st != IBV_WC_SUCCESS)
		reconnect(b);
	return st;
}

static void post_recv(struct bad *b, uint64_t id, void *buf, uint32_t lkey,
		      size_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = len, .lkey = lkey };
	struct ibv_recv_wr wr = { .wr_id = id, .sg_list = &sge, .num_sge = 1 }, *bad;

	if (ibv_post_recv(b->lb.qp[1], &wr, &bad)) {
		perror("ibv_post_recv");
		exit(1);
	}
}

/* Wait for the completions of @n work requests (@ids), any order. */
static bool wait_ids(struct bad *b, const uint64_t *ids, int *status, int n)
{
	int got = 0, i;
	struct ibv_wc wc;

	for (i = 0; i < n; i++)
		status[i] = -1;
	while (got < n) {
		if (loopback_poll(&b->lb, &wc, 20000)) {
			fprintf(stderr, "no completion within 20 s\n");
			return false;
		}
		for (i = 0; i < n; i++)
			if (wc.wr_id == ids[i] && status[i] < 0)
				break;
		if (i == n) {
			printf("# (other completion: wr %llu, %s)\n",
			       (unsigned long long)wc.wr_id, ibv_wc_status_str(wc.status));
			continue;
		}
		status[i] = wc.status;
		got++;
	}
	return true;
}

static size_t hole_off(struct bad *b)
{
	return HOLE_FIRST * b->page;
}

static size_t hole_len(struct bad *b)
{
	return HOLE_PAGES * b->page;
}

/* WRITE all of the local MR, filled with @seed, to the target. */
static void write_all(struct bad *b, unsigned int seed, const char *what)
{
	int st;

	pattern_fill(b->loc, b->size, seed);
	st = post_send_wait(b, IBV_WR_RDMA_WRITE, b->loc, b->lmr->lkey, b->size,
			    b->tgt);
	expect(st == IBV_WC_SUCCESS && pattern_check(b->tgt, b->size, seed, "target"),
	       "local: %s, WRITE from all of the local ODP MR works (%s)", what,
	       wc_status_name(st));
}

/*
 * The local ODP MR, every page of it mapped on the device by a WRITE from
 * all of it, then the hole munmapped; the target holds pattern 601.
 */
static void hole_open(struct bad *b)
{
	b->loc = map_anon(NULL, b->size);
	b->lmr = reg(b, b->loc, b->size, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND);
	write_all(b, 600, "before the munmap");
	munmap_hole(b->loc + hole_off(b), hole_len(b));
	pattern_fill(b->tgt, b->size, 601);
}

/* Map the hole again: the MR works as a whole. */
static void hole_close(struct bad *b)
{
	map_anon(b->loc + hole_off(b), hole_len(b));
	write_all(b, 602, "with the part mapped again");
}

/*
 * One send-queue request whose local SGE is at @loff, @len bytes, in the
 * local MR: it must complete with an error status (documented:
 * IBV_WC_LOC_PROT_ERR). A SEND gets a good receive buffer.
 */
static void local_fault(struct bad *b, enum ibv_wr_opcode op, size_t loff,
			size_t len, const char *what)
{
	int st;

	if (op == IBV_WR_SEND)
		post_recv(b, 1, b->tgt, b->m.tmr->lkey, b->size);
	st = post_send_wait(b, op, b->loc + loff, b->lmr->lkey, len, b->tgt + loff);
	printf("# %s: %s\n", what, wc_status_name(st));
	if (st > IBV_WC_SUCCESS && st != IBV_WC_LOC_PROT_ERR)
		printf("# note: Documentation/rxe_odp.rst says %s\n",
		       ibv_wc_status_str(IBV_WC_LOC_PROT_ERR));
	expect(st > IBV_WC_SUCCESS, "%s: completes with an error status", what);
}

/*
 * An RC SEND of @slen bytes into a receive buffer at @roff (@rlen bytes)
 * of the local MR: the receiver must complete its receive with a local
 * error, the sender with some error.
 */
static void recv_fault(struct bad *b, size_t roff, size_t rlen, size_t slen,
		       const char *what)
{
	static const uint64_t ids[2] = { 7001, 7002 };	/* receive, send */
	struct ibv_sge sge = { .addr = (uintptr_t)b->m.src, .length = slen,
			       .lkey = b->m.smr->lkey };
	struct ibv_send_wr wr = { .wr_id = ids[1], .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND }, *bad;
	int st[2];
	bool ok;

	pattern_fill(b->m.src, slen, 500);
	post_recv(b, ids[0], b->loc + roff, b->lmr->lkey, rlen);
	if (ibv_post_send(b->lb.qp[0], &wr, &bad)) {
		perror("ibv_post_send");
		exit(1);
	}
	ok = wait_ids(b, ids, st, 2);
	printf("# %s: receiver %s, sender %s (documented: receiver %s or %s, "
	       "sender an error from the NAK)\n", what, wc_status_name(st[0]),
	       wc_status_name(st[1]), ibv_wc_status_str(IBV_WC_LOC_PROT_ERR),
	       ibv_wc_status_str(IBV_WC_LOC_QP_OP_ERR));
	expect(ok && (st[0] == IBV_WC_LOC_PROT_ERR || st[0] == IBV_WC_LOC_QP_OP_ERR),
	       "%s: the receive completes with a local error", what);
	expect(ok && st[1] != IBV_WC_SUCCESS && st[1] != IBV_WC_WR_FLUSH_ERR,
	       "%s: the sender gets an error completion", what);
	reconnect(b);
}

static void local_sge(struct bad *b)
{
	size_t page = b->page, hole = hole_off(b);

	local_fault(b, IBV_WR_RDMA_WRITE, hole, hole_len(b),
		    "local: WRITE from the munmapped part");
	local_fault(b, IBV_WR_RDMA_WRITE, hole - 2 * page, 4 * page,
		    "local: WRITE from 2 mapped pages running into the munmapped part");
	local_fault(b, IBV_WR_SEND, hole + page, 100,
		    "local: SEND from the munmapped part");
	local_fault(b, IBV_WR_RDMA_READ, hole, 2 * page,
		    "local: READ into the munmapped part");
	/* Only the 2 mapped pages may have gone out before the error. */
	expect(pattern_check(b->tgt, hole - 2 * page, 601, "target before") &&
	       pattern_check_at(b->tgt + hole, b->size - hole, 601, hole,
				"target from the munmapped part's offset on"),
	       "local: the refused WRITEs and SEND wrote nothing from the "
	       "munmapped part");
}

static void recv_buffer(struct bad *b)
{
	size_t page = b->page, hole = hole_off(b);

	recv_fault(b, hole + 8, 4096, 4096,
		   "recv: SEND into a receive buffer in the munmapped part");
	recv_fault(b, hole - page, 3 * page, 3 * page,
		   "recv: 3-page SEND into a receive buffer running into the "
		   "munmapped part");
}

/* --- the fixture --- */

FIXTURE(bad) {
	struct bad b;
};

FIXTURE_SETUP(bad)
{
	struct bad *b = &self->b;

	b->count = rdma_res_counts(opts.dev);
	LOOPBACK_OPEN_OR_SKIP(&b->lb, &opts, true,
			      IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV |
			      IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ);
	ASSERT_EQ(0, loopback_connect(&b->lb));
	b->page = sysconf(_SC_PAGESIZE);
	b->size = NPAGES * b->page;
	b->tgt = mirror_open_target(&b->m, &b->lb, b->size, true);
}

/*
 * Close everything; then nothing the fixture made may be left over. The
 * case's verdict, its checks' and these, is taken here.
 */
FIXTURE_TEARDOWN(bad)
{
	struct bad *b = &self->b;
	struct res_counts now = { -1, -1, -1 };
	bool back;

	loopback_dereg(b->lmr);
	mirror_close(&b->m);
	/* Closing the device frees what is left: a case's MR shows only here. */
	mr_count_back("end, the device still open", b->count.mr);
	loopback_close(&b->lb);
	munmap(b->tgt, b->size);
	munmap(b->m.src, b->size);
	munmap(b->m.dst, b->size);
	if (b->loc)
		munmap(b->loc, b->size);

	back = rdma_res_counts_back(opts.dev, &b->count, &now, 0);
	expect(back, "end: %s's MR, QP and PD counts are back at %ld, %ld, %ld (now "
	       "%ld, %ld, %ld)", opts.dev, b->count.mr, b->count.qp,
	       b->count.pd, now.mr, now.qp, now.pd);
	expect(vm_pinned_kb() == 0, "end: VmPin is 0 (%ld kB)", vm_pinned_kb());
	EXPECT_EQ(0, expect_failures());
}

TEST_F_TIMEOUT(bad, registration, CASE_TIMEOUT)
{
	registration(&self->b);
}

TEST_F_TIMEOUT(bad, churn, CASE_TIMEOUT)
{
	churn(&self->b, CHURN_MRS);
}

TEST_F_TIMEOUT(bad, beyond_aligned_mr, CASE_TIMEOUT)
{
	beyond_end(&self->b, 4 * self->b.page, 4 * self->b.page,
		   "beyond a page-aligned MR");
}

TEST_F_TIMEOUT(bad, beyond_odd_mr, CASE_TIMEOUT)
{
	beyond_end(&self->b, 4 * self->b.page + 64, 4 * self->b.page - 164,
		   "beyond an MR with odd ends");
}

TEST_F_TIMEOUT(bad, missing_rights, CASE_TIMEOUT)
{
	missing_rights(&self->b);
}

TEST_F_TIMEOUT(bad, local_sge, CASE_TIMEOUT)
{
	hole_open(&self->b);
	local_sge(&self->b);
	hole_close(&self->b);
}

TEST_F_TIMEOUT(bad, recv_buffer, CASE_TIMEOUT)
{
	hole_open(&self->b);
	recv_buffer(&self->b);
	hole_close(&self->b);
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
