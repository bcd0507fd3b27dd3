// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_stall: an ODP MR over a page whose fault never finishes.
 *
 *   odp_stall [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * The program mounts a FUSE file system of its own (libfuse3, high-level
 * API) on a fresh directory under /tmp, serving one read-only file of
 * NPAGES pages whose bytes are check.h's pattern SEED at their offset.
 * Its read handler can be made to stall: it records the read (offset,
 * length, the pid that asked) and blocks until released, or forever. The
 * file is mapped PROT_READ, MAP_SHARED and registered as an ODP MR with
 * IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND; a loopback RC pair RDMA
 * READs from it into an ordinary (pinned) MR. The file system asks for no
 * readahead, so a fault reads its one page, and a page that is not cached
 * makes the responder's fault (hmm_range_fault() on the file mapping,
 * from a kernel worker) wait in the daemon's read handler.
 *
 * Cases:
 *
 *   stall.read_after_release  A READ of the whole file returns its bytes.
 *       Then one page is dropped (mapping and page cache, checked with
 *       mincore()) and the daemon stalls: a READ of that page must reach
 *       the daemon as a read of exactly that page, from a kernel thread
 *       (its comm is printed), and the READ must still be pending 2 s
 *       later - the stall holds the kernel's fault. After the release it
 *       completes successfully with the page's bytes, then the whole file
 *       reads right again.
 *   stall.ahead_stops_with_qp  A READ of the whole file, whose first
 *       AHEAD_OFF bytes are cached, stalls in rxe's background fault-ahead
 *       at AHEAD_OFF. The responder QP is moved to the error state and the
 *       stall released: the fault-ahead must finish the step it was in and
 *       stop, the daemon seeing no read at AHEAD_STEP_END or beyond.
 *   stall.dereg  While a READ's fault is stalled: ibv_dereg_mr of the
 *       FUSE-backed MR must return within BOUND_MS, the fault still
 *       waiting; then the kernel's destroy of the responder QP must
 *       return within BOUND_MS (see stall_destroy_qp() for how it is told
 *       apart from rdma-core's munmap of the queue afterwards, which waits
 *       for the mmap lock the stalled fault holds). After the release the
 *       rest of the teardown finishes, and a fresh loopback pair on the
 *       device does a verified ODP WRITE and READ.
 *   stall_kill.daemon.recovers  A child mounts the file system, registers
 *       the MR and posts the READ; once its own daemon has the stalled read
 *       (the child tells the parent through a pipe) the parent SIGKILLs
 *       it, and the child must be reaped within KILL_BOUND_MS. The killed
 *       daemon's mount is then detached (MNT_DETACH).
 *   stall_kill.held.recovers  The same, with the daemon in the parent,
 *       which keeps the fault stalled until the child is reaped: the exit
 *       must not wait for the fault.
 *   In both, the device's MR, QP and PD counts (`rdma resource show`)
 *   must be back where they were before the fork (a count that cannot be
 *   read fails), and a fresh loopback pair does a verified ODP WRITE and
 *   READ.
 *
 * A bound that is exceeded fails the case with how long it took; the
 * stall is held for up to OBSERVE_MS to measure that, then released (or,
 * with the daemon dead, the FUSE connection aborted through fusectl), so
 * that the program ends. A case fails if any of its checks (printed as
 * "# ok ..." or "# FAIL ...") failed. Kernel splats are for the suite to
 * see on the console. The cases skip where the device does not advertise
 * RC ODP for READ (and WRITE, for the final check), where the kernel has
 * no FUSE, or without root or /dev/fuse.
 *
 * While a fault of this process's memory is stalled, it holds the mmap
 * lock of this process for reading: anything here that takes it for
 * writing (mmap, munmap, brk, mprotect, thread creation, fork) would wait
 * for the release, and so would the daemon, deadlocking, if it were in
 * this process and needed it. So threads are made before a stall, the
 * daemon's loop is single-threaded, and main() makes malloc() take all its
 * memory up front from one arena that never shrinks.
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "check.h"
#include "harness.h"
#include "loopback.h"
#include "mirror.h"

#define FILE_NAME	"data"
#define NPAGES		64		/* the file's size in pages */
#define STALL_PAGE	9		/* the page whose fault stalls */
/*
 * rxe's background fault-ahead works in steps of 64 KiB, after a first
 * 64 KiB that the miss faults itself: this offset is in its first step.
 */
#define AHEAD_OFF	(80ul << 10)
#define AHEAD_STEP_END	(128ul << 10)
#define SEED		0x57a11		/* the file's pattern */
#define POISON		0xee		/* a READ destination before the READ */

/*
 * The QPs' local ACK timeout, 4.096 us << 18 = 1.07 s, times 1 + 7
 * retries: a requester waits about 8.6 s for a response that does not
 * come, so that a READ the responder let go (its fault had not finished
 * in time) is retried past the HOLD_MS stall of read_after_release.
 */
#define QP_TIMEOUT	18

#define SEEN_MS		20000	/* for the stalled read to reach the daemon */
#define HOLD_MS		2000	/* the READ must still be pending after this */
#define DONE_MS		30000	/* for the READ to complete after the release */
#define BOUND_MS	15000	/* dereg, destroy must return within this */
#define KILL_BOUND_MS	30000	/* the killed child must be reaped within this */
#define OBSERVE_MS	60000	/* how long the stall is held to measure */
#define AFTER_MS	120000	/* for the rest, once the stall is released */
#define PIPE_MS		60000	/* for the child to report its stalled read */
#define RES_MS		5000	/* for the child's resources to go */
#define CHILD_LIMIT	300	/* s: the child ends itself after this */

