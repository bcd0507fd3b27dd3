// SPDX-License-Identifier: GPL-2.0-only
/*
 * Linked into make bench's kernels only: padding that moves what is linked
 * after it. BENCH_LAYOUT_PAD bytes of no-ops move the code; with
 * BENCH_LAYOUT_RODATA, as many bytes in .rodata.* move the read-only data
 * that follows the kernel's symbol and string tables. scripts/bench.sh
 * links one copy at the end of init/, which shifts everything but the head
 * code and evens out the read-only data, and one right after
 * mm/mmu_notifier.o, which makes the two notifier cores it compares take
 * the same room, so that all other code sits at the same addresses in both
 * kernels.
 */
#include <linux/compiler.h>
#include <linux/stringify.h>

static void __used bench_layout_pad(void)
{
	asm volatile(".skip " __stringify(BENCH_LAYOUT_PAD) ", 0x90");
}

#if BENCH_LAYOUT_RODATA
static const char bench_layout_rodata[BENCH_LAYOUT_RODATA]
	__section(".rodata.bench_layout") __used = { 1 };
#endif
