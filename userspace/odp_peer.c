// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_peer: the responder's host for tests that run on another (peer.h).
 *
 *   odp_peer [-d ib_dev] [-g gid_idx] [-p port]
 *
 * Listens on TCP port @port (default 18515) of every address and serves
 * each connection in a child process of its own: the responder QP the
 * requester asks for, one target of memory under an MR (ODP or pinned,
 * as asked), and what target.h asks the CPU to do to that memory. When
 * the connection closes, the child frees all of it and exits. Runs until
 * killed.
 *
 * The requester's requests are checked: memory operations only reach the
 * target or pages moved out of it, so a wrong address fails the request
 * rather than this process.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "loopback.h"
#include "mirror.h"
#include "peer.h"
#include "target.h"

#define MAX_MOVED 8

struct region {
	unsigned char *p;
	size_t len;
};

struct session {
	struct loopback lb;
	struct ibv_mr *mr;
	struct region target;
	struct region moved[MAX_MOVED];
};

static struct loopback_opts opts = { .dev = "rxe0", .gid_index = 1 };

static bool within(const struct region *r, uint64_t addr, uint64_t len)
{
	uintptr_t p = (uintptr_t)r->p;

	return r->p && len && addr >= p && len <= r->len && addr - p <= r->len - len;
}

/* Whether [addr, addr + len) lies in the target, or in moved pages. */
static bool allowed(struct session *s, const struct peer_msg *m, bool moved_only)
{
	int i;

	if (!moved_only && within(&s->target, m->addr, m->len))
		return true;
	for (i = 0; i < MAX_MOVED; i++)
		if (within(&s->moved[i], m->addr, m->len))
			return true;
	fprintf(stderr, "odp_peer: request %llu for %#llx+%llu: not ours\n",
		(unsigned long long)m->op, (unsigned long long)m->addr,
		(unsigned long long)m->len);
	return false;
}

static bool make_target(struct session *s, struct peer_msg *m)
{
	if (s->target.p || !m->len || m->len > (1ull << 30))
		return false;
	s->target.len = m->len;
	s->target.p = map_anon(NULL, m->len);
	s->mr = mirror_reg(&s->lb, s->target.p, m->len, m->arg);
	m->addr = (uintptr_t)s->target.p;
	m->arg = s->mr->rkey;
	return true;
}

/* A fresh responder QP, connected to the requester's QP and GID in @m. */
static bool make_qp(struct session *s, struct peer_msg *m)
{
	if (s->lb.qp[0]) {
		ibv_destroy_qp(s->lb.qp[0]);
		s->lb.qp[0] = NULL;
	}
	memcpy(s->lb.dgid.raw, m->gid, sizeof(m->gid));
	if (loopback_peer_qp(&s->lb) || loopback_peer_connect(&s->lb, m->arg))
		return false;
	m->arg = s->lb.qp[0]->qp_num;
	memcpy(m->gid, s->lb.gid.raw, sizeof(m->gid));
	return true;
}

static bool move_out(struct session *s, struct peer_msg *m)
{
	unsigned char *away;
	int i;

	for (i = 0; i < MAX_MOVED && s->moved[i].p; i++)
		;
	if (i == MAX_MOVED)
		return false;
	away = target_move_out(&s->lb, (unsigned char *)(uintptr_t)m->addr, m->len);
	if (!away)
		return false;
	s->moved[i] = (struct region){ away, m->len };
	m->addr = (uintptr_t)away;
	return true;
}

static bool unmap_moved(struct session *s, struct peer_msg *m)
{
	int i;

	for (i = 0; i < MAX_MOVED; i++) {
		if ((uintptr_t)s->moved[i].p == m->addr && s->moved[i].len == m->len) {
			s->moved[i].p = NULL;
			return target_unmap(&s->lb, (unsigned char *)(uintptr_t)m->addr,
					    m->len);
		}
	}
	return false;
}

/* Carry out request @m, turning it into its reply. */
static bool handle(struct session *s, struct peer_msg *m)
{
	unsigned char *p = (unsigned char *)(uintptr_t)m->addr;

	switch (m->op) {
	case PEER_TARGET:
		return make_target(s, m);
	case PEER_QP:
		return make_qp(s, m);
	case PEER_CHECK:
		return allowed(s, m, false) &&
		       target_check(&s->lb, p, m->len, m->arg, m->pos, "odp_peer: CHECK");
	case PEER_MADVISE:
		return allowed(s, m, false) && target_madvise(&s->lb, p, m->len, m->arg);
	case PEER_UNMAP_HOLE:
		return allowed(s, m, false) && target_unmap_hole(&s->lb, p, m->len);
	case PEER_MAP:
		return allowed(s, m, false) && target_map(&s->lb, p, m->len);
	case PEER_PROTECT:
		return allowed(s, m, false) && target_protect(&s->lb, p, m->len, m->arg);
	case PEER_MOVE_IN:
		return allowed(s, m, false) &&
		       target_move_in(&s->lb, p, m->len, m->arg, m->pos);
	case PEER_MOVE_OUT:
		return allowed(s, m, false) && move_out(s, m);
	case PEER_UNMAP:
		return unmap_moved(s, m);
	}
	fprintf(stderr, "odp_peer: unknown request %llu\n", (unsigned long long)m->op);
	return false;
}

static int serve(int fd)
{
	struct session s = {};
	struct peer_msg m;

	if (loopback_open(&s.lb, &opts))
		return 1;
	while (peer_recv_msg(fd, &m)) {
		m.ok = handle(&s, &m);
		if (!peer_send_msg(fd, &m))
			break;
	}
	loopback_dereg(s.mr);
	loopback_close(&s.lb);
	return 0;
}

/*
 * Listen on @port. The previous test's odp_peer may still be on its way
 * out (a remote kill is asynchronous), so a port in use is tried again.
 */
static int listen_on(int port)
{
	struct sockaddr_in6 a = {
		.sin6_family = AF_INET6,
		.sin6_port = htons(port),
		.sin6_addr = IN6ADDR_ANY_INIT,
	};
	int one = 1, tries = 0, fd = socket(AF_INET6, SOCK_STREAM, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto fail;
	while (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		if (errno != EADDRINUSE || ++tries == 50)
			goto fail;
		sleep_ms(200);
	}
	if (!listen(fd, 8))
		return fd;
fail:
	perror("odp_peer: listen");
	exit(1);
}

int main(int argc, char **argv)
{
	int lfd, fd;

	loopback_take_opts(&argc, &argv, &opts);
	if (argc > 1) {
		fprintf(stderr, "usage: odp_peer [-d ib_dev] [-g gid_idx] [-p port]\n");
		return 2;
	}
	lfd = listen_on(opts.port ? opts.port : PEER_PORT);
	/* Children are reaped by the kernel. */
	signal(SIGCHLD, SIG_IGN);
	printf("odp_peer: %s, GID index %d, port %d\n", opts.dev, opts.gid_index,
	       opts.port ? opts.port : PEER_PORT);
	fflush(stdout);
	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			perror("odp_peer: accept");
			return 1;
		}
		switch (fork()) {
		case 0:
			close(lfd);
			exit(serve(fd));
		case -1:
			perror("fork");
			break;
		}
		close(fd);
	}
}
