# SPDX-License-Identifier: GPL-2.0-only
# ODP for Soft-RoCE on Debian's linux-source-6.12. See README.md.
#
#   make deps                         install the build and test packages (root)
#   make kernel [FLAVOR=debug] [BASE=stock]
#   make run [HOSTS=2]                boot, show rxe0's ODP caps, run ib_write_bw
#                                     (HOSTS=2: between two guests on a wire)
#   make check                        every suite, default then debug flavor
#   make bench                        ours vs the unmodified base, side by side
#   make torture [DURATION=60] [FLAVOR=debug] [SEED=1]
#                                     the ODP torture tool in the guest
#   make shell [FLAVOR=debug]         an interactive shell in the guest
#   make patches                      our changes as a git format-patch series
#                                     (build/patches/series), checked
#   make deb                          installable packages from Debian's own
#                                     6.12 configuration (about 2 h; build/deb/)
#   make clean                        remove build/ (the unpacked base too)

FLAVOR ?= default
BASE ?= ours
export FLAVOR BASE

.PHONY: all deps kernel run check bench torture shell tests patches deb clean

all: kernel

deps:
	@scripts/deps.sh

kernel: deps
	@scripts/kernel.sh

tests: deps
	@scripts/build-tests.sh

run: deps
	@scripts/run.sh

check: deps
	@scripts/check.sh

bench: deps
	@scripts/bench.sh

torture: deps
	@scripts/torture.sh

shell: kernel tests
	@scripts/vm.sh -s -a kunit.enable=0

patches: kernel
	@/usr/bin/python3 scripts/patches.py generate && \
		/usr/bin/python3 scripts/patches.py checkpatch && \
		/usr/bin/python3 scripts/patches.py am

deb: deps
	@scripts/deb.sh

clean:
	rm -rf build
