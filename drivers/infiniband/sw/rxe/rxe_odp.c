// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * On-demand paging (ODP) for rxe memory regions.
 *
 * An ODP MR pins nothing: it is an ODP umem (drivers/infiniband/core/
 * umem_odp.c) whose entries hold, per page, the page's kernel address
 * (rxe uses virtual DMA) and the access granted to it. Every access rxe
 * makes to the MR's memory - packet copies and atomics - runs with
 * umem_mutex held, on entries that are present with the access it needs.
 * A missing entry is faulted in with ib_umem_odp_map_dma_and_lock(), which
 * sleeps; rxe only touches MR memory from its tasks, which run on a
 * workqueue, never from the network receive softirq.
 *
 * The interval notifier's callback takes the same mutex to drop entries,
 * so when invalidate_range_start returns no copy is still using the old
 * pages, and the next access faults the new ones in.
 *
 * A fault can sleep without bound: a page of a FUSE file whose daemon
 * stopped answering, of a hung NFS mount. A QP task that slept in it would
 * hold its MR, so the MR's dereg, and the QP's modify and destroy, would
 * wait with it. So faults run on workers, which own the umem through a
 * reference of their own (struct rxe_odp_mr), and a QP task waits for one
 * only RXE_ODP_FAULT_WAIT: then it lets its packet go as if lost on the
 * wire (-EAGAIN), the requester sends it again, and by then the worker may
 * have finished. The MR can go meanwhile; its umem goes with the last
 * worker.
 */

#include <linux/hmm.h>
#include <linux/libnvdimm.h>
#include <linux/sizes.h>
#include <rdma/restrack.h>
#include <uapi/rdma/rdma_netlink.h>

#include "rxe.h"
#include "rxe_odp_mr.h"

/* How far past a missing page one fault may reach into the request. */
#define RXE_ODP_FAULT_AHEAD	SZ_2M
/*
 * With background fault-ahead, a miss faults this much itself and leaves
 * the rest of the request to a worker, which faults it in steps of this
 * size while the QP copies what is already there.
 */
#define RXE_ODP_FAULT_STEP	SZ_64K

/* How long a QP task waits for a fault before it drops its packet. */
#define RXE_ODP_FAULT_WAIT	msecs_to_jiffies(500)

static bool odp_fault_behind = true;
module_param(odp_fault_behind, bool, 0644);
MODULE_PARM_DESC(odp_fault_behind,
		 "fault the rest of a request in the background (default: on)");

/*
 * A fault a QP task handed to a worker. One per MR runs at a time, so that
 * a page that never comes cannot collect a worker per retransmission.
 */
struct rxe_odp_fault {
	struct work_struct work;
	struct rxe_odp_mr *omr;
	unsigned long start;
	unsigned long len;
	u64 access;
	int ret;
	struct completion done;
	refcount_t users;	/* the worker and each waiting task */
};

/* Background fault-ahead and prefetch run here (see rxe_odp_mr.h). */
struct workqueue_struct *rxe_odp_wq;

/* --- module --- */

/**
 * rxe_odp_init - set up what ODP MRs share, at module load
 *
 * Return: 0 or -ENOMEM.
 */
int rxe_odp_init(void)
{
	rxe_odp_wq = alloc_workqueue("rxe_odp", WQ_UNBOUND | WQ_HIGHPRI, 0);
	return rxe_odp_wq ? 0 : -ENOMEM;
}

/**
 * rxe_odp_exit - undo rxe_odp_init(), once every MR is gone
 */
void rxe_odp_exit(void)
{
	destroy_workqueue(rxe_odp_wq);
}

/**
 * rxe_odp_dev_dealloc - wait, before a device goes, for the ODP workers
 *
 * A worker that outlived its MR still releases a umem of the device.
 */
void rxe_odp_dev_dealloc(void)
{
	flush_workqueue(rxe_odp_wq);
}

/* --- capabilities --- */

