// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_kill: a process with ODP MRs killed in the middle of RDMA traffic.
 *
 *   odp_kill [-d dev] [-g gid_index] [-r repeats]
 *
 * Each round forks a child that opens the device, connects its own
 * loopback QPs, registers a never-touched 64 MiB ODP MR as the target and
 * a 1 MiB ODP MR as its local buffer, and keeps a window of 1 MiB RDMA
 * WRITEs and/or READs in flight over the target. It tells the parent
 * through a pipe when it reaches the round's moment; the parent waits the
 * round's delay and SIGKILLs it:
 *
 *   - right after ibv_reg_mr of the target, before any traffic;
 *   - right after posting WRITEs (or READs) into the never-touched target,
 *     while the device is faulting its first pages;
 *   - after 0.1 s or 0.5 s of traffic, some rounds with the child dropping
 *     the target's pages (MADV_DONTNEED) every pass so that faults and
 *     invalidations keep running when the kill comes.
 *
 * The child must die of the SIGKILL (not of an error completion, nor of
 * its own time limit), and once it is reaped the device's MR, QP and PD
 * counts (`rdma resource show`) must be back where they were. After all
 * rounds the parent runs a fresh ODP WRITE/READ on the device and checks
 * every byte. Kernel splats and leaks are for the harness to see (it scans
 * the console and runs kmemleak in the debug flavor): this program's job
 * is to take the kernel through those paths and show the device works
 * afterwards.
 *
 * Exit 0 when every check passed, 77 when the device does not advertise
 * RC ODP for WRITE and READ, 1 otherwise.
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

#include "check.h"
#include "loopback.h"

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

struct round {
	const char *name;
	enum moment when;	/* when the child signals the parent */
	enum mix mix;
	int delay_ms;		/* from the signal to the kill */
	bool dontneed;		/* drop the target's pages every pass */
};

static const struct round rounds[] = {
	{ "right after ibv_reg_mr of the target", AFTER_REG, BOTH, 0, false },
	{ "with WRITEs faulting into the never-touched target", IN_FLIGHT,
	  WRITES, 0, false },
	{ "with READs faulting the never-touched target", IN_FLIGHT, READS, 2, false },
	{ "after 0.5 s of WRITE/READ traffic", TRAFFIC, BOTH, 500, false },
	{ "after 0.5 s of WRITEs while the target's pages are dropped", TRAFFIC,
	  WRITES, 500, true },
	{ "0.1 s into WRITE/READ traffic with the pages dropped", TRAFFIC, BOTH,
	  100, true },
};

#define NROUNDS	(sizeof(rounds) / sizeof(rounds[0]))

/* What the child tells the parent besides the pipe: shared memory. */
struct progress {
	atomic_long posted, done;
	atomic_int bad_status;		/* an error completion's status, or -1 */
	char why[128];			/* why the child gave up */
};

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

struct counts {
	long mr, qp, pd;
};

static struct counts res_counts(void)
{
	struct counts c = {
		.mr = rdma_res_count(opts.dev, "mr"),
		.qp = rdma_res_count(opts.dev, "qp"),
		.pd = rdma_res_count(opts.dev, "pd"),
	};

	return c;
}

static bool counts_equal(const struct counts *a, const struct counts *b)
{
	return a->mr == b->mr && a->qp == b->qp && a->pd == b->pd;
}

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

static enum ibv_wr_opcode child_op(const struct round *r, long n)
{
	if (r->mix == WRITES)
		return IBV_WR_RDMA_WRITE;
	if (r->mix == READS)
		return IBV_WR_RDMA_READ;
	return n % 2 ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE;
}

/* Request @n: 1 MiB at the next MiB of the target, round and round. */
static void child_post(struct loopback *lb, const struct round *r, long n,
		       unsigned char *buf, struct ibv_mr *bmr,
		       unsigned char *tgt, struct ibv_mr *tmr, struct progress *pr)
{
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = CHUNK,
			       .lkey = bmr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = n, .sg_list = &sge, .num_sge = 1, .opcode = child_op(r, n),
		.wr.rdma = {
			.remote_addr = (uintptr_t)(tgt + n % (TARGET / CHUNK) * CHUNK),
			.rkey = tmr->rkey,
		},
	}, *bad;

	if (ibv_post_send(lb->qp[0], &wr, &bad))
		child_fail(pr, "ibv_post_send: %s", strerror(errno));
}

