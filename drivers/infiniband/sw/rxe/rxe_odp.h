/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * On-demand paging for rxe memory regions (rxe_odp.c).
 */
#ifndef RXE_ODP_H
#define RXE_ODP_H

#include <rdma/ib_umem_odp.h>

/* An MR registered with IB_ACCESS_ON_DEMAND: its pages are not pinned. */
static inline bool rxe_mr_is_odp(struct rxe_mr *mr)
{
	return IS_ENABLED(CONFIG_INFINIBAND_ON_DEMAND_PAGING) && mr->umem &&
		mr->umem->is_odp;
}

/*
 * Whether rereg may give @mr the access flags @access: those its kind of
 * MR supports. An ODP MR stays one, with the page size it has, as only a
 * new translation (IB_MR_REREG_TRANS, which rxe does not support) could
 * change that.
 */
static inline bool rxe_mr_rereg_access_ok(struct rxe_mr *mr, int access)
{
	if (!rxe_mr_is_odp(mr))
		return !(access & ~RXE_ACCESS_SUPPORTED_MR);
	return !(access & ~RXE_ACCESS_SUPPORTED_ODP_MR) &&
	       (access & IB_ACCESS_ON_DEMAND) &&
	       !((access ^ mr->access) & IB_ACCESS_HUGETLB);
}

/*
 * Taken around every atomic rxe executes, on pinned and ODP MRs alike
 * (rxe_mr.c), so that atomics through two MRs over the same memory are
 * atomic with each other.
 */
extern spinlock_t rxe_atomic_ops_lock;

#ifdef CONFIG_INFINIBAND_ON_DEMAND_PAGING

int rxe_odp_init(void);
void rxe_odp_exit(void);
void rxe_odp_dev_dealloc(void);
void rxe_odp_init_caps(struct ib_device_attr *attr);
int rxe_odp_mr_init_user(struct rxe_dev *rxe, u64 start, u64 length,
			 int access, struct rxe_mr *mr);
int rxe_odp_mr_copy(struct rxe_qp *qp, struct rxe_mr *mr, u64 iova,
		    void *addr, unsigned int length, enum rxe_mr_copy_dir dir,
		    u64 extent);
int rxe_odp_atomic_op(struct rxe_mr *mr, u64 iova, int opcode, u64 compare,
		      u64 swap_add, u64 *orig_val);
int rxe_odp_atomic_write(struct rxe_mr *mr, u64 iova, u64 value);
int rxe_odp_flush_pmem(struct rxe_mr *mr, u64 iova, unsigned int length);
int rxe_odp_advise_mr(struct ib_pd *ibpd,
		      enum ib_uverbs_advise_mr_advice advice, u32 flags,
		      struct ib_sge *sg_list, u32 num_sge,
		      struct uverbs_attr_bundle *attrs);
void rxe_odp_mr_cleanup(struct rxe_mr *mr);
int rxe_odp_fill_stat_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr);

#else

static inline int rxe_odp_init(void)
{
	return 0;
}

static inline void rxe_odp_exit(void)
{
}

static inline void rxe_odp_dev_dealloc(void)
{
}

static inline void rxe_odp_init_caps(struct ib_device_attr *attr)
{
}

static inline int rxe_odp_mr_init_user(struct rxe_dev *rxe, u64 start,
				       u64 length, int access,
				       struct rxe_mr *mr)
{
	return -EOPNOTSUPP;
}

/* Never reached: without ODP support no MR is ODP. */
static inline int rxe_odp_mr_copy(struct rxe_qp *qp, struct rxe_mr *mr,
				  u64 iova, void *addr, unsigned int length,
				  enum rxe_mr_copy_dir dir, u64 extent)
{
	return -EOPNOTSUPP;
}

static inline int rxe_odp_atomic_op(struct rxe_mr *mr, u64 iova, int opcode,
				    u64 compare, u64 swap_add, u64 *orig_val)
{
	return RESPST_ERR_UNSUPPORTED_OPCODE;
}

static inline int rxe_odp_atomic_write(struct rxe_mr *mr, u64 iova, u64 value)
{
	return RESPST_ERR_UNSUPPORTED_OPCODE;
}

static inline int rxe_odp_flush_pmem(struct rxe_mr *mr, u64 iova,
				     unsigned int length)
{
	return -EOPNOTSUPP;
}

static inline int rxe_odp_advise_mr(struct ib_pd *ibpd,
				    enum ib_uverbs_advise_mr_advice advice,
				    u32 flags, struct ib_sge *sg_list,
				    u32 num_sge,
				    struct uverbs_attr_bundle *attrs)
{
	return -EOPNOTSUPP;
}

static inline void rxe_odp_mr_cleanup(struct rxe_mr *mr)
{
}

static inline int rxe_odp_fill_stat_mr_entry(struct sk_buff *msg,
					     struct ib_mr *ibmr)
{
	return 0;
}

#endif /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */

/*
 * rxe_mr_copy() for a request of @qp that goes on for @extent bytes from
 * @iova: a missing page of an ODP MR brings in the rest of the request
 * with it.
 *
 * A zero-byte RDMA READ or WRITE carries no rkey (IBTA C9-88), so @mr is
 * NULL then: like rxe_mr_copy(), look at nothing before the length, and
 * leave a NULL MR with data to rxe_mr_copy(), which refuses it.
 */
static inline int rxe_mr_copy_ahead(struct rxe_qp *qp, struct rxe_mr *mr,
				    u64 iova, void *addr, unsigned int length,
				    enum rxe_mr_copy_dir dir, u64 extent)
{
	if (length && mr && rxe_mr_is_odp(mr))
		return rxe_odp_mr_copy(qp, mr, iova, addr, length, dir,
				       extent);
	return rxe_mr_copy(mr, iova, addr, length, dir);
}

#endif /* RXE_ODP_H */
