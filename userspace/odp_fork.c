// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_fork: fork() with an ODP MR is plain copy-on-write.
 *
 *   odp_fork [-d dev] [-g gid_index] [-p] [-r rounds]
 *
 * The parent registers a MAP_PRIVATE anonymous buffer as an ODP MR, makes
 * the device map all of it (RDMA WRITE and READ), and forks. The child
 * writes its own pattern into every third page of its copy, while the
 * parent has the buffer written remotely through its loopback QPs. Of the
 * other pages the parent writes every third one with the CPU first (so
 * that the parent, not the child, breaks copy-on-write) and leaves the
 * rest shared until the remote WRITE. Then:
 *
 *   - the parent's buffer holds the remote data everywhere (CPU and READ);
 *   - the child's copy holds its own pattern where it wrote and the data
 *     from before the fork everywhere else: never the remote data.
 *
 * A device that kept using the pages mapped before the fork would write
 * into pages the child still owns. Rounds rotate the order: the child
 * writes first, the remote WRITE comes first, or both run at once.
 *
 * No ibv_fork_init() and no MADV_DONTFORK: rdma-core's fork support exists
 * for kernels where a pinned page stays with whichever process writes it
 * first after fork; it marks registered memory MADV_DONTFORK, which would
 * take the buffer away from the child. This kernel copies pinned pages for
 * the child at fork and ODP pages are never pinned, so rdma-core reports
 * fork support as unneeded; the child uses no verbs object (rxe's queues
 * are shared mappings of kernel memory, untouched by copy-on-write).
 *
 * -p registers pinned memory instead: the kernel copies the pinned pages
 * for the child at fork, so this passes there too, but the test is about
 * ODP and may fail pinned on kernels without that copy. Exit 0 when every
 * round passed, 77 when the device does not advertise RC ODP for WRITE and
 * READ, 1 otherwise.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "loopback.h"

#define NPAGES		24
#define PIPE_MS		30000	/* how long either side waits for the other */

enum order { CHILD_FIRST, REMOTE_FIRST, CONCURRENT };

static const char *const order_name[] = {
	[CHILD_FIRST] = "child writes first",
	[REMOTE_FIRST] = "remote WRITE first",
	[CONCURRENT] = "both at once",
};

/* What each page holds after a round depends on its class. */
enum page_class { CHILD_WRITES, PARENT_WRITES, NOBODY_WRITES };

struct seeds {
	unsigned int before;	/* the whole buffer, before fork */
	unsigned int child;	/* the child's CPU writes */
	unsigned int parent;	/* the parent's CPU writes after fork */
	unsigned int remote;	/* the RDMA WRITE into the parent's buffer */
};

struct forker {
	struct loopback lb;
	size_t page, size;
	unsigned char *tgt;	/* the buffer under test, the WRITE's target */
	unsigned char *src;	/* what the WRITE sends */
	unsigned char *dst;	/* where READ puts the target's bytes */
	struct ibv_mr *tmr, *smr, *dmr;
};

static enum page_class page_class(size_t i)
{
	return (enum page_class)(i % 3);
}

static struct ibv_mr *reg(struct forker *f, void *buf, bool odp)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		     IBV_ACCESS_REMOTE_READ;
	struct ibv_mr *mr;

	if (odp)
		access |= IBV_ACCESS_ON_DEMAND;
	mr = ibv_reg_mr(f->lb.pd, buf, f->size, access);
	if (!mr) {
		perror("ibv_reg_mr");
		exit(1);
	}
	return mr;
}

/* --- the pipes between parent and child --- */

static bool send_byte(int fd, char c)
{
	if (write(fd, &c, 1) == 1)
		return true;
	perror("pipe write");
	return false;
}

/* The next byte from @fd, or 0 on end of file, error or timeout. */
static char recv_byte(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&pfd, 1, PIPE_MS) != 1) {
		fprintf(stderr, "pid %d: nothing on the pipe within %d ms\n",
			(int)getpid(), PIPE_MS);
		return 0;
	}
	return read(fd, &c, 1) == 1 ? c : 0;
}

/* --- the child --- */

static void child_write(struct forker *f, const struct seeds *s)
{
	size_t i;

	for (i = 0; i < NPAGES; i++)
		if (page_class(i) == CHILD_WRITES)
			pattern_fill_at(f->tgt + i * f->page, f->page, s->child,
					i * f->page);
}