#define WR_STALL	7001	/* wr_id of the READ that stalls */

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };
static size_t page, file_size;

/* --- the FUSE file system --- */

struct stallfs {
	char path[96];		/* the file */
	struct fuse *fuse;
	pthread_t loop;
	bool mounted, looping;
	long conn;		/* its number under /sys/fs/fuse/connections */
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* on CLOCK_MONOTONIC */
	/* under lock: */
	bool stall;		/* reads wait while set */
	long waiting;		/* reads waiting now */
	long reads;		/* reads answered */
	long seen_off;		/* the last read that waited, or -1 */
	long max_off;		/* the highest offset read since fs_stall() */
	size_t seen_len;
	pid_t seen_pid;		/* who asked for it */
};

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* A fault reads its own page only: no page comes in unasked. */
	conn->max_readahead = 0;
	/* Opening the file again keeps what is cached. */
	cfg->kernel_cache = 1;
	return fuse_get_context()->private_data;
}

static int fs_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	memset(st, 0, sizeof(*st));
	if (!strcmp(path, "/")) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (strcmp(path, "/" FILE_NAME))
		return -ENOENT;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = file_size;
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path, "/" FILE_NAME))
		return -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct stallfs *fs = fuse_get_context()->private_data;
	pid_t pid = fuse_get_context()->pid;

	pthread_mutex_lock(&fs->lock);
	if (fs->stall) {
		fs->seen_off = off;
		fs->seen_len = size;
		fs->seen_pid = pid;
		fs->waiting++;
		pthread_cond_broadcast(&fs->cond);
		while (fs->stall)
			pthread_cond_wait(&fs->cond, &fs->lock);
		fs->waiting--;
	}
	fs->reads++;
	if (off > fs->max_off)
		fs->max_off = off;
	pthread_mutex_unlock(&fs->lock);
	if (off < 0 || (size_t)off >= file_size)
		return 0;
	if (size > file_size - off)
		size = file_size - off;
	pattern_fill_at(buf, size, SEED, off);
	return size;
}

static const struct fuse_operations fs_ops = {
	.init = fs_init,
	.getattr = fs_getattr,
	.open = fs_open,
	.read = fs_read,
};

/*
 * The daemon: one thread. A multi-threaded loop would make threads on
 * demand, which needs this process's mmap lock - held by a stalled fault.
 */
static void *fs_loop(void *arg)
{
	struct stallfs *fs = arg;

	return (void *)(long)fuse_loop(fs->fuse);
}