/* What ODP MRs support, as ibv_query_device_ex() reports it. */
void rxe_odp_init_caps(struct ib_device_attr *attr)
{
	struct ib_odp_caps *caps = &attr->odp_caps;

	attr->kernel_cap_flags |= IBK_ON_DEMAND_PAGING;
	caps->general_caps = IB_ODP_SUPPORT | IB_ODP_SUPPORT_IMPLICIT;
	caps->per_transport_caps.rc_odp_caps =
		IB_ODP_SUPPORT_SEND | IB_ODP_SUPPORT_RECV |
		IB_ODP_SUPPORT_WRITE | IB_ODP_SUPPORT_READ |
		IB_ODP_SUPPORT_ATOMIC | IB_ODP_SUPPORT_SRQ_RECV |
		IB_ODP_SUPPORT_FLUSH;
	/* rxe implements ATOMIC WRITE on 64-bit kernels only. */
	if (IS_ENABLED(CONFIG_64BIT))
		caps->per_transport_caps.rc_odp_caps |=
			IB_ODP_SUPPORT_ATOMIC_WRITE;
	caps->per_transport_caps.ud_odp_caps =
		IB_ODP_SUPPORT_SEND | IB_ODP_SUPPORT_RECV |
		IB_ODP_SUPPORT_SRQ_RECV;
}

/* --- invalidation --- */

static bool rxe_odp_lock_for(struct ib_umem_odp *odp,
			     const struct mmu_notifier_range *range)
{
	if (!mmu_notifier_range_blockable(range))
		return mutex_trylock(&odp->umem_mutex);
	mutex_lock(&odp->umem_mutex);
	return true;
}

/*
 * Every access to the pages holds umem_mutex, which the caller holds: once
 * the entries are gone, rxe cannot reach the old pages, and a fault that
 * read the page tables before this sees the new sequence and starts over.
 */
static void rxe_odp_drop_locked(struct ib_umem_odp *odp, unsigned long seq,
				unsigned long start, unsigned long end)
{
	mmu_interval_set_seq(&odp->notifier, seq);
	ib_umem_odp_unmap_dma_pages(odp, start, end);
}

static bool rxe_odp_invalidate(struct mmu_interval_notifier *mni,
			       const struct mmu_notifier_range *range,
			       unsigned long cur_seq)
{
	struct ib_umem_odp *odp = container_of(mni, struct ib_umem_odp,
					       notifier);
	bool locked = rxe_odp_lock_for(odp, range);
	struct rxe_odp_mr *omr;
	int present;

	if (!locked)
		return false;
	present = odp->npages;
	rxe_odp_drop_locked(odp, cur_seq, range->start, range->end);
	/* NULL until the registration that subscribed us has finished. */
	omr = odp->private;
	if (omr) {
		atomic64_inc(&omr->stats->invalidations);
		atomic64_add(present - odp->npages,
			     &omr->stats->pages_invalidated);
		/* A child whose block may have no mapping left. */
		if (omr->root && range->event == MMU_NOTIFY_UNMAP &&
		    !odp->npages)
			rxe_odp_child_reap_soon(omr);
	}
	mutex_unlock(&odp->umem_mutex);
	return true;
}

const struct mmu_interval_notifier_ops rxe_odp_mni_ops = {
	.invalidate = rxe_odp_invalidate,
};

/* --- workers --- */

static void rxe_odp_mr_free(struct kref *ref)
{
	struct rxe_odp_mr *omr = container_of(ref, struct rxe_odp_mr, ref);

	ib_umem_odp_release(omr->odp);
	if (omr->root) {
		atomic_dec(&omr->root->nr_children);
		rxe_odp_mr_put(omr->root);
	}
	/* Children are found under RCU (rxe_odp_child_get()). */
	kfree_rcu(omr, rcu);
}

void rxe_odp_mr_put(struct rxe_odp_mr *omr)
{
	kref_put(&omr->ref, rxe_odp_mr_free);
}

/* Fault [start, start + len) in; umem_mutex is not held on return. */
static int rxe_odp_fault_range(struct ib_umem_odp *odp, unsigned long start,
			       unsigned long len, u64 access)
{
	struct rxe_odp_mr *omr = odp->private;
	int ret = ib_umem_odp_map_dma_and_lock(odp, start, len, access, true);

	if (ret < 0)
		return ret;
	mutex_unlock(&odp->umem_mutex);
	atomic64_inc(&omr->stats->faults);
	atomic64_add(ret, &omr->stats->pages_faulted);
	return 0;
}

/*
 * Whether the QP at pool index @index is still @qp, and can still send or
 * take packets: once it failed, was reset or is gone, nothing will use the
 * pages its fault-ahead would bring in.
 */
static bool rxe_odp_qp_live(struct rxe_odp_mr *omr, u32 index,
			    struct rxe_qp *qp)
{
	struct rxe_dev *rxe = to_rdev(omr->odp->umem.ibdev);
	struct rxe_qp *found = rxe_pool_get_index(&rxe->qp_pool, index);
	enum ib_qp_state state;

	if (!found)
		return false;
	state = qp_state(found);
	rxe_put(found);
	return found == qp && state != IB_QPS_RESET && state != IB_QPS_ERR;
}

