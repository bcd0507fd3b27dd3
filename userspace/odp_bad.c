// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_bad: bad input against ODP MRs, each refused cleanly, nothing leaked.
 *
 *   odp_bad [-d dev] [-g gid_index] [-n mrs]
 *
 * Registration (ibv_reg_mr with IBV_ACCESS_ON_DEMAND, on a PD of its own):
 * a kernel-half address, a zero length, a range that wraps, a range past
 * the top of the user address space and IBV_ACCESS_HUGETLB over memory that
 * is not hugetlb must fail with the errno Documentation/rxe_odp.rst gives
 * (a wrap may also be EINVAL); flag combinations the kernel refuses must
 * fail with some errno. Each errno is printed. Afterwards the PD must
 * deallocate (no MR left on it), the device's MR count must be back where
 * it was, and VmPin must still be 0.
 *
 * Churn: -n (default 1000) ODP MRs of mixed sizes up to 64 MiB over memory
 * nobody touches, at most 8 alive at a time: VmPin stays 0, VmRSS grows by
 * less than 4 MiB, and the device's MR count comes back.
 *
 * Remote access: RDMA WRITE and READ reaching 1 byte or a page past the
 * end of an ODP MR (or starting a byte before it), for an MR on page
 * boundaries and one with odd ends, complete with IBV_WC_REM_ACCESS_ERR and
 * change no byte inside or around the MR; a WRITE to an ODP MR without
 * IBV_ACCESS_REMOTE_WRITE and a READ of one without IBV_ACCESS_REMOTE_READ
 * do the same. The QPs are reconnected after every error.
 *
 * Local faults: a WRITE, a SEND and a READ whose local SGE lies in (or
 * runs into) an munmapped part of a local ODP MR complete with an error
 * status. Documentation/rxe_odp.rst says IBV_WC_LOC_PROT_ERR; where it is
 * another status a note says so (6.12's rxe requester flushes the WRITE or
 * SEND that failed, IBV_WC_WR_FLUSH_ERR, with pinned MRs too; the READ
 * response's copy gives IBV_WC_LOC_PROT_ERR). An RC receive buffer in an
 * munmapped part gives the receiver a local error completion
 * (IBV_WC_LOC_PROT_ERR or IBV_WC_LOC_QP_OP_ERR) and the sender an error
 * completion. Every status is printed. Finally WRITE and READ still work.
 *
 * Exit 0 when every check passed, 77 when the device does not advertise
 * RC ODP for SEND, RECV, WRITE and READ, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "loopback.h"

#define MiB		(1ul << 20)
#define CHURN_MAX	(64 * MiB)	/* the churn's largest MR */
#define CHURN_LIVE	8		/* MRs alive at once in the churn */
#define RSS_SLACK_KB	4096		/* VmRSS growth the churn may cause */
#define NPAGES		16		/* the data cases' buffers */

#define ODP_RW		(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND)

struct bad {
	struct loopback lb;
	const char *dev;
	size_t page, size;		/* page size, NPAGES pages */
	unsigned char *tgt, *src, *dst;	/* remote target, WRITE source, READ sink */
	struct ibv_mr *smr, *dmr;	/* ODP, over all of src and dst */
};

/* --- small helpers --- */

static struct ibv_mr *reg(struct bad *b, void *buf, size_t len, int access)
{
	struct ibv_mr *mr = ibv_reg_mr(b->lb.pd, buf, len, access);

	if (!mr) {
		perror("ibv_reg_mr");
		exit(1);
	}
	return mr;
}

static const char *errno_name(int e)
{
	const char *n = e ? strerrorname_np(e) : "no errno";

	return n ? n : "unknown errno";
}

/* A line of /proc/self/status ("VmRSS", ...) in kB, or -1. */
/* A line of /proc/meminfo in kB, or -1. */
/* --- registration --- */

/*
 * Register [@addr, @addr + @len) with @access on @pd: it must fail with
 * @want (or @alt, when not 0). Any other errno fails too, and says so.
 */
static void reg_refused(struct ibv_pd *pd, void *addr, size_t len, int access,
			int want, int alt, const char *what)
{
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
	printf("  errno %d %s (%s), documented: %s%s%s\n", e, errno_name(e),
	       strerror(e), errno_name(want), alt ? " or " : "",
	       alt ? errno_name(alt) : "");
	expect(e == want || (alt && e == alt), "reg: %s: refused with %s%s%s",
	       what, errno_name(want), alt ? " or " : "", alt ? errno_name(alt) : "");
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
		printf("  errno %d %s (%s); the kernel's answer would be %s (%s)\n",
		       e, errno_name(e), strerror(e), errno_name(kernel_errno), why);
	expect(!mr, "reg: %s (access %#x): refused", what, access);
}

static void registration(struct bad *b)
{
	size_t page = b->page;
	unsigned char *anon = map_anon(NULL, 16 * page);
	unsigned char *big = malloc(MiB), *small = malloc(16384);
	long mrs = rdma_res_count(b->dev, "mr");
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
	reg_refused(pd, anon, 16 * page, odp | IBV_ACCESS_HUGETLB, EINVAL, 0,
		    "IBV_ACCESS_HUGETLB over anonymous mmap memory");
	reg_refused(pd, big, MiB, odp | IBV_ACCESS_HUGETLB, EINVAL, 0,
		    "IBV_ACCESS_HUGETLB over malloc(1 MiB) memory");
	reg_refused(pd, small, 16384, odp | IBV_ACCESS_HUGETLB, EINVAL, 0,
		    "IBV_ACCESS_HUGETLB over malloc(16 KiB) memory");

	reg_flags_refused(pd, anon, 16 * page,
			  IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_ON_DEMAND, EINVAL,
			  "remote write needs local write",
			  "ODP, REMOTE_WRITE without LOCAL_WRITE");
	reg_flags_refused(pd, anon, 16 * page,
			  IBV_ACCESS_REMOTE_ATOMIC | IBV_ACCESS_ON_DEMAND, EINVAL,
			  "remote atomic needs local write",
			  "ODP, REMOTE_ATOMIC without LOCAL_WRITE");
	reg_flags_refused(pd, anon, 16 * page, odp | IBV_ACCESS_ZERO_BASED,
			  EOPNOTSUPP, "rxe takes ZERO_BASED for MWs only",
			  "ODP with ZERO_BASED");
	reg_flags_refused(pd, anon, 16 * page, odp | (1 << 15), EINVAL,
			  "bit 15 is no access flag", "ODP with unknown bit 15");
	reg_flags_refused(pd, anon, 16 * page,
			  IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_HUGETLB, EOPNOTSUPP,
			  "HUGETLB is for ODP MRs only",
			  "HUGETLB without ON_DEMAND");

	errno = 0;
	ret = ibv_dealloc_pd(pd);
	expect(ret == 0, "reg: the PD of the refused registrations deallocates "
	       "(no MR left on it)%s%s", ret ? ": " : "", ret ? strerror(errno) : "");
	expect(mrs >= 0 && rdma_res_count(b->dev, "mr") == mrs,
	       "reg: %s's MR count is back at %ld", b->dev, mrs);
	expect(vm_pinned_kb() == 0, "reg: VmPin is 0 (%ld kB)", vm_pinned_kb());
	free(big);
	free(small);
	munmap(anon, 16 * page);
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
	long mrs = rdma_res_count(b->dev, "mr");
	long rss0, rss1, slab0, vm0, pin, max_pin = 0;
	unsigned int i, failed = 0, slot;

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
		if (pin > max_pin)
			max_pin = pin;
	}
	for (slot = 0; slot < CHURN_LIVE; slot++)
		if (live[slot] && ibv_dereg_mr(live[slot]))
			failed++;
	rss1 = proc_field("/proc/self/status", "VmRSS");
	expect(!failed, "churn: %u ODP MRs of 1 byte to 64 MiB registered and "
	       "deregistered (%u failures)", n, failed);
	expect(max_pin == 0, "churn: VmPin stayed 0 (at most %ld kB)", max_pin);
	if (rss0 >= 0 && rss1 >= 0)
		expect(rss1 - rss0 < RSS_SLACK_KB, "churn: VmRSS grew by %ld kB "
		       "(limit %d kB)", rss1 - rss0, RSS_SLACK_KB);
	expect(mrs >= 0 && rdma_res_count(b->dev, "mr") == mrs,
	       "churn: %s's MR count is back at %ld", b->dev, mrs);
	printf("  kernel memory after the churn: Slab %+ld kB, VmallocUsed %+ld kB\n",
	       proc_field("/proc/meminfo", "Slab") - slab0, proc_field("/proc/meminfo", "VmallocUsed") - vm0);
	munmap(buf, CHURN_MAX);
}

