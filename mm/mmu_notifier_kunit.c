// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for the MMU notifier core (mm/mmu_notifier.c).
 *
 * Each case makes an mm_struct of its own (mm_alloc()), subscribes to it,
 * and drives invalidations either directly through the range_start/end
 * entry points or, where the VM's own call sites matter, through real
 * mappings (kunit_vm_mmap(), vm_munmap()). Helper threads stand in for a
 * second CPU where a case needs one side to block.
 */

#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mmu_notifier.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#define PG(n)	((unsigned long)(n) * PAGE_SIZE)

/* --- a test mm --- */

static void mnt_mmput(void *mm)
{
	mmput(mm);
}

/* A fresh mm with no VMAs; released (exit_mmap) when the case ends. */
static struct mm_struct *mnt_mm(struct kunit *test)
{
	struct mm_struct *mm = mm_alloc();

	KUNIT_ASSERT_NOT_NULL(test, mm);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, mnt_mmput, mm));
	return mm;
}

static int mnt_invalidate_flags(struct mm_struct *mm, unsigned long start,
				unsigned long end, bool blockable,
				struct mmu_notifier_range *range)
{
	mmu_notifier_range_init(range, MMU_NOTIFY_CLEAR, 0, mm, start, end);
	if (blockable) {
		mmu_notifier_invalidate_range_start(range);
		return 0;
	}
	return mmu_notifier_invalidate_range_start_nonblock(range);
}

static void mnt_start(struct mm_struct *mm, unsigned long start,
		      unsigned long end, struct mmu_notifier_range *range)
{
	mnt_invalidate_flags(mm, start, end, true, range);
}

/* One complete blockable invalidation of [start, end). */
static void mnt_invalidate(struct mm_struct *mm, unsigned long start,
			   unsigned long end)
{
	struct mmu_notifier_range range;

	mnt_start(mm, start, end, &range);
	mmu_notifier_invalidate_range_end(&range);
}

/* --- an interval subscriber that records what it is told --- */

struct mnt_isub {
	struct mmu_interval_notifier sub;
	struct mutex lock;		/* the "driver lock" of the protocol */
	int calls;
	unsigned long seq;		/* cur_seq of the last call */
	unsigned long start, end;	/* range of the last call */
	enum mmu_notifier_event event;
	bool refuse_nonblock;		/* return false when not blockable */
	/* Optional rendezvous inside the callback. */
	struct completion *entered, *proceed;
	/* Shared event log, for ordering across subscribers. */
	char *log;
};

static void mnt_log(char *log, char c)
{
	size_t n;

	if (!log)
		return;
	n = strlen(log);
	if (n < 31)
		log[n] = c;
}

static bool mnt_isub_invalidate(struct mmu_interval_notifier *sub,
				const struct mmu_notifier_range *range,
				unsigned long cur_seq)
{
	struct mnt_isub *t = container_of(sub, struct mnt_isub, sub);

	if (mmu_notifier_range_blockable(range))
		mutex_lock(&t->lock);
	else if (t->refuse_nonblock || !mutex_trylock(&t->lock))
		return false;
	mmu_interval_set_seq(sub, cur_seq);
	t->calls++;
	t->seq = cur_seq;
	t->start = range->start;
	t->end = range->end;
	t->event = range->event;
	mnt_log(t->log, 'i');
	mutex_unlock(&t->lock);

	if (t->entered) {
		complete(t->entered);
		wait_for_completion(t->proceed);
	}
	return true;
}

static const struct mmu_interval_notifier_ops mnt_isub_ops = {
	.invalidate = mnt_isub_invalidate,
};

static void mnt_isub_init(struct mnt_isub *t)
{
	memset(t, 0, sizeof(*t));
	mutex_init(&t->lock);
}

static void mnt_isub_insert(struct kunit *test, struct mnt_isub *t,
			    struct mm_struct *mm, unsigned long start,
			    unsigned long len)
{
	mnt_isub_init(t);
	KUNIT_ASSERT_EQ(test, 0, mmu_interval_notifier_insert(&t->sub, mm, start,
							      len, &mnt_isub_ops));
}

static int mnt_calls(struct mnt_isub *t)
{
	int n;

	mutex_lock(&t->lock);
	n = t->calls;
	mutex_unlock(&t->lock);
	return n;
}

/* --- helper threads --- */

struct mnt_thread {
	struct task_struct *task;
	struct completion done;
	int (*fn)(struct mnt_thread *th);
	void *arg;
	unsigned long result;
};

static int mnt_thread_main(void *data)
{
	struct mnt_thread *th = data;

	th->fn(th);
	/* complete_all: every later mnt_thread_done() sees it. */
	complete_all(&th->done);
	return 0;
}

static void mnt_thread_start(struct kunit *test, struct mnt_thread *th,
			     int (*fn)(struct mnt_thread *), void *arg)
{
	init_completion(&th->done);
	th->fn = fn;
	th->arg = arg;
	th->task = kthread_run(mnt_thread_main, th, "mnt-helper");
	KUNIT_ASSERT_FALSE(test, IS_ERR(th->task));
}

/* Did the thread finish within @ms? */
static bool mnt_thread_done(struct mnt_thread *th, unsigned int ms)
{
	return wait_for_completion_timeout(&th->done, msecs_to_jiffies(ms));
}

static int mnt_do_read_begin(struct mnt_thread *th)
{
	th->result = mmu_interval_read_begin(th->arg);
	return 0;
}

static int mnt_do_remove(struct mnt_thread *th)
{
	mmu_interval_notifier_remove(th->arg);
	return 0;
}

/* A wait that a correct implementation must not end within this time. */
#define MNT_BLOCKED_MS 200
/* Generous: the guest runs under emulation, with KASAN in one flavor. */
#define MNT_DONE_MS 20000

/*
 * @th must still be blocked after MNT_BLOCKED_MS and finish once the open
 * invalidation @r has ended, which this ends.
 */
static void mnt_expect_held_until_end(struct kunit *test, struct mnt_thread *th,
				      struct mmu_notifier_range *r)
{
	bool early = mnt_thread_done(th, MNT_BLOCKED_MS);

