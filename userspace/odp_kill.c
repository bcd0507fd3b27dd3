// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_kill: a process with ODP MRs killed in the middle of RDMA traffic.
 *
 *   odp_kill [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * Each case forks a child that opens the device, connects its own
 * loopback QPs, registers a never-touched 64 MiB ODP MR as the target and
 * a 1 MiB ODP MR as its local buffer, and keeps a window of 1 MiB RDMA
 * WRITEs and/or READs in flight over the target. It tells the parent
 * through a pipe when it reaches the case's moment; the parent waits the
 * case's delay and SIGKILLs it. The moments, variants of the fixture:
 *
 *   after_reg          right after ibv_reg_mr of the target, before any
 *                      traffic
 *   write_faults       right after posting WRITEs into the never-touched
 *                      target, while the device faults its first pages
 *   read_faults        the same with READs
 *   traffic            after 0.5 s of WRITE/READ traffic
 *   writes_dontneed    after 0.5 s of WRITEs, the child dropping the
 *                      target's pages (MADV_DONTNEED) every pass so that
 *                      faults and invalidations keep running at the kill
 *   traffic_dontneed   0.1 s into WRITE/READ traffic, the pages dropped
 *                      the same way
 *
 * Case kill.<moment>.recovers: the child must die of the SIGKILL (not of
 * an error completion, nor of its own time limit), and once it is reaped
 * the device's MR, QP and PD counts (`rdma resource show`) must be back
 * where they were (a count that cannot be read fails). Then the parent
 * runs a fresh ODP WRITE/READ on the device and checks every byte. A case
 * fails if any of its checks (printed as "# ok ..." or "# FAIL ...")
 * failed. Kernel splats and leaks are for the suite to see (it scans the
 * console and runs kmemleak in the debug flavor): this program's job is
 * to take the kernel through those paths and show the device works
 * afterwards. The cases skip where the device does not advertise RC ODP
 * for WRITE and READ.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "check.h"
#include "harness.h"
#include "loopback.h"
#include "mirror.h"

#define TARGET		(64ul << 20)	/* the child's ODP target */
#define CHUNK		(1ul << 20)	/* one WRITE or READ */
#define WINDOW		8		/* the child's requests in flight */
#define CHILD_LIMIT	60		/* s: the child ends itself after this */
#define PIPE_MS		30000		/* how long the parent waits for the child */
#define RES_MS		5000		/* ... and for its resources to go */

#define ODP_RW		(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND)

enum moment { AFTER_REG, IN_FLIGHT, TRAFFIC };
enum mix { WRITES, READS, BOTH };

/* When and how the child is killed: a variant of the fixture. */
FIXTURE_VARIANT(kill) {
	const char *name;
	enum moment when;	/* when the child signals the parent */
	enum mix mix;
	int delay_ms;		/* from the signal to the kill */
	bool dontneed;		/* drop the target's pages every pass */
};

/* What the child tells the parent besides the pipe: shared memory. */
struct progress {
	atomic_long posted, done;
	char why[128];			/* why the child gave up */
};

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

/* --- the child --- */

static void __attribute__((noreturn, format(printf, 2, 3)))
child_fail(struct progress *pr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pr->why, sizeof(pr->why), fmt, ap);
	va_end(ap);
	_exit(3);
}

static void child_signal(int out)
{
	char c = 'R';

	if (write(out, &c, 1) != 1)
		_exit(4);
}

static enum ibv_wr_opcode child_op(const FIXTURE_VARIANT(kill) *v, long n)
{
	if (v->mix == WRITES)
		return IBV_WR_RDMA_WRITE;
	if (v->mix == READS)
		return IBV_WR_RDMA_READ;
	return n % 2 ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE;
}