/* --- remote access --- */

/*
 * One RDMA WRITE or READ between the requester's buffers (same offset
 * @loff) and @remote with @rkey, waited for. An error completion leaves
 * the QPs in the error state: they are replaced by a connected pair.
 */
static int rdma(struct bad *b, enum ibv_wr_opcode op, size_t loff,
		void *remote, uint32_t rkey, size_t len)
{
	bool wr = op == IBV_WR_RDMA_WRITE;
	int st;

	st = loopback_rdma(&b->lb, op, (wr ? b->src : b->dst) + loff,
			   wr ? b->smr->lkey : b->dmr->lkey, remote, rkey, len);
	if (st != IBV_WC_SUCCESS && loopback_reconnect(&b->lb)) {
		fprintf(stderr, "cannot reconnect the QPs after an error\n");
		exit(1);
	}
	return st;
}

/* @op on [@remote, @remote + @len) must complete with a remote access error. */
static bool rem_access_err(struct bad *b, enum ibv_wr_opcode op, void *remote,
			   uint32_t rkey, size_t len, const char *what)
{
	int st;

	if (op == IBV_WR_RDMA_WRITE)
		pattern_fill(b->src, len, 0xbad);
	st = rdma(b, op, 0, remote, rkey, len);
	printf("  %s: %s\n", what, wc_status_name(st));
	return st == IBV_WC_REM_ACCESS_ERR;
}