/* Keep WINDOW requests in flight until killed; see struct round. */
static void __attribute__((noreturn))
child_stream(struct loopback *lb, const struct round *r, int out,
	     unsigned char *buf, struct ibv_mr *bmr, unsigned char *tgt,
	     struct ibv_mr *tmr, struct progress *pr)
{
	long posted = 0, done = 0;
	bool told = r->when == AFTER_REG;
	struct ibv_wc wc[16];
	int n, i;

	for (;;) {
		for (; posted - done < WINDOW; posted++) {
			if (r->dontneed && posted && posted % (TARGET / CHUNK) == 0)
				madvise(tgt, TARGET, MADV_DONTNEED);
			child_post(lb, r, posted, buf, bmr, tgt, tmr, pr);
		}
		atomic_store(&pr->posted, posted);
		if (!told && r->when == IN_FLIGHT) {
			child_signal(out);
			told = true;
		}
		n = ibv_poll_cq(lb->cq, 16, wc);
		if (n < 0)
			child_fail(pr, "ibv_poll_cq: %d", n);
		for (i = 0; i < n; i++) {
			if (wc[i].status == IBV_WC_SUCCESS)
				continue;
			atomic_store(&pr->bad_status, wc[i].status);
			child_fail(pr, "request %llu: %s", (unsigned long long)wc[i].wr_id,
				   ibv_wc_status_str(wc[i].status));
		}
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

static void __attribute__((noreturn))
child_main(const struct round *r, int out, struct progress *pr)
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
	if (r->when == AFTER_REG)
		child_signal(out);
	child_stream(&lb, r, out, buf, bmr, tgt, tmr, pr);
}

/* --- the parent --- */

/* The child's byte on @fd, or 0 on end of file or timeout. */
static char wait_for_child(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&pfd, 1, PIPE_MS) != 1)
		return 0;
	return read(fd, &c, 1) == 1 ? c : 0;
}

/* How the child ended, for the verdict line; true when by our SIGKILL. */
static bool reaped_by_kill(pid_t pid, const struct progress *pr, char *how,
			   size_t len)
{
	int status;

	if (waitpid(pid, &status, 0) != pid) {
		snprintf(how, len, "waitpid: %s", strerror(errno));
		return false;
	}
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
		snprintf(how, len, "killed");
		return true;
	}
	if (WIFSIGNALED(status))
		snprintf(how, len, "died of signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(how, len, "exited with %d: %s", WEXITSTATUS(status),
			 pr->why[0] ? pr->why : "no reason given");
	return false;
}

/* The device's resource counts return to @base within RES_MS. */
static bool counts_back(const struct counts *base, struct counts *now)
{
	long end = now_ms() + RES_MS;

	do {
		*now = res_counts();
		if (counts_equal(now, base))
			return true;
		sleep_ms(20);
	} while (now_ms() < end);
	return false;
}

static void one_round(const struct round *r, int k, struct progress *pr,
		      const struct counts *base)
{
	int fds[2];
	long t0, posted, done;
	struct counts now = { -1, -1, -1 };
	char how[192];
	bool killed, back;
	pid_t pid;
	char c;

	memset(pr, 0, sizeof(*pr));
	atomic_store(&pr->bad_status, -1);
	if (pipe(fds)) {
		perror("pipe");
		exit(1);
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(r, fds[1], pr);
	}
	close(fds[1]);
	t0 = now_ms();
	c = wait_for_child(fds[0]);
	if (r->delay_ms)
		sleep_ms(r->delay_ms);
	posted = atomic_load(&pr->posted);
	done = atomic_load(&pr->done);
	kill(pid, SIGKILL);
	killed = reaped_by_kill(pid, pr, how, sizeof(how));
	close(fds[0]);
	expect(c == 'R' && killed, "round %d: SIGKILL %s: child %s %ld ms after "
	       "fork, %ld requests posted, %ld completed", k, r->name, how,
	       now_ms() - t0, posted, done);
	if (r->when == TRAFFIC)
		expect(done > 0, "round %d: traffic ran before the kill (%ld "
		       "requests of 1 MiB completed)", k, done);
	/* A count that cannot be read (no `rdma resource show`) fails. */
	back = base->mr >= 0 && counts_back(base, &now);
	expect(back, "round %d: %s's MR, QP and PD counts "
	       "back at %ld, %ld, %ld after the child (now %ld, %ld, %ld)", k,
	       opts.dev, base->mr, base->qp, base->pd, now.mr, now.qp, now.pd);
}

