#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# make bench: our kernel against the unmodified base (BASE=stock), both
# built from the same config fragments, measured side by side in one run.
# Rounds alternate between the two kernels; each figure is the median of
# its rounds, and only the ratios mean anything under emulation.
#
#   ROUNDS=5 ITERATIONS=20000 BENCH="mmu_notifier rxe_odp" scripts/bench.sh
#
# Two parts, both by default (BENCH="mmu_notifier rxe_odp"):
#  mmu_notifier  one-page mprotect / MADV_DONTNEED / munmap with 0 to 10,000
#                interval subscribers, ours / stock
#                -> build/bench/mmu_notifier.csv
#  rxe_odp       perftest bandwidth warm, first-touch throughput and 1 GiB
#                registration time, ODP / pinned on our kernel
#                -> build/bench/rxe_odp.csv; RXE_ROWS="ib_read_bw:65536 cold"
#                runs only those rows (of <ib_*_bw>:<bytes>, cold, reg)
# Each prints its table.
#
# Guest RAM is backed by host huge pages when the bench can reserve them
# (as root; BENCH_HUGEPAGES=0 turns it off). Under TCG, guest RAM on 4 KiB
# host pages made some boots up to 1.7x slower at random: over 15 boots of
# the MMU notifier part, each figure's spread (CV) was 6-22 % on 4 KiB host
# pages and 1-4 % on huge pages.
set -euo pipefail
. "$(dirname "$0")/common.sh"

rounds=${ROUNDS:-5}
iters=${ITERATIONS:-20000}
parts=${BENCH:-mmu_notifier rxe_odp}
top=$BUILD/bench
mkdir -p "$top"

# The largest guest (4 GiB) plus slack, in 2 MiB pages.
HUGE_NEED=2100
huge_mnt=$top/hugetlbfs
huge_old=

release_hugepages() {
	mountpoint -q "$huge_mnt" && umount "$huge_mnt"
	[ -z "$huge_old" ] || echo "$huge_old" >/proc/sys/vm/nr_hugepages
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

bench_mmu_notifier() {
	build_kernel_and_module ours
	build_kernel_and_module stock
	make -s -C "$REPO/userspace" OUT="$BUILD/userspace"

	: >"$top/raw.txt"
	for r in $(seq 1 "$rounds"); do
		for base in ours stock; do
			kernel=$(BASE=$base FLAVOR=default kernel_out)/arch/x86/boot/bzImage
			"$REPO/scripts/vm.sh" -k "$kernel" -t 900 -o "$top/run-$base-$r" -a kunit.enable=0 -- \
				"$REPO/bench/guest-mmu-notifier" "$top/kmod-$base/mn_bench_kmod.ko" \
				"$BUILD/userspace/mn_bench" "$iters" >/dev/null ||
				die "bench run $r on $base failed (see build/bench/run-$base-$r/console.log)"
			grep -aE '^(mprotect|dontneed|munmap) [0-9]+ [0-9]+' "$top/run-$base-$r/console.log" |
				sed "s/^/$base $r /" >>"$top/raw.txt"
		done
		echo "bench: mmu_notifier round $r of $rounds done"
	done
	mmu_notifier_table
}

mmu_notifier_table() {
python3 - "$top/raw.txt" "$top/mmu_notifier.csv" <<'PY'
import statistics, sys
from collections import defaultdict
raw, csv = sys.argv[1], sys.argv[2]
by_round = {}                   # (op, subs, base, round) -> ns per op
for line in open(raw):
    base, rnd, op, subs, v = line.split()
    by_round[(op, int(subs), base, rnd)] = float(v)
ns = defaultdict(list)          # (op, subs, base) -> ns per op, every round
for (op, subs, base, _), v in by_round.items():
    ns[(op, subs, base)].append(v)
# What the subscribers add: N minus 0 subscribers in the same boot, which
# cancels what differs between boots and between the two kernels' layout.
added = defaultdict(list)
for (op, subs, base, rnd), v in by_round.items():
    zero = by_round.get((op, 0, base, rnd))
    if subs and zero is not None:
        added[(op, subs, base)].append(v - zero)
rows = []
for op in ("mprotect", "dontneed", "munmap"):
    for subs in (0, 1, 100, 10000):
        o, s = ns.get((op, subs, "ours")), ns.get((op, subs, "stock"))
        if not o or not s:
            continue
        mo, ms = statistics.median(o), statistics.median(s)
        ao, as_ = added.get((op, subs, "ours")), added.get((op, subs, "stock"))
        ao = statistics.median(ao) if ao else 0.0
        as_ = statistics.median(as_) if as_ else 0.0
        rows.append((op, subs, mo, ms, mo / ms, ao, as_, min(len(o), len(s))))
with open(csv, "w") as f:
    f.write("op,subscribers,ours_ns,stock_ns,ours_over_stock,ours_added_ns,stock_added_ns,rounds\n")
    for r in rows:
        f.write("%s,%d,%.0f,%.0f,%.3f,%.0f,%.0f,%d\n" % r)
print("%-9s %11s %10s %10s %12s %11s %11s" % ("op", "subscribers", "ours ns", "stock ns",
                                              "ours/stock", "ours +ns", "stock +ns"))
for op, subs, mo, ms, ratio, ao, as_, n in rows:
    print("%-9s %11d %10.0f %10.0f %12.3f %11s %11s" % (op, subs, mo, ms, ratio,
          "%+.0f" % ao if subs else "", "%+.0f" % as_ if subs else ""))
print("median of %d alternating rounds; +ns: over 0 subscribers in the same boot; csv: %s"
      % (rows[0][7] if rows else 0, csv))
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
	grep -aE '^(warm|cold|reg) ' "$top/rxe-odp/console.log" >"$top/rxe-raw.txt"
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
