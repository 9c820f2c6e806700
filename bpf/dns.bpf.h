/* SPDX-License-Identifier: GPL-2.0 */
/*
 * DNS part of the packets object (packets.bpf.c): copies DNS messages
 * (queries out, responses in) into the ring buffer for user space to parse
 * and match.
 *
 * The query name and the response code are in the packet, so the hook has
 * to see payloads in both directions. cgroup_skb egress/ingress on the
 * cgroup v2 root does, on every kernel KubePulse supports, whether or not
 * it has kprobes: a kprobe on udp_sendmsg sees only the outgoing half, and
 * its payload sits in user memory behind an iov_iter whose layout changes
 * between kernels.
 */
#ifndef KUBEPULSE_DNS_BPF_H
#define KUBEPULSE_DNS_BPF_H

#include "ringbuf.bpf.h"
#include "dns.h"
#include "packet.bpf.h"

/* Set by user space before load (--dns-ports); 0 ends the list. */
const volatile __u16 dns_ports[KP_DNS_MAX_PORTS] = { 53 };

/* The event is built here, then copied to the ring buffer at its real
 * size, so a 40-byte query does not take 600 bytes of ring. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kp_dns_event);
} scratch SEC(".maps");

static __always_inline bool is_dns_port(__u16 port)
{
#pragma unroll
	for (int i = 0; i < KP_DNS_MAX_PORTS; i++) {
		if (dns_ports[i] == 0)
			return false;
		if (dns_ports[i] == port)
			return true;
	}
	return false;
}

/*
 * Runs first, on every packet of the node: false when the socket is
 * connected to a peer port that is not a DNS port, read from the socket
 * (skb->remote_port) without touching the packet. Most traffic is on
 * connected sockets (every TCP one), so it returns here; an unconnected UDP
 * socket (remote port 0) is left to the packet's own ports.
 * The field holds the port in network order, shifted to the upper half on
 * little-endian kernels; either way one half is 0.
 */
static __always_inline bool kp_dns_may_be(struct __sk_buff *skb)
{
	__u32 remote = skb->remote_port;
	__u16 port = remote >> 16 ? remote >> 16 : remote;

	return port == 0 || is_dns_port(bpf_ntohs(port));
}

/* A packet kp_dns_may_be let through, parsed: to the ring if it is DNS. */
static __always_inline void kp_dns_capture(struct __sk_buff *skb, const struct kp_packet *p, __u8 direction)
{
	const struct kp_packet l4 = *p;
	struct kp_dns_event *e;
	__u32 zero = 0, wire_len;
	__u64 len; /* 64-bit: a 32-bit copy would reach the helper unbounded */

	if (!is_dns_port(direction == KP_DNS_QUERY ? l4.dport : l4.sport))
		return;
	if (skb->len <= l4.payload_off)
		return; /* a bare TCP ACK, SYN or FIN: no DNS in it */
	wire_len = skb->len - l4.payload_off;

	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return;
	len = wire_len > KP_DNS_MAX_PAYLOAD ? KP_DNS_MAX_PAYLOAD : wire_len;
	/* The verifier must see the copy length in [1, KP_DNS_MAX_PAYLOAD].
	 * Older verifiers (6.1) learn nothing from `len != 0`, so the range is
	 * built arithmetically: wire_len >= 1 here, and MAX is a power of two.
	 * The barrier keeps clang from handing the helper an unmasked copy. */
	asm volatile("" : "+r"(len));
	len = ((len - 1) & (KP_DNS_MAX_PAYLOAD - 1)) + 1;
	if (bpf_skb_load_bytes(skb, l4.payload_off, e->payload, len))
		return;

	e->hdr.type = KP_EVENT_DNS;
	e->hdr.size = offsetof(struct kp_dns_event, payload) + len;
	e->ts_ns = bpf_ktime_get_ns();
	e->cgroup_id = bpf_skb_cgroup_id(skb);
	e->socket_cookie = bpf_get_socket_cookie(skb);
	e->tgid = 0;
	e->direction = direction;
	e->transport = l4.protocol == IPPROTO_TCP ? KP_DNS_TCP : KP_DNS_UDP;
	e->family = l4.family;
	e->sport = l4.sport;
	e->dport = l4.dport;
	e->payload_len = len;
	e->wire_len = wire_len > 0xffff ? 0xffff : wire_len;
	/* The server: where a query goes, where a response comes from. */
	__builtin_memcpy(e->server, direction == KP_DNS_QUERY ? l4.daddr : l4.saddr, 16);

	if (bpf_ringbuf_output(&events, e, offsetof(struct kp_dns_event, payload) + len, 0))
		count_drop();
}

#endif
