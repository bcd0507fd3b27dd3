#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Boot a kernel under QEMU with the host root as the guest's root, run one
# command in the guest, and return its exit status.
#
#   scripts/vm.sh [-k bzImage] [-i initrd] [-t timeout] [-o dir] [-a 'extra cmdline'] [-n wire] [-s] -- command...
#
# -o dir receives the console log (console.log), the guest's exit status and
# whatever the command writes to its working directory. It is emptied first
# (rm -rf), so it must lie inside build/; anything else is refused. The run
# fails when the guest panics, the console shows a kernel splat (Oops, BUG,
# WARNING, KASAN, lockdep, kmemleak, hung task, RCU stall) or cannot be
# read, or the timeout expires. Exit status: the command's own, or 124 on a
# timeout, 125 when the guest left no status (panic, crash), 126 for a
# splat after a clean exit, 130 when interrupted (Ctrl-C or SIGTERM end
# QEMU at once).
# -i initrd boots with an initramfs, for a kernel that needs modules to
# mount the shared root (make deb's, scripts/deb-init.c).
# -s boots an interactive shell on the console instead of a command.
# -n LPORT:RPORT:MAC gives the guest a virtio-net eth0 with that MAC whose
# Ethernet frames travel as UDP datagrams between 127.0.0.1:LPORT (ours)
# and 127.0.0.1:RPORT (the other guest's): two guests started with mirrored
# ports share a wire, and the host sees only loopback traffic. guest-init
# then puts rxe0 on eth0 instead of lo (scripts/twohost.sh).
# VM_MEM sets the guest RAM (default 2304M), VM_SMP its CPUs (default 2). VM_MEM_PATH, a hugetlbfs mount
# with enough free huge pages, backs the guest RAM with host huge pages.
#
# Accelerator: KVM when this kernel image has been seen to boot under it,
# TCG otherwise. The first run of each bzImage, when /dev/kvm can be
# opened, probes: one boot under -accel kvm that must reach guest-init, run
# a command that only exits, and leave a clean console within 20 s (a stock
# kernel hangs at boot under some hosts' KVM). The verdict is kept in
# build/vm/.accel-<sha256 of the bzImage> (the probe's console in .log
# beside it), so a rebuilt kernel is probed again. VM_ACCEL=kvm or
# VM_ACCEL=tcg skips the probe and forces one.
set -uo pipefail
. "$(dirname "$0")/common.sh"

kernel=$(kernel_out)/arch/x86/boot/bzImage
timeout=600
outdir=
extra=
shell=0
wire=
initrd=
while getopts 'k:i:t:o:a:n:s' opt; do
	case $opt in
	k) kernel=$OPTARG ;;
	i) initrd=$OPTARG ;;
	t) timeout=$OPTARG ;;
	o) outdir=$OPTARG ;;
	a) extra=$OPTARG ;;
	n) wire=$OPTARG ;;
	s) shell=1 ;;
	*) die "usage: vm.sh [-k bzImage] [-i initrd] [-t secs] [-o dir] [-a cmdline] [-n lport:rport:mac] [-s] -- command..." ;;
	esac
done
shift $((OPTIND - 1))

# The output folder is removed with rm -rf, as root: only ever a folder
# inside build/, after .. and symlinks are resolved.
inside_build() {
	local p b
	p=$(realpath -m -- "$1") && b=$(realpath -m -- "$BUILD") || return 1
	case $p in
	"$b"/?*) echo "$p" ;;
	*) return 1 ;;
	esac
}

[ -n "$outdir" ] || outdir=$BUILD/vm/last
given=$outdir
outdir=$(inside_build "$given") ||
	die "refusing -o '$given': it is emptied with rm -rf, so it must be inside $BUILD"
[ -f "$kernel" ] || die "no kernel at $kernel (make kernel)"
[ $shell -eq 1 ] || [ $# -gt 0 ] || die "no command given"
case $wire in
'' | [0-9]*:[0-9]*:??:??:??:??:??:??) ;;
*) die "-n wants LPORT:RPORT:MAC, not '$wire'" ;;
esac
case ${VM_ACCEL:-} in
''|kvm|tcg) ;;
*) die "VM_ACCEL must be kvm or tcg, not '$VM_ACCEL'" ;;
esac

append="console=ttyS0 root=root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose ro"
append+=" init=$REPO/scripts/guest-init panic=-1 numa=fake=2 hugepages=64 no_hash_pointers"
# Guest RAM set aside on the command line. Two 256 MiB ranges, reserved
# (memmap=nn$ss), serve test_hmm as device-coherent memory, so hmm-tests'
# device_coherent cases run too. 256 MiB marked persistent (memmap=nn!ss)
# become /dev/pmem0, for FS-DAX. Both lie below 2 GiB, in RAM whatever
# VM_MEM is; the default gives the guest back what they take.
append+=' memmap=512M$1G test_hmm.spm_addr_dev0=0x40000000 test_hmm.spm_addr_dev1=0x50000000'
append+=" memmap=256M!1536M"

# qemu_cmd ACCEL RESULTS_DIR MEM APPEND: the QEMU command line, in qemu[].
qemu_cmd() {
	local accel=$1 results=$2 mem=$3 cmdline=$4
	[ "$accel" = kvm ] && accel=kvm || accel=tcg,thread=multi
	qemu=(qemu-system-x86_64 -machine q35 -cpu max -accel "$accel" -smp "${VM_SMP:-2}" -m "$mem"
		-nographic -no-reboot -monitor none
		-kernel "$kernel" -append "$cmdline"
		-fsdev local,id=hostroot,path=/,security_model=none,multidevs=remap,readonly=on
		-device virtio-9p-pci,fsdev=hostroot,mount_tag=root
		-fsdev local,id=results,path="$results",security_model=none
		-device virtio-9p-pci,fsdev=results,mount_tag=results)
	[ -z "$initrd" ] || qemu+=(-initrd "$initrd")
}

