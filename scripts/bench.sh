#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# make bench: side-by-side figures, measured in one run; each is the median
# of its rounds, and only the ratios mean anything under emulation.
#
#   ROUNDS=5 ITERATIONS=20000 PASSES=2 BENCH="mmu_notifier rxe_odp" scripts/bench.sh
#
# Two parts, both by default (BENCH="mmu_notifier rxe_odp"):
#  mmu_notifier  one-page mprotect / MADV_DONTNEED / munmap with 0 to 10,000
#                interval subscribers, our notifier core / stock's, each in
#                the base tree, at matched code layouts (below)
#                -> build/bench/mmu_notifier.csv
#  rxe_odp       perftest bandwidth warm, first-touch throughput and 1 GiB
#                registration time, ODP / pinned on our kernel; and one QP's
#                warm bandwidth while another QP faults in a cold 1 GiB ODP
#                MR, over its bandwidth alone (stall)
#                -> build/bench/rxe_odp.csv; RXE_ROWS="ib_read_bw:65536 cold"
#                runs only those rows (of <ib_*_bw>:<bytes>, cold, reg, stall)
# Each prints its table.
#
# Guest RAM is backed by host huge pages when the bench can reserve them
# (as root; BENCH_HUGEPAGES=0 turns it off). Under TCG, guest RAM on 4 KiB
# host pages made some boots up to 1.7x slower at random: over 15 boots of
# the MMU notifier part, each figure's spread (CV) was 6-22 % on 4 KiB host
# pages and 1-4 % on huge pages (later 32-boot runs on huge pages: 4-17 %,
# and 3-8 % once the boot order alternated).
set -euo pipefail
. "$(dirname "$0")/common.sh"
# Ours and stock must run under the same accelerator, whatever a probe of
# either image would say (scripts/vm.sh).
export VM_ACCEL=tcg

rounds=${ROUNDS:-5}
iters=${ITERATIONS:-20000}
# MMU notifier part: processes per subscriber count in each boot. A boot's
# figure is their median: one-page timings under emulation also vary from
# process to process (by about as much as from boot to boot, CV 1-9 %),
# and another process costs a few seconds where another boot costs ten.
passes=${PASSES:-2}
[[ $passes =~ ^[1-9][0-9]*$ ]] || die "PASSES: '$passes' is not a positive count"
parts=${BENCH:-mmu_notifier rxe_odp}
top=$BUILD/bench
mkdir -p "$top"

# The largest guest (4 GiB) plus slack, in 2 MiB pages.
HUGE_NEED=2100
huge_mnt=$top/hugetlbfs
huge_old=

# The EXIT trap, under set -e: the pages go back first, and nothing in it
# may fail, or the rest of it would not run. Pages a mount still holds
# stay surplus until it goes, then return by themselves.
release_hugepages() {
	[ -z "$huge_old" ] || echo "$huge_old" >/proc/sys/vm/nr_hugepages || true
	! mountpoint -q "$huge_mnt" || umount "$huge_mnt" || true
}

# Reserve HUGE_NEED more huge pages for the guests' RAM, and give them back
# at exit; without them the guests run on ordinary host memory.
reserve_hugepages() {
	local free
	if [ "${BENCH_HUGEPAGES:-1}" = 0 ] || [ "$(id -u)" != 0 ]; then
		echo "bench: guest RAM on ordinary host pages"
		return 0
	fi
	huge_old=$(cat /proc/sys/vm/nr_hugepages)
	trap release_hugepages EXIT
	echo $((huge_old + HUGE_NEED)) >/proc/sys/vm/nr_hugepages
	free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
	if [ "$free" -lt "$HUGE_NEED" ]; then
		echo "bench: only $free free huge pages; guest RAM on ordinary host pages"
		return 0
	fi
	mkdir -p "$huge_mnt"
	mount -t hugetlbfs -o pagesize=2M none "$huge_mnt"
	export VM_MEM_PATH=$huge_mnt
	echo "bench: guest RAM on host huge pages"
}

build_kernel_and_module() {
	local base=$1 out src
	BASE=$base FLAVOR=default "$REPO/scripts/kernel.sh"
	out=$(BASE=$base FLAVOR=default kernel_out)
	src=$OURS
	[ "$base" = stock ] && src=$PRISTINE
	# One copy of the helper's source per kernel: kbuild writes next to it.
	rm -rf "$top/kmod-$base"
	cp -r "$REPO/bench" "$top/kmod-$base"
	make -s -C "$src" O="$out" ARCH=x86_64 M="$top/kmod-$base" modules >/dev/null
}