/* Mount @fs on the empty directory @dir and serve it; 0 or -1. */
static int fs_start(struct stallfs *fs, const char *dir)
{
	char arg0[] = "odp_stall";
	char *argv[] = { arg0, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	pthread_condattr_t ca;
	struct stat st;

	memset(fs, 0, sizeof(*fs));
	fs->seen_off = -1;
	fs->conn = -1;
	pthread_mutex_init(&fs->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fs->cond, &ca);
	snprintf(fs->path, sizeof(fs->path), "%s/" FILE_NAME, dir);
	fs->fuse = fuse_new(&args, &fs_ops, sizeof(fs_ops), fs);
	if (!fs->fuse) {
		fprintf(stderr, "fuse_new failed\n");
		return -1;
	}
	if (fuse_mount(fs->fuse, dir)) {
		fprintf(stderr, "fuse_mount on %s failed\n", dir);
		return -1;
	}
	fs->mounted = true;
	if (pthread_create(&fs->loop, NULL, fs_loop, fs)) {
		perror("pthread_create");
		return -1;
	}
	fs->looping = true;
	/* The first lookup waits for the daemon's INIT. */
	if (stat(fs->path, &st)) {
		fprintf(stderr, "stat %s: %s\n", fs->path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size != file_size) {
		fprintf(stderr, "%s: mode %#o, %lld bytes\n", fs->path,
			st.st_mode, (long long)st.st_size);
		return -1;
	}
	/* fusectl names a connection by the kernel's dev_t of its sb. */
	fs->conn = (long)major(st.st_dev) << 20 | minor(st.st_dev);
	return 0;
}

/* Reads wait from now on, and record the first that does. */
static void fs_stall(struct stallfs *fs)
{
	pthread_mutex_lock(&fs->lock);
	fs->stall = true;
	fs->seen_off = -1;
	fs->max_off = -1;
	pthread_mutex_unlock(&fs->lock);
}

static void fs_release(struct stallfs *fs)
{
	if (!fs->looping)
		return;
	pthread_mutex_lock(&fs->lock);
	fs->stall = false;
	pthread_cond_broadcast(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
}

/* A counter of the daemon's, read under its lock. */
static long fs_count(struct stallfs *fs, const long *counter)
{
	long n;

	pthread_mutex_lock(&fs->lock);
	n = *counter;
	pthread_mutex_unlock(&fs->lock);
	return n;
}

/* Wait up to @ms for a read to stall; its offset, or -1. */
static long fs_wait_seen(struct stallfs *fs, long ms, size_t *len, pid_t *pid)
{
	struct timespec end;
	long off;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += ms % 1000 * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&fs->lock);
	while (fs->seen_off < 0 &&
	       pthread_cond_timedwait(&fs->cond, &fs->lock, &end) != ETIMEDOUT)
		;
	off = fs->seen_off;
	*len = fs->seen_len;
	*pid = fs->seen_pid;
	pthread_mutex_unlock(&fs->lock);
	return off;
}

/*
 * Abort FUSE connection @conn through fusectl (mounted here if need be):
 * every request waiting on it ends with an error. For a daemon that cannot
 * answer any more.
 */
static bool fs_abort(long conn)
{
	const char *ctl = "/sys/fs/fuse/connections";
	char path[96];
	bool ok;
	int fd;

	if (conn < 0)
		return false;
	snprintf(path, sizeof(path), "%s/%ld/abort", ctl, conn);
	fd = open(path, O_WRONLY);
	if (fd < 0 && errno == ENOENT && !mount("fusectl", ctl, "fusectl", 0, NULL))
		fd = open(path, O_WRONLY);
	if (fd < 0) {
		fprintf(stderr, "cannot abort FUSE connection %ld: %s: %s\n",
			conn, path, strerror(errno));
		return false;
	}
	ok = write(fd, "1", 1) == 1;
	close(fd);
	return ok;
}

/*
 * Release the stall and unmount (lazily: the mount goes with its last
 * user). The loop ends when the connection does; if it has not within
 * 2 s, the connection is aborted, and if the loop still runs after 10 s
 * more, it is left (and its struct fuse) to the process's exit.
 */
static void fs_stop(struct stallfs *fs)
{
	struct timespec end;

	fs_release(fs);
	if (!fs->fuse)
		return;
	if (fs->looping)
		fuse_exit(fs->fuse);
	if (fs->mounted)
		fuse_unmount(fs->fuse);
	if (fs->looping) {
		clock_gettime(CLOCK_REALTIME, &end);
		end.tv_sec += 2;
		if (pthread_timedjoin_np(fs->loop, NULL, &end)) {
			fs_abort(fs->conn);
			end.tv_sec += 10;
			if (pthread_timedjoin_np(fs->loop, NULL, &end)) {
				fprintf(stderr, "the FUSE loop did not end\n");
				return;
			}
		}
	}
	fuse_destroy(fs->fuse);
	fs->fuse = NULL;
	fs->looping = fs->mounted = false;
}

/* A fresh directory for a mount: 0 or -1. */
static int make_dir(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/odp_stall.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		dir[0] = 0;
		return -1;
	}
	return 0;
}

/* Why FUSE cannot run here, or NULL. */
static const char *no_fuse(void)
{
	char line[128];
	bool found = false;
	FILE *f;

	if (geteuid())
		return "mounting the test's FUSE file system needs root";
	if (access("/dev/fuse", R_OK | W_OK))
		return "no /dev/fuse";
	f = fopen("/proc/filesystems", "r");
	if (!f)
		return "no /proc/filesystems";
	while (!found && fgets(line, sizeof(line), f))
		found = !strcmp(line, "nodev\tfuse\n");
	fclose(f);
	return found ? NULL : "the kernel has no FUSE (CONFIG_FUSE_FS)";
}

/* --- what the cases share --- */

/* The name of task @pid, as /proc shows it (a kworker's says its queue). */
static void task_comm(pid_t pid, char *comm, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(comm, len, "?");
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	n = read(fd, comm, len - 1);
	close(fd);
	if (n <= 0)
		n = 0;
	comm[n] = 0;
	if (n && comm[n - 1] == '\n')
		comm[n - 1] = 0;
}

/* Post a READ of @len bytes of @remote (MR @rkey) into @local (MR @lkey). */
static int post_read(struct loopback *lb, uint64_t id, void *local,
		     uint32_t lkey, void *remote, uint32_t rkey, size_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)local, .length = len,
			       .lkey = lkey };
	struct ibv_send_wr wr = {
		.wr_id = id, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_READ,
		.wr.rdma = { .remote_addr = (uintptr_t)remote, .rkey = rkey },
	}, *bad;

	if (ibv_post_send(lb->qp[0], &wr, &bad)) {
		perror("ibv_post_send");
		return -1;
	}
	return 0;
}

/* The status of the completion of @id within @ms, or -1 if none came. */
static int wait_wc(struct loopback *lb, uint64_t id, long ms)
{
	long end = now_ms() + ms, left;
	struct ibv_wc wc;

	for (;;) {
		left = end - now_ms();
		if (left < 0 || loopback_poll(lb, &wc, left))
			return -1;
		if (wc.wr_id == id)
			return wc.status;
	}
}

/* A page of the file mapping @map is in the page cache. */
static bool resident(unsigned char *map, size_t pg)
{
	unsigned char vec = 0;

	if (mincore(map + pg * page, page, &vec)) {
		perror("mincore");
		return true;
	}
	return vec & 1;
}

#define FRESH_LEN	(256ul << 10)
#define FRESH_OFF	(5 * 4096 + 123)
#define FRESH_N		(64ul << 10)

/* The device still works: a fresh pair and ODP target, verified. */
static void device_still_works(const char *after)
{
	expect(mirror_fresh_round_trip(&opts, FRESH_LEN, FRESH_OFF, FRESH_N),
	       "%s: a fresh loopback pair's ODP WRITE into a new MR and READ "
	       "back verify", after);
}