	mmu_notifier_invalidate_range_end(r);
	KUNIT_EXPECT_FALSE(test, early);
	KUNIT_ASSERT_TRUE(test, mnt_thread_done(th, MNT_DONE_MS));
}

/* --- interval subscribers: insert and remove --- */

static void mnt_insert_remove(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mnt_isub a;

	mnt_isub_insert(test, &a, mm, PG(16), PG(4));
	KUNIT_EXPECT_PTR_EQ(test, a.sub.mm, mm);
	KUNIT_EXPECT_EQ(test, mnt_calls(&a), 0);
	mmu_interval_notifier_remove(&a.sub);

	/* Gone: an invalidation of its range reaches nobody. */
	mnt_invalidate(mm, PG(16), PG(20));
	KUNIT_EXPECT_EQ(test, a.calls, 0);
}

static void mnt_insert_zero_length(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mnt_isub a;

	mnt_isub_init(&a);
	KUNIT_EXPECT_EQ(test, -EINVAL,
			mmu_interval_notifier_insert(&a.sub, mm, PG(1), 0, &mnt_isub_ops));
}

/*
 * An mm whose last user is gone takes no new subscriber: neither the first
 * one of the mm nor one more beside a subscriber inserted while it lived.
 */
static void mnt_insert_dead_mm(struct kunit *test)
{
	struct mm_struct *fresh = mm_alloc(), *used = mm_alloc();
	struct mnt_isub a, b, c;
	int ret;

	KUNIT_ASSERT_NOT_NULL(test, fresh);
	KUNIT_ASSERT_NOT_NULL(test, used);
	mnt_isub_init(&a);
	mnt_isub_init(&b);
	mnt_isub_init(&c);
	KUNIT_ASSERT_EQ(test, 0,
			mmu_interval_notifier_insert(&a.sub, used, PG(0), PG(1),
						     &mnt_isub_ops));
	mmgrab(fresh);
	mmput(fresh);
	mmgrab(used);
	mmput(used);

	KUNIT_EXPECT_EQ(test, -EINVAL,
			mmu_interval_notifier_insert(&b.sub, fresh, PG(1), PG(1),
						     &mnt_isub_ops));
	KUNIT_EXPECT_FALSE(test, mm_has_notifiers(fresh));
	ret = mmu_interval_notifier_insert(&c.sub, used, PG(1), PG(1),
					   &mnt_isub_ops);
	KUNIT_EXPECT_EQ(test, ret, -EINVAL);
	if (!ret)
		mmu_interval_notifier_remove(&c.sub);
	mmu_interval_notifier_remove(&a.sub);
	mmdrop(fresh);
	mmdrop(used);
}

static void mnt_insert_overflow(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mnt_isub a;

	mnt_isub_init(&a);
	KUNIT_EXPECT_EQ(test, -EOVERFLOW,
			mmu_interval_notifier_insert(&a.sub, mm, ULONG_MAX - PG(1) + 1,
						     PG(2), &mnt_isub_ops));
}

static void mnt_insert_whole_space(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mnt_isub a;

	/* [0, ULONG_MAX) is the largest range that does not wrap. */
	mnt_isub_insert(test, &a, mm, 0, ULONG_MAX);
	mnt_invalidate(mm, ULONG_MAX - PG(1) + 1, ULONG_MAX);
	KUNIT_EXPECT_EQ(test, mnt_calls(&a), 1);
	mmu_interval_notifier_remove(&a.sub);
}

static void mnt_insert_locked(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mnt_isub a;
	int ret;

	mnt_isub_init(&a);
	mmap_write_lock(mm);
	ret = mmu_interval_notifier_insert_locked(&a.sub, mm, PG(8), PG(1), &mnt_isub_ops);
	mmap_write_unlock(mm);
	KUNIT_ASSERT_EQ(test, ret, 0);
	mnt_invalidate(mm, PG(8), PG(9));
	KUNIT_EXPECT_EQ(test, mnt_calls(&a), 1);
	mmu_interval_notifier_remove(&a.sub);
}

/* --- interval subscribers: who is called --- */

static void mnt_only_overlapping(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mnt_isub s[3];
	int i;

	for (i = 0; i < 3; i++)
		mnt_isub_insert(test, &s[i], mm, PG(10 * (i + 1)), PG(10));

	mnt_invalidate(mm, PG(22), PG(25));
	KUNIT_EXPECT_EQ(test, mnt_calls(&s[0]), 0);
	KUNIT_EXPECT_EQ(test, mnt_calls(&s[1]), 1);
	KUNIT_EXPECT_EQ(test, mnt_calls(&s[2]), 0);
	KUNIT_EXPECT_EQ(test, s[1].start, PG(22));
	KUNIT_EXPECT_EQ(test, s[1].end, PG(25));
	KUNIT_EXPECT_EQ(test, (int)s[1].event, (int)MMU_NOTIFY_CLEAR);

	/* Spanning all three. */
	mnt_invalidate(mm, PG(15), PG(35));
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_EQ(test, mnt_calls(&s[i]), i == 1 ? 2 : 1);

	for (i = 0; i < 3; i++)
		mmu_interval_notifier_remove(&s[i].sub);
}

/* The range's end is exclusive; a subscriber's last byte is inclusive. */
static void mnt_exact_boundaries(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mnt_isub lo, hi;

	mnt_isub_insert(test, &lo, mm, PG(1), PG(1));	/* [PG(1), PG(2)) */
	mnt_isub_insert(test, &hi, mm, PG(2), PG(1));	/* [PG(2), PG(3)) */

	mnt_invalidate(mm, PG(0), PG(1));		/* ends where lo begins */
	KUNIT_EXPECT_EQ(test, mnt_calls(&lo), 0);

	mnt_invalidate(mm, PG(2) - 1, PG(2));		/* lo's last byte only */
	KUNIT_EXPECT_EQ(test, mnt_calls(&lo), 1);
	KUNIT_EXPECT_EQ(test, mnt_calls(&hi), 0);

	mnt_invalidate(mm, PG(2), PG(2) + 1);		/* hi's first byte only */
	KUNIT_EXPECT_EQ(test, mnt_calls(&lo), 1);
	KUNIT_EXPECT_EQ(test, mnt_calls(&hi), 1);

	mnt_invalidate(mm, PG(3), PG(4));		/* starts where hi ends */
	KUNIT_EXPECT_EQ(test, mnt_calls(&hi), 1);

	mmu_interval_notifier_remove(&lo.sub);
	mmu_interval_notifier_remove(&hi.sub);
}

