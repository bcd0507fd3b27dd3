/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * What our programs on the base tree's kselftest_harness.h share. Include
 * after kselftest_harness.h.
 */
#ifndef HARNESS_H
#define HARNESS_H

/*
 * Each case's time limit where it names none: the harness's 30 s is for
 * real machines, and under TCG the debug kernel is several times slower.
 * A case that hangs still fails, when this runs out.
 */
#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT 120

/*
 * The two variants of fixture @f that register their memory pinned and
 * with IBV_ACCESS_ON_DEMAND: cases "@f.pinned.*" and "@f.odp.*", told
 * apart by variant->odp.
 */
#define PINNED_AND_ODP_VARIANTS(f)				\
	FIXTURE_VARIANT(f) {					\
		bool odp;					\
	};							\
	FIXTURE_VARIANT_ADD(f, pinned) {			\
		.odp = false,					\
	};							\
	FIXTURE_VARIANT_ADD(f, odp) {				\
		.odp = true,					\
	}

/*
 * In a fixture's set-up: open @lb on the device @o names, and when @odp,
 * skip the case, saying why, where the device does not advertise RC ODP
 * for every IBV_ODP_SUPPORT_* bit of @caps. The QPs are left unconnected.
 */
#define LOOPBACK_OPEN_OR_SKIP(lb, o, odp, caps)				\
	do {								\
		ASSERT_EQ(0, loopback_open(lb, o));			\
		if ((odp) && !loopback_has_odp_rc(lb, caps))		\
			SKIP(return, "%s does not advertise RC ODP for %s", \
			     (o)->dev, #caps);				\
	} while (0)

/*
 * In a teardown: the MR, QP and PD counts of device @dev are back at
 * @base (a struct res_counts from check.h) within @ms milliseconds.
 */
#define EXPECT_RES_COUNTS_BACK(dev, base, ms)				\
	do {								\
		struct res_counts _now;					\
									\
		EXPECT_TRUE(rdma_res_counts_back(dev, base, &_now, ms))	\
			TH_LOG("MRs %ld, QPs %ld, PDs %ld; before: "	\
			       "%ld, %ld, %ld", _now.mr, _now.qp,	\
			       _now.pd, (base)->mr, (base)->qp,		\
			       (base)->pd);				\
	} while (0)

#endif
