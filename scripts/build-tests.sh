#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Build what the guest runs from the shared root: our userspace programs
# (build/userspace/) and the base kernel's HMM selftest (build/tests/).
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ -d "$PRISTINE" ] || die "base source not unpacked (make kernel)"
make -s -C "$REPO/userspace" OUT="$BUILD/userspace" \
	KSFT_DIR="$PRISTINE/tools/testing/selftests"

hmm_src=$PRISTINE/tools/testing/selftests/mm/hmm-tests.c
hmm_bin=$BUILD/tests/hmm-tests
mkdir -p "$BUILD/tests"
if [ ! -x "$hmm_bin" ] || [ "$hmm_src" -nt "$hmm_bin" ]; then
	gcc -O2 -Wall -I"$PRISTINE/tools/testing/selftests" -I"$PRISTINE" \
		-o "$hmm_bin" "$hmm_src" -lpthread
fi
