// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * RoCEv2 requests by hand: headers, the ICRC, and the socket they leave
 * from. See roce.h.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "roce.h"

int roce_allow_flush(struct ibv_qp *qp)
{
	struct ibv_qp_attr a = {
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_REMOTE_ATOMIC |
				   ROCE_ACCESS_FLUSH_GLOBAL |
				   ROCE_ACCESS_FLUSH_PERSISTENT,
	};

	return ibv_modify_qp(qp, &a, IBV_QP_ACCESS_FLAGS);
}

int roce_open(struct roce_sock *s)
{
	struct sockaddr_in6 me = { .sin6_family = AF_INET6,
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t mlen = sizeof(me);

	s->fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (s->fd < 0)
		return -1;
	if (bind(s->fd, (struct sockaddr *)&me, sizeof(me)) ||
	    getsockname(s->fd, (struct sockaddr *)&me, &mlen)) {
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	s->sport = ntohs(me.sin6_port);
	return 0;
}

void roce_close(struct roce_sock *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

void roce_put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

void roce_put64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

size_t roce_bth(uint8_t *pkt, uint8_t opcode, uint32_t qpn, uint32_t psn,
		unsigned int pad)
{
	pkt[0] = opcode;
	pkt[1] = (pad & 3) << 4;
	pkt[2] = pkt[3] = 0xff;			/* the default P_Key */
	roce_put32(pkt + 4, qpn & 0xffffff);
	roce_put32(pkt + 8, 0x80000000u | (psn & 0xffffff));	/* AckReq */
	return ROCE_BTH_LEN;
}

/* CRC-32 (reflected, as Ethernet's) without initial or final inversion. */
static uint32_t crc_raw(uint32_t crc, const void *p, size_t len)
{
	static uint32_t table[256];
	const uint8_t *b = p;
	uint32_t c;
	int i, k;

	if (!table[1]) {
		for (i = 0; i < 256; i++) {
			c = i;
			for (k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	while (len--)
		crc = table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return crc;
}

/*
 * The ICRC covers the IPv6 and UDP headers (from ::1 to ::1) with their
 * variant fields masked, the BTH with resv8a masked, and the rest. This
 * is the CRC of the first three, to go on with.
 */
static uint32_t icrc_start(const struct roce_sock *s, const uint8_t *pkt,
			   size_t len)
{
	uint8_t ps[40 + 8 + ROCE_BTH_LEN] = { 0x6f, 0xff, 0xff, 0xff };
	uint16_t udplen = htons(8 + len), sport = htons(s->sport);

	memcpy(ps + 4, &udplen, 2);	/* IPv6 payload length */
	ps[6] = IPPROTO_UDP;
	ps[7] = 0xff;			/* hop limit, masked */
	ps[23] = 1;			/* source ::1 */
	ps[39] = 1;			/* destination ::1 */
	memcpy(ps + 40, &sport, 2);
	ps[42] = ROCE_PORT >> 8;
	ps[43] = ROCE_PORT & 0xff;
	memcpy(ps + 44, &udplen, 2);
	ps[46] = ps[47] = 0xff;		/* UDP checksum, masked */
	memcpy(ps + 48, pkt, ROCE_BTH_LEN);
	ps[48 + 4] = 0xff;		/* BTH resv8a, masked */
	/* 0xdebb20e3: the CRC of 8 bytes of 0xff (a masked LRH). */
	return crc_raw(0xdebb20e3, ps, sizeof(ps));
}

/*
 * rxe's table of packet layouts gives a FLUSH no payload offset, so rxe
 * takes its payload to begin at the BTH: the ICRC rxe sends and checks on
 * a FLUSH covers the whole packet once more, unmasked, after its headers.
 * A peer has to do the same to be heard.
 */
void roce_seal(const struct roce_sock *s, uint8_t *pkt, size_t len)
{
	size_t hdr = ROCE_BTH_LEN + ROCE_FETH_LEN + ROCE_RETH_LEN;
	uint32_t c = icrc_start(s, pkt, len);

	if (pkt[0] == ROCE_FLUSH && len >= hdr + ROCE_ICRC_LEN) {
		c = crc_raw(c, pkt + ROCE_BTH_LEN, hdr - ROCE_BTH_LEN);
		c = crc_raw(c, pkt, len - ROCE_ICRC_LEN);
	} else {
		c = crc_raw(c, pkt + ROCE_BTH_LEN,
			    len - ROCE_BTH_LEN - ROCE_ICRC_LEN);
	}
	c = ~c;
	memcpy(pkt + len - ROCE_ICRC_LEN, &c, ROCE_ICRC_LEN);
}

int roce_send(const struct roce_sock *s, const uint8_t *pkt, size_t len)
{
	struct sockaddr_in6 to = {
		.sin6_family = AF_INET6,
		.sin6_port = htons(ROCE_PORT),
		.sin6_addr = IN6ADDR_LOOPBACK_INIT,
	};

	return sendto(s->fd, pkt, len, 0, (struct sockaddr *)&to,
		      sizeof(to)) == (ssize_t)len ? 0 : -1;
}

size_t roce_flush(const struct roce_sock *s, uint8_t *pkt, uint32_t qpn,
		  uint32_t psn, unsigned int type, unsigned int level,
		  uint64_t va, uint32_t rkey, uint32_t len)
{
	size_t n = roce_bth(pkt, ROCE_FLUSH, qpn, psn, 0);

	/* FETH: selectivity level in bits 5:4, placement type in 3:0. */
	roce_put32(pkt + n, (level & 3) << 4 | (type & 0xf));
	n += ROCE_FETH_LEN;
	roce_put64(pkt + n, va);
	roce_put32(pkt + n + 8, rkey);
	roce_put32(pkt + n + 12, len);
	n += ROCE_RETH_LEN + ROCE_ICRC_LEN;
	roce_seal(s, pkt, n);
	return n;
}
