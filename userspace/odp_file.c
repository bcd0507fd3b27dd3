// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_file: an ODP MR over a shared mapping of a file on a real block
 * filesystem, through writeback and truncation.
 *
 *   ODP_FILE_DIR=<dir on ext4> odp_file [-d ib_dev] [-g gid_idx] [harness options]
 *
 * tests/guest/63-odp-file makes ext4 on /dev/ram0 and mounts it. Each case
 * maps a fresh file of LEN bytes MAP_SHARED and registers it as an ODP MR
 * for remote WRITE and READ; a loopback RC pair moves check.h's pattern
 * through it at each byte's own offset.
 *
 *   writeback.lands  A remote WRITE, fsync(): the bytes are on the disk
 *       (read with O_DIRECT), and after the mapping is gone and the page
 *       cache evicted (mincore() says so) the file reads them back.
 *   writeback.rewrite  WRITE A, fsync, WRITE B over the same bytes, fsync:
 *       the disk holds B. Writeback write-protects the pages it cleans, and
 *       only a fresh write fault marks them dirty again: a device that kept
 *       its writable translation across writeback would write B into clean
 *       pages that no fsync ever writes out.
 *   truncate.cut_off  The file is cut to half under the MR: remote WRITE and
 *       READ of the cut-off half complete with a remote access error (the
 *       QPs are replaced after each), the kept half still reads right; the
 *       file extended again reads zeros there and takes a WRITE.
 *
 * Writeback is shown by /proc/vmstat's nr_written (at least half the pages:
 * the figure lags by what each CPU has not yet folded in). In every case the
 * device's MR, QP and PD counts must be back at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "check.h"
#include "harness.h"
#include "loopback.h"
#include "mirror.h"

#define LEN		(1ul << 20)
#define SEED_A		0xf11e
#define SEED_B		0xf11f
#define RW		(IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ)

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

FIXTURE(file) {
	struct res_counts base;
	struct loopback lb;
	struct mirror m;
	char path[128];
	int fd;
	unsigned char *map;
	struct ibv_mr *fmr;
	size_t page;
};

FIXTURE_SETUP(file)
{
	const char *dir = getenv("ODP_FILE_DIR");

	ASSERT_NE(NULL, dir) TH_LOG("ODP_FILE_DIR names no directory");
	self->fd = -1;
	self->page = sysconf(_SC_PAGESIZE);
	self->base = rdma_res_counts(opts.dev);
	LOOPBACK_OPEN_OR_SKIP(&self->lb, &opts, true, RW);
	ASSERT_EQ(0, loopback_connect(&self->lb));
	snprintf(self->path, sizeof(self->path), "%s/data.%d", dir, getpid());
	self->fd = open(self->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, self->fd) TH_LOG("%s: %m", self->path);
	ASSERT_EQ(0, ftruncate(self->fd, LEN));
	self->map = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	self->fmr = mirror_reg(&self->lb, self->map, LEN, true);
	mirror_open(&self->m, &self->lb, map_anon(NULL, LEN),
		    map_anon(NULL, LEN), LEN, false);
	mirror_at(&self->m, self->fmr);
}

FIXTURE_TEARDOWN(file)
{
	loopback_dereg(self->fmr);
	mirror_close(&self->m);
	loopback_close(&self->lb);
	munmap(self->m.src, LEN);
	munmap(self->m.dst, LEN);
	if (self->map && self->map != MAP_FAILED)
		munmap(self->map, LEN);
	if (self->fd >= 0) {
		close(self->fd);
		unlink(self->path);
	}
	EXPECT_RES_COUNTS_BACK(opts.dev, &self->base, 5000);
}

static long nr_written(void)
{
	return proc_field("/proc/vmstat", "nr_written");
}

/*
 * fsync() the file; how many pages the kernel wrote out since nr_written()
 * was @since (background writeback may have begun before the fsync).
 */
static long sync_file(struct __test_metadata *_metadata,
		      FIXTURE_DATA(file) *self, long since)
{
	EXPECT_EQ(0, fsync(self->fd));
	return nr_written() - since;
}

