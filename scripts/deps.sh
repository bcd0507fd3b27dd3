#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Install what building, booting and testing need. Idempotent: when every
# package is already installed it prints nothing and exits 0.
set -euo pipefail

pkgs=(
	# base kernel source and its build
	linux-source-6.12 build-essential flex bison bc libelf-dev libssl-dev
	xz-utils perl python3 cpio
	# the VM
	qemu-system-x86
	# RDMA userspace, run in the guest from the shared host root
	rdma-core ibverbs-utils ibverbs-providers perftest iproute2
	libibverbs-dev librdmacm-dev libnuma-dev libfuse3-dev procps util-linux kmod
	# rdma-core's rxe provider with our patches (scripts/rdma-core.sh), and
	# pyverbs for rdma-core's own tests of its source (tests/guest/70-*)
	cmake ninja-build pkg-config libnl-3-dev libnl-route-3-dev python3-pyverbs
	# make patches and make deb (bindeb-pkg, whose rules use debhelper)
	git dpkg-dev debhelper rsync
)

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing ${missing[*]}; run as root (sudo make deps)" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