/* Fail with a reason when the device cannot do what the cases need. */
static const char *no_odp(void)
{
	struct loopback lb;
	bool odp;

	if (loopback_open(&lb, &opts))
		return "cannot open the device";
	odp = loopback_has_odp_rc(&lb, IBV_ODP_SUPPORT_READ | IBV_ODP_SUPPORT_WRITE);
	loopback_close(&lb);
	return odp ? NULL : "no RC ODP for RDMA READ and WRITE";
}

/* --- fixture stall: the file system, its MR and the QPs in this process --- */

/* What stall.dereg's worker thread does, in stages, timed. */
enum { U_IDLE, U_DEREG, U_DESTROY, U_CLOSE, U_DONE };

struct undo {
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool go;
	struct rig *r;
	atomic_int stage;
	atomic_long t[U_DONE + 1];	/* ms when each stage began */
	atomic_int tid;
	int dereg_ret, destroy_ret;
};

struct rig {
	char dir[64];
	struct stallfs fs;
	bool fs_up;
	unsigned char *map;	/* the file, PROT_READ, MAP_SHARED */
	struct ibv_mr *fmr;	/* over map: REMOTE_READ | ON_DEMAND */
	unsigned char *dst;	/* READ destination */
	struct ibv_mr *dmr;
	struct loopback lb;
	struct undo u;
	bool busy;		/* the worker still uses lb: leave it alone */
};

/* 0, or -1 after printing why (skips are for the caller). */
static int rig_open(struct rig *r)
{
	int fd;

	if (make_dir(r->dir, sizeof(r->dir)))
		return -1;
	if (fs_start(&r->fs, r->dir)) {
		r->fs_up = true;
		return -1;
	}
	r->fs_up = true;
	if (loopback_open(&r->lb, &opts))
		return -1;
	r->lb.timeout = QP_TIMEOUT;
	if (loopback_connect(&r->lb))
		return -1;
	fd = open(r->fs.path, O_RDONLY);
	if (fd < 0) {
		perror("open the FUSE file");
		return -1;
	}
	r->map = mmap(NULL, file_size, PROT_READ, MAP_SHARED, fd, 0);
	/*
	 * The mapping holds the file. An open fd would have its close (at
	 * exit too) send the daemon a FLUSH, which queues behind a stalled
	 * read whatever rxe does.
	 */
	close(fd);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		perror("mmap the FUSE file");
		return -1;
	}
	r->fmr = ibv_reg_mr(r->lb.pd, r->map, file_size,
			    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND);
	if (!r->fmr) {
		perror("ibv_reg_mr of the FUSE file, REMOTE_READ | ON_DEMAND");
		return -1;
	}
	r->dst = map_anon(NULL, file_size);
	memset(r->dst, POISON, file_size);
	r->dmr = mirror_reg(&r->lb, r->dst, file_size, false);
	return 0;
}

static void rig_close(struct rig *r)
{
	fs_release(&r->fs);
	if (r->u.started && atomic_load(&r->u.stage) != U_DONE)
		r->busy = true;
	if (!r->busy) {
		if (r->u.started)
			pthread_join(r->u.thread, NULL);
		loopback_dereg(r->fmr);
		loopback_dereg(r->dmr);
		loopback_close(&r->lb);
	} else {
		fprintf(stderr, "the worker thread is still in the verbs: "
			"leaving them to the exit\n");
	}
	if (r->map)
		munmap(r->map, file_size);
	if (r->dst)
		munmap(r->dst, file_size);
	if (r->fs_up)
		fs_stop(&r->fs);
	if (r->dir[0])
		rmdir(r->dir);
}

/* Why the cases cannot run here, or NULL. */
static const char *no_stall(void)
{
	const char *why = no_fuse();

	return why ? why : no_odp();
}

FIXTURE(stall) {
	struct rig r;
};

FIXTURE_SETUP(stall)
{
	const char *why = no_stall();

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, rig_open(&self->r)) {
		rig_close(&self->r);
	}
}

FIXTURE_TEARDOWN(stall)
{
	rig_close(&self->r);
}

/*
 * Post a READ of STALL_PAGE (not cached) with the daemon stalling, and
 * check that its fault reached the daemon and that the READ still waits
 * HOLD_MS later. True when both hold.
 */
static bool stall_read(struct rig *r)
{
	size_t off = STALL_PAGE * page, len = 0;
	char comm[64] = "?";
	long t0, seen, waiting;
	pid_t pid = 0;
	int n, st = -1;
	struct ibv_wc wc;
	bool ok;

	expect(!resident(r->map, STALL_PAGE), "page %d of the file is not in "
	       "the page cache before the READ", STALL_PAGE);
	fs_stall(&r->fs);
	memset(r->dst + off, POISON, page);
	t0 = now_ms();
	if (post_read(&r->lb, WR_STALL, r->dst + off, r->dmr->lkey, r->map + off,
		      r->fmr->rkey, page))
		return false;
	seen = fs_wait_seen(&r->fs, SEEN_MS, &len, &pid);
	if (seen >= 0)
		task_comm(pid, comm, sizeof(comm));
	ok = seen == (long)off && len == page;
	expect(ok, "stall: the READ of page %d made the kernel read offset "
	       "%ld (%zu bytes) from the daemon, %ld ms after the post, for "
	       "pid %d \"%s\"", STALL_PAGE, seen, len, now_ms() - t0, pid, comm);
	if (!ok)
		return false;
	sleep_ms(HOLD_MS);
	n = ibv_poll_cq(r->lb.cq, 1, &wc);
	if (n == 1)
		st = wc.status;
	waiting = fs_count(&r->fs, &r->fs.waiting);
	ok = n == 0 && waiting > 0;
	expect(ok, "stall: %d ms later the READ is still pending (%s) and "
	       "its read still waits in the daemon (%ld waiting): the stall "
	       "holds the kernel's fault", HOLD_MS,
	       n == 0 ? "no completion" : wc_status_name(st), waiting);
	return ok;
}