static void mnt_many_disjoint(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	const int n = 512;
	struct mnt_isub *s;
	int i, called = 0;

	s = kunit_kcalloc(test, n, sizeof(*s), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, s);
	for (i = 0; i < n; i++)
		mnt_isub_insert(test, &s[i], mm, PG(2 * i), PG(1));

	mnt_invalidate(mm, PG(2 * 300), PG(2 * 300 + 1));
	for (i = 0; i < n; i++)
		called += mnt_calls(&s[i]);
	KUNIT_EXPECT_EQ(test, called, 1);
	KUNIT_EXPECT_EQ(test, mnt_calls(&s[300]), 1);

	for (i = 0; i < n; i++)
		mmu_interval_notifier_remove(&s[i].sub);
}

/* --- the sequence protocol --- */

static void mnt_seq_odd_shared_in_window(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mmu_notifier_range r1, r2;
	struct mnt_isub a, b;
	unsigned long first;

	mnt_isub_insert(test, &a, mm, PG(0), PG(1));
	mnt_isub_insert(test, &b, mm, PG(4), PG(1));

	mnt_start(mm, PG(0), PG(1), &r1);
	mnt_start(mm, PG(4), PG(5), &r2);	/* joins the open window */
	KUNIT_EXPECT_TRUE(test, a.seq & 1);
	KUNIT_EXPECT_EQ(test, a.seq, b.seq);
	mmu_notifier_invalidate_range_end(&r1);
	mmu_notifier_invalidate_range_end(&r2);
	first = a.seq;

	mnt_invalidate(mm, PG(0), PG(1));	/* a new window */
	KUNIT_EXPECT_TRUE(test, a.seq & 1);
	KUNIT_EXPECT_NE(test, a.seq, first);

	mmu_interval_notifier_remove(&a.sub);
	mmu_interval_notifier_remove(&b.sub);
}

static void mnt_read_retry_clean(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mnt_isub a;
	unsigned long seq;

	mnt_isub_insert(test, &a, mm, PG(0), PG(4));
	seq = mmu_interval_read_begin(&a.sub);
	KUNIT_EXPECT_FALSE(test, mmu_interval_read_retry(&a.sub, seq));
	KUNIT_EXPECT_FALSE(test, mmu_interval_check_retry(&a.sub, seq));

	/* An invalidation elsewhere does not disturb the reader. */
	mnt_invalidate(mm, PG(4), PG(8));
	KUNIT_EXPECT_FALSE(test, mmu_interval_read_retry(&a.sub, seq));
	mmu_interval_notifier_remove(&a.sub);
}

static void mnt_read_retry_after_invalidation(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mnt_isub a;
	unsigned long seq;

	mnt_isub_insert(test, &a, mm, PG(0), PG(4));
	seq = mmu_interval_read_begin(&a.sub);
	mnt_invalidate(mm, PG(3), PG(4));
	KUNIT_EXPECT_TRUE(test, mmu_interval_check_retry(&a.sub, seq));
	KUNIT_EXPECT_TRUE(test, mmu_interval_read_retry(&a.sub, seq));

	/* A new read after the invalidation ended is clean again. */
	seq = mmu_interval_read_begin(&a.sub);
	KUNIT_EXPECT_FALSE(test, mmu_interval_read_retry(&a.sub, seq));
	mmu_interval_notifier_remove(&a.sub);
}

/* Started during a window but before reaching us: no wait, but a retry. */
static void mnt_read_begin_before_callback(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mmu_notifier_range r;
	struct mnt_isub a, b;
	unsigned long seq;

	mnt_isub_insert(test, &a, mm, PG(0), PG(1));
	mnt_isub_insert(test, &b, mm, PG(8), PG(1));

	mnt_start(mm, PG(8), PG(9), &r);	/* window open, a not in it */
	seq = mmu_interval_read_begin(&a.sub);	/* must not block */
	mnt_invalidate(mm, PG(0), PG(1));	/* now a is invalidated */
	KUNIT_EXPECT_TRUE(test, mmu_interval_read_retry(&a.sub, seq));
	mmu_notifier_invalidate_range_end(&r);

	mmu_interval_notifier_remove(&a.sub);
	mmu_interval_notifier_remove(&b.sub);
}

static void mnt_read_begin_blocks(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mmu_notifier_range r;
	struct mnt_thread th;
	struct mnt_isub a;

	mnt_isub_insert(test, &a, mm, PG(0), PG(4));
	mnt_start(mm, PG(1), PG(2), &r);

	mnt_thread_start(test, &th, mnt_do_read_begin, &a.sub);
	mnt_expect_held_until_end(test, &th, &r);
	/* The value handed out is the one the invalidation stored. */
	KUNIT_EXPECT_EQ(test, th.result, a.seq);
	KUNIT_EXPECT_FALSE(test, mmu_interval_read_retry(&a.sub, th.result));
	mmu_interval_notifier_remove(&a.sub);
}

/* Overlapping invalidations: the reader waits for the last one to end. */
static void mnt_read_begin_waits_for_last(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mmu_notifier_range r1, r2;
	struct mnt_thread th;
	struct mnt_isub a;
	bool early;

	mnt_isub_insert(test, &a, mm, PG(0), PG(4));
	mnt_start(mm, PG(0), PG(1), &r1);
	mnt_start(mm, PG(100), PG(101), &r2);	/* unrelated, same window */

	mnt_thread_start(test, &th, mnt_do_read_begin, &a.sub);
	early = mnt_thread_done(&th, MNT_BLOCKED_MS);
	mmu_notifier_invalidate_range_end(&r1);
	KUNIT_EXPECT_FALSE(test, early);
	mnt_expect_held_until_end(test, &th, &r2);
	mmu_interval_notifier_remove(&a.sub);
}

