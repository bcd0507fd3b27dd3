// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * KUnit suite "umem_odp": ODP umems over the user memory of a test mm.
 *
 * The device is a zeroed struct ib_device: it has no DMA device, so its
 * DMA addresses are kernel addresses and a test reads a translated page
 * directly. The notifier ops play a driver that drops translations under
 * umem_mutex, as the driver contract asks.
 */

#include <kunit/resource.h>
#include <kunit/test.h>
#include <linux/hugetlb.h>
#include <linux/kthread.h>
#include <linux/mman.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include <rdma/ib_umem_odp.h>

#define ODP_RW	(IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE | \
		 IB_ACCESS_REMOTE_READ | IB_ACCESS_ON_DEMAND)
#define ODP_RO	(IB_ACCESS_REMOTE_READ | IB_ACCESS_ON_DEMAND)
#define ODP_R	ODP_READ_ALLOWED_BIT
#define ODP_W	ODP_WRITE_ALLOWED_BIT

struct odp_kunit {
	struct ib_device *dev;
	atomic_t invalidations;
	/*
	 * Set while the test holds umem_mutex in one thread and invalidates
	 * a umem with no translations in another: the callback then only
	 * moves the sequence on.
	 */
	bool test_holds_mutex;
};

static bool odp_kunit_invalidate(struct mmu_interval_notifier *mni,
				 const struct mmu_notifier_range *range,
				 unsigned long cur_seq)
{
	struct ib_umem_odp *odp = container_of(mni, struct ib_umem_odp, notifier);
	struct odp_kunit *ctx = odp->private;
	bool may_sleep = mmu_notifier_range_blockable(range);

	if (ctx && READ_ONCE(ctx->test_holds_mutex)) {
		mmu_interval_set_seq(mni, cur_seq);
		atomic_inc(&ctx->invalidations);
		return true;
	}
	if (!may_sleep && !mutex_trylock(&odp->umem_mutex))
		return false;
	if (may_sleep)
		mutex_lock(&odp->umem_mutex);
	mmu_interval_set_seq(mni, cur_seq);
	ib_umem_odp_unmap_dma_pages(odp, range->start, range->end);
	mutex_unlock(&odp->umem_mutex);
	if (ctx)
		atomic_inc(&ctx->invalidations);
	return true;
}

static const struct mmu_interval_notifier_ops odp_kunit_ops = {
	.invalidate = odp_kunit_invalidate,
};

KUNIT_DEFINE_ACTION_WRAPPER(odp_kunit_release, ib_umem_odp_release,
			    struct ib_umem_odp *);

static struct odp_kunit *ctx_of(struct kunit *test)
{
	return test->priv;
}

static int odp_kunit_init(struct kunit *test)
{
	struct odp_kunit *ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);

	if (!ctx)
		return -ENOMEM;
	ctx->dev = kunit_kzalloc(test, sizeof(*ctx->dev), GFP_KERNEL);
	if (!ctx->dev)
		return -ENOMEM;
	test->priv = ctx;
	return 0;
}

static unsigned long odp_kunit_mmap(struct kunit *test, struct file *file,
				    size_t len, unsigned long prot,
				    unsigned long flags)
{
	unsigned long addr = kunit_vm_mmap(test, file, 0, len, prot, flags, 0);

	KUNIT_ASSERT_FALSE_MSG(test, !addr || IS_ERR_VALUE(addr),
			       "mmap of %zu bytes: %ld", len, (long)addr);
	return addr;
}

static unsigned long odp_kunit_anon(struct kunit *test, size_t npages,
				    unsigned long prot)
{
	return odp_kunit_mmap(test, NULL, npages * PAGE_SIZE, prot,
			      MAP_PRIVATE | MAP_ANONYMOUS);
}

static struct ib_umem_odp *odp_kunit_get(struct kunit *test,
					 unsigned long addr, size_t len,
					 int access)
{
	struct ib_umem_odp *odp;

	odp = ib_umem_odp_get(ctx_of(test)->dev, addr, len, access,
			      &odp_kunit_ops);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, odp);
	odp->private = ctx_of(test);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, odp_kunit_release, odp));
	return odp;
}

/* Store @val in the first word of the user page at @addr. */
static void odp_kunit_poke(struct kunit *test, unsigned long addr, u64 val)
{
	KUNIT_ASSERT_EQ(test, 0, put_user(val, (u64 __user *)addr));
}

/* The kernel's view of translated page @idx (virtual DMA). */
static u64 *odp_kunit_page(struct ib_umem_odp *odp, size_t idx)
{
	return ib_virt_dma_to_ptr(ib_umem_odp_entry(odp, idx) & ODP_DMA_ADDR_MASK);
}

static void odp_kunit_unmap_all(struct ib_umem_odp *odp)
{
	mutex_lock(&odp->umem_mutex);
	ib_umem_odp_unmap_dma_pages(odp, ib_umem_start(odp), ib_umem_end(odp));
	mutex_unlock(&odp->umem_mutex);
}

/*
 * Map, expecting @want umem pages. True with umem_mutex held; false, after
 * a failed expectation, without it. A test must not end holding the mutex:
 * the teardown of its mm would wait for it in the invalidate callback.
 */
static bool odp_kunit_map(struct kunit *test, struct ib_umem_odp *odp,
			  unsigned long addr, u64 len, u64 access, bool fault,
			  int want)
{
	int ret = ib_umem_odp_map_dma_and_lock(odp, addr, len, access, fault);

	KUNIT_EXPECT_EQ(test, ret, want);
	if (ret == want)
		return true;
	if (ret >= 0)
		mutex_unlock(&odp->umem_mutex);
	return false;
}

/* The result of a mapping expected to fail; never leaves the mutex held. */
static int odp_kunit_map_err(struct ib_umem_odp *odp, unsigned long addr,
			     u64 len, u64 access, bool fault)
{
	int ret = ib_umem_odp_map_dma_and_lock(odp, addr, len, access, fault);

	if (ret >= 0)
		mutex_unlock(&odp->umem_mutex);
	return ret;
}

