/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * What rxe's ODP files (rxe_odp*.c) share about an ODP MR; the rest of
 * rxe sees only rxe_odp.h.
 */
#ifndef RXE_ODP_MR_H
#define RXE_ODP_MR_H

#include <linux/kref.h>
#include <linux/workqueue.h>
#include <rdma/ib_umem_odp.h>

/*
 * Background fault-ahead and prefetch run here, at high priority: the QP
 * that queued a fault-ahead keeps copying for up to RXE_MAX_ITERATIONS
 * packets before it yields, and an ordinary worker often got a CPU only
 * after the QP had caught up and faulted the pages itself
 * (Documentation/rxe_odp.rst has the figures).
 */
extern struct workqueue_struct *rxe_odp_wq;

/*
 * What `rdma statistic show mr` reports of an ODP MR. Only faults,
 * prefetches and invalidations count, never a copy from pages already
 * present.
 */
struct rxe_odp_stats {
	atomic64_t faults;		/* calls that faulted pages in */
	atomic64_t pages_faulted;	/* the pages those calls covered */
	atomic64_t invalidations;	/* notifier callbacks on the MR */
	atomic64_t pages_invalidated;	/* translations they dropped */
	atomic64_t pages_prefetched;	/* translations advise_mr() added */
};

/*
 * Per ODP MR (the umem's private), and the owner of its umem: the MR holds
 * a reference, and so does each worker queued or running on it, so that
 * the umem outlives every fault that uses it. An implicit MR has one of
 * these for its root umem, and one per child (rxe_odp_implicit.c).
 */
struct rxe_odp_mr {
	struct kref ref;
	struct ib_umem_odp *odp;
	/* Set when the MR goes: workers still holding it stop early. */
	bool gone;
	/* Where events count: own_stats, or the implicit MR's. */
	struct rxe_odp_stats *stats;

	/* Implicit MR: its children, by address >> IB_UMEM_ODP_CHILD_SHIFT. */
	struct xarray children;
	struct mutex children_lock;	/* orders new children with ->gone */
	atomic_t nr_children;		/* children not yet freed */
	/* Child: its implicit MR (referenced), and its release. */
	struct rxe_odp_mr *root;
	struct work_struct reap;
	struct rcu_head rcu;

	struct work_struct ahead;	/* the background fault-ahead */
	spinlock_t lock;	/* guards the fields below */
	unsigned long next;	/* still to fault ahead: [next, end) */
	unsigned long end;
	u64 access;
	/*
	 * The QP whose request the fault-ahead serves, by pool index, and
	 * its address, only ever compared: the worker holds no reference.
	 */
	u32 qp_index;
	struct rxe_qp *qp;
	struct rxe_odp_fault *fault;	/* the fault QP tasks wait for */
	struct rxe_odp_stats own_stats;
};

static inline struct rxe_odp_mr *rxe_odp_mr_of(struct rxe_mr *mr)
{
	return to_ib_umem_odp(mr->umem)->private;
}

extern const struct mmu_interval_notifier_ops rxe_odp_mni_ops;

void rxe_odp_mr_put(struct rxe_odp_mr *omr);
void rxe_odp_mr_setup(struct rxe_odp_mr *omr, struct ib_umem_odp *odp);
void rxe_odp_mr_publish(struct rxe_mr *mr, struct rxe_odp_mr *omr);
struct rxe_odp_mr *rxe_odp_hold(struct rxe_odp_mr *omr, unsigned long va);
void rxe_odp_unhold(struct rxe_odp_mr *omr);

/* Implicit MRs (rxe_odp_implicit.c). */
int rxe_odp_implicit_init(struct rxe_dev *rxe, int access, struct rxe_mr *mr);
struct rxe_odp_mr *rxe_odp_child_get(struct rxe_odp_mr *root,
				     unsigned long va);
void rxe_odp_child_reap_soon(struct rxe_odp_mr *child);
void rxe_odp_implicit_cleanup(struct rxe_odp_mr *root);

#endif /* RXE_ODP_MR_H */
