# SPDX-License-Identifier: GPL-2.0-only
# Swap on /dev/zram0 for the tests that swap, and only for them. Sourced.
#
#   zram_swap_on <size>   e.g. 512M; prints why and returns non-zero if it
#                         cannot (the kernel has no zram or swap)
#   zram_swap_off         undoes it
ZRAM=/sys/block/zram0

zram_swap_on() {
	if [ ! -e $ZRAM/disksize ]; then
		echo "no /dev/zram0: the kernel lacks CONFIG_ZRAM"
		return 1
	fi
	echo 1 >$ZRAM/reset
	echo "$1" >$ZRAM/disksize &&
		mkswap /dev/zram0 >/dev/null &&
		swapon /dev/zram0 || {
		echo "cannot swap on /dev/zram0"
		return 1
	}
	echo "swap: $(grep zram0 /proc/swaps)"
}

zram_swap_off() {
	swapoff /dev/zram0 2>/dev/null
	echo 1 >$ZRAM/reset
}
