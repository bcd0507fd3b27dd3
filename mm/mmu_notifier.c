// SPDX-License-Identifier: GPL-2.0-only
/*
 * MMU notifier core.
 *
 * A secondary MMU (a device, a hypervisor's shadow page tables, an RDMA NIC
 * with on-demand paging) caches translations of a process's address space.
 * The core VM calls in here before it changes that address space, and the
 * calls fan out to the subscribers of the mm:
 *
 *  - classic subscribers (struct mmu_notifier) get every callback for the
 *    whole mm: invalidate_range_start/end, the young queries, the secondary
 *    TLB flush and release. They sit on an SRCU-protected list.
 *
 *  - interval subscribers (struct mmu_interval_notifier) cover one range
 *    each and only hear about invalidations that overlap it. They sit in an
 *    interval tree that is only changed while no invalidation is walking it,
 *    so the walk needs no lock at all.
 *
 * Interval subscribers build on a per-mm sequence number. It turns odd
 * when an invalidation overlaps a subscriber, or a subscriber is inserted
 * while invalidations are in progress, and stays odd until no invalidation
 * is left between its start and its end: every invalidation in progress
 * meanwhile shares that one odd value (one "window"), and the number
 * advances again when the last of them ends. An invalidation that
 * overlaps no subscriber does not open a window by itself, and walks no
 * tree. Each subscriber's invalidate callback records the
 * window's value in its invalidate_seq (mmu_interval_set_seq(), under the
 * driver's own lock). mmu_interval_read_begin() hands the driver the value
 * it must still see under that lock in mmu_interval_read_retry(); it waits
 * while the subscriber's range is part of the open window.
 *
 * Start/end pairing: every invalidate_range_start that returns 0 is
 * followed by exactly one invalidate_range_end from the caller. When a
 * non-blocking start fails part-way, this file ends every section it had
 * entered before returning the error, so the caller must not call end.
 */

#include <kunit/visibility.h>
#include <linux/interval_tree.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/rculist.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/srcu.h>
#include <linux/wait.h>

/* Readers of every mm's classic subscriber list. */
DEFINE_STATIC_SRCU(srcu);

#ifdef CONFIG_LOCKDEP
/*
 * Stands for "inside invalidate_range_start". Held across start in the
 * header's wrappers and across end here; taken briefly wherever a caller
 * may wait for an invalidation to finish, so lockdep sees both sides.
 */
struct lockdep_map __mmu_notifier_invalidate_range_start_map = {
	.name = "mmu_notifier_invalidate_range_start"
};
EXPORT_SYMBOL_IF_KUNIT(__mmu_notifier_invalidate_range_start_map);
#endif

/* A wait for the invalidations in flight is a wait on range_start. */
static void mn_assert_may_wait_for_invalidation(void)
{
	might_sleep();
	lock_map_acquire(&__mmu_notifier_invalidate_range_start_map);
	lock_map_release(&__mmu_notifier_invalidate_range_start_map);
}

/*
 * The per-mm subscription state, reached through mm->notifier_subscriptions.
 * Allocated by the first registration, freed when the mm itself is freed.
 */
struct mmu_notifier_subscriptions {
	/* Classic subscribers; changed under @lock, read under srcu. */
	struct hlist_head classic;
	/* Guards the classic list's writers and every field below. */
	spinlock_t lock;

	/*
	 * Set once, under mm_take_all_locks(), by the first interval
	 * subscriber. While it is false the tree is skipped entirely; it can
	 * only flip while no invalidation is in progress, so a start and its
	 * end always agree on whether the tree takes part.
	 */
	bool has_tree;

	/* Interval subscribers; see the comment at the top of the file. */
	struct rb_root_cached tree;
	unsigned long seq;		/* under @lock */
	unsigned int active;		/* invalidations in progress, under @lock */
	struct hlist_head deferred;	/* tree updates waiting for the window to close */
	wait_queue_head_t window_closed;
};

static struct mmu_notifier_subscriptions *mn_subs(struct mm_struct *mm)
{
	/* Pairs with the smp_store_release() in mn_publish(). */
	return smp_load_acquire(&mm->notifier_subscriptions);
}

static struct mmu_interval_notifier *to_interval_sub(struct interval_tree_node *node)
{
	return container_of(node, struct mmu_interval_notifier, interval_tree);
}

/* --- the interval tree's invalidation window --- */

static bool mn_window_open(struct mmu_notifier_subscriptions *subs)
{
	return subs->seq & 1;
}

/* Called under @lock. The window is open (odd) or opened here. */
static void mn_window_open_locked(struct mmu_notifier_subscriptions *subs)
{
	lockdep_assert_held(&subs->lock);
	if (!mn_window_open(subs))
		WRITE_ONCE(subs->seq, subs->seq + 1);
}

