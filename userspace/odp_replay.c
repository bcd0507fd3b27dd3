// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_replay: duplicate RDMA READs that find their pages gone.
 *
 *   odp_replay [-d ib_dev] [-g gid_idx] [kselftest harness options]
 *
 * The QPs run with a local ACK timeout just long enough for a READ's
 * responses to flow (see ack_timeout()), so the requester retransmits a
 * long READ whenever the responder pauses; the READ's pages
 * are invalidated first, and another thread holds the mmap lock for a
 * while, so the responder pauses in its first fault. The responder
 * answers each duplicate by reading the memory again, and it may still be
 * doing so after the requester has completed the READ. Each round READs a
 * chunk of an ODP target, munmaps that chunk at once, and READs the next
 * chunk: duplicates of the first READ now fault on unmapped pages. That
 * must cost neither the second READ nor the QP anything: it completes
 * with its data. A READ of the unmapped chunk itself still fails with a
 * remote access error, and the chunk, mapped again with new data, reads
 * back. The device's duplicate_request counter must show that duplicates
 * were served at all.
 *
 * One case, replay.read_after_munmap: 2 * NCHUNK rounds (8), or as many
 * as the environment variable ODP_REPLAY_ROUNDS says (the harness takes
 * the option letters). Each round's checks print as "# ok ..." or
 * "# FAIL ..."; the case fails if any of them, or the counter's, failed,
 * or if ODP_REPLAY_ROUNDS is not a positive number. It skips where the
 * device does not advertise RC ODP for READ.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "harness.h"

#include "check.h"
#include "loopback.h"
#include "mirror.h"

#define CHUNK	(4ul << 20)
#define NCHUNK	4
#define SIZE	(NCHUNK * CHUNK)
#define ROUNDS	(2 * NCHUNK)	/* without ODP_REPLAY_ROUNDS */

#define CONTEND	(1ul << 30)	/* the region the contender mprotects */

/* --- pauses --- */

/*
 * On request, another thread changes the protection of a large region
 * mapped to the zero page, twice. Each mprotect() holds the mmap lock for
 * writing while it walks the page tables, and a responder's fault, which
 * needs the lock for reading, waits that long: several ACK timeouts.
 */
struct contender {
	pthread_t thread;
	unsigned char *mem;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int requests;		/* pauses asked for, not started yet */
	bool stop;
};

/* mprotect @p read-only and back: its ODP translations go, its data stays. */
static void reprotect(void *p, size_t len)
{
	if (mprotect(p, len, PROT_READ) ||
	    mprotect(p, len, PROT_READ | PROT_WRITE)) {
		perror("mprotect");
		exit(1);
	}
}

static void *contend(void *arg)
{
	struct contender *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->requests && !c->stop)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->stop)
			break;
		c->requests--;
		pthread_mutex_unlock(&c->lock);
		reprotect(c->mem, CONTEND);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static void start_contender(struct contender *c)
{
	size_t off;

	c->mem = map_anon(NULL, CONTEND);
	/* One PTE per 4 KiB page, all on the zero page: page tables only. */
	madvise(c->mem, CONTEND, MADV_NOHUGEPAGE);
	for (off = 0; off < CONTEND; off += 4096)
		(void)*(volatile unsigned char *)(c->mem + off);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (pthread_create(&c->thread, NULL, contend, c)) {
		fprintf(stderr, "pthread_create failed\n");
		exit(1);
	}
}

/*
 * Have the contender take the mmap lock now. The 2 ms are for it to wake
 * and get the lock before the caller's READ reaches the responder's fault.
 */
static void pause_faults(struct contender *c)
{
	pthread_mutex_lock(&c->lock);
	c->requests++;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	usleep(2000);
}

static void stop_contender(struct contender *c)
{
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	munmap(c->mem, CONTEND);
	c->mem = NULL;
}

/* --- READs --- */

struct replay {
	struct loopback lb;
	struct mirror m;		/* tgt, READ into dst at the same offset */
	unsigned char *tgt;
	struct ibv_mr *tmr;
	unsigned int seed[NCHUNK];	/* pattern each target chunk holds */
};

static unsigned char *chunk(struct replay *r, int c)
{
	return r->tgt + c * CHUNK;
}

/* New QPs, with nothing queued at either end. */
static void fresh_qps(struct replay *r)
{
	if (loopback_reconnect(&r->lb)) {
		fprintf(stderr, "cannot connect new QPs\n");
		exit(1);
	}
}

static bool read_ok(struct replay *r, int c, const char *what)
{
	return mirror_read_is(&r->m, c * CHUNK, CHUNK, r->seed[c], what);
}

static void fill_chunk(struct replay *r, int c, unsigned int seed)
{
	r->seed[c] = seed;
	pattern_fill_at(chunk(r, c), CHUNK, seed, c * CHUNK);
}

