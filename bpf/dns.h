/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DNS probe's event: the first bytes of one DNS message seen on the
 * node -- a query leaving a socket for a DNS port, or a response arriving
 * at a socket from one -- with the socket it belongs to. User space parses
 * the message (src/probes/dns/wire.ts) and pairs queries with responses by
 * socket cookie and transaction id. test/probes/dns/event.test.ts holds the
 * TypeScript decoder to this layout.
 */
#ifndef KUBEPULSE_DNS_H
#define KUBEPULSE_DNS_H

#include "events.h"

/* Enough for the header and question of any sane query (names are at most
 * 255 octets); longer messages are cut, and `wire_len` says so. */
#define KP_DNS_MAX_PAYLOAD 512
#define KP_DNS_MAX_PORTS 8

enum kp_dns_direction {
	KP_DNS_QUERY = 1,    /* egress to a DNS port */
	KP_DNS_RESPONSE = 2, /* ingress from a DNS port */
};

enum kp_dns_transport {
	KP_DNS_UDP = 1,
	KP_DNS_TCP = 2, /* payload starts with the 2-byte length prefix */
};

struct kp_dns_event {
	struct kp_event_header hdr; /* size = offsetof(payload) + payload_len */
	__u64 ts_ns;
	__u64 cgroup_id;     /* cgroup v2 id of the socket's owner */
	__u64 socket_cookie; /* same for a query and its response */
	__u32 tgid;          /* 0: not known at this hook (resolution uses the cgroup) */
	__u8 direction;      /* enum kp_dns_direction */
	__u8 transport;      /* enum kp_dns_transport */
	__u16 family;        /* AF_INET or AF_INET6 */
	__u16 sport;         /* host byte order */
	__u16 dport;
	__u16 payload_len;   /* bytes copied into payload */
	__u16 wire_len;      /* bytes of the message on the wire (after L4) */
	__u8 server[16];     /* query: its destination, response: its source; IPv6, or IPv4 in the first 4 bytes */
	__u8 payload[KP_DNS_MAX_PAYLOAD];
};
KP_EVENT_COMMON(struct kp_dns_event);

#endif
