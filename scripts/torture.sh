#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# make torture: build, boot the kernel of $FLAVOR (KUnit off) and run the
# ODP torture tool (userspace/odp_torture, through tests/guest/65-odp-torture)
# for DURATION seconds (default 60) with SEED (default 1). Prints the tool's
# own lines; the run is kept in build/torture/<flavor>/.
#
#   DURATION=600 FLAVOR=debug SEED=7 make torture
#
# Fails on a mismatch, an unexpected completion, a splat on the console,
# a panic or a hang (scripts/vm.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"

duration=${DURATION:-60}
seed=${SEED:-1}
[[ $duration =~ ^[1-9][0-9]*$ ]] || die "DURATION: '$duration' is not a number of seconds"
[[ $seed =~ ^[0-9]+$ ]] || die "SEED: '$seed' is not a number"
case $FLAVOR in default|debug) ;; *) die "FLAVOR must be default or debug to boot" ;; esac

"$REPO/scripts/kernel.sh"
"$REPO/scripts/build-tests.sh"
out=$BUILD/torture/$FLAVOR
# Beyond the run itself: the boot, setting up swap and ext4, and reading
# every region back at the end; the debug kernel is several times slower.
[ "$FLAVOR" = debug ] && slack=1200 || slack=300
echo "torture: $FLAVOR kernel, $duration s, seed $seed (console: ${out#"$REPO"/}/console.log)"
set +e
"$REPO/scripts/vm.sh" -t $((duration + slack)) -o "$out" -a kunit.enable=0 -- \
	env ODP_TORTURE_TIME="$duration" ODP_TORTURE_SEED="$seed" \
	"$REPO/tests/guest/65-odp-torture"
rc=$?
set -e
grep -av '\[ *[0-9]*\.[0-9]*\] ' "$out/console.log" | grep -a '^odp_torture' || true
if [ $rc -eq 0 ]; then
	echo "torture: passed"
else
	echo "torture: failed (exit $rc); console log: ${out#"$REPO"/}/console.log"
fi
exit $rc
