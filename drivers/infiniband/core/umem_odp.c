// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * On-demand paging (ODP) user memory.
 *
 * An ODP umem subscribes one interval notifier to the range it covers and
 * pins nothing. A driver asks for translations with
 * ib_umem_odp_map_dma_and_lock(), which faults pages in through
 * hmm_range_fault() and publishes them in its entries under umem_mutex; the
 * driver's invalidate callback takes umem_mutex, bumps the notifier's
 * sequence and drops the translations with ib_umem_odp_unmap_dma_pages().
 * That shared mutex is what makes the sequence check in the fault path
 * conclusive: a translation is published only if no invalidation of the
 * range began after the fault read the page tables.
 *
 * An implicit umem has no range. It anchors children, each an explicit
 * umem over one naturally aligned block of the address space, created on
 * the first access to the block and released with the root.
 */

#include <linux/hmm.h>
#include <linux/hugetlb.h>
#include <linux/magic.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/pid.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include <rdma/ib_umem_odp.h>

/* --- allocation and lifetime --- */

/* A user reference on @mm, or NULL when its last user is gone. */
static struct mm_struct *odp_mm_live(struct mm_struct *mm)
{
	return mm && mmget_not_zero(mm) ? mm : NULL;
}

static struct ib_umem_odp *odp_alloc(struct ib_device *dev,
				     struct mm_struct *mm, struct pid *tgid,
				     bool writable)
{
	struct ib_umem_odp *odp = kzalloc(sizeof(*odp), GFP_KERNEL);

	if (!odp)
		return NULL;
	odp->umem.ibdev = dev;
	odp->umem.is_odp = 1;
	odp->umem.writable = writable;
	/* Released in odp_free(): the mm outlives the process if need be. */
	odp->umem.owning_mm = mm;
	mmgrab(mm);
	odp->tgid = get_pid(tgid);
	odp->page_shift = PAGE_SHIFT;
	mutex_init(&odp->umem_mutex);
	xa_init(&odp->children);
	return odp;
}

static size_t odp_num_leaves(struct ib_umem_odp *odp)
{
	return DIV_ROUND_UP(ib_umem_odp_num_pages(odp), IB_UMEM_ODP_LEAF_ENTRIES);
}

static void odp_free(struct ib_umem_odp *odp)
{
	size_t i;

	if (odp->leaves) {
		for (i = 0; i < odp_num_leaves(odp); i++)
			kvfree(odp->leaves[i]);
		kvfree(odp->leaves);
	}
	mutex_destroy(&odp->umem_mutex);
	put_pid(odp->tgid);
	mmdrop(odp->umem.owning_mm);
	kfree(odp);
}

/*
 * A device with virtual DMA gets the page's kernel address as its DMA
 * address, and the page is found again from it; others keep the page too.
 */
static bool odp_needs_pages(struct ib_umem_odp *odp)
{
	return !ib_uses_virt_dma(odp->umem.ibdev);
}

static dma_addr_t *odp_entry(struct ib_umem_odp *odp, size_t idx)
{
	return &odp->leaves[idx >> IB_UMEM_ODP_LEAF_SHIFT]
			   [idx & (IB_UMEM_ODP_LEAF_ENTRIES - 1)];
}

/* Where a leaf that keeps pages keeps the page of entry @idx. */
static struct page **odp_entry_pagep(struct ib_umem_odp *odp, size_t idx)
{
	struct page **pages = (struct page **)
		(odp->leaves[idx >> IB_UMEM_ODP_LEAF_SHIFT] +
		 IB_UMEM_ODP_LEAF_ENTRIES);

	return &pages[idx & (IB_UMEM_ODP_LEAF_ENTRIES - 1)];
}

static struct page *odp_entry_page(struct ib_umem_odp *odp, size_t idx)
{
	if (odp_needs_pages(odp))
		return *odp_entry_pagep(odp, idx);
	return ib_virt_dma_to_page(*odp_entry(odp, idx) & ODP_DMA_ADDR_MASK);
}

