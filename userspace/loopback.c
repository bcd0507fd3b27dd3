// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Loopback RC queue pairs for userspace tests: see loopback.h.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "loopback.h"

static struct ibv_context *open_by_name(const char *name)
{
	struct ibv_device **list;
	struct ibv_context *ctx = NULL;
	int i, n;

	list = ibv_get_device_list(&n);
	if (!list) {
		perror("ibv_get_device_list");
		return NULL;
	}
	for (i = 0; i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!ctx)
		fprintf(stderr, "device %s not found or not openable\n", name);
	return ctx;
}

static struct ibv_qp *create_qp(struct loopback *lb, enum ibv_qp_type type)
{
	struct ibv_qp_init_attr_ex attr = {
		.send_cq = lb->cq,
		.recv_cq = lb->cq,
		.srq = lb->srq,
		.cap = LOOPBACK_QP_CAP,
		.qp_type = type,
		.sq_sig_all = 1,
		.comp_mask = IBV_QP_INIT_ATTR_PD,
		.pd = lb->pd,
	};

	if (!lb->send_ops)
		return ibv_create_qp(lb->pd, (struct ibv_qp_init_attr *)&attr);
	attr.comp_mask |= IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	attr.send_ops_flags = lb->send_ops;
	return ibv_create_qp_ex(lb->ctx, &attr);
}

/* "64M" and the like; 0 for anything that is not a size. */
static size_t parse_size(const char *arg)
{
	unsigned long long n;
	char *end;

	errno = 0;
	n = strtoull(arg, &end, 0);
	if (errno || end == arg)
		return 0;
	switch (*end) {
	case 'G':
		n <<= 10;
		/* fall through */
	case 'M':
		n <<= 10;
		/* fall through */
	case 'K':
		n <<= 10;
		end++;
	}
	return *end ? 0 : n;
}

void loopback_take_opts(int *argc, char ***argv, struct loopback_opts *o)
{
	struct ibv_device **list;
	char **v = *argv;

	/*
	 * libibverbs loads every provider on its first device list: do it
	 * once here, before the harness forks a process per case.
	 */
	list = ibv_get_device_list(NULL);
	if (list)
		ibv_free_device_list(list);

	while (*argc > 2) {
		if (!strcmp(v[1], "-d") || !strcmp(v[1], "--ib-dev"))
			o->dev = v[2];
		else if (!strcmp(v[1], "-g") || !strcmp(v[1], "--gid-idx"))
			o->gid_index = atoi(v[2]);
		else if (!strcmp(v[1], "-s") || !strcmp(v[1], "--size"))
			o->size = parse_size(v[2]);
		else if (!strcmp(v[1], "--peer"))
			o->peer = v[2];
		else if (!strcmp(v[1], "-p") || !strcmp(v[1], "--port"))
			o->port = atoi(v[2]);
		else
			break;
		v[2] = v[0];
		v += 2;
		*argc -= 2;
	}
	*argv = v;
}

int loopback_open(struct loopback *lb, const struct loopback_opts *o)
{
	struct ibv_port_attr pattr;

	memset(lb, 0, sizeof(*lb));
	lb->port = 1;
	lb->gid_index = o && o->gid_index >= 0 ? o->gid_index : 1;
	lb->ctx = open_by_name(o && o->dev ? o->dev : "rxe0");
	if (!lb->ctx)
		return -1;
	if (ibv_query_port(lb->ctx, lb->port, &pattr) ||
	    ibv_query_gid(lb->ctx, lb->port, lb->gid_index, &lb->gid)) {
		perror("query port/gid");
		return -1;
	}
	lb->dgid = lb->gid;
	lb->mtu = pattr.active_mtu;
	if (o && o->peer) {
		lb->peer = peer_connect(o->peer, o->port ? o->port : PEER_PORT);
		if (!lb->peer)
			return -1;
	}
	lb->pd = ibv_alloc_pd(lb->ctx);
	lb->cq = lb->pd ? ibv_create_cq(lb->ctx, 256, NULL, NULL, 0) : NULL;
	if (!lb->cq) {
		perror("alloc pd/cq");
		return -1;
	}
	return 0;
}

static int to_init(struct loopback *lb, struct ibv_qp *qp)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = lb->port,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_REMOTE_ATOMIC,
		.qkey = LOOPBACK_QKEY,
	};
	/* A UD QP takes a Q_Key where an RC one takes remote access rights. */
	int what = qp->qp_type == IBV_QPT_UD ? IBV_QP_QKEY : IBV_QP_ACCESS_FLAGS;

	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			     IBV_QP_PORT | what);
}

/* The path to the responder's GID: the port's own, or the peer's. */
static struct ibv_ah_attr ah_attr(struct loopback *lb, uint8_t hop_limit)
{
	return (struct ibv_ah_attr){
		.is_global = 1,
		.grh = {
			.dgid = lb->dgid,
			.sgid_index = lb->gid_index,
			.hop_limit = hop_limit,
		},
		.port_num = lb->port,
	};
}