/* Without IB_ACCESS_HUGETLB a umem has base pages, rounded out. */
static void odp_kunit_shift_default(struct kunit *test)
{
	unsigned long addr = odp_kunit_anon(test, 3, PROT_READ | PROT_WRITE);
	struct ib_umem_odp *odp;

	odp = odp_kunit_get(test, addr + 100, 2 * PAGE_SIZE, ODP_RW);
	KUNIT_EXPECT_EQ(test, odp->page_shift, PAGE_SHIFT);
	KUNIT_EXPECT_EQ(test, ib_umem_start(odp), addr);
	KUNIT_EXPECT_EQ(test, ib_umem_end(odp), addr + 3 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, ib_umem_odp_num_pages(odp), 3);
	KUNIT_EXPECT_EQ(test, odp->umem.address, addr + 100);
	KUNIT_EXPECT_EQ(test, odp->umem.length, 2 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, odp->npages, 0);
	KUNIT_EXPECT_TRUE(test, odp->umem.writable);
	KUNIT_EXPECT_TRUE(test, odp->umem.is_odp);
}

static unsigned long odp_kunit_hugetlb(struct kunit *test, size_t len)
{
	struct file *file;
	unsigned long addr;

	file = hugetlb_file_setup(HUGETLB_ANON_FILE, len, VM_NORESERVE,
				  HUGETLB_ANONHUGE_INODE, 0);
	if (IS_ERR(file))
		kunit_skip(test, "no hugetlb file (%ld)", PTR_ERR(file));
	addr = kunit_vm_mmap(test, file, 0, len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE, 0);
	fput(file);
	KUNIT_ASSERT_FALSE(test, !addr || IS_ERR_VALUE(addr));
	return addr;
}

/* IB_ACCESS_HUGETLB over hugetlb memory: one entry per huge page. */
static void odp_kunit_shift_hugetlb(struct kunit *test)
{
	unsigned long addr = odp_kunit_hugetlb(test, 2 * HPAGE_SIZE);
	struct ib_umem_odp *odp;

	odp_kunit_poke(test, addr + HPAGE_SIZE + 8 * PAGE_SIZE, 0x4855);
	odp = odp_kunit_get(test, addr + PAGE_SIZE, HPAGE_SIZE,
			    ODP_RW | IB_ACCESS_HUGETLB);
	KUNIT_EXPECT_EQ(test, odp->page_shift, HPAGE_SHIFT);
	KUNIT_EXPECT_EQ(test, ib_umem_start(odp), addr);
	KUNIT_EXPECT_EQ(test, ib_umem_odp_num_pages(odp), 2);

	KUNIT_ASSERT_TRUE(test, odp_kunit_map(test, odp, addr + PAGE_SIZE,
					      HPAGE_SIZE, ODP_R | ODP_W, true, 2));
	KUNIT_EXPECT_EQ(test, odp->npages, 2);
	/* One translation spans the whole huge page. */
	KUNIT_EXPECT_EQ(test, odp_kunit_page(odp, 1)[8 * PAGE_SIZE / 8], 0x4855);
	mutex_unlock(&odp->umem_mutex);
}

/* IB_ACCESS_HUGETLB over ordinary memory is refused. */
static void odp_kunit_shift_hugetlb_refused(struct kunit *test)
{
	unsigned long addr = odp_kunit_anon(test, 4, PROT_READ | PROT_WRITE);
	struct ib_umem_odp *odp;

	odp = ib_umem_odp_get(ctx_of(test)->dev, addr, 4 * PAGE_SIZE,
			      ODP_RW | IB_ACCESS_HUGETLB, &odp_kunit_ops);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(odp), -EINVAL);
	if (!IS_ERR(odp))
		ib_umem_odp_release(odp);
}

static long odp_kunit_get_err(struct kunit *test, unsigned long addr,
			      size_t len, int access)
{
	struct ib_umem_odp *odp;

	odp = ib_umem_odp_get(ctx_of(test)->dev, addr, len, access,
			      &odp_kunit_ops);
	if (!IS_ERR(odp)) {
		ib_umem_odp_release(odp);
		return 0;
	}
	return PTR_ERR(odp);
}

/* Ranges no process could register get an errno and leave nothing. */
static void odp_kunit_get_bad_input(struct kunit *test)
{
	unsigned long addr = odp_kunit_anon(test, 1, PROT_READ | PROT_WRITE);

	KUNIT_EXPECT_EQ(test, odp_kunit_get_err(test, addr, 0, ODP_RW), -EINVAL);
	KUNIT_EXPECT_EQ(test, odp_kunit_get_err(test, ULONG_MAX - 100, 4096,
						ODP_RW), -EOVERFLOW);
	KUNIT_EXPECT_EQ(test, odp_kunit_get_err(test, TASK_SIZE - PAGE_SIZE,
						2 * PAGE_SIZE, ODP_RW), -EFAULT);
	KUNIT_EXPECT_EQ(test, odp_kunit_get_err(test, addr, PAGE_SIZE,
						IB_ACCESS_LOCAL_WRITE), -EINVAL);
	/* The last page below the top of the address space is fine. */
	KUNIT_EXPECT_EQ(test, odp_kunit_get_err(test, TASK_SIZE - PAGE_SIZE,
						PAGE_SIZE, ODP_RW), 0);
}

