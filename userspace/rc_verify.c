// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rc_verify: move data with every RC verb between two loopback QPs and
 * check every byte that arrives, not just the completion status.
 *
 *   rc_verify [-d dev] [-g gid_index] [-o]
 *
 * -o registers both sides' memory with IBV_ACCESS_ON_DEMAND. The buffers
 * are freshly mapped: each case's WRITE lands on memory nothing touched
 * before, so its first access is a page fault; the READ and the SEND after
 * it land where the CPU or that WRITE has been. Without -o the memory is
 * registered pinned. Data is one position-unique pattern (check.h), so a
 * byte from a wrong page never matches. Exit 0 when everything verified,
 * 77 when the device cannot run the requested mode, 1 otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "loopback.h"

#define BUF_SIZE (4u << 20)

struct side {
	unsigned char *buf;
	struct ibv_mr *mr;
};

static int failures;

static void report(bool ok, const char *what, size_t off, size_t len)
{
	printf("%s %s off=%zu len=%zu\n", ok ? "ok" : "FAIL", what, off, len);
	if (!ok)
		failures++;
}

static int side_init(struct loopback *lb, struct side *s, int odp)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		     IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;

	s->buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->buf == MAP_FAILED) {
		perror("mmap");
		return -1;
	}
	if (odp)
		access |= IBV_ACCESS_ON_DEMAND;
	s->mr = ibv_reg_mr(lb->pd, s->buf, BUF_SIZE, access);
	if (!s->mr) {
		perror("ibv_reg_mr");
		return -1;
	}
	return 0;
}

static bool rdma(struct loopback *lb, enum ibv_wr_opcode op, struct side *local,
		 size_t loff, struct side *remote, size_t roff, size_t len)
{
	static uint64_t id;
	struct ibv_sge sge = {
		.addr = (uintptr_t)local->buf + loff,
		.length = len,
		.lkey = local->mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = ++id,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.wr.rdma = {
			.remote_addr = (uintptr_t)remote->buf + roff,
			.rkey = remote->mr->rkey,
		},
	};
	struct ibv_wc wc;

	if (loopback_post_wait(lb, &wr, &wc))
		return false;
	if (wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "wr %llu: %s\n", (unsigned long long)wc.wr_id,
			ibv_wc_status_str(wc.status));
		return false;
	}
	return true;
}

static void test_write(struct loopback *lb, struct side *a, struct side *b,
		       size_t off, size_t len, unsigned int seed)
{
	pattern_fill(a->buf + off, len, seed);
	report(rdma(lb, IBV_WR_RDMA_WRITE, a, off, b, off, len) &&
	       pattern_check(b->buf + off, len, seed, "write"), "write", off, len);
}

static void test_read(struct loopback *lb, struct side *a, struct side *b,
		      size_t off, size_t len, unsigned int seed)
{
	pattern_fill(b->buf + off, len, seed);
	report(rdma(lb, IBV_WR_RDMA_READ, a, off, b, off, len) &&
	       pattern_check(a->buf + off, len, seed, "read"), "read", off, len);
}

static bool send_recv(struct loopback *lb, struct side *a, struct side *b,
		      size_t off, size_t len)
{
	struct ibv_sge rsge = {
		.addr = (uintptr_t)b->buf + off, .length = len, .lkey = b->mr->lkey,
	};
	struct ibv_recv_wr rwr = { .wr_id = 1, .sg_list = &rsge, .num_sge = 1 };
	struct ibv_sge ssge = {
		.addr = (uintptr_t)a->buf + off, .length = len, .lkey = a->mr->lkey,
	};
	struct ibv_send_wr swr = {
		.wr_id = 2, .sg_list = &ssge, .num_sge = 1, .opcode = IBV_WR_SEND,
	};
	struct ibv_recv_wr *rbad;
	struct ibv_send_wr *sbad;
	struct ibv_wc wc;
	int seen = 0, i;

	if (ibv_post_recv(lb->qp[1], &rwr, &rbad) ||
	    ibv_post_send(lb->qp[0], &swr, &sbad)) {
		perror("post");
		return false;
	}
	for (i = 0; i < 2; i++) {
		if (loopback_poll(lb, &wc, 20000)) {
			fprintf(stderr, "send: no completion within 20 s\n");
			return false;
		}
		if (wc.status != IBV_WC_SUCCESS) {
			fprintf(stderr, "send wr %llu: %s\n",
				(unsigned long long)wc.wr_id,
				ibv_wc_status_str(wc.status));
			return false;
		}
		seen |= 1 << wc.wr_id;
		if (wc.wr_id == 1 && wc.byte_len != len) {
			fprintf(stderr, "recv byte_len %u, want %zu\n", wc.byte_len, len);
			return false;
		}
	}
	return seen == 6;
}