/* Request @n: 1 MiB at the next MiB of the target, round and round. */
static void child_post(struct loopback *lb, const FIXTURE_VARIANT(kill) *v,
		       long n, unsigned char *buf, struct ibv_mr *bmr,
		       unsigned char *tgt, struct ibv_mr *tmr, struct progress *pr)
{
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = CHUNK,
			       .lkey = bmr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = n, .sg_list = &sge, .num_sge = 1, .opcode = child_op(v, n),
		.wr.rdma = {
			.remote_addr = (uintptr_t)(tgt + n % (TARGET / CHUNK) * CHUNK),
			.rkey = tmr->rkey,
		},
	}, *bad;

	if (ibv_post_send(lb->qp[0], &wr, &bad))
		child_fail(pr, "ibv_post_send: %s", strerror(errno));
}

/* Keep WINDOW requests in flight until killed; see FIXTURE_VARIANT(kill). */
static void __attribute__((noreturn))
child_stream(struct loopback *lb, const FIXTURE_VARIANT(kill) *v, int out,
	     unsigned char *buf, struct ibv_mr *bmr, unsigned char *tgt,
	     struct ibv_mr *tmr, struct progress *pr)
{
	long posted = 0, done = 0;
	bool told = v->when == AFTER_REG;
	struct ibv_wc wc[16];
	int n, i;

	for (;;) {
		for (; posted - done < WINDOW; posted++) {
			if (v->dontneed && posted && posted % (TARGET / CHUNK) == 0)
				madvise(tgt, TARGET, MADV_DONTNEED);
			child_post(lb, v, posted, buf, bmr, tgt, tmr, pr);
		}
		atomic_store(&pr->posted, posted);
		if (!told && v->when == IN_FLIGHT) {
			child_signal(out);
			told = true;
		}
		n = ibv_poll_cq(lb->cq, 16, wc);
		if (n < 0)
			child_fail(pr, "ibv_poll_cq: %d", n);
		for (i = 0; i < n; i++)
			if (wc[i].status != IBV_WC_SUCCESS)
				child_fail(pr, "request %llu: %s",
					   (unsigned long long)wc[i].wr_id,
					   ibv_wc_status_str(wc[i].status));
		done += n;
		atomic_store(&pr->done, done);
		if (!told && done > 0) {
			child_signal(out);
			told = true;
		}
		if (!n)
			poll(NULL, 0, 1);
	}
}

