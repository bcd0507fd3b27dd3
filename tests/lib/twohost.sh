# SPDX-License-Identifier: GPL-2.0-only
# Two RoCE hosts for a test, in one of two shapes. Sourced.
#
#   TWOHOST=netns   (default) one guest, two network namespaces "hosta" and
#                   "hostb" joined by a veth pair, rxea and rxeb on its ends
#   TWOHOST=guests  two guests on a wire (scripts/twohost.sh): this one and
#                   the peer whose agent (peer-agent.py serve) runs commands
#
# twohost_up sets it up (netns) or waits for it (guests), then:
#   local_exec CMD...   runs CMD on this host, with LOCAL_DEV, LOCAL_GID
#   peer_exec CMD...    runs CMD on the other host, with PEER_DEV, PEER_GID
#                       (between guests, waiting up to PEER_WAIT seconds,
#                       default 60, for the peer's agent to answer)
#   PEER_ADDR           the other host's IPv6 link-local address as this
#                       host reaches it (for our TCP exchanges)
#   PEER_ADDR4          its IPv4 link-local (169.254/16) address, for
#                       perftest's exchange, which only speaks IPv4
# Both hosts use the RoCEv2 GID of their IPv6 link-local address;
# twohost_up prints each side's device, GID index and active MTU.
TWOHOST=${TWOHOST:-netns}
TWOHOST_AGENT_PORT=18500
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}

# MAC addresses fixed, so the link-local addresses are known in advance.
TWOHOST_MAC_A=52:54:00:00:00:0a
TWOHOST_MAC_B=52:54:00:00:00:0b
TWOHOST_LL_A=fe80::5054:ff:fe00:a
TWOHOST_LL_B=fe80::5054:ff:fe00:b
TWOHOST_IP4_A=169.254.0.10
TWOHOST_IP4_B=169.254.0.11
PEER_ADDR4=$TWOHOST_IP4_B

local_exec() {
	if [ "$TWOHOST" = netns ]; then
		ip netns exec hosta "$@"
	else
		"$@"
	fi
}

peer_exec() {
	if [ "$TWOHOST" = netns ]; then
		ip netns exec hostb "$@"
	else
		/usr/bin/python3 "$REPO/tests/lib/peer-agent.py" run "$PEER_ADDR" \
			--port $TWOHOST_AGENT_PORT --wait "${PEER_WAIT:-60}" -- "$@"
	fi
}

# gid_index DEV ADDR: the index of DEV's RoCEv2 GID for IPv6 address ADDR.
gid_index() {
	dev=$1
	want=$(/usr/bin/python3 -c 'import ipaddress, sys
print(ipaddress.IPv6Address(sys.argv[1]).exploded)' "$2")
	for g in /sys/class/infiniband/"$dev"/ports/1/gids/*; do
		i=${g##*/}
		gid=$(cat "$g" 2>/dev/null) || continue
		type=$(cat "/sys/class/infiniband/$dev/ports/1/gid_attrs/types/$i" 2>/dev/null)
		[ "$gid" = "$want" ] && [ "$type" = "RoCE v2" ] && { echo "$i"; return 0; }
	done
	return 1
}

# wait_gid DEV ADDR VAR: wait (DAD, then the GID table) for DEV's RoCEv2
# GID of ADDR and put its index in VAR.
wait_gid() {
	tries=0
	while :; do
		idx=$(gid_index "$1" "$2") && break
		tries=$((tries + 1))
		[ $tries -lt 100 ] || { echo "twohost: no RoCEv2 GID for $2 on $1"; return 1; }
		sleep 0.1
	done
	eval "$3=$idx"
}

# active_mtu DEV: the port's active MTU, as ibv_devinfo prints it.
active_mtu() {
	ibv_devinfo -d "$1" | awk '/active_mtu:/ { print $2, $3; exit }'
}

twohost_netns_up() {
	ip netns add hosta && ip netns add hostb || return 1
	ip link add veth0 address $TWOHOST_MAC_A netns hosta type veth \
		peer name veth1 address $TWOHOST_MAC_B netns hostb || return 1
	for ns in hosta hostb; do
		ip -n $ns link set lo up
	done
	ip -n hosta addr add $TWOHOST_IP4_A/16 dev veth0 &&
		ip -n hostb addr add $TWOHOST_IP4_B/16 dev veth1 || return 1
	ip -n hosta link set veth0 up && ip -n hostb link set veth1 up || return 1
	ip netns exec hosta rdma link add rxea type rxe netdev veth0 &&
		ip netns exec hostb rdma link add rxeb type rxe netdev veth1 || return 1
	LOCAL_DEV=rxea PEER_DEV=rxeb
	PEER_ADDR=$TWOHOST_LL_B%veth0
	LOCAL_LL=$TWOHOST_LL_A
	PEER_LL=$TWOHOST_LL_B
}