static void rxe_odp_ahead_stop(struct rxe_odp_mr *omr)
{
	spin_lock(&omr->lock);
	omr->next = omr->end;
	spin_unlock(&omr->lock);
}

static void rxe_odp_ahead_work(struct work_struct *work)
{
	struct rxe_odp_mr *omr = container_of(work, struct rxe_odp_mr, ahead);
	unsigned long start, len;
	struct rxe_qp *qp;
	u32 index;
	u64 access;

	for (;;) {
		spin_lock(&omr->lock);
		start = omr->next;
		len = min(omr->end - omr->next, (unsigned long)RXE_ODP_FAULT_STEP);
		omr->next += len;
		access = omr->access;
		index = omr->qp_index;
		qp = omr->qp;
		spin_unlock(&omr->lock);
		if (!len)
			break;
		/*
		 * Best effort: the QP reports a failing page when it gets
		 * there, and a QP that will not get there wants nothing.
		 */
		if ((qp && !rxe_odp_qp_live(omr, index, qp)) ||
		    rxe_odp_fault_range(omr->odp, start, len, access)) {
			rxe_odp_ahead_stop(omr);
			break;
		}
	}
	rxe_odp_mr_put(omr);
}

/*
 * Have [start, end) faulted in the background for @qp, continuing a
 * pending run.
 */
static void rxe_odp_ahead(struct rxe_odp_mr *omr, struct rxe_qp *qp,
			  unsigned long start, unsigned long end, u64 access)
{
	spin_lock(&omr->lock);
	if (omr->next < omr->end && start >= omr->next && start <= omr->end &&
	    access == omr->access) {
		omr->end = max(omr->end, end);
	} else {
		omr->next = start;
		omr->end = end;
		omr->access = access;
	}
	omr->qp = qp;
	omr->qp_index = qp ? qp->elem.index : 0;
	spin_unlock(&omr->lock);
	/* The caller's MR holds a reference: this is never the last one. */
	kref_get(&omr->ref);
	if (!queue_work(rxe_odp_wq, &omr->ahead))
		kref_put(&omr->ref, rxe_odp_mr_free);
}

static void rxe_odp_fault_put(struct rxe_odp_fault *f)
{
	if (!refcount_dec_and_test(&f->users))
		return;
	rxe_odp_mr_put(f->omr);
	kfree(f);
}

static void rxe_odp_fault_work(struct work_struct *work)
{
	struct rxe_odp_fault *f = container_of(work, struct rxe_odp_fault, work);
	struct rxe_odp_mr *omr = f->omr;

	f->ret = rxe_odp_fault_range(omr->odp, f->start, f->len, f->access);
	spin_lock(&omr->lock);
	omr->fault = NULL;
	spin_unlock(&omr->lock);
	complete_all(&f->done);
	rxe_odp_fault_put(f);
}

/*
 * Have [start, start + len) faulted in with @access by a worker and wait
 * for it, at most RXE_ODP_FAULT_WAIT. A fault already running on the MR is
 * waited for instead, and the caller looks again.
 *
 * Return: 0 when a fault finished (its pages may be gone again: look),
 * -EAGAIN when it is still running, or this fault's errno.
 */
static int rxe_odp_fault(struct rxe_odp_mr *omr, unsigned long start,
			 unsigned long len, u64 access)
{
	struct rxe_odp_fault *f, *spare;
	bool ours;
	int ret;

	spare = kzalloc(sizeof(*spare), GFP_KERNEL);
	if (!spare)
		return -ENOMEM;
	spin_lock(&omr->lock);
	f = omr->fault;
	ours = !f;
	if (!ours) {
		refcount_inc(&f->users);
	} else {
		f = spare;
		spare = NULL;
		INIT_WORK(&f->work, rxe_odp_fault_work);
		f->omr = omr;
		f->start = start;
		f->len = len;
		f->access = access;
		init_completion(&f->done);
		refcount_set(&f->users, 2);
		kref_get(&omr->ref);
		omr->fault = f;
		queue_work(rxe_odp_wq, &f->work);
	}
	spin_unlock(&omr->lock);

	if (!wait_for_completion_timeout(&f->done, RXE_ODP_FAULT_WAIT))
		ret = -EAGAIN;
	else
		ret = ours ? f->ret : 0;
	rxe_odp_fault_put(f);
	kfree(spare);
	return ret;
}

