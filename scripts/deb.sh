#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# make deb: our kernel as installable Debian packages (bindeb-pkg).
#
#   scripts/deb.sh           for a real Debian 12 host: Debian's own 6.12
#                            configuration (package linux-config-6.12, amd64)
#                            with configs/deb.config merged, built in
#                            build/deb/debian/; the packages land in
#                            build/deb/. Then the image package's kernel
#                            boots under QEMU with an initramfs that loads
#                            Debian's 9p modules (scripts/deb-init.c), loads
#                            rxe from the extracted package and runs make
#                            run's smoke test. About 2 hours on 2 cores;
#                            not part of make check.
#   scripts/deb.sh --boot    that boot alone, on the packages already built.
#   scripts/deb.sh --check   what make check does instead: package the
#                            default flavor already built (in its own tree,
#                            which bindeb-pkg only relinks, with the
#                            package's version in uname -v; the next make
#                            kernel relinks it back), extract the image
#                            package, boot the kernel from it under QEMU and
#                            run the rxe ODP smoke test (make run's). Prints
#                            one PASS/FAIL line per step.
set -uo pipefail
. "$(dirname "$0")/common.sh"

src=$OURS
LOCALVERSION=-odp

# deb_build OUT: bindeb-pkg in OUT (configured); the packages go to OUT/..
deb_build() {
	make -C "$src" O="$1" -j"$(nproc)" LOCALVERSION=$LOCALVERSION \
		KDEB_PKGVERSION="6.12-odp-$(git -C "$REPO" rev-parse --short HEAD)" \
		bindeb-pkg
}

debian_config() {
	local cfg=/usr/src/linux-config-6.12/config.amd64_none_amd64.xz
	if [ ! -f "$cfg" ]; then
		[ "$(id -u)" -eq 0 ] || die "needs linux-config-6.12 (run as root to install it)"
		apt-get install -y -qq --no-install-recommends linux-config-6.12 >/dev/null ||
			die "cannot install linux-config-6.12"
	fi
	[ -f "$cfg" ] || die "linux-config-6.12 has no $cfg"
	echo "$cfg"
}