/*
 * Count @range in, and look up the first subscriber it overlaps. One that
 * overlaps a subscriber opens the window (or joins the open one) in the
 * same critical section as the lookup, so the tree it goes on to walk is
 * frozen from the lookup on. One that overlaps nobody walks nothing and
 * opens no window: it is only counted, which is enough for an insert to
 * open the window and wait for it (mn_interval_add()). Returns the first
 * node; @seq is the window's value when there is one, else unused.
 */
static struct interval_tree_node *
mn_window_enter(struct mmu_notifier_subscriptions *subs,
		const struct mmu_notifier_range *range, unsigned long *seq)
{
	struct interval_tree_node *node;

	spin_lock(&subs->lock);
	subs->active++;
	node = interval_tree_iter_first(&subs->tree, range->start, range->end - 1);
	if (node)
		mn_window_open_locked(subs);
	*seq = subs->seq;
	spin_unlock(&subs->lock);
	return node;
}

/*
 * Tree updates requested while the window was open. A deferred entry that
 * is not in the tree yet is an insert; one that is, a removal.
 */
static void mn_apply_deferred(struct mmu_notifier_subscriptions *subs)
{
	struct mmu_interval_notifier *sub;
	struct hlist_node *tmp;

	lockdep_assert_held(&subs->lock);
	hlist_for_each_entry_safe(sub, tmp, &subs->deferred, deferred_item) {
		if (RB_EMPTY_NODE(&sub->interval_tree.rb))
			interval_tree_insert(&sub->interval_tree, &subs->tree);
		else
			interval_tree_remove(&sub->interval_tree, &subs->tree);
		hlist_del(&sub->deferred_item);
	}
}

/*
 * Count an invalidation out. The last one out closes the window if one was
 * opened, applies the deferred tree updates and wakes the waiters.
 */
static void mn_window_leave(struct mmu_notifier_subscriptions *subs)
{
	bool closed = false;

	spin_lock(&subs->lock);
	if (!--subs->active && mn_window_open(subs)) {
		WRITE_ONCE(subs->seq, subs->seq + 1);
		mn_apply_deferred(subs);
		closed = true;
	}
	spin_unlock(&subs->lock);
	/*
	 * Most windows close with nobody waiting; skip the wake-up's lock then.
	 * The full barrier in wq_has_sleeper() pairs with the one a waiter
	 * executes between queueing itself and re-reading the sequence.
	 */
	if (closed && wq_has_sleeper(&subs->window_closed))
		wake_up_all(&subs->window_closed);
}

/* True once the window whose value was @seq has closed. */
static bool mn_window_passed(struct mmu_notifier_subscriptions *subs,
			     unsigned long seq)
{
	/* Written under the lock; mn_window_leave() orders it with waiters. */
	return READ_ONCE(subs->seq) != seq;
}

static bool mn_call_interval(struct mmu_interval_notifier *sub,
			     const struct mmu_notifier_range *range,
			     unsigned long seq)
{
	bool ok;

	if (mmu_notifier_range_blockable(range))
		return sub->ops->invalidate(sub, range, seq);
	non_block_start();
	ok = sub->ops->invalidate(sub, range, seq);
	non_block_end();
	return ok;
}

/*
 * Tell every interval subscriber overlapping @range. On success @range
 * stays counted in (and the window, if open, stays open) until
 * mn_tree_end(); on failure (only allowed when the range is not
 * blockable) it has been counted out again.
 */
static int mn_tree_start(struct mmu_notifier_subscriptions *subs,
			 const struct mmu_notifier_range *range)
{
	struct interval_tree_node *node;
	unsigned long seq;

	/* Nobody changes the tree while the window is open: no lock needed. */
	for (node = mn_window_enter(subs, range, &seq); node;
	     node = interval_tree_iter_next(node, range->start, range->end - 1)) {
		if (mn_call_interval(to_interval_sub(node), range, seq))
			continue;
		if (WARN_ON(mmu_notifier_range_blockable(range)))
			continue;
		mn_window_leave(subs);
		return -EAGAIN;
	}
	return 0;
}

static void mn_tree_end(struct mmu_notifier_subscriptions *subs)
{
	mn_window_leave(subs);
}

/* --- classic subscribers --- */

static bool mn_classic_empty(struct mmu_notifier_subscriptions *subs)
{
	return hlist_empty(&subs->classic);
}

#define for_each_classic(sub, subs)					\
	hlist_for_each_entry_srcu(sub, &(subs)->classic, hlist,	\
				  srcu_read_lock_held(&srcu))

static int mn_call_start(struct mmu_notifier *sub,
			 const struct mmu_notifier_range *range)
{
	int ret;

	if (mmu_notifier_range_blockable(range))
		return sub->ops->invalidate_range_start(sub, range);
	non_block_start();
	ret = sub->ops->invalidate_range_start(sub, range);
	non_block_end();
	return ret;
}