/* Index math and range checks at the edges of an unaligned umem. */
static void odp_kunit_index_edges(struct kunit *test)
{
	unsigned long addr = odp_kunit_anon(test, 2, PROT_READ | PROT_WRITE);
	struct ib_umem_odp *odp;

	odp = odp_kunit_get(test, addr + PAGE_SIZE - 1, 2, ODP_RW);
	KUNIT_EXPECT_EQ(test, ib_umem_odp_num_pages(odp), 2);
	KUNIT_EXPECT_EQ(test, ib_umem_odp_index(odp, addr + PAGE_SIZE - 1), 0);
	KUNIT_EXPECT_EQ(test, ib_umem_odp_index(odp, addr + PAGE_SIZE), 1);
	KUNIT_EXPECT_EQ(test, ib_umem_odp_index(odp, addr + 2 * PAGE_SIZE - 1), 1);

	/* The last byte maps the last page only. */
	KUNIT_ASSERT_TRUE(test, odp_kunit_map(test, odp, addr + 2 * PAGE_SIZE - 1,
					      1, ODP_R, true, 1));
	KUNIT_EXPECT_EQ(test, odp->npages, 1);
	KUNIT_EXPECT_EQ(test, ib_umem_odp_entry(odp, 0), 0);
	KUNIT_EXPECT_NE(test, ib_umem_odp_entry(odp, 1), 0);
	mutex_unlock(&odp->umem_mutex);

	/* One byte either side of the umem, and a wrapping length. */
	KUNIT_EXPECT_EQ(test, odp_kunit_map_err(odp, addr + 2 * PAGE_SIZE, 1,
						ODP_R, true), -EFAULT);
	KUNIT_EXPECT_EQ(test, odp_kunit_map_err(odp, addr - 1, 1, ODP_R, true),
			-EFAULT);
	KUNIT_EXPECT_EQ(test, odp_kunit_map_err(odp, addr, U64_MAX, ODP_R, true),
			-EFAULT);
	KUNIT_EXPECT_FALSE(test, mutex_is_locked(&odp->umem_mutex));
}

/* Bad access masks and lengths, an implicit root, a read-only umem. */
static void odp_kunit_map_bad_args(struct kunit *test)
{
	unsigned long addr = odp_kunit_anon(test, 1, PROT_READ | PROT_WRITE);
	struct ib_umem_odp *rw = odp_kunit_get(test, addr, PAGE_SIZE, ODP_RW);
	struct ib_umem_odp *ro = odp_kunit_get(test, addr, PAGE_SIZE, ODP_RO);
	struct ib_umem_odp *root;

	KUNIT_EXPECT_EQ(test, odp_kunit_map_err(rw, addr, 8, 0, true), -EINVAL);
	KUNIT_EXPECT_EQ(test, odp_kunit_map_err(rw, addr, 8, 4, true), -EINVAL);
	/* No write fault through a umem registered without write access. */
	KUNIT_EXPECT_EQ(test, odp_kunit_map_err(ro, addr, 8, ODP_R | ODP_W, true),
			-EPERM);
	KUNIT_EXPECT_EQ(test, ro->npages, 0);

	root = ib_umem_odp_alloc_implicit(ctx_of(test)->dev, ODP_RW);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, root);
	KUNIT_EXPECT_EQ(test, odp_kunit_map_err(root, addr, 8, ODP_R, true), -EINVAL);
	ib_umem_odp_release(root);
	KUNIT_EXPECT_FALSE(test, mutex_is_locked(&rw->umem_mutex));
	KUNIT_EXPECT_FALSE(test, mutex_is_locked(&ro->umem_mutex));
}

/*
 * A zero-length range maps nothing and succeeds with the mutex held, as
 * any range does (mlx5 prefetches zero-length SGEs), but still only
 * inside the umem and with a valid access mask.
 */
static void odp_kunit_map_empty(struct kunit *test)
{
	unsigned long addr = odp_kunit_anon(test, 2, PROT_READ | PROT_WRITE);
	struct ib_umem_odp *odp = odp_kunit_get(test, addr, 2 * PAGE_SIZE,
						ODP_RW);
	unsigned long at[] = { addr, addr + 100, addr + 2 * PAGE_SIZE };
	int i;

	for (i = 0; i < ARRAY_SIZE(at); i++) {
		KUNIT_ASSERT_TRUE(test, odp_kunit_map(test, odp, at[i], 0,
						      ODP_R | ODP_W, true, 0));
		KUNIT_EXPECT_TRUE(test, mutex_is_locked(&odp->umem_mutex));
		mutex_unlock(&odp->umem_mutex);
	}
	KUNIT_EXPECT_EQ(test, odp->npages, 0);
	KUNIT_EXPECT_EQ(test, odp_kunit_map_err(odp, addr + 2 * PAGE_SIZE + 1,
						0, ODP_R, true), -EFAULT);
	KUNIT_EXPECT_EQ(test, odp_kunit_map_err(odp, addr - 1, 0, ODP_R, true),
			-EFAULT);
	KUNIT_EXPECT_EQ(test, odp_kunit_map_err(odp, addr, 0, 0, true), -EINVAL);
	KUNIT_EXPECT_FALSE(test, mutex_is_locked(&odp->umem_mutex));
}

/* Map returns with the mutex held and the pages' content; unmap empties. */
static void odp_kunit_map_then_unmap(struct kunit *test)
{
	unsigned long addr = odp_kunit_anon(test, 4, PROT_READ | PROT_WRITE);
	struct ib_umem_odp *odp = odp_kunit_get(test, addr, 4 * PAGE_SIZE, ODP_RW);
	size_t i;

	for (i = 0; i < 4; i++)
		odp_kunit_poke(test, addr + i * PAGE_SIZE, 0x1000 + i);
	KUNIT_ASSERT_TRUE(test, odp_kunit_map(test, odp, addr, 4 * PAGE_SIZE,
					      ODP_R, true, 4));
	KUNIT_EXPECT_TRUE(test, mutex_is_locked(&odp->umem_mutex));
	KUNIT_EXPECT_EQ(test, odp->npages, 4);
	for (i = 0; i < 4; i++) {
		KUNIT_EXPECT_EQ(test, ib_umem_odp_entry(odp, i) & ~ODP_DMA_ADDR_MASK, ODP_R);
		KUNIT_EXPECT_EQ(test, *odp_kunit_page(odp, i), 0x1000 + i);
	}
	mutex_unlock(&odp->umem_mutex);

	odp_kunit_unmap_all(odp);
	KUNIT_EXPECT_EQ(test, odp->npages, 0);
	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_EQ(test, ib_umem_odp_entry(odp, i), 0);
}

