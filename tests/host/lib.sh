# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
# Sourced by the host tests, not run (check.sh runs only executables here).
# Each test gets a scratch folder, $TMP, under build/tmp-hosttest/, removed
# at exit; it prints "ok ..." / "not ok ..." lines and ends with finish,
# which exits 1 after any "not ok".
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$REPO/build/tmp-hosttest" || exit 1
TMP=$(mktemp -d "$REPO/build/tmp-hosttest/$(basename "$0").XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
failed=0

ok() { echo "ok $*"; }
not_ok() { echo "not ok $*"; failed=1; }
finish() { exit $failed; }

# has_line DESC FILE LINE: FILE holds LINE, whole.
has_line() {
	if grep -qxF -- "$3" "$2"; then ok "$1"; else not_ok "$1: no '$3' in: $(tr '\n' '|' <"$2")"; fi
}

# has_prefix DESC FILE TEXT: a line of FILE starts with TEXT.
has_prefix() {
	if awk -v p="$3" 'index($0, p) == 1 { f = 1 } END { exit !f }' "$2"; then
		ok "$1"
	else
		not_ok "$1: no line starting '$3' in: $(tr '\n' '|' <"$2")"
	fi
}

# A copy of the named repository files under $TMP/repo: the scripts then
# read the lists and tests/guest/ made up there, and delete nothing real.
fake_repo() {
	local f
	mkdir -p "$TMP/repo/scripts" "$TMP/repo/tests/guest" "$TMP/repo/build"
	for f in "$@"; do
		cp -p "$REPO/$f" "$TMP/repo/$f" || exit 1
	done
}

# guest_test NAME STATUS: an executable in the fake tests/guest/.
guest_test() {
	printf '#!/bin/sh\necho "%s says why"\nexit %s\n' "$1" "$2" >"$TMP/repo/tests/guest/$1"
	chmod +x "$TMP/repo/tests/guest/$1"
}

# A console log with one KUnit suite that passed, and nothing else.
clean_console() {
	cat >"$1" <<'KTAP'
[    1.000000] KTAP version 1
[    1.000000] 1..1
[    1.000000]     KTAP version 1
[    1.000000]     # Subtest: demo
[    1.000000]     1..1
[    1.000000]     ok 1 passes
[    1.000000] ok 1 demo
KTAP
}

# A stand-in for QEMU in $TMP/bin (put it first in PATH): it logs its
# arguments to $TMP/qemu.args and its pid to $TMP/qemu.pid, then, as
# STUB_QEMU says, plays a guest that ran its command (ok, the default),
# one that never ends (hang), one that runs its command only when not
# under KVM (nokvm), one that splats (splat), ends without a status
# (nostatus), or whose console log is gone (nolog). Nothing boots.
stub_qemu() {
	mkdir -p "$TMP/bin"
	cat >"$TMP/bin/qemu-system-x86_64" <<STUB
#!/bin/bash
echo "\$*" >>"$TMP/qemu.args"
echo \$\$ >"$TMP/qemu.pid"
for a; do
	case \$a in *id=results,path=*) results=\${a#*path=} results=\${results%%,*} ;; esac
done
case \${STUB_QEMU:-ok} in
ok) echo "[    0.100000] stub kernel"; echo 0 >"\$results/status" ;;
hang) exec sleep 300 ;;
nokvm) [[ " \$* " == *" -accel kvm "* ]] || echo 0 >"\$results/status" ;;
splat) echo "[    0.200000] BUG: stub splat"; echo 0 >"\$results/status" ;;
nostatus) ;;
nolog) rm -f "\$results/console.log"; echo 0 >"\$results/status" ;;
esac
STUB
	chmod +x "$TMP/bin/qemu-system-x86_64"
	: >"$TMP/bzImage"
}
