#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Build what the guest runs from the shared root: our userspace programs
# (build/userspace/), the base kernel's HMM selftest (build/tests/) and
# the rxe provider with advise_mr (build/rdma-core/).
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ -d "$PRISTINE" ] || die "base source not unpacked (make kernel)"
make -s -C "$REPO/userspace" OUT="$BUILD/userspace" \
	KSFT_DIR="$PRISTINE/tools/testing/selftests"

hmm_src=$PRISTINE/tools/testing/selftests/mm/hmm-tests.c
hmm_bin=$BUILD/tests/hmm-tests
mkdir -p "$BUILD/tests"
# Each case's time limit, 30 s in the harness, is for real machines: under
# TCG with the debug kernel, migrate_multiple alone can take longer.
# hmm-tests.c is compiled as it is, behind a larger default.
hmm_timeout=120
if [ ! -x "$hmm_bin" ] || [ "$hmm_src" -nt "$hmm_bin" ] ||
   [ "$0" -nt "$hmm_bin" ]; then
	printf '%s\n' '#include "kselftest_harness.h"' \
		'#undef TEST_TIMEOUT_DEFAULT' \
		"#define TEST_TIMEOUT_DEFAULT $hmm_timeout" \
		'#include "mm/hmm-tests.c"' |
	gcc -O2 -Wall -I"$PRISTINE/tools/testing/selftests" -I"$PRISTINE" \
		-x c -o "$hmm_bin" - -lpthread
fi
# The guest binds it over Debian's, which has no advise_mr.
"$REPO/scripts/rdma-core.sh"