full() {
	local out=$BUILD/deb/debian cfg t0
	cfg=$(debian_config) || exit 1
	"$REPO/scripts/kernel.sh" >/dev/null || die "make kernel failed"
	mkdir -p "$out"
	rm -f "$BUILD"/deb/*.deb
	xz -dc "$cfg" >"$out/.config"
	"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
		"$REPO/configs/deb.config" >"$out/merge.log" || die "merge_config failed"
	make -C "$src" O="$out" -s olddefconfig || die "olddefconfig failed"
	for sym in INFINIBAND_ON_DEMAND_PAGING RDMA_RXE HMM_MIRROR; do
		grep -qE "^CONFIG_$sym=[ym]" "$out/.config" || die "CONFIG_$sym did not survive olddefconfig"
	done
	echo "deb: building with Debian's configuration in ${out#"$REPO"/} (log: ${out#"$REPO"/}/build.log)"
	t0=$SECONDS
	deb_build "$out" >"$out/build.log" 2>&1 || die "bindeb-pkg failed (see $out/build.log)"
	echo "deb: built in $(( (SECONDS - t0) / 60 )) min"
	ls -l "$BUILD"/deb/*.deb
	boot_full "$out"
}

# boot_smoke KERNEL DIR [vm.sh options]: boot KERNEL with make run's smoke
# test (results in DIR/vm); PASS when it is our -odp kernel and the
# ib_write_bw ran with --odp (guest-run falls back to pinned memory on a
# kernel without ODP, which must not pass here).
boot_smoke() {
	local kernel=$1 dir=$2 fig
	shift 2
	if "$REPO/scripts/vm.sh" -k "$kernel" -t 900 -o "$dir/vm" "$@" \
		-- "$REPO/scripts/guest-run" >/dev/null 2>&1 &&
		grep -aq "Linux version .*$LOCALVERSION" "$dir/vm/console.log" &&
		fig=$(grep -a 'ib_write_bw --odp: .*MB/s average' "$dir/vm/console.log"); then
		echo "PASS boot-smoke: $(echo "$fig" | tail -1)"
	else
		echo "FAIL boot-smoke: console log ${dir#"$REPO"/}/vm/console.log"
		return 1
	fi
}

# boot_full OUT: the kernel of the packages built in OUT, as a host would
# boot it: Debian builds 9p and its virtio transport as modules, so an
# initramfs loads them before the shared root can be mounted; guest-init
# loads rdma_rxe and ib_uverbs from the extracted package (deb.modules=),
# as the read-only root has no /lib/modules of this kernel.
boot_full() {
	local out=$1 dir=$BUILD/deb/boot image x ver m
	rm -rf "$dir"
	mkdir -p "$dir"
	image=$(ls "$BUILD"/deb/linux-image-*"$LOCALVERSION"_*.deb | grep -v -- -dbg | head -1)
	x=$dir/root
	dpkg-deb -x "$image" "$x" || die "cannot extract $image"
	ver=$(ls "$x/lib/modules")
	depmod -b "$x" "$ver" || die "depmod failed"
	gcc -static -O2 -Wall -o "$dir/init" "$REPO/scripts/deb-init.c" ||
		die "cannot build scripts/deb-init.c"
	{
		printf '%s\n' 'dir /dev 0755 0 0' 'nod /dev/console 0600 0 0 c 5 1' \
			'dir /proc 0755 0 0' 'dir /root 0755 0 0' 'dir /m 0755 0 0' \
			"file /init $dir/init 0755 0 0" "file /modules $dir/modules 0644 0 0"
		modprobe -d "$x" -S "$ver" --show-depends -a 9p 9pnet_virtio |
			awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r m; do
				echo "/m/$(basename "$m")" >>"$dir/modules"
				echo "file /m/$(basename "$m") $m 0644 0 0"
			done
	} >"$dir/initramfs.list"
	"$out/usr/gen_init_cpio" "$dir/initramfs.list" >"$dir/initramfs.cpio" ||
		die "gen_init_cpio failed"
	echo "deb: booting $(basename "$image") with $(wc -l <"$dir/modules") modules in its initramfs"
	boot_smoke "$x/boot/vmlinuz-$ver" "$dir" -i "$dir/initramfs.cpio" \
		-a "kunit.enable=0 deb.modules=$x"
}

check() {
	local out dir=$BUILD/deb/small image x
	out=$(kernel_out)
	rm -rf "$dir"
	mkdir -p "$dir"
	rm -f "$out"/../*.deb "$out"/../*.buildinfo "$out"/../*.changes
	if deb_build "$out" >"$dir/build.log" 2>&1 && mv "$out"/../*.deb "$dir"/; then
		echo "PASS bindeb-pkg: $(cd "$dir" && ls ./*.deb | xargs -n1 basename | tr '\n' ' ')"
	else
		echo "FAIL bindeb-pkg: see ${dir#"$REPO"/}/build.log"
		return 1
	fi
	image=$(ls "$dir"/linux-image-*"$LOCALVERSION"_*.deb 2>/dev/null | grep -v -- -dbg | head -1)
	x=$dir/extracted
	if [ -n "$image" ] && dpkg-deb -x "$image" "$x" && ls "$x"/boot/vmlinuz-* >/dev/null 2>&1; then
		echo "PASS extract: $(basename "$image") holds $(cd "$x" && ls boot/vmlinuz-*)"
	else
		echo "FAIL extract: no kernel image in ${image:-the packages}"
		return 1
	fi
	boot_smoke "$(ls "$x"/boot/vmlinuz-* | head -1)" "$dir" -a kunit.enable=0
}

case ${1:-} in
'') full ;;
--check) check ;;
--boot) boot_full "$BUILD/deb/debian" ;;
*) die "usage: deb.sh [--check | --boot]" ;;
esac