/* Without fault, only present pages are published, with their PTE's access. */
static void odp_kunit_map_snapshot(struct kunit *test)
{
	unsigned long addr = odp_kunit_anon(test, 3, PROT_READ | PROT_WRITE);
	struct ib_umem_odp *rw = odp_kunit_get(test, addr, 3 * PAGE_SIZE, ODP_RW);
	struct ib_umem_odp *ro = odp_kunit_get(test, addr, 3 * PAGE_SIZE, ODP_RO);

	KUNIT_ASSERT_TRUE(test, odp_kunit_map(test, rw, addr, 3 * PAGE_SIZE,
					      ODP_R, false, 3));
	KUNIT_EXPECT_EQ(test, rw->npages, 0);
	mutex_unlock(&rw->umem_mutex);

	odp_kunit_poke(test, addr + PAGE_SIZE, 7);
	KUNIT_ASSERT_TRUE(test, odp_kunit_map(test, rw, addr, 3 * PAGE_SIZE,
					      ODP_R, false, 3));
	KUNIT_EXPECT_EQ(test, rw->npages, 1);
	KUNIT_EXPECT_EQ(test, ib_umem_odp_entry(rw, 1) & ~ODP_DMA_ADDR_MASK, ODP_R | ODP_W);
	KUNIT_EXPECT_EQ(test, *odp_kunit_page(rw, 1), 7);
	mutex_unlock(&rw->umem_mutex);

	/* A read-only umem never records write access. */
	KUNIT_ASSERT_TRUE(test, odp_kunit_map(test, ro, addr, 3 * PAGE_SIZE,
					      ODP_R, false, 3));
	KUNIT_EXPECT_EQ(test, ro->npages, 1);
	KUNIT_EXPECT_EQ(test, ib_umem_odp_entry(ro, 1) & ~ODP_DMA_ADDR_MASK, ODP_R);
	mutex_unlock(&ro->umem_mutex);
}

/* Unmapping dirties the pages mapped for write, and only those. */
static void odp_kunit_dirty_only_writable(struct kunit *test)
{
	unsigned long addr = odp_kunit_anon(test, 2, PROT_READ | PROT_WRITE);
	struct ib_umem_odp *odp = odp_kunit_get(test, addr, 2 * PAGE_SIZE, ODP_RW);
	struct folio *ro, *rw;

	odp_kunit_poke(test, addr, 1);
	odp_kunit_poke(test, addr + PAGE_SIZE, 2);
	KUNIT_ASSERT_TRUE(test, odp_kunit_map(test, odp, addr, 1, ODP_R, true, 1));
	mutex_unlock(&odp->umem_mutex);
	KUNIT_ASSERT_TRUE(test, odp_kunit_map(test, odp, addr + PAGE_SIZE, 1,
					      ODP_R | ODP_W, true, 1));
	ro = page_folio(virt_to_page(odp_kunit_page(odp, 0)));
	rw = page_folio(virt_to_page(odp_kunit_page(odp, 1)));
	folio_get(ro);
	folio_get(rw);
	folio_clear_dirty(ro);
	folio_clear_dirty(rw);
	mutex_unlock(&odp->umem_mutex);

	odp_kunit_unmap_all(odp);
	KUNIT_EXPECT_FALSE(test, folio_test_dirty(ro));
	KUNIT_EXPECT_TRUE(test, folio_test_dirty(rw));
	folio_put(ro);
	folio_put(rw);
}

/* Memory the process cannot touch is refused, and nothing stays locked. */
static void odp_kunit_fault_refused(struct kunit *test)
{
	unsigned long rdonly = odp_kunit_anon(test, 1, PROT_READ);
	unsigned long none = odp_kunit_anon(test, 1, PROT_NONE);
	unsigned long hole = odp_kunit_anon(test, 3, PROT_READ | PROT_WRITE);
	struct ib_umem_odp *a = odp_kunit_get(test, rdonly, PAGE_SIZE, ODP_RW);
	struct ib_umem_odp *b = odp_kunit_get(test, none, PAGE_SIZE, ODP_RW);
	struct ib_umem_odp *c = odp_kunit_get(test, hole, 3 * PAGE_SIZE, ODP_RW);

	KUNIT_EXPECT_EQ(test, odp_kunit_map_err(a, rdonly, 8, ODP_R | ODP_W, true),
			-EPERM);
	if (odp_kunit_map(test, a, rdonly, 8, ODP_R, true, 1))
		mutex_unlock(&a->umem_mutex);

	KUNIT_EXPECT_EQ(test, odp_kunit_map_err(b, none, 8, ODP_R, true), -EFAULT);

	KUNIT_ASSERT_EQ(test, 0, vm_munmap(hole + PAGE_SIZE, PAGE_SIZE));
	KUNIT_EXPECT_EQ(test, odp_kunit_map_err(c, hole, 3 * PAGE_SIZE, ODP_R, true),
			-EFAULT);
	KUNIT_EXPECT_FALSE(test, mutex_is_locked(&a->umem_mutex));
	KUNIT_EXPECT_FALSE(test, mutex_is_locked(&b->umem_mutex));
	KUNIT_EXPECT_FALSE(test, mutex_is_locked(&c->umem_mutex));
	if (odp_kunit_map(test, c, hole + 2 * PAGE_SIZE, 8, ODP_R, true, 1))
		mutex_unlock(&c->umem_mutex);
}

/* An invalidation clears exactly the pages it covers. */
static void odp_kunit_invalidation_exact(struct kunit *test)
{
	unsigned long addr = odp_kunit_anon(test, 8, PROT_READ | PROT_WRITE);
	struct ib_umem_odp *odp = odp_kunit_get(test, addr, 8 * PAGE_SIZE, ODP_RW);
	int before;
	size_t i;

	KUNIT_ASSERT_TRUE(test, odp_kunit_map(test, odp, addr, 8 * PAGE_SIZE,
					      ODP_R | ODP_W, true, 8));
	mutex_unlock(&odp->umem_mutex);

	before = atomic_read(&ctx_of(test)->invalidations);
	KUNIT_ASSERT_EQ(test, 0, do_madvise(current->mm, addr + 3 * PAGE_SIZE,
					    2 * PAGE_SIZE, MADV_DONTNEED));
	KUNIT_EXPECT_GT(test, atomic_read(&ctx_of(test)->invalidations), before);
	KUNIT_EXPECT_EQ(test, odp->npages, 6);
	for (i = 0; i < 8; i++) {
		if (i == 3 || i == 4)
			KUNIT_EXPECT_EQ_MSG(test, ib_umem_odp_entry(odp, i), 0, "page %zu", i);
		else
			KUNIT_EXPECT_NE_MSG(test, ib_umem_odp_entry(odp, i), 0, "page %zu", i);
	}
}