static void mn_call_end(struct mmu_notifier *sub,
			const struct mmu_notifier_range *range)
{
	if (!sub->ops->invalidate_range_end)
		return;
	if (mmu_notifier_range_blockable(range)) {
		sub->ops->invalidate_range_end(sub, range);
		return;
	}
	non_block_start();
	sub->ops->invalidate_range_end(sub, range);
	non_block_end();
}

/*
 * A start failed. Only a non-blocking start may fail, only with -EAGAIN,
 * and a subscriber that can fail must not expect an end: with several
 * subscribers it could not know whether its end belongs to a start that
 * ran. Returns whether the failure stands.
 */
static bool mn_start_failed(struct mmu_notifier *sub,
			    const struct mmu_notifier_range *range, int ret)
{
	pr_info("%ps callback failed with %d in %sblockable context\n",
		sub->ops->invalidate_range_start, ret,
		mmu_notifier_range_blockable(range) ? "" : "non-");
	WARN_ON(ret != -EAGAIN);
	WARN_ON(sub->ops->invalidate_range_end);
	return !WARN_ON(mmu_notifier_range_blockable(range));
}

/*
 * The classic subscribers one non-blocking start has started. Only such a
 * start can fail, and then exactly these must be ended. Neither list order
 * nor the failing subscriber's identity tells which they are: any of them,
 * the failing one included, may be unlinked meanwhile (mmu_notifier_put()
 * takes no mmap lock). None can be added: registering takes the mmap lock
 * for writing, and non-blocking invalidations (the OOM reaper) hold it for
 * reading.
 */
#define MN_STARTED_MAX	16

struct mn_started {
	struct mmu_notifier *sub[MN_STARTED_MAX];
	unsigned int n;
};

static void mn_end_started(const struct mn_started *started,
			   const struct mmu_notifier_range *range)
{
	unsigned int i;

	for (i = 0; i < started->n; i++)
		mn_call_end(started->sub[i], range);
}

static int mn_classic_start(struct mmu_notifier_subscriptions *subs,
			    const struct mmu_notifier_range *range)
{
	bool may_fail = !mmu_notifier_range_blockable(range);
	struct mn_started started = { .n = 0 };
	struct mmu_notifier *sub;
	int id, ret = 0;

	id = srcu_read_lock(&srcu);
	for_each_classic(sub, subs) {
		if (!sub->ops->invalidate_range_start)
			continue;
		/*
		 * More subscribers than can be tracked: give up as a failing
		 * subscriber would, which a non-blocking caller must expect.
		 */
		if (may_fail && started.n == MN_STARTED_MAX) {
			ret = -EAGAIN;
			break;
		}
		ret = mn_call_start(sub, range);
		if (ret && mn_start_failed(sub, range, ret))
			break;
		ret = 0;
		if (may_fail)
			started.sub[started.n++] = sub;
	}
	if (ret)
		mn_end_started(&started, range);
	srcu_read_unlock(&srcu, id);
	return ret;
}

static void mn_classic_end(struct mmu_notifier_subscriptions *subs,
			   const struct mmu_notifier_range *range)
{
	struct mmu_notifier *sub;
	int id;

	id = srcu_read_lock(&srcu);
	for_each_classic(sub, subs)
		mn_call_end(sub, range);
	srcu_read_unlock(&srcu, id);
}

/*
 * --- entry points from the core VM (through the header's wrappers) ---
 *
 * Only built-in code calls them, except the KUnit suite built as a
 * module: exported to it alone.
 */

