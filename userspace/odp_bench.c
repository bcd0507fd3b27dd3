// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_bench: what first touch and registration cost on ODP memory, next to
 * pinned memory, on rxe0 over loopback.
 *
 *   odp_bench reg MIB odp|pinned
 *	time ibv_reg_mr() of a fresh MIB MiB buffer:
 *	"reg <mode> <MiB> <ns>"
 *   odp_bench cold write|read MIB odp|pinned
 *	RDMA WRITE 1 MiB messages into (or READ them from) a fresh MIB MiB
 *	buffer, each message landing on memory nothing has touched yet:
 *	"cold <op> <mode> <MiB> <MB/s>"
 *
 *   odp_bench stall MIB odp
 *	whether one QP's faults hold up another's traffic on the device: QP
 *	pair B WRITEs 64 KiB messages into a warm ODP MR for STALL_SECONDS,
 *	alone, then again while pair A WRITEs 1 MiB messages into a fresh,
 *	cold MIB MiB ODP MR, each faulting its pages in:
 *	"stall <B alone MB/s> <B with A MB/s> <A MB/s>"
 *
 * Pinned memory is faulted in by its registration, outside the timed part;
 * ODP memory is faulted in by the transfer itself. The data is checked.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "loopback.h"

#define MSG	(1UL << 20)
#define DEPTH	4

static const int access_rw = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			     IBV_ACCESS_REMOTE_READ;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *fresh(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

static struct ibv_mr *reg(struct ibv_pd *pd, void *buf, size_t len, bool odp)
{
	struct ibv_mr *mr;

	mr = ibv_reg_mr(pd, buf, len, access_rw | (odp ? IBV_ACCESS_ON_DEMAND : 0));
	if (!mr) {
		fprintf(stderr, "ibv_reg_mr(%zu bytes%s): %s\n", len,
			odp ? ", ODP" : "", strerror(errno));
		exit(1);
	}
	return mr;
}

static int bench_reg(struct loopback *lb, size_t mib, bool odp)
{
	size_t len = mib << 20;
	void *buf = fresh(len);
	struct ibv_mr *mr;
	double t0, t1;

	t0 = now_s();
	mr = reg(lb->pd, buf, len, odp);
	t1 = now_s();
	ibv_dereg_mr(mr);
	munmap(buf, len);
	printf("reg %s %zu %.0f\n", odp ? "odp" : "pinned", mib, (t1 - t0) * 1e9);
	return 0;
}

/* One RDMA op of @len bytes between the local buffer and @remote. */
static int post_len(struct loopback *lb, bool write, struct ibv_mr *local,
		    uint64_t remote, uint32_t rkey, uint64_t id, size_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)local->addr, .length = len, .lkey = local->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = id, .sg_list = &sge, .num_sge = 1,
		.opcode = write ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = remote, .rkey = rkey },
	};
	struct ibv_send_wr *bad;

	return ibv_post_send(lb->qp[0], &wr, &bad);
}

static int post(struct loopback *lb, bool write, struct ibv_mr *local,
		uint64_t remote, uint32_t rkey, uint64_t id)
{
	return post_len(lb, write, local, remote, rkey, id, MSG);
}

static int reap(struct loopback *lb)
{
	struct ibv_wc wc;

	if (loopback_poll(lb, &wc, 30000)) {
		fprintf(stderr, "no completion within 30 s\n");
		return -1;
	}
	if (wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "completion %llu: %s\n",
			(unsigned long long)wc.wr_id, ibv_wc_status_str(wc.status));
		return -1;
	}
	return 0;
}

/* Messages 0..n-1 to (or from) MiB i from @base, DEPTH in flight. */
static int stream_at(struct loopback *lb, bool write, struct ibv_mr *local,
		     uint64_t base, uint32_t rkey, size_t n)
{
	size_t posted = 0, done = 0;

	while (done < n) {
		while (posted < n && posted - done < DEPTH) {
			if (post(lb, write, local, base + posted * MSG, rkey,
				 posted)) {
				perror("ibv_post_send");
				return -1;
			}
			posted++;
		}
		if (reap(lb))
			return -1;
		done++;
	}
	return 0;
}

static int stream(struct loopback *lb, bool write, struct ibv_mr *local,
		  struct ibv_mr *target, size_t n)
{
	return stream_at(lb, write, local, (uintptr_t)target->addr,
			 target->rkey, n);
}

static int bench_cold(struct loopback *lb, bool write, size_t mib, bool odp)
{
	size_t len = mib << 20, i;
	uint64_t *target = fresh(len);
	uint64_t *local = fresh(MSG), *scratch = fresh(MSG);
	struct ibv_mr *tmr, *lmr, *smr;
	double t0, t1;
	int err;

	memset(local, 0x5a, MSG);
	memset(scratch, 0xa5, MSG);
	lmr = reg(lb->pd, local, MSG, odp);
	smr = reg(lb->pd, scratch, MSG, odp);
	tmr = reg(lb->pd, target, len, odp);
	/* Warm the local side both ways; only the target is cold. */
	if (stream(lb, true, lmr, smr, 1) || stream(lb, false, lmr, smr, 1))
		return 1;

	t0 = now_s();
	err = stream(lb, write, lmr, tmr, mib);
	t1 = now_s();
	if (err)
		return 1;
	for (i = 0; write && i < mib; i++) {
		if (target[i * (MSG / 8)] != 0x5a5a5a5a5a5a5a5aULL) {
			fprintf(stderr, "MiB %zu of the target holds %#llx\n", i,
				(unsigned long long)target[i * (MSG / 8)]);
			return 1;
		}
	}
	if (!write && local[0] != 0) {
		fprintf(stderr, "a READ of untouched memory gave %#llx\n",
			(unsigned long long)local[0]);
		return 1;
	}
	printf("cold %s %s %zu %.2f\n", write ? "write" : "read",
	       odp ? "odp" : "pinned", mib, len / (t1 - t0) / 1e6);
	ibv_dereg_mr(tmr);
	ibv_dereg_mr(smr);
	ibv_dereg_mr(lmr);
	munmap(target, len);
	return 0;
}

