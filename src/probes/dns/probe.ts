// How the DNS probe attaches (see bpf/dns.bpf.c for why cgroup_skb on
// every kernel) and how it learns which ports carry DNS.

import type { ProbeSpec } from '../../bpf/probe.js';
import { UserError } from '../../errors.js';
import { DNS_EVENT_LAYOUT } from './event.js';

export function dnsProbe(ports: number[]): ProbeSpec {
  if (ports.length > DNS_EVENT_LAYOUT.maxPorts) throw new UserError(`--dns-ports: at most ${DNS_EVENT_LAYOUT.maxPorts} ports`, 2);
  return {
    name: 'dns',
    objectFile: 'dns.bpf.o',
    plans: [
      {
        hook: 'cgroup_skb/egress+cgroup_skb/ingress',
        mode: 'any',
        programs: [
          { name: 'kp_dns_egress', cgroup: true },
          { name: 'kp_dns_ingress', cgroup: true },
        ],
        unavailable: (k) => {
          if (!k.cgroup2) return 'needs a cgroup v2 mount (cgroup2 in /proc/self/mounts, or --path.cgroupfs)';
          if (!k.capabilities.netAdmin) return 'needs CAP_NET_ADMIN (cgroup_skb programs)';
          return undefined;
        },
      },
    ],
    configure(object) {
      // const volatile __u16 dns_ports[8]: the list ends at the first 0.
      const value = Buffer.alloc(2 * DNS_EVENT_LAYOUT.maxPorts);
      ports.forEach((port, i) => value.writeUInt16LE(port, 2 * i));
      object.setConst('dns_ports', value);
    },
  };
}