static bool child_check(struct forker *f, const struct seeds *s)
{
	bool ok = true;
	char what[64];
	size_t i;

	for (i = 0; i < NPAGES; i++) {
		unsigned int want = page_class(i) == CHILD_WRITES ? s->child : s->before;

		snprintf(what, sizeof(what), "child: page %zu", i);
		ok &= pattern_check_at(f->tgt + i * f->page, f->page, want,
				       i * f->page, what);
	}
	return ok;
}

/*
 * 'G' from the parent: write. 'W' back: written. 'D' from the parent:
 * the remote WRITE is over, check. 'O' or 'F' back: the verdict.
 */
static void __attribute__((noreturn))
child_main(struct forker *f, const struct seeds *s, int in, int out)
{
	bool ok;

	alarm(2 * PIPE_MS / 1000);
	if (recv_byte(in) != 'G')
		_exit(1);
	child_write(f, s);
	if (!send_byte(out, 'W') || recv_byte(in) != 'D')
		_exit(1);
	ok = child_check(f, s);
	send_byte(out, ok ? 'O' : 'F');
	_exit(ok ? 0 : 1);
}

/* --- the parent --- */

static bool rdma(struct forker *f, enum ibv_wr_opcode op, size_t off, size_t len)
{
	bool wr = op == IBV_WR_RDMA_WRITE;
	int st;

	st = loopback_rdma(&f->lb, op, (wr ? f->src : f->dst) + off,
			   wr ? f->smr->lkey : f->dmr->lkey, f->tgt + off,
			   f->tmr->rkey, len);
	if (st == IBV_WC_SUCCESS)
		return true;
	fprintf(stderr, "parent: RDMA %s at +%zu: %s\n", wr ? "WRITE" : "READ",
		off, st < 0 ? "no completion" : ibv_wc_status_str(st));
	if (loopback_reconnect(&f->lb)) {
		fprintf(stderr, "cannot reconnect the QPs after an error\n");
		exit(1);
	}
	return false;
}

/* The target holds @seed for the CPU and for an RDMA READ. */
static bool parent_sees(struct forker *f, unsigned int seed, const char *what)
{
	memset(f->dst, 0xee, f->size);
	return pattern_check(f->tgt, f->size, seed, what) &&
	       rdma(f, IBV_WR_RDMA_READ, 0, f->size) &&
	       pattern_check(f->dst, f->size, seed, what);
}

/* Before fork: the whole target written and read through the device. */
static bool prime(struct forker *f, unsigned int seed)
{
	pattern_fill(f->src, f->size, seed);
	return rdma(f, IBV_WR_RDMA_WRITE, 0, f->size) &&
	       parent_sees(f, seed, "parent: before fork");
}

static void parent_cpu_write(struct forker *f, const struct seeds *s)
{
	size_t i;

	for (i = 0; i < NPAGES; i++)
		if (page_class(i) == PARENT_WRITES)
			pattern_fill_at(f->tgt + i * f->page, f->page, s->parent,
					i * f->page);
}

/*
 * The remote WRITE of the whole target: in one message on even rounds,
 * page by page from the end on odd ones. The source is written by the CPU
 * after the fork, so it is copied on write as well.
 */
static bool remote_write(struct forker *f, const struct seeds *s, int round)
{
	size_t i;

	pattern_fill(f->src, f->size, s->remote);
	if (round % 2 == 0)
		return rdma(f, IBV_WR_RDMA_WRITE, 0, f->size);
	for (i = NPAGES; i-- > 0;)
		if (!rdma(f, IBV_WR_RDMA_WRITE, i * f->page, f->page))
			return false;
	return true;
}

/* The parent's side of one round, in @order; see child_main(). */
static bool parent_round(struct forker *f, const struct seeds *s, int round,
			 enum order order, int in, int out)
{
	bool ok = true;

	if (order != REMOTE_FIRST && !send_byte(out, 'G'))
		return false;
	if (order == CHILD_FIRST && recv_byte(in) != 'W')
		return false;
	parent_cpu_write(f, s);
	ok = remote_write(f, s, round);
	if (order == REMOTE_FIRST && !send_byte(out, 'G'))
		return false;
	if (order != CHILD_FIRST && recv_byte(in) != 'W')
		return false;
	if (!send_byte(out, 'D'))
		return false;
	if (recv_byte(in) != 'O')
		ok = false;
	/* The child's writes, whenever they came, stayed in the child. */
	return parent_sees(f, s->remote, "parent: after the round") && ok;
}

