# SPDX-License-Identifier: GPL-2.0-only
# Run one perftest server/client pair over rxe0 loopback, or between two
# hosts once tests/lib/twohost.sh's twohost_up has run. Sourced.
#
#   perftest_bw <ib_*_bw|ib_*_lat> [perftest options...]
#
# Prints the client's output and "ok"/"FAIL" for the run; returns non-zero
# unless the client printed its result row with a non-zero figure.
PERFTEST_PORT=${PERFTEST_PORT:-18515}
# Iterations per run (-n): the figure only has to exist, and a debug kernel
# moves about a megabyte a second (scripts/check.sh lowers it there).
PERFTEST_ITERS=${PERFTEST_ITERS:-200}
# Message sizes the --odp runs try, bandwidth and latency (one each on a
# debug kernel, where every process start takes seconds).
PERFTEST_BW_SIZES=${PERFTEST_BW_SIZES:-4096 65536}
PERFTEST_LAT_SIZES=${PERFTEST_LAT_SIZES:-8 4096}

# perftest turns cycles into time by sampling the TSC against the clock; in
# an emulated guest under load the samples can fail its r^2 >= 0.9 check
# ("Can't produce a report"). That run measured nothing, so it is repeated.
perftest_run() {
	for attempt in 1 2 3; do
		perftest_once "$@"
		grep -q "Can't produce a report" /tmp/perftest.client || break
		echo "(perftest could not calibrate its clock; attempt $attempt, retrying)"
	done
	cat /tmp/perftest.client
}

# perftest_server and perftest_client TOOL ARGS: one side each, rxe0's
# loopback GID (index 1) and 127.0.0.1, or each host its device and GID and
# the server's IPv4 link-local address when PEER_DEV is set (twohost.sh):
# perftest 4.5's own TCP exchange only speaks IPv4.
perftest_server() {
	tool=$1
	shift
	if [ -n "${PEER_DEV:-}" ]; then
		peer_exec timeout 120 "$tool" -d "$PEER_DEV" -x "$PEER_GID" "$@"
	else
		timeout 120 "$tool" -d rxe0 -x 1 "$@"
	fi
}

perftest_client() {
	tool=$1
	shift
	if [ -n "${PEER_DEV:-}" ]; then
		local_exec timeout 120 "$tool" -d "$LOCAL_DEV" -x "$LOCAL_GID" "$@" "$PEER_ADDR4"
	else
		timeout 120 "$tool" -d rxe0 -x 1 "$@" 127.0.0.1
	fi
}

perftest_once() {
	tool=$1
	shift
	PERFTEST_PORT=$((PERFTEST_PORT + 1))
	perftest_server "$tool" -p $PERFTEST_PORT "$@" >/tmp/perftest.server 2>&1 &
	spid=$!
	tries=0
	while :; do
		perftest_client "$tool" -p $PERFTEST_PORT "$@" >/tmp/perftest.client 2>&1 && break
		grep -q "Couldn't connect" /tmp/perftest.client || break
		tries=$((tries + 1))
		[ $tries -lt 20 ] || break
		sleep 0.5
	done
	# A client that gave up leaves its server waiting for a peer.
	tries=0
	while kill -0 $spid 2>/dev/null && [ $tries -lt 20 ]; do
		tries=$((tries + 1))
		sleep 0.5
	done
	kill $spid 2>/dev/null
	wait $spid
}

# The result row is the line after the "#bytes" header: bytes, iterations,
# then figures. Bandwidth tests put the average in column 4, latency tests
# have the typical latency in column 5; both must be a positive number.
perftest_figure() {
	awk -v col="$1" '/^ *#bytes/ { hdr = 1; next }
		hdr && NF >= col && $1 ~ /^[0-9]+$/ { print $col; exit }' /tmp/perftest.client
}

perftest_bw() {
	echo "--- $*"
	perftest_run "$@"
	fig=$(perftest_figure 4)
	if awk -v f="${fig:-0}" 'BEGIN { exit !(f + 0 > 0) }'; then
		echo "ok $* -> $fig MB/s"
		return 0
	fi
	echo "FAIL $*: no bandwidth figure"
	return 1
}

perftest_lat() {
	echo "--- $*"
	perftest_run "$@"
	fig=$(perftest_figure 5)
	if awk -v f="${fig:-0}" 'BEGIN { exit !(f + 0 > 0) }'; then
		echo "ok $* -> $fig usec"
		return 0
	fi
	echo "FAIL $*: no latency figure"
	return 1
}
