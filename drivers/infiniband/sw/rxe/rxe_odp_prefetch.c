// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Prefetch into ODP MRs: advise_mr (ibv_advise_mr()).
 *
 * An advice names ranges of ODP MRs by lkey, as a work request's SGEs do.
 * PREFETCH and PREFETCH_WRITE fault the pages in (for writing too, with
 * the latter), as the first access would; PREFETCH_NO_FAULT maps only what
 * the page tables already hold, with the access their entries allow. With
 * IB_UVERBS_ADVISE_MR_FLAG_FLUSH the call returns once that is done;
 * without it, the call checks the ranges and returns, and a worker does
 * the work, best effort: it holds each MR's umem (struct rxe_odp_mr), not
 * the MR, so a dereg meanwhile does not wait for it and it stops at its
 * next window. Either way nothing is pinned: the pages stay as movable as
 * any the device faulted in.
 */

#include <linux/overflow.h>
#include <linux/sizes.h>

#include "rxe.h"
#include "rxe_odp_mr.h"

/* Pages mapped per umem_mutex hold: a huge prefetch lets faults in. */
#define RXE_PREFETCH_WINDOW	SZ_2M

struct rxe_prefetch_range {
	struct rxe_odp_mr *omr;
	unsigned long start;
	unsigned long len;
};

/* An advice: its first @n ranges hold a reference on their umem. */
struct rxe_prefetch {
	struct work_struct work;
	u64 access;
	bool fault;
	u32 n;
	struct rxe_prefetch_range range[];
};

/* How many entries of @odp are present now. */
static int rxe_prefetch_present(struct ib_umem_odp *odp)
{
	int n;

	mutex_lock(&odp->umem_mutex);
	n = odp->npages;
	mutex_unlock(&odp->umem_mutex);
	return n;
}

/*
 * Map [start, end) of @target, and count the entries that appeared
 * meanwhile as prefetched: pages already present, or left out by
 * PREFETCH_NO_FAULT, are not.
 */
static int rxe_prefetch_window(struct rxe_odp_mr *target, unsigned long start,
			       unsigned long end, u64 access, bool fault)
{
	struct ib_umem_odp *odp = target->odp;
	int before = rxe_prefetch_present(odp);
	int ret = ib_umem_odp_map_dma_and_lock(odp, start, end - start, access,
					       fault);

	if (ret < 0)
		return ret;
	if (odp->npages > before)
		atomic64_add(odp->npages - before,
			     &target->stats->pages_prefetched);
	mutex_unlock(&odp->umem_mutex);
	return 0;
}

/*
 * Map [start, start + len) of @omr window by window (a window never
 * crosses an implicit MR's blocks), until the MR goes.
 */
static int rxe_prefetch_range(struct rxe_odp_mr *omr, unsigned long start,
			      unsigned long len, u64 access, bool fault)
{
	unsigned long end = start + len, next;
	struct rxe_odp_mr *target;
	int ret;

	for (; start < end && !READ_ONCE(omr->gone); start = next) {
		next = min(end, ALIGN_DOWN(start, RXE_PREFETCH_WINDOW) +
			   RXE_PREFETCH_WINDOW);
		target = rxe_odp_hold(omr, start);
		if (IS_ERR(target))
			return PTR_ERR(target);
		ret = rxe_prefetch_window(target, start, next, access, fault);
		rxe_odp_unhold(target);
		if (ret)
			return ret;
	}
	return 0;
}

static void rxe_prefetch_work(struct work_struct *work)
{
	struct rxe_prefetch *p = container_of(work, struct rxe_prefetch, work);
	u32 i;

	for (i = 0; i < p->n; i++) {
		struct rxe_prefetch_range *r = &p->range[i];

		/* Best effort: an access reports what fails, when it comes. */
		rxe_prefetch_range(r->omr, r->start, r->len, p->access,
				   p->fault);
		rxe_odp_mr_put(r->omr);
	}
	kfree(p);
}