/*
 * Allocate with umem_mutex not held (reclaim may invalidate, which takes
 * it) and publish under it, unless a racing fault published first. Both
 * the table and its leaves are charged to the memory cgroup of the
 * process whose memory they translate: the fault that allocates them
 * runs in whatever task the driver faults from, often a kernel worker.
 */
static void *odp_alloc_charged(struct ib_umem_odp *odp, size_t n, size_t size)
{
	struct mem_cgroup *memcg = get_mem_cgroup_from_mm(odp->umem.owning_mm);
	struct mem_cgroup *old = set_active_memcg(memcg);
	void *p = kvcalloc(n, size, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);

	set_active_memcg(old);
	mem_cgroup_put(memcg);
	return p;
}

/* Publish *@new at *@slot if that is still empty; free what was not used. */
static void odp_publish(struct ib_umem_odp *odp, void **slot, void *new)
{
	mutex_lock(&odp->umem_mutex);
	if (!*slot) {
		WRITE_ONCE(*slot, new);
		new = NULL;
	}
	mutex_unlock(&odp->umem_mutex);
	kvfree(new);
}

/*
 * Make sure the leaves of entries @first .. @last exist. Registration
 * allocates nothing, so that it stays O(1) in the size of the range and a
 * range nothing touches costs no memory; readers hold umem_mutex and find
 * a missing table or leaf empty (ib_umem_odp_entry()), as unmapping does.
 */
static int odp_alloc_leaves(struct ib_umem_odp *odp, size_t first, size_t last)
{
	size_t leaf_size = sizeof(dma_addr_t) +
			   (odp_needs_pages(odp) ? sizeof(struct page *) : 0);
	size_t i;
	void *p;

	if (!READ_ONCE(odp->leaves)) {
		p = odp_alloc_charged(odp, odp_num_leaves(odp), sizeof(void *));
		if (!p)
			return -ENOMEM;
		odp_publish(odp, (void **)&odp->leaves, p);
	}
	for (i = first >> IB_UMEM_ODP_LEAF_SHIFT;
	     i <= last >> IB_UMEM_ODP_LEAF_SHIFT; i++) {
		if (READ_ONCE(odp->leaves[i]))
			continue;
		p = odp_alloc_charged(odp, IB_UMEM_ODP_LEAF_ENTRIES, leaf_size);
		if (!p)
			return -ENOMEM;
		odp_publish(odp, (void **)&odp->leaves[i], p);
	}
	return 0;
}

/* A umem counts its mapped entries in an int. */
static bool odp_entries_possible(size_t n)
{
	return n <= INT_MAX;
}

/* --- geometry --- */

/*
 * The page-aligned span [*start, *end) that covers [addr, addr + size) with
 * pages of 1 << @shift bytes, refusing ranges that wrap or that reach
 * @limit and beyond.
 */
static int odp_span(unsigned long limit, unsigned long addr, size_t size,
		    unsigned int shift, unsigned long *start, unsigned long *end)
{
	unsigned long psize = 1UL << shift;
	unsigned long last;

	if (!size)
		return -EINVAL;
	if (check_add_overflow(addr, size - 1, &last))
		return -EOVERFLOW;
	if (last >= limit)
		return -EFAULT;
	*start = ALIGN_DOWN(addr, psize);
	*end = ALIGN_DOWN(last, psize) + psize;
	return 0;
}

#ifdef CONFIG_HUGETLB_PAGE
/*
 * IB_ACCESS_HUGETLB asks for one entry per huge page: every mapping over
 * the range must then be hugetlb, with one huge page size.
 */
static int odp_hugetlb_shift(struct mm_struct *mm, unsigned long addr,
			     size_t size, unsigned int *shift)
{
	VMA_ITERATOR(vmi, mm, addr);
	struct vm_area_struct *vma;
	unsigned int found = 0;
	int ret = 0;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	for_each_vma_range(vmi, vma, addr + size) {
		if (!is_vm_hugetlb_page(vma) ||
		    (found && huge_page_shift(hstate_vma(vma)) != found)) {
			ret = -EINVAL;
			break;
		}
		found = huge_page_shift(hstate_vma(vma));
	}
	mmap_read_unlock(mm);
	if (!ret && !found)
		ret = -EINVAL;
	*shift = found;
	return ret;
}
#else
static int odp_hugetlb_shift(struct mm_struct *mm, unsigned long addr,
			     size_t size, unsigned int *shift)
{
	return -EOPNOTSUPP;
}
#endif