/**
 * rxe_odp_mr_cleanup - let go of an ODP MR's umem, when the MR goes
 * @mr: an ODP MR whose last reference is gone
 *
 * Workers still faulting keep the umem until they finish; the background
 * fault-ahead and prefetches stop at their next step.
 */
void rxe_odp_mr_cleanup(struct rxe_mr *mr)
{
	struct rxe_odp_mr *omr = rxe_odp_mr_of(mr);

	WRITE_ONCE(omr->gone, true);
	rxe_odp_ahead_stop(omr);
	if (omr->odp->is_implicit_odp)
		rxe_odp_implicit_cleanup(omr);
	mr->umem = NULL;
	rxe_odp_mr_put(omr);
}

/* --- registration --- */

/**
 * rxe_odp_mr_init_user - make @mr an ODP MR over [@start, @start + @length)
 * @rxe: the device
 * @start: user address of the region
 * @length: length of the region
 * @access: IB_ACCESS_* flags, with IB_ACCESS_ON_DEMAND (and optionally
 *	IB_ACCESS_HUGETLB for one translation per huge page)
 * @mr: the MR being registered
 *
 * Touches no page and pins nothing. @start 0 and @length U64_MAX make an
 * implicit MR, over the whole address space (rxe_odp_implicit.c).
 *
 * Return: 0, or the errno of ib_umem_odp_get().
 */
int rxe_odp_mr_init_user(struct rxe_dev *rxe, u64 start, u64 length,
			 int access, struct rxe_mr *mr)
{
	struct rxe_odp_mr *omr;
	struct ib_umem_odp *odp;

	rxe_mr_init(access, mr);
	if (!start && length == U64_MAX)
		return rxe_odp_implicit_init(rxe, access, mr);
	omr = kzalloc(sizeof(*omr), GFP_KERNEL);
	if (!omr)
		return -ENOMEM;
	odp = ib_umem_odp_get(&rxe->ib_dev, start, length, access,
			      &rxe_odp_mni_ops);
	if (IS_ERR(odp)) {
		rxe_dbg_mr(mr, "ODP umem over %#llx+%#llx: %ld\n", start,
			   length, PTR_ERR(odp));
		kfree(omr);
		return PTR_ERR(odp);
	}
	rxe_odp_mr_setup(omr, odp);
	rxe_odp_mr_publish(mr, omr);
	return 0;
}

/**
 * rxe_odp_mr_setup - make @omr the owner of @odp
 * @omr: a new rxe_odp_mr, zeroed but for ->stats (else its own_stats), to
 *	have one reference, its caller's
 * @odp: an ODP umem whose notifier may already be called
 */
void rxe_odp_mr_setup(struct rxe_odp_mr *omr, struct ib_umem_odp *odp)
{
	kref_init(&omr->ref);
	omr->odp = odp;
	if (!omr->stats)
		omr->stats = &omr->own_stats;
	INIT_WORK(&omr->ahead, rxe_odp_ahead_work);
	spin_lock_init(&omr->lock);
	/* Under the mutex, as the notifier reads it there. */
	mutex_lock(&odp->umem_mutex);
	odp->private = omr;
	mutex_unlock(&odp->umem_mutex);
}

/**
 * rxe_odp_mr_publish - make @mr an ODP MR over @omr's umem
 * @mr: the MR being registered
 * @omr: the owner of the umem; the MR takes over its reference
 */
void rxe_odp_mr_publish(struct rxe_mr *mr, struct rxe_odp_mr *omr)
{
	struct ib_umem_odp *odp = omr->odp;

	mr->umem = &odp->umem;
	mr->page_shift = odp->page_shift;
	mr->page_mask = ~(BIT_ULL(odp->page_shift) - 1);
	mr->ibmr.page_size = BIT(odp->page_shift);
	mr->ibmr.type = IB_MR_TYPE_USER;
	mr->state = RXE_MR_STATE_VALID;
}

/* --- statistics --- */

static bool rxe_mr_implicit(struct rxe_mr *mr)
{
	return to_ib_umem_odp(mr->umem)->is_implicit_odp;
}

static int rxe_odp_put_stat(struct sk_buff *msg, const char *name,
			    atomic64_t *value)
{
	return rdma_nl_stat_hwcounter_entry(msg, name, atomic64_read(value));
}

/* An implicit MR's children that are not freed yet: its memory's bound. */
static int rxe_odp_put_children(struct sk_buff *msg, struct rxe_mr *mr)
{
	return rdma_nl_stat_hwcounter_entry(msg, "implicit_children",
		atomic_read(&rxe_odp_mr_of(mr)->nr_children));
}