/*
 * The ODP MR of @pd that @sge's lkey names, and the user range behind the
 * SGE in @r, with a reference on its umem; or an errno as
 * ibv_advise_mr(3) documents them.
 */
static int rxe_prefetch_lookup(struct rxe_pd *pd, const struct ib_sge *sge,
			       bool write, struct rxe_prefetch_range *r)
{
	struct rxe_dev *rxe = to_rdev(pd->ibpd.device);
	struct rxe_mr *mr = rxe_pool_get_index(&rxe->mr_pool, sge->lkey >> 8);
	int err = 0;

	if (!mr)
		return -EFAULT;
	if (mr->lkey != sge->lkey || mr->state != RXE_MR_STATE_VALID)
		err = -EFAULT;
	else if (mr_pd(mr) != pd)
		err = -EPERM;
	else if (!rxe_mr_is_odp(mr))
		err = -EINVAL;
	else if (write && !(mr->access & IB_ACCESS_LOCAL_WRITE))
		err = -EPERM;
	else if (mr_check_range(mr, sge->addr, sge->length))
		err = -EFAULT;
	if (!err) {
		r->omr = rxe_odp_mr_of(mr);
		r->start = mr->umem->address + (sge->addr - mr->ibmr.iova);
		r->len = sge->length;
		kref_get(&r->omr->ref);
	}
	rxe_put(mr);
	return err;
}

/**
 * rxe_odp_advise_mr - advise_mr for rxe: prefetch ranges of ODP MRs
 * @ibpd: the PD every SGE's MR must belong to
 * @advice: IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH, _PREFETCH_WRITE or
 *	_PREFETCH_NO_FAULT
 * @flags: IB_UVERBS_ADVISE_MR_FLAG_FLUSH to prefetch before returning
 * @sg_list: the ranges, by lkey, address and length
 * @num_sge: number of ranges
 * @attrs: uverbs' bundle, unused
 *
 * Return: 0, or -EOPNOTSUPP for an advice rxe does not know, -EFAULT for
 * an lkey that names no valid MR or a range outside its MR, -EPERM for an
 * MR of another PD or a PREFETCH_WRITE into an MR without local write,
 * -EINVAL for an MR that is not ODP, -ENOMEM; with the flush flag also
 * the errno of a range that cannot be faulted (ib_umem_odp_map_dma_and_lock()).
 */
int rxe_odp_advise_mr(struct ib_pd *ibpd,
		      enum ib_uverbs_advise_mr_advice advice, u32 flags,
		      struct ib_sge *sg_list, u32 num_sge,
		      struct uverbs_attr_bundle *attrs)
{
	u64 access = ODP_READ_ALLOWED_BIT;
	struct rxe_prefetch *p;
	bool fault = true;
	int err = 0;
	u32 i;

	switch (advice) {
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH:
		break;
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE:
		access |= ODP_WRITE_ALLOWED_BIT;
		break;
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT:
		fault = false;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (flags & ~IB_UVERBS_ADVISE_MR_FLAG_FLUSH)
		return -EINVAL;

	p = kzalloc(struct_size(p, range, num_sge), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->access = access;
	p->fault = fault;
	for (; p->n < num_sge; p->n++) {
		err = rxe_prefetch_lookup(to_rpd(ibpd), &sg_list[p->n],
					  access & ODP_WRITE_ALLOWED_BIT,
					  &p->range[p->n]);
		if (err)
			break;
	}
	if (!err && !(flags & IB_UVERBS_ADVISE_MR_FLAG_FLUSH)) {
		INIT_WORK(&p->work, rxe_prefetch_work);
		queue_work(rxe_odp_wq, &p->work);
		return 0;
	}
	for (i = 0; i < p->n; i++) {
		struct rxe_prefetch_range *r = &p->range[i];

		if (!err && r->len)
			err = rxe_prefetch_range(r->omr, r->start, r->len,
						 access, fault);
		rxe_odp_mr_put(r->omr);
	}
	kfree(p);
	return err;
}
