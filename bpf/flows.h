/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flows probe counts, in the kernel, which peers each cgroup talks to:
 * one map entry per (cgroup, direction, protocol, peer address, server
 * port). User space reads the map (src/probes/flows/map.ts decodes it;
 * test/probes/flows/map.test.ts holds the decoder to this layout).
 */
#ifndef KUBEPULSE_FLOWS_H
#define KUBEPULSE_FLOWS_H

enum kp_flow_direction {
	KP_FLOW_EGRESS = 1,  /* this cgroup opened it: peer is the server */
	KP_FLOW_INGRESS = 2, /* the peer opened it: this cgroup is the server */
};

struct kp_flow_key {
	__u64 cgroup_id;
	__u8 peer[16];   /* IPv6, or IPv4 in the first 4 bytes */
	__u16 port;      /* the server's port (remote for egress, local for ingress), host order */
	__u8 direction;  /* enum kp_flow_direction */
	__u8 protocol;   /* IPPROTO_TCP or IPPROTO_UDP */
	__u16 family;    /* AF_INET or AF_INET6 */
	__u16 pad;
};

struct kp_flow_value {
	__u64 count;      /* TCP: connections established; UDP: packets that opened or continued the flow */
	__u64 first_ns;
	__u64 last_ns;
};

/* Index into the flow_overflow per-CPU array. */
#define KP_FLOW_OVERFLOW 0

#endif