TEST_F_TIMEOUT(stall, read_after_release, 240)
{
	struct rig *r = &self->r;
	size_t off = STALL_PAGE * page;
	long reads, t0, ms;
	int st, rc, fd;
	bool dropped = false;

	/* No stall: every page comes through the daemon. */
	st = loopback_rdma(&r->lb, IBV_WR_RDMA_READ, r->dst, r->dmr->lkey,
			   r->map, r->fmr->rkey, file_size);
	reads = fs_count(&r->fs, &r->fs.reads);
	expect(st == IBV_WC_SUCCESS &&
	       pattern_check_at(r->dst, file_size, SEED, 0, "READ of the file"),
	       "no stall: a READ of the whole %zu-byte FUSE file through its ODP "
	       "MR returns its bytes (%s; the daemon answered %ld reads)",
	       file_size, wc_status_name(st), reads);

	/*
	 * Drop one page from the mapping (and the MR) and the page cache,
	 * through an fd of its own, closed before anything stalls.
	 */
	fd = open(r->fs.path, O_RDONLY);
	for (int i = 0; fd >= 0 && i < 20 && !dropped; i++) {
		if (madvise(r->map + off, page, MADV_DONTNEED)) {
			perror("madvise(MADV_DONTNEED)");
			break;
		}
		rc = posix_fadvise(fd, off, page, POSIX_FADV_DONTNEED);
		if (rc) {
			fprintf(stderr, "posix_fadvise: %s\n", strerror(rc));
			break;
		}
		dropped = !resident(r->map, STALL_PAGE);
		if (!dropped)
			sleep_ms(50);
	}
	if (fd >= 0)
		close(fd);
	expect(dropped, "page %d dropped from the mapping and the page cache",
	       STALL_PAGE);

	if (dropped && stall_read(r)) {
		fs_release(&r->fs);
		t0 = now_ms();
		st = wait_wc(&r->lb, WR_STALL, DONE_MS);
		ms = now_ms() - t0;
		expect(st == IBV_WC_SUCCESS &&
		       pattern_check_at(r->dst + off, page, SEED, off, "the page"),
		       "release: the stalled READ completes %ld ms after the "
		       "release (%s%s) with page %d's bytes", ms, wc_status_name(st),
		       st == IBV_WC_RETRY_EXC_ERR ? ": the requester ran out of "
		       "retries while the fault was stalled" : "", STALL_PAGE);
		if (st != IBV_WC_SUCCESS)
			ASSERT_EQ(0, loopback_reconnect(&r->lb));
		memset(r->dst, POISON, file_size);
		st = loopback_rdma(&r->lb, IBV_WR_RDMA_READ, r->dst, r->dmr->lkey,
				   r->map, r->fmr->rkey, file_size);
		expect(st == IBV_WC_SUCCESS &&
		       pattern_check_at(r->dst, file_size, SEED, 0, "READ again"),
		       "after the release: the whole file reads right again (%s)",
		       wc_status_name(st));
	}
	fs_release(&r->fs);
	EXPECT_EQ(0, expect_failures());
}

/*
 * The background fault-ahead stops once the QP it works for has failed.
 * The pages before AHEAD_PAGE come from the page cache; the daemon stalls
 * AHEAD_PAGE, where a READ of the whole file meets the fault-ahead's first
 * step. The responder QP is moved to the error state, the stall released,
 * and the daemon must then see no read past that step.
 */
TEST_F_TIMEOUT(stall, ahead_stops_with_qp, 240)
{
	struct ibv_qp_attr err = { .qp_state = IBV_QPS_ERR };
	struct rig *r = &self->r;
	unsigned char sum = 0;
	size_t len = 0, off;
	long seen, last;
	pid_t pid = 0;

	for (off = 0; off < AHEAD_OFF; off += page)
		sum += *(volatile unsigned char *)(r->map + off);
	fs_stall(&r->fs);
	ASSERT_EQ(0, post_read(&r->lb, WR_STALL, r->dst, r->dmr->lkey, r->map,
			       r->fmr->rkey, file_size));
	seen = fs_wait_seen(&r->fs, SEEN_MS, &len, &pid);
	expect(seen == (long)AHEAD_OFF, "ahead: the READ of the file stalls "
	       "at offset %ld (want %lu; the CPU read %#x)", seen, AHEAD_OFF,
	       sum);
	ASSERT_EQ(0, ibv_modify_qp(r->lb.qp[1], &err, IBV_QP_STATE));
	fs_release(&r->fs);
	sleep_ms(HOLD_MS);
	last = fs_count(&r->fs, &r->fs.max_off);
	expect(last >= 0 && (size_t)last < AHEAD_STEP_END,
	       "ahead: once the responder QP failed, the daemon was read up to "
	       "offset %ld, within the fault-ahead step that was running (below "
	       "%lu), not on to the end of the READ (%zu)", last, AHEAD_STEP_END,
	       file_size);
	EXPECT_EQ(0, expect_failures());
}