static int to_rtr(struct loopback *lb, struct ibv_qp *qp, uint32_t dest)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_RTR,
		.path_mtu = lb->mtu,
		.dest_qp_num = dest,
		.max_dest_rd_atomic = 16,
		.min_rnr_timer = 12,
		.ah_attr = ah_attr(lb, 1),
	};

	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			     IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			     IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
}

static int to_rts(struct loopback *lb, struct ibv_qp *qp)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_RTS,
		.timeout = lb->timeout ? lb->timeout : 14,
		.retry_cnt = lb->retry_cnt ? lb->retry_cnt : 7,
		.rnr_retry = 7,
		.max_rd_atomic = 16,
	};

	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
			     IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
			     IBV_QP_MAX_QP_RD_ATOMIC);
}

/* lb->qp[@i], of @type, in INIT. */
static int create_one(struct loopback *lb, int i, enum ibv_qp_type type)
{
	lb->qp[i] = create_qp(lb, type);
	if (!lb->qp[i] || to_init(lb, lb->qp[i])) {
		perror("create/init qp");
		return -1;
	}
	return 0;
}

/* Both QPs, of @type, in INIT. */
static int create_pair(struct loopback *lb, enum ibv_qp_type type)
{
	return create_one(lb, 0, type) || create_one(lb, 1, type) ? -1 : 0;
}

/* @qp from INIT to RTS, towards QP number @qpn at the loopback GID. */
static int connect_to(struct loopback *lb, struct ibv_qp *qp, uint32_t qpn)
{
	errno = 0;
	if (to_rtr(lb, qp, qpn) || to_rts(lb, qp)) {
		fprintf(stderr, "connect qp: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Our requester QP, connected to one the peer makes for it. */
static int connect_remote(struct loopback *lb)
{
	struct peer_msg req = { .op = PEER_QP }, rep;

	if (create_one(lb, 0, IBV_QPT_RC))
		return -1;
	req.arg = lb->qp[0]->qp_num;
	memcpy(req.gid, lb->gid.raw, sizeof(req.gid));
	if (!peer_call(lb->peer, &req, &rep))
		return -1;
	memcpy(lb->dgid.raw, rep.gid, sizeof(rep.gid));
	return connect_to(lb, lb->qp[0], rep.arg);
}

int loopback_connect(struct loopback *lb)
{
	int i;

	if (lb->peer)
		return connect_remote(lb);
	if (create_pair(lb, IBV_QPT_RC))
		return -1;
	for (i = 0; i < 2; i++)
		if (connect_to(lb, lb->qp[i], lb->qp[!i]->qp_num))
			return -1;
	return 0;
}

int loopback_peer_qp(struct loopback *lb)
{
	return create_one(lb, 0, IBV_QPT_RC);
}

int loopback_peer_connect(struct loopback *lb, uint32_t qpn)
{
	return connect_to(lb, lb->qp[0], qpn);
}

/* A UD QP from INIT to RTS: no peer, no path; the AH names the peer. */
static int ud_to_rts(struct ibv_qp *qp)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RTR };

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE))
		return -1;
	a.qp_state = IBV_QPS_RTS;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN);
}

int loopback_connect_ud(struct loopback *lb)
{
	struct ibv_ah_attr ah = ah_attr(lb, 64);

	if (lb->peer) {
		fprintf(stderr, "loopback_connect_ud: not with a peer\n");
		return -1;
	}
	if (create_pair(lb, IBV_QPT_UD))
		return -1;
	if (ud_to_rts(lb->qp[0]) || ud_to_rts(lb->qp[1])) {
		perror("UD QP to RTS");
		return -1;
	}
	lb->ah = ibv_create_ah(lb->pd, &ah);
	if (!lb->ah) {
		perror("ibv_create_ah");
		return -1;
	}
	return 0;
}

void loopback_ud_dest(struct loopback *lb, struct ibv_send_wr *wr)
{
	wr->wr.ud.ah = lb->ah;
	wr->wr.ud.remote_qpn = lb->qp[1]->qp_num;
	wr->wr.ud.remote_qkey = LOOPBACK_QKEY;
}

void loopback_close(struct loopback *lb)
{
	int i;

	if (lb->ah)
		ibv_destroy_ah(lb->ah);
	for (i = 0; i < 2; i++)
		if (lb->qp[i])
			ibv_destroy_qp(lb->qp[i]);
	if (lb->srq)
		ibv_destroy_srq(lb->srq);
	if (lb->cq)
		ibv_destroy_cq(lb->cq);
	if (lb->pd)
		ibv_dealloc_pd(lb->pd);
	if (lb->ctx)
		ibv_close_device(lb->ctx);
	peer_close(lb->peer);
	memset(lb, 0, sizeof(*lb));
}