/*
 * Two threads invalidate the subscriber's range over and over while this
 * thread reads with the protocol. Whenever read_retry says the read is
 * good, every invalidation whose callback ran must also have ended: the
 * invalidators count "ended" just before range_end, under the driver lock.
 */
struct mnt_race {
	struct mm_struct *mm;
	struct mnt_isub *t;
	int rounds;			/* 0: until @stop */
	bool stop;
	struct completion go;
	int ended;			/* under t->lock */
};

static void mnt_race_init(struct mnt_race *race, struct mm_struct *mm,
			  struct mnt_isub *t, int rounds)
{
	memset(race, 0, sizeof(*race));
	race->mm = mm;
	race->t = t;
	race->rounds = rounds;
	init_completion(&race->go);
}

static bool mnt_race_more(struct mnt_race *race, int i)
{
	return race->rounds ? i < race->rounds : !READ_ONCE(race->stop);
}

static int mnt_do_invalidate_loop(struct mnt_thread *th)
{
	struct mnt_race *race = th->arg;
	struct mmu_notifier_range r;
	int i;

	wait_for_completion(&race->go);
	for (i = 0; mnt_race_more(race, i); i++) {
		mnt_start(race->mm, PG(i % 4), PG(i % 4 + 1), &r);
		mutex_lock(&race->t->lock);
		race->ended++;
		mutex_unlock(&race->t->lock);
		mmu_notifier_invalidate_range_end(&r);
		if (!(i % 16))
			cond_resched();
	}
	return 0;
}

/* Run until both sides did this much, or MNT_DONE_MS passed. */
#define MNT_RACE_READS 5000
#define MNT_RACE_INVALIDATIONS 5000

static void mnt_seq_concurrent(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	unsigned long deadline = jiffies + msecs_to_jiffies(MNT_DONE_MS);
	int clean = 0, retried = 0, bad = 0, reads, i;
	struct mnt_thread th[2];
	struct mnt_race race;
	struct mnt_isub a;
	unsigned long seq;

	mnt_isub_insert(test, &a, mm, PG(0), PG(4));
	mnt_race_init(&race, mm, &a, 0);
	for (i = 0; i < 2; i++)
		mnt_thread_start(test, &th[i], mnt_do_invalidate_loop, &race);
	complete_all(&race.go);

	for (reads = 0; time_before(jiffies, deadline); reads++) {
		bool enough;

		seq = mmu_interval_read_begin(&a.sub);
		udelay(2);	/* the "fault": widens the race */
		mutex_lock(&a.lock);
		if (mmu_interval_read_retry(&a.sub, seq))
			retried++;
		else if (a.calls == race.ended)
			clean++;
		else
			bad++;
		enough = reads >= MNT_RACE_READS && race.ended >= MNT_RACE_INVALIDATIONS;
		mutex_unlock(&a.lock);
		if (enough)
			break;
		cond_resched();
	}
	WRITE_ONCE(race.stop, true);
	for (i = 0; i < 2; i++)
		KUNIT_ASSERT_TRUE(test, mnt_thread_done(&th[i], MNT_DONE_MS));

	kunit_info(test, "%d reads: %d clean, %d retried, %d stale; %d invalidations\n",
		   reads, clean, retried, bad, race.ended);
	KUNIT_EXPECT_EQ(test, bad, 0);
	/* Both sides did their share while the other ran. */
	KUNIT_EXPECT_GE(test, reads, MNT_RACE_READS);
	KUNIT_EXPECT_GE(test, race.ended, MNT_RACE_INVALIDATIONS);
	KUNIT_EXPECT_EQ(test, a.calls, race.ended);
	/* All quiet now: a read succeeds first time. */
	seq = mmu_interval_read_begin(&a.sub);
	KUNIT_EXPECT_FALSE(test, mmu_interval_read_retry(&a.sub, seq));
	mmu_interval_notifier_remove(&a.sub);
}

/* --- deferred insert and remove --- */

static void mnt_insert_deferred(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mmu_notifier_range r;
	struct mnt_isub a, late;

	mnt_isub_insert(test, &a, mm, PG(0), PG(1));
	mnt_start(mm, PG(0), PG(1), &r);

	mnt_isub_insert(test, &late, mm, PG(10), PG(1));
	/* Not in the tree until the window closes. */
	mnt_invalidate(mm, PG(10), PG(11));
	KUNIT_EXPECT_EQ(test, mnt_calls(&late), 0);

	mmu_notifier_invalidate_range_end(&r);
	mnt_invalidate(mm, PG(10), PG(11));
	KUNIT_EXPECT_EQ(test, mnt_calls(&late), 1);

	mmu_interval_notifier_remove(&a.sub);
	mmu_interval_notifier_remove(&late.sub);
}

/* Inserted while its pages may be changing: its first read waits. */
static void mnt_insert_deferred_read_waits(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mmu_notifier_range r;
	struct mnt_isub first, late;
	struct mnt_thread th;

	mnt_isub_insert(test, &first, mm, PG(100), PG(1));
	mnt_start(mm, PG(0), PG(64), &r);
	mnt_isub_insert(test, &late, mm, PG(10), PG(1));

	mnt_thread_start(test, &th, mnt_do_read_begin, &late.sub);
	mnt_expect_held_until_end(test, &th, &r);
	KUNIT_EXPECT_FALSE(test, mmu_interval_read_retry(&late.sub, th.result));

	mmu_interval_notifier_remove(&first.sub);
	mmu_interval_notifier_remove(&late.sub);
}

static void mnt_remove_deferred(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mmu_notifier_range r;
	struct mnt_thread th;
	struct mnt_isub a, b;
	bool early;

	mnt_isub_insert(test, &a, mm, PG(0), PG(1));
	mnt_isub_insert(test, &b, mm, PG(50), PG(1));
	mnt_start(mm, PG(50), PG(51), &r);	/* opens the window, for b */

	mnt_thread_start(test, &th, mnt_do_remove, &a.sub);
	early = mnt_thread_done(&th, MNT_BLOCKED_MS);
	/* Still in the tree while the window is open: still called. */
	mnt_invalidate(mm, PG(0), PG(1));
	KUNIT_EXPECT_EQ(test, mnt_calls(&a), 1);
	mmu_notifier_invalidate_range_end(&r);
	KUNIT_EXPECT_FALSE(test, early);
	KUNIT_ASSERT_TRUE(test, mnt_thread_done(&th, MNT_DONE_MS));

	mnt_invalidate(mm, PG(0), PG(1));
	KUNIT_EXPECT_EQ(test, a.calls, 1);
	mmu_interval_notifier_remove(&b.sub);
}

