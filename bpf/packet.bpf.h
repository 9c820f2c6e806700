/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The IP and UDP/TCP headers of a packet seen by a cgroup_skb program,
 * where skb data starts at the network header. Shared by the probes that
 * read packets (dns, flows). IPv4 fragments after the first and IPv6
 * extension headers are not followed: such packets are not parsed.
 */
#ifndef KUBEPULSE_PACKET_BPF_H
#define KUBEPULSE_PACKET_BPF_H

#include "common.bpf.h"

#define KP_ETH_P_IP 0x0800
#define KP_ETH_P_IPV6 0x86DD
#define KP_IP_OFFSET 0x1FFF
#define KP_TCP_FLAG_SYN 0x02
#define KP_TCP_FLAG_ACK 0x10

struct kp_packet {
	__u8 saddr[16]; /* IPv6, or IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u32 payload_off; /* first byte after the UDP or TCP header */
	__u16 sport;       /* host byte order */
	__u16 dport;
	__u16 family;      /* AF_INET or AF_INET6 */
	__u8 protocol;     /* IPPROTO_UDP or IPPROTO_TCP */
	__u8 tcp_flags;
};

/* False for anything but UDP or TCP over IPv4/IPv6. */
static __always_inline bool kp_parse_packet(struct __sk_buff *skb, struct kp_packet *p)
{
	__u32 l4_off;

	if (skb->protocol == bpf_htons(KP_ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return false;
		if (ip.frag_off & bpf_htons(KP_IP_OFFSET))
			return false;
		__builtin_memcpy(p->saddr, &ip.saddr, 4);
		__builtin_memcpy(p->daddr, &ip.daddr, 4);
		p->protocol = ip.protocol;
		p->family = AF_INET;
		l4_off = ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(KP_ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return false;
		__builtin_memcpy(p->saddr, &ip6.saddr, 16);
		__builtin_memcpy(p->daddr, &ip6.daddr, 16);
		p->protocol = ip6.nexthdr;
		p->family = AF_INET6;
		l4_off = sizeof(ip6);
	} else {
		return false;
	}

	if (p->protocol == IPPROTO_TCP) {
		/* ports (4 bytes), seq and ack (8), data offset (1), flags (1) */
		__u8 hdr[14];

		if (bpf_skb_load_bytes(skb, l4_off, hdr, sizeof(hdr)))
			return false;
		p->sport = (hdr[0] << 8) | hdr[1];
		p->dport = (hdr[2] << 8) | hdr[3];
		p->tcp_flags = hdr[13];
		p->payload_off = l4_off + (hdr[12] >> 4) * 4;
		return true;
	}
	if (p->protocol == IPPROTO_UDP) {
		struct udphdr udp;

		if (bpf_skb_load_bytes(skb, l4_off, &udp, sizeof(udp)))
			return false;
		p->sport = bpf_ntohs(udp.source);
		p->dport = bpf_ntohs(udp.dest);
		p->payload_off = l4_off + sizeof(udp);
		return true;
	}
	return false;
}

#endif