/* WRITE then READ back [@off, @off + @len) of the target through @mr. */
static bool round_trip(struct bad *b, struct ibv_mr *mr, size_t off, size_t len,
		       unsigned int seed, const char *what)
{
	int st;

	pattern_fill_at(b->src + off, len, seed, off);
	st = rdma(b, IBV_WR_RDMA_WRITE, off, b->tgt + off, mr->rkey, len);
	if (st != IBV_WC_SUCCESS) {
		fprintf(stderr, "%s: WRITE: %s\n", what, wc_status_name(st));
		return false;
	}
	memset(b->dst + off, 0xee, len);
	st = rdma(b, IBV_WR_RDMA_READ, off, b->tgt + off, mr->rkey, len);
	if (st != IBV_WC_SUCCESS) {
		fprintf(stderr, "%s: READ: %s\n", what, wc_status_name(st));
		return false;
	}
	return pattern_check_at(b->tgt + off, len, seed, off, what) &&
	       pattern_check_at(b->dst + off, len, seed, off, what);
}

/*
 * An ODP MR over [@off, @off + @len) of the target, inside a mapping that
 * goes on around it. Each operation ends past the MR (or starts before
 * it); none may change a byte of the target, in or around the MR.
 */
static void beyond_end(struct bad *b, size_t off, size_t len, const char *name)
{
	static const enum ibv_wr_opcode ops[] = { IBV_WR_RDMA_WRITE, IBV_WR_RDMA_READ };
	unsigned char *start = b->tgt + off, *end = start + len;
	struct ibv_mr *mr = reg(b, start, len, ODP_RW);
	size_t page = b->page, two = 2 * page;
	unsigned int seed = 300 + (unsigned int)off;
	char what[160];
	unsigned int i;
	bool ok;

	/* The MR's pages are mapped on the device first: the range check alone refuses. */
	pattern_fill(b->tgt, b->size, seed);
	ok = round_trip(b, mr, off, len, seed, "prime the MR");
	expect(ok, "beyond %s: WRITE/READ of all of the MR", name);
	for (i = 0; i < 2; i++) {
		const char *op = i ? "READ" : "WRITE";

		snprintf(what, sizeof(what), "beyond %s: %s of 8 KiB ending 1 byte "
			 "past the end", name, op);
		expect(rem_access_err(b, ops[i], end - two + 1, mr->rkey, two, what),
		       "%s: IBV_WC_REM_ACCESS_ERR", what);
		snprintf(what, sizeof(what), "beyond %s: %s of 8 KiB ending a page "
			 "past the end", name, op);
		expect(rem_access_err(b, ops[i], end - page, mr->rkey, two, what),
		       "%s: IBV_WC_REM_ACCESS_ERR", what);
		snprintf(what, sizeof(what), "beyond %s: %s of 1 byte just past "
			 "the end", name, op);
		expect(rem_access_err(b, ops[i], end, mr->rkey, 1, what),
		       "%s: IBV_WC_REM_ACCESS_ERR", what);
		snprintf(what, sizeof(what), "beyond %s: %s of 4 KiB starting 1 "
			 "byte before the start", name, op);
		expect(rem_access_err(b, ops[i], start - 1, mr->rkey, page, what),
		       "%s: IBV_WC_REM_ACCESS_ERR", what);
	}
	expect(pattern_check(b->tgt, b->size, seed, "target after the refused operations"),
	       "beyond %s: no byte of the MR or around it changed", name);
	expect(round_trip(b, mr, off, len, seed + 1, "after the errors"),
	       "beyond %s: reconnected QPs WRITE/READ all of the MR", name);
	ibv_dereg_mr(mr);
}