/**
 * rxe_odp_fill_stat_mr_entry - an MR's ODP counters, for `rdma statistic`
 * @msg: the netlink message being filled
 * @ibmr: an MR of the device; only ODP MRs have counters
 *
 * page_faults, page_invalidations and page_prefetch count pages, as
 * mlx5's counters of those names do; faults and invalidations count the
 * events.
 *
 * Return: 0 or -EMSGSIZE.
 */
int rxe_odp_fill_stat_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr)
{
	struct rxe_mr *mr = to_rmr(ibmr);
	struct rxe_odp_stats *st;
	struct nlattr *table;

	if (!rxe_mr_is_odp(mr))
		return 0;
	st = rxe_odp_mr_of(mr)->stats;
	table = nla_nest_start(msg, RDMA_NLDEV_ATTR_STAT_HWCOUNTERS);
	if (!table)
		return -EMSGSIZE;
	if (rxe_odp_put_stat(msg, "page_faults", &st->pages_faulted) ||
	    rxe_odp_put_stat(msg, "page_invalidations",
			     &st->pages_invalidated) ||
	    rxe_odp_put_stat(msg, "faults", &st->faults) ||
	    rxe_odp_put_stat(msg, "invalidations", &st->invalidations) ||
	    rxe_odp_put_stat(msg, "page_prefetch", &st->pages_prefetched) ||
	    (rxe_mr_implicit(mr) && rxe_odp_put_children(msg, mr))) {
		nla_nest_cancel(msg, table);
		return -EMSGSIZE;
	}
	nla_nest_end(msg, table);
	return 0;
}

/* --- access --- */

/*
 * The user address behind @iova, which mr_check_range() accepted. An
 * implicit MR's umem starts at address 0.
 */
static unsigned long rxe_odp_va(struct rxe_mr *mr, u64 iova)
{
	return mr->umem->address + (iova - mr->ibmr.iova);
}

/*
 * The ODP MR that holds @va: @mr's own, or for an implicit MR the child
 * for @va's block (see rxe_odp_hold()).
 */
static struct rxe_odp_mr *rxe_odp_get(struct rxe_mr *mr, unsigned long va)
{
	return rxe_odp_hold(rxe_odp_mr_of(mr), va);
}

/**
 * rxe_odp_hold - the ODP MR that translates @va, for an access through @omr
 * @omr: an MR's rxe_odp_mr
 * @va: a user address inside the MR
 *
 * Return: @omr itself, which the caller's own reference (its MR's, or a
 * worker's) keeps, so that an explicit MR's data path takes no reference
 * per access; or for an implicit MR the child for @va's block, with a
 * reference for the caller (see rxe_odp_child_get() for its errors).
 * rxe_odp_unhold() ends either.
 */
struct rxe_odp_mr *rxe_odp_hold(struct rxe_odp_mr *omr, unsigned long va)
{
	if (omr->odp->is_implicit_odp)
		return rxe_odp_child_get(omr, va);
	return omr;
}

/**
 * rxe_odp_unhold - end what rxe_odp_hold() returned
 * @omr: its result
 */
void rxe_odp_unhold(struct rxe_odp_mr *omr)
{
	if (omr->root)
		rxe_odp_mr_put(omr);
}

/*
 * Let go of what rxe_odp_get() gave, after an access that ended with
 * @err: a child where nothing could be faulted may be over an unmapped
 * block, which should not keep it.
 */
static void rxe_odp_done(struct rxe_odp_mr *omr, int err)
{
	if (err == -EFAULT && omr->root)
		rxe_odp_child_reap_soon(omr);
	rxe_odp_unhold(omr);
}

/*
 * How many bytes of [va, va + length) one rxe_odp_get() covers: all of
 * them, or up to the end of an implicit MR's block.
 */
static unsigned int rxe_odp_span(struct rxe_mr *mr, unsigned long va,
				 unsigned int length)
{
	if (!rxe_mr_implicit(mr))
		return length;
	return min_t(unsigned long, length, IB_UMEM_ODP_CHILD_SIZE -
		     (va & (IB_UMEM_ODP_CHILD_SIZE - 1)));
}

/* The kernel address of @va, whose entry is present. */
static void *rxe_odp_kva(struct ib_umem_odp *odp, unsigned long va)
{
	dma_addr_t entry = ib_umem_odp_entry(odp, ib_umem_odp_index(odp, va));

	return ib_virt_dma_to_ptr(entry & ODP_DMA_ADDR_MASK) +
		(va & (BIT(odp->page_shift) - 1));
}

