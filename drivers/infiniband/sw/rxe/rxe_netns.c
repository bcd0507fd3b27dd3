// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * RoCEv2 in network namespaces other than the initial one.
 *
 * RoCEv2 packets arrive on UDP port 4791, and a UDP port exists per network
 * namespace: an rxe device on a netdev in another namespace (one end of a
 * veth pair, say) hears nothing unless that namespace has its own tunnel
 * sockets, and its routes must be looked up there too. The initial
 * namespace keeps the sockets rxe_net_init() opens at load; the others get
 * theirs when the first rxe device is added on one of their netdevs, and
 * keep them until the namespace goes away.
 *
 * Lifetime: whoever adds a device or sends holds a netdev of the namespace,
 * and a namespace is only dismantled once its netdevs are unregistered and
 * their references dropped, so the exit hook below cannot race a user.
 */

#include <linux/mutex.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <rdma/ib_verbs.h>

#include "rxe_net.h"

static unsigned int rxe_netns_id;

/* Serializes creating a namespace's sockets. */
static DEFINE_MUTEX(rxe_netns_mutex);

static struct rxe_recv_sockets *rxe_netns_socks(struct net *net)
{
	return net_generic(net, rxe_netns_id);
}

/**
 * rxe_netns_open() - give a network namespace its RoCEv2 tunnel sockets
 * @net: the namespace of a netdev an rxe device is being added on
 *
 * Does nothing for the initial namespace, or where the sockets exist.
 * A namespace without IPv6 gets the IPv4 socket alone.
 *
 * Return: 0, or the errno of the failed socket creation.
 */
int rxe_netns_open(struct net *net)
{
	struct rxe_recv_sockets *s;
	struct socket *sk4, *sk6;
	int err = 0;

	if (net_eq(net, &init_net))
		return 0;
	s = rxe_netns_socks(net);
	mutex_lock(&rxe_netns_mutex);
	if (s->sk4)
		goto out;
	sk4 = rxe_setup_udp_tunnel(net, htons(ROCE_V2_UDP_DPORT), false);
	if (IS_ERR(sk4)) {
		err = PTR_ERR(sk4);
		goto out;
	}
	sk6 = NULL;
	if (IS_ENABLED(CONFIG_IPV6)) {
		sk6 = rxe_setup_udp_tunnel(net, htons(ROCE_V2_UDP_DPORT), true);
		if (PTR_ERR(sk6) == -EAFNOSUPPORT) {
			sk6 = NULL;
		} else if (IS_ERR(sk6)) {
			rxe_release_udp_tunnel(sk4);
			err = PTR_ERR(sk6);
			goto out;
		}
	}
	/* Route lookups read sk6 without the mutex. */
	WRITE_ONCE(s->sk6, sk6);
	WRITE_ONCE(s->sk4, sk4);
out:
	mutex_unlock(&rxe_netns_mutex);
	return err;
}

/**
 * rxe_netns_sk6() - the IPv6 tunnel socket of a namespace other than init_net
 * @net: the namespace of the netdev a packet leaves from
 *
 * Return: its socket, or NULL when it has none (no rxe device was added
 * there, or it has no IPv6).
 */
struct sock *rxe_netns_sk6(struct net *net)
{
	struct socket *sk6 = READ_ONCE(rxe_netns_socks(net)->sk6);

	return sk6 ? sk6->sk : NULL;
}

static void __net_exit rxe_netns_exit(struct net *net)
{
	struct rxe_recv_sockets *s = rxe_netns_socks(net);

	rxe_release_udp_tunnel(s->sk6);
	rxe_release_udp_tunnel(s->sk4);
	s->sk6 = NULL;
	s->sk4 = NULL;
}

static struct pernet_operations rxe_netns_ops = {
	.exit = rxe_netns_exit,
	.id = &rxe_netns_id,
	.size = sizeof(struct rxe_recv_sockets),
};

int rxe_netns_init(void)
{
	return register_pernet_subsys(&rxe_netns_ops);
}

void rxe_netns_fini(void)
{
	unregister_pernet_subsys(&rxe_netns_ops);
}