/*
 * Size the entries for [addr, addr + size) and subscribe to the span, which
 * ends below @limit. The caller holds a user reference on the mm.
 */
static int odp_init_range(struct ib_umem_odp *odp, unsigned long limit,
			  unsigned long addr, size_t size,
			  const struct mmu_interval_notifier_ops *ops)
{
	struct mm_struct *mm = odp->umem.owning_mm;
	unsigned long start, end;
	int ret;

	ret = odp_span(limit, addr, size, odp->page_shift, &start, &end);
	if (ret)
		return ret;
	odp->umem.address = addr;
	odp->umem.length = size;
	odp->umem.iova = addr;
	if (!odp_entries_possible((end - start) >> odp->page_shift))
		return -ENOMEM;
	return mmu_interval_notifier_insert(&odp->notifier, mm, start,
					    end - start, ops);
}

/* Validate the range, then pick the page size of the entries. */
static int odp_pick_shift(struct ib_umem_odp *odp, unsigned long addr,
			  size_t size, int access)
{
	unsigned long start, end;
	int ret;

	ret = odp_span(odp->umem.owning_mm->task_size, addr, size, PAGE_SHIFT,
		       &start, &end);
	if (ret || !(access & IB_ACCESS_HUGETLB))
		return ret;
	return odp_hugetlb_shift(odp->umem.owning_mm, addr, size,
				 &odp->page_shift);
}

/**
 * ib_umem_odp_get - create an ODP umem over a range of the current process
 * @device: the device that will access the memory
 * @addr: first byte of the range
 * @size: length of the range in bytes
 * @access: IB_ACCESS_* flags; IB_ACCESS_ON_DEMAND is required, and
 *	IB_ACCESS_HUGETLB asks for one entry per huge page
 * @ops: the driver's interval notifier ops; @ops->invalidate must drop the
 *	translations it covers before it returns
 *
 * Nothing is pinned or faulted. The umem covers @addr .. @addr + @size
 * rounded out to its page size.
 *
 * Return: the umem, or ERR_PTR: -EINVAL for missing IB_ACCESS_ON_DEMAND,
 * a zero @size, or IB_ACCESS_HUGETLB over memory that is not hugetlb;
 * -EOVERFLOW when the range wraps; -EFAULT when it leaves the address
 * space; -ESRCH without a live mm; -ENOMEM.
 */
struct ib_umem_odp *ib_umem_odp_get(struct ib_device *device,
				    unsigned long addr, size_t size, int access,
				    const struct mmu_interval_notifier_ops *ops)
{
	struct ib_umem_odp *odp;
	struct mm_struct *mm;
	int ret;

	might_sleep();
	if (!(access & IB_ACCESS_ON_DEMAND))
		return ERR_PTR(-EINVAL);
	mm = odp_mm_live(current->mm);
	if (!mm)
		return ERR_PTR(-ESRCH);
	odp = odp_alloc(device, mm, task_tgid(current),
			ib_access_writable(access));
	if (!odp) {
		mmput(mm);
		return ERR_PTR(-ENOMEM);
	}
	ret = odp_pick_shift(odp, addr, size, access);
	if (!ret)
		ret = odp_init_range(odp, mm->task_size, addr, size, ops);
	mmput(mm);
	if (ret) {
		odp_free(odp);
		return ERR_PTR(ret);
	}
	return odp;
}
EXPORT_SYMBOL(ib_umem_odp_get);

/**
 * ib_umem_odp_alloc_implicit - create an implicit ODP root
 * @device: the device that will access the memory
 * @access: IB_ACCESS_* flags; IB_ACCESS_HUGETLB is not supported
 *
 * The root covers the whole address space of the current process and has
 * no entries of its own: translations live in children, made either by
 * the driver (ib_umem_odp_alloc_child()) or on demand and tracked by the
 * root (ib_umem_odp_get_child()).
 *
 * Return: the root, or ERR_PTR(-EINVAL), ERR_PTR(-ESRCH) or
 * ERR_PTR(-ENOMEM).
 */