/* Whether every page of [va, va + length) is present with @access. */
static bool rxe_odp_present(struct ib_umem_odp *odp, unsigned long va,
			    unsigned int length, u64 access)
{
	size_t idx = ib_umem_odp_index(odp, va);
	size_t last = ib_umem_odp_index(odp, va + length - 1);

	for (; idx <= last; idx++) {
		if ((ib_umem_odp_entry(odp, idx) & access) != access)
			return false;
	}
	return true;
}

/* A miss faults the request's rest, up to the window and the umem's end. */
static u64 rxe_odp_fault_len(struct ib_umem_odp *odp, unsigned long va,
			     unsigned int length, u64 extent)
{
	u64 len = max_t(u64, length, min_t(u64, extent, RXE_ODP_FAULT_AHEAD));

	return min_t(u64, len, ib_umem_end(odp) - va);
}

/*
 * A miss: have the packet's pages faulted in, and the rest of @qp's
 * request behind it (or with it, without background fault-ahead).
 */
static int rxe_odp_fault_in(struct rxe_qp *qp, struct ib_umem_odp *odp,
			    unsigned long va, unsigned int length, u64 access,
			    u64 extent)
{
	u64 ahead = rxe_odp_fault_len(odp, va, length, extent);
	u64 now = max_t(u64, length, RXE_ODP_FAULT_STEP);
	int ret;

	if (READ_ONCE(odp_fault_behind) && ahead > now) {
		rxe_odp_ahead(odp->private, qp, va + now, va + ahead, access);
		ahead = now;
	}
	ret = rxe_odp_fault(odp->private, va, ahead, access);
	/* The rest of the request may be unmapped: this part may not be. */
	if (ret < 0 && ret != -EAGAIN && ahead > length)
		ret = rxe_odp_fault(odp->private, va, length, access);
	return ret;
}

/*
 * Make [va, va + length) present with write access if @write, and return
 * with umem_mutex held; or return an errno without it, -EAGAIN when the
 * fault has not finished in time.
 */
static int rxe_odp_lock_range(struct rxe_qp *qp, struct rxe_odp_mr *omr,
			      unsigned long va, unsigned int length, bool write,
			      u64 extent)
{
	struct ib_umem_odp *odp = omr->odp;
	u64 access = ODP_READ_ALLOWED_BIT;
	int ret;

	if (write)
		access |= ODP_WRITE_ALLOWED_BIT;
	for (;;) {
		mutex_lock(&odp->umem_mutex);
		if (likely(rxe_odp_present(odp, va, length, access)))
			return 0;
		mutex_unlock(&odp->umem_mutex);
		ret = rxe_odp_fault_in(qp, odp, va, length, access, extent);
		if (ret) {
			rxe_dbg_dev(to_rdev(odp->umem.ibdev),
				    "fault at %#lx+%#x: %d\n", va, length, ret);
			return ret;
		}
	}
}

/* The bytes from @va to the end of its umem page, @length at most. */
static unsigned int rxe_odp_in_page(struct ib_umem_odp *odp, unsigned long va,
				    unsigned int length)
{
	unsigned long psize = BIT(odp->page_shift);

	return min_t(unsigned long, length, psize - (va & (psize - 1)));
}

static void rxe_odp_copy_locked(struct ib_umem_odp *odp, unsigned long va,
				void *addr, unsigned int length,
				enum rxe_mr_copy_dir dir)
{
	while (length) {
		unsigned int n = rxe_odp_in_page(odp, va, length);
		void *kva = rxe_odp_kva(odp, va);

		if (dir == RXE_TO_MR_OBJ)
			memcpy(kva, addr, n);
		else
			memcpy(addr, kva, n);
		va += n;
		addr += n;
		length -= n;
	}
}

/**
 * rxe_odp_mr_copy - copy to or from an ODP MR, faulting pages in
 * @qp: the QP whose request this is, for whom the rest of the request is
 *	faulted in the background while it can use it; NULL for none
 * @mr: an ODP MR
 * @iova: first byte in the MR's address space
 * @addr: kernel buffer
 * @length: bytes to copy
 * @dir: RXE_TO_MR_OBJ writes the MR, RXE_FROM_MR_OBJ reads it
 * @extent: bytes from @iova the current request will touch (at least
 *	@length): a miss faults up to RXE_ODP_FAULT_AHEAD of them at once
 *
 * Sleeps on a miss, for RXE_ODP_FAULT_WAIT at most. Return: 0, -EINVAL
 * outside the MR, -EAGAIN when the fault has not finished by then (the
 * caller lets its packet go and tries again later), or the fault's errno
 * (-EFAULT for unmapped or PROT_NONE memory, -EPERM for a write to
 * read-only memory).
 */