static void missing_rights(struct bad *b)
{
	size_t off = 2 * b->page, len = 4 * b->page;
	struct ibv_mr *ro = reg(b, b->tgt + off, len, IBV_ACCESS_LOCAL_WRITE |
				IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND);
	struct ibv_mr *wo = reg(b, b->tgt + off, len, IBV_ACCESS_LOCAL_WRITE |
				IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_ON_DEMAND);
	const char *w = "rights: WRITE to an ODP MR without REMOTE_WRITE";
	const char *r = "rights: READ of an ODP MR without REMOTE_READ";
	int st;

	pattern_fill(b->tgt, b->size, 400);
	expect(rem_access_err(b, IBV_WR_RDMA_WRITE, b->tgt + off, ro->rkey, len, w),
	       "%s: IBV_WC_REM_ACCESS_ERR", w);
	expect(pattern_check(b->tgt, b->size, 400, "target after the refused WRITE"),
	       "rights: the refused WRITE changed nothing");
	memset(b->dst, 0xee, len);
	st = rdma(b, IBV_WR_RDMA_READ, 0, b->tgt + off, ro->rkey, len);
	expect(st == IBV_WC_SUCCESS &&
	       pattern_check_at(b->dst, len, 400, off, "READ through the read-only MR"),
	       "rights: READ through that MR works (%s)", wc_status_name(st));
	expect(rem_access_err(b, IBV_WR_RDMA_READ, b->tgt + off, wo->rkey, len, r),
	       "%s: IBV_WC_REM_ACCESS_ERR", r);
	ibv_dereg_mr(ro);
	ibv_dereg_mr(wo);
}

/* --- local faults --- */

/*
 * Post one send-queue request with a single SGE (@local, @lkey, @len) and
 * wait for its completion, skipping (and printing) any other.
 */
static int post_send_wait(struct bad *b, enum ibv_wr_opcode op, void *local,
			  uint32_t lkey, size_t len, void *remote, uint32_t rkey)
{
	static uint64_t id = 2000000;
	struct ibv_sge sge = { .addr = (uintptr_t)local, .length = len, .lkey = lkey };
	struct ibv_send_wr wr = {
		.wr_id = ++id, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.wr.rdma = { .remote_addr = (uintptr_t)remote, .rkey = rkey },
	};
	struct ibv_wc wc;

	if (loopback_post_wait(&b->lb, &wr, &wc))
		return -1;
	return wc.status;
}

static bool post_recv(struct bad *b, uint64_t id, void *buf, uint32_t lkey,
		      size_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = len, .lkey = lkey };
	struct ibv_recv_wr wr = { .wr_id = id, .sg_list = &sge, .num_sge = 1 }, *bad;

	if (ibv_post_recv(b->lb.qp[1], &wr, &bad)) {
		perror("ibv_post_recv");
		return false;
	}
	return true;
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
			fprintf(stderr, "  (other completion: wr %llu, %s)\n",
				(unsigned long long)wc.wr_id, ibv_wc_status_str(wc.status));
			continue;
		}
		status[i] = wc.status;
		got++;
	}
	return true;
}

static void reconnect(struct bad *b)
{
	if (loopback_reconnect(&b->lb)) {
		fprintf(stderr, "cannot reconnect the QPs after an error\n");
		exit(1);
	}
}