/*
 * An invalidation that overlaps no subscriber opens no window: a removal
 * meanwhile does not wait, and nobody's reads are held up or retried.
 */
static void mnt_unrelated_opens_no_window(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mmu_notifier_range r;
	struct mnt_thread rm, rd;
	struct mnt_isub a, b;
	unsigned long seq;

	mnt_isub_insert(test, &a, mm, PG(0), PG(1));
	mnt_isub_insert(test, &b, mm, PG(8), PG(1));
	seq = mmu_interval_read_begin(&a.sub);
	mnt_start(mm, PG(50), PG(51), &r);

	mnt_thread_start(test, &rm, mnt_do_remove, &b.sub);
	mnt_thread_start(test, &rd, mnt_do_read_begin, &a.sub);
	KUNIT_EXPECT_TRUE(test, mnt_thread_done(&rm, MNT_DONE_MS));
	KUNIT_EXPECT_TRUE(test, mnt_thread_done(&rd, MNT_DONE_MS));
	mmu_notifier_invalidate_range_end(&r);
	KUNIT_ASSERT_TRUE(test, mnt_thread_done(&rm, MNT_DONE_MS));
	KUNIT_ASSERT_TRUE(test, mnt_thread_done(&rd, MNT_DONE_MS));

	KUNIT_EXPECT_EQ(test, mnt_calls(&a), 0);
	KUNIT_EXPECT_EQ(test, rd.result, seq);
	KUNIT_EXPECT_FALSE(test, mmu_interval_read_retry(&a.sub, seq));
	mmu_interval_notifier_remove(&a.sub);
}

static void mnt_remove_cancels_deferred_insert(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mmu_notifier_range r;
	struct mnt_thread th;
	struct mnt_isub a, late;
	bool done;

	mnt_isub_insert(test, &a, mm, PG(0), PG(1));
	mnt_start(mm, PG(0), PG(1), &r);
	mnt_isub_insert(test, &late, mm, PG(20), PG(1));

	/* Never reached the tree: removal need not wait. */
	mnt_thread_start(test, &th, mnt_do_remove, &late.sub);
	done = mnt_thread_done(&th, MNT_DONE_MS);
	mmu_notifier_invalidate_range_end(&r);
	KUNIT_EXPECT_TRUE(test, done);
	KUNIT_ASSERT_TRUE(test, mnt_thread_done(&th, MNT_DONE_MS));

	mnt_invalidate(mm, PG(20), PG(21));
	KUNIT_EXPECT_EQ(test, late.calls, 0);
	mmu_interval_notifier_remove(&a.sub);
}

/* remove() must not return while the subscriber's callback still runs. */
static void mnt_remove_waits_for_callback(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	DECLARE_COMPLETION_ONSTACK(entered);
	DECLARE_COMPLETION_ONSTACK(proceed);
	struct mnt_thread inv, rm;
	struct mnt_race race;
	struct mnt_isub a;
	bool early;

	mnt_isub_insert(test, &a, mm, PG(0), PG(1));
	a.entered = &entered;
	a.proceed = &proceed;
	mnt_race_init(&race, mm, &a, 1);
	complete_all(&race.go);
	mnt_thread_start(test, &inv, mnt_do_invalidate_loop, &race);
	KUNIT_ASSERT_TRUE(test, wait_for_completion_timeout(&entered,
							    msecs_to_jiffies(MNT_DONE_MS)));

	mnt_thread_start(test, &rm, mnt_do_remove, &a.sub);
	early = mnt_thread_done(&rm, MNT_BLOCKED_MS);
	complete(&proceed);
	KUNIT_EXPECT_FALSE(test, early);
	KUNIT_ASSERT_TRUE(test, mnt_thread_done(&rm, MNT_DONE_MS));
	KUNIT_ASSERT_TRUE(test, mnt_thread_done(&inv, MNT_DONE_MS));
}

/* --- non-blocking starts that fail --- */

static void mnt_nonblock_interval_refuses(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mmu_notifier_range r;
	struct mnt_thread th;
	struct mnt_isub a, b;

	mnt_isub_insert(test, &a, mm, PG(0), PG(1));
	mnt_isub_insert(test, &b, mm, PG(1), PG(1));
	b.refuse_nonblock = true;

	KUNIT_EXPECT_EQ(test, -EAGAIN,
			mnt_invalidate_flags(mm, PG(0), PG(2), false, &r));
	/* The window was closed again: nobody waits on a. */
	mnt_thread_start(test, &th, mnt_do_read_begin, &a.sub);
	KUNIT_ASSERT_TRUE(test, mnt_thread_done(&th, MNT_DONE_MS));

	/* A non-blocking start that succeeds pairs with its end as usual. */
	KUNIT_EXPECT_EQ(test, 0, mnt_invalidate_flags(mm, PG(0), PG(1), false, &r));
	mmu_notifier_invalidate_range_end(&r);

	mmu_interval_notifier_remove(&a.sub);
	mmu_interval_notifier_remove(&b.sub);
}

/* --- classic subscribers --- */

struct mnt_sub {
	struct mmu_notifier mn;
	int starts, ends, releases, young_calls, tlb_calls, frees;
	int start_ret;			/* returned by start when not blockable */
	bool young;
	unsigned long tlb_start, tlb_end;
	char *log;
	struct completion *entered, *proceed;
	bool *freed_flag;
};

static struct mnt_sub *to_mnt_sub(struct mmu_notifier *mn)
{
	return container_of(mn, struct mnt_sub, mn);
}

static int mnt_sub_start(struct mmu_notifier *mn,
			 const struct mmu_notifier_range *range)
{
	struct mnt_sub *s = to_mnt_sub(mn);

	if (!mmu_notifier_range_blockable(range) && s->start_ret)
		return s->start_ret;
	s->starts++;
	if (s->entered) {
		complete(s->entered);
		wait_for_completion(s->proceed);
	}
	return 0;
}

