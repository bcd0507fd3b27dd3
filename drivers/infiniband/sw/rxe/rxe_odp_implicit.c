// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Implicit ODP MRs: ibv_reg_mr(pd, NULL, SIZE_MAX, ... | ON_DEMAND).
 *
 * The MR covers the whole address space of the process that registered
 * it: its lkey and rkey reach any address. Its umem is an implicit root,
 * which translates nothing itself. The address space is cut into blocks of
 * IB_UMEM_ODP_CHILD_SIZE, and the first access to a block makes a child
 * for it: a umem of its own over the block (ib_umem_odp_alloc_child()),
 * owned by a struct rxe_odp_mr of its own, through which every access to
 * the block then goes exactly as through an explicit MR. Its events count
 * in the implicit MR's counters.
 *
 * The root's xarray holds a reference on each child, and each access
 * takes one for its duration. Lookups run under RCU and take theirs with
 * kref_get_unless_zero(); a child's rxe_odp_mr is freed after a grace
 * period, and each child holds a reference on the root.
 *
 * So that the MR's memory follows what is mapped, not everything it ever
 * touched, a child goes when no mapping is left in its block. An unmap
 * that leaves it with no translation, or an access that found nothing to
 * fault there, has a worker look at the process's VMAs, and drop the
 * child from the xarray when none meets the block. An access that already
 * holds the child finishes with it; the next one makes a new child. The
 * MR's dereg drops every child.
 */

#include <linux/mm.h>
#include <linux/sched/mm.h>

#include "rxe.h"
#include "rxe_odp_mr.h"

static unsigned long rxe_odp_block(unsigned long va)
{
	return va >> IB_UMEM_ODP_CHILD_SHIFT;
}

/**
 * rxe_odp_implicit_init - make @mr an implicit ODP MR
 * @rxe: the device
 * @access: IB_ACCESS_* flags, with IB_ACCESS_ON_DEMAND
 * @mr: the MR being registered, over the whole address space
 *
 * Return: 0, or the errno of ib_umem_odp_alloc_implicit() (-EINVAL for
 * IB_ACCESS_HUGETLB), -ENOMEM.
 */
int rxe_odp_implicit_init(struct rxe_dev *rxe, int access, struct rxe_mr *mr)
{
	struct rxe_odp_mr *root = kzalloc(sizeof(*root), GFP_KERNEL);
	struct ib_umem_odp *odp;

	if (!root)
		return -ENOMEM;
	odp = ib_umem_odp_alloc_implicit(&rxe->ib_dev, access);
	if (IS_ERR(odp)) {
		kfree(root);
		return PTR_ERR(odp);
	}
	xa_init(&root->children);
	mutex_init(&root->children_lock);
	rxe_odp_mr_setup(root, odp);
	rxe_odp_mr_publish(mr, root);
	return 0;
}

/* The child for @va's block, referenced, if there is one that lives. */
static struct rxe_odp_mr *rxe_odp_child_find(struct rxe_odp_mr *root,
					     unsigned long va)
{
	struct rxe_odp_mr *child;

	rcu_read_lock();
	child = xa_load(&root->children, rxe_odp_block(va));
	if (child && !kref_get_unless_zero(&child->ref))
		child = NULL;
	rcu_read_unlock();
	return child;
}

static void rxe_odp_child_reap(struct work_struct *work);

/* A new child for @va's block, with one reference, not yet in the tree. */
static struct rxe_odp_mr *rxe_odp_child_new(struct rxe_odp_mr *root,
					    unsigned long va)
{
	struct rxe_odp_mr *child = kzalloc(sizeof(*child), GFP_KERNEL);
	struct ib_umem_odp *odp;

	if (!child)
		return ERR_PTR(-ENOMEM);
	odp = ib_umem_odp_alloc_child(root->odp,
				      ALIGN_DOWN(va, IB_UMEM_ODP_CHILD_SIZE),
				      IB_UMEM_ODP_CHILD_SIZE,
				      &rxe_odp_mni_ops);
	if (IS_ERR(odp)) {
		kfree(child);
		return ERR_CAST(odp);
	}
	kref_get(&root->ref);
	child->root = root;
	child->stats = root->stats;
	INIT_WORK(&child->reap, rxe_odp_child_reap);
	atomic_inc(&root->nr_children);
	rxe_odp_mr_setup(child, odp);
	return child;
}

/*
 * Put @child into the tree, which takes over its reference; the child
 * there before it, referenced, if another access made one first; or an
 * ERR_PTR.
 */
static struct rxe_odp_mr *rxe_odp_child_add(struct rxe_odp_mr *root,
					    struct rxe_odp_mr *child)
{
	unsigned long key = rxe_odp_block(ib_umem_start(child->odp));
	struct rxe_odp_mr *old = ERR_PTR(-EFAULT);