/*
 * One send-queue request whose local SGE is at @loff, @len bytes, in the
 * local ODP MR @lmr over @local: it must complete with an error status
 * (documented: IBV_WC_LOC_PROT_ERR). A SEND gets a good receive buffer.
 */
static void local_fault(struct bad *b, enum ibv_wr_opcode op, unsigned char *local,
			struct ibv_mr *lmr, size_t loff, size_t len,
			struct ibv_mr *tmr, const char *what)
{
	int st;

	if (op == IBV_WR_SEND && !post_recv(b, 1, b->tgt, tmr->lkey, b->size))
		exit(1);
	st = post_send_wait(b, op, local + loff, lmr->lkey, len, b->tgt + loff,
			    tmr->rkey);
	printf("  %s: %s\n", what, wc_status_name(st));
	if (st > IBV_WC_SUCCESS && st != IBV_WC_LOC_PROT_ERR)
		printf("  note: Documentation/rxe_odp.rst says %s\n",
		       ibv_wc_status_str(IBV_WC_LOC_PROT_ERR));
	expect(st > IBV_WC_SUCCESS, "%s: completes with an error status", what);
	if (st != IBV_WC_SUCCESS)
		reconnect(b);
}

/*
 * An RC SEND into a receive buffer at @roff (@rlen bytes) of the ODP MR
 * @rmr over @recv: the receiver must complete its receive with a local
 * error, the sender with some error.
 */
static void recv_fault(struct bad *b, unsigned char *recv, struct ibv_mr *rmr,
		       size_t roff, size_t rlen, size_t slen, const char *what)
{
	static const uint64_t ids[2] = { 7001, 7002 };	/* receive, send */
	struct ibv_sge sge = { .addr = (uintptr_t)b->src, .length = slen,
			       .lkey = b->smr->lkey };
	struct ibv_send_wr wr = { .wr_id = ids[1], .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND }, *bad;
	int st[2];
	bool ok;

	pattern_fill(b->src, slen, 500);
	if (!post_recv(b, ids[0], recv + roff, rmr->lkey, rlen))
		exit(1);
	if (ibv_post_send(b->lb.qp[0], &wr, &bad)) {
		perror("ibv_post_send");
		exit(1);
	}
	ok = wait_ids(b, ids, st, 2);
	printf("  %s: receiver %s, sender %s (documented: receiver %s or %s, "
	       "sender an error from the NAK)\n", what, wc_status_name(st[0]),
	       wc_status_name(st[1]), ibv_wc_status_str(IBV_WC_LOC_PROT_ERR),
	       ibv_wc_status_str(IBV_WC_LOC_QP_OP_ERR));
	expect(ok && (st[0] == IBV_WC_LOC_PROT_ERR || st[0] == IBV_WC_LOC_QP_OP_ERR),
	       "%s: the receive completes with a local error", what);
	expect(ok && st[1] != IBV_WC_SUCCESS && st[1] != IBV_WC_WR_FLUSH_ERR,
	       "%s: the sender gets an error completion", what);
	reconnect(b);
}