# The command runs from the results folder as a shell script; arguments
# are quoted so that they arrive as given.
write_cmd() {
	local dir=$1
	shift
	{
		echo "cd /run/results || exit 1"
		printf '%q ' "$@"
		echo
	} >"$dir/cmd"
}

# QEMU runs in the background, under timeout and so in a process group of
# its own: a terminal's Ctrl-C reaches this script, whose trap then runs at
# once (not after QEMU ends, as it would for a foreground child) and ends
# that group. timeout passes the TERM on and follows it with a KILL 10 s
# later; the last KILL catches a QEMU whose timeout is gone.
stop_qemu() {
	local p pids
	pids=$(jobs -p)
	[ -n "$pids" ] || return 0
	for p in $pids; do
		kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null
	done
	wait
	for p in $pids; do
		kill -KILL -- "-$p" 2>/dev/null
	done
}

interrupted() {
	trap '' INT TERM
	stop_qemu
	echo "vm: interrupted; QEMU stopped" >&2
	exit 130
}
trap interrupted INT TERM

# run_qemu SECS LOG: qemu[] under a time limit, its output in LOG.
run_qemu() {
	timeout -k 10 "$1" "${qemu[@]}" </dev/null >"$2" 2>&1 &
	wait $!
}

# probe_kvm LOG: boots the kernel once under KVM with a command that only
# exits, its console kept in LOG. Sets accel to kvm if guest-init ran the
# command and the console is clean, to tcg otherwise.
probe_kvm() {
	local dir splats
	accel=tcg
	dir=$(mktemp -d "$BUILD/vm/.kvm-probe.XXXXXX") || return 0
	write_cmd "$dir" true
	qemu_cmd kvm "$dir" 2G "$append kunit.enable=0"
	run_qemu 20 "$1"
	if [ "$(cat "$dir/status" 2>/dev/null)" = 0 ] &&
		splats=$("$REPO/scripts/splat-scan" "$1") && [ -z "$splats" ]; then
		accel=kvm
	fi
	rm -rf "$dir"
}

# KVM or TCG for this kernel image (see the header), in accel.
choose_accel() {
	local cache
	accel=${VM_ACCEL:-}
	[ -z "$accel" ] || return 0
	accel=tcg
	[ -c /dev/kvm ] && { : <>/dev/kvm; } 2>/dev/null || return 0
	cache=$BUILD/vm/.accel-$(sha256sum "$kernel" | cut -d' ' -f1)
	accel=$(cat "$cache" 2>/dev/null)
	case $accel in kvm|tcg) return 0 ;; esac
	echo "vm: probing KVM with $kernel" >&2
	mkdir -p "$BUILD/vm"
	probe_kvm "$cache.log"
	echo "$accel" >"$cache.$$" && mv "$cache.$$" "$cache"
	echo "vm: $accel for this kernel (verdict in ${cache#"$REPO"/}, probe's console in ${cache#"$REPO"/}.log)" >&2
}

choose_accel
rm -rf "$outdir"
mkdir -p "$outdir"
log=$outdir/console.log
[ $shell -eq 1 ] && append+=" guest.shell=1"
append+=" $extra"
qemu_cmd "$accel" "$outdir" "${VM_MEM:-2304M}" "$append"
qemu+=(${VM_MEM_PATH:+-mem-path "$VM_MEM_PATH" -mem-prealloc})
if [ -n "$wire" ]; then
	IFS=: read -r lport rport mac <<<"$wire"
	qemu+=(-netdev "dgram,id=wire,local.type=inet,local.host=127.0.0.1,local.port=$lport,remote.type=inet,remote.host=127.0.0.1,remote.port=$rport"
		-device "virtio-net-pci,netdev=wire,mac=$mac")
fi

if [ $shell -eq 1 ]; then
	# The console is the terminal, in raw mode: Ctrl-C goes to the guest.
	"${qemu[@]}"
	exit $?
fi

write_cmd "$outdir" "$@"
run_qemu "$timeout" "$log"
qrc=$?

# Kernel lines carry a printk timestamp; the command's own output does not,
# so a test that prints "BUG:" is not mistaken for the kernel.
splats=$("$REPO/scripts/splat-scan" "$log")
scanned=$?
if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
	echo "vm: timeout after ${timeout}s; console log: $log" >&2
	rc=124
elif [ ! -f "$outdir/status" ]; then
	echo "vm: guest ended without a status (panic or crash); console log: $log" >&2
	rc=125
else
	rc=$(cat "$outdir/status")
	case $rc in
	'' | *[!0-9]*)
		echo "vm: the guest's status is not a number ('$rc'); console log: $log" >&2
		rc=125
		;;
	esac
fi
if [ $scanned -ne 0 ]; then
	echo "vm: the console log could not be scanned for splats ($log)" >&2
	[ "$rc" -ne 0 ] || rc=126
elif [ -n "$splats" ]; then
	echo "vm: kernel splat in the console log ($log):" >&2
	echo "$splats" | head -20 >&2
	[ "$rc" -ne 0 ] || rc=126
fi
exit "$rc"