static void mnt_sub_end(struct mmu_notifier *mn,
			const struct mmu_notifier_range *range)
{
	to_mnt_sub(mn)->ends++;
}

static void mnt_sub_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct mnt_sub *s = to_mnt_sub(mn);

	s->releases++;
	mnt_log(s->log, 'r');
}

static int mnt_sub_clear_flush_young(struct mmu_notifier *mn, struct mm_struct *mm,
				     unsigned long start, unsigned long end)
{
	struct mnt_sub *s = to_mnt_sub(mn);

	s->young_calls++;
	return s->young;
}

static int mnt_sub_test_young(struct mmu_notifier *mn, struct mm_struct *mm,
			      unsigned long address)
{
	return mnt_sub_clear_flush_young(mn, mm, address, address + 1);
}

static void mnt_sub_tlbs(struct mmu_notifier *mn, struct mm_struct *mm,
			 unsigned long start, unsigned long end)
{
	struct mnt_sub *s = to_mnt_sub(mn);

	s->tlb_calls++;
	s->tlb_start = start;
	s->tlb_end = end;
}

static const struct mmu_notifier_ops mnt_sub_ops = {
	.invalidate_range_start = mnt_sub_start,
	.invalidate_range_end = mnt_sub_end,
	.release = mnt_sub_release,
};

static const struct mmu_notifier_ops mnt_young_ops = {
	.clear_flush_young = mnt_sub_clear_flush_young,
	.clear_young = mnt_sub_clear_flush_young,
	.test_young = mnt_sub_test_young,
};

/* A subscriber that may fail its start must not have an end. */
static const struct mmu_notifier_ops mnt_failing_ops = {
	.invalidate_range_start = mnt_sub_start,
	.release = mnt_sub_release,
};

static const struct mmu_notifier_ops mnt_tlb_ops = {
	.arch_invalidate_secondary_tlbs = mnt_sub_tlbs,
};

static const struct mmu_notifier_ops mnt_mixed_ops = {
	.arch_invalidate_secondary_tlbs = mnt_sub_tlbs,
	.invalidate_range_start = mnt_sub_start,
};

static void mnt_sub_register(struct kunit *test, struct mnt_sub *s,
			     const struct mmu_notifier_ops *ops,
			     struct mm_struct *mm)
{
	memset(s, 0, sizeof(*s));
	s->mn.ops = ops;
	KUNIT_ASSERT_EQ(test, 0, mmu_notifier_register(&s->mn, mm));
}

static void mnt_classic_register_unregister(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mnt_sub s;

	mnt_sub_register(test, &s, &mnt_sub_ops, mm);
	KUNIT_EXPECT_TRUE(test, mm_has_notifiers(mm));
	mnt_invalidate(mm, PG(0), PG(1));
	KUNIT_EXPECT_EQ(test, s.starts, 1);
	KUNIT_EXPECT_EQ(test, s.ends, 1);

	mmu_notifier_unregister(&s.mn, mm);
	KUNIT_EXPECT_EQ(test, s.releases, 1);
	mnt_invalidate(mm, PG(0), PG(1));
	KUNIT_EXPECT_EQ(test, s.starts, 1);
	KUNIT_EXPECT_EQ(test, s.ends, 1);
}

static void mnt_classic_rejects_mixed_ops(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mnt_sub s = { .mn.ops = &mnt_mixed_ops };

	KUNIT_EXPECT_EQ(test, -EINVAL, mmu_notifier_register(&s.mn, mm));
}

static void mnt_classic_secondary_tlbs(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mnt_sub s;

	mnt_sub_register(test, &s, &mnt_tlb_ops, mm);
	mmu_notifier_arch_invalidate_secondary_tlbs(mm, PG(3), PG(7));
	KUNIT_EXPECT_EQ(test, s.tlb_calls, 1);
	KUNIT_EXPECT_EQ(test, s.tlb_start, PG(3));
	KUNIT_EXPECT_EQ(test, s.tlb_end, PG(7));
	mmu_notifier_unregister(&s.mn, mm);
}

static void mnt_classic_young(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mnt_sub a, b;

	mnt_sub_register(test, &a, &mnt_young_ops, mm);
	mnt_sub_register(test, &b, &mnt_young_ops, mm);

	KUNIT_EXPECT_EQ(test, 0, mmu_notifier_clear_flush_young(mm, PG(0), PG(1)));
	KUNIT_EXPECT_EQ(test, a.young_calls + b.young_calls, 2);

	a.young = true;
	/* Clearing asks everybody, whatever the first answer. */
	KUNIT_EXPECT_EQ(test, 1, mmu_notifier_clear_flush_young(mm, PG(0), PG(1)));
	KUNIT_EXPECT_EQ(test, 1, mmu_notifier_clear_young(mm, PG(0), PG(1)));
	KUNIT_EXPECT_EQ(test, a.young_calls, 3);
	KUNIT_EXPECT_EQ(test, b.young_calls, 3);
	KUNIT_EXPECT_EQ(test, 1, mmu_notifier_test_young(mm, PG(0)));

	mmu_notifier_unregister(&a.mn, mm);
	mmu_notifier_unregister(&b.mn, mm);
}

/*
 * A non-blocking start: tree entered, classic "first" started, "failing"
 * refuses. Every section entered is ended, and "after" (never started)
 * gets nothing. List order is newest first: register after, failing, first.
 */