void loopback_dereg(struct ibv_mr *mr)
{
	if (mr && ibv_dereg_mr(mr))
		perror("ibv_dereg_mr");
}

int loopback_poll(struct loopback *lb, struct ibv_wc *wc, int timeout_ms)
{
	long end = now_ms() + timeout_ms;
	int n;

	do {
		n = ibv_poll_cq(lb->cq, 1, wc);
		if (n < 0)
			return -1;
		if (n == 1)
			return 0;
		poll(NULL, 0, 1);
	} while (now_ms() < end);
	return -1;
}

/* Discard completions until none has arrived for @idle_ms (at most 5 s). */
static void drain_cq(struct loopback *lb, int idle_ms)
{
	long end = now_ms() + 5000;
	struct ibv_wc wc;

	while (now_ms() < end && !loopback_poll(lb, &wc, idle_ms))
		;
}

int loopback_reconnect(struct loopback *lb)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };
	int i;

	/* In the error state the QPs flush what they hold: let that finish. */
	for (i = 0; i < 2; i++)
		if (lb->qp[i])
			ibv_modify_qp(lb->qp[i], &a, IBV_QP_STATE);
	drain_cq(lb, 100);
	for (i = 0; i < 2; i++) {
		if (lb->qp[i] && ibv_destroy_qp(lb->qp[i])) {
			perror("ibv_destroy_qp");
			return -1;
		}
		lb->qp[i] = NULL;
	}
	drain_cq(lb, 10);
	return loopback_connect(lb);
}

int loopback_post_wait(struct loopback *lb, struct ibv_send_wr *wr,
		       struct ibv_wc *wc)
{
	struct ibv_send_wr *bad;

	if (ibv_post_send(lb->qp[0], wr, &bad)) {
		perror("ibv_post_send");
		return -1;
	}
	/* Long enough for a debug kernel under TCG working off duplicates. */
	if (loopback_poll(lb, wc, 60000)) {
		fprintf(stderr, "no completion within 60 s\n");
		return -1;
	}
	if (wc->wr_id != wr->wr_id) {
		fprintf(stderr, "completion for wr %llu while waiting for %llu\n",
			(unsigned long long)wc->wr_id,
			(unsigned long long)wr->wr_id);
		return -1;
	}
	return 0;
}

int loopback_rdma(struct loopback *lb, enum ibv_wr_opcode op, void *local,
		  uint32_t lkey, void *remote, uint32_t rkey, size_t len)
{
	static uint64_t id = 1000000;
	struct ibv_sge sge = {
		.addr = (uintptr_t)local,
		.length = len,
		.lkey = lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = ++id,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.wr.rdma = {
			.remote_addr = (uintptr_t)remote,
			.rkey = rkey,
		},
	};
	struct ibv_wc wc;

	if (loopback_post_wait(lb, &wr, &wc))
		return -1;
	return wc.status;
}

int loopback_atomic(struct loopback *lb, enum ibv_wr_opcode op, void *local,
		    uint32_t lkey, void *remote, uint32_t rkey,
		    uint64_t compare_add, uint64_t swap)
{
	struct ibv_sge sge = { (uintptr_t)local, 8, lkey };
	struct ibv_send_wr wr = {
		.wr_id = 3, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.wr.atomic = {
			.remote_addr = (uintptr_t)remote,
			.compare_add = compare_add,
			.swap = swap,
			.rkey = rkey,
		},
	};
	struct ibv_wc wc;

	if (loopback_post_wait(lb, &wr, &wc))
		return -1;
	return wc.status;
}

/* The device's ODP capabilities, or NULL when it reports no ODP at all. */
static const struct ibv_odp_caps *odp_caps(struct loopback *lb,
					   struct ibv_device_attr_ex *attr)
{
	if (ibv_query_device_ex(lb->ctx, NULL, attr))
		return NULL;
	if (!(attr->odp_caps.general_caps & IBV_ODP_SUPPORT))
		return NULL;
	return &attr->odp_caps;
}

bool loopback_has_odp_rc(struct loopback *lb, uint32_t rc_caps)
{
	struct ibv_device_attr_ex attr;
	const struct ibv_odp_caps *caps = odp_caps(lb, &attr);

	return caps && (caps->per_transport_caps.rc_odp_caps & rc_caps) == rc_caps;
}

bool loopback_has_odp_ud(struct loopback *lb, uint32_t ud_caps)
{
	struct ibv_device_attr_ex attr;
	const struct ibv_odp_caps *caps = odp_caps(lb, &attr);

	return caps && (caps->per_transport_caps.ud_odp_caps & ud_caps) == ud_caps;
}

long vm_pinned_kb(void)
{
	return proc_field("/proc/self/status", "VmPin");
}