int __mmu_notifier_invalidate_range_start(struct mmu_notifier_range *range)
{
	struct mmu_notifier_subscriptions *subs = mn_subs(range->mm);
	int ret;

	if (subs->has_tree) {
		ret = mn_tree_start(subs, range);
		if (ret)
			return ret;
	}
	if (!mn_classic_empty(subs)) {
		ret = mn_classic_start(subs, range);
		if (ret) {
			if (subs->has_tree)
				mn_tree_end(subs);
			return ret;
		}
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(__mmu_notifier_invalidate_range_start);

void __mmu_notifier_invalidate_range_end(struct mmu_notifier_range *range)
{
	struct mmu_notifier_subscriptions *subs = mn_subs(range->mm);

	lock_map_acquire(&__mmu_notifier_invalidate_range_start_map);
	if (subs->has_tree)
		mn_tree_end(subs);
	if (!mn_classic_empty(subs))
		mn_classic_end(subs, range);
	lock_map_release(&__mmu_notifier_invalidate_range_start_map);
}
EXPORT_SYMBOL_IF_KUNIT(__mmu_notifier_invalidate_range_end);

void __mmu_notifier_arch_invalidate_secondary_tlbs(struct mm_struct *mm,
						   unsigned long start,
						   unsigned long end)
{
	struct mmu_notifier_subscriptions *subs = mn_subs(mm);
	struct mmu_notifier *sub;
	int id;

	if (mn_classic_empty(subs))
		return;
	id = srcu_read_lock(&srcu);
	for_each_classic(sub, subs)
		if (sub->ops->arch_invalidate_secondary_tlbs)
			sub->ops->arch_invalidate_secondary_tlbs(sub, mm, start, end);
	srcu_read_unlock(&srcu, id);
}
EXPORT_SYMBOL_IF_KUNIT(__mmu_notifier_arch_invalidate_secondary_tlbs);

/* Which of the three accessed-bit callbacks an aging query goes to. */
enum mn_age_op { MN_CLEAR_FLUSH_YOUNG, MN_CLEAR_YOUNG, MN_TEST_YOUNG };

static int mn_age_one(struct mmu_notifier *sub, struct mm_struct *mm,
		      enum mn_age_op op, unsigned long start, unsigned long end)
{
	const struct mmu_notifier_ops *ops = sub->ops;

	switch (op) {
	case MN_CLEAR_FLUSH_YOUNG:
		return ops->clear_flush_young ? ops->clear_flush_young(sub, mm, start, end) : 0;
	case MN_CLEAR_YOUNG:
		return ops->clear_young ? ops->clear_young(sub, mm, start, end) : 0;
	case MN_TEST_YOUNG:
		return ops->test_young ? ops->test_young(sub, mm, start) : 0;
	}
	return 0;
}

/*
 * Clearing queries every subscriber (each must clear its own bits);
 * testing stops at the first that saw an access.
 */
static int mn_age(struct mm_struct *mm, enum mn_age_op op,
		  unsigned long start, unsigned long end)
{
	struct mmu_notifier_subscriptions *subs = mn_subs(mm);
	struct mmu_notifier *sub;
	int id, young = 0;

	if (mn_classic_empty(subs))
		return 0;
	id = srcu_read_lock(&srcu);
	for_each_classic(sub, subs) {
		young |= mn_age_one(sub, mm, op, start, end);
		if (young && op == MN_TEST_YOUNG)
			break;
	}
	srcu_read_unlock(&srcu, id);
	return young;
}

int __mmu_notifier_clear_flush_young(struct mm_struct *mm,
				     unsigned long start, unsigned long end)
{
	return mn_age(mm, MN_CLEAR_FLUSH_YOUNG, start, end);
}
EXPORT_SYMBOL_IF_KUNIT(__mmu_notifier_clear_flush_young);

int __mmu_notifier_clear_young(struct mm_struct *mm,
			       unsigned long start, unsigned long end)
{
	return mn_age(mm, MN_CLEAR_YOUNG, start, end);
}
EXPORT_SYMBOL_IF_KUNIT(__mmu_notifier_clear_young);

int __mmu_notifier_test_young(struct mm_struct *mm, unsigned long address)
{
	return mn_age(mm, MN_TEST_YOUNG, address, address + 1);
}
EXPORT_SYMBOL_IF_KUNIT(__mmu_notifier_test_young);

/* --- teardown of the address space --- */

/*
 * Interval subscribers see the whole address space go away as one
 * invalidation, so they drop everything before the pages are freed.
 */
static void mn_tree_release(struct mmu_notifier_subscriptions *subs,
			    struct mm_struct *mm)
{
	struct mmu_notifier_range everything;

	mmu_notifier_range_init(&everything, MMU_NOTIFY_RELEASE,
				MMU_NOTIFIER_RANGE_BLOCKABLE, mm, 0, ULONG_MAX);
	WARN_ON(mn_tree_start(subs, &everything));
	mn_tree_end(subs);
}

static void mn_call_release(struct mmu_notifier *sub, struct mm_struct *mm)
{
	if (sub->ops->release)
		sub->ops->release(sub, mm);
}

/*
 * Every classic subscriber's ->release runs while it is still on the list,
 * so invalidations from reclaim or migration still reach it until its
 * secondary mappings are gone; only then are all taken off the list.
 */
static void mn_classic_release(struct mmu_notifier_subscriptions *subs,
			       struct mm_struct *mm)
{
	struct mmu_notifier *sub;
	int id = srcu_read_lock(&srcu);

	for_each_classic(sub, subs)
		mn_call_release(sub, mm);
	srcu_read_unlock(&srcu, id);

	spin_lock(&subs->lock);
	while (!hlist_empty(&subs->classic)) {
		sub = hlist_entry(subs->classic.first, struct mmu_notifier, hlist);
		hlist_del_init_rcu(&sub->hlist);
	}
	spin_unlock(&subs->lock);

	/*
	 * A ->release called by a racing mmu_notifier_unregister() may still
	 * run; exit_mmap() must not free the pages under it.
	 */
	synchronize_srcu(&srcu);
}

void __mmu_notifier_release(struct mm_struct *mm)
{
	struct mmu_notifier_subscriptions *subs = mn_subs(mm);

	if (subs->has_tree)
		mn_tree_release(subs, mm);
	if (!mn_classic_empty(subs))
		mn_classic_release(subs, mm);
}

void __mmu_notifier_subscriptions_destroy(struct mm_struct *mm)
{
	struct mmu_notifier_subscriptions *subs = mm->notifier_subscriptions;

	/* Every subscriber holds a reference on the mm until it is gone. */
	WARN_ON(!hlist_empty(&subs->classic));
	WARN_ON(!RB_EMPTY_ROOT(&subs->tree.rb_root));
	kfree(subs);
	mm->notifier_subscriptions = NULL;
}

/* --- registration --- */

static struct mmu_notifier_subscriptions *mn_subs_alloc(void)
{
	struct mmu_notifier_subscriptions *subs;

	subs = kzalloc(sizeof(*subs), GFP_KERNEL);
	if (!subs)
		return NULL;
	INIT_HLIST_HEAD(&subs->classic);
	spin_lock_init(&subs->lock);
	subs->tree = RB_ROOT_CACHED;
	/* Even: no window open. Subscribers start at seq - 1, a past window. */
	subs->seq = 2;
	INIT_HLIST_HEAD(&subs->deferred);
	init_waitqueue_head(&subs->window_closed);
	return subs;
}

static void mn_publish(struct mm_struct *mm, struct mmu_notifier_subscriptions *subs)
{
	/* Initialised before visible: pairs with smp_load_acquire() in mn_subs(). */
	smp_store_release(&mm->notifier_subscriptions, subs);
}

/* Ops that flush secondary TLBs themselves must not also bracket ranges. */
static bool mn_ops_valid(const struct mmu_notifier_ops *ops)
{
	if (ops->arch_invalidate_secondary_tlbs &&
	    (ops->invalidate_range_start || ops->invalidate_range_end)) {
		pr_err("mmu_notifier: %ps: arch_invalidate_secondary_tlbs cannot be combined with invalidate_range_start/end\n",
		       ops);
		return false;
	}
	return true;
}

/*
 * Invalidations happen in reclaim: teach lockdep once that reclaim leads
 * into invalidate_range_start, so a subscriber's lock that is also held
 * around a GFP_KERNEL allocation is reported.
 */
static void mn_prime_lockdep(void)
{
	if (!IS_ENABLED(CONFIG_LOCKDEP))
		return;
	fs_reclaim_acquire(GFP_KERNEL);
	lock_map_acquire(&__mmu_notifier_invalidate_range_start_map);
	lock_map_release(&__mmu_notifier_invalidate_range_start_map);
	fs_reclaim_release(GFP_KERNEL);
}

/**
 * __mmu_notifier_register() - subscribe to an mm, mmap_lock held for write
 * @subscription: the classic subscriber, or NULL to prepare @mm for
 *                interval subscribers
 * @mm: the address space; the caller holds a user reference (mm_users)
 *
 * Like mmu_notifier_register(), for callers that already hold the mmap
 * lock for writing. On success the subscriber holds a reference on the
 * mm_struct (mmgrab) until it is unregistered or put.
 *
 * Return: 0, -EINVAL for invalid ops, -ENOMEM, or -EINTR when a fatal
 * signal interrupted mm_take_all_locks().
 */
int __mmu_notifier_register(struct mmu_notifier *subscription,
			    struct mm_struct *mm)
{
	struct mmu_notifier_subscriptions *subs = NULL;
	int ret;

	mmap_assert_write_locked(mm);
	if (WARN_ON_ONCE(atomic_read(&mm->mm_users) <= 0))
		return -EINVAL;
	if (subscription && !mn_ops_valid(subscription->ops))
		return -EINVAL;

	mn_prime_lockdep();

	if (!mm->notifier_subscriptions) {
		subs = mn_subs_alloc();
		if (!subs)
			return -ENOMEM;
	}

	/*
	 * With every rmap lock and the mmap lock held, no invalidation is
	 * between its start and end: a new subscriber (or the tree coming
	 * into use) can never see an end without its start.
	 */
	ret = mm_take_all_locks(mm);
	if (unlikely(ret)) {
		kfree(subs);
		return ret;
	}

	if (subs)
		mn_publish(mm, subs);
	subs = mm->notifier_subscriptions;

	if (subscription) {
		mmgrab(mm);
		subscription->mm = mm;
		subscription->users = 1;
		spin_lock(&subs->lock);
		hlist_add_head_rcu(&subscription->hlist, &subs->classic);
		spin_unlock(&subs->lock);
	} else {
		subs->has_tree = true;
	}

	mm_drop_all_locks(mm);
	return 0;
}
EXPORT_SYMBOL_GPL(__mmu_notifier_register);

/* Registration for callers that may or may not hold the mmap lock. */
static int mn_register(struct mmu_notifier *subscription, struct mm_struct *mm,
		       bool mmap_locked)
{
	int ret;

	if (mmap_locked)
		return __mmu_notifier_register(subscription, mm);
	mmap_write_lock(mm);
	ret = __mmu_notifier_register(subscription, mm);
	mmap_write_unlock(mm);
	return ret;
}

/**
 * mmu_notifier_register() - subscribe to every invalidation of an mm
 * @subscription: the subscriber, with ->ops set
 * @mm: the address space; the caller holds a user reference (mm_users)
 *
 * Once this returns, @subscription's callbacks run for every change to
 * @mm until mmu_notifier_unregister(), or until the mm exits, when
 * ->release is called. May sleep; takes the mmap lock for writing.
 *
 * Return: 0 or a negative errno (see __mmu_notifier_register()).
 */
int mmu_notifier_register(struct mmu_notifier *subscription, struct mm_struct *mm)
{
	return mn_register(subscription, mm, false);
}
EXPORT_SYMBOL_GPL(mmu_notifier_register);

/* The subscription for @ops with one more user, NULL, or -EOVERFLOW. */
static struct mmu_notifier *mn_find_shared(struct mmu_notifier_subscriptions *subs,
					   const struct mmu_notifier_ops *ops)
{
	struct mmu_notifier *sub, *found = NULL;

	spin_lock(&subs->lock);
	hlist_for_each_entry_rcu(sub, &subs->classic, hlist,
				 lockdep_is_held(&subs->lock)) {
		if (sub->ops == ops) {
			found = sub;
			break;
		}
	}
	if (found && found->users == UINT_MAX)
		found = ERR_PTR(-EOVERFLOW);
	else if (found)
		found->users++;
	spin_unlock(&subs->lock);
	return found;
}

static struct mmu_notifier *mn_create_shared(const struct mmu_notifier_ops *ops,
					     struct mm_struct *mm)
{
	struct mmu_notifier *sub = ops->alloc_notifier(mm);
	int ret;

	if (IS_ERR(sub))
		return sub;
	sub->ops = ops;
	ret = __mmu_notifier_register(sub, mm);
	if (!ret)
		return sub;
	ops->free_notifier(sub);
	return ERR_PTR(ret);
}

/**
 * mmu_notifier_get_locked() - find or create the subscription for @ops
 * @ops: the ops; must provide ->alloc_notifier and ->free_notifier
 * @mm: the address space, mmap lock held for writing
 *
 * One subscription per (@ops, @mm) pair is shared by every caller: an
 * existing one gains a user, otherwise ->alloc_notifier makes one and it
 * is registered. Each successful call is balanced by mmu_notifier_put().
 *
 * Return: the subscription, or an ERR_PTR().
 */
struct mmu_notifier *mmu_notifier_get_locked(const struct mmu_notifier_ops *ops,
					     struct mm_struct *mm)
{
	struct mmu_notifier *sub = NULL;

	mmap_assert_write_locked(mm);
	if (mm->notifier_subscriptions)
		sub = mn_find_shared(mm->notifier_subscriptions, ops);
	return sub ?: mn_create_shared(ops, mm);
}
EXPORT_SYMBOL_GPL(mmu_notifier_get_locked);

/**
 * mmu_notifier_unregister() - end a subscription made with
 *                             mmu_notifier_register()
 * @subscription: the subscriber
 * @mm: the address space it subscribed to
 *
 * Calls ->release unless the exiting mm already did, and returns only
 * when no callback of @subscription runs any more, so the caller may free
 * it. Not for subscriptions obtained with mmu_notifier_get_locked(). May
 * sleep.
 */
void mmu_notifier_unregister(struct mmu_notifier *subscription,
			     struct mm_struct *mm)
{
	struct mmu_notifier_subscriptions *subs = mn_subs(mm);
	int id;

	might_sleep();
	if (!hlist_unhashed(&subscription->hlist)) {
		/* The mm has not exited: tear down as exit would have. */
		id = srcu_read_lock(&srcu);
		mn_call_release(subscription, mm);
		srcu_read_unlock(&srcu, id);

		spin_lock(&subs->lock);
		hlist_del_init_rcu(&subscription->hlist);
		spin_unlock(&subs->lock);
	}

	/* Wait out every walker that may still call into @subscription. */
	synchronize_srcu(&srcu);
	mmdrop(mm);
}
EXPORT_SYMBOL_GPL(mmu_notifier_unregister);

static void mn_free_shared(struct rcu_head *rcu)
{
	struct mmu_notifier *sub = container_of(rcu, struct mmu_notifier, rcu);
	struct mm_struct *mm = sub->mm;

	sub->ops->free_notifier(sub);
	/* Last, so the mm outlives everything that might look at it. */
	mmdrop(mm);
}

/**
 * mmu_notifier_put() - drop a user of a subscription from
 *                      mmu_notifier_get_locked()
 * @subscription: the subscription
 *
 * The last put takes it off the mm and hands it to ->free_notifier once
 * no SRCU reader can reach it any more; that happens asynchronously, so
 * a module providing the ops must call mmu_notifier_synchronize() before
 * it is unloaded. ->release is not called: it already ran if the mm
 * exited, and otherwise the caller has no mappings left. Does not sleep.
 */
void mmu_notifier_put(struct mmu_notifier *subscription)
{
	struct mmu_notifier_subscriptions *subs = mn_subs(subscription->mm);

	spin_lock(&subs->lock);
	if (WARN_ON(!subscription->users) || --subscription->users) {
		spin_unlock(&subs->lock);
		return;
	}
	hlist_del_init_rcu(&subscription->hlist);
	spin_unlock(&subs->lock);

	call_srcu(&srcu, &subscription->rcu, mn_free_shared);
}
EXPORT_SYMBOL_GPL(mmu_notifier_put);

/**
 * mmu_notifier_synchronize() - wait for pending mmu_notifier_put() frees
 *
 * Returns once every ->free_notifier queued by mmu_notifier_put() has run.
 */
void mmu_notifier_synchronize(void)
{
	srcu_barrier(&srcu);
}
EXPORT_SYMBOL_GPL(mmu_notifier_synchronize);

/* --- interval subscribers --- */

/**
 * mmu_interval_read_begin() - start reading pages for an interval subscriber
 * @interval_sub: the subscriber
 *
 * Returns a sequence value to pass to mmu_interval_read_retry() (under the
 * lock the driver's invalidate callback also takes) once the pages have
 * been looked up. If an invalidation covering @interval_sub is in progress,
 * waits until it has ended: pages read before that could be stale.
 *
 *	again:
 *		seq = mmu_interval_read_begin(sub);
 *		... look up or fault the pages (hmm_range_fault()) ...
 *		lock(driver);
 *		if (mmu_interval_read_retry(sub, seq)) {
 *			unlock(driver);
 *			goto again;
 *		}
 *		... program the secondary MMU ...
 *		unlock(driver);
 *
 * Context: may sleep; must not be called with a lock held that the
 * driver's invalidate callback takes.
 * Return: the sequence value.
 */
unsigned long mmu_interval_read_begin(struct mmu_interval_notifier *interval_sub)
{
	struct mmu_notifier_subscriptions *subs = mn_subs(interval_sub->mm);
	unsigned long seq;
	bool in_window;

	mn_assert_may_wait_for_invalidation();

	/*
	 * The subscriber's seq equals the open window's value exactly when
	 * the window's invalidations reached it (or it was inserted into the
	 * window). Any other value is safe to hand out: an invalidation that
	 * reaches it later stores a different one, which read_retry sees.
	 */
	spin_lock(&subs->lock);
	seq = interval_sub->invalidate_seq;
	in_window = mn_window_open(subs) && seq == subs->seq;
	spin_unlock(&subs->lock);

	if (in_window)
		wait_event(subs->window_closed, mn_window_passed(subs, seq));
	return seq;
}
EXPORT_SYMBOL_GPL(mmu_interval_read_begin);

static int mn_interval_bounds(unsigned long start, unsigned long length,
			      unsigned long *last)
{
	if (!length)
		return -EINVAL;
	if (check_add_overflow(start, length - 1, last))
		return -EOVERFLOW;
	return 0;
}

/*
 * Put @sub into the tree, or queue it while invalidations are in progress.
 * Those that overlapped nobody did not open the window, but may already be
 * changing pages in @sub's range; so an insert among them opens it, and
 * @sub starts with the window's value: its first read_begin waits for the
 * window to close. (Testing @active rather than the window is what lets an
 * invalidation that overlaps nobody leave the window closed.)
 */
static void mn_interval_add(struct mmu_notifier_subscriptions *subs,
			    struct mmu_interval_notifier *sub)
{
	spin_lock(&subs->lock);
	if (subs->active) {
		mn_window_open_locked(subs);
		sub->invalidate_seq = subs->seq;
		hlist_add_head(&sub->deferred_item, &subs->deferred);
	} else {
		sub->invalidate_seq = subs->seq - 1;
		interval_tree_insert(&sub->interval_tree, &subs->tree);
	}
	spin_unlock(&subs->lock);
}

static int mn_interval_insert(struct mmu_interval_notifier *sub,
			      struct mm_struct *mm, unsigned long start,
			      unsigned long length,
			      const struct mmu_interval_notifier_ops *ops,
			      bool locked)
{
	struct mmu_notifier_subscriptions *subs;
	unsigned long last;
	int ret;

	ret = mn_interval_bounds(start, length, &last);
	if (ret)
		return ret;
	/*
	 * Only a live address space can still be torn down, and the teardown
	 * is what tells a subscriber the mm is gone: one inserted after it
	 * would never hear of it. The caller's user reference guarantees a
	 * live mm; without one the insert is refused.
	 */
	if (atomic_read(&mm->mm_users) <= 0)
		return -EINVAL;

	subs = mn_subs(mm);
	if (!subs || !subs->has_tree) {
		ret = mn_register(NULL, mm, locked);
		if (ret)
			return ret;
		subs = mn_subs(mm);
	}

	sub->mm = mm;
	sub->ops = ops;
	sub->interval_tree.start = start;
	sub->interval_tree.last = last;
	RB_CLEAR_NODE(&sub->interval_tree.rb);
	INIT_HLIST_NODE(&sub->deferred_item);
	mmgrab(mm);
	mn_interval_add(subs, sub);
	return 0;
}

/**
 * mmu_interval_notifier_insert() - subscribe to invalidations of a range
 * @interval_sub: the subscriber to fill in
 * @mm: the address space; the caller holds a user reference (mm_users)
 * @start: first address of the range
 * @length: length of the range in bytes
 * @ops: ->invalidate is called for every invalidation that overlaps
 *       [@start, @start + @length)
 *
 * Invalidations that started before this call are not reported to
 * @interval_sub, but mmu_interval_read_begin() waits for them. The
 * subscriber holds a reference on the mm_struct until it is removed.
 * May sleep; takes the mmap lock for writing on the first insert into @mm.
 *
 * Return: 0, -EINVAL for a zero @length or an @mm without users,
 * -EOVERFLOW for a range that wraps the address space,
 * or an errno from mmu_notifier_register().
 */
int mmu_interval_notifier_insert(struct mmu_interval_notifier *interval_sub,
				 struct mm_struct *mm, unsigned long start,
				 unsigned long length,
				 const struct mmu_interval_notifier_ops *ops)
{
	might_lock(&mm->mmap_lock);
	return mn_interval_insert(interval_sub, mm, start, length, ops, false);
}
EXPORT_SYMBOL_GPL(mmu_interval_notifier_insert);

/**
 * mmu_interval_notifier_insert_locked() - mmu_interval_notifier_insert()
 *                                         with the mmap lock held
 * @interval_sub: the subscriber to fill in
 * @mm: the address space, mmap lock held for writing
 * @start: first address of the range
 * @length: length of the range in bytes
 * @ops: the subscriber's ops
 *
 * Return: as mmu_interval_notifier_insert().
 */
int mmu_interval_notifier_insert_locked(struct mmu_interval_notifier *interval_sub,
					struct mm_struct *mm, unsigned long start,
					unsigned long length,
					const struct mmu_interval_notifier_ops *ops)
{
	mmap_assert_write_locked(mm);
	return mn_interval_insert(interval_sub, mm, start, length, ops, true);
}
EXPORT_SYMBOL_GPL(mmu_interval_notifier_insert_locked);

/**
 * mmu_interval_notifier_remove() - end an interval subscription
 * @interval_sub: the subscriber
 *
 * Returns once @interval_sub is out of the tree and its ->invalidate can
 * no longer be running or be called; the caller may then free it. If a
 * window is open the removal waits for it to close.
 *
 * Context: may sleep; must not be called from the subscriber's own
 * ->invalidate or with a lock held that ->invalidate takes.
 */
void mmu_interval_notifier_remove(struct mmu_interval_notifier *interval_sub)
{
	struct mm_struct *mm = interval_sub->mm;
	struct mmu_notifier_subscriptions *subs = mn_subs(mm);
	unsigned long wait_seq = 0;

	mn_assert_may_wait_for_invalidation();

	spin_lock(&subs->lock);
	if (!mn_window_open(subs)) {
		interval_tree_remove(&interval_sub->interval_tree, &subs->tree);
	} else if (RB_EMPTY_NODE(&interval_sub->interval_tree.rb)) {
		/* Its insert is still queued: never reached the tree. */
		hlist_del(&interval_sub->deferred_item);
	} else {
		hlist_add_head(&interval_sub->deferred_item, &subs->deferred);
		wait_seq = subs->seq;
	}
	spin_unlock(&subs->lock);

	if (wait_seq)
		wait_event(subs->window_closed, mn_window_passed(subs, wait_seq));

	mmdrop(mm);
}
EXPORT_SYMBOL_GPL(mmu_interval_notifier_remove);
