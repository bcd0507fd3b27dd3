// SPDX-License-Identifier: GPL-2.0-only
/*
 * mn_bench: interval subscribers on demand, for timing the MMU notifier
 * core from userspace. Built out of tree against each kernel that
 * `make bench` compares, so the kernels themselves stay as they are.
 *
 * Writing "<start> <stride> <count>" (hex or decimal) to
 * /sys/kernel/debug/mn_bench subscribes the writer's mm to <count>
 * one-page ranges at <start>, <start> + <stride>, ... Their callback does
 * what a driver's must: take its lock, record the sequence, drop it.
 * Closing the file removes them.
 */
#include <linux/debugfs.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

struct mn_bench_sub {
	struct mmu_interval_notifier notifier;
	spinlock_t lock;		/* the "driver lock" of the protocol */
	unsigned long hits;
};

struct mn_bench_file {
	struct mn_bench_sub *subs;
	unsigned long count;
};

static bool mn_bench_invalidate(struct mmu_interval_notifier *mni,
				const struct mmu_notifier_range *range,
				unsigned long cur_seq)
{
	struct mn_bench_sub *sub = container_of(mni, struct mn_bench_sub, notifier);

	spin_lock(&sub->lock);
	mmu_interval_set_seq(mni, cur_seq);
	sub->hits++;
	spin_unlock(&sub->lock);
	return true;
}

static const struct mmu_interval_notifier_ops mn_bench_ops = {
	.invalidate = mn_bench_invalidate,
};

static void mn_bench_clear(struct mn_bench_file *f)
{
	while (f->count)
		mmu_interval_notifier_remove(&f->subs[--f->count].notifier);
	kvfree(f->subs);
	f->subs = NULL;
}

static int mn_bench_subscribe(struct mn_bench_file *f, unsigned long start,
			      unsigned long stride, unsigned long count)
{
	int ret = 0;

	if (f->subs || !count || count > 1000000 || stride < PAGE_SIZE)
		return -EINVAL;
	f->subs = kvcalloc(count, sizeof(*f->subs), GFP_KERNEL);
	if (!f->subs)
		return -ENOMEM;
	while (f->count < count) {
		struct mn_bench_sub *sub = &f->subs[f->count];

		spin_lock_init(&sub->lock);
		ret = mmu_interval_notifier_insert(&sub->notifier, current->mm,
						   start + f->count * stride,
						   PAGE_SIZE, &mn_bench_ops);
		if (ret)
			break;
		f->count++;
	}
	if (ret)
		mn_bench_clear(f);
	return ret;
}

static ssize_t mn_bench_write(struct file *file, const char __user *ubuf,
			      size_t len, loff_t *ppos)
{
	unsigned long start, stride, count;
	char buf[96];
	int ret;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (sscanf(buf, "%li %li %li", &start, &stride, &count) != 3)
		return -EINVAL;
	ret = mn_bench_subscribe(file->private_data, start, stride, count);
	return ret ?: len;
}

static int mn_bench_open(struct inode *inode, struct file *file)
{
	struct mn_bench_file *f = kzalloc(sizeof(*f), GFP_KERNEL);

	file->private_data = f;
	return f ? 0 : -ENOMEM;
}

static int mn_bench_release(struct inode *inode, struct file *file)
{
	mn_bench_clear(file->private_data);
	kfree(file->private_data);
	return 0;
}

static const struct file_operations mn_bench_fops = {
	.owner = THIS_MODULE,
	.open = mn_bench_open,
	.write = mn_bench_write,
	.release = mn_bench_release,
};

static struct dentry *mn_bench_dentry;

static int __init mn_bench_init(void)
{
	mn_bench_dentry = debugfs_create_file("mn_bench", 0200, NULL, NULL,
					      &mn_bench_fops);
	return 0;
}

static void __exit mn_bench_exit(void)
{
	debugfs_remove(mn_bench_dentry);
}

module_init(mn_bench_init);
module_exit(mn_bench_exit);
MODULE_DESCRIPTION("Interval subscribers on demand, for timing the MMU notifier core");
MODULE_LICENSE("GPL");
