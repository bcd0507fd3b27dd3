// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/* Verified RDMA WRITE and READ over a mirrored target: see mirror.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "mirror.h"
#include "target.h"

/* What a READ destination holds before the READ: neither data nor zeros. */
#define POISON	0xee

struct ibv_mr *mirror_reg(struct loopback *lb, void *buf, size_t len, bool odp)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		     IBV_ACCESS_REMOTE_READ;
	struct ibv_mr *mr;

	if (odp)
		access |= IBV_ACCESS_ON_DEMAND;
	mr = ibv_reg_mr(lb->pd, buf, len, access);
	if (!mr) {
		perror("ibv_reg_mr");
		exit(1);
	}
	return mr;
}

void mirror_open(struct mirror *m, struct loopback *lb, void *src, void *dst,
		 size_t len, bool odp)
{
	m->lb = lb;
	m->tmr = NULL;
	m->remote = false;
	m->src = src;
	m->smr = mirror_reg(lb, src, len, odp);
	m->dst = dst;
	m->dmr = mirror_reg(lb, dst, len, odp);
}

void mirror_close(struct mirror *m)
{
	loopback_dereg(m->smr);
	loopback_dereg(m->dmr);
	loopback_dereg(m->tmr);
	m->smr = m->dmr = m->tmr = NULL;
}

/* The peer's fresh target of @len bytes, under an MR there. */
static void open_remote_target(struct mirror *m, struct loopback *lb,
			       size_t len, bool odp)
{
	struct peer_msg req = { .op = PEER_TARGET, .len = len, .arg = odp };
	struct peer_msg rep;

	if (!peer_call(lb->peer, &req, &rep))
		exit(1);
	m->tgt = (unsigned char *)(uintptr_t)rep.addr;
	m->rkey = rep.arg;
}

unsigned char *mirror_open_target(struct mirror *m, struct loopback *lb,
				  size_t len, bool odp)
{
	struct ibv_mr *tmr = NULL;

	if (lb->peer) {
		open_remote_target(m, lb, len, odp);
	} else {
		tmr = mirror_reg(lb, map_anon(NULL, len), len, odp);
		mirror_at(m, tmr);
	}
	mirror_open(m, lb, map_anon(NULL, len), map_anon(NULL, len), len, odp);
	m->tmr = tmr;
	m->remote = lb->peer != NULL;
	return m->tgt;
}

void mirror_unmap(struct mirror *m, size_t len)
{
	if (!m->remote)
		munmap(m->tgt, len);
	munmap(m->src, len);
	munmap(m->dst, len);
}

int mirror_rdma(struct mirror *m, enum ibv_wr_opcode op, size_t off, size_t len)
{
	bool wr = op == IBV_WR_RDMA_WRITE;
	int st;

	st = loopback_rdma(m->lb, op, (wr ? m->src : m->dst) + off,
			   wr ? m->smr->lkey : m->dmr->lkey, m->tgt + off,
			   m->rkey, len);
	if (st != IBV_WC_SUCCESS && loopback_reconnect(m->lb)) {
		fprintf(stderr, "cannot reconnect the QPs after an error\n");
		exit(1);
	}
	return st;
}

static bool succeeded(int st, const char *what)
{
	if (st == IBV_WC_SUCCESS)
		return true;
	fprintf(stderr, "%s: %s\n", what, wc_status_name(st));
	return false;
}

bool mirror_write_ok(struct mirror *m, size_t off, size_t len,
		     unsigned int seed, const char *what)
{
	pattern_fill_at(m->src + off, len, seed, off);
	return succeeded(mirror_rdma(m, IBV_WR_RDMA_WRITE, off, len), what) &&
	       target_check(m->lb, m->tgt + off, len, seed, off, what);
}

bool mirror_read_is(struct mirror *m, size_t off, size_t len,
		    unsigned int seed, const char *what)
{
	memset(m->dst + off, POISON, len);
	return succeeded(mirror_rdma(m, IBV_WR_RDMA_READ, off, len), what) &&
	       pattern_check_at(m->dst + off, len, seed, off, what);
}

bool mirror_read_zero(struct mirror *m, size_t off, size_t len,
		      const char *what)
{
	memset(m->dst + off, POISON, len);
	return succeeded(mirror_rdma(m, IBV_WR_RDMA_READ, off, len), what) &&
	       bytes_check(m->dst + off, len, 0, what);
}

bool mirror_access_error(struct mirror *m, enum ibv_wr_opcode op, size_t off,
			 size_t len, const char *what)
{
	int st;

	/* A WRITE that wrongly lands must leave a trace the checks can see. */
	if (op == IBV_WR_RDMA_WRITE)
		pattern_fill_at(m->src + off, len, 0xbad, off);
	st = mirror_rdma(m, op, off, len);
	if (st == IBV_WC_REM_ACCESS_ERR)
		return true;
	fprintf(stderr, "%s: %s, want %s\n", what, wc_status_name(st),
		ibv_wc_status_str(IBV_WC_REM_ACCESS_ERR));
	return false;
}

bool mirror_fresh_round_trip(const struct loopback_opts *o, size_t size,
			     size_t off, size_t len)
{
	struct loopback lb;
	struct mirror m = {};
	bool ok;

	if (loopback_open(&lb, o))
		return false;
	if (loopback_connect(&lb)) {
		loopback_close(&lb);
		return false;
	}
	mirror_open_target(&m, &lb, size, true);
	ok = mirror_write_ok(&m, off, len, 77, "fresh target after WRITE") &&
	     mirror_read_is(&m, off, len, 77, "fresh target: READ back") &&
	     bytes_check(m.tgt, off, 0, "fresh target before the WRITE") &&
	     bytes_check(m.tgt + off + len, size - off - len, 0,
			 "fresh target after the WRITE");
	mirror_close(&m);
	loopback_close(&lb);
	mirror_unmap(&m, size);
	return ok;
}