struct ib_umem_odp *ib_umem_odp_alloc_implicit(struct ib_device *device,
					       int access)
{
	struct ib_umem_odp *root;
	struct mm_struct *mm;

	if (access & IB_ACCESS_HUGETLB)
		return ERR_PTR(-EINVAL);
	mm = odp_mm_live(current->mm);
	if (!mm)
		return ERR_PTR(-ESRCH);
	root = odp_alloc(device, mm, task_tgid(current),
			 ib_access_writable(access));
	mmput(mm);
	if (!root)
		return ERR_PTR(-ENOMEM);
	root->is_implicit_odp = true;
	return root;
}
EXPORT_SYMBOL(ib_umem_odp_alloc_implicit);

/*
 * An explicit umem over [addr, addr + size) in @root's mm. A child may
 * reach past the top of the user address space: drivers cut the whole
 * space into equal blocks, and the top one ends above the last user page.
 * Faults there fail like faults in any unmapped hole.
 */
static struct ib_umem_odp *
odp_new_child(struct ib_umem_odp *root, unsigned long addr, size_t size,
	      const struct mmu_interval_notifier_ops *ops)
{
	struct mm_struct *mm = odp_mm_live(root->umem.owning_mm);
	struct ib_umem_odp *child;
	int ret;

	/* The notifier can only be inserted while the mm has users. */
	if (!mm)
		return ERR_PTR(-ESRCH);
	child = odp_alloc(root->umem.ibdev, mm, root->tgid,
			  root->umem.writable);
	ret = child ? odp_init_range(child, ULONG_MAX, addr, size, ops) :
		      -ENOMEM;
	mmput(mm);
	if (ret) {
		if (child)
			odp_free(child);
		return ERR_PTR(ret);
	}
	return child;
}

/**
 * ib_umem_odp_alloc_child - create an explicit umem under an implicit root
 * @root_umem: the root, from ib_umem_odp_alloc_implicit()
 * @addr: first byte of the child's range
 * @size: length of the child's range
 * @ops: the driver's interval notifier ops for the child
 *
 * The child belongs to the caller, who releases it with
 * ib_umem_odp_release() before releasing the root.
 *
 * Return: the child, or ERR_PTR: -EINVAL when @root_umem is not implicit,
 * the range errors of ib_umem_odp_get(), -ESRCH once the process's mm has
 * no users, -ENOMEM.
 */
struct ib_umem_odp *
ib_umem_odp_alloc_child(struct ib_umem_odp *root_umem, unsigned long addr,
			size_t size,
			const struct mmu_interval_notifier_ops *ops)
{
	if (!root_umem->is_implicit_odp)
		return ERR_PTR(-EINVAL);
	return odp_new_child(root_umem, addr, size, ops);
}
EXPORT_SYMBOL(ib_umem_odp_alloc_child);

/**
 * ib_umem_odp_find_child - the tracked child of @root that covers @addr
 * @root: an implicit root
 * @addr: a user address
 *
 * Safe without locks against ib_umem_odp_get_child() on other threads; the
 * child lives until the root is released.
 *
 * Return: the child, or NULL if there is none yet.
 */
struct ib_umem_odp *ib_umem_odp_find_child(struct ib_umem_odp *root,
					   unsigned long addr)
{
	if (!root->is_implicit_odp)
		return NULL;
	return xa_load(&root->children, addr >> IB_UMEM_ODP_CHILD_SHIFT);
}
EXPORT_SYMBOL(ib_umem_odp_find_child);

/**
 * ib_umem_odp_get_child - find or create the child of @root covering @addr
 * @root: an implicit root
 * @addr: a user address
 * @ops: interval notifier ops for a child created now
 *
 * Children cover aligned blocks of IB_UMEM_ODP_CHILD_SIZE bytes (the last
 * one ends at the top of the address space) and are released with @root.
 * Two threads asking for the same block get the same child.
 *
 * Return: the child, or ERR_PTR: -EINVAL when @root is not implicit,
 * -EFAULT for an address outside the address space, -ESRCH once the mm
 * has no users, -ENOMEM.
 */