static void mnt_nonblock_classic_fail_ends_all(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mnt_sub first, failing, after;
	struct mmu_notifier_range r;
	struct mnt_thread th;
	struct mnt_isub isub;
	int ret;

	mnt_isub_insert(test, &isub, mm, PG(0), PG(1));
	mnt_sub_register(test, &after, &mnt_sub_ops, mm);
	mnt_sub_register(test, &failing, &mnt_failing_ops, mm);
	failing.start_ret = -EAGAIN;
	mnt_sub_register(test, &first, &mnt_sub_ops, mm);

	ret = mnt_invalidate_flags(mm, PG(0), PG(1), false, &r);
	KUNIT_EXPECT_EQ(test, ret, -EAGAIN);
	KUNIT_EXPECT_EQ(test, mnt_calls(&isub), 1);
	KUNIT_EXPECT_EQ(test, first.starts, 1);
	KUNIT_EXPECT_EQ(test, first.ends, 1);
	KUNIT_EXPECT_EQ(test, failing.starts, 0);
	KUNIT_EXPECT_EQ(test, after.starts, 0);
	KUNIT_EXPECT_EQ(test, after.ends, 0);

	/* The interval window was closed too: a reader does not hang. */
	mnt_thread_start(test, &th, mnt_do_read_begin, &isub.sub);
	KUNIT_ASSERT_TRUE(test, mnt_thread_done(&th, MNT_DONE_MS));

	mmu_notifier_unregister(&first.mn, mm);
	mmu_notifier_unregister(&failing.mn, mm);
	mmu_notifier_unregister(&after.mn, mm);
	mmu_interval_notifier_remove(&isub.sub);
}

/* --- shared subscriptions: get / put --- */

static int mnt_shared_frees;

static struct mmu_notifier *mnt_shared_alloc(struct mm_struct *mm)
{
	struct mnt_sub *s = kzalloc(sizeof(*s), GFP_KERNEL);

	return s ? &s->mn : ERR_PTR(-ENOMEM);
}

static void mnt_shared_free(struct mmu_notifier *mn)
{
	struct mnt_sub *s = to_mnt_sub(mn);

	if (s->freed_flag)
		WRITE_ONCE(*s->freed_flag, true);
	mnt_shared_frees++;
	kfree(s);
}

static const struct mmu_notifier_ops mnt_shared_ops = {
	.invalidate_range_start = mnt_sub_start,
	.invalidate_range_end = mnt_sub_end,
	.alloc_notifier = mnt_shared_alloc,
	.free_notifier = mnt_shared_free,
};

static const struct mmu_notifier_ops mnt_shared_ops2 = {
	.alloc_notifier = mnt_shared_alloc,
	.free_notifier = mnt_shared_free,
};

static void mnt_get_put(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mmu_notifier *a, *b, *c;
	int frees = mnt_shared_frees;

	a = mmu_notifier_get(&mnt_shared_ops, mm);
	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	b = mmu_notifier_get(&mnt_shared_ops, mm);
	c = mmu_notifier_get(&mnt_shared_ops2, mm);
	KUNIT_ASSERT_FALSE(test, IS_ERR(c));
	KUNIT_EXPECT_PTR_EQ(test, a, b);
	KUNIT_EXPECT_PTR_NE(test, a, c);
	KUNIT_EXPECT_PTR_EQ(test, a->mm, mm);

	mmu_notifier_put(b);
	mmu_notifier_synchronize();
	KUNIT_EXPECT_EQ(test, mnt_shared_frees, frees);

	/* Still subscribed with one user left. */
	mnt_invalidate(mm, PG(0), PG(1));
	KUNIT_EXPECT_EQ(test, to_mnt_sub(a)->starts, 1);

	mmu_notifier_put(a);
	mmu_notifier_put(c);
	mmu_notifier_synchronize();
	KUNIT_EXPECT_EQ(test, mnt_shared_frees, frees + 2);
}

/*
 * A non-blocking start whose failing subscriber drops its last reference
 * in the callback, unlinking itself: only "first", which started, is
 * ended, and "after", next in the list but never started, is not.
 */
static int mnt_self_put_start(struct mmu_notifier *mn,
			      const struct mmu_notifier_range *range)
{
	if (mmu_notifier_range_blockable(range))
		return 0;
	mmu_notifier_put(mn);
	return -EAGAIN;
}

static const struct mmu_notifier_ops mnt_self_put_ops = {
	.invalidate_range_start = mnt_self_put_start,
	.alloc_notifier = mnt_shared_alloc,
	.free_notifier = mnt_shared_free,
};

static void mnt_nonblock_fail_unlinked(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	struct mnt_sub first, after;
	struct mmu_notifier *failing;
	struct mmu_notifier_range r;
	int frees = mnt_shared_frees;

	mnt_sub_register(test, &after, &mnt_sub_ops, mm);
	failing = mmu_notifier_get(&mnt_self_put_ops, mm);
	KUNIT_ASSERT_FALSE(test, IS_ERR(failing));
	mnt_sub_register(test, &first, &mnt_sub_ops, mm);

	KUNIT_EXPECT_EQ(test, mnt_invalidate_flags(mm, PG(0), PG(1), false, &r),
			-EAGAIN);
	KUNIT_EXPECT_EQ(test, first.starts, 1);
	KUNIT_EXPECT_EQ(test, first.ends, 1);
	KUNIT_EXPECT_EQ(test, after.starts, 0);
	KUNIT_EXPECT_EQ(test, after.ends, 0);

	mmu_notifier_synchronize();
	KUNIT_EXPECT_EQ(test, mnt_shared_frees, frees + 1);
	mmu_notifier_unregister(&first.mn, mm);
	mmu_notifier_unregister(&after.mn, mm);
}

struct mnt_inv_arg {
	struct mm_struct *mm;
};

static int mnt_do_one_invalidation(struct mnt_thread *th)
{
	struct mnt_inv_arg *arg = th->arg;

	mnt_invalidate(arg->mm, PG(0), PG(1));
	return 0;
}

/* The last put frees only after every reader inside a callback is gone. */
static void mnt_put_frees_after_readers(struct kunit *test)
{
	struct mm_struct *mm = mnt_mm(test);
	DECLARE_COMPLETION_ONSTACK(entered);
	DECLARE_COMPLETION_ONSTACK(proceed);
	struct mnt_inv_arg arg = { .mm = mm };
	struct mnt_thread th;
	struct mmu_notifier *mn;
	bool freed = false, freed_early;

	mn = mmu_notifier_get(&mnt_shared_ops, mm);
	KUNIT_ASSERT_FALSE(test, IS_ERR(mn));
	to_mnt_sub(mn)->entered = &entered;
	to_mnt_sub(mn)->proceed = &proceed;
	to_mnt_sub(mn)->freed_flag = &freed;

	mnt_thread_start(test, &th, mnt_do_one_invalidation, &arg);
	KUNIT_ASSERT_TRUE(test, wait_for_completion_timeout(&entered,
							    msecs_to_jiffies(MNT_DONE_MS)));
	mmu_notifier_put(mn);
	msleep(MNT_BLOCKED_MS);
	freed_early = READ_ONCE(freed);
	complete(&proceed);
	KUNIT_ASSERT_TRUE(test, mnt_thread_done(&th, MNT_DONE_MS));
	mmu_notifier_synchronize();
	KUNIT_EXPECT_FALSE(test, freed_early);
	KUNIT_EXPECT_TRUE(test, freed);
}

