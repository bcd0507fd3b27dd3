# SPDX-License-Identifier: GPL-2.0-only
# Paths and names shared by the build and VM scripts. Sourced, not run.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$REPO/build
TARBALL=${TARBALL:-/usr/src/linux-source-6.12.tar.xz}
# The unpacked base, never modified and never built in place: every kernel,
# ours or stock, is built out of tree with O=.
PRISTINE=$BUILD/linux-6.12
# Our source: a hard-linked copy of the base with our files and patches on top.
OURS=$BUILD/src
# Folders of the kernel tree that hold the files we own whole.
OVERLAY_DIRS=(mm drivers include)

FLAVOR=${FLAVOR:-default}
BASE=${BASE:-ours}

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# mlx5 and i386 are compile-only: the base's other ODP driver, built against
# our umem, and our objects in a 32-bit kernel.
case $FLAVOR in default|debug|mlx5|i386) ;; *) die "FLAVOR must be default, debug, mlx5 or i386, not '$FLAVOR'";; esac
case $BASE in ours|stock) ;; *) die "BASE must be ours or stock, not '$BASE'";; esac

# Output directory of a kernel build: build/out/<flavor> for ours,
# build/out/stock-<flavor> for the unmodified base.
kernel_out() {
	if [ "$BASE" = stock ]; then echo "$BUILD/out/stock-$FLAVOR"; else echo "$BUILD/out/$FLAVOR"; fi
}