struct ib_umem_odp *
ib_umem_odp_get_child(struct ib_umem_odp *root, unsigned long addr,
		      const struct mmu_interval_notifier_ops *ops)
{
	unsigned long key = addr >> IB_UMEM_ODP_CHILD_SHIFT;
	unsigned long task_size = root->umem.owning_mm->task_size;
	unsigned long base = key << IB_UMEM_ODP_CHILD_SHIFT;
	struct ib_umem_odp *child, *other;

	if (!root->is_implicit_odp)
		return ERR_PTR(-EINVAL);
	/* The top block may end at task_size: check before looking it up. */
	if (addr >= task_size)
		return ERR_PTR(-EFAULT);
	child = ib_umem_odp_find_child(root, addr);
	if (child)
		return child;
	child = odp_new_child(root, base,
			      min(IB_UMEM_ODP_CHILD_SIZE, task_size - base), ops);
	if (IS_ERR(child))
		return child;
	other = xa_cmpxchg(&root->children, key, NULL, child, GFP_KERNEL);
	if (!other)
		return child;
	/* Lost a race for the block, or could not store the child. */
	ib_umem_odp_release(child);
	return xa_is_err(other) ? ERR_PTR(xa_err(other)) : other;
}
EXPORT_SYMBOL(ib_umem_odp_get_child);

/* --- translations --- */

/* Drop entry @idx, which is mapped. Called with umem_mutex held. */
static void odp_unmap_entry(struct ib_umem_odp *odp, size_t idx)
{
	dma_addr_t entry = *odp_entry(odp, idx);
	struct page *page = odp_entry_page(odp, idx);

	ib_dma_unmap_page(odp->umem.ibdev, entry & ODP_DMA_ADDR_MASK,
			  1UL << odp->page_shift, DMA_BIDIRECTIONAL);
	/*
	 * The device may have written the page. The folio cannot go away
	 * here: the invalidation that would free it waits for umem_mutex in
	 * the driver's callback, before the page tables are touched.
	 */
	if (entry & ODP_WRITE_ALLOWED_BIT)
		folio_mark_dirty(page_folio(page));
	*odp_entry(odp, idx) = 0;
	if (odp_needs_pages(odp))
		*odp_entry_pagep(odp, idx) = NULL;
	odp->npages--;
}

/**
 * ib_umem_odp_unmap_dma_pages - drop the translations of a range
 * @umem_odp: the umem
 * @start_offset: first user address of the range
 * @bound: one past the last user address of the range
 *
 * Every entry whose page overlaps the range (clamped to the umem) is
 * unmapped; pages the device could write are marked dirty. The caller
 * holds umem_mutex, which is what keeps this safe against a concurrent
 * fault or invalidation.
 */
void ib_umem_odp_unmap_dma_pages(struct ib_umem_odp *umem_odp, u64 start_offset,
				 u64 bound)
{
	u64 first = max_t(u64, start_offset, ib_umem_start(umem_odp));
	u64 end = min_t(u64, bound, ib_umem_end(umem_odp));
	size_t idx, last;

	lockdep_assert_held(&umem_odp->umem_mutex);
	if (first >= end || !umem_odp->npages)
		return;
	last = ib_umem_odp_index(umem_odp, end - 1);
	for (idx = ib_umem_odp_index(umem_odp, first); idx <= last; idx++) {
		/* Skip a leaf that was never allocated, at once. */
		if (!umem_odp->leaves[idx >> IB_UMEM_ODP_LEAF_SHIFT])
			idx |= IB_UMEM_ODP_LEAF_ENTRIES - 1;
		else if (*odp_entry(umem_odp, idx))
			odp_unmap_entry(umem_odp, idx);
	}
}
EXPORT_SYMBOL(ib_umem_odp_unmap_dma_pages);