/* --- the end of the address space --- */

/*
 * exit_mmap: the interval subscribers see one MMU_NOTIFY_RELEASE of the
 * whole space, then every classic ->release runs, then the classic
 * subscribers are off the list (a later unregister does not release twice).
 */
static void mnt_release_order(struct kunit *test)
{
	struct mm_struct *mm = mm_alloc();
	struct mnt_sub a, b;
	struct mnt_isub isub;
	char log[32] = "";

	KUNIT_ASSERT_NOT_NULL(test, mm);
	mnt_isub_insert(test, &isub, mm, PG(7), PG(1));
	isub.log = log;
	mnt_sub_register(test, &a, &mnt_sub_ops, mm);
	a.log = log;
	mnt_sub_register(test, &b, &mnt_sub_ops, mm);
	b.log = log;

	mmgrab(mm);
	mmput(mm);			/* the last user: exit_mmap() */

	KUNIT_EXPECT_STREQ(test, log, "irr");
	KUNIT_EXPECT_EQ(test, (int)isub.event, (int)MMU_NOTIFY_RELEASE);
	KUNIT_EXPECT_EQ(test, isub.start, 0UL);
	KUNIT_EXPECT_EQ(test, isub.end, ULONG_MAX);
	KUNIT_EXPECT_TRUE(test, hlist_unhashed(&a.mn.hlist));
	KUNIT_EXPECT_TRUE(test, hlist_unhashed(&b.mn.hlist));

	mmu_notifier_unregister(&a.mn, mm);
	mmu_notifier_unregister(&b.mn, mm);
	KUNIT_EXPECT_EQ(test, a.releases, 1);
	KUNIT_EXPECT_EQ(test, b.releases, 1);
	mmu_interval_notifier_remove(&isub.sub);
	mmdrop(mm);
}

/* --- through the VM's own call sites --- */

static void mnt_munmap_invalidates(struct kunit *test)
{
	unsigned long addr;
	struct mnt_isub a;

	addr = kunit_vm_mmap(test, NULL, 0, PG(8), PROT_READ | PROT_WRITE,
			     MAP_ANONYMOUS | MAP_PRIVATE, 0);
	KUNIT_ASSERT_NE_MSG(test, addr, 0UL, "kunit_vm_mmap failed");
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	mnt_isub_insert(test, &a, current->mm, addr + PG(2), PG(2));

	KUNIT_ASSERT_EQ(test, 0, vm_munmap(addr + PG(6), PG(2)));
	KUNIT_EXPECT_EQ(test, mnt_calls(&a), 0);

	KUNIT_ASSERT_EQ(test, 0, vm_munmap(addr, PG(4)));
	KUNIT_EXPECT_GE(test, mnt_calls(&a), 1);
	KUNIT_EXPECT_EQ(test, (int)a.event, (int)MMU_NOTIFY_UNMAP);
	KUNIT_EXPECT_LE(test, a.start, addr + PG(2));
	KUNIT_EXPECT_GE(test, a.end, addr + PG(3));
	mmu_interval_notifier_remove(&a.sub);
}

static struct kunit_case mmu_notifier_cases[] = {
	KUNIT_CASE(mnt_insert_remove),
	KUNIT_CASE(mnt_insert_zero_length),
	KUNIT_CASE(mnt_insert_dead_mm),
	KUNIT_CASE(mnt_insert_overflow),
	KUNIT_CASE(mnt_insert_whole_space),
	KUNIT_CASE(mnt_insert_locked),
	KUNIT_CASE(mnt_only_overlapping),
	KUNIT_CASE(mnt_exact_boundaries),
	KUNIT_CASE(mnt_many_disjoint),
	KUNIT_CASE(mnt_seq_odd_shared_in_window),
	KUNIT_CASE(mnt_read_retry_clean),
	KUNIT_CASE(mnt_read_retry_after_invalidation),
	KUNIT_CASE(mnt_read_begin_before_callback),
	KUNIT_CASE(mnt_read_begin_blocks),
	KUNIT_CASE(mnt_read_begin_waits_for_last),
	KUNIT_CASE(mnt_seq_concurrent),
	KUNIT_CASE(mnt_insert_deferred),
	KUNIT_CASE(mnt_insert_deferred_read_waits),
	KUNIT_CASE(mnt_remove_deferred),
	KUNIT_CASE(mnt_unrelated_opens_no_window),
	KUNIT_CASE(mnt_remove_cancels_deferred_insert),
	KUNIT_CASE(mnt_remove_waits_for_callback),
	KUNIT_CASE(mnt_nonblock_interval_refuses),
	KUNIT_CASE(mnt_classic_register_unregister),
	KUNIT_CASE(mnt_classic_rejects_mixed_ops),
	KUNIT_CASE(mnt_classic_secondary_tlbs),
	KUNIT_CASE(mnt_classic_young),
	KUNIT_CASE(mnt_nonblock_classic_fail_ends_all),
	KUNIT_CASE(mnt_get_put),
	KUNIT_CASE(mnt_nonblock_fail_unlinked),
	KUNIT_CASE(mnt_put_frees_after_readers),
	KUNIT_CASE(mnt_release_order),
	KUNIT_CASE(mnt_munmap_invalidates),
	{}
};

static struct kunit_suite mmu_notifier_suite = {
	.name = "mmu_notifier",
	.test_cases = mmu_notifier_cases,
};

kunit_test_suite(mmu_notifier_suite);

MODULE_DESCRIPTION("KUnit tests for the MMU notifier core");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
