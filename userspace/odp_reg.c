// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_reg: what ibv_reg_mr(..., IBV_ACCESS_ON_DEMAND) does on a device.
 *
 * On a device that advertises ODP the registration must succeed without
 * pinning anything (VmPin unchanged), and bad input (zero length, a
 * length that wraps the address space, an unmapped address) must fail
 * with an errno. On a device that does not, the registration must fail
 * with an errno, never succeed pinned. Exit 0 when all of that holds.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "loopback.h"

#define LEN (64u << 20)

static int failures;

static void expect(bool ok, const char *what)
{
	printf("%s %s\n", ok ? "ok" : "FAIL", what);
	if (!ok)
		failures++;
}

static void check_unsupported(struct loopback *lb, void *buf)
{
	struct ibv_mr *mr;

	errno = 0;
	mr = ibv_reg_mr(lb->pd, buf, LEN, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND);
	expect(!mr && errno, "ODP registration refused with an errno on a device without ODP");
	if (mr)
		ibv_dereg_mr(mr);
	else
		printf("  errno %d (%s)\n", errno, strerror(errno));
}

static void check_refused(struct loopback *lb, void *addr, size_t len,
			  const char *what)
{
	struct ibv_mr *mr;

	errno = 0;
	mr = ibv_reg_mr(lb->pd, addr, len, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND);
	expect(!mr && errno, what);
	if (mr)
		ibv_dereg_mr(mr);
}

static void check_supported(struct loopback *lb, void *buf)
{
	long before = vm_pinned_kb();
	struct ibv_mr *mr;

	mr = ibv_reg_mr(lb->pd, buf, LEN, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND);
	expect(mr != NULL, "ODP registration of 64 MiB succeeds");
	if (!mr)
		return;
	expect(vm_pinned_kb() == before, "ODP registration pins nothing (VmPin unchanged)");
	expect(ibv_dereg_mr(mr) == 0, "ODP deregistration succeeds");

	check_refused(lb, buf, 0, "zero length refused");
	check_refused(lb, (void *)(~0UL - 4095), 8192, "wrapping range refused");
}

int main(void)
{
	struct loopback_opts o = { .dev = "rxe0", .gid_index = 1 };
	struct loopback lb;
	void *buf;

	if (loopback_open(&lb, &o))
		return 1;
	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (loopback_has_odp_rc(&lb, 0))
		check_supported(&lb, buf);
	else
		check_unsupported(&lb, buf);
	munmap(buf, LEN);
	loopback_close(&lb);
	return failures ? 1 : 0;
}