static void one_round(struct replay *r, struct contender *cont, int round)
{
	int c = round % NCHUNK, next = (round + 1) % NCHUNK;
	bool ok;

	/*
	 * Each duplicate of a READ whose pages are still there is answered by
	 * reading them all again, and the requester keeps retransmitting
	 * while the responder does so: a READ can leave dozens of duplicates
	 * queued, which under the debug kernel take longer to serve than a
	 * completion is waited for. The checks of first executions start on
	 * new QPs, behind nothing.
	 */
	fresh_qps(r);
	reprotect(chunk(r, c), CHUNK);
	pause_faults(cont);
	ok = read_ok(r, c, "READ before the munmap");
	munmap_hole(chunk(r, c), CHUNK);
	ok = ok && read_ok(r, next, "READ of the next chunk");
	expect(ok, "round %d: READ chunk %d, munmap it, READ chunk %d: data "
	       "and completion intact", round, c, next);

	fresh_qps(r);
	expect(mirror_access_error(&r->m, IBV_WR_RDMA_READ, c * CHUNK, CHUNK,
				   "READ of the unmapped chunk"),
	       "round %d: READ of the unmapped chunk: remote access error", round);

	map_anon(chunk(r, c), CHUNK);
	fill_chunk(r, c, 100 + round);
	expect(read_ok(r, c, "READ after mapping again"),
	       "round %d: chunk %d mapped again reads its new data", round, c);
}

/*
 * The shortest local ACK timeout (4.096 us << t) that is still four times
 * the gap between two of a READ's response packets, measured on an
 * uncontended READ of @c; 0 when that READ failed. A timeout near that
 * gap retransmits the READ on nearly every packet, and every duplicate is
 * served in full: a slow kernel (KASAN, lockdep, TCG) then spends minutes
 * on duplicates of one READ. Longer than that, only the responder's
 * pauses retransmit, on every kernel alike.
 */
static uint8_t ack_timeout(struct replay *r, int c)
{
	long long t0 = now_us(), gap;
	unsigned int mtu = 128u << r->lb.mtu;
	uint8_t t = 1;

	if (!read_ok(r, c, "READ measuring the response rate"))
		return 0;
	gap = (now_us() - t0) / (CHUNK / mtu);
	while (t < 31 && (4096ll << t) / 1000 < 4 * gap)
		t++;
	return t;
}

/* ODP_REPLAY_ROUNDS, ROUNDS without it; -1 when it is no positive number. */
static int rounds(void)
{
	const char *s = getenv("ODP_REPLAY_ROUNDS");
	char *end;
	long n;

	if (!s)
		return ROUNDS;
	n = strtol(s, &end, 10);
	return *s && !*end && n > 0 && n < 1000000 ? n : -1;
}

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

FIXTURE(replay) {
	struct replay r;
	struct contender cont;
};

FIXTURE_SETUP(replay)
{
	struct replay *r = &self->r;
	int i;

	LOOPBACK_OPEN_OR_SKIP(&r->lb, &opts, true, IBV_ODP_SUPPORT_READ);
	ASSERT_EQ(0, loopback_connect(&r->lb));
	r->tgt = map_anon(NULL, SIZE);
	r->tmr = mirror_reg(&r->lb, r->tgt, SIZE, true);
	/* READs only: a destination, no source. */
	mirror_at(&r->m, r->tmr)->lb = &r->lb;
	r->m.dst = map_anon(NULL, SIZE);
	r->m.dmr = mirror_reg(&r->lb, r->m.dst, SIZE, true);
	for (i = 0; i < NCHUNK; i++)
		fill_chunk(r, i, i + 1);
	/* Twice: the first READ also faults both chunks in. */
	ASSERT_NE(0, ack_timeout(r, 0));
	r->lb.timeout = ack_timeout(r, 0);
	ASSERT_NE(0, r->lb.timeout);
	printf("# local ACK timeout %u (4.096 us << %u)\n", r->lb.timeout,
	       r->lb.timeout);
}

FIXTURE_TEARDOWN(replay)
{
	struct replay *r = &self->r;

	if (self->cont.mem)
		stop_contender(&self->cont);
	loopback_dereg(r->tmr);
	mirror_close(&r->m);
	loopback_close(&r->lb);
	munmap(r->tgt, SIZE);
	munmap(r->m.dst, SIZE);
}

/* Just inside tests/guest-suite's limit for the whole program, 600 s. */
TEST_F_TIMEOUT(replay, read_after_munmap, 590)
{
	int n = rounds(), i;
	long dups, now;

	ASSERT_LT(0, n)
		TH_LOG("ODP_REPLAY_ROUNDS=%s: not a positive number",
		       getenv("ODP_REPLAY_ROUNDS"));
	dups = port_counter(opts.dev, "duplicate_request");
	start_contender(&self->cont);
	for (i = 0; i < n; i++)
		one_round(&self->r, &self->cont, i);
	stop_contender(&self->cont);
	/* Without duplicates nothing here was replayed. */
	now = port_counter(opts.dev, "duplicate_request");
	expect(dups >= 0 && now > dups, "%s's duplicate_request counter moved: "
	       "%ld duplicates were served", opts.dev, now - dups);
	EXPECT_EQ(0, expect_failures());
}

int main(int argc, char **argv)
{
	loopback_take_opts(&argc, &argv, &opts);
	return test_harness_run(argc, argv);
}