/* Publish @page as entry @idx with @access. Called with umem_mutex held. */
static int odp_map_entry(struct ib_umem_odp *odp, size_t idx,
			 struct page *page, u64 access)
{
	struct ib_device *dev = odp->umem.ibdev;
	dma_addr_t dma;

	if (*odp_entry(odp, idx)) {
		/*
		 * Still the same page: only the access can have grown (a
		 * read-only PTE made writable needs no invalidation).
		 */
		if (odp_entry_page(odp, idx) == page) {
			*odp_entry(odp, idx) |= access;
			return 0;
		}
		/* A driver that skipped an invalidation: replace the entry. */
		odp_unmap_entry(odp, idx);
	}
	dma = ib_dma_map_page(dev, page, 0, 1UL << odp->page_shift,
			      DMA_BIDIRECTIONAL);
	if (ib_dma_mapping_error(dev, dma))
		return -EFAULT;
	if (odp_needs_pages(odp))
		*odp_entry_pagep(odp, idx) = page;
	*odp_entry(odp, idx) = dma | access;
	odp->npages++;
	return 0;
}

/* One call of ib_umem_odp_map_dma_and_lock(). */
struct odp_fault {
	struct ib_umem_odp *odp;
	struct hmm_range range;
	unsigned long start;	/* span to map, aligned to the umem's pages */
	unsigned long end;
	unsigned long chunk;	/* bytes handed to one hmm_range_fault() */
	u64 access;		/* what to grant when faulting */
	bool fault;
	unsigned long deadline;
};

/* Access a snapshot entry gets: what the PTE allows, within the MR's rights. */
static u64 odp_pte_access(struct ib_umem_odp *odp, unsigned long hmm_pfn)
{
	if ((hmm_pfn & HMM_PFN_WRITE) && odp->umem.writable)
		return ODP_READ_ALLOWED_BIT | ODP_WRITE_ALLOWED_BIT;
	return ODP_READ_ALLOWED_BIT;
}

static int odp_install(struct odp_fault *f, size_t idx, unsigned long hmm_pfn)
{
	struct ib_umem_odp *odp = f->odp;

	/* hmm_range_fault() only leaves holes when it was not asked to fault. */
	if (!(hmm_pfn & HMM_PFN_VALID))
		return f->fault ? -EFAULT : 0;
	/* A huge-page umem over memory that is no longer mapped huge. */
	if (hmm_pfn_to_map_order(hmm_pfn) + PAGE_SHIFT < odp->page_shift)
		return -EFAULT;
	return odp_map_entry(odp, idx, hmm_pfn_to_page(hmm_pfn),
			     f->fault ? f->access : odp_pte_access(odp, hmm_pfn));
}

