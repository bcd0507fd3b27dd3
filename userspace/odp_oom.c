// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_oom: a process whose ODP MR is the target of live RDMA traffic from
 * another process is killed by the OOM killer of its memory cgroup.
 *
 *   odp_oom [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * The victim, a child, is moved into a memory cgroup of its own with
 * memory.max VICTIM_MAX and no swap. It registers a TARGET-byte ODP MR and
 * connects an RC QP to one of the parent's, its peer, which stays outside
 * the cgroup. The peer WRITEs the target chunk by chunk and READs each
 * chunk back, checking every byte. Once that traffic runs, the victim
 * allocates and touches memory until the kernel kills it, while the
 * peer's traffic goes on into its MR: the victim's address space is torn
 * down (exit, or the OOM reaper's non-blockable invalidation) under the
 * device's faults and copies.
 *
 * Case oom.peer_sees_errors: the victim dies of SIGKILL and its
 * cgroup's memory.events counts an oom_kill; every READ that completed
 * before returned the right bytes; the peer's traffic ends in an error
 * completion (never a hang, never a success from a dead process); once the
 * peer has closed its side, the device's MR, QP and PD counts are back
 * where they were; and a fresh ODP MR round trip verifies. Splats and
 * leaks are for the suite to see (console scan, kmemleak in the debug
 * flavor).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "cgroup.h"
#include "check.h"
#include "harness.h"
#include "loopback.h"
#include "mirror.h"

#define TARGET		(16ul << 20)	/* the victim's ODP MR */
#define CHUNK		(1ul << 20)	/* one WRITE or READ of the peer */
#define VICTIM_MAX	"48M"		/* the victim's memory.max */
#define PEER_ROUNDS	4		/* round trips before the victim hogs */
#define TRAFFIC_MS	180000		/* the traffic's limit */
#define PIPE_MS		30000		/* how long either side waits */
#define RES_MS		5000		/* ... and for the victim's resources */
#define SEED		0x0aa1

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

/* What the two processes hand each other besides the pipes. */
struct shared {
	uint32_t victim_qpn, peer_qpn, rkey;
	uint64_t addr;			/* the target in the victim */
	char why[128];			/* why the victim gave up */
};

static void xwrite(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		_exit(4);
}

/* --- the victim --- */

static void __attribute__((noreturn))
victim_fail(struct shared *sh, const char *why)
{
	snprintf(sh->why, sizeof(sh->why), "%s: %s", why, strerror(errno));
	_exit(3);
}

/* Touch memory 1 MiB at a time until the cgroup's OOM killer ends us. */
static void __attribute__((noreturn)) victim_hog(struct shared *sh)
{
	for (;;) {
		char *p = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			victim_fail(sh, "mmap");
		memset(p, 0x5a, CHUNK);
		sleep_ms(20);
	}
}

/* Waits for 'G' on @in; 'R', 'K' on @out as it registers and connects. */
static void __attribute__((noreturn))
victim_main(int in, int out, struct shared *sh)
{
	struct loopback lb;
	struct ibv_mr *mr;
	void *tgt;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(TRAFFIC_MS / 1000 + 30);
	if (pipe_byte(in, PIPE_MS) != 'G')
		victim_fail(sh, "no go from the peer");
	if (loopback_open(&lb, &opts) || loopback_peer_qp(&lb))
		victim_fail(sh, "open and make a QP");
	tgt = mmap(NULL, TARGET, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (tgt == MAP_FAILED)
		victim_fail(sh, "mmap");
	mr = ibv_reg_mr(lb.pd, tgt, TARGET, IBV_ACCESS_LOCAL_WRITE |
			IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
			IBV_ACCESS_ON_DEMAND);
	if (!mr)
		victim_fail(sh, "ibv_reg_mr");
	sh->victim_qpn = lb.qp[0]->qp_num;
	sh->rkey = mr->rkey;
	sh->addr = (uintptr_t)tgt;
	xwrite(out, 'R');
	if (pipe_byte(in, PIPE_MS) != 'C' ||
	    loopback_peer_connect(&lb, sh->peer_qpn))
		victim_fail(sh, "connect to the peer");
	xwrite(out, 'K');
	if (pipe_byte(in, PIPE_MS) != 'H')
		victim_fail(sh, "no word to hog from the peer");
	victim_hog(sh);
}

/* --- the peer --- */

FIXTURE(oom) {
	struct shared *sh;
	struct res_counts base;		/* before either side opened */
	struct cgroup cg;
	struct loopback lb;
	unsigned char *src, *dst;
	struct ibv_mr *smr, *dmr;
	int to[2], from[2];
	pid_t pid;
};

FIXTURE_SETUP(oom)
{
	bool odp;

	ASSERT_EQ(0, loopback_open(&self->lb, &opts));
	odp = loopback_has_odp_rc(&self->lb, IBV_ODP_SUPPORT_WRITE |
				  IBV_ODP_SUPPORT_READ);
	loopback_close(&self->lb);
	if (!odp)
		SKIP(return, "%s does not advertise RC ODP for RDMA WRITE and READ",
		     opts.dev);
	self->base = rdma_res_counts(opts.dev);
	self->sh = mmap(NULL, sizeof(*self->sh), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->sh);
	ASSERT_EQ(0, pipe(self->to));
	ASSERT_EQ(0, pipe(self->from));
	fflush(NULL);
	self->pid = fork();
	ASSERT_LE(0, self->pid);
	if (!self->pid) {
		close(self->to[1]);
		close(self->from[0]);
		victim_main(self->to[0], self->from[1], self->sh);
	}
	close(self->to[0]);
	close(self->from[1]);
	ASSERT_EQ(0, cgroup_enter(&self->cg, "odp_oom", self->pid));
	ASSERT_EQ(0, cgroup_write(&self->cg, "memory.max", VICTIM_MAX));
	cgroup_write(&self->cg, "memory.swap.max", "0");
	xwrite(self->to[1], 'G');

	ASSERT_EQ(0, loopback_open(&self->lb, &opts));
	ASSERT_EQ(0, loopback_peer_qp(&self->lb));
	self->src = map_anon(NULL, CHUNK);
	self->dst = map_anon(NULL, CHUNK);
	self->smr = mirror_reg(&self->lb, self->src, CHUNK, true);
	self->dmr = mirror_reg(&self->lb, self->dst, CHUNK, true);
	ASSERT_EQ('R', pipe_byte(self->from[0], PIPE_MS))
		TH_LOG("victim: %s", self->sh->why);
	self->sh->peer_qpn = self->lb.qp[0]->qp_num;
	ASSERT_EQ(0, loopback_peer_connect(&self->lb, self->sh->victim_qpn));
	xwrite(self->to[1], 'C');
	ASSERT_EQ('K', pipe_byte(self->from[0], PIPE_MS))
		TH_LOG("victim: %s", self->sh->why);
}

FIXTURE_TEARDOWN(oom)
{
	if (self->pid > 0 && !kill(self->pid, SIGKILL))
		waitpid(self->pid, NULL, 0);
	loopback_dereg(self->smr);
	loopback_dereg(self->dmr);
	loopback_close(&self->lb);
	cgroup_leave(&self->cg);
}

/* One round trip: WRITE chunk @n of the target, READ it back, check it. */
static int round_trip(FIXTURE_DATA(oom) *self, long n, bool *bytes_ok)
{
	size_t off = n % (TARGET / CHUNK) * CHUNK;
	void *remote = (void *)(uintptr_t)(self->sh->addr + off);
	int st;

	pattern_fill_at(self->src, CHUNK, SEED + n, off);
	st = loopback_rdma(&self->lb, IBV_WR_RDMA_WRITE, self->src,
			   self->smr->lkey, remote, self->sh->rkey, CHUNK);
	if (st != IBV_WC_SUCCESS)
		return st;
	memset(self->dst, 0, CHUNK);
	st = loopback_rdma(&self->lb, IBV_WR_RDMA_READ, self->dst,
			   self->dmr->lkey, remote, self->sh->rkey, CHUNK);
	if (st == IBV_WC_SUCCESS && !pattern_check_at(self->dst, CHUNK,
						      SEED + n, off, "READ"))
		*bytes_ok = false;
	return st;
}

TEST_F_TIMEOUT(oom, peer_sees_errors, 300)
{
	long n, after_hog = 0, t0;
	bool bytes_ok = true;
	char how[192];
	int st = IBV_WC_SUCCESS;

	for (n = 0; n < PEER_ROUNDS && st == IBV_WC_SUCCESS; n++)
		st = round_trip(self, n, &bytes_ok);
	ASSERT_EQ(IBV_WC_SUCCESS, st) TH_LOG("round trip %ld before the hog", n);
	xwrite(self->to[1], 'H');
	t0 = now_ms();
	while (st == IBV_WC_SUCCESS && now_ms() - t0 < TRAFFIC_MS) {
		st = round_trip(self, n++, &bytes_ok);
		after_hog += st == IBV_WC_SUCCESS;
	}
	TH_LOG("%ld round trips of 1 MiB while the victim grew; then %s after %ld ms",
	       after_hog, st < 0 ? "no completion" :
	       ibv_wc_status_str((enum ibv_wc_status)st), now_ms() - t0);
	EXPECT_TRUE(bytes_ok);
	EXPECT_NE(IBV_WC_SUCCESS, st) TH_LOG("the traffic outlived the victim");
	EXPECT_LE(0, st) TH_LOG("a request never completed");

	EXPECT_TRUE(reaped_by_sigkill(self->pid, self->sh->why, how,
				      sizeof(how)))
		TH_LOG("the victim %s", how);
	self->pid = 0;
	EXPECT_LE(1, cgroup_stat(&self->cg, "memory.events", "oom_kill"));

	loopback_dereg(self->smr);
	loopback_dereg(self->dmr);
	self->smr = self->dmr = NULL;
	loopback_close(&self->lb);
	EXPECT_RES_COUNTS_BACK(opts.dev, &self->base, RES_MS);
	EXPECT_TRUE(mirror_fresh_round_trip(&opts, 4 * CHUNK, CHUNK + 123, CHUNK));
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
