// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_dax: an ODP MR over FS-DAX memory, made persistent by RDMA FLUSH.
 *
 *   ODP_DAX_DIR=<dir> ODP_DAX_DEV=<pmem block device> odp_dax
 *	[-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * tests/guest/66-odp-dax makes ext4 on /dev/pmem0 (persistent memory the
 * kernel command line declares) and mounts it with -o dax at the
 * directory. A file there, mapped MAP_SHARED, is that memory itself:
 * no page cache in between. It cannot be pinned for long (FOLL_LONGTERM
 * refuses fsdax), which is why such memory is registered on demand.
 *
 * Debian 12's libibverbs cannot post a FLUSH (rdma-core 44 has no
 * IBV_WR_FLUSH), so the FLUSHes here are written by hand (roce.h) and
 * sent to the responder QP over the IPv6 loopback GID (index 2), at the
 * PSN it expects; it accepted one when its expected PSN moves on and it
 * stays in RTS, and refused it when it moves to the error state. rxe's
 * answer goes to the QP's loopback peer, which is one PSN behind from
 * then on, so the pair is replaced after each FLUSH.
 *
 *   dax.pinned_refused  A pinned MR over the DAX mapping is refused.
 *   dax.write_flush_remount  Remote WRITE into the ODP MR, FLUSH of type
 *       persistent at range and at MR level, accepted; the MR, mapping and
 *       file are gone, the file system is unmounted and mounted again: the
 *       file holds every byte.
 *   dax.rewrite_after_fsync  WRITE A, FLUSH, fsync(), WRITE B, FLUSH. DAX
 *       writeback write-protects the pages it cleans (the MR's
 *       page_invalidations grows): B must fault them writable again. After
 *       a remount the file holds B.
 *   ordinary.flush_persistent_refused  An ODP MR over anonymous memory
 *       with FLUSH_PERSISTENT access: a FLUSH of type global is accepted,
 *       one of type persistent is refused, since no page of it is
 *       persistent memory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "check.h"
#include "harness.h"
#include "loopback.h"
#include "mirror.h"
#include "roce.h"

#ifndef STATX_ATTR_DAX
#define STATX_ATTR_DAX		0x00200000
#endif
#define ACCESS_FLUSH		(ROCE_ACCESS_FLUSH_GLOBAL |		\
				 ROCE_ACCESS_FLUSH_PERSISTENT)
#define ACCESS_RW		(IBV_ACCESS_LOCAL_WRITE |		\
				 IBV_ACCESS_REMOTE_WRITE |		\
				 IBV_ACCESS_REMOTE_READ)
#define LEN			(1ul << 20)
#define SEED_A			0xdaa
#define SEED_B			0xdab
#define RW			(IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ)

static struct loopback_opts opts = { .dev = "rxe0",
				     .gid_index = ROCE_GID_IPV6_LO };

/* What a hand-written FLUSH came to. */
enum flush_outcome { FLUSH_ACCEPTED, FLUSH_REFUSED, FLUSH_UNANSWERED };

FIXTURE(dax) {
	struct res_counts base;
	struct loopback lb;
	struct roce_sock sock;
	struct mirror m;
	const char *dir, *dev;
	char path[128];
	int fd;
	unsigned char *map;
	struct ibv_mr *mr;
};

/* Map the file, LEN bytes, and register it on demand for FLUSH too. */
static void map_file(struct __test_metadata *_metadata,
		     FIXTURE_DATA(dax) *self)
{
	self->map = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	self->mr = ibv_reg_mr(self->lb.pd, self->map, LEN, ACCESS_RW |
			      ACCESS_FLUSH | IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, self->mr) TH_LOG("ODP MR over DAX: %m");
	mirror_at(&self->m, self->mr);
}

static void unmap_file(FIXTURE_DATA(dax) *self)
{
	loopback_dereg(self->mr);
	self->mr = NULL;
	if (self->map && self->map != MAP_FAILED)
		munmap(self->map, LEN);
	self->map = NULL;
}