static void *undo_run(void *arg)
{
	struct undo *u = arg;
	struct rig *r = u->r;

	pthread_mutex_lock(&u->lock);
	while (!u->go)
		pthread_cond_wait(&u->cond, &u->lock);
	pthread_mutex_unlock(&u->lock);
	atomic_store(&u->tid, gettid());

	atomic_store(&u->t[U_DEREG], now_ms());
	atomic_store(&u->stage, U_DEREG);
	u->dereg_ret = ibv_dereg_mr(r->fmr);

	atomic_store(&u->t[U_DESTROY], now_ms());
	atomic_store(&u->stage, U_DESTROY);
	u->destroy_ret = ibv_destroy_qp(r->lb.qp[1]);

	atomic_store(&u->t[U_CLOSE], now_ms());
	atomic_store(&u->stage, U_CLOSE);
	if (!u->dereg_ret)
		r->fmr = NULL;
	if (!u->destroy_ret)
		r->lb.qp[1] = NULL;
	loopback_dereg(r->dmr);
	r->dmr = NULL;
	loopback_close(&r->lb);

	atomic_store(&u->t[U_DONE], now_ms());
	atomic_store(&u->stage, U_DONE);
	return NULL;
}

/* The system call thread @tid is in, -1 if running or not known. */
static long thread_syscall(pid_t tid)
{
	char path[64], buf[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	if (buf[0] < '0' || buf[0] > '9')
		return -1;	/* "running" */
	return strtol(buf, NULL, 10);
}

/* Wait up to @ms for the worker to reach @stage; the time it took, or -1. */
static long undo_wait(struct undo *u, int stage, long from, long ms)
{
	long end = now_ms() + ms;

	while (atomic_load(&u->stage) < stage) {
		if (now_ms() > end)
			return -1;
		sleep_ms(10);
	}
	return atomic_load(&u->t[stage]) - from;
}

/*
 * The kernel's part of ibv_destroy_qp() of the responder QP: returned
 * when the worker has gone past it, or sits in munmap() - where rdma-core
 * unmaps the QP's queue after the kernel destroyed the QP. That munmap
 * waits for this process's mmap lock, which the stalled fault holds for
 * reading, on any kernel. The time it took, or -1 after @ms.
 */
static long stall_destroy_qp(struct undo *u, long ms)
{
	long from = atomic_load(&u->t[U_DESTROY]), end = now_ms() + ms;

	for (;;) {
		if (atomic_load(&u->stage) > U_DESTROY)
			return atomic_load(&u->t[U_CLOSE]) - from;
		if (thread_syscall(atomic_load(&u->tid)) == SYS_munmap)
			return now_ms() - from;
		if (now_ms() > end)
			return -1;
		sleep_ms(10);
	}
}

TEST_F_TIMEOUT(stall, dereg, 400)
{
	struct rig *r = &self->r;
	struct undo *u = &r->u;
	long ms, t0;
	long waiting;

	/* The worker is made before the stall: making it needs the mmap lock. */
	u->r = r;
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	ASSERT_EQ(0, pthread_create(&u->thread, NULL, undo_run, u));
	u->started = true;

	if (stall_read(r)) {
		pthread_mutex_lock(&u->lock);
		u->go = true;
		pthread_cond_signal(&u->cond);
		pthread_mutex_unlock(&u->lock);

		ms = undo_wait(u, U_DESTROY, 0, OBSERVE_MS);
		if (ms >= 0)
			ms = atomic_load(&u->t[U_DESTROY]) - atomic_load(&u->t[U_DEREG]);
		waiting = fs_count(&r->fs, &r->fs.waiting);
		expect(ms >= 0 && ms <= BOUND_MS && u->dereg_ret == 0 && waiting,
		       "dereg: ibv_dereg_mr of the ODP MR whose fault is stalled "
		       "%s %ld ms (bound %d ms; returned %d), the fault %s",
		       ms >= 0 ? "returned in" : "has not returned after",
		       ms >= 0 ? ms : (long)OBSERVE_MS, BOUND_MS, u->dereg_ret,
		       waiting ? "still waiting in the daemon" : "no longer waiting");
		if (ms >= 0) {
			ms = stall_destroy_qp(u, OBSERVE_MS / 2);
			expect(ms >= 0 && ms <= BOUND_MS,
			       "destroy: the kernel's destroy of the responder QP, "
			       "whose fault is stalled, %s %ld ms (bound %d ms)",
			       ms >= 0 ? "returned in" : "has not returned after",
			       ms >= 0 ? ms : (long)OBSERVE_MS / 2, BOUND_MS);
		}
	}
	fs_release(&r->fs);
	t0 = now_ms();
	if (!u->go) {
		pthread_mutex_lock(&u->lock);
		u->go = true;
		pthread_cond_signal(&u->cond);
		pthread_mutex_unlock(&u->lock);
	}
	ms = undo_wait(u, U_DONE, t0, AFTER_MS);
	expect(ms >= 0, "after the release, the dereg and loopback_close finish "
	       "(%ld ms after the release; destroy_qp returned %d)", ms,
	       u->destroy_ret);
	if (ms >= 0) {
		pthread_join(u->thread, NULL);
		u->started = false;
		device_still_works("after the stalled dereg");
	} else {
		r->busy = true;
	}
	EXPECT_EQ(0, expect_failures());
}

/* --- fixture stall_kill: the MR's process is killed during the stall --- */

/* What the child tells the parent besides the pipe: shared memory. */
struct shared {
	atomic_long seen_off;		/* the daemon's stalled read, or -1 */
	atomic_int seen_pid;
	atomic_long conn;		/* the child's FUSE connection, or -1 */
	atomic_int status;		/* the READ's completion, or -1 */
	char why[160];			/* why the child gave up */
};

static void __attribute__((noreturn, format(printf, 2, 3)))
child_fail(struct shared *sh, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sh->why, sizeof(sh->why), fmt, ap);
	va_end(ap);
	_exit(3);
}

