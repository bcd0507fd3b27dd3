#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# make check: the host-side harness tests, then for each kernel flavor
# (default, then debug) build, boot, run every suite in the guest and
# report one line per test. The last line is "N passed, N failed[, N
# skipped]"; the exit status is non-zero on any failure, panic, splat or
# hang. Runs are kept under build/check/<flavor>/.
#
#   FLAVORS="default debug" COMPILE_ONLY=mlx5 scripts/check.sh
#
# COMPILE_ONLY names flavors that are built but not booted: mlx5 compiles
# 6.12's mlx5 ODP driver against our umem ODP, i386 compiles our objects
# in a 32-bit kernel (COMPILE_ONLY= skips both).
set -uo pipefail
. "$(dirname "$0")/common.sh"

# Ctrl-C reaches every process in the terminal's foreground group: vm.sh
# stops its QEMU and exits 130, make stops a build, and the run ends there.
# No later flavor is built or booted, and no summary claims a result.
interrupted() {
	trap '' INT TERM
	echo "check: interrupted" >&2
	exit 130
}
trap interrupted INT TERM

flavors=${FLAVORS:-default debug}
top=$BUILD/check
rm -rf "$top"
mkdir -p "$top/host"
dirs=("$top/host")

run_host_tests() {
	local t name out rc
	: >"$top/host/results"
	for t in "$REPO"/tests/host/*; do
		[ -x "$t" ] && [ -f "$t" ] || continue
		name=$(basename "$t")
		out=$("$t" 2>&1)
		rc=$?
		echo "$out" >"$top/host/$name.log"
		if [ $rc -eq 0 ]; then
			echo "PASS $name"
		else
			echo "FAIL $name: $(echo "$out" | grep -m1 'not ok' || echo "exit $rc")"
		fi >>"$top/host/results"
	done
	"$REPO/scripts/report.py" plain host "$top/host"
}

# Guest time limits under TCG: the debug flavor (KASAN, lockdep) is
# several times slower.
vm_timeout() { [ "$1" = debug ] && echo 3000 || echo 900; }

# What the suite needs to know of a slow kernel: there perftest, the swap
# test's MR under memory pressure and the wire fuzzer only have to finish
# without a splat, so they run smaller (each test says what its variable
# means). The defaults are the tests' own.
suite_env() {
	if [ "$1" = debug ]; then
		echo PERFTEST_ITERS=50 PERFTEST_BW_SIZES=65536 PERFTEST_LAT_SIZES=8 \
			ODP_SWAP_SIZE=16M WIRE_FUZZ_PACKETS=2000 ODP_REPLAY_ROUNDS=3
	else
		echo PERFTEST_ITERS=200 ODP_SWAP_SIZE=128M
	fi
}

run_flavor() {
	local f=$1 dir=$top/$1 rc
	dirs+=("$dir")
	if ! FLAVOR=$f "$REPO/scripts/kernel.sh" || ! "$REPO/scripts/build-tests.sh"; then
		mkdir -p "$dir"
		echo "FAIL $f/build: kernel or test build failed"
		echo "0 1 0" >"$dir/counts"
		return
	fi
	echo "check: booting the $f kernel"
	# shellcheck disable=SC2046 # suite_env prints VAR=value words
	FLAVOR=$f "$REPO/scripts/vm.sh" -t "$(vm_timeout "$f")" -o "$dir" \
		-- env $(suite_env "$f") "$REPO/tests/guest-suite" \
		>/dev/null 2>"$top/$f-vm.log"
	rc=$?
	# vm.sh stopped by a signal that reached it alone ends the run too.
	[ $rc -ne 130 ] || interrupted
	"$REPO/scripts/report.py" run "$f" "$dir" "$rc"
	slowest_tests "$f" "$dir"
}

# Where a flavor's guest time went, for keeping CI within its limit.
slowest_tests() {
	[ -f "$2/times" ] || return 0
	echo "check: $1 guest tests took $(awk '{s += $1} END {print s}' "$2/times") s;" \
		"slowest: $(sort -rn "$2/times" | head -n 5 | awk '{printf "%s%s %ss", (NR > 1 ? ", " : ""), $2, $1}')"
}

# The tests of tests/twohost/ between two default-flavor guests on a wire
# (scripts/twohost.sh); the default guest ran them between namespaces.
run_twohost() {
	local dir=$top/twohost rc
	dirs+=("$dir/a")
	echo "check: booting two default guests on a wire"
	# shellcheck disable=SC2046 # suite_env prints VAR=value words
	FLAVOR=default "$REPO/scripts/twohost.sh" -t "$(vm_timeout default)" -o "$dir" \
		-- env $(suite_env default) "$REPO/tests/guest-suite" \
		>/dev/null 2>"$top/twohost-vm.log"
	rc=$?
	[ $rc -ne 130 ] || interrupted
	# Guest A's own status; guest B is judged from b/ (vm/peer).
	rc=$(cat "$dir/a/vm-rc" 2>/dev/null || echo 125)
	"$REPO/scripts/report.py" run twohost "$dir/a" "$rc"
	slowest_tests twohost "$dir/a"
}

# The kernel as a patch series (scripts/patches.py: generated, checkpatch
# clean, git am on the pristine tree identical to build/src) and as a
# Debian package that boots (scripts/deb.sh --check), from the default
# flavor just built.
run_artifacts() {
	local dir=$top/patches
	dirs+=("$dir" "$top/deb")
	mkdir -p "$dir" "$top/deb"
	{
		/usr/bin/python3 "$REPO/scripts/patches.py" generate &&
			/usr/bin/python3 "$REPO/scripts/patches.py" checkpatch
		/usr/bin/python3 "$REPO/scripts/patches.py" am
	} >"$dir/results" 2>"$dir/log"
	"$REPO/scripts/report.py" plain patches "$dir"
	FLAVOR=default "$REPO/scripts/deb.sh" --check >"$top/deb/results" 2>"$top/deb/log"
	"$REPO/scripts/report.py" plain deb "$top/deb"
}

# Kernels that only have to compile and link (configs/<flavor>.config).
run_compile_only() {
	local f=$1 dir=$top/$1
	dirs+=("$dir")
	mkdir -p "$dir"
	if FLAVOR=$f "$REPO/scripts/kernel.sh" >"$dir/kernel.log" 2>&1; then
		echo "PASS build"
	else
		echo "FAIL build: $(grep -m1 -E 'error|die|failed' "$dir/kernel.log")"
	fi >"$dir/results"
	"$REPO/scripts/report.py" plain "$f" "$dir"
}

t0=$SECONDS
run_host_tests
for f in ${COMPILE_ONLY-mlx5 i386}; do
	run_compile_only "$f"
done
for f in $flavors; do
	run_flavor "$f"
	if [ "$f" = default ]; then
		run_twohost
		run_artifacts
	fi
done
echo "check: $(( (SECONDS - t0) / 60 )) min $(( (SECONDS - t0) % 60 )) s; runs kept in ${top#"$REPO"/}/"
"$REPO/scripts/report.py" total "${dirs[@]}"
