#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# make run: build the default kernel, boot it (KUnit off), print rxe0's
# ODP capabilities and one loopback ib_write_bw result.
# make run HOSTS=2: boot two guests on a wire (scripts/twohost.sh) and run
# ib_write_bw --odp from one to the other instead.
set -euo pipefail
. "$(dirname "$0")/common.sh"

"$REPO/scripts/kernel.sh"
out=$BUILD/run
set +e
case ${HOSTS:-1} in
1)
	"$REPO/scripts/vm.sh" -t 600 -o "$out" -a kunit.enable=0 -- "$REPO/scripts/guest-run"
	rc=$?
	;;
2)
	"$REPO/scripts/twohost.sh" -t 600 -o "$out" -- "$REPO/scripts/guest-run"
	rc=$?
	out=$out/a
	;;
*)
	die "HOSTS must be 1 or 2, not '$HOSTS'"
	;;
esac
set -e
# The guest's own output, without the kernel's messages.
grep -av '\[ *[0-9]*\.[0-9]*\] ' "$out/console.log" | sed -n '/^== /,$p'
[ $rc -eq 0 ] || echo "run: failed (exit $rc); console log: ${out#"$REPO"/}/console.log"
exit $rc