/*
 * The child: maps the file at @path (serving it itself from @dir when
 * @daemon), registers it, posts the READ of STALL_PAGE and tells the
 * parent through @out once it is posted - or, with its own daemon, once
 * the daemon has the stalled read. Then it watches for a completion until
 * killed.
 */
static void __attribute__((noreturn))
child_main(bool daemon, const char *dir, struct shared *sh, int out)
{
	size_t off = STALL_PAGE * page, len;
	unsigned char *map, *dst;
	struct ibv_mr *fmr, *dmr;
	struct stallfs fs;
	struct loopback lb;
	char path[96];
	struct ibv_wc wc;
	char c = 'R';
	pid_t pid;
	long seen;
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(CHILD_LIMIT);
	snprintf(path, sizeof(path), "%s/" FILE_NAME, dir);
	if (daemon) {
		if (fs_start(&fs, dir))
			child_fail(sh, "cannot serve FUSE on %s", dir);
		atomic_store(&sh->conn, fs.conn);
	}
	if (loopback_open(&lb, &opts))
		child_fail(sh, "cannot open %s", opts.dev);
	lb.timeout = QP_TIMEOUT;
	if (loopback_connect(&lb))
		child_fail(sh, "cannot connect the QPs");
	fd = open(path, O_RDONLY);
	map = fd < 0 ? MAP_FAILED : mmap(NULL, file_size, PROT_READ, MAP_SHARED, fd, 0);
	if (fd >= 0)
		close(fd);	/* as in rig_open() */
	if (map == MAP_FAILED)
		child_fail(sh, "open/mmap %s: %s", path, strerror(errno));
	fmr = ibv_reg_mr(lb.pd, map, file_size,
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND);
	dst = map_anon(NULL, file_size);
	dmr = fmr ? ibv_reg_mr(lb.pd, dst, file_size, IBV_ACCESS_LOCAL_WRITE) : NULL;
	if (!dmr)
		child_fail(sh, "ibv_reg_mr: %s", strerror(errno));
	if (daemon)
		fs_stall(&fs);
	if (post_read(&lb, WR_STALL, dst + off, dmr->lkey, map + off, fmr->rkey,
		      page))
		child_fail(sh, "ibv_post_send: %s", strerror(errno));
	if (daemon) {
		seen = fs_wait_seen(&fs, SEEN_MS, &len, &pid);
		if (seen < 0)
			child_fail(sh, "no read reached the daemon in %d ms", SEEN_MS);
		atomic_store(&sh->seen_pid, pid);
		atomic_store(&sh->seen_off, seen);
	}
	if (write(out, &c, 1) != 1)
		_exit(4);
	for (;;) {
		if (ibv_poll_cq(lb.cq, 1, &wc) == 1)
			atomic_store(&sh->status, wc.status);
		poll(NULL, 0, 10);
	}
}

/* Reap @pid within @ms: the time it took, or -1. */
static long reap(pid_t pid, int *status, long ms)
{
	long t0 = now_ms();
	pid_t w;

	for (;;) {
		w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			return now_ms() - t0;
		if (w < 0 && errno != EINTR) {
			perror("waitpid");
			return -1;
		}
		if (now_ms() - t0 > ms)
			return -1;
		sleep_ms(20);
	}
}

/* The child's byte on @fd within @ms, or 0. */
static char wait_for_child(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&pfd, 1, ms) != 1)
		return 0;
	return read(fd, &c, 1) == 1 ? c : 0;
}

FIXTURE(stall_kill) {
	struct shared *sh;
	struct res_counts base;
	char dir[64];
	struct stallfs fs;	/* .held: the parent's daemon */
	bool fs_up;
	pid_t child;		/* not yet reaped, or 0 */
};

FIXTURE_VARIANT(stall_kill) {
	bool daemon_in_child;
};

/* The child is the FUSE daemon too: its death ends the stall. */
FIXTURE_VARIANT_ADD(stall_kill, daemon) {
	.daemon_in_child = true,
};

/* The parent is the daemon and holds the stall through the child's exit. */
FIXTURE_VARIANT_ADD(stall_kill, held) {
	.daemon_in_child = false,
};

FIXTURE_SETUP(stall_kill)
{
	const char *why = no_stall();

	if (why)
		SKIP(return, "%s", why);
	self->sh = mmap(NULL, sizeof(*self->sh), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->sh);
	memset(self->sh, 0, sizeof(*self->sh));
	atomic_store(&self->sh->seen_off, -1);
	atomic_store(&self->sh->conn, -1);
	atomic_store(&self->sh->status, -1);
	/* The parent holds no verbs object while the child runs. */
	self->base = rdma_res_counts(opts.dev);
	ASSERT_EQ(0, make_dir(self->dir, sizeof(self->dir)));
	if (!variant->daemon_in_child) {
		self->fs_up = true;
		ASSERT_EQ(0, fs_start(&self->fs, self->dir));
	}
}