/* A fault in another thread, lent this test's mm. */
struct odp_mapper {
	struct ib_umem_odp *odp;
	struct mm_struct *mm;
	unsigned long addr;
	int ret;
	struct page *published;	/* what the fault left in the entry */
	struct page *mapped;	/* what the page tables held then */
	struct completion go;	/* map now */
	struct completion done;
};

static int odp_mapper_fn(void *arg)
{
	struct odp_mapper *m = arg;

	kthread_use_mm(m->mm);
	/* Not uninterruptible: that state means "waiting for the mutex". */
	if (wait_for_completion_interruptible(&m->go))
		m->ret = -EINTR;
	else
		m->ret = ib_umem_odp_map_dma_and_lock(m->odp, m->addr, 8,
						      ODP_R | ODP_W, true);
	if (m->ret >= 0) {
		/* Lockless and non-faulting: compares against the PTE. */
		m->published = virt_to_page(odp_kunit_page(m->odp, 0));
		if (get_user_pages_fast_only(m->addr, 1, 0, &m->mapped) == 1)
			put_page(m->mapped);
		mutex_unlock(&m->odp->umem_mutex);
	}
	kthread_unuse_mm(m->mm);
	complete(&m->done);
	return 0;
}

/* DONTNEED from a thread of its own, lent @mm. */
struct odp_zapper {
	struct mm_struct *mm;
	unsigned long addr;
	int err;
	struct completion go;	/* zap now */
	struct completion done;
};

static int odp_zapper_fn(void *arg)
{
	struct odp_zapper *z = arg;

	kthread_use_mm(z->mm);
	wait_for_completion(&z->go);
	z->err = do_madvise(z->mm, z->addr, PAGE_SIZE, MADV_DONTNEED);
	kthread_unuse_mm(z->mm);
	complete(&z->done);
	return 0;
}

/* Wait until @task sleeps uninterruptibly: here, on umem_mutex. */
static bool odp_kunit_wait_blocked(struct task_struct *task)
{
	int i;

	for (i = 0; i < 5000; i++) {
		if (READ_ONCE(task->__state) == TASK_UNINTERRUPTIBLE)
			return true;
		usleep_range(1000, 2000);
	}
	return false;
}

/*
 * The page a fault found is zapped after hmm_range_fault() returned and
 * before the fault publishes it: the fault must start over and publish
 * the page that is mapped now.
 */
static void odp_kunit_fault_retries(struct kunit *test)
{
	unsigned long addr = odp_kunit_anon(test, 1, PROT_READ | PROT_WRITE);
	struct ib_umem_odp *odp = odp_kunit_get(test, addr, PAGE_SIZE, ODP_RW);
	struct odp_kunit *ctx = ctx_of(test);
	struct odp_mapper m = { .odp = odp, .mm = current->mm, .addr = addr };
	struct odp_zapper z = { .mm = current->mm, .addr = addr, .err = -EINTR };
	struct task_struct *task, *zapper;
	bool blocked;

	odp_kunit_poke(test, addr, 0x01d);
	init_completion(&m.go);
	init_completion(&m.done);
	init_completion(&z.go);
	init_completion(&z.done);
	/* Both threads exist before the mutex is taken: no allocation under it. */
	task = kthread_run(odp_mapper_fn, &m, "odp-kunit-mapper");
	KUNIT_ASSERT_FALSE(test, IS_ERR(task));
	get_task_struct(task);
	zapper = kthread_run(odp_zapper_fn, &z, "odp-kunit-zapper");
	if (IS_ERR(zapper)) {
		complete(&m.go);
		wait_for_completion(&m.done);
		put_task_struct(task);
		KUNIT_FAIL(test, "kthread_run: %ld", PTR_ERR(zapper));
		return;
	}

	mutex_lock(&odp->umem_mutex);
	complete(&m.go);
	/* The mapper faults the page in, then waits for the mutex. */
	blocked = odp_kunit_wait_blocked(task);
	/*
	 * Zap from the other thread: taking the mmap lock here, under
	 * umem_mutex, would invert the order invalidations use.
	 */
	WRITE_ONCE(ctx->test_holds_mutex, true);
	complete(&z.go);
	wait_for_completion(&z.done);
	WRITE_ONCE(ctx->test_holds_mutex, false);
	mutex_unlock(&odp->umem_mutex);
	wait_for_completion(&m.done);
	put_task_struct(task);

	KUNIT_EXPECT_TRUE(test, blocked);
	KUNIT_EXPECT_EQ(test, z.err, 0);
	KUNIT_EXPECT_EQ(test, m.ret, 1);
	KUNIT_EXPECT_NOT_NULL(test, m.mapped);
	KUNIT_EXPECT_PTR_EQ(test, m.published, m.mapped);
}

/*
 * The racer empties the range and writes its round number into every page,
 * round after round: a page that a round emptied holds older numbers only.
 */
struct odp_racer {
	struct mm_struct *mm;
	unsigned long addr;
	size_t len;
	atomic_t round;		/* last round whose DONTNEED returned */
	atomic_t stop;
	int err;
	struct completion exited;
};

static int odp_racer_fn(void *arg)
{
	struct odp_racer *r = arg;
	unsigned long off;
	u64 round;

	kthread_use_mm(r->mm);
	for (round = 1; !atomic_read(&r->stop); round++) {
		r->err = do_madvise(r->mm, r->addr, r->len, MADV_DONTNEED);
		if (r->err)
			break;
		atomic_set(&r->round, round);
		for (off = 0; off < r->len && !r->err; off += PAGE_SIZE)
			r->err = put_user(round, (u64 __user *)(r->addr + off));
		cond_resched();
	}
	kthread_unuse_mm(r->mm);
	complete(&r->exited);
	return 0;
}

