// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/* The connection to a responder on another host: see peer.h. */
#include <endian.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "peer.h"

#define PEER_FIELDS 6	/* the 64-bit integers of struct peer_msg */

static void msg_swap(struct peer_msg *m, uint64_t (*conv)(uint64_t))
{
	uint64_t *f = &m->op;
	int i;

	for (i = 0; i < PEER_FIELDS; i++)
		f[i] = conv(f[i]);
}

static uint64_t to_be(uint64_t v)
{
	return htobe64(v);
}

static uint64_t from_be(uint64_t v)
{
	return be64toh(v);
}

bool peer_send_msg(int fd, const struct peer_msg *m)
{
	struct peer_msg w = *m;

	msg_swap(&w, to_be);
	return send(fd, &w, sizeof(w), MSG_NOSIGNAL) == sizeof(w);
}

bool peer_recv_msg(int fd, struct peer_msg *m)
{
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(*m)) {
		n = recv(fd, (char *)m + got, sizeof(*m) - got, 0);
		if (n <= 0)
			return false;
		got += n;
	}
	msg_swap(m, from_be);
	return true;
}

struct peer *peer_connect(const char *addr, int port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char service[16];
	struct peer *p;
	long end = now_ms() + 30000;
	int fd = -1, err;

	snprintf(service, sizeof(service), "%d", port);
	err = getaddrinfo(addr, service, &hints, &res);
	if (err) {
		fprintf(stderr, "peer %s: %s\n", addr, gai_strerror(err));
		return NULL;
	}
	/* The peer may still be starting: keep trying for a while. */
	while (fd < 0 && now_ms() < end) {
		for (ai = res; ai && fd < 0; ai = ai->ai_next) {
			fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
			if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen)) {
				close(fd);
				fd = -1;
			}
		}
		if (fd < 0)
			sleep_ms(200);
	}
	freeaddrinfo(res);
	if (fd < 0) {
		fprintf(stderr, "peer %s port %d: cannot connect\n", addr, port);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		close(fd);
		return NULL;
	}
	p->fd = fd;
	return p;
}

void peer_close(struct peer *p)
{
	if (!p)
		return;
	close(p->fd);
	free(p);
}

bool peer_call(struct peer *p, const struct peer_msg *req, struct peer_msg *rep)
{
	if (!peer_send_msg(p->fd, req) || !peer_recv_msg(p->fd, rep)) {
		fprintf(stderr, "peer: connection lost (request %llu)\n",
			(unsigned long long)req->op);
		return false;
	}
	if (!rep->ok)
		fprintf(stderr, "peer: request %llu failed there (see its log)\n",
			(unsigned long long)req->op);
	return rep->ok;
}
