#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Build Debian 12's rxe provider (rdma-core 44.0-2) with our patches from
# deps/rdma-core/ into build/rdma-core/librxe-rdmav34.so, which the guest
# binds over the system's (scripts/guest-init). Debian's has no advise_mr,
# so ibv_advise_mr() never reaches the kernel; ours forwards it.
#
# Sources: the upstream tarball and Debian's packaging in ../shared/deps
# beside the checkout, or else `apt-get source` (which needs a deb-src line).
# Only the provider and the libibverbs it links against are built. Nothing
# is done when the .so is newer than the sources, the patches and this script.
set -euo pipefail
. "$(dirname "$0")/common.sh"

VER=44.0
DEBVER=$VER-2
PROVIDER=librxe-rdmav34.so
out=$BUILD/rdma-core
so=$out/$PROVIDER
deps=$(realpath -m "$REPO/../shared/deps")
patches=("$REPO"/deps/rdma-core/*.patch)

find_sources() {
	if [ -f "$deps/rdma-core-$VER.tar.gz" ]; then
		upstream=$deps/rdma-core-$VER.tar.gz
		debian=$deps/rdma-core_$DEBVER.debian.tar.xz
	else
		upstream=$out/apt/rdma-core_$VER.orig.tar.gz
		debian=$out/apt/rdma-core_$DEBVER.debian.tar.xz
		if [ ! -f "$upstream" ] || [ ! -f "$debian" ]; then
			echo "rdma-core: no $deps; fetching the sources with apt-get source"
			mkdir -p "$out/apt"
			(cd "$out/apt" && apt-get source -qq --download-only "rdma-core=$DEBVER") ||
				die "apt-get source rdma-core=$DEBVER failed (no deb-src in the apt sources?), and $deps is absent"
		fi
	fi
	[ -f "$debian" ] || die "$debian missing"
}

up_to_date() {
	local f
	[ -f "$so" ] || return 1
	for f in "$upstream" "$debian" "${patches[@]}" "$0"; do
		[ "$f" -nt "$so" ] && return 1
	done
	return 0
}

# Upstream, then Debian's quilt series (44.0-2 has none), then ours.
unpack() {
	local src=$out/src p
	rm -rf "$src" "$out/unpack.tmp" "$out/build"
	mkdir -p "$out/unpack.tmp"
	tar -xzf "$upstream" -C "$out/unpack.tmp"
	mv "$out/unpack.tmp/rdma-core-$VER" "$src"
	rmdir "$out/unpack.tmp"
	tar -xJf "$debian" -C "$src"
	if [ -f "$src/debian/patches/series" ]; then
		for p in $(sed -e 's/#.*//' "$src/debian/patches/series" | awk 'NF { print $1 }'); do
			patch -p1 -d "$src" --batch --forward --quiet <"$src/debian/patches/$p" ||
				die "Debian's patch $p does not apply"
		done
	fi
	for p in "${patches[@]}"; do
		patch -p1 -d "$src" --batch --forward --fuzz=0 --quiet <"$p" ||
			die "$(basename "$p") does not apply to rdma-core $DEBVER"
	done
}

# The provider is loaded by the system's libibverbs, not the one built
# here: every private symbol it needs must be one the system's exports.
check_abi() {
	local lib missing
	lib=/usr/lib/$(gcc -print-multiarch)/libibverbs.so.1
	missing=$(comm -23 \
		<(objdump -T "$1" | grep -o '(IBVERBS_PRIVATE_[0-9]*) .*' | tr -d '()' | sort -u) \
		<(objdump -T "$lib" | grep -o 'IBVERBS_PRIVATE_[0-9]* .*' | sort -u))
	[ -z "$missing" ] || die "$lib does not export what the provider needs: $missing"
}

main() {
	local t0=$SECONDS log=$out/build.log
	find_sources
	up_to_date && return 0
	echo "rdma-core: building $PROVIDER from $DEBVER with ${#patches[@]} patch(es) (log: ${log#"$REPO"/})"
	unpack
	# No rpath: the provider must bind to the system's libibverbs.so.1.
	if ! { cmake -S "$out/src" -B "$out/build" -GNinja -DCMAKE_BUILD_TYPE=Release \
		-DNO_MAN_PAGES=1 -DNO_PYVERBS=1 -DCMAKE_SKIP_RPATH=ON &&
		ninja -C "$out/build" -j"$(nproc)" "lib/$PROVIDER"; } >"$log" 2>&1; then
		tail -20 "$log" >&2
		die "build of $PROVIDER failed (see ${log#"$REPO"/})"
	fi
	check_abi "$out/build/lib/$PROVIDER"
	cp "$out/build/lib/$PROVIDER" "$so.tmp"
	mv -f "$so.tmp" "$so"
	echo "rdma-core: ${so#"$REPO"/} ($((SECONDS - t0)) s)"
}

main "$@"