/* What the disk holds at [off, off + len), read past the page cache. */
static bool on_disk_is(FIXTURE_DATA(file) *self, size_t off, size_t len,
		       unsigned int seed, const char *what)
{
	size_t from = off & ~(self->page - 1);
	size_t span = (off + len - from + self->page - 1) & ~(self->page - 1);
	unsigned char *buf;
	bool ok = false;
	int fd;

	fd = open(self->path, O_RDONLY | O_DIRECT);
	if (fd < 0) {
		perror("open O_DIRECT");
		return false;
	}
	buf = map_anon(NULL, span);
	if (pread(fd, buf, span, from) == (ssize_t)span)
		ok = pattern_check_at(buf + off - from, len, seed, off, what);
	else
		perror("pread O_DIRECT");
	munmap(buf, span);
	close(fd);
	return ok;
}

/*
 * Deregister the MR, unmap the file and evict its pages from the page
 * cache; false unless mincore() then finds none of them resident.
 */
static bool evict(FIXTURE_DATA(file) *self)
{
	size_t n = LEN / self->page, i, resident = n;
	unsigned char *vec = calloc(n, 1), *map;

	loopback_dereg(self->fmr);
	self->fmr = NULL;
	munmap(self->map, LEN);
	self->map = NULL;
	for (int tries = 0; tries < 20 && resident; tries++) {
		fsync(self->fd);
		posix_fadvise(self->fd, 0, LEN, POSIX_FADV_DONTNEED);
		map = mmap(NULL, LEN, PROT_READ, MAP_SHARED, self->fd, 0);
		if (map == MAP_FAILED || mincore(map, LEN, vec))
			break;
		for (resident = 0, i = 0; i < n; i++)
			resident += vec[i] & 1;
		munmap(map, LEN);
		if (resident)
			sleep_ms(50);
	}
	free(vec);
	return !resident;
}

TEST_F_TIMEOUT(file, writeback_lands, 120)
{
	size_t off = self->page + 123, len = 256 << 10;
	long written = nr_written();

	ASSERT_TRUE(mirror_write_ok(&self->m, off, len, SEED_A, "WRITE"));
	written = sync_file(_metadata, self, written);
	TH_LOG("%ld pages written back", written);
	/* /proc/vmstat lags behind by what each CPU has not folded in yet. */
	EXPECT_GE(written, (long)(len / self->page / 2));
	EXPECT_TRUE(on_disk_is(self, off, len, SEED_A, "on disk after fsync"));
	ASSERT_TRUE(evict(self));
	EXPECT_TRUE(fd_pattern_is(self->fd, off, len, SEED_A, "the file, evicted"));
}

TEST_F_TIMEOUT(file, writeback_rewrite, 120)
{
	size_t off = 3 * self->page - 77, len = 64 << 10;
	long first = nr_written(), second;

	ASSERT_TRUE(mirror_write_ok(&self->m, off, len, SEED_A, "WRITE A"));
	first = sync_file(_metadata, self, first);
	EXPECT_TRUE(on_disk_is(self, off, len, SEED_A, "A on disk"));
	second = nr_written();
	ASSERT_TRUE(mirror_write_ok(&self->m, off, len, SEED_B, "WRITE B"));
	second = sync_file(_metadata, self, second);
	TH_LOG("%ld pages written back after A, %ld after B", first, second);
	EXPECT_GE(second, (long)(len / self->page / 2));
	EXPECT_TRUE(on_disk_is(self, off, len, SEED_B, "B on disk"));
	ASSERT_TRUE(evict(self));
	EXPECT_TRUE(fd_pattern_is(self->fd, off, len, SEED_B, "the file, evicted"));
}

TEST_F_TIMEOUT(file, truncate_cut_off, 120)
{
	size_t half = LEN / 2;

	ASSERT_TRUE(mirror_write_ok(&self->m, 0, LEN, SEED_A, "WRITE"));
	ASSERT_EQ(0, ftruncate(self->fd, half));
	EXPECT_TRUE(mirror_access_error(&self->m, IBV_WR_RDMA_WRITE,
					half + self->page, 4096,
					"WRITE past the new end"));
	EXPECT_TRUE(mirror_access_error(&self->m, IBV_WR_RDMA_READ, half, 100,
					"READ past the new end"));
	EXPECT_TRUE(mirror_read_is(&self->m, 0, half, SEED_A, "the kept half"));
	ASSERT_EQ(0, ftruncate(self->fd, LEN));
	EXPECT_TRUE(mirror_read_zero(&self->m, half, half, "extended again"));
	EXPECT_TRUE(mirror_write_ok(&self->m, half + 5, 3 * self->page,
				    SEED_B, "WRITE into the extension"));
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
