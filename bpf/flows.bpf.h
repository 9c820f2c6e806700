/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Flows part of the packets object (packets.bpf.c): who talks to whom,
 * counted per cgroup in a map that user space reads at scrape time (no
 * per-packet events).
 *
 * On cgroup_skb egress/ingress, so both ends of a connection on this node
 * are seen, with the socket owner's cgroup:
 *   TCP  a SYN-ACK marks an established handshake: arriving at a socket it
 *        is an egress flow of the client (peer = the server, port = its
 *        port); leaving a socket it is an ingress flow of the server
 *        (peer = the client, port = the local port).
 *   UDP  whoever sends first on a socket is the client: the first packet's
 *        direction fixes the socket's role (by socket cookie), so replies
 *        are not mistaken for flows of their own.
 *
 * Only pods' sockets are counted (cgroups strictly below a pod root, as the
 * syscalls probe decides: pod_roots.bpf.h), so host traffic cannot fill the
 * map and push pod flows out. The socket's cgroup, not current's: in
 * cgroup_skb the current task (softirq, another process) is not the
 * socket's owner.
 *
 * Most packets belong to established TCP connections, which never carry a
 * handshake's SYN-ACK, nor do most handshake packets: kp_flows_may_be turns
 * them away from two socket fields, before the pod test and any parsing.
 */
#ifndef KUBEPULSE_FLOWS_BPF_H
#define KUBEPULSE_FLOWS_BPF_H

#include "common.bpf.h"
#include "flows.h"
#include "packet.bpf.h"
#include "pod_roots.bpf.h"

#define E2BIG 7

/* Bounded on purpose: when it is full, new flows are counted as overflow
 * rather than evicting flows already seen. User space deletes the entries
 * of pods that are gone. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct kp_flow_key);
	__type(value, struct kp_flow_value);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} flow_overflow SEC(".maps");

/* UDP socket cookie -> the direction of its first packet. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u8);
} udp_roles SEC(".maps");

KP_DEFINE_POD_VERDICT(pod_socket, struct __sk_buff *skb, bpf_skb_ancestor_cgroup_id(skb, level))

static __always_inline void count_flow(__u64 cgid, const struct kp_packet *p,
				       __u8 direction, const __u8 *peer, __u16 port)
{
	struct kp_flow_key key = {};
	struct kp_flow_value *v, fresh = {};
	__u64 now = bpf_ktime_get_ns();

	key.cgroup_id = cgid;
	__builtin_memcpy(key.peer, peer, 16);
	key.port = port;
	key.direction = direction;
	key.protocol = p->protocol;
	key.family = p->family;

	v = bpf_map_lookup_elem(&flows, &key);
	if (v) {
		__sync_fetch_and_add(&v->count, 1);
		v->last_ns = now;
		return;
	}
	fresh.count = 1;
	fresh.first_ns = now;
	fresh.last_ns = now;
	if (bpf_map_update_elem(&flows, &key, &fresh, BPF_NOEXIST) == -E2BIG) {
		__u32 zero = KP_FLOW_OVERFLOW;
		__u64 *n = bpf_map_lookup_elem(&flow_overflow, &zero);

		if (n)
			*n += 1;
	}
}

/* The TCP states of a socket a SYN-ACK leaves: the server's listener,
 * request socket (NEW_SYN_RECV, 12) or a fast-open/simultaneous-open
 * SYN_RECV (3) one; and reaches: the client's SYN_SENT (2) socket, or a
 * simultaneous-open SYN_RECV one. Every other packet of a connection (the
 * SYN leaving SYN_SENT, SYN and ACK reaching a listener, everything once
 * established) is on a socket in another state. */
#define KP_SYNACK_OUT_STATES ((1u << 3) | (1u << 10) | (1u << 12))
#define KP_SYNACK_IN_STATES ((1u << 2) | (1u << 3))

/*
 * Whether the packet may open or continue a flow: on a TCP socket, only in
 * a state a SYN-ACK leaves or reaches (most packets return here from two
 * socket fields); and only from a pod's socket. A socket that is not a full
 * one goes on to the pod test.
 */
static __always_inline bool kp_flows_may_be(struct __sk_buff *skb, bool egress)
{
	struct bpf_sock *sk = skb->sk;
	struct bpf_sock *full;

	if (!sk)
		return false;
	full = bpf_sk_fullsock(sk);
	if (full && full->protocol == IPPROTO_TCP && full->state < 32 &&
	    !((1u << full->state) & (egress ? KP_SYNACK_OUT_STATES : KP_SYNACK_IN_STATES)))
		return false;
	return pod_socket(skb);
}

/* A packet kp_flows_may_be let through, parsed: counted if it opens or continues a flow. */
static __always_inline void kp_flows_observe(struct __sk_buff *skb, const struct kp_packet *pp, bool egress)
{
	const struct kp_packet p = *pp;
	__u64 cgid = bpf_skb_cgroup_id(skb);

	if (p.protocol == IPPROTO_TCP) {
		if ((p.tcp_flags & (KP_TCP_FLAG_SYN | KP_TCP_FLAG_ACK)) != (KP_TCP_FLAG_SYN | KP_TCP_FLAG_ACK))
			return;
		if (egress) /* we accept: the peer is the client */
			count_flow(cgid, &p, KP_FLOW_INGRESS, p.daddr, p.sport);
		else /* our connect was answered: the peer is the server */
			count_flow(cgid, &p, KP_FLOW_EGRESS, p.saddr, p.sport);
		return;
	}

	/* UDP */
	__u64 cookie = bpf_get_socket_cookie(skb);
	__u8 role = egress ? KP_FLOW_EGRESS : KP_FLOW_INGRESS;
	__u8 *known = bpf_map_lookup_elem(&udp_roles, &cookie);

	if (!known)
		bpf_map_update_elem(&udp_roles, &cookie, &role, BPF_NOEXIST);
	else if (*known != role)
		return; /* a reply on a socket whose role is already set */
	if (egress)
		count_flow(cgid, &p, KP_FLOW_EGRESS, p.daddr, p.dport);
	else
		count_flow(cgid, &p, KP_FLOW_INGRESS, p.saddr, p.dport);
}

#endif
