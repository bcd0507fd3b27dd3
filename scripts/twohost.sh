#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Boot two guests joined by a virtual Ethernet wire and run one command on
# the first while the second serves as its peer host.
#
#   scripts/twohost.sh [-t timeout] -o dir -- command...
#
# Each guest (scripts/vm.sh -n) has a virtio-net eth0 with a fixed MAC and
# rxe0 on it; QEMU carries their frames as UDP datagrams over the host's
# loopback, so the guests' addresses exist only inside them. Guest B runs
# the peer agent (tests/lib/peer-agent.py), through which the command in
# guest A starts the other half of each test (tests/lib/twohost.sh,
# TWOHOST=guests). When the command ends, guest B is told to stop and
# gets a minute to do so. Consoles and results: dir/a and dir/b.
#
# Exit status: the command's (as vm.sh gives it), or, when that is 0, 1
# when guest B failed (a splat there, a panic, a timeout; not a reboot a
# test asked for, which leaves b/killed).
set -uo pipefail
. "$(dirname "$0")/common.sh"

timeout=900
outdir=
while getopts 't:o:' opt; do
	case $opt in
	t) timeout=$OPTARG ;;
	o) outdir=$OPTARG ;;
	*) die "usage: twohost.sh [-t secs] -o dir -- command..." ;;
	esac
done
shift $((OPTIND - 1))
[ -n "$outdir" ] && [ $# -gt 0 ] || die "usage: twohost.sh [-t secs] -o dir -- command..."
. "$REPO/tests/lib/twohost.sh"

# Two UDP ports for the wire, free now: a fixed pair would make two runs
# on one machine share a wire.
read -r port_a port_b < <(/usr/bin/python3 -c '
import socket
s = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
for x in s:
    x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')

interrupted() {
	trap '' INT TERM
	kill -TERM "$pid_b" "$pid_a" 2>/dev/null
	wait
	echo "twohost: interrupted" >&2
	exit 130
}
trap interrupted INT TERM

# Two guests share the host's two cores: one vCPU each.
export VM_SMP=1
"$REPO/scripts/vm.sh" -t "$timeout" -o "$outdir/b" -a kunit.enable=0 \
	-n "$port_b:$port_a:$TWOHOST_MAC_B" -- "$REPO/tests/lib/twohost-peer" &
pid_b=$!
"$REPO/scripts/vm.sh" -t "$timeout" -o "$outdir/a" -a kunit.enable=0 \
	-n "$port_a:$port_b:$TWOHOST_MAC_A" -- \
	env TWOHOST=guests "$REPO/tests/lib/twohost-main" "$@" &
pid_a=$!
wait $pid_a
rc=$?
echo $rc >"$outdir/a/vm-rc"
for _ in $(seq 60); do
	kill -0 $pid_b 2>/dev/null || break
	sleep 1
done
kill -TERM $pid_b 2>/dev/null
wait $pid_b
rc_b=$?
echo $rc_b >"$outdir/b/vm-rc"
# tests/twohost/90-peer-killed reboots guest B on purpose, leaving no status.
if [ $rc_b -eq 125 ] && [ -e "$outdir/b/killed" ]; then
	echo "twohost: guest B was killed by a test, as planned" >&2
elif [ $rc_b -ne 0 ]; then
	echo "twohost: guest B ended with status $rc_b; console log: $outdir/b/console.log" >&2
	[ $rc -ne 0 ] || rc=1
fi
exit $rc