FIXTURE_SETUP(dax)
{
	struct statx stx;

	self->fd = -1;
	self->sock.fd = -1;
	self->dir = getenv("ODP_DAX_DIR");
	self->dev = getenv("ODP_DAX_DEV");
	ASSERT_TRUE(self->dir && self->dev)
		TH_LOG("ODP_DAX_DIR and ODP_DAX_DEV must name the DAX mount");
	self->base = rdma_res_counts(opts.dev);
	LOOPBACK_OPEN_OR_SKIP(&self->lb, &opts, true, RW);
	ASSERT_EQ(0, loopback_connect(&self->lb));
	ASSERT_EQ(0, roce_open(&self->sock));
	snprintf(self->path, sizeof(self->path), "%s/data.%d", self->dir,
		 getpid());
	self->fd = open(self->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, self->fd) TH_LOG("%s: %m", self->path);
	ASSERT_EQ(0, ftruncate(self->fd, LEN));
	ASSERT_EQ(0, statx(self->fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS,
			   &stx));
	ASSERT_TRUE(stx.stx_attributes & STATX_ATTR_DAX)
		TH_LOG("%s is not accessed through DAX", self->path);
	mirror_open(&self->m, &self->lb, map_anon(NULL, LEN),
		    map_anon(NULL, LEN), LEN, false);
	map_file(_metadata, self);
}

FIXTURE_TEARDOWN(dax)
{
	unmap_file(self);
	mirror_close(&self->m);
	loopback_close(&self->lb);
	roce_close(&self->sock);
	munmap(self->m.src, LEN);
	munmap(self->m.dst, LEN);
	if (self->fd >= 0) {
		close(self->fd);
		unlink(self->path);
	}
	EXPECT_RES_COUNTS_BACK(opts.dev, &self->base, 5000);
}

/* The responder's state and the PSN it expects next. */
static int responder_at(struct loopback *lb, uint32_t *psn)
{
	struct ibv_qp_attr a = {};
	struct ibv_qp_init_attr ia;

	if (ibv_query_qp(lb->qp[1], &a, IBV_QP_STATE | IBV_QP_RQ_PSN, &ia))
		return -1;
	*psn = a.rq_psn;
	return a.qp_state;
}

/*
 * Send a FLUSH of @type at @level over [va, va + len) of the MR with
 * @rkey to the responder, as its peer would, and see what it made of it.
 * A FLUSH whose pages are still being faulted in is dropped as if lost:
 * it is sent again, as a requester would after its timeout.
 */
static enum flush_outcome flush(struct loopback *lb,
				const struct roce_sock *sock, unsigned int type,
				unsigned int level, void *va, uint32_t rkey,
				size_t len)
{
	enum flush_outcome out = FLUSH_UNANSWERED;
	uint8_t pkt[64];
	uint32_t psn, now;
	size_t n;
	int tries, ms, state;

	if (roce_allow_flush(lb->qp[1]) ||
	    responder_at(lb, &psn) != IBV_QPS_RTS)
		return FLUSH_UNANSWERED;
	n = roce_flush(sock, pkt, lb->qp[1]->qp_num, psn, type, level,
		       (uintptr_t)va, rkey, len);
	for (tries = 0; tries < 20 && out == FLUSH_UNANSWERED; tries++) {
		if (roce_send(sock, pkt, n))
			break;
		for (ms = 0; ms < 1000; ms += 10) {
			sleep_ms(10);
			state = responder_at(lb, &now);
			if (state == IBV_QPS_ERR) {
				out = FLUSH_REFUSED;
				break;
			}
			if (state == IBV_QPS_RTS && now == ((psn + 1) & 0xffffff)) {
				out = FLUSH_ACCEPTED;
				break;
			}
		}
	}
	if (loopback_reconnect(lb))
		return FLUSH_UNANSWERED;
	return out;
}

static enum flush_outcome flush_dax(FIXTURE_DATA(dax) *self,
				    unsigned int level, size_t off,
				    size_t len)
{
	return flush(&self->lb, &self->sock, ROCE_FLUSH_PERSISTENT, level,
		     self->map + off, self->mr->rkey, len);
}

/*
 * Close and unmap everything on the file system, unmount it and mount it
 * again, and open the file anew.
 */
static bool remount(FIXTURE_DATA(dax) *self)
{
	int tries;

	unmap_file(self);
	close(self->fd);
	self->fd = -1;
	for (tries = 0; umount(self->dir); tries++) {
		if (errno != EBUSY || tries == 50) {
			perror("umount");
			return false;
		}
		sleep_ms(100);
	}
	if (mount(self->dev, self->dir, "ext4", 0, "dax")) {
		perror("mount -o dax");
		return false;
	}
	self->fd = open(self->path, O_RDWR);
	return self->fd >= 0;
}