#define STALL_MSG	(64UL << 10)
#define STALL_LEN	(16UL << 20)
#define STALL_SECONDS	3.0

/* Pair A's first-touch WRITEs, until @stop or its region is all written. */
struct stall_a {
	struct loopback lb;
	size_t mib;
	volatile bool stop;
	double mbps;
	int err;
};

static void *stall_a_run(void *arg)
{
	struct stall_a *a = arg;
	size_t len = a->mib << 20, n = 0;
	void *target = fresh(len), *local = fresh(MSG);
	struct ibv_mr *tmr, *lmr;
	double t0;

	memset(local, 0x3c, MSG);
	lmr = reg(a->lb.pd, local, MSG, true);
	tmr = reg(a->lb.pd, target, len, true);
	t0 = now_s();
	while (!a->stop && n < a->mib && !a->err) {
		a->err = stream_at(&a->lb, true, lmr, (uintptr_t)target + n * MSG,
				   tmr->rkey, 1) ? 1 : 0;
		n++;
	}
	a->mbps = (n << 20) / (now_s() - t0) / 1e6;
	ibv_dereg_mr(tmr);
	ibv_dereg_mr(lmr);
	munmap(target, len);
	munmap(local, MSG);
	return NULL;
}

/* B's WRITE bandwidth over STALL_SECONDS into its warm MR, DEPTH in flight. */
static double stall_b(struct loopback *lb, struct ibv_mr *local,
		      struct ibv_mr *target)
{
	size_t posted = 0, done = 0, slots = STALL_LEN / STALL_MSG;
	double t0 = now_s(), t;

	for (;;) {
		while (posted - done < DEPTH) {
			if (post_len(lb, true, local, (uintptr_t)target->addr +
				     posted % slots * STALL_MSG, target->rkey,
				     posted, STALL_MSG))
				return -1;
			posted++;
		}
		if (reap(lb))
			return -1;
		done++;
		t = now_s() - t0;
		if (t >= STALL_SECONDS)
			return done * STALL_MSG / t / 1e6;
	}
}

static int bench_stall(struct loopback *lb, size_t mib)
{
	struct loopback_opts o = { .gid_index = -1 };
	struct stall_a a = { .mib = mib };
	void *local = fresh(STALL_MSG), *target = fresh(STALL_LEN);
	struct ibv_mr *lmr, *tmr;
	double alone, with;
	pthread_t t;

	memset(local, 0x96, STALL_MSG);
	memset(target, 0, STALL_LEN);
	lmr = reg(lb->pd, local, STALL_MSG, true);
	tmr = reg(lb->pd, target, STALL_LEN, true);
	if (loopback_open(&a.lb, &o) || loopback_connect(&a.lb))
		return 1;
	/* A first pass faults B's pages in: B's memory is warm from here. */
	if (stall_b(lb, lmr, tmr) < 0)
		return 1;
	alone = stall_b(lb, lmr, tmr);
	if (pthread_create(&t, NULL, stall_a_run, &a))
		return 1;
	with = stall_b(lb, lmr, tmr);
	a.stop = true;
	pthread_join(t, NULL);
	loopback_close(&a.lb);
	if (alone < 0 || with < 0 || a.err)
		return 1;
	printf("stall %.2f %.2f %.2f\n", alone, with, a.mbps);
	ibv_dereg_mr(tmr);
	ibv_dereg_mr(lmr);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: odp_bench reg MIB odp|pinned\n"
			"       odp_bench cold write|read MIB odp|pinned\n"
			"       odp_bench stall MIB odp\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct loopback lb;
	struct loopback_opts o = { .gid_index = -1 };
	bool odp;
	size_t mib;
	int ret;

	if (argc < 4)
		return usage();
	odp = !strcmp(argv[argc - 1], "odp");
	if (!odp && strcmp(argv[argc - 1], "pinned"))
		return usage();
	mib = strtoul(argv[argc - 2], NULL, 0);
	if (!mib)
		return usage();
	if (loopback_open(&lb, &o) || loopback_connect(&lb)) {
		fprintf(stderr, "cannot set up loopback QPs on rxe0\n");
		return 1;
	}
	if (odp && !loopback_has_odp_rc(&lb, IBV_ODP_SUPPORT_WRITE |
					 IBV_ODP_SUPPORT_READ)) {
		printf("rxe0 does not advertise RC ODP WRITE and READ\n");
		loopback_close(&lb);
		return EXIT_SKIP;
	}
	if (!strcmp(argv[1], "reg") && argc == 4)
		ret = bench_reg(&lb, mib, odp);
	else if (!strcmp(argv[1], "cold") && argc == 5)
		ret = bench_cold(&lb, !strcmp(argv[2], "write"), mib, odp);
	else if (!strcmp(argv[1], "stall") && argc == 4 && odp)
		ret = bench_stall(&lb, mib);
	else
		ret = usage();
	loopback_close(&lb);
	return ret;
}