# The MMU notifier part compares the two notifier cores, not the rest of
# the two kernels: "ours" is the base tree with our mm/mmu_notifier.c and
# nothing else of ours, built with stock's .config. Under TCG a kernel's
# speed depends on where its hot code lies: a direct jump or call to
# another 4 KiB page cannot be chained to its target and costs a lookup,
# and the lookup cache is indexed by address. Swapping stock's core for
# ours, which moves what follows it by 267 bytes of code and some
# read-only data, changed 0-subscriber mprotect by 6 %, with no notifier
# code running at all. So both kernels get padding right after
# mm/mmu_notifier.o that makes the two cores take the same room, and
# .rodata.* padding (match_rodata), so that all other code and read-only
# data sit at the same addresses in both (checked against System.map).
# Each kernel is built once for every shift in LAYOUT_SHIFTS (bytes of
# padding at the end of init/, which move everything but the head code),
# so that neither result rests on one layout; each round boots both
# kernels at every shift.
LAYOUT_SHIFTS=${LAYOUT_SHIFTS:-0 1031 2063 3089}

# A hard-linked copy of the base with the bench's padding objects, and our
# notifier core for "ours": bench/bench_layout.c at the end of init/ (code
# $(BENCH_INIT_PAD), read-only data $(BENCH_RODATA_PAD) bytes) and right
# after mm/mmu_notifier.o (code $(BENCH_MM_PAD) bytes).
layout_tree() {
	local base=$1 src=$top/src-$1
	rm -rf "$src"
	cp -al "$PRISTINE" "$src"
	if [ "$base" = ours ]; then
		rm "$src/mm/mmu_notifier.c"
		cp "$REPO/mm/mmu_notifier.c" "$src/mm/mmu_notifier.c"
	fi
	cp "$REPO/bench/bench_layout.c" "$src/init/bench_layout.c"
	cp "$REPO/bench/bench_layout.c" "$src/mm/bench_layout_mm.c"
	rm "$src/init/Makefile" "$src/mm/Makefile"
	{
		cat "$PRISTINE/init/Makefile"
		echo 'obj-y += bench_layout.o'
		echo 'CFLAGS_bench_layout.o += -DBENCH_LAYOUT_PAD=$(BENCH_INIT_PAD)'
		echo 'CFLAGS_bench_layout.o += -DBENCH_LAYOUT_RODATA=$(BENCH_RODATA_PAD)'
	} >"$src/init/Makefile"
	sed '/^obj-$(CONFIG_MMU_NOTIFIER) += mmu_notifier.o$/a obj-$(CONFIG_MMU_NOTIFIER) += bench_layout_mm.o\
CFLAGS_bench_layout_mm.o += -DBENCH_LAYOUT_PAD=$(BENCH_MM_PAD) -DBENCH_LAYOUT_RODATA=0' \
		"$PRISTINE/mm/Makefile" >"$src/mm/Makefile"
	grep -q bench_layout_mm "$src/mm/Makefile" || die "no mmu_notifier.o line in mm/Makefile"
}

layout_make() {
	local base=$1 shift=$2 mm_pad=$3 rodata_pad=$4 out=$top/out-$1
	make -C "$top/src-$base" O="$out" ARCH=x86_64 -j"$(nproc)" \
		BENCH_INIT_PAD="$shift" BENCH_MM_PAD="$mm_pad" BENCH_RODATA_PAD="$rodata_pad" \
		bzImage >"$out/build.log" 2>&1 ||
		die "bench build of $base failed (see ${out#"$REPO"/}/build.log)"
}

symbol_address() {
	awk -v s="$2" '$3 == s { print $1; exit }' "$top/out-$1/System.map"
}

notifier_text_size() {
	size -A "$top/out-$1/mm/mmu_notifier.o" | awk '$1 == ".text" { print $2 }'
}

# Symbols from every part of the kernel after mm/mmu_notifier.o, and the
# read-only data after the symbol and string tables, which must have one
# address in both kernels.
LAYOUT_PROBES="hmm_range_fault vfs_read ib_register_device mas_walk memcpy
	__sched_class_highest __start_ro_after_init __start___jump_table"

check_layout_matched() {
	local sym a b
	for sym in $LAYOUT_PROBES; do
		a=$(symbol_address ours "$sym")
		b=$(symbol_address stock "$sym")
		[ -n "$a" ] && [ "$a" = "$b" ] ||
			die "layout not matched: $sym at ${a:-nowhere} in ours, ${b:-nowhere} in stock"
	done
}

