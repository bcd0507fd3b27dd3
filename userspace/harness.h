/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * What our programs on the base tree's kselftest_harness.h share. Include
 * after kselftest_harness.h.
 */
#ifndef HARNESS_H
#define HARNESS_H

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

#endif
