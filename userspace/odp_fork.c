// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_fork: fork() with an ODP MR is plain copy-on-write.
 *
 *   odp_fork [-d ib_dev] [-g gid_idx] [kselftest harness options]
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
 * into pages the child still owns.
 *
 * Cases fork.{pinned,odp}.{child_first,remote_first,concurrent}: the child
 * writes first, the remote WRITE comes first, or both run at once. Each
 * case forks three times over the same MRs (the later forks find the
 * device mapping the pages an earlier one left behind), the remote WRITE
 * going in one message, then page by page from the end, then in one
 * message again (remote_first the other way round). A case fails if any
 * of its checks (printed as "# ok ..." or "# FAIL ...") failed.
 *
 * No ibv_fork_init() and no MADV_DONTFORK: rdma-core's fork support exists
 * for kernels where a pinned page stays with whichever process writes it
 * first after fork; it marks registered memory MADV_DONTFORK, which would
 * take the buffer away from the child. This kernel copies pinned pages for
 * the child at fork and ODP pages are never pinned, so rdma-core reports
 * fork support as unneeded; the child uses no verbs object (rxe's queues
 * are shared mappings of kernel memory, untouched by copy-on-write).
 *
 * The pinned variant relies on that copy at fork: the parent keeps its
 * pinned pages, never shared with the child, and the device writes into
 * them. Its cases skip where rdma-core says the kernel makes no such copy
 * (fork support "disabled" rather than "unneeded"), the ODP ones where
 * the device does not advertise RC ODP for WRITE and READ, and all of
 * them where rdma-core's fork support is enabled (RDMAV_FORK_SAFE).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "harness.h"

#include "check.h"
#include "loopback.h"
#include "mirror.h"

#define NPAGES		24
#define ROUNDS		3	/* per case: forks over the same MRs */
#define WAIT_MS		30000	/* how long either side waits for the other */

enum order { CHILD_FIRST, REMOTE_FIRST, CONCURRENT, NORDERS };

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
	struct ibv_mr *tmr;	/* over m.tgt, the buffer under test */
	struct mirror m;	/* what the WRITE sends, where READ lands */
};

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

static enum page_class page_class(size_t i)
{
	return (enum page_class)(i % 3);
}

/* The CPU writes pattern @seed into the target's pages of class @c. */
static void cpu_write(struct forker *f, enum page_class c, unsigned int seed)
{
	size_t i;

	for (i = 0; i < NPAGES; i++)
		if (page_class(i) == c)
			pattern_fill_at(f->m.tgt + i * f->page, f->page, seed,
					i * f->page);
}

/* --- the socket between parent and child --- */

static bool send_byte(int fd, char c)
{
	if (write(fd, &c, 1) == 1)
		return true;
	perror("write to the other side");
	return false;
}

/* The next byte from @fd, or 0 on end of file, error or timeout. */
static char recv_byte(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&pfd, 1, WAIT_MS) != 1) {
		fprintf(stderr, "pid %d: nothing from the other side within %d ms\n",
			(int)getpid(), WAIT_MS);
		return 0;
	}
	return read(fd, &c, 1) == 1 ? c : 0;
}

/* --- the child --- */

static bool child_check(struct forker *f, const struct seeds *s)
{
	bool ok = true;
	char what[64];
	size_t i;

	for (i = 0; i < NPAGES; i++) {
		unsigned int want = page_class(i) == CHILD_WRITES ? s->child : s->before;

		snprintf(what, sizeof(what), "child: page %zu", i);
		ok &= pattern_check_at(f->m.tgt + i * f->page, f->page, want,
				       i * f->page, what);
	}
	return ok;
}

/*
 * 'G' from the parent: write. 'W' back: written. 'D' from the parent:
 * the remote WRITE is over, check. 'O' or 'F' back: the verdict. The
 * child never returns into the harness: its verdict is its exit status.
 */
static void __attribute__((noreturn))
child_main(struct forker *f, const struct seeds *s, int fd)
{
	bool ok;

	alarm(2 * WAIT_MS / 1000);
	if (recv_byte(fd) != 'G')
		_exit(1);
	cpu_write(f, CHILD_WRITES, s->child);
	if (!send_byte(fd, 'W') || recv_byte(fd) != 'D')
		_exit(1);
	ok = child_check(f, s);
	send_byte(fd, ok ? 'O' : 'F');
	_exit(ok ? 0 : 1);
}

/* --- the parent --- */

/* The target holds @seed for the CPU and for an RDMA READ. */
static bool parent_sees(struct forker *f, unsigned int seed, const char *what)
{
	return pattern_check(f->m.tgt, f->size, seed, what) &&
	       mirror_read_is(&f->m, 0, f->size, seed, what);
}

/*
 * The remote WRITE of the whole target, in one message or page by page
 * from the end. The source is written by the CPU after the fork, so it is
 * copied on write as well.
 */
