/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * On-demand paging (ODP) user memory.
 *
 * An ODP umem describes a range of a process's address space that a device
 * reaches without pinning it. Each page of the range (of 1 << page_shift
 * bytes) has one entry, ib_umem_odp_entry(): zero while the device has no
 * translation for it, otherwise the DMA address of the page with the access
 * the device was granted in its two low bits. Entries are filled by
 * ib_umem_odp_map_dma_and_lock() and emptied by
 * ib_umem_odp_unmap_dma_pages(), both under umem_mutex; the driver's
 * interval notifier empties them when the kernel changes the mapping.
 *
 * See Documentation/umem_odp.rst for the driver contract.
 */
#ifndef IB_UMEM_ODP_H
#define IB_UMEM_ODP_H

#include <linux/mmu_notifier.h>
#include <linux/xarray.h>
#include <rdma/ib_umem.h>
#include <rdma/ib_verbs.h>

/* Access bits kept in the low bits of an entry. */
#define ODP_READ_ALLOWED_BIT	BIT_ULL(0)
#define ODP_WRITE_ALLOWED_BIT	BIT_ULL(1)
#define ODP_DMA_ADDR_MASK	(~(ODP_READ_ALLOWED_BIT | ODP_WRITE_ALLOWED_BIT))

/*
 * Children that ib_umem_odp_get_child() creates under an implicit root
 * cover naturally aligned blocks of this size.
 */
#define IB_UMEM_ODP_CHILD_SHIFT	27
#define IB_UMEM_ODP_CHILD_SIZE	BIT(IB_UMEM_ODP_CHILD_SHIFT)

/* Entries per leaf of the translation table (struct ib_umem_odp). */
#define IB_UMEM_ODP_LEAF_SHIFT	9
#define IB_UMEM_ODP_LEAF_ENTRIES	BIT(IB_UMEM_ODP_LEAF_SHIFT)

struct ib_umem_odp {
	struct ib_umem umem;
	/* Covers [ib_umem_start(), ib_umem_end()); unused in an implicit root. */
	struct mmu_interval_notifier notifier;
	/* The thread group that registered the memory. */
	struct pid *tgid;

	/* Serializes filling and emptying the translation table. */
	struct mutex umem_mutex;

	/*
	 * The translation table: leaves of IB_UMEM_ODP_LEAF_ENTRIES entries
	 * (DMA address | ODP_*_ALLOWED_BIT, or 0), each followed, for devices
	 * whose DMA address does not lead back to the page, by the pages
	 * behind them. The table and each leaf are allocated by the first
	 * fault that needs them, so memory follows what the device touched,
	 * never one allocation the size of the range; NULL until then.
	 * Read with ib_umem_odp_entry(), under umem_mutex.
	 */
	dma_addr_t **leaves;
	/* Number of non-zero entries. */
	int npages;

	unsigned int page_shift;
	bool is_implicit_odp;

	/*
	 * Implicit root: its children from ib_umem_odp_get_child(), indexed
	 * by address >> IB_UMEM_ODP_CHILD_SHIFT, released with the root.
	 */
	struct xarray children;

	/* For the driver. */
	void *private;
};

/* First byte of the umem, aligned down to its page size. */
static inline unsigned long ib_umem_start(struct ib_umem_odp *odp)
{
	return odp->notifier.interval_tree.start;
}

/* Entry index of the page holding @addr (at most ib_umem_end()). */
static inline size_t ib_umem_odp_index(struct ib_umem_odp *odp, unsigned long addr)
{
	return (addr - ib_umem_start(odp)) >> odp->page_shift;
}

/* One past the last byte (the tree keeps the last byte itself). */
static inline unsigned long ib_umem_end(struct ib_umem_odp *odp)
{
	return odp->notifier.interval_tree.last + 1;
}

/* Number of entries. */
static inline size_t ib_umem_odp_num_pages(struct ib_umem_odp *odp)
{
	return ib_umem_odp_index(odp, ib_umem_end(odp));
}

/* Entry @idx (below ib_umem_odp_num_pages()); the caller holds umem_mutex. */
static inline dma_addr_t ib_umem_odp_entry(struct ib_umem_odp *odp, size_t idx)
{
	dma_addr_t *leaf;

	if (!odp->leaves)
		return 0;
	leaf = odp->leaves[idx >> IB_UMEM_ODP_LEAF_SHIFT];
	return leaf ? leaf[idx & (IB_UMEM_ODP_LEAF_ENTRIES - 1)] : 0;
}

static inline struct ib_umem_odp *to_ib_umem_odp(struct ib_umem *umem)
{
	return container_of(umem, struct ib_umem_odp, umem);
}

#ifdef CONFIG_INFINIBAND_ON_DEMAND_PAGING

/* Explicit umems (umem_odp.c documents every function). */
struct ib_umem_odp *ib_umem_odp_get(struct ib_device *device, unsigned long addr,
				    size_t size, int access,
				    const struct mmu_interval_notifier_ops *ops);
void ib_umem_odp_release(struct ib_umem_odp *umem_odp);

/* Implicit roots, and children the driver owns or the root tracks. */
struct ib_umem_odp *ib_umem_odp_alloc_implicit(struct ib_device *device, int access);
struct ib_umem_odp *ib_umem_odp_alloc_child(struct ib_umem_odp *root_umem,
					    unsigned long addr, size_t size,
					    const struct mmu_interval_notifier_ops *ops);
struct ib_umem_odp *ib_umem_odp_get_child(struct ib_umem_odp *root, unsigned long addr,
					  const struct mmu_interval_notifier_ops *ops);
struct ib_umem_odp *ib_umem_odp_find_child(struct ib_umem_odp *root, unsigned long addr);

/* Translations: filled on demand, dropped on invalidation. */
int ib_umem_odp_map_dma_and_lock(struct ib_umem_odp *umem_odp, u64 start_offset,
				 u64 bcnt, u64 access_mask, bool fault);
void ib_umem_odp_unmap_dma_pages(struct ib_umem_odp *umem_odp, u64 start_offset,
				 u64 bound);

#else

/* Without ODP support no ODP umem can be made. */
static inline struct ib_umem_odp *
ib_umem_odp_get(struct ib_device *device, unsigned long addr, size_t size, int access,
		const struct mmu_interval_notifier_ops *ops)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline void ib_umem_odp_release(struct ib_umem_odp *umem_odp)
{
}

#endif

#endif /* IB_UMEM_ODP_H */
