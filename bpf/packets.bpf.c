// SPDX-License-Identifier: GPL-2.0
/*
 * The packets object: one cgroup_skb program per direction for the two
 * probes that read packets, DNS (dns.bpf.h) and flows (flows.bpf.h). One
 * program instead of one per probe: a packet is dispatched once, each
 * part's cheap socket test decides from socket fields alone whether it may
 * care (most packets: an established TCP connection to no DNS port, so
 * neither does), and the headers are read once for both.
 *
 * User space switches each part on before load (dns_on, flows_on: the
 * --probes that read this object); the verifier drops the code of a part
 * that is off. Attached at the cgroup v2 root, so both ends of a connection
 * on this node are seen. Both programs always return 1: they observe,
 * never drop.
 */
#include "dns.bpf.h"
#include "flows.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile bool dns_on = true;
const volatile bool flows_on = true;

static __always_inline void observe(struct __sk_buff *skb, bool egress)
{
	struct kp_packet p = {};
	bool dns = dns_on && kp_dns_may_be(skb);
	bool flows = flows_on && kp_flows_may_be(skb, egress);

	if (!dns && !flows)
		return;
	if (!kp_parse_packet(skb, &p))
		return;
	if (dns)
		kp_dns_capture(skb, &p, egress ? KP_DNS_QUERY : KP_DNS_RESPONSE);
	if (flows)
		kp_flows_observe(skb, &p, egress);
}

SEC("cgroup_skb/egress")
int kp_packets_egress(struct __sk_buff *skb)
{
	observe(skb, true);
	return 1;
}

SEC("cgroup_skb/ingress")
int kp_packets_ingress(struct __sk_buff *skb)
{
	observe(skb, false);
	return 1;
}
