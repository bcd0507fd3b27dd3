/* SPDX-License-Identifier: GPL-2.0-only */
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

#ifdef CONFIG_INFINIBAND_ON_DEMAND_PAGING

int rxe_odp_init(void);
void rxe_odp_exit(void);
void rxe_odp_init_caps(struct ib_device_attr *attr);
int rxe_odp_mr_init_user(struct rxe_dev *rxe, u64 start, u64 length,
			 int access, struct rxe_mr *mr);
int rxe_odp_mr_copy(struct rxe_mr *mr, u64 iova, void *addr,
		    unsigned int length, enum rxe_mr_copy_dir dir, u64 extent);
int rxe_odp_atomic_op(struct rxe_mr *mr, u64 iova, int opcode, u64 compare,
		      u64 swap_add, u64 *orig_val);
int rxe_odp_atomic_write(struct rxe_mr *mr, u64 iova, u64 value);
int rxe_odp_flush(struct rxe_mr *mr, u64 iova, unsigned int length);
void rxe_odp_mr_cleanup(struct rxe_mr *mr);

#else

static inline int rxe_odp_init(void)
{
	return 0;
}

static inline void rxe_odp_exit(void)
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
static inline int rxe_odp_mr_copy(struct rxe_mr *mr, u64 iova, void *addr,
				  unsigned int length,
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

static inline int rxe_odp_flush(struct rxe_mr *mr, u64 iova,
				unsigned int length)
{
	return -EOPNOTSUPP;
}

static inline void rxe_odp_mr_cleanup(struct rxe_mr *mr)
{
}

#endif /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */

/*
 * rxe_mr_copy() for a request that goes on for @extent bytes from @iova:
 * a missing page of an ODP MR brings in the rest of the request with it.
 */
static inline int rxe_mr_copy_ahead(struct rxe_mr *mr, u64 iova, void *addr,
				    unsigned int length,
				    enum rxe_mr_copy_dir dir, u64 extent)
{
	if (rxe_mr_is_odp(mr))
		return rxe_odp_mr_copy(mr, iova, addr, length, dir, extent);
	return rxe_mr_copy(mr, iova, addr, length, dir);
}

#endif /* RXE_ODP_H */
