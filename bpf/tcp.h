/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TCP probe's event: one record when an outgoing connection attempt
 * ends (established, refused, timed out, other error) and one when an
 * established connection closes (normally or by a reset from the peer).
 * The TypeScript decoder (src/probes/tcp/event.ts) follows this layout;
 * test/probes/tcp/event.test.ts checks the two against each other.
 */
#ifndef KUBEPULSE_TCP_H
#define KUBEPULSE_TCP_H

#include "events.h"

enum kp_tcp_result {
	KP_TCP_ESTABLISHED = 1, /* handshake completed */
	KP_TCP_REFUSED = 2,     /* RST in answer to the SYN (ECONNREFUSED) */
	KP_TCP_TIMEOUT = 3,     /* SYN retransmissions ran out (ETIMEDOUT) */
	KP_TCP_ERROR = 4,       /* any other failed attempt (unreachable, aborted) */
	KP_TCP_CLOSED = 5,      /* established connection ended without a peer reset */
	KP_TCP_RESET = 6,       /* established connection ended by a reset from the peer */
};

struct kp_tcp_event {
	struct kp_event_header hdr;
	__u64 ts_ns;       /* bpf_ktime_get_ns() when the outcome was seen */
	__u64 cgroup_id;   /* cgroup v2 id of the task that called connect() */
	__u64 elapsed_ns;  /* connect latency (results 1-4) or connection duration (5-6) */
	__u32 tgid;
	__u32 pid;
	__u32 result;      /* enum kp_tcp_result */
	__u16 family;      /* AF_INET or AF_INET6 */
	__u16 dport;       /* host byte order */
	__u8 daddr[16];    /* the peer: IPv6 (IPv4-mapped for v4 on a v6 socket), or IPv4 in the first 4 bytes */
};
KP_EVENT_COMMON(struct kp_tcp_event);

#endif