static bool remote_write(struct forker *f, unsigned int seed, bool by_page)
{
	size_t i;

	if (!by_page)
		return mirror_write_ok(&f->m, 0, f->size, seed, "parent: remote WRITE");
	for (i = NPAGES; i-- > 0;)
		if (!mirror_write_ok(&f->m, i * f->page, f->page, seed,
				     "parent: remote WRITE of a page"))
			return false;
	return true;
}

/* The parent's side of one round, in @order; see child_main(). */
static bool parent_round(struct forker *f, const struct seeds *s,
			 enum order order, bool by_page, int fd)
{
	bool ok = true;

	if (order != REMOTE_FIRST && !send_byte(fd, 'G'))
		return false;
	if (order == CHILD_FIRST && recv_byte(fd) != 'W')
		return false;
	cpu_write(f, PARENT_WRITES, s->parent);
	ok = remote_write(f, s->remote, by_page);
	if (order == REMOTE_FIRST && !send_byte(fd, 'G'))
		return false;
	if (order != CHILD_FIRST && recv_byte(fd) != 'W')
		return false;
	if (!send_byte(fd, 'D'))
		return false;
	if (recv_byte(fd) != 'O')
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

/*
 * Round @k in @order, numbered as when one program ran the orders in
 * turn, so that every round of every case has seeds of its own.
 */
static void one_round(struct __test_metadata *_metadata, struct forker *f,
		      enum order order, int k)
{
	int round = order + k * NORDERS;
	bool by_page = round % 2, ok;
	struct seeds s = {
		.before = 100 + 10 * round, .child = 101 + 10 * round,
		.parent = 102 + 10 * round, .remote = 103 + 10 * round,
	};
	int sv[2];
	pid_t pid;

	ok = mirror_write_ok(&f->m, 0, f->size, s.before, "parent: before fork") &&
	     mirror_read_is(&f->m, 0, f->size, s.before, "parent: before fork");
	if (!ok) {
		expect(false, "round %d: the target primed before the fork", round);
		return;
	}
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	fflush(NULL);
	pid = fork();
	ASSERT_LE(0, pid) TH_LOG("fork: %s", strerror(errno));
	if (pid == 0) {
		close(sv[0]);
		child_main(f, &s, sv[1]);
	}
	close(sv[1]);
	ok = parent_round(f, &s, order, by_page, sv[0]);
	/* On a failure the child sees end of file and gives up. */
	close(sv[0]);
	ok &= reap(pid);
	expect(ok, "round %d (%s, remote WRITE %s): the parent sees the remote "
	       "WRITE, the child only its own data", round, order_name[order],
	       by_page ? "page by page" : "in one message");
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

FIXTURE(fork) {
	struct forker f;
};

PINNED_AND_ODP_VARIANTS(fork);

FIXTURE_SETUP(fork)
{
	struct forker *f = &self->f;
	enum ibv_fork_status fst;
	unsigned char *tgt;

	LOOPBACK_OPEN_OR_SKIP(&f->lb, &opts, variant->odp,
			      IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ);
	fst = ibv_is_fork_initialized();
	/* RDMAV_FORK_SAFE: registered memory would be MADV_DONTFORK. */
	if (fst == IBV_FORK_ENABLED)
		SKIP(return, "rdma-core fork support is enabled (RDMAV_FORK_SAFE?): "
		     "registered memory would not reach the child");
	if (!variant->odp && fst != IBV_FORK_UNNEEDED)
		SKIP(return, "rdma-core fork support is %s: the kernel does not "
		     "copy pinned pages for the child at fork", fork_status(fst));
	ASSERT_EQ(0, loopback_connect(&f->lb));
	f->page = sysconf(_SC_PAGESIZE);
	f->size = NPAGES * f->page;
	tgt = map_anon(NULL, f->size);
	f->tmr = mirror_reg(&f->lb, tgt, f->size, variant->odp);
	mirror_open(&f->m, &f->lb, map_anon(NULL, f->size),
		    map_anon(NULL, f->size), f->size, variant->odp);
	mirror_at(&f->m, f->tmr);
	/* A child that outlives a failed round must not kill the parent. */
	signal(SIGPIPE, SIG_IGN);
}

FIXTURE_TEARDOWN(fork)
{
	struct forker *f = &self->f;

	loopback_dereg(f->tmr);
	mirror_close(&f->m);
	loopback_close(&f->lb);
	munmap(f->m.tgt, f->size);
	munmap(f->m.src, f->size);
	munmap(f->m.dst, f->size);
}

static void fork_rounds(struct __test_metadata *_metadata, struct forker *f,
			enum order order)
{
	int k;

	for (k = 0; k < ROUNDS; k++)
		one_round(_metadata, f, order, k);
	EXPECT_EQ(0, expect_failures());
}

TEST_F_TIMEOUT(fork, child_first, 300)
{
	fork_rounds(_metadata, &self->f, CHILD_FIRST);
}

TEST_F_TIMEOUT(fork, remote_first, 300)
{
	fork_rounds(_metadata, &self->f, REMOTE_FIRST);
}

TEST_F_TIMEOUT(fork, concurrent, 300)
{
	fork_rounds(_metadata, &self->f, CONCURRENT);
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