	mutex_lock(&root->children_lock);
	/* Once the MR is going, no child may be added behind its cleanup. */
	if (!root->gone) {
		old = xa_cmpxchg(&root->children, key, NULL, child,
				 GFP_KERNEL);
		if (xa_is_err(old))
			old = ERR_PTR(xa_err(old));
		else if (old && !kref_get_unless_zero(&old->ref))
			old = ERR_PTR(-EAGAIN);
	}
	mutex_unlock(&root->children_lock);
	return old;
}

/**
 * rxe_odp_child_get - the child of implicit MR @root for @va's block
 * @root: an implicit MR's rxe_odp_mr
 * @va: a user address
 *
 * Finds the child, or makes one. Sleeps.
 *
 * Return: the child, with a reference for the caller (rxe_odp_mr_put());
 * or ERR_PTR: -EFAULT above the process's address space or once the MR
 * is going, -ENOMEM, or the errno of ib_umem_odp_alloc_child().
 */
struct rxe_odp_mr *rxe_odp_child_get(struct rxe_odp_mr *root,
				     unsigned long va)
{
	struct rxe_odp_mr *child, *old;

	if (va >= root->odp->umem.owning_mm->task_size)
		return ERR_PTR(-EFAULT);
	for (;;) {
		child = rxe_odp_child_find(root, va);
		if (child)
			return child;
		child = rxe_odp_child_new(root, va);
		if (IS_ERR(child))
			return child;
		/* One reference for the tree, one for the caller. */
		kref_get(&child->ref);
		old = rxe_odp_child_add(root, child);
		if (!old)
			return child;
		rxe_odp_mr_put(child);
		rxe_odp_mr_put(child);
		/* Lost to another access, or to a child on its way out. */
		if (!IS_ERR(old) || PTR_ERR(old) != -EAGAIN)
			return old;
	}
}

/* Take @child out of the tree, if it is there, and drop the tree's ref. */
static void rxe_odp_child_unlink(struct rxe_odp_mr *root,
				 struct rxe_odp_mr *child)
{
	unsigned long key = rxe_odp_block(ib_umem_start(child->odp));

	if (xa_cmpxchg(&root->children, key, child, NULL, 0) == child) {
		WRITE_ONCE(child->gone, true);
		rxe_odp_mr_put(child);
	}
}

/* Whether any mapping of the process meets @child's block. */
static bool rxe_odp_child_mapped(struct rxe_odp_mr *child)
{
	struct ib_umem_odp *odp = child->odp;
	struct mm_struct *mm = odp->umem.owning_mm;
	bool mapped;

	if (!mmget_not_zero(mm))
		return false;
	mmap_read_lock(mm);
	mapped = find_vma_intersection(mm, ib_umem_start(odp),
				       ib_umem_end(odp));
	mmap_read_unlock(mm);
	/* Maybe the last user: its teardown invalidates, so not here. */
	mmput_async(mm);
	return mapped;
}

static void rxe_odp_child_reap(struct work_struct *work)
{
	struct rxe_odp_mr *child = container_of(work, struct rxe_odp_mr, reap);

	if (!READ_ONCE(child->gone) && !rxe_odp_child_mapped(child))
		rxe_odp_child_unlink(child->root, child);
	rxe_odp_mr_put(child);
}

/**
 * rxe_odp_child_reap_soon - have a worker drop @child if its block is empty
 * @child: a child of an implicit MR
 *
 * Does not sleep: the notifier calls it, holding umem_mutex.
 */
void rxe_odp_child_reap_soon(struct rxe_odp_mr *child)
{
	if (READ_ONCE(child->gone) || !kref_get_unless_zero(&child->ref))
		return;
	/* Queued already: that worker holds a reference, this is not the last. */
	if (!queue_work(rxe_odp_wq, &child->reap))
		refcount_dec(&child->ref.refcount);
}

/**
 * rxe_odp_implicit_cleanup - drop every child, when the implicit MR goes
 * @root: the MR's rxe_odp_mr, ->gone already set
 *
 * Accesses that still hold a child finish with it; it is freed after.
 */
void rxe_odp_implicit_cleanup(struct rxe_odp_mr *root)
{
	struct rxe_odp_mr *child;
	unsigned long key;

	/* After this, rxe_odp_child_add() adds nothing. */
	mutex_lock(&root->children_lock);
	mutex_unlock(&root->children_lock);
	xa_for_each(&root->children, key, child)
		rxe_odp_child_unlink(root, child);
	xa_destroy(&root->children);
}
