#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Build a bzImage: unpack the base once, lay our files and patches over a
# copy of it, merge configs/ onto tinyconfig and run kbuild out of tree.
#
#   FLAVOR=default|debug|mlx5|i386  BASE=ours|stock  scripts/kernel.sh
#
# FLAVOR=mlx5 links a vmlinux with the mlx5 driver on our ODP umem and
# stops there (compile-only: there is no mlx5 device to boot with).
# FLAVOR=i386 compiles only our objects, in a 32-bit kernel.
#
# Incremental: files are only rewritten when their content changes, so an
# edit to one owned .c rebuilds that object, and a changed patch is applied
# afresh to pristine copies of the files it touches.
set -euo pipefail
. "$(dirname "$0")/common.sh"

unpack_base() {
	local stamp=$BUILD/.unpacked
	local want
	want=$(stat -c '%s %Y' "$TARBALL") || die "$TARBALL missing (make deps)"
	[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return
	echo "kernel: unpacking $TARBALL"
	rm -rf "$PRISTINE" "$OURS" "$BUILD/out" "$BUILD/src.manifest"
	mkdir -p "$BUILD/unpack.tmp"
	tar -xJf "$TARBALL" -C "$BUILD/unpack.tmp"
	mv "$BUILD/unpack.tmp/linux-source-6.12" "$PRISTINE"
	rmdir "$BUILD/unpack.tmp"
	echo "$want" >"$stamp"
}

# Files a patch creates or modifies, from its +++ lines.
patch_targets() {
	sed -n 's#^+++ [ab]/\([^[:space:]]*\).*#\1#p' "$1"
}

series() {
	[ -f "$REPO/patches/series" ] || return 0
	sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$REPO/patches/series" | grep -v '^$' || true
}

# Build the full set of files that differ from the base in a scratch tree.
stage_changes() {
	local stage=$1 d f p
	rm -rf "$stage"
	mkdir -p "$stage"
	for d in "${OVERLAY_DIRS[@]}"; do
		[ -d "$REPO/$d" ] || continue
		(cd "$REPO" && find "$d" -type f ! -name '*.o' \( ! -name '.*' -o -name .kunitconfig \)) |
		while read -r f; do
			mkdir -p "$stage/$(dirname "$f")"
			cp "$REPO/$f" "$stage/$f"
		done
	done
	(cd "$stage" && find . -type f | sed 's#^\./##') >"$stage.owned"
	for p in $(series); do
		[ -f "$REPO/patches/$p" ] || die "patches/series names $p, which does not exist"
		for f in $(patch_targets "$REPO/patches/$p"); do
			grep -qxF "$f" "$stage.owned" &&
				die "patch $p modifies $f, which we own whole: edit the file instead"
			[ -f "$stage/$f" ] && continue
			[ -f "$PRISTINE/$f" ] || continue
			mkdir -p "$stage/$(dirname "$f")"
			cp "$PRISTINE/$f" "$stage/$f"
		done
		patch -p1 -d "$stage" --batch --forward --fuzz=0 --no-backup-if-mismatch \
			-r - --quiet <"$REPO/patches/$p" >"$stage.log" 2>&1 ||
			{ cat "$stage.log" >&2; die "patch $p does not apply"; }
	done
	rm -f "$stage.owned" "$stage.log"
}

# Replace a file without writing through a hard link into the base.
replace_file() {
	mkdir -p "$(dirname "$2")"
	cp "$1" "$2.tmp.$$"
	mv -f "$2.tmp.$$" "$2"
}

sync_ours() {
	local stage=$BUILD/stage manifest=$BUILD/src.manifest f n=0
	if [ ! -d "$OURS" ]; then
		echo "kernel: linking $OURS"
		cp -al "$PRISTINE" "$OURS.tmp"
		mv "$OURS.tmp" "$OURS"
		rm -f "$manifest"
	fi
	stage_changes "$stage"
	(cd "$stage" && find . -type f | sed 's#^\./##' | sort) >"$manifest.new"
	while read -r f; do
		cmp -s "$stage/$f" "$OURS/$f" && continue
		replace_file "$stage/$f" "$OURS/$f"
		n=$((n + 1))
	done <"$manifest.new"
	# Files changed last time but not now go back to the base's version.
	if [ -f "$manifest" ]; then
		comm -23 "$manifest" "$manifest.new" | while read -r f; do
			if [ -f "$PRISTINE/$f" ]; then
				replace_file "$PRISTINE/$f" "$OURS/$f"
			else
				rm -f "$OURS/$f"
			fi
			echo "kernel: restored $f"
		done
	fi
	mv "$manifest.new" "$manifest"
	rm -rf "$stage"
	[ $n -eq 0 ] || echo "kernel: updated $n file(s) in $OURS"
}

kmake() {
	local arch=x86_64

	[ "$FLAVOR" = i386 ] && arch=i386
	make -C "$src" O="$out" ARCH=$arch "$@"
}

# The objects the i386 flavor compiles: ours, and the rxe they hook into.
I386_OBJECTS=(mm/mmu_notifier.o mm/mmu_notifier_kunit.o
	drivers/infiniband/core/umem_odp.o drivers/infiniband/core/umem_odp_kunit.o
	drivers/infiniband/sw/rxe/)

# The objects the mlx5 flavor compiles: 6.12's mlx5 InfiniBand driver and
# ours it calls; mlx5_links_ours() then checks the calls against ours.
MLX5_OBJECTS=(mm/mmu_notifier.o drivers/infiniband/core/umem_odp.o
	drivers/infiniband/hw/mlx5/)

# Every umem ODP or MMU notifier symbol mlx5 refers to is one ours define:
# what linking would check, without building the rest of a vmlinux.
mlx5_links_ours() {
	local want have missing

	want=$(nm -u "$out"/drivers/infiniband/hw/mlx5/*.o |
		awk '$2 ~ /^(ib_umem_odp_|mmu_interval_|mmu_notifier_|__mmu_notifier_)/ { print $2 }' |
		sort -u)
	[ -n "$want" ] || die "mlx5 refers to no umem ODP symbol: nothing was checked"
	have=$(nm --defined-only "$out/mm/mmu_notifier.o" \
		"$out/drivers/infiniband/core/umem_odp.o" | awk '{ print $3 }' | sort -u)
	missing=$(comm -23 <(echo "$want") <(echo "$have"))
	[ -z "$missing" ] || die "mlx5 refers to symbols ours do not define: $missing"
	echo "kernel: mlx5 refers to $(echo "$want" | wc -l) umem ODP and notifier symbols, all defined by ours"
}

# tinyconfig + fragments, then check that every fragment line survived.
configure() {
	local frags=("$REPO/configs/base.config")
	[ "$FLAVOR" = debug ] && frags+=("$REPO/configs/debug.config")
	[ "$FLAVOR" = mlx5 ] && frags+=("$REPO/configs/mlx5.config")
	[ "$BASE" = ours ] && frags+=("$REPO/configs/ours.config")
	[ "$FLAVOR" = i386 ] && frags=("$REPO/configs/i386.config")
	mkdir -p "$out"
	[ -f "$out/.config" ] && cp -p "$out/.config" "$out/.config.prev"
	kmake -s tinyconfig >/dev/null
	"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${frags[@]}" >"$out/merge.log"
	kmake -s olddefconfig >/dev/null
	check_config "${frags[@]}"
	# An unchanged config keeps its old timestamp: kbuild then has nothing to redo.
	if [ -f "$out/.config.prev" ] && cmp -s "$out/.config" "$out/.config.prev"; then
		mv -f "$out/.config.prev" "$out/.config"
	else
		rm -f "$out/.config.prev"
	fi
}

check_config() {
	local bad=0 sym want got
	while read -r sym want; do
		got=$(grep -E "^(# )?$sym[= ]" "$out/.config" || true)
		case $want in
		n) [ -z "$got" ] || [ "$got" = "# $sym is not set" ] && continue ;;
		*) [ "$got" = "$sym=$want" ] && continue ;;
		esac
		echo "kernel: config: fragment wants $sym=$want, merged .config has '${got:-nothing}'" >&2
		bad=1
	done < <(sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*\)=\(.*\)/\1 \2/p' \
		-e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set/\1 n/p' "$@" |
		awk '{v[$1] = $2; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
		     END { for (i = 1; i <= n; i++) print order[i], v[order[i]] }')
	[ $bad -eq 0 ] || die "config fragment not satisfied (missing dependencies?)"
}

main() {
	mkdir -p "$BUILD"
	unpack_base
	if [ "$BASE" = stock ]; then
		src=$PRISTINE
	else
		sync_ours
		src=$OURS
	fi
	out=$(kernel_out)
	configure
	echo "kernel: building $BASE/$FLAVOR in ${out#"$REPO"/} (log: ${out#"$REPO"/}/build.log)"
	local t0=$SECONDS targets=(bzImage modules)
	# "modules" also writes Module.symvers, which out-of-tree modules need.
	[ "$FLAVOR" = mlx5 ] && targets=("${MLX5_OBJECTS[@]}")
	[ "$FLAVOR" = i386 ] && targets=("${I386_OBJECTS[@]}")
	if ! kmake -j"$(nproc)" "${targets[@]}" >"$out/build.log" 2>&1; then
		grep -E 'error|Error' "$out/build.log" | head -40 >&2
		tail -20 "$out/build.log" >&2
		die "build of $BASE/$FLAVOR failed (see ${out#"$REPO"/}/build.log)"
	fi
	grep -E '(^|: )warning:' "$out/build.log" | sort -u >&2 || true
	[ "$FLAVOR" = mlx5 ] && mlx5_links_ours
	local image=arch/x86/boot/bzImage
	[ "$FLAVOR" = mlx5 ] && image="{${MLX5_OBJECTS[*]}}"
	[ "$FLAVOR" = i386 ] && image="{${I386_OBJECTS[*]}}"
	echo "kernel: ${out#"$REPO"/}/$image ($((SECONDS - t0)) s)"
}

main "$@"
