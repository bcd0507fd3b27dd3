// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_torture: RDMA traffic into ODP MRs while their memory churns.
 *
 *   odp_torture [-d ib_dev] [-g gid_idx] [-t seconds] [-S seed] [-T threads]
 *               [-s region_size] [-f dir] [-B kind] [-v]
 *
 * Four ODP MRs, one per region of memory: private anonymous, THP
 * (MADV_HUGEPAGE, 2 MiB aligned), hugetlb (MAP_HUGETLB, registered with
 * IBV_ACCESS_HUGETLB) and a MAP_SHARED file (in -f DIR, or $ODP_TORTURE_DIR;
 * a memfd without either). Each traffic thread has its own loopback RC and
 * UD queue pairs and an ODP staging buffer, and posts, at random: RDMA
 * WRITE into a region and out of one (the region as the local SGE), READ
 * from one and into one, SEND into a region's receive buffer and out of a
 * region, atomics (FETCH_AND_ADD, CMP_AND_SWP that hits and one that
 * misses) on a region's words, UD SEND into a region and out of one, and
 * CPU writes and reads. A churn thread changes the regions' mappings at
 * random: munmap (a hole, mapped again later) and mmap over a range,
 * mremap out of the MR and back and mremap swapping two ranges,
 * madvise(DONTNEED, PAGEOUT, COLD), mprotect(NONE, READ), fork with the
 * child writing, move_pages to the other node, THP split (debugfs) and
 * MADV_COLLAPSE, KSM merging of zeroed pages, page cache eviction and
 * ftruncate of the file.
 *
 * Every byte the tool puts in a region encodes its MR, its place and a
 * generation: word w of a page holds mix(MR, generation, origin page, w),
 * where the origin page is the page the data was made for (it moves with
 * the page under mremap). The model keeps each 8-byte word's generation
 * (0: zeros) and each page's origin and access: read-write, read-only, or
 * none (a hole, PROT_NONE, past the end of the file). Each region has a
 * lock: a traffic thread holds it for one operation and its completions,
 * the churn thread while it changes the mapping and the model, so after
 * every operation the model says exactly what each byte must hold, or
 * that the access must fail, and with which completion status
 * (Documentation/rxe_odp.rst, "Errors: who gets what"). Operations on
 * different regions, and the kernel's own work, run concurrently.
 *
 * The first byte that differs from the model stops the run with the MR,
 * the offset, the expected and the found byte (and what the found word
 * looks like: zeros, an older generation). An unexpected completion
 * status, or an operation that succeeds where it must fail, stops it too.
 * At the end every pending change is undone and every region is read
 * back whole. The last line is the summary:
 *
 *   odp_torture: seed S time T s: ops N (write .. read .. send .. atomic ..
 *   ud .. cpu ..; refused .. ud_dropped ..) churn M (remap .. unmap ..
 *   ...) faults F invalidations I mismatches 0
 *
 * Exit status 0 with no mismatch and no unexpected status, 1 otherwise,
 * 77 when the device does not advertise the ODP it needs. What the kernel
 * or the machine cannot do (no second NUMA node, no KSM, no hugetlb pages
 * ...) is found out once and printed as "skipped: <what> (<why>)".
 *
 * -B KIND skips the model's update for one kind of churn (remap, unmap,
 * mremap, mremap_swap, dontneed, prot_none, prot_read, fork, ksm,
 * truncate), as a kernel that failed to invalidate for that event would
 * look; with "gen", the model of one span goes a generation back. Either
 * run must then fail: a mismatch, or an access that should have failed
 * and did not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "loopback.h"

#ifndef MADV_COLD
#define MADV_COLD	20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif
#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE	(1 << 1)
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB	(21 << 26)
#endif

#define PAGE		4096ul
#define HUGE		(2ul << 20)
#define WPP		(PAGE / 8)		/* words per page */
#define HPAGES		(HUGE / PAGE)		/* pages per huge page */
#define MAX_OP		(128ul << 10)		/* longest RDMA operation */
#define GRH_LEN		40
#define STAGE		(2 * MAX_OP + PAGE)	/* src, dst, GRH area */
#define MAX_RUN		64			/* pages one churn op changes */
#define MAX_THREADS	16
#define WAIT_MS		60000			/* for a completion (debug, TCG) */
#define UD_WAIT_MS	10000			/* for a UD receive that may be dropped */
#define POISON		0xa5			/* staging bytes before a copy */
#define GOLDEN		0x9e3779b97f4a7c15ull

#define REGION_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC | \
			 IBV_ACCESS_ON_DEMAND)
#define STAGE_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND)

enum rkind { R_ANON, R_THP, R_HUGETLB, R_FILE, NR_REGIONS };

static const char *const rkind_name[] = {
	[R_ANON] = "anon", [R_THP] = "thp", [R_HUGETLB] = "hugetlb",
	[R_FILE] = "file",
};

/* What the process may do with a page, so what the device must. */
enum acc { A_NONE, A_RO, A_RW };

static const char *const acc_name[] = {
	[A_NONE] = "no access", [A_RO] = "read-only", [A_RW] = "read-write",
};

/* Traffic, counted in groups (the summary's). */
enum op {
	OP_WRITE,	/* staging -> region */
	OP_WRITE_FROM,	/* region (local SGE) -> staging */
	OP_READ,	/* region -> staging */
	OP_READ_INTO,	/* staging -> region (local SGE) */
	OP_SEND,	/* staging -> a receive buffer in the region */
	OP_SEND_FROM,	/* region -> a receive buffer in staging */
	OP_ATOMIC,
	OP_UD,		/* UD: staging -> a receive buffer in the region */
	OP_UD_FROM,	/* UD: region -> staging */
	OP_CPU_WRITE,
	OP_CPU_READ,
	NR_OPS
};

static const char *const op_name[] = {
	[OP_WRITE] = "RDMA WRITE", [OP_WRITE_FROM] = "RDMA WRITE from",
	[OP_READ] = "RDMA READ", [OP_READ_INTO] = "RDMA READ into",
	[OP_SEND] = "SEND", [OP_SEND_FROM] = "SEND from",
	[OP_ATOMIC] = "atomic", [OP_UD] = "UD SEND", [OP_UD_FROM] = "UD SEND from",
	[OP_CPU_WRITE] = "CPU write", [OP_CPU_READ] = "CPU read",
};

enum group { G_WRITE, G_READ, G_SEND, G_ATOMIC, G_UD, G_CPU, NR_GROUPS };

static const char *const group_name[] = {
	[G_WRITE] = "write", [G_READ] = "read", [G_SEND] = "send",
	[G_ATOMIC] = "atomic", [G_UD] = "ud", [G_CPU] = "cpu",
};

static const enum group op_group[] = {
	[OP_WRITE] = G_WRITE, [OP_WRITE_FROM] = G_WRITE,
	[OP_READ] = G_READ, [OP_READ_INTO] = G_READ,
	[OP_SEND] = G_SEND, [OP_SEND_FROM] = G_SEND,
	[OP_ATOMIC] = G_ATOMIC, [OP_UD] = G_UD, [OP_UD_FROM] = G_UD,
	[OP_CPU_WRITE] = G_CPU, [OP_CPU_READ] = G_CPU,
};

/* How often each is picked. */
static const int op_weight[] = {
	[OP_WRITE] = 4, [OP_WRITE_FROM] = 1, [OP_READ] = 4, [OP_READ_INTO] = 1,
	[OP_SEND] = 2, [OP_SEND_FROM] = 1, [OP_ATOMIC] = 3, [OP_UD] = 1,
	[OP_UD_FROM] = 1, [OP_CPU_WRITE] = 1, [OP_CPU_READ] = 1,
};

enum churn {
	C_REMAP,	/* mmap over a range: munmap and a new mapping */
	C_UNMAP,	/* munmap: a hole until mapped again */
	C_MREMAP,	/* mremap out of the MR, back later */
	C_MREMAP_SWAP,	/* mremap: two ranges change places */
	C_DONTNEED,
	C_PAGEOUT,
	C_COLD,
	C_PROT_NONE,	/* until set back to read-write */
	C_PROT_READ,	/* the same */
	C_FORK,		/* the child writes over a range */
	C_MOVE_PAGES,	/* to the other NUMA node */
	C_THP_SPLIT,	/* debugfs split_huge_pages */
	C_COLLAPSE,	/* MADV_COLLAPSE */
	C_KSM,		/* zeroed by the CPU, MADV_MERGEABLE */
	C_EVICT,	/* msync, MADV_PAGEOUT, POSIX_FADV_DONTNEED */
	C_TRUNCATE,	/* ftruncate below the region's end, extended later */
	NR_CHURN
};

static const char *const churn_name[] = {
	[C_REMAP] = "remap", [C_UNMAP] = "unmap", [C_MREMAP] = "mremap",
	[C_MREMAP_SWAP] = "mremap_swap", [C_DONTNEED] = "dontneed",
	[C_PAGEOUT] = "pageout", [C_COLD] = "cold", [C_PROT_NONE] = "prot_none",
	[C_PROT_READ] = "prot_read", [C_FORK] = "fork",
	[C_MOVE_PAGES] = "move_pages", [C_THP_SPLIT] = "thp_split",
	[C_COLLAPSE] = "collapse", [C_KSM] = "ksm", [C_EVICT] = "evict",
	[C_TRUNCATE] = "truncate",
};

#define BIT(c)		(1u << (c))
/* The churn whose model update -B can skip. */
#define BREAKABLE	(BIT(C_REMAP) | BIT(C_UNMAP) | BIT(C_MREMAP) |	\
			 BIT(C_MREMAP_SWAP) | BIT(C_DONTNEED) |		\
			 BIT(C_PROT_NONE) | BIT(C_PROT_READ) | BIT(C_FORK) | \
			 BIT(C_KSM) | BIT(C_TRUNCATE))
#define COMMON_CHURN	(BIT(C_REMAP) | BIT(C_UNMAP) | BIT(C_MREMAP) |	\
			 BIT(C_DONTNEED) | BIT(C_PROT_NONE) |		\
			 BIT(C_PROT_READ) | BIT(C_FORK) | BIT(C_MOVE_PAGES))

/* The churn each kind of region gets. */
static const unsigned int region_churn[] = {
	[R_ANON] = COMMON_CHURN | BIT(C_MREMAP_SWAP) | BIT(C_PAGEOUT) |
		   BIT(C_COLD) | BIT(C_KSM),
	/*
	 * No swapping ranges: a VMA moved to another offset in 2 MiB is no
	 * longer fit for huge pages, and MADV_COLLAPSE would refuse it.
	 */
	[R_THP] = COMMON_CHURN | BIT(C_PAGEOUT) | BIT(C_COLD) | BIT(C_KSM) |
		  BIT(C_THP_SPLIT) | BIT(C_COLLAPSE),
	/* madvise(PAGEOUT, COLD) refuse hugetlb memory, KSM ignores it. */
	[R_HUGETLB] = COMMON_CHURN | BIT(C_MREMAP_SWAP),
	/* A file's pages are its offsets: no swapping ranges. */
	[R_FILE] = COMMON_CHURN | BIT(C_PAGEOUT) | BIT(C_COLD) |
		   BIT(C_EVICT) | BIT(C_TRUNCATE),
};