int rxe_odp_mr_copy(struct rxe_qp *qp, struct rxe_mr *mr, u64 iova,
		    void *addr, unsigned int length, enum rxe_mr_copy_dir dir,
		    u64 extent)
{
	unsigned long va;
	int err;

	if (!length)
		return 0;
	err = mr_check_range(mr, iova, length);
	if (err)
		return err;
	va = rxe_odp_va(mr, iova);
	while (length) {
		unsigned int n = rxe_odp_span(mr, va, length);
		struct rxe_odp_mr *omr = rxe_odp_get(mr, va);

		if (IS_ERR(omr))
			return PTR_ERR(omr);
		err = rxe_odp_lock_range(qp, omr, va, n, dir == RXE_TO_MR_OBJ,
					 extent);
		if (!err) {
			rxe_odp_copy_locked(omr->odp, va, addr, n, dir);
			mutex_unlock(&omr->odp->umem_mutex);
		}
		rxe_odp_done(omr, err);
		if (err)
			return err;
		va += n;
		addr += n;
		length -= n;
		extent -= n;
	}
	return 0;
}

/* The responder's state for a fault that failed, or has not finished. */
static int rxe_odp_respst(int err)
{
	return err == -EAGAIN ? RESPST_ERR_ODP_PENDING : RESPST_ERR_RKEY_VIOLATION;
}

/* Checks shared by the 8-byte operations; the RESPST_ code on failure. */
static int rxe_odp_check_u64(struct rxe_mr *mr, u64 iova)
{
	if (unlikely(mr->state != RXE_MR_STATE_VALID))
		return RESPST_ERR_RKEY_VIOLATION;
	if (mr_check_range(mr, iova, sizeof(u64)))
		return RESPST_ERR_RKEY_VIOLATION;
	if (rxe_odp_va(mr, iova) & (sizeof(u64) - 1))
		return RESPST_ERR_MISALIGNED_ATOMIC;
	return RESPST_NONE;
}

/*
 * Make the 8 bytes at @iova present for writing, and return with the
 * umem_mutex of the ODP MR that holds them (@omrp, as rxe_odp_hold()
 * gives it) held and their kernel address in @target; or return the
 * RESPST_ code.
 */
static int rxe_odp_lock_u64(struct rxe_mr *mr, u64 iova,
			    struct rxe_odp_mr **omrp, u64 **target)
{
	unsigned long va = rxe_odp_va(mr, iova);
	struct rxe_odp_mr *omr;
	int err;

	err = rxe_odp_check_u64(mr, iova);
	if (err)
		return err;
	omr = rxe_odp_get(mr, va);
	if (IS_ERR(omr))
		return RESPST_ERR_RKEY_VIOLATION;
	err = rxe_odp_lock_range(NULL, omr, va, sizeof(u64), true,
				 sizeof(u64));
	if (err) {
		rxe_odp_done(omr, err);
		return rxe_odp_respst(err);
	}
	*omrp = omr;
	*target = rxe_odp_kva(omr->odp, va);
	return RESPST_NONE;
}

static void rxe_odp_unlock_u64(struct rxe_odp_mr *omr)
{
	mutex_unlock(&omr->odp->umem_mutex);
	rxe_odp_unhold(omr);
}

/**
 * rxe_odp_atomic_op - compare-and-swap or fetch-and-add on an ODP MR
 * @mr: an ODP MR
 * @iova: the 8-byte aligned target
 * @opcode: IB_OPCODE_RC_COMPARE_SWAP or IB_OPCODE_RC_FETCH_ADD
 * @compare: value compared with
 * @swap_add: value swapped in or added
 * @orig_val: the target's value before the operation
 *
 * The operation holds rxe_atomic_ops_lock, like rxe's atomics on pinned
 * MRs, and is a CPU atomic on the page, so it is atomic against the
 * process's own atomics too.
 *
 * Return: RESPST_NONE, the RESPST_ERR_ code for the NAK, or
 * RESPST_ERR_ODP_PENDING when the page's fault has not finished in time.
 */