/* Faults racing invalidations retry and never publish a stale page. */
static void odp_kunit_fault_race(struct kunit *test)
{
	const size_t n = 16;
	unsigned long addr = odp_kunit_anon(test, n, PROT_READ | PROT_WRITE);
	struct ib_umem_odp *odp = odp_kunit_get(test, addr, n * PAGE_SIZE, ODP_RW);
	unsigned long deadline = jiffies + 5 * HZ;
	unsigned int maps = 0, busy = 0, stale = 0, missing = 0;
	struct task_struct *task;
	struct odp_racer r = {
		.mm = current->mm, .addr = addr, .len = n * PAGE_SIZE,
	};
	size_t i;
	int ret = 0;

	init_completion(&r.exited);
	task = kthread_run(odp_racer_fn, &r, "odp-kunit-racer");
	KUNIT_ASSERT_FALSE(test, IS_ERR(task));

	/*
	 * No assertion until the racer is gone: it uses this thread's mm.
	 * The racer may start late (one CPU, or a busy one): go on until it
	 * has run some rounds too.
	 */
	while ((maps < 1000 || atomic_read(&r.round) < 20) &&
	       time_before(jiffies, deadline)) {
		u64 round;

		ret = ib_umem_odp_map_dma_and_lock(odp, addr, n * PAGE_SIZE,
						   ODP_R, true);
		if (ret == -EBUSY) {
			busy++;
			continue;
		}
		if (ret < 0)
			break;
		round = atomic_read(&r.round);
		for (i = 0; i < n; i++) {
			u64 v;

			if (!ib_umem_odp_entry(odp, i)) {
				missing++;
				continue;
			}
			v = READ_ONCE(*odp_kunit_page(odp, i));
			if (v && v < round)
				stale++;
		}
		mutex_unlock(&odp->umem_mutex);
		maps++;
		cond_resched();
	}
	atomic_set(&r.stop, 1);
	wait_for_completion(&r.exited);

	kunit_info(test, "%u maps, %u busy, %d racer rounds, %d invalidations\n",
		   maps, busy, atomic_read(&r.round),
		   atomic_read(&ctx_of(test)->invalidations));
	KUNIT_EXPECT_GE(test, ret, 0);
	KUNIT_EXPECT_EQ(test, r.err, 0);
	KUNIT_EXPECT_GT(test, maps, 0);
	KUNIT_EXPECT_GT(test, atomic_read(&ctx_of(test)->invalidations), 0);
	KUNIT_EXPECT_EQ(test, stale, 0);
	KUNIT_EXPECT_EQ(test, missing, 0);
}

/* Implicit children: made on demand, found again, released with the root. */
static void odp_kunit_implicit_children(struct kunit *test)
{
	unsigned long addr = odp_kunit_anon(test, 2, PROT_READ | PROT_WRITE);
	struct odp_kunit *ctx = ctx_of(test);
	struct ib_umem_odp *root, *child, *again, *next;
	unsigned long base = ALIGN_DOWN(addr, IB_UMEM_ODP_CHILD_SIZE);
	int before;

	root = ib_umem_odp_alloc_implicit(ctx->dev, ODP_RW);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, root);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, odp_kunit_release,
							   root));
	KUNIT_EXPECT_TRUE(test, root->is_implicit_odp);
	KUNIT_EXPECT_NULL(test, ib_umem_odp_find_child(root, addr));

	child = ib_umem_odp_get_child(root, addr, &odp_kunit_ops);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, child);
	child->private = ctx;
	KUNIT_EXPECT_EQ(test, ib_umem_start(child), base);
	KUNIT_EXPECT_EQ(test, ib_umem_end(child), base + IB_UMEM_ODP_CHILD_SIZE);
	KUNIT_EXPECT_PTR_EQ(test, ib_umem_odp_find_child(root, addr + PAGE_SIZE),
			    child);
	again = ib_umem_odp_get_child(root, base, &odp_kunit_ops);
	KUNIT_EXPECT_PTR_EQ(test, again, child);
	next = ib_umem_odp_get_child(root, base + IB_UMEM_ODP_CHILD_SIZE,
				     &odp_kunit_ops);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, next);
	next->private = ctx;
	KUNIT_EXPECT_PTR_NE(test, next, child);
	KUNIT_EXPECT_EQ(test, PTR_ERR(ib_umem_odp_get_child(root, TASK_SIZE,
							    &odp_kunit_ops)),
			-EFAULT);
	KUNIT_EXPECT_EQ(test, PTR_ERR(ib_umem_odp_alloc_child(child, addr, PAGE_SIZE,
							      &odp_kunit_ops)),
			-EINVAL);

	odp_kunit_poke(test, addr, 0xc41d);
	KUNIT_ASSERT_TRUE(test, odp_kunit_map(test, child, addr, 8, ODP_R, true, 1));
	KUNIT_EXPECT_EQ(test, *odp_kunit_page(child, ib_umem_odp_index(child, addr)),
			0xc41d);
	mutex_unlock(&child->umem_mutex);

	/* Released with the root: the children hear of nothing after that. */
	kunit_release_action(test, odp_kunit_release, root);
	before = atomic_read(&ctx->invalidations);
	KUNIT_ASSERT_EQ(test, 0, do_madvise(current->mm, addr, 2 * PAGE_SIZE,
					    MADV_DONTNEED));
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->invalidations), before);
}

/*
 * Drivers cut the address space into equal blocks (mlx5: 1 GiB), so the
 * top block's child reaches past the last user page. It is accepted, and
 * a fault above the top fails as in any hole.
 */