# The two cores' names and strings differ, so the kernels' symbol and
# string tables differ in size and move the read-only data after them
# (the scheduler classes, __ro_after_init variables, static keys). Pad the
# smaller one's .rodata.* ahead of that data until it lines up again.
# Updates layout_images()'s rodata_pad_ours / rodata_pad_stock, which carry
# over from one shift to the next.
match_rodata() {
	local shift=$1 tries=0 a b
	while :; do
		layout_make ours "$shift" "$mm_pad_ours" "$rodata_pad_ours"
		layout_make stock "$shift" "$mm_pad_stock" "$rodata_pad_stock"
		a=$(symbol_address ours __start_ro_after_init)
		b=$(symbol_address stock __start_ro_after_init)
		[ "$a" = "$b" ] && return 0
		[ $((tries++)) -lt 4 ] || return 0
		if [[ 0x$a > 0x$b ]]; then
			rodata_pad_stock=$((rodata_pad_stock + 0x$a - 0x$b))
		else
			rodata_pad_ours=$((rodata_pad_ours + 0x$b - 0x$a))
		fi
	done
}

# build/bench/img/<base>-<shift> for every shift in LAYOUT_SHIFTS.
layout_images() {
	local base shift size_ours size_stock config
	local mm_pad_ours mm_pad_stock rodata_pad_ours=0 rodata_pad_stock=0
	config=$(BASE=stock FLAVOR=default kernel_out)/.config
	for base in ours stock; do
		layout_tree "$base"
		mkdir -p "$top/out-$base" "$top/img"
		cmp -s "$config" "$top/out-$base/.config" || cp "$config" "$top/out-$base/.config"
		echo "bench: building the $base notifier core"
		layout_make "$base" 0 0 0
	done
	# A stale object (an out dir built from other sources) would compare a
	# core with itself.
	cmp -s "$top/out-ours/mm/mmu_notifier.o" "$top/out-stock/mm/mmu_notifier.o" &&
		die "both bench kernels have the same notifier core; remove build/bench/out-*"
	size_ours=$(notifier_text_size ours)
	size_stock=$(notifier_text_size stock)
	mm_pad_ours=$((size_ours < size_stock ? size_stock - size_ours : 0))
	mm_pad_stock=$((size_stock < size_ours ? size_ours - size_stock : 0))
	for shift in $LAYOUT_SHIFTS; do
		[[ $shift =~ ^[0-9]+$ ]] || die "LAYOUT_SHIFTS: '$shift' is not a byte count"
		echo "bench: building both at a shift of $shift bytes"
		match_rodata "$shift"
		check_layout_matched
		for base in ours stock; do
			cp "$top/out-$base/arch/x86/boot/bzImage" "$top/img/$base-$shift"
		done
	done
	echo "bench: padding after the cores: text $mm_pad_ours / $mm_pad_stock," \
		".rodata $rodata_pad_ours / $rodata_pad_stock bytes (ours / stock)"
}

# The helper module is built once, against stock, and loaded into both.
bench_mmu_notifier() {
	local r shift base k order
	build_kernel_and_module stock
	layout_images
	make -s -C "$REPO/userspace" OUT="$BUILD/userspace"

	: >"$top/raw.txt"
	for r in $(seq 1 "$rounds"); do
		k=0
		for shift in $LAYOUT_SHIFTS; do
			# Which kernel boots first alternates from shift to shift, and
			# at each shift from round to round.
			order="ours stock"
			[ $(((r + k++) % 2)) = 0 ] || order="stock ours"
			for base in $order; do
				"$REPO/scripts/vm.sh" -k "$top/img/$base-$shift" -t 900 -o "$top/run-$base" \
					-a kunit.enable=0 -- "$REPO/bench/guest-mmu-notifier" \
					"$top/kmod-stock/mn_bench_kmod.ko" "$BUILD/userspace/mn_bench" "$iters" \
					"$passes" >/dev/null ||
					die "bench run $r of $base at shift $shift failed (see build/bench/run-$base/console.log)"
				grep -aE '^(mprotect|dontneed|munmap) [0-9]+ [0-9]+' "$top/run-$base/console.log" |
					sed "s/^/$base $r:$shift /" >>"$top/raw.txt"
			done
		done
		echo "bench: mmu_notifier round $r of $rounds done"
	done
	mmu_notifier_table
}