/* A change that lasts until the churn thread undoes it; one per region. */
struct pending {
	enum churn kind;	/* C_UNMAP, C_MREMAP, C_PROT_*, C_TRUNCATE */
	size_t first, n;	/* pages; n == 0: none */
};

struct region {
	int id;
	enum rkind kind;
	bool live;
	unsigned char *base, *scratch;	/* the MR's range; where mremap puts
					 * what it moves out of it */
	size_t size, npages;
	struct ibv_mr *mr;
	int fd;				/* R_FILE */
	size_t file_pages;		/* R_FILE: pages below the end */
	pthread_mutex_t lock;		/* the region's traffic and churn */
	/* The model, under the lock. */
	uint32_t *gen;			/* per word: 0 is zeros */
	uint32_t *origin;		/* per page: the page its data was made for */
	unsigned char *acc;		/* per page: enum acc of the mapping */
	uint32_t next_gen;
	struct pending pend;
	char last[96];			/* the last churn here, for a report */
};

/* A span of a region whose pages all allow the same: one operation's. */
struct span {
	size_t off, len;
	enum acc acc;
};

/* A pair of UD QPs whose receives take two SGEs: GRH, then payload. */
struct ud_pair {
	struct ibv_cq *cq;
	struct ibv_qp *qp[2];
	struct ibv_ah *ah;
};

struct worker {
	int idx;
	pthread_t thread;
	uint64_t rng;
	struct loopback lb;		/* RC: the shared context and PD */
	struct ud_pair ud;
	unsigned char *buf, *src, *dst, *grh;
	struct ibv_mr *mr;
	uint64_t wr_id;
	long ops[NR_OPS];
	long long us[NR_OPS];		/* time in each, under the lock */
	long long wait_us;		/* waiting for region locks */
	long refused;			/* operations that failed as they must */
	long ud_dropped;		/* UD messages lost to a slow fault */
	atomic_long done;		/* progress, read by the main thread */
};

struct churner {
	pthread_t thread;
	uint64_t rng;
	long done[NR_CHURN], failed[NR_CHURN];
	int err[NR_CHURN];		/* the last errno of a declined one */
	long restored;
	atomic_long total;
	int node;			/* move_pages: the node to move to next */
	long ksm_sharing_max;
	long evicted;			/* file pages found not resident */
	bool not_done;		/* the op just tried turned out unsupported */
};

static struct {
	struct loopback_opts opts;
	struct loopback lb;		/* context and PD for everyone */
	struct region reg[NR_REGIONS];
	struct worker workers[MAX_THREADS];
	struct churner churner;
	int nthreads, seconds, mtu;
	uint64_t seed;
	size_t size;
	const char *file_dir;
	const char *brk;		/* -B: churn kind whose model update is skipped */
	bool verbose;
	const char *skipped[NR_CHURN];	/* why a kind of churn cannot run */
	char skip_buf[NR_CHURN][96];
	const char *region_skip[NR_REGIONS];
	unsigned int rskip[NR_REGIONS];	/* churn a kind of region refused */
	char rskip_why[NR_REGIONS][NR_CHURN][64];
	char region_skip_buf[NR_REGIONS][128];
	const char *notes[8];
	int nnotes;
	atomic_bool stop;
	atomic_int mismatches;
	atomic_int errors;
	/*
	 * Held for writing while a region's range is briefly unmapped
	 * (munmap or mremap before a PROT_NONE placeholder takes its place),
	 * for reading around everything else that maps memory (QP creation):
	 * a new QP's queues must never land in a hole of an MR.
	 */
	pthread_rwlock_t map_lock;
	char ksm_run_old[16], ksm_scan_old[16];
} T = {
	.opts = { .dev = "rxe0", .gid_index = 1 },
	.nthreads = 3,
	.seconds = 30,
	.seed = 1,
	.size = 4ul << 20,
	.map_lock = PTHREAD_RWLOCK_INITIALIZER,
};

/* --- random numbers, payload --- */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* xorshift64*, one state per thread, all derived from the seed. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_below(uint64_t *s, uint64_t n)
{
	return n ? rnd(s) % n : 0;
}

/*
 * Word @word (counted from the region's start, at the data's origin) of
 * generation @gen in region @r: another MR, place or generation gives
 * another word, so a byte from the wrong page or a stale one shows.
 */
static uint64_t payload(const struct region *r, uint32_t gen, uint64_t word)
{
	return mix64(word + (((uint64_t)r->id << 32 | gen) + 1) * GOLDEN);
}

/* The region's word @w as it is after a write of generation @gen. */
static uint64_t gen_word(const struct region *r, size_t w, uint32_t gen)
{
	if (!gen)
		return 0;
	return payload(r, gen, (uint64_t)r->origin[w / WPP] * WPP + w % WPP);
}

/* The region's word @w as the model has it. */
static uint64_t model_word(const struct region *r, size_t w)
{
	return gen_word(r, w, r->gen[w]);
}

static uint32_t new_gen(struct region *r)
{
	if (!++r->next_gen)
		r->next_gen = 1;
	return r->next_gen;
}

/*
 * Bytes [off, off + len) of @r into @out: as the model has them (@gen 0)
 * or as a write of generation @gen is to leave them.
 */
static void model_fill(const struct region *r, size_t off, size_t len,
		       uint32_t gen, void *out)
{
	uint64_t *o = out;
	size_t w;

	for (w = off / 8; w < (off + len) / 8; w++)
		*o++ = gen ? gen_word(r, w, gen) : model_word(r, w);
}

static void stamp(struct region *r, size_t off, size_t len, uint32_t gen)
{
	size_t w;

	for (w = off / 8; w < (off + len) / 8; w++)
		r->gen[w] = gen;
}

static void stamp_pages(struct region *r, size_t first, size_t n, uint32_t gen)
{
	stamp(r, first * PAGE, n * PAGE, gen);
}

static void set_acc(struct region *r, size_t first, size_t n, enum acc a)
{
	memset(r->acc + first, a, n);
}

static enum acc page_acc(const struct region *r, size_t p)
{
	if (r->kind == R_FILE && p >= r->file_pages)
		return A_NONE;
	return r->acc[p];
}

/* --- failures --- */

static void stop_all(void)
{
	atomic_store(&T.stop, true);
}

/* What a word found instead looks like, for the report. */
static void describe_word(const struct region *r, size_t w, uint64_t got,
			  char *buf, size_t size)
{
	uint32_t g;

	if (!got) {
		snprintf(buf, size, "zeros");
		return;
	}
	for (g = r->next_gen; g; g--)
		if (gen_word(r, w, g) == got) {
			snprintf(buf, size, "generation %u of this word%s", g,
				 g == r->gen[w] ? "" : " (stale or lost)");
			return;
		}
	snprintf(buf, size, "not this word's data in any generation "
		 "(another page's, another MR's, or garbage)");
}

/*
 * The first mismatch stops the run: MR, offset, expected and found byte,
 * and what the word looks like.
 */
static bool mismatch(const struct region *r, size_t w, uint64_t want,
		     uint64_t got, const char *what)
{
	size_t b = 0, off;
	char how[128];

	stop_all();
	if (atomic_fetch_add(&T.mismatches, 1))
		return false;
	while (b < 7 && ((want >> (8 * b)) & 0xff) == ((got >> (8 * b)) & 0xff))
		b++;
	off = w * 8 + b;
	describe_word(r, w, got, how, sizeof(how));
	fprintf(stderr,
		"odp_torture: MISMATCH: mr %d (%s, lkey %#x) offset %#zx "
		"(page %zu + %#zx, %s) %s: expected 0x%02x, found 0x%02x; "
		"word %#018llx expected (generation %u, origin page %u), "
		"%#018llx found: %s; last churn on this MR: %s\n",
		r->id, rkind_name[r->kind], r->mr->lkey, off, off / PAGE,
		off % PAGE, acc_name[page_acc(r, off / PAGE)], what,
		(unsigned int)(want >> (8 * b)) & 0xff,
		(unsigned int)(got >> (8 * b)) & 0xff,
		(unsigned long long)want, r->gen[w], r->origin[w / WPP],
		(unsigned long long)got, how, r->last[0] ? r->last : "none");
	return false;
}

/* @found, bytes [off, off + len) of @r, must be what the model says. */
static bool check(const struct region *r, size_t off, size_t len,
		  const void *found, const char *what)
{
	const uint64_t *f = found;
	size_t w;

	for (w = off / 8; w < (off + len) / 8; w++, f++) {
		uint64_t want = model_word(r, w);

		if (*f != want)
			return mismatch(r, w, want, *f, what);
	}
	return true;
}

