#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Boot a kernel under QEMU with the host root as the guest's root, run one
# command in the guest, and return its exit status.
#
#   scripts/vm.sh [-k bzImage] [-t timeout] [-o dir] [-a 'extra cmdline'] [-s] -- command...
#
# -o dir receives the console log (console.log), the guest's exit status and
# whatever the command writes to its working directory. The run fails when
# the guest panics, the console shows a kernel splat (Oops, BUG, WARNING,
# KASAN, lockdep, kmemleak, hung task, RCU stall), or the timeout expires.
# -s boots an interactive shell on the console instead of a command.
# VM_MEM sets the guest RAM (default 2G). VM_MEM_PATH, a hugetlbfs mount
# with enough free huge pages, backs the guest RAM with host huge pages.
set -uo pipefail
. "$(dirname "$0")/common.sh"

kernel=$(kernel_out)/arch/x86/boot/bzImage
timeout=600
outdir=
extra=
shell=0
while getopts 'k:t:o:a:s' opt; do
	case $opt in
	k) kernel=$OPTARG ;;
	t) timeout=$OPTARG ;;
	o) outdir=$OPTARG ;;
	a) extra=$OPTARG ;;
	s) shell=1 ;;
	*) die "usage: vm.sh [-k bzImage] [-t secs] [-o dir] [-a cmdline] [-s] -- command..." ;;
	esac
done
shift $((OPTIND - 1))
[ -f "$kernel" ] || die "no kernel at $kernel (make kernel)"
[ $shell -eq 1 ] || [ $# -gt 0 ] || die "no command given"
[ -n "$outdir" ] || outdir=$BUILD/vm/last
rm -rf "$outdir"
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
log=$outdir/console.log

# The command runs from the results folder as a shell script; arguments
# are quoted so that they arrive as given.
{
	echo "cd /run/results || exit 1"
	printf '%q ' "$@"
	echo
} >"$outdir/cmd"

append="console=ttyS0 root=root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose ro"
append+=" init=$REPO/scripts/guest-init panic=-1 numa=fake=2 hugepages=64 no_hash_pointers"
# Two 256 MiB ranges of guest RAM set aside (memmap=...!...) serve test_hmm
# as device-coherent memory, so hmm-tests' device_coherent cases run too.
append+=" memmap=512M!1G test_hmm.spm_addr_dev0=0x40000000 test_hmm.spm_addr_dev1=0x50000000"
[ $shell -eq 1 ] && append+=" guest.shell=1"
append+=" $extra"

qemu=(qemu-system-x86_64 -machine q35 -cpu max -accel tcg,thread=multi -smp 2 -m "${VM_MEM:-2G}"
	-nographic -no-reboot -monitor none ${VM_MEM_PATH:+-mem-path "$VM_MEM_PATH" -mem-prealloc}
	-kernel "$kernel" -append "$append"
	-fsdev local,id=hostroot,path=/,security_model=none,multidevs=remap,readonly=on
	-device virtio-9p-pci,fsdev=hostroot,mount_tag=root
	-fsdev local,id=results,path="$outdir",security_model=none
	-device virtio-9p-pci,fsdev=results,mount_tag=results)

if [ $shell -eq 1 ]; then
	"${qemu[@]}"
	exit $?
fi

timeout -k 10 "$timeout" "${qemu[@]}" </dev/null >"$log" 2>&1
qrc=$?

# Kernel lines carry a printk timestamp; the command's own output does not,
# so a test that prints "BUG:" is not mistaken for the kernel.
splats=$("$REPO/scripts/splat-scan" "$log")
if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
	echo "vm: timeout after ${timeout}s; console log: $log" >&2
	rc=124
elif [ ! -f "$outdir/status" ]; then
	echo "vm: guest ended without a status (panic or crash); console log: $log" >&2
	rc=125
else
	rc=$(cat "$outdir/status")
fi
if [ -n "$splats" ]; then
	echo "vm: kernel splat in the console log ($log):" >&2
	echo "$splats" | head -20 >&2
	[ "$rc" -ne 0 ] || rc=126
fi
exit "$rc"