/* Publish what hmm_range_fault() found for [start, end). */
static int odp_install_chunk(struct odp_fault *f, unsigned long start,
			     unsigned long end)
{
	struct ib_umem_odp *odp = f->odp;
	unsigned long psize = 1UL << odp->page_shift;
	unsigned long *pfns = f->range.hmm_pfns;
	unsigned long addr;
	int ret;

	for (addr = start; addr < end; addr += psize) {
		ret = odp_install(f, ib_umem_odp_index(odp, addr),
				  pfns[(addr - start) >> PAGE_SHIFT]);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Memory that the kernel removed from its own direct map (memfd_secret())
 * is not handed to a device: GUP refuses it, and so does ODP, since a
 * device with virtual DMA would reach it through that missing mapping.
 * Known by its superblock, as vma_is_secretmem() is not exported.
 */
static bool odp_vma_refused(struct vm_area_struct *vma)
{
	struct file *file = vma->vm_file;

	return file && file_inode(file)->i_sb->s_magic == SECRETMEM_MAGIC;
}

/* Whether a mapping in [start, end) is one ODP must not fault. */
static bool odp_range_refused(struct mm_struct *mm, unsigned long start,
			      unsigned long end)
{
	VMA_ITERATOR(vmi, mm, start);
	struct vm_area_struct *vma;

	mmap_assert_locked(mm);
	for_each_vma_range(vmi, vma, end) {
		if (odp_vma_refused(vma))
			return true;
	}
	return false;
}

static int odp_fault_chunk(struct odp_fault *f, unsigned long start,
			   unsigned long end)
{
	struct mm_struct *mm = f->odp->umem.owning_mm;
	int ret;

	f->range.start = start;
	f->range.end = end;
	if (mmap_read_lock_killable(mm))
		return -EINTR;
	if (odp_range_refused(mm, start, end))
		ret = -EFAULT;
	else
		ret = hmm_range_fault(&f->range);
	mmap_read_unlock(mm);
	return ret;
}

/*
 * Fault and publish [f->start, f->end) chunk by chunk, all under one
 * notifier sequence. Each chunk is published under umem_mutex after
 * checking the sequence, so a published entry is never stale; and when
 * the check still passes on the last chunk, no invalidation has begun
 * since the first, so every earlier chunk is still published. An
 * invalidation in between restarts the whole span, until the deadline.
 */
static int odp_fault_and_lock(struct odp_fault *f)
{
	struct ib_umem_odp *odp = f->odp;
	unsigned long addr, next;
	int ret;

restart:
	f->range.notifier_seq = mmu_interval_read_begin(&odp->notifier);
	for (addr = f->start; addr < f->end; addr = next) {
		next = min(f->end, addr + f->chunk);
		ret = odp_fault_chunk(f, addr, next);
		if (ret == -EBUSY)
			goto busy;
		if (ret)
			return ret;
		mutex_lock(&odp->umem_mutex);
		if (mmu_interval_read_retry(&odp->notifier,
					    f->range.notifier_seq)) {
			mutex_unlock(&odp->umem_mutex);
			goto busy;
		}
		ret = odp_install_chunk(f, addr, next);
		if (ret || next < f->end)
			mutex_unlock(&odp->umem_mutex);
		if (ret)
			return ret;
	}
	return (f->end - f->start) >> odp->page_shift;
busy:
	if (time_after(jiffies, f->deadline))
		return -EBUSY;
	goto restart;
}

/* Arguments every mapping call must have right, even an empty one. */
static int odp_map_args_valid(struct ib_umem_odp *odp, u64 addr, u64 access)
{
	if (odp->is_implicit_odp || !access ||
	    (access & ~(ODP_READ_ALLOWED_BIT | ODP_WRITE_ALLOWED_BIT)))
		return -EINVAL;
	if (addr < ib_umem_start(odp) || addr > ib_umem_end(odp))
		return -EFAULT;
	return 0;
}

static int odp_fault_prepare(struct odp_fault *f, struct ib_umem_odp *odp,
			     u64 addr, u64 bcnt, u64 access, bool fault)
{
	unsigned long psize = 1UL << odp->page_shift;
	size_t npfns;
	u64 last;
	int ret;

	ret = odp_map_args_valid(odp, addr, access);
	if (ret)
		return ret;
	if (check_add_overflow(addr, bcnt - 1, &last) ||
	    addr < ib_umem_start(odp) || last >= ib_umem_end(odp))
		return -EFAULT;
	if ((access & ODP_WRITE_ALLOWED_BIT) && !odp->umem.writable)
		return -EPERM;

	memset(f, 0, sizeof(*f));
	f->odp = odp;
	f->fault = fault;
	f->access = access;
	f->start = ALIGN_DOWN(addr, psize);
	f->end = ALIGN_DOWN(last, psize) + psize;
	/* At least one umem page per chunk, and about a page of pfns. */
	f->chunk = max(psize, (PAGE_SIZE / sizeof(unsigned long)) << PAGE_SHIFT);
	f->chunk = min(f->chunk, f->end - f->start);
	f->range.notifier = &odp->notifier;
	if (fault) {
		f->range.default_flags = HMM_PFN_REQ_FAULT;
		if (access & ODP_WRITE_ALLOWED_BIT)
			f->range.default_flags |= HMM_PFN_REQ_WRITE;
	}
	ret = odp_alloc_leaves(odp, ib_umem_odp_index(odp, f->start),
			       ib_umem_odp_index(odp, f->end - 1));
	if (ret)
		return ret;
	npfns = f->chunk >> PAGE_SHIFT;
	f->range.hmm_pfns = kvmalloc_array(npfns, sizeof(unsigned long),
					   GFP_KERNEL);
	if (!f->range.hmm_pfns)
		return -ENOMEM;
	f->deadline = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	return 0;
}

/**
 * ib_umem_odp_map_dma_and_lock - translate a range and lock the umem
 * @umem_odp: an explicit umem (or an implicit root's child)
 * @start_offset: first user address of the range
 * @bcnt: length of the range in bytes
 * @access_mask: ODP_READ_ALLOWED_BIT, optionally with ODP_WRITE_ALLOWED_BIT
 * @fault: fault missing pages in; when false, only pages the page tables
 *	already hold are published, with the access their PTEs allow
 *
 * The range is rounded out to the umem's page size. Pages are found with
 * hmm_range_fault() under the mmap lock, then published in its entries with
 * their access bits; a write fault is only made for a writable umem.
 * Sleeps; retries while invalidations race with it, for at most
 * HMM_RANGE_DEFAULT_TIMEOUT milliseconds.
 *
 * Return: on success the number of umem pages in the rounded range (0 for
 * a zero @bcnt, which maps nothing), with umem_mutex held: every entry of
 * the range the call published is valid until the caller unlocks. On
 * failure a negative errno and umem_mutex is not held: -EINVAL for bad
 * arguments, -EFAULT for a range outside the umem or memory that cannot be
 * faulted (unmapped, PROT_NONE) or that no device may reach
 * (memfd_secret()), -EPERM for a write to read-only memory or a read-only
 * umem, -EBUSY when invalidations kept racing until the deadline, -ESRCH
 * once the mm has no users, -EINTR, -ENOMEM.
 */
int ib_umem_odp_map_dma_and_lock(struct ib_umem_odp *umem_odp, u64 start_offset,
				 u64 bcnt, u64 access_mask, bool fault)
{
	struct mm_struct *mm = umem_odp->umem.owning_mm;
	struct odp_fault f;
	int ret;

	might_sleep();
	if (!bcnt) {
		ret = odp_map_args_valid(umem_odp, start_offset, access_mask);
		if (!ret)
			mutex_lock(&umem_odp->umem_mutex);
		return ret;
	}
	ret = odp_fault_prepare(&f, umem_odp, start_offset, bcnt, access_mask,
				fault);
	if (ret)
		return ret;
	if (odp_mm_live(mm)) {
		ret = odp_fault_and_lock(&f);
		/*
		 * Possibly the last user, and umem_mutex may be held: the
		 * teardown's invalidation would wait for it. Defer it.
		 */
		mmput_async(mm);
	} else {
		ret = -ESRCH;
	}
	kvfree(f.range.hmm_pfns);
	return ret;
}
EXPORT_SYMBOL(ib_umem_odp_map_dma_and_lock);

/**
 * ib_umem_odp_release - free an ODP umem
 * @umem_odp: the umem; the device no longer accesses it
 *
 * Drops every translation and unsubscribes the notifier (waiting for an
 * invalidation in progress). An implicit root releases the children
 * ib_umem_odp_get_child() made. Works after the process has exited.
 */
void ib_umem_odp_release(struct ib_umem_odp *umem_odp)
{
	struct ib_umem_odp *child;
	unsigned long key;

	might_sleep();
	if (umem_odp->is_implicit_odp) {
		xa_for_each(&umem_odp->children, key, child)
			ib_umem_odp_release(child);
		xa_destroy(&umem_odp->children);
	} else {
		mutex_lock(&umem_odp->umem_mutex);
		ib_umem_odp_unmap_dma_pages(umem_odp, ib_umem_start(umem_odp),
					    ib_umem_end(umem_odp));
		mutex_unlock(&umem_odp->umem_mutex);
		mmu_interval_notifier_remove(&umem_odp->notifier);
	}
	odp_free(umem_odp);
}
EXPORT_SYMBOL(ib_umem_odp_release);