mmu_notifier_table() {
python3 - "$top/raw.txt" "$top/mmu_notifier.csv" "$LAYOUT_SHIFTS" <<'PY'
import statistics, sys
from collections import defaultdict
raw, csv, shifts = sys.argv[1], sys.argv[2], sys.argv[3].split()
passes = defaultdict(list)      # (op, subs, base, "round:shift") -> ns per op, each process
for line in open(raw):
    base, boot, op, subs, v = line.split()
    passes[(op, int(subs), base, boot)].append(float(v))
by_boot = {k: statistics.median(v) for k, v in passes.items()}
ns = defaultdict(list)          # (op, subs, base) -> ns per op, every boot
per_shift = defaultdict(list)   # (op, subs, base, shift) -> ns per op
for (op, subs, base, boot), v in by_boot.items():
    ns[(op, subs, base)].append(v)
    per_shift[(op, subs, base, boot.split(":")[1])].append(v)
# What the subscribers add: N minus 0 subscribers in the same boot.
added = defaultdict(list)
for (op, subs, base, boot), v in by_boot.items():
    zero = by_boot.get((op, 0, base, boot))
    if subs and zero is not None:
        added[(op, subs, base)].append(v - zero)
med = statistics.median
rows = []
for op in ("mprotect", "dontneed", "munmap"):
    for subs in (0, 1, 100, 10000):
        o, s = ns.get((op, subs, "ours")), ns.get((op, subs, "stock"))
        if not o or not s:
            continue
        layouts = []
        for shift in shifts:
            po, ps = per_shift.get((op, subs, "ours", shift)), per_shift.get((op, subs, "stock", shift))
            layouts.append(med(po) / med(ps) if po and ps else float("nan"))
        ao, as_ = added.get((op, subs, "ours")), added.get((op, subs, "stock"))
        mao, mas = (med(ao), med(as_)) if ao and as_ else (0.0, 0.0)
        # With 0 subscribers both kernels run the same code at the same
        # addresses, so their 0-subscriber boots are one sample: on that
        # common base, the ratio is what each core adds, without the
        # boot-to-boot noise of two separate totals.
        base0 = med(ns[(op, 0, "ours")] + ns[(op, 0, "stock")]) \
            if ns.get((op, 0, "ours")) and ns.get((op, 0, "stock")) else float("nan")
        rows.append((op, subs, med(o), med(s), med(o) / med(s), mao, mas,
                     (base0 + mao) / (base0 + mas), min(len(o), len(s)), layouts))
with open(csv, "w") as f:
    f.write("op,subscribers,ours_ns,stock_ns,ours_over_stock,ours_added_ns,stock_added_ns,"
            "ours_over_stock_common_base,boots,%s\n" % ",".join("ratio_shift_" + x for x in shifts))
    for r in rows:
        f.write("%s,%d,%.0f,%.0f,%.3f,%.0f,%.0f,%.3f,%d," % r[:9] +
                ",".join("%.3f" % x for x in r[9]) + "\n")
print("%-9s %6s %8s %8s %10s %8s %8s %8s  %s" % ("op", "subs", "ours ns", "stock ns",
      "ours/stock", "ours +ns", "stock +ns", "common", "ours/stock at each shift"))
for op, subs, mo, ms, ratio, ao, as_, common, n, layouts in rows:
    print("%-9s %6d %8.0f %8.0f %10.3f %8s %8s %8s  %s" % (op, subs, mo, ms, ratio,
          "%+.0f" % ao if subs else "", "%+.0f" % as_ if subs else "",
          "%.3f" % common if subs else "", " ".join("%.3f" % x for x in layouts)))
print("median of %d boots per kernel (shifts of %s bytes), each the median of"
      " %d processes; +ns: over 0 subscribers in the same boot; common: ours/stock"
      " with each kernel's +ns on the 0-subscriber median of both; csv: %s"
      % (rows[0][8] if rows else 0, "/".join(shifts),
         min(len(v) for v in passes.values()) if passes else 0, csv))
PY
}

# One boot of our kernel with 4 GiB (a pinned 1 GiB registration must fit);
# the guest alternates pinned and ODP within each round.
bench_rxe_odp() {
	FLAVOR=default "$REPO/scripts/kernel.sh"
	"$REPO/scripts/build-tests.sh"
	VM_MEM=4G "$REPO/scripts/vm.sh" -t 3600 -o "$top/rxe-odp" -a kunit.enable=0 -- \
		"$REPO/bench/guest-rxe-odp" "$REPO" "$BUILD/userspace/odp_bench" "$rounds" \
		"${RXE_ROWS:-all}" >/dev/null ||
		die "rxe ODP bench failed (see build/bench/rxe-odp/console.log)"
	grep -aE '^(warm|cold|reg|stall) ' "$top/rxe-odp/console.log" >"$top/rxe-raw.txt"
	"$REPO/scripts/bench-rxe-table.py" "$top/rxe-raw.txt" "$top/rxe_odp.csv"
}

reserve_hugepages
for part in $parts; do
	case $part in
	mmu_notifier) bench_mmu_notifier ;;
	rxe_odp) bench_rxe_odp ;;
	*) die "unknown bench part '$part' (mmu_notifier, rxe_odp)" ;;
	esac
done
