// The packets object (bpf/packets.bpf.c): one cgroup_skb program per
// direction serves both probes that read packets, DNS and flows, so a packet
// is dispatched and parsed once for both. The dns and flows modules both
// name this spec; the daemon loads it once and hands it to each. Each part
// is switched on before load by whether its probe is in --probes, so a part
// that is off costs nothing (the verifier drops its code).

import type { ProbeSpec } from '../bpf/probe.js';
import { MIN_RING_BYTES, ringBytesFor } from '../bpf/ring-size.js';
import type { Config } from '../config.js';
import { UserError } from '../errors.js';
import { DNS_EVENT_LAYOUT } from './dns/event.js';

export const PACKETS_OBJECT = 'packets';

/**
 * The DNS part writes one record per DNS message (a query, a response):
 * the event's 64 bytes before the payload, and the payload as long as the
 * message, up to 512 bytes. Sized for 340,000 messages/s (170,000 queries
 * answered per second, bench/dns-load's best here against dnsmasq) of
 * 64-byte messages (a query for a name of 30-odd characters and its answer
 * average that): 2 MiB (README, Benchmark).
 */
export const DNS_RING_RECORDS_PER_SECOND = 340_000;
export const DNS_RING_TYPICAL_PAYLOAD = 64;

/** The flows part writes no record (it counts in maps): the smallest ring, one page. */
const IDLE_RING_BYTES = MIN_RING_BYTES;

export function packetsProbe(config: Pick<Config, 'probes' | 'dnsPorts'>): ProbeSpec {
  const dns = config.probes.includes('dns');
  const flows = config.probes.includes('flows');
  const ports = config.dnsPorts;
  if (dns && ports.length > DNS_EVENT_LAYOUT.maxPorts) throw new UserError(`--dns-ports: at most ${DNS_EVENT_LAYOUT.maxPorts} ports`, 2);
  return {
    name: PACKETS_OBJECT,
    objectFile: 'packets.bpf.o',
    ringBufferBytes: ringBytesFor({ recordBytes: DNS_EVENT_LAYOUT.offsets.payload + DNS_RING_TYPICAL_PAYLOAD, recordsPerSecond: DNS_RING_RECORDS_PER_SECOND }),
    plans: [
      {
        // On every kernel, with or without kprobes: see bpf/dns.bpf.h for why.
        hook: 'cgroup_skb/egress+cgroup_skb/ingress',
        mode: 'any',
        programs: [
          { name: 'kp_packets_egress', cgroup: true },
          { name: 'kp_packets_ingress', cgroup: true },
        ],
        unavailable: (k) => {
          if (!k.cgroup2) return 'needs a cgroup v2 mount (cgroup2 in /proc/self/mounts, or --path.cgroupfs)';
          if (!k.capabilities.netAdmin) return 'needs CAP_NET_ADMIN (cgroup_skb programs)';
          return undefined;
        },
      },
    ],
    configure(object) {
      object.setConst('dns_on', Buffer.from([dns ? 1 : 0]));
      object.setConst('flows_on', Buffer.from([flows ? 1 : 0]));
      if (!dns) {
        object.setMapMaxEntries('events', IDLE_RING_BYTES);
        return;
      }
      // const volatile __u16 dns_ports[8]: the list ends at the first 0.
      const value = Buffer.alloc(2 * DNS_EVENT_LAYOUT.maxPorts);
      ports.forEach((port, i) => value.writeUInt16LE(port, 2 * i));
      object.setConst('dns_ports', value);
    },
  };
}
