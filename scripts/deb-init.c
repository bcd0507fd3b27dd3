// SPDX-License-Identifier: GPL-2.0-only
/*
 * /init of the initramfs with which scripts/deb.sh boots the kernel built
 * from Debian's own configuration. Debian builds 9p and its virtio
 * transport as modules, so the root that scripts/vm.sh shares cannot be
 * mounted until they are loaded; a real host's initramfs does the same for
 * its disk. Built static: the initramfs holds nothing else.
 *
 * It loads the modules /modules names (one path a line, in dependency
 * order), mounts the shared root and runs the init= program there as PID 1
 * (scripts/guest-init, which loads rxe from the extracted package). Any
 * failure is printed and ends the boot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4
#endif

#define ROOT_OPTS "trans=virtio,version=9p2000.L,msize=262144,cache=loose"

static int fail(const char *what, const char *arg)
{
	fprintf(stderr, "deb-init: %s %s: %s\n", what, arg, strerror(errno));
	return 1;
}

/* The value of @key= on the kernel command line, or NULL. */
static char *cmdline_arg(const char *cmdline, const char *key)
{
	size_t n = strlen(key);
	const char *p = cmdline;

	while ((p = strstr(p, key))) {
		if ((p == cmdline || p[-1] == ' ') && p[n] == '=')
			return strndup(p + n + 1, strcspn(p + n + 1, "\n "));
		p += n;
	}
	return NULL;
}

/* The modules are compressed as Debian ships them; the kernel unpacks. */
static int load_modules(const char *list)
{
	char path[512];
	FILE *f = fopen(list, "r");

	if (!f)
		return fail("cannot open", list);
	while (fgets(path, sizeof(path), f)) {
		int fd;

		path[strcspn(path, "\n")] = 0;
		if (!*path)
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail("cannot open", path);
		if (syscall(SYS_finit_module, fd, "", MODULE_INIT_COMPRESSED_FILE) &&
		    errno != EEXIST)
			return fail("cannot load", path);
		close(fd);
	}
	fclose(f);
	return 0;
}

int main(void)
{
	char cmdline[4096] = "";
	char *init;
	ssize_t n;
	int fd;

	if (mount("proc", "/proc", "proc", 0, NULL))
		return fail("cannot mount", "/proc");
	fd = open("/proc/cmdline", O_RDONLY);
	n = fd < 0 ? -1 : read(fd, cmdline, sizeof(cmdline) - 1);
	if (n <= 0)
		return fail("cannot read", "/proc/cmdline");
	close(fd);
	init = cmdline_arg(cmdline, "init");
	if (!init) {
		fprintf(stderr, "deb-init: no init= on the command line\n");
		return 1;
	}
	if (load_modules("/modules"))
		return 1;
	if (mount("root", "/root", "9p", MS_RDONLY, ROOT_OPTS))
		return fail("cannot mount the shared root at", "/root");
	umount("/proc");
	if (chdir("/root") || mount(".", "/", NULL, MS_MOVE, NULL) ||
	    chroot(".") || chdir("/"))
		return fail("cannot switch to", "/root");
	execl(init, init, (char *)NULL);
	return fail("cannot run", init);
}
