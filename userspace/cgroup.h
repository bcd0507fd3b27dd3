/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * A memory cgroup of a test's own, under cgroup v2 at /sys/fs/cgroup (the
 * guest mounts it): made, entered, read, and removed.
 */
#ifndef CGROUP_H
#define CGROUP_H

#include <stdbool.h>
#include <sys/types.h>

#define CGROUP_ROOT "/sys/fs/cgroup"

struct cgroup {
	char dir[96];
};

/*
 * Make the cgroup "@name.<pid>" with the memory controller, and move
 * process @pid (0: the caller) into it. 0, or -errno after saying why.
 */
int cgroup_enter(struct cgroup *cg, const char *name, pid_t pid);

/* Move the caller back to the root and remove the cgroup, if made. */
void cgroup_leave(struct cgroup *cg);

/* Write @val to the cgroup's file @file. 0 or -errno. */
int cgroup_write(const struct cgroup *cg, const char *file, const char *val);

/* The number in the cgroup's file @file (memory.current ...), or -1. */
long cgroup_read(const struct cgroup *cg, const char *file);

/* The number after "@key " in the cgroup's file @file (memory.stat ...). */
long cgroup_stat(const struct cgroup *cg, const char *file, const char *key);

#endif