/* The child never returns into the harness: the parent judges its end. */
static void __attribute__((noreturn))
child_main(const FIXTURE_VARIANT(kill) *v, int out, struct progress *pr)
{
	struct ibv_mr *bmr, *tmr;
	unsigned char *buf, *tgt;
	struct loopback lb;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(CHILD_LIMIT);
	if (loopback_open(&lb, &opts) || loopback_connect(&lb))
		child_fail(pr, "cannot open %s and connect its QPs", opts.dev);
	buf = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	tgt = mmap(NULL, TARGET, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	if (buf == MAP_FAILED || tgt == MAP_FAILED)
		child_fail(pr, "mmap: %s", strerror(errno));
	pattern_fill(buf, CHUNK, 1);
	bmr = ibv_reg_mr(lb.pd, buf, CHUNK, ODP_RW);
	tmr = bmr ? ibv_reg_mr(lb.pd, tgt, TARGET, ODP_RW) : NULL;
	if (!tmr)
		child_fail(pr, "ibv_reg_mr: %s", strerror(errno));
	if (v->when == AFTER_REG)
		child_signal(out);
	child_stream(&lb, v, out, buf, bmr, tgt, tmr, pr);
}

/* --- the parent --- */

/* Fork the child, kill it at moment @v, reap it and count what it left. */
static void kill_child(struct __test_metadata *_metadata,
		       const FIXTURE_VARIANT(kill) *v, struct progress *pr,
		       const struct res_counts *base)
{
	struct res_counts now = { -1, -1, -1 };
	long t0, posted, done;
	char how[192];
	bool killed, back;
	int fds[2];
	pid_t pid;
	char c;

	memset(pr, 0, sizeof(*pr));
	ASSERT_EQ(0, pipe(fds));
	fflush(NULL);
	pid = fork();
	ASSERT_LE(0, pid) TH_LOG("fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		child_main(v, fds[1], pr);
	}
	close(fds[1]);
	t0 = now_ms();
	c = pipe_byte(fds[0], PIPE_MS);
	if (v->delay_ms)
		sleep_ms(v->delay_ms);
	posted = atomic_load(&pr->posted);
	done = atomic_load(&pr->done);
	kill(pid, SIGKILL);
	killed = reaped_by_sigkill(pid, pr->why, how, sizeof(how));
	close(fds[0]);
	expect(c == 'R' && killed, "SIGKILL %s: child %s %ld ms after fork, "
	       "%ld requests posted, %ld completed", v->name, how,
	       now_ms() - t0, posted, done);
	if (v->when == TRAFFIC)
		expect(done > 0, "traffic ran before the kill (%ld requests of "
		       "1 MiB completed)", done);
	back = rdma_res_counts_back(opts.dev, base, &now, RES_MS);
	expect(back, "%s's MR, QP and PD counts back at "
	       "%ld, %ld, %ld after the child (now %ld, %ld, %ld)", opts.dev,
	       base->mr, base->qp, base->pd, now.mr, now.qp, now.pd);
}

#define FRESH_LEN	(4 * CHUNK)
#define FRESH_OFF	(CHUNK + 123)

FIXTURE(kill) {
	struct progress *pr;	/* shared with the child */
	struct res_counts base;	/* before the child */
};

FIXTURE_SETUP(kill)
{
	struct loopback lb;
	bool odp;

	/* The parent holds no verbs object while the child runs. */
	ASSERT_EQ(0, loopback_open(&lb, &opts));
	odp = loopback_has_odp_rc(&lb, IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ);
	loopback_close(&lb);
	if (!odp)
		SKIP(return, "%s does not advertise RC ODP for RDMA WRITE and "
		     "READ", opts.dev);
	self->pr = mmap(NULL, sizeof(*self->pr), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->pr);
	self->base = rdma_res_counts(opts.dev);
}

FIXTURE_TEARDOWN(kill)
{
	munmap(self->pr, sizeof(*self->pr));
}

TEST_F_TIMEOUT(kill, recovers, 300)
{
	kill_child(_metadata, variant, self->pr, &self->base);
	/* A fresh ODP MR in the parent: 1 MiB written and read back. */
	expect(mirror_fresh_round_trip(&opts, FRESH_LEN, FRESH_OFF, CHUNK),
	       "after the kill: a fresh 1 MiB ODP WRITE into a new MR and READ "
	       "back verify");
	EXPECT_EQ(0, expect_failures());
}

/* The cases: the moments of the kill, in the order they run. */

FIXTURE_VARIANT_ADD(kill, after_reg) {
	.name = "right after ibv_reg_mr of the target",
	.when = AFTER_REG, .mix = BOTH,
};

FIXTURE_VARIANT_ADD(kill, write_faults) {
	.name = "with WRITEs faulting into the never-touched target",
	.when = IN_FLIGHT, .mix = WRITES,
};

FIXTURE_VARIANT_ADD(kill, read_faults) {
	.name = "with READs faulting the never-touched target",
	.when = IN_FLIGHT, .mix = READS, .delay_ms = 2,
};

FIXTURE_VARIANT_ADD(kill, traffic) {
	.name = "after 0.5 s of WRITE/READ traffic",
	.when = TRAFFIC, .mix = BOTH, .delay_ms = 500,
};

FIXTURE_VARIANT_ADD(kill, writes_dontneed) {
	.name = "after 0.5 s of WRITEs while the target's pages are dropped",
	.when = TRAFFIC, .mix = WRITES, .delay_ms = 500, .dontneed = true,
};

FIXTURE_VARIANT_ADD(kill, traffic_dontneed) {
	.name = "0.1 s into WRITE/READ traffic with the pages dropped",
	.when = TRAFFIC, .mix = BOTH, .delay_ms = 100, .dontneed = true,
};

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