/* A fresh ODP WRITE and READ in this process, every byte checked. */
static void device_still_works(void)
{
	size_t tlen = 4 * CHUNK, off = CHUNK + 123, len = CHUNK;
	unsigned char *tgt, *src, *dst;
	struct ibv_mr *tmr, *smr, *dmr;
	struct loopback lb;
	int w = -1, rd = -1;

	if (loopback_open(&lb, &opts) || loopback_connect(&lb)) {
		expect(false, "after the kills: %s opens and connects QPs", opts.dev);
		return;
	}
	tgt = mmap(NULL, tlen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	src = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dst = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (tgt == MAP_FAILED || src == MAP_FAILED || dst == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	tmr = ibv_reg_mr(lb.pd, tgt, tlen, ODP_RW);
	smr = ibv_reg_mr(lb.pd, src, len, ODP_RW);
	dmr = ibv_reg_mr(lb.pd, dst, len, ODP_RW);
	if (tmr && smr && dmr) {
		pattern_fill(src, len, 77);
		memset(dst, 0xee, len);
		w = loopback_rdma(&lb, IBV_WR_RDMA_WRITE, src, smr->lkey, tgt + off,
				  tmr->rkey, len);
		if (w == IBV_WC_SUCCESS)
			rd = loopback_rdma(&lb, IBV_WR_RDMA_READ, dst, dmr->lkey,
					   tgt + off, tmr->rkey, len);
	} else {
		perror("ibv_reg_mr");
	}
	expect(w == IBV_WC_SUCCESS && rd == IBV_WC_SUCCESS &&
	       pattern_check(tgt + off, len, 77, "target after WRITE") &&
	       pattern_check(dst, len, 77, "READ back") &&
	       bytes_check(tgt, off, 0, "target before the WRITE") &&
	       bytes_check(tgt + off + len, tlen - off - len, 0, "target after the WRITE"),
	       "after the kills: a fresh 1 MiB ODP WRITE into a new MR and READ "
	       "back verify (%s, %s)", w < 0 ? "-" : ibv_wc_status_str(w),
	       rd < 0 ? "-" : ibv_wc_status_str(rd));
	if (tmr)
		ibv_dereg_mr(tmr);
	if (smr)
		ibv_dereg_mr(smr);
	if (dmr)
		ibv_dereg_mr(dmr);
	loopback_close(&lb);
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-d dev] [-g gid_index] [-r repeats]\n"
		"  -r  times through the %zu kill moments, default 1\n", prog, NROUNDS);
	exit(2);
}

int main(int argc, char **argv)
{
	struct progress *pr;
	struct loopback lb;
	struct counts base;
	int repeats = 1, c, i, k = 0;
	bool odp;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt(argc, argv, "d:g:r:")) != -1) {
		switch (c) {
		case 'd': opts.dev = optarg; break;
		case 'g': opts.gid_index = atoi(optarg); break;
		case 'r': repeats = atoi(optarg); break;
		default: usage(argv[0]);
		}
	}
	if (repeats < 1)
		usage(argv[0]);
	/* The parent holds no verbs object while the children run. */
	if (loopback_open(&lb, &opts))
		return 1;
	odp = loopback_has_odp_rc(&lb, IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ);
	loopback_close(&lb);
	if (!odp) {
		printf("%s does not advertise RC ODP for RDMA WRITE and READ\n", opts.dev);
		return EXIT_SKIP;
	}
	pr = mmap(NULL, sizeof(*pr), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pr == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	base = res_counts();
	if (base.mr < 0)
		printf("no `rdma resource show`: resource counts are not checked\n");

	for (i = 0; i < repeats; i++)
		for (size_t j = 0; j < NROUNDS; j++)
			one_round(&rounds[j], ++k, pr, &base);
	device_still_works();

	printf("odp_kill: %d checks failed\n", expect_failures());
	return expect_failures() ? 1 : 0;
}