static void odp_kunit_child_top_block(struct kunit *test)
{
	unsigned long top = ALIGN_DOWN(TASK_SIZE - 1, SZ_1G);
	struct ib_umem_odp *root, *child;

	/* The test thread's mm comes with its first mapping. */
	odp_kunit_anon(test, 1, PROT_READ);
	root = ib_umem_odp_alloc_implicit(ctx_of(test)->dev, ODP_RW);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, root);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, odp_kunit_release,
							   root));
	child = ib_umem_odp_alloc_child(root, top, SZ_1G, &odp_kunit_ops);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, child);
	KUNIT_EXPECT_EQ(test, ib_umem_start(child), top);
	KUNIT_EXPECT_EQ(test, ib_umem_end(child), top + SZ_1G);
	KUNIT_EXPECT_GT(test, ib_umem_end(child), TASK_SIZE);
	KUNIT_EXPECT_EQ(test, odp_kunit_map_err(child, TASK_SIZE, 8, ODP_R, true),
			-EFAULT);
	KUNIT_EXPECT_EQ(test, child->npages, 0);
	ib_umem_odp_release(child);
}

/* Concurrent ib_umem_odp_get_child() on one block yields one child. */
struct odp_child_race {
	struct ib_umem_odp *root;
	unsigned long addr;
	struct ib_umem_odp *got;
	struct completion done;
};

static int odp_child_race_fn(void *arg)
{
	struct odp_child_race *c = arg;

	c->got = ib_umem_odp_get_child(c->root, c->addr, &odp_kunit_ops);
	complete(&c->done);
	return 0;
}

static void odp_kunit_implicit_child_race(struct kunit *test)
{
	unsigned long addr = odp_kunit_anon(test, 1, PROT_READ | PROT_WRITE);
	struct odp_child_race c = { .addr = addr };
	struct ib_umem_odp *root, *mine;
	struct task_struct *task;

	root = ib_umem_odp_alloc_implicit(ctx_of(test)->dev, ODP_RW);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, root);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, odp_kunit_release,
							   root));
	c.root = root;
	init_completion(&c.done);
	task = kthread_run(odp_child_race_fn, &c, "odp-kunit-child");
	KUNIT_ASSERT_FALSE(test, IS_ERR(task));
	mine = ib_umem_odp_get_child(root, addr, &odp_kunit_ops);
	wait_for_completion(&c.done);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, mine);
	KUNIT_EXPECT_PTR_EQ(test, c.got, mine);
	KUNIT_EXPECT_PTR_EQ(test, ib_umem_odp_find_child(root, addr), mine);
}

/* A process's umems, built in a thread that lends them its mm. */
struct odp_exit_case {
	struct ib_device *dev;
	struct odp_kunit *ctx;
	struct mm_struct *mm;
	unsigned long addr;
	struct ib_umem_odp *odp;
	struct ib_umem_odp *root;
	int mapped;
	struct completion done;
};

static int odp_exit_worker(void *arg)
{
	struct odp_exit_case *c = arg;

	kthread_use_mm(c->mm);
	c->addr = vm_mmap(NULL, 0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, 0);
	if (IS_ERR_VALUE(c->addr))
		goto out;
	c->odp = ib_umem_odp_get(c->dev, c->addr, 4 * PAGE_SIZE, ODP_RW,
				 &odp_kunit_ops);
	c->root = ib_umem_odp_alloc_implicit(c->dev, ODP_RW);
	if (IS_ERR(c->odp))
		goto out;
	c->odp->private = c->ctx;
	c->mapped = ib_umem_odp_map_dma_and_lock(c->odp, c->addr, 4 * PAGE_SIZE,
						 ODP_R | ODP_W, true);
	if (c->mapped > 0)
		mutex_unlock(&c->odp->umem_mutex);
out:
	kthread_unuse_mm(c->mm);
	complete(&c->done);
	return 0;
}

/* After the last user of the mm is gone, umems fail cleanly and free. */
static void odp_kunit_release_after_exit(struct kunit *test)
{
	struct odp_exit_case c = { .dev = ctx_of(test)->dev, .ctx = ctx_of(test) };
	struct task_struct *task;
	int before;

	c.mm = mm_alloc();
	KUNIT_ASSERT_NOT_NULL(test, c.mm);
	c.mm->task_size = TASK_SIZE;
	arch_pick_mmap_layout(c.mm, &current->signal->rlim[RLIMIT_STACK]);
	init_completion(&c.done);
	task = kthread_run(odp_exit_worker, &c, "odp-kunit-exit");
	if (IS_ERR(task)) {
		mmput(c.mm);
		KUNIT_FAIL(test, "kthread_run: %ld", PTR_ERR(task));
		return;
	}
	wait_for_completion(&c.done);
	if (!IS_ERR_OR_NULL(c.odp))
		kunit_add_action(test, odp_kunit_release, c.odp);
	if (!IS_ERR_OR_NULL(c.root))
		kunit_add_action(test, odp_kunit_release, c.root);
	before = atomic_read(&ctx_of(test)->invalidations);
	/* The process exits: its mm's last user goes. */
	mmput(c.mm);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(c.addr));
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, c.odp);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, c.root);
	KUNIT_EXPECT_EQ(test, c.mapped, 4);

	KUNIT_EXPECT_GT(test, atomic_read(&ctx_of(test)->invalidations), before);
	KUNIT_EXPECT_EQ(test, c.odp->npages, 0);
	KUNIT_EXPECT_EQ(test, odp_kunit_map_err(c.odp, c.addr, 8, ODP_R, true),
			-ESRCH);
	KUNIT_EXPECT_EQ(test, PTR_ERR(ib_umem_odp_get_child(c.root, c.addr,
							    &odp_kunit_ops)),
			-ESRCH);
	kunit_release_action(test, odp_kunit_release, c.odp);
	kunit_release_action(test, odp_kunit_release, c.root);
}

/* Bytes behind a kvmalloc()ed pointer; 0 for NULL. */
static size_t odp_kunit_alloc_size(const void *p)
{
	if (!p)
		return 0;
	if (is_vmalloc_addr(p))
		return get_vm_area_size(find_vm_area(p));
	return ksize(p);
}