TEST_F(dax, pinned_refused)
{
	struct ibv_mr *mr = ibv_reg_mr(self->lb.pd, self->map, LEN, ACCESS_RW);

	EXPECT_EQ(NULL, mr);
	if (mr)
		ibv_dereg_mr(mr);
	else
		TH_LOG("pinned MR over DAX refused: %m");
}

TEST_F(dax, write_flush_remount)
{
	size_t off = 4096 + 123, len = 512 << 10;

	ASSERT_TRUE(mirror_write_ok(&self->m, off, len, SEED_A, "WRITE"));
	EXPECT_EQ(FLUSH_ACCEPTED,
		  flush_dax(self, ROCE_FLUSH_RANGE, off, len));
	EXPECT_EQ(FLUSH_ACCEPTED, flush_dax(self, ROCE_FLUSH_MR, 0, 0));
	EXPECT_TRUE(mirror_read_is(&self->m, off, len, SEED_A,
				   "READ after FLUSH"));
	ASSERT_TRUE(remount(self));
	EXPECT_TRUE(fd_pattern_is(self->fd, off, len, SEED_A, "the file, remounted"));
}

TEST_F(dax, rewrite_after_fsync)
{
	size_t off = 3 * 4096 - 77, len = 64 << 10;
	long before, after;

	ASSERT_TRUE(mirror_write_ok(&self->m, off, len, SEED_A, "WRITE A"));
	EXPECT_EQ(FLUSH_ACCEPTED,
		  flush_dax(self, ROCE_FLUSH_RANGE, off, len));
	before = rdma_mr_counter(opts.dev, self->mr->lkey,
				 "page_invalidations");
	EXPECT_EQ(0, fsync(self->fd));
	after = rdma_mr_counter(opts.dev, self->mr->lkey,
				"page_invalidations");
	TH_LOG("fsync() write-protected %ld of the MR's pages",
	       after - before);
	EXPECT_LE(0, before);
	EXPECT_LE((long)(len / 4096), after - before);
	ASSERT_TRUE(mirror_write_ok(&self->m, off, len, SEED_B, "WRITE B"));
	EXPECT_EQ(FLUSH_ACCEPTED,
		  flush_dax(self, ROCE_FLUSH_RANGE, off, len));
	ASSERT_TRUE(remount(self));
	EXPECT_TRUE(fd_pattern_is(self->fd, off, len, SEED_B, "B, remounted"));
}

FIXTURE(ordinary) {
	struct loopback lb;
	struct roce_sock sock;
	struct mirror m;
	unsigned char *buf;
	struct ibv_mr *mr;
};

FIXTURE_SETUP(ordinary)
{
	self->sock.fd = -1;
	LOOPBACK_OPEN_OR_SKIP(&self->lb, &opts, true, RW);
	ASSERT_EQ(0, loopback_connect(&self->lb));
	ASSERT_EQ(0, roce_open(&self->sock));
	self->buf = map_anon(NULL, LEN);
	ASSERT_NE(NULL, self->buf);
	self->mr = ibv_reg_mr(self->lb.pd, self->buf, LEN, ACCESS_RW |
			      ACCESS_FLUSH | IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, self->mr) TH_LOG("ODP MR with FLUSH access: %m");
	mirror_open(&self->m, &self->lb, map_anon(NULL, LEN),
		    map_anon(NULL, LEN), LEN, false);
	mirror_at(&self->m, self->mr);
}

FIXTURE_TEARDOWN(ordinary)
{
	loopback_dereg(self->mr);
	mirror_close(&self->m);
	loopback_close(&self->lb);
	roce_close(&self->sock);
	munmap(self->m.src, LEN);
	munmap(self->m.dst, LEN);
	munmap(self->buf, LEN);
}

TEST_F(ordinary, flush_persistent_refused)
{
	size_t off = 777, len = 3 * 4096;

	ASSERT_TRUE(mirror_write_ok(&self->m, off, len, SEED_A, "WRITE"));
	EXPECT_EQ(FLUSH_ACCEPTED,
		  flush(&self->lb, &self->sock, ROCE_FLUSH_GLOBAL,
			ROCE_FLUSH_RANGE, self->buf + off, self->mr->rkey,
			len));
	EXPECT_EQ(FLUSH_REFUSED,
		  flush(&self->lb, &self->sock, ROCE_FLUSH_PERSISTENT,
			ROCE_FLUSH_RANGE, self->buf + off, self->mr->rkey,
			len));
	EXPECT_TRUE(mirror_read_is(&self->m, off, len, SEED_A,
				   "READ after the FLUSHes"));
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