static void local_faults(struct bad *b)
{
	size_t page = b->page, hole = 5 * page, hole_len = 4 * page;
	unsigned char *loc = map_anon(NULL, b->size);
	struct ibv_mr *lmr = reg(b, loc, b->size, IBV_ACCESS_LOCAL_WRITE |
				 IBV_ACCESS_ON_DEMAND);
	struct ibv_mr *tmr = reg(b, b->tgt, b->size, ODP_RW);
	int st;

	/* The device maps all of the local MR before part of it goes. */
	pattern_fill(loc, b->size, 600);
	st = post_send_wait(b, IBV_WR_RDMA_WRITE, loc, lmr->lkey, b->size,
			    b->tgt, tmr->rkey);
	expect(st == IBV_WC_SUCCESS && pattern_check(b->tgt, b->size, 600, "target"),
	       "local: WRITE from all of the local ODP MR before the munmap (%s)",
	       wc_status_name(st));
	if (munmap(loc + hole, hole_len)) {
		perror("munmap");
		exit(1);
	}
	pattern_fill(b->tgt, b->size, 601);

	local_fault(b, IBV_WR_RDMA_WRITE, loc, lmr, hole, hole_len, tmr,
		    "local: WRITE from the munmapped part");
	local_fault(b, IBV_WR_RDMA_WRITE, loc, lmr, hole - 2 * page, 4 * page, tmr,
		    "local: WRITE from 2 mapped pages running into the munmapped part");
	local_fault(b, IBV_WR_SEND, loc, lmr, hole + page, 100, tmr,
		    "local: SEND from the munmapped part");
	local_fault(b, IBV_WR_RDMA_READ, loc, lmr, hole, 2 * page, tmr,
		    "local: READ into the munmapped part");
	/* Only the 2 mapped pages may have gone out before the error. */
	expect(pattern_check(b->tgt, hole - 2 * page, 601, "target before") &&
	       pattern_check_at(b->tgt + hole, b->size - hole, 601, hole,
				"target from the munmapped part's offset on"),
	       "local: the refused WRITEs and SEND wrote nothing from the "
	       "munmapped part");

	recv_fault(b, loc, lmr, hole + 8, 4096, 4096,
		   "recv: SEND into a receive buffer in the munmapped part");
	recv_fault(b, loc, lmr, hole - page, 3 * page, 3 * page,
		   "recv: 3-page SEND into a receive buffer running into the munmapped part");

	map_anon(loc + hole, hole_len);
	pattern_fill(loc, b->size, 602);
	st = post_send_wait(b, IBV_WR_RDMA_WRITE, loc, lmr->lkey, b->size,
			    b->tgt, tmr->rkey);
	expect(st == IBV_WC_SUCCESS && pattern_check(b->tgt, b->size, 602, "target"),
	       "local: with the part mapped again, WRITE from all of the MR works (%s)",
	       wc_status_name(st));
	ibv_dereg_mr(lmr);
	ibv_dereg_mr(tmr);
	munmap(loc, b->size);
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-d dev] [-g gid_index] [-n mrs]\n"
		"  -n  ODP MRs in the registration churn, default 1000\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	struct loopback_opts o = { .dev = "rxe0", .gid_index = 1 };
	struct bad b = { 0 };
	unsigned int n = 1000;
	long mrs, qps;
	int c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt(argc, argv, "d:g:n:")) != -1) {
		switch (c) {
		case 'd': o.dev = optarg; break;
		case 'g': o.gid_index = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		default: usage(argv[0]);
		}
	}
	b.dev = o.dev;
	if (loopback_open(&b.lb, &o))
		return 1;
	if (!loopback_has_odp_rc(&b.lb, IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV |
				 IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ)) {
		printf("%s does not advertise RC ODP for SEND, RECV, WRITE and READ\n",
		       o.dev);
		return EXIT_SKIP;
	}
	b.page = sysconf(_SC_PAGESIZE);
	b.size = NPAGES * b.page;
	mrs = rdma_res_count(b.dev, "mr");
	qps = rdma_res_count(b.dev, "qp");

	registration(&b);
	churn(&b, n);

	if (loopback_connect(&b.lb))
		return 1;
	b.tgt = map_anon(NULL, b.size);
	b.src = map_anon(NULL, b.size);
	b.dst = map_anon(NULL, b.size);
	b.smr = reg(&b, b.src, b.size, ODP_RW);
	b.dmr = reg(&b, b.dst, b.size, ODP_RW);
	beyond_end(&b, 4 * b.page, 4 * b.page, "a page-aligned MR");
	beyond_end(&b, 4 * b.page + 64, 4 * b.page - 164, "an MR with odd ends");
	missing_rights(&b);
	local_faults(&b);

	ibv_dereg_mr(b.smr);
	ibv_dereg_mr(b.dmr);
	loopback_close(&b.lb);
	/* A count that cannot be read (no `rdma resource show`) fails. */
	expect(mrs >= 0 && qps >= 0 &&
	       rdma_res_count(b.dev, "mr") == mrs && rdma_res_count(b.dev, "qp") == qps,
	       "end: %s's MR and QP counts are back at %ld and %ld",
	       b.dev, mrs, qps);
	expect(vm_pinned_kb() == 0, "end: VmPin is 0 (%ld kB)", vm_pinned_kb());
	printf("odp_bad: %d checks failed\n", expect_failures());
	return expect_failures() ? 1 : 0;
}