/* Bytes of translation table the umem holds now. */
static size_t odp_kunit_entry_bytes(struct ib_umem_odp *odp)
{
	size_t bytes = odp_kunit_alloc_size(odp->leaves), i, n;

	n = DIV_ROUND_UP(ib_umem_odp_num_pages(odp), IB_UMEM_ODP_LEAF_ENTRIES);
	for (i = 0; odp->leaves && i < n; i++)
		bytes += odp_kunit_alloc_size(odp->leaves[i]);
	return bytes;
}

/*
 * Per-page cost of an explicit umem, measured on the umem's own table
 * (a global count would move with every other vmalloc user): registering
 * 4 GiB allocates nothing; a fault allocates the table, a small fraction
 * of a byte per page, and the one leaf it lands in; a fault 1 GiB away
 * one more leaf.
 */
static void odp_kunit_overhead(struct kunit *test)
{
	const size_t len = 4UL << 30;
	struct ib_umem_odp *odp;
	unsigned long addr;
	size_t pages, registered, bytes, leaf;

	addr = odp_kunit_mmap(test, NULL, len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
	odp = odp_kunit_get(test, addr, len, ODP_RW);
	registered = odp_kunit_entry_bytes(odp);
	if (odp_kunit_map(test, odp, addr, 8, ODP_R, true, 1))
		mutex_unlock(&odp->umem_mutex);
	bytes = odp_kunit_entry_bytes(odp);
	pages = ib_umem_odp_num_pages(odp);
	kunit_info(test, "%zu pages: registration %zu bytes, first fault %zu bytes of entries, %zu.%02zu bytes per page\n",
		   pages, registered, bytes, bytes / pages,
		   (bytes % pages) * 100 / pages);
	KUNIT_EXPECT_EQ(test, registered, 0);
	KUNIT_EXPECT_GT(test, bytes, 0);
	KUNIT_EXPECT_LE(test, bytes, pages / 32);
	leaf = bytes - odp_kunit_alloc_size(odp->leaves);
	if (odp_kunit_map(test, odp, addr + SZ_1G, 8, ODP_R, true, 1))
		mutex_unlock(&odp->umem_mutex);
	KUNIT_EXPECT_EQ(test, odp_kunit_entry_bytes(odp), bytes + leaf);
}

/* Holds a umem's mutex on a worker until told to let go. */
struct odp_kunit_holder {
	struct work_struct work;
	struct ib_umem_odp *odp;
	struct completion held, release;
};

static void odp_kunit_hold(struct work_struct *work)
{
	struct odp_kunit_holder *h = container_of(work, struct odp_kunit_holder,
						  work);

	mutex_lock(&h->odp->umem_mutex);
	complete(&h->held);
	wait_for_completion(&h->release);
	mutex_unlock(&h->odp->umem_mutex);
}

/*
 * The OOM reaper invalidates without sleeping. While another task holds
 * umem_mutex (a copy in progress), its invalidation must fail (the reaper
 * tries again later) and leave every translation; once the mutex is free,
 * the retry drops them.
 */
static void odp_kunit_nonblock_retry(struct kunit *test)
{
	const size_t n = 4;
	struct odp_kunit_holder h = {};
	struct mmu_notifier_range range;
	unsigned long addr;

	addr = odp_kunit_anon(test, n, PROT_READ | PROT_WRITE);
	h.odp = odp_kunit_get(test, addr, n * PAGE_SIZE, ODP_RW);
	KUNIT_ASSERT_TRUE(test, odp_kunit_map(test, h.odp, addr, n * PAGE_SIZE,
					      ODP_R, true, n));
	mutex_unlock(&h.odp->umem_mutex);
	init_completion(&h.held);
	init_completion(&h.release);
	INIT_WORK_ONSTACK(&h.work, odp_kunit_hold);
	schedule_work(&h.work);
	wait_for_completion(&h.held);
	mmu_notifier_range_init(&range, MMU_NOTIFY_UNMAP, 0,
				h.odp->umem.owning_mm, addr, addr + n * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, mmu_notifier_invalidate_range_start_nonblock(&range),
			-EAGAIN);
	KUNIT_EXPECT_EQ(test, h.odp->npages, n);
	complete(&h.release);
	flush_work(&h.work);
	destroy_work_on_stack(&h.work);
	KUNIT_EXPECT_EQ(test, mmu_notifier_invalidate_range_start_nonblock(&range),
			0);
	mmu_notifier_invalidate_range_end(&range);
	KUNIT_EXPECT_EQ(test, h.odp->npages, 0);
}

static struct kunit_case odp_kunit_cases[] = {
	KUNIT_CASE(odp_kunit_shift_default),
	KUNIT_CASE(odp_kunit_shift_hugetlb),
	KUNIT_CASE(odp_kunit_shift_hugetlb_refused),
	KUNIT_CASE(odp_kunit_get_bad_input),
	KUNIT_CASE(odp_kunit_index_edges),
	KUNIT_CASE(odp_kunit_map_bad_args),
	KUNIT_CASE(odp_kunit_map_empty),
	KUNIT_CASE(odp_kunit_map_then_unmap),
	KUNIT_CASE(odp_kunit_map_snapshot),
	KUNIT_CASE(odp_kunit_dirty_only_writable),
	KUNIT_CASE(odp_kunit_fault_refused),
	KUNIT_CASE(odp_kunit_invalidation_exact),
	KUNIT_CASE(odp_kunit_fault_retries),
	KUNIT_CASE(odp_kunit_fault_race),
	KUNIT_CASE(odp_kunit_implicit_children),
	KUNIT_CASE(odp_kunit_child_top_block),
	KUNIT_CASE(odp_kunit_implicit_child_race),
	KUNIT_CASE(odp_kunit_release_after_exit),
	KUNIT_CASE(odp_kunit_overhead),
	KUNIT_CASE(odp_kunit_nonblock_retry),
	{}
};

static struct kunit_suite odp_kunit_suite = {
	.name = "umem_odp",
	.init = odp_kunit_init,
	.test_cases = odp_kunit_cases,
};

kunit_test_suite(odp_kunit_suite);

MODULE_DESCRIPTION("KUnit tests for ODP user memory");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
