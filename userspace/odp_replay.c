// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_replay: duplicate RDMA READs that find their pages gone.
 *
 *   odp_replay [-d dev] [-g gid_index] [-r rounds]
 *
 * The QPs run with a local ACK timeout just long enough for a READ's
 * responses to flow (see ack_timeout()), so the requester retransmits a
 * long READ whenever the responder pauses; the READ's pages
 * are invalidated first, and another thread holds the mmap lock for a
 * while, so the responder pauses in its first fault. The responder
 * answers each duplicate by reading the memory again, and it may still be
 * doing so after the requester has completed the READ. Each round
 * (2 * NCHUNK by default) READs a chunk of an ODP target, munmaps that
 * chunk at once, and READs the next chunk: duplicates of the first READ
 * now fault on unmapped pages. That must cost neither the second READ nor
 * the QP anything: it completes with its data. A READ of the unmapped
 * chunk itself still fails with a remote access error, and the chunk,
 * mapped again with new data, reads back. rxe0's duplicate_request
 * counter must show that duplicates were served at all.
 *
 * Exit 0 when every check passed, 77 when the device does not advertise
 * RC ODP for READ, 1 otherwise.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "loopback.h"

#define CHUNK	(4ul << 20)
#define NCHUNK	4
#define SIZE	(NCHUNK * CHUNK)

#define CONTEND	(1ul << 30)	/* the region the contender mprotects */

#define ODP_RW	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND)

struct replay {
	struct loopback lb;
	unsigned char *tgt, *dst;
	struct ibv_mr *tmr, *dmr;
	unsigned int seed[NCHUNK];	/* pattern each target chunk holds */
};

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
}

/* --- READs --- */

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

/* READ target chunk @c into the same place in dst; the completion status. */
static int read_chunk(struct replay *r, int c)
{
	int st;

	memset(r->dst + c * CHUNK, 0xee, CHUNK);
	st = loopback_rdma(&r->lb, IBV_WR_RDMA_READ, r->dst + c * CHUNK,
			   r->dmr->lkey, chunk(r, c), r->tmr->rkey, CHUNK);
	if (st != IBV_WC_SUCCESS)
		fresh_qps(r);
	return st;
}

static bool read_ok(struct replay *r, int c, const char *what)
{
	int st = read_chunk(r, c);

	if (st != IBV_WC_SUCCESS) {
		fprintf(stderr, "%s: %s\n", what, wc_status_name(st));
		return false;
	}
	return pattern_check(r->dst + c * CHUNK, CHUNK, r->seed[c], what);
}

static void fill_chunk(struct replay *r, int c, unsigned int seed)
{
	r->seed[c] = seed;
	pattern_fill(chunk(r, c), CHUNK, seed);
}

static void one_round(struct replay *r, struct contender *cont, int round)
{
	int c = round % NCHUNK, next = (round + 1) % NCHUNK;
	bool ok;
	int st;

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
	if (munmap(chunk(r, c), CHUNK)) {
		perror("munmap");
		exit(1);
	}
	ok = ok && read_ok(r, next, "READ of the next chunk");
	expect(ok, "round %d: READ chunk %d, munmap it, READ chunk %d: data "
	       "and completion intact", round, c, next);

	fresh_qps(r);
	st = read_chunk(r, c);
	expect(st == IBV_WC_REM_ACCESS_ERR, "round %d: READ of the unmapped "
	       "chunk: %s", round, wc_status_name(st));

	map_anon(chunk(r, c), CHUNK);
	fill_chunk(r, c, 100 + round);
	expect(read_ok(r, c, "READ after mapping again"),
	       "round %d: chunk %d mapped again reads its new data", round, c);
}

/*
 * The shortest local ACK timeout (4.096 us << t) that is still four times
 * the gap between two of a READ's response packets, measured on an
 * uncontended READ of @c. A timeout near that gap retransmits the READ on
 * nearly every packet, and every duplicate is served in full: a slow
 * kernel (KASAN, lockdep, TCG) then spends minutes on duplicates of one
 * READ. Longer than that, only the responder's pauses retransmit, on
 * every kernel alike.
 */
static uint8_t ack_timeout(struct replay *r, int c)
{
	long long t0 = now_us(), gap;
	unsigned int mtu = 128u << r->lb.mtu;
	uint8_t t = 1;

	if (!read_ok(r, c, "READ measuring the response rate")) {
		fprintf(stderr, "cannot measure the response rate\n");
		exit(1);
	}
	gap = (now_us() - t0) / (CHUNK / mtu);
	while (t < 31 && (4096ll << t) / 1000 < 4 * gap)
		t++;
	return t;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-d dev] [-g gid_index] [-r rounds]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	struct loopback_opts o = { .dev = "rxe0", .gid_index = 1 };
	struct replay r = { 0 };
	struct contender cont = { 0 };
	int rounds = 2 * NCHUNK, c, i;
	long dups, now;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt(argc, argv, "d:g:r:")) != -1) {
		switch (c) {
		case 'd': o.dev = optarg; break;
		case 'g': o.gid_index = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		default: usage(argv[0]);
		}
	}
	if (loopback_open(&r.lb, &o))
		return 1;
	if (!loopback_has_odp_rc(&r.lb, IBV_ODP_SUPPORT_READ)) {
		printf("%s does not advertise RC ODP for RDMA READ\n", o.dev);
		return EXIT_SKIP;
	}
	if (loopback_connect(&r.lb))
		return 1;
	r.tgt = map_anon(NULL, SIZE);
	r.dst = map_anon(NULL, SIZE);
	r.tmr = ibv_reg_mr(r.lb.pd, r.tgt, SIZE, ODP_RW);
	r.dmr = ibv_reg_mr(r.lb.pd, r.dst, SIZE, ODP_RW);
	if (!r.tmr || !r.dmr) {
		perror("ibv_reg_mr");
		return 1;
	}
	for (i = 0; i < NCHUNK; i++)
		fill_chunk(&r, i, i + 1);
	/* Twice: the first READ also faults both chunks in. */
	ack_timeout(&r, 0);
	r.lb.timeout = ack_timeout(&r, 0);
	printf("local ACK timeout %u (4.096 us << %u)\n", r.lb.timeout,
	       r.lb.timeout);
	dups = port_counter(o.dev, "duplicate_request");
	start_contender(&cont);
	for (i = 0; i < rounds; i++)
		one_round(&r, &cont, i);
	stop_contender(&cont);
	/* Without duplicates nothing here was replayed. */
	now = port_counter(o.dev, "duplicate_request");
	expect(dups >= 0 && now > dups, "%s's duplicate_request counter moved: "
	       "%ld duplicates were served", o.dev, now - dups);

	ibv_dereg_mr(r.tmr);
	ibv_dereg_mr(r.dmr);
	loopback_close(&r.lb);
	printf("odp_replay: %d checks failed\n", expect_failures());
	return expect_failures() ? 1 : 0;
}