static bool fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Anything else that went wrong (a status, a syscall): stops the run. */
static bool fail(const char *fmt, ...)
{
	va_list ap;

	stop_all();
	atomic_fetch_add(&T.errors, 1);
	fputs("odp_torture: ERROR: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return false;
}

/* --- regions --- */

/* @len bytes reserved PROT_NONE at a 2 MiB boundary. */
static unsigned char *reserve(size_t len)
{
	unsigned char *p = mmap(NULL, len + HUGE, PROT_NONE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap(PROT_NONE)");
		exit(1);
	}
	return (unsigned char *)(((uintptr_t)p + HUGE - 1) & ~(HUGE - 1));
}

/*
 * Fresh memory of @r's kind over pages [first, first + n), MAP_FIXED:
 * whatever was mapped there is unmapped by the same call, as munmap()
 * would (so there is never a hole another mapping could take). A file
 * region gets its own pages of the file back.
 */
static int region_map(struct region *r, size_t first, size_t n)
{
	void *addr = r->base + first * PAGE, *p;
	size_t len = n * PAGE;
	int prot = PROT_READ | PROT_WRITE;

	switch (r->kind) {
	case R_HUGETLB:
		p = mmap(addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS |
			 MAP_HUGETLB | MAP_HUGE_2MB | MAP_FIXED, -1, 0);
		break;
	case R_FILE:
		p = mmap(addr, len, prot, MAP_SHARED | MAP_FIXED, r->fd,
			 first * PAGE);
		break;
	default:
		p = mmap(addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0);
		if (p != MAP_FAILED && r->kind == R_THP &&
		    madvise(p, len, MADV_HUGEPAGE))
			return -1;
	}
	return p == MAP_FAILED ? -1 : 0;
}

static int open_file(struct region *r)
{
	char path[256];
	int fd;

	if (!T.file_dir)
		return memfd_create("odp_torture", 0);
	snprintf(path, sizeof(path), "%s/odp_torture.%d", T.file_dir, getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0)
		unlink(path);
	return fd;
}

static bool region_open(struct region *r, int id, enum rkind kind)
{
	int access = REGION_ACCESS;

	memset(r, 0, sizeof(*r));
	r->id = id;
	r->kind = kind;
	r->fd = -1;
	r->size = (T.size + HUGE - 1) & ~(HUGE - 1);
	r->npages = r->size / PAGE;
	r->file_pages = r->npages;
	r->base = reserve(r->size);
	r->scratch = reserve(r->size);
	pthread_mutex_init(&r->lock, NULL);
	if (kind == R_FILE) {
		r->fd = open_file(r);
		if (r->fd < 0 || ftruncate(r->fd, r->size)) {
			perror("odp_torture: the file region's file");
			exit(1);
		}
	}
	if (region_map(r, 0, r->npages)) {
		snprintf(T.region_skip_buf[kind], sizeof(T.region_skip_buf[kind]),
			 "%s region (mmap: %s; HugePages_Free %ld)",
			 rkind_name[kind], strerror(errno),
			 proc_field("/proc/meminfo", "HugePages_Free"));
		T.region_skip[kind] = T.region_skip_buf[kind];
		return false;
	}
	if (kind == R_HUGETLB)
		access |= IBV_ACCESS_HUGETLB;
	r->mr = ibv_reg_mr(T.lb.pd, r->base, r->size, access);
	if (!r->mr) {
		fprintf(stderr, "odp_torture: ibv_reg_mr (%s region): %s\n",
			rkind_name[kind], strerror(errno));
		exit(1);
	}
	r->gen = calloc(r->size / 8, sizeof(*r->gen));
	r->origin = calloc(r->npages, sizeof(*r->origin));
	r->acc = malloc(r->npages);
	if (!r->gen || !r->origin || !r->acc) {
		perror("odp_torture: model");
		exit(1);
	}
	for (size_t p = 0; p < r->npages; p++)
		r->origin[p] = p;
	set_acc(r, 0, r->npages, A_RW);
	r->live = true;
	return true;
}

/* --- verbs plumbing --- */

/*
 * A CQ with a completion channel of its own: waiting on the channel's
 * file descriptor wakes at the completion, where a sleep between polls
 * would take a whole tick (the guest kernel has no high resolution
 * timers, so a 1 ms poll() sleeps 10 ms at HZ=100).
 */
static struct ibv_cq *cq_create(void)
{
	struct ibv_comp_channel *ch = ibv_create_comp_channel(T.lb.ctx);
	struct ibv_cq *cq;

	if (!ch)
		return NULL;
	cq = ibv_create_cq(T.lb.ctx, 64, NULL, ch, 0);
	if (!cq)
		ibv_destroy_comp_channel(ch);
	return cq;
}

static void cq_destroy(struct ibv_cq *cq)
{
	struct ibv_comp_channel *ch = cq->channel;

	ibv_destroy_cq(cq);
	ibv_destroy_comp_channel(ch);
}

/* Block until @cq's channel signals, or @ms pass; consume the event. */
static void cq_sleep(struct ibv_cq *cq, int ms)
{
	struct pollfd pfd = { .fd = cq->channel->fd, .events = POLLIN };
	struct ibv_cq *ev_cq;
	void *ev_ctx;

	if (poll(&pfd, 1, ms) == 1 &&
	    !ibv_get_cq_event(cq->channel, &ev_cq, &ev_ctx))
		ibv_ack_cq_events(ev_cq, 1);
}

static int ud_open(struct ud_pair *u)
{
	struct ibv_qp_init_attr init = {
		.cap = { .max_send_wr = 16, .max_recv_wr = 16,
			 .max_send_sge = 1, .max_recv_sge = 2 },
		.qp_type = IBV_QPT_UD,
		.sq_sig_all = 1,
	};
	struct ibv_ah_attr ah = {
		.is_global = 1,
		.grh = { .dgid = T.lb.gid, .sgid_index = T.lb.gid_index,
			 .hop_limit = 64 },
		.port_num = T.lb.port,
	};
	struct ibv_qp_attr a;
	int i;

	u->cq = cq_create();
	if (!u->cq)
		return -1;
	init.send_cq = init.recv_cq = u->cq;
	for (i = 0; i < 2; i++) {
		u->qp[i] = ibv_create_qp(T.lb.pd, &init);
		if (!u->qp[i])
			return -1;
		a = (struct ibv_qp_attr){ .qp_state = IBV_QPS_INIT,
			.port_num = T.lb.port, .qkey = LOOPBACK_QKEY };
		if (ibv_modify_qp(u->qp[i], &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
				  IBV_QP_PORT | IBV_QP_QKEY))
			return -1;
		a = (struct ibv_qp_attr){ .qp_state = IBV_QPS_RTR };
		if (ibv_modify_qp(u->qp[i], &a, IBV_QP_STATE))
			return -1;
		a = (struct ibv_qp_attr){ .qp_state = IBV_QPS_RTS };
		if (ibv_modify_qp(u->qp[i], &a, IBV_QP_STATE | IBV_QP_SQ_PSN))
			return -1;
	}
	u->ah = ibv_create_ah(T.lb.pd, &ah);
	return u->ah ? 0 : -1;
}

static void ud_close(struct ud_pair *u)
{
	int i;

	if (u->ah)
		ibv_destroy_ah(u->ah);
	for (i = 0; i < 2; i++)
		if (u->qp[i])
			ibv_destroy_qp(u->qp[i]);
	if (u->cq)
		cq_destroy(u->cq);
	memset(u, 0, sizeof(*u));
}

/* After an error: fresh QPs (the old ones are in the error state). */
static bool reconnect_rc(struct worker *w)
{
	int err;

	pthread_rwlock_rdlock(&T.map_lock);
	err = loopback_reconnect(&w->lb);
	pthread_rwlock_unlock(&T.map_lock);
	return err ? fail("thread %d: RC reconnect failed", w->idx) : true;
}

static bool reconnect_ud(struct worker *w)
{
	int err;

	pthread_rwlock_rdlock(&T.map_lock);
	ud_close(&w->ud);
	err = ud_open(&w->ud);
	pthread_rwlock_unlock(&T.map_lock);
	return err ? fail("thread %d: UD QPs: %s", w->idx, strerror(errno)) : true;
}

/* One expected completion, and what came. */
struct wait {
	uint64_t id;
	int status;			/* -1: none came */
	uint32_t byte_len;
};

/*
 * Collect the completions of @n work requests from @cq. Once one has
 * failed, the others get a second more (a receive the failure left
 * posted never completes).
 */
static void wait_all_ms(struct ibv_cq *cq, struct wait *ws, int n, long ms)
{
	long end = now_ms() + ms, grace = 0;
	bool armed = false;
	struct ibv_wc wc;
	int i, left = n;

	for (i = 0; i < n; i++)
		ws[i].status = -1;
	while (left && now_ms() < end && (!grace || now_ms() < grace)) {
		if (ibv_poll_cq(cq, 1, &wc) != 1) {
			/* Arm, then poll again: one may have come meanwhile. */
			if (!armed)
				armed = !ibv_req_notify_cq(cq, 0);
			else {
				cq_sleep(cq, 100);
				armed = false;
			}
			continue;
		}
		for (i = 0; i < n; i++) {
			if (ws[i].id != wc.wr_id || ws[i].status >= 0)
				continue;
			ws[i].status = wc.status;
			ws[i].byte_len = wc.byte_len;
			left--;
			if (wc.status != IBV_WC_SUCCESS && !grace)
				grace = now_ms() + 1000;
		}
	}
}

static struct ibv_sge sge(void *addr, size_t len, uint32_t lkey)
{
	return (struct ibv_sge){ .addr = (uintptr_t)addr, .length = len,
				 .lkey = lkey };
}

static bool post_send(struct worker *w, struct ibv_qp *qp, struct ibv_send_wr *wr,
		      struct wait *ws)
{
	struct ibv_send_wr *bad;

	wr->wr_id = ws->id = ++w->wr_id;
	if (ibv_post_send(qp, wr, &bad))
		return fail("thread %d: ibv_post_send: %s", w->idx, strerror(errno));
	return true;
}

static bool post_recv(struct worker *w, struct ibv_qp *qp, struct ibv_sge *sg,
		      int nsge, struct wait *ws)
{
	struct ibv_recv_wr wr = { .sg_list = sg, .num_sge = nsge }, *bad;

	wr.wr_id = ws->id = ++w->wr_id;
	if (ibv_post_recv(qp, &wr, &bad))
		return fail("thread %d: ibv_post_recv: %s", w->idx, strerror(errno));
	return true;
}

static void wait_all(struct ibv_cq *cq, struct wait *ws, int n)
{
	wait_all_ms(cq, ws, n, WAIT_MS);
}

/* One RDMA WRITE or READ on the RC requester, waited for: its status. */
static int rc_rdma(struct worker *w, enum ibv_wr_opcode op, void *local,
		   uint32_t lkey, void *remote, uint32_t rkey, size_t len)
{
	struct ibv_sge sg = sge(local, len, lkey);
	struct ibv_send_wr wr = {
		.sg_list = &sg, .num_sge = 1, .opcode = op,
		.wr.rdma = { .remote_addr = (uintptr_t)remote, .rkey = rkey },
	};
	struct wait ws;

	if (!post_send(w, w->lb.qp[0], &wr, &ws))
		return -2;
	wait_all(w->lb.cq, &ws, 1);
	return ws.status;
}

static const char *status_name(int st)
{
	return st == -2 ? "not posted" : wc_status_name(st);
}

/* --- traffic --- */

/*
 * Where the next operation goes: an 8-byte aligned span of @r of at most
 * @max bytes, often across a page or huge page boundary, cut short where
 * the access of its pages changes (so that it must all work or all fail).
 */
static struct span pick_span(struct worker *w, struct region *r, size_t max)
{
	size_t len, off, end, p, b, back;

	switch (rnd_below(&w->rng, 4)) {
	case 0:
		len = 8 * (1 + rnd_below(&w->rng, 8));
		break;
	case 1:
		len = 8 * (1 + rnd_below(&w->rng, 1024));
		break;
	default:
		len = 8 * (1 + rnd_below(&w->rng, MAX_OP / 8));
	}
	if (len > max)
		len = max;
	switch (rnd_below(&w->rng, 8)) {
	case 0:		/* across a page boundary */
		b = (1 + rnd_below(&w->rng, r->npages - 1)) * PAGE;
		break;
	case 1:		/* across a huge page boundary */
		b = (1 + rnd_below(&w->rng, r->size / HUGE - 1)) * HUGE;
		break;
	default:
		b = 0;
	}
	if (b) {
		back = 8 * (1 + rnd_below(&w->rng, len / 8));
		off = b - (back < b ? back : b);
	} else {
		off = 8 * rnd_below(&w->rng, r->size / 8);
	}
	if (off + len > r->size)
		off = r->size - len;
	end = off + len;
	for (p = off / PAGE + 1; p * PAGE < end; p++)
		if (page_acc(r, p) != page_acc(r, off / PAGE)) {
			end = p * PAGE;
			break;
		}
	return (struct span){ off, end - off, page_acc(r, off / PAGE) };
}

/*
 * An operation that the model says must fail: it did, with status @st,
 * which must be one of @want (-1 ends the list). The QPs are replaced.
 */
static bool refused(struct worker *w, const struct region *r, struct span sp,
		    const char *what, int st, const int *want)
{
	int i;

	for (i = 0; want[i] >= 0; i++)
		if (st == want[i])
			break;
	if (want[i] < 0)
		return fail("thread %d: %s on mr %d (%s) [%#zx, +%zu) of %s "
			     "pages: %s, want %s; last churn on this MR: %s", w->idx,
			     what, r->id, rkind_name[r->kind], sp.off, sp.len,
			     acc_name[sp.acc], status_name(st),
			     wc_status_name(want[0]), r->last);
	w->refused++;
	return true;
}

static bool succeeded(struct worker *w, const struct region *r, struct span sp,
		      const char *what, int st)
{
	if (st == IBV_WC_SUCCESS)
		return true;
	return fail("thread %d: %s on mr %d (%s) [%#zx, +%zu) of %s pages: %s; "
		     "last churn on this MR: %s", w->idx, what, r->id,
		     rkind_name[r->kind], sp.off, sp.len, acc_name[sp.acc],
		     status_name(st), r->last);
}

static const int want_rem_access[] = { IBV_WC_REM_ACCESS_ERR, -1 };
static const int want_loc_prot[] = { IBV_WC_LOC_PROT_ERR, -1 };
/* rxe moves the QP to error before its completer reports the SGE. */
static const int want_send_sge[] = { IBV_WC_WR_FLUSH_ERR, IBV_WC_LOC_PROT_ERR, -1 };
static const int want_rem_op[] = { IBV_WC_REM_OP_ERR, -1 };

/* Now and then the CPU reads back what the device just wrote. */
static bool maybe_cpu_check(struct worker *w, struct region *r, struct span sp,
			    const char *what)
{
	if (rnd_below(&w->rng, 2))
		return true;
	return check(r, sp.off, sp.len, r->base + sp.off, what);
}

static bool op_write(struct worker *w, struct region *r, struct span sp)
{
	uint32_t gen = new_gen(r);
	int st;

	model_fill(r, sp.off, sp.len, gen, w->src);
	st = rc_rdma(w, IBV_WR_RDMA_WRITE, w->src, w->mr->lkey,
		     r->base + sp.off, r->mr->rkey, sp.len);
	if (sp.acc != A_RW)
		return refused(w, r, sp, "RDMA WRITE", st, want_rem_access) &&
		       reconnect_rc(w);
	if (!succeeded(w, r, sp, "RDMA WRITE", st))
		return false;
	stamp(r, sp.off, sp.len, gen);
	return maybe_cpu_check(w, r, sp, "CPU read after RDMA WRITE");
}

static bool op_write_from(struct worker *w, struct region *r, struct span sp)
{
	int st;

	memset(w->dst, POISON, sp.len);
	st = rc_rdma(w, IBV_WR_RDMA_WRITE, r->base + sp.off, r->mr->lkey,
		     w->dst, w->mr->rkey, sp.len);
	if (sp.acc == A_NONE)
		return refused(w, r, sp, "RDMA WRITE from the region", st,
			       want_send_sge) && reconnect_rc(w);
	return succeeded(w, r, sp, "RDMA WRITE from the region", st) &&
	       check(r, sp.off, sp.len, w->dst, "RDMA WRITE from the region");
}

static bool op_read(struct worker *w, struct region *r, struct span sp)
{
	int st;

	memset(w->dst, POISON, sp.len);
	st = rc_rdma(w, IBV_WR_RDMA_READ, w->dst, w->mr->lkey,
		     r->base + sp.off, r->mr->rkey, sp.len);
	if (sp.acc == A_NONE)
		return refused(w, r, sp, "RDMA READ", st, want_rem_access) &&
		       reconnect_rc(w);
	return succeeded(w, r, sp, "RDMA READ", st) &&
	       check(r, sp.off, sp.len, w->dst, "RDMA READ");
}

static bool op_read_into(struct worker *w, struct region *r, struct span sp)
{
	uint32_t gen = new_gen(r);
	int st;

	model_fill(r, sp.off, sp.len, gen, w->src);
	st = rc_rdma(w, IBV_WR_RDMA_READ, r->base + sp.off, r->mr->lkey,
		     w->src, w->mr->rkey, sp.len);
	if (sp.acc != A_RW)
		return refused(w, r, sp, "RDMA READ into the region", st,
			       want_loc_prot) && reconnect_rc(w);
	if (!succeeded(w, r, sp, "RDMA READ into the region", st))
		return false;
	stamp(r, sp.off, sp.len, gen);
	return maybe_cpu_check(w, r, sp, "CPU read after RDMA READ into it");
}

/* SEND of @len bytes at @from (@lkey) into a receive buffer at @to (@rkey's MR). */
static bool rc_send(struct worker *w, void *from, uint32_t skey, void *to,
		    uint32_t rkey, size_t len, struct wait *ws)
{
	struct ibv_sge rs = sge(to, len, rkey), ss = sge(from, len, skey);
	struct ibv_send_wr wr = { .sg_list = &ss, .num_sge = 1,
				  .opcode = IBV_WR_SEND };

	if (!post_recv(w, w->lb.qp[1], &rs, 1, &ws[0]) ||
	    !post_send(w, w->lb.qp[0], &wr, &ws[1]))
		return false;
	wait_all(w->lb.cq, ws, 2);
	return true;
}

static bool op_send(struct worker *w, struct region *r, struct span sp)
{
	uint32_t gen = new_gen(r);
	struct wait ws[2];

	model_fill(r, sp.off, sp.len, gen, w->src);
	if (!rc_send(w, w->src, w->mr->lkey, r->base + sp.off, r->mr->lkey,
		     sp.len, ws))
		return false;
	if (sp.acc != A_RW)
		return refused(w, r, sp, "SEND into the region", ws[1].status,
			       want_rem_op) && reconnect_rc(w);
	if (!succeeded(w, r, sp, "SEND into the region", ws[1].status) ||
	    !succeeded(w, r, sp, "RECV in the region", ws[0].status))
		return false;
	if (ws[0].byte_len != sp.len)
		return fail("RECV in mr %d: %u bytes, want %zu", r->id,
			     ws[0].byte_len, sp.len);
	stamp(r, sp.off, sp.len, gen);
	return maybe_cpu_check(w, r, sp, "CPU read after SEND into it");
}

static bool op_send_from(struct worker *w, struct region *r, struct span sp)
{
	struct wait ws[2];

	memset(w->dst, POISON, sp.len);
	if (!rc_send(w, r->base + sp.off, r->mr->lkey, w->dst, w->mr->lkey,
		     sp.len, ws))
		return false;
	if (sp.acc == A_NONE)
		return refused(w, r, sp, "SEND from the region", ws[1].status,
			       want_send_sge) && reconnect_rc(w);
	return succeeded(w, r, sp, "SEND from the region", ws[1].status) &&
	       succeeded(w, r, sp, "its RECV", ws[0].status) &&
	       check(r, sp.off, sp.len, w->dst, "SEND from the region");
}

/*
 * FETCH_AND_ADD, or CMP_AND_SWP with the right or a wrong compare value,
 * on one word: the value returned must be the model's, and the new one
 * is the word of a new generation, so the model stays one of payloads.
 */
static bool op_atomic(struct worker *w, struct region *r, struct span sp)
{
	size_t wi = sp.off / 8;
	uint32_t gen = new_gen(r);
	uint64_t old = model_word(r, wi), new = gen_word(r, wi, gen);
	int kind = rnd_below(&w->rng, 3);
	struct ibv_sge sg = sge(w->dst, 8, w->mr->lkey);
	struct ibv_send_wr wr = {
		.sg_list = &sg, .num_sge = 1,
		.wr.atomic = { .remote_addr = (uintptr_t)(r->base + sp.off),
			       .rkey = r->mr->rkey },
	};
	static const char *const name[] = {
		"FETCH_AND_ADD", "CMP_AND_SWP", "CMP_AND_SWP (miss)",
	};
	struct wait ws;

	if (kind == 0) {
		wr.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD;
		wr.wr.atomic.compare_add = new - old;
	} else {
		wr.opcode = IBV_WR_ATOMIC_CMP_AND_SWP;
		wr.wr.atomic.compare_add = kind == 1 ? old : old ^ (1ull << (gen % 64));
		wr.wr.atomic.swap = new;
	}
	memset(w->dst, POISON, 8);
	if (!post_send(w, w->lb.qp[0], &wr, &ws))
		return false;
	wait_all(w->lb.cq, &ws, 1);
	if (sp.acc != A_RW)
		return refused(w, r, sp, name[kind], ws.status, want_rem_access) &&
		       reconnect_rc(w);
	if (!succeeded(w, r, sp, name[kind], ws.status) ||
	    !check(r, sp.off, 8, w->dst, name[kind]))
		return false;
	if (kind != 2)
		stamp(r, sp.off, 8, gen);
	return maybe_cpu_check(w, r, sp, "CPU read after an atomic");
}

/* UD SEND from @from into a receive whose GRH lands in staging. */
static bool ud_send(struct worker *w, void *from, uint32_t skey, void *to,
		    uint32_t rkey, size_t len, struct wait *ws)
{
	struct ibv_sge rs[2] = { sge(w->grh, GRH_LEN, w->mr->lkey),
				 sge(to, len, rkey) };
	struct ibv_sge ss = sge(from, len, skey);
	struct ibv_send_wr wr = { .sg_list = &ss, .num_sge = 1,
				  .opcode = IBV_WR_SEND };

	wr.wr.ud.ah = w->ud.ah;
	wr.wr.ud.remote_qpn = w->ud.qp[1]->qp_num;
	wr.wr.ud.remote_qkey = LOOPBACK_QKEY;
	if (!post_recv(w, w->ud.qp[1], rs, 2, &ws[0]) ||
	    !post_send(w, w->ud.qp[0], &wr, &ws[1]))
		return false;
	wait_all_ms(w->ud.cq, ws, 2, UD_WAIT_MS);
	return true;
}

/*
 * A UD message that was sent but never received: rxe drops one whose
 * receive buffer is still being faulted in after its fault wait, as a
 * wire may lose it (Documentation/rxe_odp.rst). Nothing of it may have
 * landed in [@sp) of @r, which still holds what the model says.
 */
static bool ud_dropped(struct worker *w, struct region *r, struct span sp)
{
	w->ud_dropped++;
	return check(r, sp.off, sp.len, r->base + sp.off,
		     "the buffer of a dropped UD message") &&
	       reconnect_ud(w);
}

static bool op_ud(struct worker *w, struct region *r, struct span sp)
{
	uint32_t gen = new_gen(r);
	struct wait ws[2];

	model_fill(r, sp.off, sp.len, gen, w->src);
	if (!ud_send(w, w->src, w->mr->lkey, r->base + sp.off, r->mr->lkey,
		     sp.len, ws))
		return false;
	if (sp.acc != A_RW) {
		/* UD: the sender never learns; the receive must fail. */
		if (ws[0].status == IBV_WC_SUCCESS)
			return fail("thread %d: UD RECV into %s pages of mr %d "
				     "[%#zx, +%zu) succeeded", w->idx,
				     acc_name[sp.acc], r->id, sp.off, sp.len);
		w->refused++;
		return reconnect_ud(w);
	}
	if (!succeeded(w, r, sp, "UD SEND into the region", ws[1].status))
		return false;
	if (ws[0].status < 0)
		return ud_dropped(w, r, sp);
	if (!succeeded(w, r, sp, "UD RECV in the region", ws[0].status))
		return false;
	if (ws[0].byte_len != GRH_LEN + sp.len)
		return fail("UD RECV in mr %d: %u bytes, want %zu", r->id,
			     ws[0].byte_len, GRH_LEN + sp.len);
	stamp(r, sp.off, sp.len, gen);
	return maybe_cpu_check(w, r, sp, "CPU read after UD SEND into it");
}

static bool op_ud_from(struct worker *w, struct region *r, struct span sp)
{
	struct wait ws[2];

	memset(w->dst, POISON, sp.len);
	if (!ud_send(w, r->base + sp.off, r->mr->lkey, w->dst, w->mr->lkey,
		     sp.len, ws))
		return false;
	if (sp.acc == A_NONE) {
		if (ws[1].status == IBV_WC_SUCCESS)
			return fail("thread %d: UD SEND from unmapped pages of "
				     "mr %d [%#zx, +%zu) succeeded", w->idx,
				     r->id, sp.off, sp.len);
		w->refused++;
		return reconnect_ud(w);
	}
	if (!succeeded(w, r, sp, "UD SEND from the region", ws[1].status))
		return false;
	if (ws[0].status < 0) {
		/* Dropped on the staging buffer's fault: nothing to check. */
		w->ud_dropped++;
		return reconnect_ud(w);
	}
	return succeeded(w, r, sp, "its UD RECV", ws[0].status) &&
	       check(r, sp.off, sp.len, w->dst, "UD SEND from the region");
}

static bool op_cpu_write(struct worker *w, struct region *r, struct span sp)
{
	uint32_t gen = new_gen(r);

	model_fill(r, sp.off, sp.len, gen, r->base + sp.off);
	stamp(r, sp.off, sp.len, gen);
	return true;
}

static bool op_cpu_read(struct worker *w, struct region *r, struct span sp)
{
	return check(r, sp.off, sp.len, r->base + sp.off, "CPU read");
}

static enum op pick_op(struct worker *w)
{
	int total = 0, i, n;

	for (i = 0; i < NR_OPS; i++)
		total += op_weight[i];
	n = rnd_below(&w->rng, total);
	for (i = 0; n >= op_weight[i]; i++)
		n -= op_weight[i];
	return i;
}

static struct region *pick_region(uint64_t *rng)
{
	struct region *r;

	do
		r = &T.reg[rnd_below(rng, NR_REGIONS)];
	while (!r->live);
	return r;
}

/*
 * With -B gen, once: the model of the span an RDMA WRITE just filled
 * goes one generation back, and the CPU reads the span at once.
 */
static bool break_model(struct worker *w, struct region *r, struct span sp)
{
	static atomic_bool done;

	if (!T.brk || strcmp(T.brk, "gen") || atomic_exchange(&done, true))
		return true;
	fprintf(stderr, "odp_torture: -B gen: mr %d [%#zx, +%zu) now one "
		"generation back in the model\n", r->id, sp.off, sp.len);
	stamp(r, sp.off, sp.len, r->gen[sp.off / 8] - 1);
	return check(r, sp.off, sp.len, r->base + sp.off, "CPU read (-B gen)");
}

static bool one_op(struct worker *w)
{
	struct region *r = pick_region(&w->rng);
	enum op op = pick_op(w);
	long long t0 = now_us();
	struct span sp;
	bool ok;

	pthread_mutex_lock(&r->lock);
	w->wait_us += now_us() - t0;
	t0 = now_us();
	if (atomic_load(&T.stop)) {
		pthread_mutex_unlock(&r->lock);
		return true;
	}
	sp = pick_span(w, r, op == OP_ATOMIC ? 8 :
			     op == OP_UD || op == OP_UD_FROM ? (size_t)T.mtu : MAX_OP);
	/* The CPU cannot touch what it may not: the device reads instead. */
	if ((op == OP_CPU_WRITE && sp.acc != A_RW) ||
	    (op == OP_CPU_READ && sp.acc == A_NONE))
		op = OP_READ;
	switch (op) {
	case OP_WRITE:		ok = op_write(w, r, sp); break;
	case OP_WRITE_FROM:	ok = op_write_from(w, r, sp); break;
	case OP_READ:		ok = op_read(w, r, sp); break;
	case OP_READ_INTO:	ok = op_read_into(w, r, sp); break;
	case OP_SEND:		ok = op_send(w, r, sp); break;
	case OP_SEND_FROM:	ok = op_send_from(w, r, sp); break;
	case OP_ATOMIC:		ok = op_atomic(w, r, sp); break;
	case OP_UD:		ok = op_ud(w, r, sp); break;
	case OP_UD_FROM:	ok = op_ud_from(w, r, sp); break;
	case OP_CPU_WRITE:	ok = op_cpu_write(w, r, sp); break;
	default:		ok = op_cpu_read(w, r, sp); break;
	}
	if (ok) {
		w->ops[op]++;
		w->us[op] += now_us() - t0;
		atomic_fetch_add_explicit(&w->done, 1, memory_order_relaxed);
		if (op == OP_WRITE && sp.acc == A_RW)
			ok = break_model(w, r, sp);
	}
	pthread_mutex_unlock(&r->lock);
	return ok;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	while (!atomic_load(&T.stop) && one_op(w))
		;
	return NULL;
}

static void worker_open(struct worker *w, int idx)
{
	w->idx = idx;
	w->rng = mix64(T.seed * GOLDEN + idx + 1) | 1;
	w->lb = T.lb;
	w->lb.qp[0] = w->lb.qp[1] = NULL;
	w->lb.cq = cq_create();
	if (!w->lb.cq || loopback_connect(&w->lb) || ud_open(&w->ud)) {
		fprintf(stderr, "odp_torture: thread %d: QPs: %s\n", idx,
			strerror(errno));
		exit(1);
	}
	w->buf = map_anon(NULL, STAGE);
	w->src = w->buf;
	w->dst = w->buf + MAX_OP;
	w->grh = w->buf + 2 * MAX_OP;
	w->mr = ibv_reg_mr(T.lb.pd, w->buf, STAGE, STAGE_ACCESS);
	if (!w->mr) {
		perror("odp_torture: ibv_reg_mr (staging)");
		exit(1);
	}
}

static void worker_close(struct worker *w)
{
	ibv_destroy_qp(w->lb.qp[0]);
	ibv_destroy_qp(w->lb.qp[1]);
	cq_destroy(w->lb.cq);
	ud_close(&w->ud);
	ibv_dereg_mr(w->mr);
	munmap(w->buf, STAGE);
}

/* --- churn --- */

static void skip(enum churn c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* @c cannot run here: say why, once, and pick it no more. */
static void skip(enum churn c, const char *fmt, ...)
{
	va_list ap;

	if (T.skipped[c])
		return;
	va_start(ap, fmt);
	vsnprintf(T.skip_buf[c], sizeof(T.skip_buf[c]), fmt, ap);
	va_end(ap);
	T.skipped[c] = T.skip_buf[c];
	T.churner.not_done = true;
}

static void skip_region(struct churner *c, const struct region *r, enum churn k,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* @k cannot run on this kind of region: say why, once, pick it no more. */
static void skip_region(struct churner *c, const struct region *r, enum churn k,
			const char *fmt, ...)
{
	char *why = T.rskip_why[r->kind][k];
	va_list ap;

	c->not_done = true;
	T.rskip[r->kind] |= BIT(k);
	va_start(ap, fmt);
	vsnprintf(why, sizeof(T.rskip_why[0][0]), fmt, ap);
	va_end(ap);
}

/*
 * The kernel said no to this one (EAGAIN, EBUSY, ENOMEM ... or nowhere
 * to do it): counted apart, with the last errno, not as done.
 */
static void declined(struct churner *c, enum churn k, int err)
{
	c->failed[k]++;
	c->err[k] = err;
	c->not_done = true;
}

/* The model's update for @c is skipped under -B @c (to show a failure). */
static bool broken(enum churn c)
{
	return T.brk && !strcmp(T.brk, churn_name[c]);
}

/* A range of pages of @r for one churn op. */
struct run {
	size_t first, n;
};

/*
 * Pages [first, first + n) clear of the region's pending change, in
 * whole huge pages for hugetlb (and sometimes for THP); n == 0 if none
 * was found.
 */
static struct run pick_run(struct churner *c, struct region *r, bool huge)
{
	size_t unit = huge || r->kind == R_HUGETLB ? HPAGES : 1;
	size_t units = r->npages / unit, max, n, first;
	const struct pending *p = &r->pend;
	int tries;

	max = unit == 1 ? MAX_RUN : units / 2;
	if (!max)
		max = 1;
	for (tries = 0; tries < 16; tries++) {
		n = (1 + rnd_below(&c->rng, max)) * unit;
		if (n > r->npages)
			continue;
		first = rnd_below(&c->rng, (r->npages - n) / unit + 1) * unit;
		if (p->n && first < p->first + p->n && p->first < first + n)
			continue;
		return (struct run){ first, n };
	}
	return (struct run){ 0, 0 };
}

/* The pages a mapping of @r changes in one piece. */
static size_t unit_of(const struct region *r)
{
	return r->kind == R_HUGETLB ? HPAGES : 1;
}

static void *page_addr(const struct region *r, size_t p)
{
	return r->base + p * PAGE;
}

static void *scratch_addr(const struct region *r, size_t p)
{
	return r->scratch + p * PAGE;
}

/*
 * Move @n pages from @from to @to (MAP_FIXED: replacing what is there).
 * mremap() moves from one VMA only, and churn leaves a region in many:
 * where the range spans several, it goes one @unit pages at a time.
 */
static int move_range(void *from, void *to, size_t n, size_t unit)
{
	unsigned char *f = from, *t = to;
	size_t i;

	if (mremap(f, n * PAGE, n * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, t) != MAP_FAILED)
		return 0;
	if (errno != EFAULT)
		return -1;
	for (i = 0; i < n; i += unit)
		if (mremap(f + i * PAGE, unit * PAGE, unit * PAGE,
			   MREMAP_MAYMOVE | MREMAP_FIXED, t + i * PAGE) == MAP_FAILED)
			return -1;
	return 0;
}

/* Hold an unmapped range with PROT_NONE (check.h), as an error if it fails. */
static bool hold(void *addr, size_t n)
{
	if (mmap(addr, n * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_FIXED | MAP_NORESERVE, -1, 0) != addr)
		return fail("mmap(PROT_NONE) over a hole: %s", strerror(errno));
	return true;
}

static bool c_remap(struct churner *c, struct region *r, struct run x)
{
	if (region_map(r, x.first, x.n))
		return fail("mmap over mr %d pages [%zu, +%zu): %s", r->id,
			     x.first, x.n, strerror(errno));
	/* A file's pages come back; anything else is new, zeros. */
	if (r->kind != R_FILE && !broken(C_REMAP))
		stamp_pages(r, x.first, x.n, 0);
	return true;
}

static bool c_unmap(struct churner *c, struct region *r, struct run x)
{
	bool ok;

	pthread_rwlock_wrlock(&T.map_lock);
	ok = !munmap(page_addr(r, x.first), x.n * PAGE);
	ok = ok ? hold(page_addr(r, x.first), x.n) :
		  fail("munmap: %s", strerror(errno));
	pthread_rwlock_unlock(&T.map_lock);
	if (!broken(C_UNMAP))
		set_acc(r, x.first, x.n, A_NONE);
	return ok;
}

static bool c_mremap(struct churner *c, struct region *r, struct run x)
{
	int err = 0;

	pthread_rwlock_wrlock(&T.map_lock);
	if (move_range(page_addr(r, x.first), scratch_addr(r, x.first), x.n, unit_of(r)))
		err = errno;
	else if (!hold(page_addr(r, x.first), x.n))
		err = -1;
	pthread_rwlock_unlock(&T.map_lock);
	if (err == EINVAL && r->kind == R_HUGETLB) {
		skip_region(c, r, C_MREMAP, "mremap: %s", strerror(err));
		return true;
	}
	if (err)
		return fail("mremap out of mr %d: %s", r->id, strerror(err));
	if (!broken(C_MREMAP))
		set_acc(r, x.first, x.n, A_NONE);
	return true;
}

/* Swap the model of pages [a, a + n) and [b, b + n). */
static void model_swap(struct region *r, size_t a, size_t b, size_t n)
{
	size_t i;

	for (i = 0; i < n * WPP; i++) {
		uint32_t t = r->gen[a * WPP + i];

		r->gen[a * WPP + i] = r->gen[b * WPP + i];
		r->gen[b * WPP + i] = t;
	}
	for (i = 0; i < n; i++) {
		uint32_t t = r->origin[a + i];

		r->origin[a + i] = r->origin[b + i];
		r->origin[b + i] = t;
	}
}

/* Whether pages [a, a + n) and [b, b + n) overlap. */
static bool overlap(size_t a, size_t b, size_t n)
{
	return a < b + n && b < a + n;
}

/* Two ranges of the MR change places: each page's data goes with it. */
static bool c_mremap_swap(struct churner *c, struct region *r, struct run x)
{
	size_t unit = unit_of(r), a = x.first, b, n = x.n;
	const struct pending *p = &r->pend;
	int err = 0, tries;

	/* A second range as long as the first, clear of it and of pending. */
	for (tries = 0; tries < 16; tries++) {
		b = rnd_below(&c->rng, (r->npages - n) / unit + 1) * unit;
		if (!overlap(a, b, n) && !(p->n && (b < p->first + p->n &&
						   p->first < b + n)))
			break;
	}
	if (tries == 16) {
		declined(c, C_MREMAP_SWAP, 0);	/* no room */
		return true;
	}
	pthread_rwlock_wrlock(&T.map_lock);
	if (move_range(page_addr(r, a), scratch_addr(r, a), n, unit)) {
		err = errno;
	} else if (move_range(page_addr(r, b), page_addr(r, a), n, unit) ||
		   move_range(scratch_addr(r, a), page_addr(r, b), n, unit)) {
		err = -errno;
	} else if (!hold(scratch_addr(r, a), n)) {
		err = -1;
	}
	pthread_rwlock_unlock(&T.map_lock);
	if (err == EINVAL && r->kind == R_HUGETLB) {
		skip_region(c, r, C_MREMAP_SWAP, "mremap: %s", strerror(err));
		return true;
	}
	if (err)
		return fail("mremap swap in mr %d: %s%s", r->id,
			    err < 0 ? "half way: " : "", strerror(err < 0 ? -err : err));
	snprintf(r->last, sizeof(r->last), "mremap_swap of pages [%zu, +%zu) "
		 "and [%zu, +%zu)", a, n, b, n);
	if (!broken(C_MREMAP_SWAP))
		model_swap(r, a, b, n);
	return true;
}

static bool c_madvise(struct churner *c, struct region *r, struct run x,
		      enum churn kind, int advice)
{
	if (madvise(page_addr(r, x.first), x.n * PAGE, advice)) {
		if (errno == EINVAL) {
			skip_region(c, r, kind, "madvise: %s", strerror(errno));
			return true;
		}
		return fail("madvise(%s) on mr %d: %s", churn_name[kind], r->id,
			     strerror(errno));
	}
	/* DONTNEED: private memory is gone (zeros), a file's stays. */
	if (kind == C_DONTNEED && r->kind != R_FILE && !broken(C_DONTNEED))
		stamp_pages(r, x.first, x.n, 0);
	return true;
}

static bool c_mprotect(struct churner *c, struct region *r, struct run x,
		       enum acc a)
{
	int prot = a == A_RO ? PROT_READ : PROT_NONE;

	if (mprotect(page_addr(r, x.first), x.n * PAGE, prot))
		return fail("mprotect on mr %d: %s", r->id, strerror(errno));
	if (!broken(a == A_RO ? C_PROT_READ : C_PROT_NONE))
		set_acc(r, x.first, x.n, a);
	return true;
}

/*
 * fork(): the child writes a new generation over the run and lingers a
 * little (so that the device meets copy-on-write pages of every region
 * meanwhile), then exits. The parent sees the child's bytes only in a
 * shared mapping.
 */
static bool c_fork(struct churner *c, struct region *r, struct run x)
{
	uint32_t gen = new_gen(r);
	long linger = rnd_below(&c->rng, 30);
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return fail("fork: %s", strerror(errno));
	if (!pid) {
		model_fill(r, x.first * PAGE, x.n * PAGE, gen, page_addr(r, x.first));
		poll(NULL, 0, linger);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return fail("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return fail("fork: the child writing mr %d (%s) pages [%zu, +%zu) "
			     "ended with status %#x", r->id, rkind_name[r->kind],
			     x.first, x.n, status);
	if (r->kind == R_FILE && !broken(C_FORK))
		stamp_pages(r, x.first, x.n, gen);
	return true;
}

static bool c_move_pages(struct churner *c, struct region *r, struct run x)
{
	size_t step = r->kind == R_HUGETLB ? HPAGES : 1, i, n = 0;
	void *pages[MAX_RUN];
	int nodes[MAX_RUN], status[MAX_RUN];

	c->node = !c->node;
	for (i = 0; i < x.n && n < MAX_RUN; i += step, n++) {
		pages[n] = page_addr(r, x.first + i);
		nodes[n] = c->node;
	}
	if (syscall(SYS_move_pages, 0, n, pages, nodes, status, MPOL_MF_MOVE) < 0) {
		declined(c, C_MOVE_PAGES, errno);
		if (errno == ENOSYS || errno == ENODEV)
			skip(C_MOVE_PAGES, "move_pages: %s", strerror(errno));
	}
	return true;
}

static bool c_thp_split(struct churner *c, struct region *r, struct run x)
{
	int fd = open("/sys/kernel/debug/split_huge_pages", O_WRONLY);
	char cmd[128];
	int len;

	if (fd < 0) {
		skip(C_THP_SPLIT, "no /sys/kernel/debug/split_huge_pages: %s",
		     strerror(errno));
		return true;
	}
	len = snprintf(cmd, sizeof(cmd), "%d,%#lx,%#lx", getpid(),
		       (unsigned long)page_addr(r, x.first),
		       (unsigned long)page_addr(r, x.first + x.n));
	if (write(fd, cmd, len) != len)
		declined(c, C_THP_SPLIT, errno);
	close(fd);
	return true;
}

static bool c_collapse(struct churner *c, struct region *r, struct run x)
{
	/* EAGAIN, ENOMEM and EINVAL (a hole nearby) are the kernel's say. */
	if (madvise(page_addr(r, x.first), x.n * PAGE, MADV_COLLAPSE))
		declined(c, C_COLLAPSE, errno);
	return true;
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long n = -1;

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

static long ksm_sharing(void)
{
	return read_long("/sys/kernel/mm/ksm/pages_sharing");
}

/* Zero the run with the CPU, then let ksmd merge the identical pages. */
static bool c_ksm(struct churner *c, struct region *r, struct run x)
{
	long n;

	memset(page_addr(r, x.first), 0, x.n * PAGE);
	if (!broken(C_KSM))
		stamp_pages(r, x.first, x.n, 0);
	if (madvise(page_addr(r, x.first), x.n * PAGE, MADV_MERGEABLE)) {
		if (errno == EINVAL)
			skip(C_KSM, "madvise(MADV_MERGEABLE): %s", strerror(errno));
		else
			declined(c, C_KSM, errno);
	}
	n = ksm_sharing();
	if (n > c->ksm_sharing_max)
		c->ksm_sharing_max = n;
	return true;
}

/* Write the run back and drop it from the page cache. */
static bool c_evict(struct churner *c, struct region *r, struct run x)
{
	unsigned char vec[MAX_RUN];
	size_t i;

	if (msync(page_addr(r, x.first), x.n * PAGE, MS_SYNC))
		return fail("msync on mr %d: %s", r->id, strerror(errno));
	madvise(page_addr(r, x.first), x.n * PAGE, MADV_PAGEOUT);
	posix_fadvise(r->fd, x.first * PAGE, x.n * PAGE, POSIX_FADV_DONTNEED);
	if (x.n <= MAX_RUN && !mincore(page_addr(r, x.first), x.n * PAGE, vec))
		for (i = 0; i < x.n; i++)
			c->evicted += !(vec[i] & 1);
	return true;
}

/* Cut the file at page @first: the pages past the end must fail. */
static bool c_truncate(struct churner *c, struct region *r, size_t first)
{
	if (ftruncate(r->fd, first * PAGE))
		return fail("ftruncate: %s", strerror(errno));
	/* Past the end: no access; extending it again gives zeros. */
	if (broken(C_TRUNCATE))
		return true;
	r->file_pages = first;
	stamp_pages(r, first, r->npages - first, 0);
	return true;
}

/* Undo the region's pending change. */
static bool restore(struct churner *c, struct region *r)
{
	struct pending *p = &r->pend;
	bool ok = true;

	switch (p->kind) {
	case C_UNMAP:
		ok = c_remap(c, r, (struct run){ p->first, p->n });
		break;
	case C_MREMAP:
		/* What moved out must be untouched by the refused accesses. */
		ok = check(r, p->first * PAGE, p->n * PAGE, scratch_addr(r, p->first),
			   "pages moved out of the MR (CPU)");
		pthread_rwlock_wrlock(&T.map_lock);
		if (ok && move_range(scratch_addr(r, p->first), page_addr(r, p->first),
				     p->n, unit_of(r)))
			ok = fail("mremap back into mr %d: %s", r->id, strerror(errno));
		ok = ok && hold(scratch_addr(r, p->first), p->n);
		pthread_rwlock_unlock(&T.map_lock);
		break;
	case C_PROT_NONE:
	case C_PROT_READ:
		if (mprotect(page_addr(r, p->first), p->n * PAGE, PROT_READ | PROT_WRITE))
			ok = fail("mprotect back: %s", strerror(errno));
		break;
	case C_TRUNCATE:
		if (ftruncate(r->fd, r->size))
			ok = fail("ftruncate back: %s", strerror(errno));
		r->file_pages = r->npages;
		break;
	default:
		break;
	}
	if (p->kind != C_TRUNCATE)
		set_acc(r, p->first, p->n, A_RW);
	snprintf(r->last, sizeof(r->last), "undid %s of pages [%zu, +%zu)",
		 churn_name[p->kind], p->first, p->n);
	p->n = 0;
	c->restored++;
	return ok;
}

static bool applies(const struct region *r, enum churn k)
{
	return (region_churn[r->kind] & ~T.rskip[r->kind] & BIT(k)) &&
	       !T.skipped[k];
}

/* One change to one region, or the undoing of its pending one. */
static bool churn_once(struct churner *c)
{
	struct region *r = pick_region(&c->rng);
	enum churn k = NR_CHURN;
	struct run x;
	bool ok = true;
	int tries;

	pthread_mutex_lock(&r->lock);
	if (r->pend.n && rnd_below(&c->rng, 2)) {
		ok = restore(c, r);
		goto out;
	}
	for (tries = 0; tries < 32 && k == NR_CHURN; tries++) {
		k = rnd_below(&c->rng, NR_CHURN);
		/* A lasting change only where none is pending. */
		if (!applies(r, k) ||
		    (r->pend.n && (k == C_UNMAP || k == C_MREMAP || k == C_PROT_NONE ||
				   k == C_PROT_READ || k == C_TRUNCATE)))
			k = NR_CHURN;
	}
	if (k == NR_CHURN)
		goto out;
	x = pick_run(c, r, k == C_COLLAPSE || (r->kind == R_THP && !rnd_below(&c->rng, 3)));
	if (k == C_TRUNCATE)
		x = (struct run){ r->npages / 2 + rnd_below(&c->rng, r->npages / 2),
				  0 };
	if (k != C_TRUNCATE && !x.n)
		goto out;
	snprintf(r->last, sizeof(r->last), "%s of pages [%zu, +%zu)",
		 churn_name[k], x.first, x.n);
	c->not_done = false;
	if (T.verbose)
		fprintf(stderr, "churn: mr %d (%s): %s\n", r->id, rkind_name[r->kind],
			r->last);
	switch (k) {
	case C_REMAP:		ok = c_remap(c, r, x); break;
	case C_UNMAP:		ok = c_unmap(c, r, x); break;
	case C_MREMAP:		ok = c_mremap(c, r, x); break;
	case C_MREMAP_SWAP:	ok = c_mremap_swap(c, r, x); break;
	case C_DONTNEED:	ok = c_madvise(c, r, x, k, MADV_DONTNEED); break;
	case C_PAGEOUT:		ok = c_madvise(c, r, x, k, MADV_PAGEOUT); break;
	case C_COLD:		ok = c_madvise(c, r, x, k, MADV_COLD); break;
	case C_PROT_NONE:	ok = c_mprotect(c, r, x, A_NONE); break;
	case C_PROT_READ:	ok = c_mprotect(c, r, x, A_RO); break;
	case C_FORK:		ok = c_fork(c, r, x); break;
	case C_MOVE_PAGES:	ok = c_move_pages(c, r, x); break;
	case C_THP_SPLIT:	ok = c_thp_split(c, r, x); break;
	case C_COLLAPSE:	ok = c_collapse(c, r, x); break;
	case C_KSM:		ok = c_ksm(c, r, x); break;
	case C_EVICT:		ok = c_evict(c, r, x); break;
	default:		ok = c_truncate(c, r, x.first); break;
	}
	/* A kind found unsupported just now did nothing: not counted. */
	if (ok && !c->not_done) {
		c->done[k]++;
		atomic_fetch_add_explicit(&c->total, 1, memory_order_relaxed);
		if (k == C_UNMAP || k == C_PROT_NONE || k == C_PROT_READ ||
		    k == C_MREMAP)
			r->pend = (struct pending){ k, x.first, x.n };
		else if (k == C_TRUNCATE)
			r->pend = (struct pending){ k, x.first, r->npages - x.first };
	}
out:
	pthread_mutex_unlock(&r->lock);
	return ok;
}

static void *churn_run(void *arg)
{
	struct churner *c = arg;

	while (!atomic_load(&T.stop) && churn_once(c))
		/* Let the traffic meet each change for a while. */
		poll(NULL, 0, 1 + rnd_below(&c->rng, 20));
	return NULL;
}

/* --- probes: what this kernel and machine can do --- */

static bool write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok;
}

static void read_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (f) {
		if (!fgets(buf, size, f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
}

static void note(const char *s)
{
	if (T.nnotes < (int)(sizeof(T.notes) / sizeof(T.notes[0])))
		T.notes[T.nnotes++] = s;
}

/* madvise(@advice) on a touched, THP-friendly scratch area: 0 or errno. */
static int probe_madvise(int advice)
{
	unsigned char *p = reserve(HUGE);
	int err = 0;

	if (mmap(p, HUGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p)
		return errno;
	madvise(p, HUGE, MADV_HUGEPAGE);
	memset(p, 1, HUGE);
	if (madvise(p, HUGE, advice))
		err = errno;
	if (advice == MADV_MERGEABLE)
		madvise(p, HUGE, MADV_UNMERGEABLE);
	munmap(p, HUGE);
	return err;
}

static void probe(void)
{
	int err;

	if (!thp_enabled()) {
		skip(C_THP_SPLIT, "THP not enabled");
		skip(C_COLLAPSE, "THP not enabled");
		note("thp region: THP not enabled, plain 4 KiB pages");
	}
	if (access("/sys/kernel/debug/split_huge_pages", W_OK))
		skip(C_THP_SPLIT, "no /sys/kernel/debug/split_huge_pages");
	err = probe_madvise(MADV_COLLAPSE);
	if (err == EINVAL)
		skip(C_COLLAPSE, "MADV_COLLAPSE: %s", strerror(err));
	err = probe_madvise(MADV_PAGEOUT);
	if (err == EINVAL)
		skip(C_PAGEOUT, "MADV_PAGEOUT: %s", strerror(err));
	err = probe_madvise(MADV_COLD);
	if (err == EINVAL)
		skip(C_COLD, "MADV_COLD: %s", strerror(err));
	if (access("/sys/devices/system/node/node1", F_OK))
		skip(C_MOVE_PAGES, "one NUMA node");
	read_file("/sys/kernel/mm/ksm/run", T.ksm_run_old, sizeof(T.ksm_run_old));
	read_file("/sys/kernel/mm/ksm/pages_to_scan", T.ksm_scan_old,
		  sizeof(T.ksm_scan_old));
	if (!T.ksm_run_old[0])
		skip(C_KSM, "no /sys/kernel/mm/ksm (CONFIG_KSM)");
	else if (!write_file("/sys/kernel/mm/ksm/run", "1"))
		skip(C_KSM, "cannot start ksmd (not root?)");
	else if ((err = probe_madvise(MADV_MERGEABLE)))
		skip(C_KSM, "MADV_MERGEABLE: %s", strerror(err));
	else
		write_file("/sys/kernel/mm/ksm/pages_to_scan", "1000");
	if (proc_field("/proc/meminfo", "SwapTotal") <= 0)
		note("no swap: pageout of anonymous memory only unmaps what it can");
	if (!T.file_dir)
		note("file region on a memfd (no -f DIR): eviction is swap-out");
}

static void ksm_restore(void)
{
	if (T.ksm_scan_old[0])
		write_file("/sys/kernel/mm/ksm/pages_to_scan", T.ksm_scan_old);
	if (T.ksm_run_old[0])
		write_file("/sys/kernel/mm/ksm/run", T.ksm_run_old);
}

/* --- counters --- */

/*
 * The region MRs' page faults and invalidations: rxe's per-MR counters
 * page_faults and page_invalidations (pages, as mlx5 counts them) from
 * `rdma statistic show mr`, summed; -1 each where the kernel keeps none.
 * The one place to change for other counters.
 */
static void odp_counters(long *faults, long *invalidations)
{
	long f, inv;
	int i;

	*faults = *invalidations = 0;
	for (i = 0; i < NR_REGIONS; i++) {
		if (!T.reg[i].live)
			continue;
		f = rdma_mr_counter(T.opts.dev, T.reg[i].mr->lkey, "page_faults");
		inv = rdma_mr_counter(T.opts.dev, T.reg[i].mr->lkey,
				      "page_invalidations");
		if (f < 0 || inv < 0) {
			*faults = *invalidations = -1;
			return;
		}
		*faults += f;
		*invalidations += inv;
	}
}

static const char *const vmstat_keys[] = {
	"pgmigrate_success", "thp_fault_alloc", "thp_split_page", "thp_collapse_alloc",
	"pswpout", "pswpin", "pgpgout",
};
#define NR_VMSTAT (sizeof(vmstat_keys) / sizeof(vmstat_keys[0]))

/* rxe's port counters that show retransmission and RNR NAKs. */
static const char *const port_keys[] = {
	"duplicate_request", "out_of_seq_request", "rcvd_rnr_err",
	"send_rnr_err", "completer_retry_err",
};
#define NR_PORT (sizeof(port_keys) / sizeof(port_keys[0]))

static void vmstat_read(long *v)
{
	size_t i;

	for (i = 0; i < NR_VMSTAT; i++)
		v[i] = proc_field("/proc/vmstat", vmstat_keys[i]);
	for (i = 0; i < NR_PORT; i++)
		v[NR_VMSTAT + i] = port_counter(T.opts.dev, port_keys[i]);
}

/* --- the end: undo, read everything back, report --- */

/* Undo every pending change and check each region whole, by READ and CPU. */
static bool final_check(struct worker *w)
{
	struct region *r;
	size_t off, len;
	int i, st;

	for (i = 0; i < NR_REGIONS; i++) {
		r = &T.reg[i];
		if (!r->live)
			continue;
		if (r->pend.n && !restore(&T.churner, r))
			return false;
		for (off = 0; off < r->size; off += len) {
			len = r->size - off < MAX_OP ? r->size - off : MAX_OP;
			memset(w->dst, POISON, len);
			st = rc_rdma(w, IBV_WR_RDMA_READ, w->dst, w->mr->lkey,
				     r->base + off, r->mr->rkey, len);
			if (!succeeded(w, r, (struct span){ off, len, A_RW },
				       "final RDMA READ", st) ||
			    !check(r, off, len, w->dst, "final RDMA READ") ||
			    !check(r, off, len, r->base + off, "final CPU read"))
				return false;
		}
	}
	return true;
}

static void print_summary(long seconds, long f, long inv)
{
	long ops[NR_GROUPS] = { 0 }, total = 0, refused = 0, dropped = 0;
	long churn = 0;
	struct churner *c = &T.churner;
	char counts[1024] = "";
	int i, j, n = 0;

	for (i = 0; i < T.nthreads; i++) {
		for (j = 0; j < NR_OPS; j++) {
			ops[op_group[j]] += T.workers[i].ops[j];
			total += T.workers[i].ops[j];
		}
		refused += T.workers[i].refused;
		dropped += T.workers[i].ud_dropped;
	}
	for (j = 0; j < NR_CHURN; j++) {
		if (T.skipped[j])
			continue;
		churn += c->done[j];
		n += snprintf(counts + n, sizeof(counts) - n, "%s%s %ld",
			      n ? " " : "", churn_name[j], c->done[j]);
	}
	printf("odp_torture: seed %llu time %ld s: ops %ld (", (unsigned long long)T.seed,
	       seconds, total);
	for (i = 0; i < NR_GROUPS; i++)
		printf("%s%s %ld", i ? " " : "", group_name[i], ops[i]);
	printf("; refused %ld ud_dropped %ld) churn %ld (%s; undone %ld) ",
	       refused, dropped, churn, counts, c->restored);
	if (f < 0)
		printf("faults n/a invalidations n/a ");
	else
		printf("faults %ld invalidations %ld ", f, inv);
	printf("mismatches %d\n", atomic_load(&T.mismatches));
}

static void report(long seconds, const long *vm0)
{
	struct churner *c = &T.churner;
	long vm1[NR_VMSTAT + NR_PORT], f, inv;
	int i, j, n = 0;
	size_t k;

	vmstat_read(vm1);
	printf("odp_torture: kernel:");
	for (k = 0; k < NR_VMSTAT; k++)
		if (vm0[k] >= 0 && vm1[k] >= 0)
			printf(" %s +%ld", vmstat_keys[k], vm1[k] - vm0[k]);
	printf("; ksm pages_sharing max %ld; file pages evicted %ld; %s:",
	       c->ksm_sharing_max, c->evicted, T.opts.dev);
	for (k = 0; k < NR_PORT; k++)
		if (vm0[NR_VMSTAT + k] >= 0 && vm1[NR_VMSTAT + k] >= 0)
			printf(" %s +%ld", port_keys[k],
			       vm1[NR_VMSTAT + k] - vm0[NR_VMSTAT + k]);
	printf("\n");
	printf("odp_torture: failed (the kernel declined):");
	for (i = 0; i < NR_CHURN; i++)
		if (c->failed[i])
			printf(" %s %ld (last: %s)", churn_name[i], c->failed[i],
			       c->err[i] ? strerror(c->err[i]) : "no room");
	printf("\n");
	printf("odp_torture: skipped:");
	for (i = 0; i < NR_REGIONS; i++)
		if (T.region_skip[i])
			printf("%s %s", n++ ? ";" : "", T.region_skip[i]);
	for (i = 0; i < NR_CHURN; i++)
		if (T.skipped[i])
			printf("%s %s (%s)", n++ ? ";" : "", churn_name[i], T.skipped[i]);
	for (i = 0; i < NR_REGIONS; i++)
		for (j = 0; j < NR_CHURN; j++)
			if (T.rskip[i] & BIT(j))
				printf("%s %s on the %s region (%s)", n++ ? ";" : "",
				       churn_name[j], rkind_name[i], T.rskip_why[i][j]);
	printf("%s\n", n ? "" : " none");
	for (i = 0; i < T.nnotes; i++)
		printf("odp_torture: note: %s\n", T.notes[i]);
	if (T.verbose)
		for (i = 0; i < NR_OPS; i++) {
			long n = 0;
			long long us = 0;

			for (j = 0; j < T.nthreads; j++) {
				n += T.workers[j].ops[i];
				us += T.workers[j].us[i];
			}
			printf("odp_torture: %s: %ld, %.2f ms each\n", op_name[i],
			       n, n ? us / 1000.0 / n : 0.0);
		}
	if (T.verbose)
		for (j = 0; j < T.nthreads; j++)
			printf("odp_torture: thread %d waited %lld ms for locks\n", j,
			       T.workers[j].wait_us / 1000);
	odp_counters(&f, &inv);
	if (f < 0)
		printf("odp_torture: no per-MR ODP counters (rdma statistic show "
		       "mr): faults and invalidations n/a\n");
	print_summary(seconds, f, inv);
}

/*
 * The CPU touched what the model says it may: a SIGSEGV or SIGBUS there
 * is the model's (or the kernel's) failure, reported as such.
 */
static void cpu_fault(int sig, siginfo_t *si, void *uc)
{
	unsigned char *a = si->si_addr;
	char msg[256];
	int i, n;

	for (i = 0; i < NR_REGIONS; i++) {
		const struct region *r = &T.reg[i];

		if (!r->live || a < r->base || a >= r->base + r->size)
			continue;
		n = snprintf(msg, sizeof(msg), "odp_torture: ERROR: %s on a CPU "
			     "access to mr %d (%s) offset %#zx, which the model "
			     "has %s\n", sig == SIGBUS ? "SIGBUS" : "SIGSEGV",
			     r->id, rkind_name[r->kind], (size_t)(a - r->base),
			     acc_name[page_acc(r, (a - r->base) / PAGE)]);
		if (write(2, msg, n) < 0)
			break;
		_exit(1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void catch_faults(void)
{
	struct sigaction sa = { .sa_sigaction = cpu_fault, .sa_flags = SA_SIGINFO };

	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

/* --- main --- */

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-d ib_dev] [-g gid_idx] [-t seconds] [-S seed] "
		"[-T threads] [-s region_size] [-f dir] [-B kind] [-v]\n"
		"  -t, --time      seconds of traffic (default 30)\n"
		"  -S, --seed      the seed of every random choice (default 1)\n"
		"  -T, --threads   traffic threads (default 3, at most %d)\n"
		"  -s, --size      bytes per region, K/M suffix (default 4M)\n"
		"  -f, --file-dir  where the file region's file goes "
		"(default $ODP_TORTURE_DIR, else a memfd)\n"
		"  -B, --break     skip the model update of one churn kind, or "
		"'gen': the run must fail\n"
		"  -v, --verbose   print every churn operation\n",
		prog, MAX_THREADS);
	exit(2);
}

static size_t parse_size(const char *s)
{
	char *end;
	size_t n = strtoull(s, &end, 0);

	if (*end == 'K')
		n <<= 10;
	else if (*end == 'M')
		n <<= 20;
	else if (*end == 'G')
		n <<= 30;
	return n;
}

static void parse_opts(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ib-dev", required_argument, NULL, 'd' },
		{ "gid-idx", required_argument, NULL, 'g' },
		{ "time", required_argument, NULL, 't' },
		{ "seed", required_argument, NULL, 'S' },
		{ "threads", required_argument, NULL, 'T' },
		{ "size", required_argument, NULL, 's' },
		{ "file-dir", required_argument, NULL, 'f' },
		{ "break", required_argument, NULL, 'B' },
		{ "verbose", no_argument, NULL, 'v' },
		{ 0 }
	};
	int c, i;

	T.file_dir = getenv("ODP_TORTURE_DIR");
	while ((c = getopt_long(argc, argv, "d:g:t:S:T:s:f:B:v", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': T.opts.dev = optarg; break;
		case 'g': T.opts.gid_index = atoi(optarg); break;
		case 't': T.seconds = atoi(optarg); break;
		case 'S': T.seed = strtoull(optarg, NULL, 0); break;
		case 'T': T.nthreads = atoi(optarg); break;
		case 's': T.size = parse_size(optarg); break;
		case 'f': T.file_dir = optarg; break;
		case 'B': T.brk = optarg; break;
		case 'v': T.verbose = true; break;
		default: usage(argv[0]);
		}
	}
	if (optind != argc || T.nthreads < 1 || T.nthreads > MAX_THREADS ||
	    T.seconds < 1 || T.size < PAGE)
		usage(argv[0]);
	if (T.size < 2 * HUGE)
		T.size = 2 * HUGE;	/* two huge pages, for THP and hugetlb */
	if (T.brk && strcmp(T.brk, "gen")) {
		for (i = 0; i < NR_CHURN && strcmp(T.brk, churn_name[i]); i++)
			;
		if (i == NR_CHURN || !(BREAKABLE & BIT(i)))
			usage(argv[0]);
	}
}

int main(int argc, char **argv)
{
	long start, last = 0, vm0[NR_VMSTAT + NR_PORT], now, ran;
	int i, rc;

	parse_opts(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	catch_faults();
	if (loopback_open(&T.lb, &T.opts))
		return 1;
	if (!loopback_has_odp_rc(&T.lb, IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV |
				 IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ |
				 IBV_ODP_SUPPORT_ATOMIC) ||
	    !loopback_has_odp_ud(&T.lb, IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV)) {
		printf("odp_torture: %s does not advertise RC and UD ODP\n", T.opts.dev);
		return EXIT_SKIP;
	}
	T.mtu = 128 << T.lb.mtu;
	probe();
	for (i = 0; i < NR_REGIONS; i++)
		region_open(&T.reg[i], i, i);
	for (i = 0; i < T.nthreads; i++)
		worker_open(&T.workers[i], i);
	T.churner.rng = mix64(T.seed * GOLDEN + 0x6368) | 1;
	printf("odp_torture: seed %llu, %d s, %d traffic threads, regions of %zu KiB "
	       "on %s, file in %s\n", (unsigned long long)T.seed, T.seconds,
	       T.nthreads, T.reg[0].size >> 10, T.opts.dev,
	       T.file_dir ? T.file_dir : "a memfd");
	vmstat_read(vm0);
	start = now_ms();
	for (i = 0; i < T.nthreads; i++)
		pthread_create(&T.workers[i].thread, NULL, worker_run, &T.workers[i]);
	pthread_create(&T.churner.thread, NULL, churn_run, &T.churner);
	while (!atomic_load(&T.stop) && (now = now_ms()) - start < T.seconds * 1000L) {
		if (now - last >= 10000) {
			long ops = 0;

			for (i = 0; i < T.nthreads; i++)
				ops += atomic_load(&T.workers[i].done);
			if (last)
				printf("odp_torture: %ld s: ops %ld churn %ld\n",
				       (now - start) / 1000, ops,
				       atomic_load(&T.churner.total));
			last = now;
		}
		poll(NULL, 0, 100);
	}
	stop_all();
	for (i = 0; i < T.nthreads; i++)
		pthread_join(T.workers[i].thread, NULL);
	pthread_join(T.churner.thread, NULL);
	ran = (now_ms() - start) / 1000;
	if (!atomic_load(&T.mismatches) && !atomic_load(&T.errors)) {
		/* The final check runs with the flag down again. */
		atomic_store(&T.stop, false);
		final_check(&T.workers[0]);
	}
	ksm_restore();
	report(ran, vm0);
	rc = atomic_load(&T.mismatches) || atomic_load(&T.errors);
	for (i = 0; i < T.nthreads; i++)
		worker_close(&T.workers[i]);
	for (i = 0; i < NR_REGIONS; i++)
		if (T.reg[i].live)
			ibv_dereg_mr(T.reg[i].mr);
	loopback_close(&T.lb);
	return rc;
}