int rxe_odp_atomic_op(struct rxe_mr *mr, u64 iova, int opcode, u64 compare,
		      u64 swap_add, u64 *orig_val)
{
	struct rxe_odp_mr *omr;
	u64 *target, old;
	int err;

	err = rxe_odp_lock_u64(mr, iova, &omr, &target);
	if (err)
		return err;
	spin_lock_bh(&rxe_atomic_ops_lock);
	if (opcode == IB_OPCODE_RC_COMPARE_SWAP) {
		old = cmpxchg64(target, compare, swap_add);
	} else {
		old = READ_ONCE(*target);
		while (!try_cmpxchg64(target, &old, old + swap_add))
			;
	}
	spin_unlock_bh(&rxe_atomic_ops_lock);
	rxe_odp_unlock_u64(omr);
	*orig_val = old;
	return RESPST_NONE;
}

#ifdef CONFIG_64BIT
/**
 * rxe_odp_atomic_write - ATOMIC WRITE of 8 bytes to an ODP MR
 * @mr: an ODP MR
 * @iova: the 8-byte aligned target
 * @value: the value stored, after every earlier write of the QP
 *
 * Return: as rxe_odp_atomic_op().
 */
int rxe_odp_atomic_write(struct rxe_mr *mr, u64 iova, u64 value)
{
	struct rxe_odp_mr *omr;
	u64 *target;
	int err;

	err = rxe_odp_lock_u64(mr, iova, &omr, &target);
	if (err)
		return err;
	/* Ordered after the QP's earlier writes to the MR (IBA A19.4.2). */
	smp_store_release(target, value);
	rxe_odp_unlock_u64(omr);
	return RESPST_NONE;
}
#endif /* CONFIG_64BIT */

/*
 * Whether @length bytes at kernel address @kva, in one page of the umem,
 * can be made persistent: memory the firmware or the command line declared
 * persistent, as the pinned path demands at registration. The shared zero
 * page qualifies too: only a read of a file hole maps it, so it holds
 * nothing rxe wrote.
 */
static bool rxe_odp_persistent(void *kva, unsigned int length)
{
	phys_addr_t pa = virt_to_phys(kva);

	if (is_zero_pfn(PHYS_PFN(pa)))
		return true;
	return region_intersects(pa, length, IORESOURCE_MEM,
				 IORES_DESC_PERSISTENT_MEMORY) ==
		REGION_INTERSECTS ||
	       region_intersects(pa, length, IORESOURCE_MEM,
				 IORES_DESC_PERSISTENT_MEMORY_LEGACY) ==
		REGION_INTERSECTS;
}

/* Write back the CPU caches over [va, va + length), which is present. */
static int rxe_odp_wb_locked(struct ib_umem_odp *odp, unsigned long va,
			     unsigned int length)
{
	while (length) {
		unsigned int n = rxe_odp_in_page(odp, va, length);
		void *kva = rxe_odp_kva(odp, va);

		if (!rxe_odp_persistent(kva, n))
			return -EFAULT;
		arch_wb_cache_pmem(kva, n);
		va += n;
		length -= n;
	}
	return 0;
}

/**
 * rxe_odp_flush_pmem - FLUSH of type persistent on an ODP MR
 * @mr: an ODP MR
 * @iova: first byte to make persistent
 * @length: bytes from @iova, which mr_check_range() accepted
 *
 * The pages rxe wrote may have been unmapped from the MR since, and their
 * dirty cache lines are still in the CPU's caches: so the range is
 * faulted in again, for reading, and each page's lines written back
 * through the kernel's mapping of it, where they are found whichever
 * mapping dirtied them. Where the process has put other memory since,
 * the FLUSH is about that memory, as a CPU's would be. Faults go a window
 * at a time, so an MR-wide FLUSH holds umem_mutex for one window at most.
 *
 * Return: 0; -EFAULT when a page is not persistent memory or cannot be
 * faulted in; -EAGAIN when a fault has not finished in time (the packet
 * is dropped and retried).
 */
int rxe_odp_flush_pmem(struct rxe_mr *mr, u64 iova, unsigned int length)
{
	unsigned long va = rxe_odp_va(mr, iova);
	struct rxe_odp_mr *omr;
	int err = 0;

	/* A window never crosses an implicit MR's blocks. */
	while (length && !err) {
		unsigned int n = min_t(unsigned long, length,
				       RXE_ODP_FAULT_AHEAD -
				       (va & (RXE_ODP_FAULT_AHEAD - 1)));

		omr = rxe_odp_get(mr, va);
		if (IS_ERR(omr))
			return PTR_ERR(omr);
		err = rxe_odp_lock_range(NULL, omr, va, n, false, n);
		if (!err) {
			err = rxe_odp_wb_locked(omr->odp, va, n);
			mutex_unlock(&omr->odp->umem_mutex);
		}
		rxe_odp_done(omr, err);
		va += n;
		length -= n;
	}
	return err;
}