FIXTURE_TEARDOWN(stall_kill)
{
	int status;

	if (self->fs_up)
		fs_release(&self->fs);
	if (self->child) {
		/* Never reaped: let it go if it can, then leave it. */
		kill(self->child, SIGKILL);
		fs_abort(atomic_load(&self->sh->conn));
		reap(self->child, &status, 10000);
	}
	if (self->fs_up)
		fs_stop(&self->fs);
	else if (self->dir[0] && umount2(self->dir, MNT_DETACH) && errno != EINVAL)
		perror("umount2(MNT_DETACH)");
	if (self->dir[0])
		rmdir(self->dir);
	munmap(self->sh, sizeof(*self->sh));
}

TEST_F_TIMEOUT(stall_kill, recovers, 400)
{
	struct shared *sh = self->sh;
	size_t off = STALL_PAGE * page, len = 0;
	struct res_counts now = { -1, -1, -1 };
	long seen = -1, ms, t0;
	bool daemon = variant->daemon_in_child, ok;
	char comm[64] = "?", c;
	int fds[2], status = 0, waiting = 0, st;
	pid_t pid = 0;

	if (!daemon)
		fs_stall(&self->fs);
	ASSERT_EQ(0, pipe(fds));
	fflush(NULL);
	self->child = fork();
	ASSERT_LE(0, self->child) TH_LOG("fork: %s", strerror(errno));
	if (self->child == 0) {
		close(fds[0]);
		child_main(daemon, self->dir, sh, fds[1]);
	}
	close(fds[1]);
	t0 = now_ms();
	c = wait_for_child(fds[0], PIPE_MS);
	close(fds[0]);
	if (daemon) {
		seen = atomic_load(&sh->seen_off);
		pid = atomic_load(&sh->seen_pid);
	} else if (c == 'R') {
		seen = fs_wait_seen(&self->fs, SEEN_MS, &len, &pid);
	}
	if (seen >= 0)
		task_comm(pid, comm, sizeof(comm));
	ok = c == 'R' && seen == (long)off;
	expect(ok, "the child's READ of page %d made the kernel read offset %ld "
	       "from the %s daemon %ld ms after the fork, for pid %d \"%s\"%s%s",
	       STALL_PAGE, seen, daemon ? "child's" : "parent's", now_ms() - t0,
	       pid, comm, sh->why[0] ? ": " : "", sh->why);
	if (ok) {
		sleep_ms(HOLD_MS);
		st = atomic_load(&sh->status);
		expect(st < 0, "stall: %d ms later the child's READ is still "
		       "pending (%s)", HOLD_MS, st < 0 ? "no completion" :
		       wc_status_name(st));
	}

	kill(self->child, SIGKILL);
	ms = reap(self->child, &status, OBSERVE_MS);
	if (!daemon)
		waiting = fs_count(&self->fs, &self->fs.waiting);
	expect(ms >= 0 && ms <= KILL_BOUND_MS && WIFSIGNALED(status) &&
	       WTERMSIG(status) == SIGKILL,
	       "SIGKILL: the child %s %ld ms after the kill (bound %d ms)%s",
	       ms < 0 ? "was not reaped" : WIFSIGNALED(status) &&
	       WTERMSIG(status) == SIGKILL ? "was reaped, killed," :
	       "was reaped, not killed,", ms < 0 ? (long)OBSERVE_MS : ms,
	       KILL_BOUND_MS, daemon ? "" : waiting ?
	       "; its fault still waits in the parent's daemon" :
	       "; its fault no longer waits in the parent's daemon");
	if (ms >= 0)
		self->child = 0;

	/* Let the fault go: release it, or abort the dead daemon's connection. */
	if (!daemon)
		fs_release(&self->fs);
	else if (self->child)
		expect(fs_abort(atomic_load(&sh->conn)), "aborted the dead "
		       "daemon's FUSE connection to let the fault go");
	if (self->child) {
		ms = reap(self->child, &status, AFTER_MS);
		expect(ms >= 0, "with the fault let go, the child %s %ld ms later",
		       ms >= 0 ? "was reaped" : "was not reaped",
		       ms >= 0 ? ms : (long)AFTER_MS);
		if (ms >= 0)
			self->child = 0;
	}
	if (!self->child) {
		ok = rdma_res_counts_back(opts.dev, &self->base, &now, RES_MS);
		expect(ok, "%s's MR, QP and PD counts back at %ld, %ld, %ld after "
		       "the child (now %ld, %ld, %ld)", opts.dev, self->base.mr,
		       self->base.qp, self->base.pd, now.mr, now.qp, now.pd);
		device_still_works("after the kill");
	}
	EXPECT_EQ(0, expect_failures());
}

int main(int argc, char **argv)
{
	/*
	 * malloc() must not need the mmap lock while a fault of this
	 * process's memory stalls (see the top): one arena, on the brk
	 * heap, grown in large steps now and never shrunk.
	 */
	mallopt(M_ARENA_MAX, 1);
	/*
	 * No core dumps: dumping a process that serves its own FUSE mapping
	 * reads the file from a daemon that is no longer there, forever.
	 */
	setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
	mallopt(M_TOP_PAD, 16 << 20);
	free(malloc(16 << 20));

	page = sysconf(_SC_PAGESIZE);
	file_size = NPAGES * page;
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