twohost_netns_down() {
	# A device is only deleted once no process has it open.
	ip netns pids hosta 2>/dev/null | xargs -r kill -9
	ip netns pids hostb 2>/dev/null | xargs -r kill -9
	sleep 0.5
	for d in rxea rxeb; do
		rdma link delete $d 2>/dev/null
	done
	ip netns delete hosta 2>/dev/null
	ip netns delete hostb 2>/dev/null
}

twohost_guests_up() {
	# This guest is A; the peer's GIDs are read there, through its agent.
	LOCAL_DEV=rxe0 PEER_DEV=rxe0
	PEER_ADDR=$TWOHOST_LL_B%eth0
	LOCAL_LL=$TWOHOST_LL_A
	PEER_LL=$TWOHOST_LL_B
	PEER_WAIT=120 peer_exec true ||
		{ echo "twohost: the peer's agent does not answer"; return 1; }
}

twohost_up() {
	case $TWOHOST in
	netns) twohost_netns_up || { echo "twohost: cannot set up the namespaces"; return 1; } ;;
	guests) twohost_guests_up || return 1 ;;
	*) echo "twohost: TWOHOST must be netns or guests, not '$TWOHOST'"; return 1 ;;
	esac
	wait_gid "$LOCAL_DEV" "$LOCAL_LL" LOCAL_GID || return 1
	PEER_GID=$(peer_exec sh -c ". '$REPO/tests/lib/twohost.sh' && wait_gid $PEER_DEV $PEER_LL i && echo \$i") ||
		{ echo "twohost: the peer has no RoCEv2 GID: $PEER_GID"; return 1; }
	echo "twohost ($TWOHOST): this host $LOCAL_DEV, GID index $LOCAL_GID ($LOCAL_LL), active MTU $(local_exec sh -c ". '$REPO/tests/lib/twohost.sh'; active_mtu $LOCAL_DEV")"
	echo "twohost ($TWOHOST): the peer $PEER_DEV, GID index $PEER_GID ($PEER_LL), active MTU $(peer_exec sh -c ". '$REPO/tests/lib/twohost.sh'; active_mtu $PEER_DEV")"
}

# twohost_kill_cmd: a shell command that kills the other host at once, so
# that nothing there answers any more: in guest B, a mark for the host
# (scripts/report.py: B was killed on purpose), then an immediate reboot,
# which ends its QEMU; in namespace hostb, its addresses gone (what
# arrives is for nobody there) and its processes killed.
twohost_kill_cmd() {
	if [ "$TWOHOST" = netns ]; then
		echo "ip -n hostb addr flush dev veth1 && ip netns pids hostb | xargs -r kill -9"
	else
		# A dead host sends no FIN: the call is cut short, not answered.
		echo "timeout 5 /usr/bin/python3 $REPO/tests/lib/peer-agent.py run $PEER_ADDR --port $TWOHOST_AGENT_PORT --wait 5 -- sh -c 'echo \$(date) >/run/results/killed; sync; echo b >/proc/sysrq-trigger' >/dev/null 2>&1; true"
	fi
}

twohost_down() {
	[ "$TWOHOST" = netns ] && twohost_netns_down
	return 0
}

# with_peer_server PROG [ARGS...]: run our PROG here against odp_peer on
# the other host (peer.h), each with its own device and GID: the peer's
# output follows ours. Returns PROG's status.
with_peer_server() {
	prog=$1
	shift
	port=18515
	peer_exec "$BUILD/userspace/odp_peer" -d "$PEER_DEV" -g "$PEER_GID" -p $port \
		>/tmp/odp_peer.log 2>&1 &
	server=$!
	local_exec "$BUILD/userspace/$prog" -d "$LOCAL_DEV" -g "$LOCAL_GID" \
		--peer "$PEER_ADDR" -p $port "$@"
	rc=$?
	kill $server 2>/dev/null
	wait $server 2>/dev/null
	# Between guests the agent kills it once the call above is gone: the
	# next test must not find this one still listening.
	PEER_WAIT=5 peer_exec sh -c 'for i in $(seq 50); do pidof odp_peer >/dev/null || exit 0; sleep 0.2; done; exit 1' 2>/dev/null
	case $? in
	0) ;;
	255) echo "# the peer is gone" ;;
	*) echo "# odp_peer still runs on the peer" ;;
	esac
	echo "# odp_peer's output:"
	sed 's/^/# /' /tmp/odp_peer.log
	return $rc
}