static bool reap(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return false;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	if (WIFSIGNALED(status))
		fprintf(stderr, "child killed by signal %d\n", WTERMSIG(status));
	else
		fprintf(stderr, "child exited with %d\n", WEXITSTATUS(status));
	return false;
}

static bool one_round(struct forker *f, int round)
{
	enum order order = (enum order)(round % 3);
	struct seeds s = {
		.before = 100 + 10 * round, .child = 101 + 10 * round,
		.parent = 102 + 10 * round, .remote = 103 + 10 * round,
	};
	int to_child[2], to_parent[2];
	bool ok;
	pid_t pid;

	if (!prime(f, s.before)) {
		expect(false, "round %d: the target primed before the fork", round);
		return false;
	}
	if (pipe(to_child) || pipe(to_parent)) {
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
		close(to_child[1]);
		close(to_parent[0]);
		child_main(f, &s, to_child[0], to_parent[1]);
	}
	close(to_child[0]);
	close(to_parent[1]);
	ok = parent_round(f, &s, round, order, to_parent[0], to_child[1]);
	/* On a failure the child sees end of file and gives up. */
	close(to_child[1]);
	close(to_parent[0]);
	ok &= reap(pid);
	expect(ok, "round %d (%s): the parent sees the remote WRITE, "
	       "the child only its own data", round, order_name[order]);
	return ok;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-d dev] [-g gid_index] [-p] [-r rounds]\n"
		"  -p  pinned MRs instead of ODP (the test is about ODP; pinned it\n"
		"      passes only where the kernel copies pinned pages at fork)\n"
		"  -r  rounds, default 9 (the three orders in turn)\n", prog);
	exit(2);
}

static const char *fork_status(enum ibv_fork_status st)
{
	switch (st) {
	case IBV_FORK_DISABLED: return "disabled";
	case IBV_FORK_ENABLED: return "enabled";
	case IBV_FORK_UNNEEDED: return "unneeded";
	}
	return "unknown";
}

int main(int argc, char **argv)
{
	struct loopback_opts o = { .dev = "rxe0", .gid_index = 1 };
	struct forker f = { 0 };
	enum ibv_fork_status fst;
	int rounds = 9, round, failed = 0, c;
	bool odp = true;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt(argc, argv, "d:g:pr:")) != -1) {
		switch (c) {
		case 'd': o.dev = optarg; break;
		case 'g': o.gid_index = atoi(optarg); break;
		case 'p': odp = false; break;
		case 'r': rounds = atoi(optarg); break;
		default: usage(argv[0]);
		}
	}
	if (rounds < 1)
		usage(argv[0]);
	if (loopback_open(&f.lb, &o))
		return 1;
	if (odp && !loopback_has_odp_rc(&f.lb, IBV_ODP_SUPPORT_WRITE |
					IBV_ODP_SUPPORT_READ)) {
		printf("%s does not advertise RC ODP for RDMA WRITE and READ\n", o.dev);
		return EXIT_SKIP;
	}
	fst = ibv_is_fork_initialized();
	printf("rdma-core fork support: %s\n", fork_status(fst));
	if (fst == IBV_FORK_ENABLED) {
		/* RDMAV_FORK_SAFE: registered memory would be MADV_DONTFORK. */
		printf("rdma-core fork support is enabled (RDMAV_FORK_SAFE?): "
		       "registered memory would not reach the child\n");
		return EXIT_SKIP;
	}
	if (loopback_connect(&f.lb))
		return 1;
	f.page = sysconf(_SC_PAGESIZE);
	f.size = NPAGES * f.page;
	f.tgt = map_anon(NULL, f.size);
	f.src = map_anon(NULL, f.size);
	f.dst = map_anon(NULL, f.size);
	f.tmr = reg(&f, f.tgt, odp);
	f.smr = reg(&f, f.src, odp);
	f.dmr = reg(&f, f.dst, odp);
	/* A child that outlives a failed round must not kill the parent. */
	signal(SIGPIPE, SIG_IGN);

	for (round = 0; round < rounds; round++)
		failed += !one_round(&f, round);

	ibv_dereg_mr(f.tmr);
	ibv_dereg_mr(f.smr);
	ibv_dereg_mr(f.dmr);
	loopback_close(&f.lb);
	printf("%s: %d of %d rounds failed, %d checks failed\n",
	       odp ? "odp" : "pinned", failed, rounds, expect_failures());
	return failed || expect_failures() ? 1 : 0;
}