static void test_send(struct loopback *lb, struct side *a, struct side *b,
		      size_t off, size_t len, unsigned int seed)
{
	pattern_fill(a->buf + off, len, seed);
	report(send_recv(lb, a, b, off, len) && pattern_check(b->buf + off, len, seed, "send"),
	       "send", off, len);
}

static bool atomic(struct loopback *lb, enum ibv_wr_opcode op, struct side *a,
		   size_t loff, struct side *b, size_t roff, uint64_t add_or_cmp,
		   uint64_t swap)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)a->buf + loff, .length = 8, .lkey = a->mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = 3, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.wr.atomic = {
			.remote_addr = (uintptr_t)b->buf + roff,
			.compare_add = add_or_cmp,
			.swap = swap,
			.rkey = b->mr->rkey,
		},
	};
	struct ibv_wc wc;

	if (loopback_post_wait(lb, &wr, &wc))
		return false;
	if (wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "atomic: %s\n", ibv_wc_status_str(wc.status));
		return false;
	}
	return true;
}

static void test_atomics(struct loopback *lb, struct side *a, struct side *b,
			 size_t off)
{
	uint64_t *remote = (uint64_t *)(b->buf + off);
	uint64_t *fetched = (uint64_t *)(a->buf + off);
	bool ok;

	*remote = 1000;
	ok = atomic(lb, IBV_WR_ATOMIC_FETCH_AND_ADD, a, off, b, off, 23, 0) &&
	     *fetched == 1000 && *remote == 1023;
	report(ok, "fetch_add", off, 8);

	ok = atomic(lb, IBV_WR_ATOMIC_CMP_AND_SWP, a, off, b, off, 1023, 77) &&
	     *fetched == 1023 && *remote == 77;
	report(ok, "cmp_swap hit", off, 8);

	ok = atomic(lb, IBV_WR_ATOMIC_CMP_AND_SWP, a, off, b, off, 5, 99) &&
	     *fetched == 77 && *remote == 77;
	report(ok, "cmp_swap miss", off, 8);
}

int main(int argc, char **argv)
{
	struct loopback_opts o = { .dev = "rxe0", .gid_index = 1 };
	static const struct { size_t off, len; } cases[] = {
		{ 0, 1 }, { 0, 4096 }, { 100, 5000 }, { 4095, 2 },
		{ 8192, 65536 }, { 1 << 20, 1 << 20 }, { 3 << 20, (1 << 20) - 1 },
	};
	struct loopback lb;
	struct side a, b;
	int odp = 0, c;
	unsigned int i;

	while ((c = getopt(argc, argv, "d:g:o")) != -1) {
		switch (c) {
		case 'd': o.dev = optarg; break;
		case 'g': o.gid_index = atoi(optarg); break;
		case 'o': odp = 1; break;
		default:
			fprintf(stderr, "usage: %s [-d dev] [-g gid_index] [-o]\n", argv[0]);
			return 2;
		}
	}
	if (loopback_open(&lb, &o))
		return 1;
	if (odp && !loopback_has_odp_rc(&lb, IBV_ODP_SUPPORT_SEND |
					IBV_ODP_SUPPORT_RECV | IBV_ODP_SUPPORT_WRITE |
					IBV_ODP_SUPPORT_READ | IBV_ODP_SUPPORT_ATOMIC)) {
		printf("%s does not advertise RC ODP for send/recv/write/read/atomic\n",
		       o.dev);
		return EXIT_SKIP;
	}
	if (loopback_connect(&lb) || side_init(&lb, &a, odp) || side_init(&lb, &b, odp))
		return 1;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		test_write(&lb, &a, &b, cases[i].off, cases[i].len, i + 1);
		test_read(&lb, &a, &b, cases[i].off, cases[i].len, i + 101);
		test_send(&lb, &a, &b, cases[i].off, cases[i].len, i + 201);
	}
	test_atomics(&lb, &a, &b, 0);
	test_atomics(&lb, &a, &b, 2 << 20);

	ibv_dereg_mr(a.mr);
	ibv_dereg_mr(b.mr);
	munmap(a.buf, BUF_SIZE);
	munmap(b.buf, BUF_SIZE);
	loopback_close(&lb);
	printf("%s: %d failure(s)\n", odp ? "odp" : "pinned", failures);
	return failures ? 1 : 0;
}
