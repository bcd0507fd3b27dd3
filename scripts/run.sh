#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# make run: build the default kernel, boot it (KUnit off), print rxe0's
# ODP capabilities and one loopback ib_write_bw result.
set -euo pipefail
. "$(dirname "$0")/common.sh"

"$REPO/scripts/kernel.sh"
out=$BUILD/run
set +e
"$REPO/scripts/vm.sh" -t 600 -o "$out" -a kunit.enable=0 -- "$REPO/scripts/guest-run"
rc=$?
set -e
# The guest's own output, without the kernel's messages.
grep -av '\[ *[0-9]*\.[0-9]*\] ' "$out/console.log" | sed -n '/^== /,$p'
[ $rc -eq 0 ] || echo "run: failed (exit $rc); console log: ${out#"$REPO"/}/console.log"
exit $rc
