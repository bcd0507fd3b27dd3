// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "check.h"

static int write_file(const char *path, const char *val)
{
	int fd, ret = 0;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Where the cgroup's file @file is, in @buf of @len bytes. */
static const char *cg_path(const struct cgroup *cg, const char *file,
			   char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", cg->dir, file);
	return buf;
}

int cgroup_write(const struct cgroup *cg, const char *file, const char *val)
{
	char path[160];

	return write_file(cg_path(cg, file, path, sizeof(path)), val);
}

int cgroup_enter(struct cgroup *cg, const char *name, pid_t pid)
{
	char id[16];
	int ret;

	snprintf(cg->dir, sizeof(cg->dir), CGROUP_ROOT "/%s.%d", name,
		 getpid());
	snprintf(id, sizeof(id), "%d", pid ? pid : getpid());
	ret = write_file(CGROUP_ROOT "/cgroup.subtree_control", "+memory");
	if (ret) {
		fprintf(stderr, "no memory controller at " CGROUP_ROOT ": %s\n",
			strerror(-ret));
		return ret;
	}
	if (mkdir(cg->dir, 0755) && errno != EEXIST) {
		ret = -errno;
		fprintf(stderr, "mkdir %s: %s\n", cg->dir, strerror(errno));
		return ret;
	}
	ret = cgroup_write(cg, "cgroup.procs", id);
	if (ret)
		fprintf(stderr, "%s/cgroup.procs: %s\n", cg->dir, strerror(-ret));
	return ret;
}

void cgroup_leave(struct cgroup *cg)
{
	char id[16];

	if (!cg->dir[0])
		return;
	snprintf(id, sizeof(id), "%d", getpid());
	write_file(CGROUP_ROOT "/cgroup.procs", id);
	rmdir(cg->dir);
	cg->dir[0] = 0;
}

long cgroup_read(const struct cgroup *cg, const char *file)
{
	char path[160], buf[64];
	FILE *f = fopen(cg_path(cg, file, path, sizeof(path)), "r");
	long n = -1;

	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		n = strtol(buf, NULL, 10);
	fclose(f);
	return n;
}

long cgroup_stat(const struct cgroup *cg, const char *file, const char *key)
{
	char path[160];

	return proc_field(cg_path(cg, file, path, sizeof(path)), key);
}
