// The DNS probe: queries, latency and response codes per pod, from the
// packets the packets object's DNS part copies out of DNS ports
// (bpf/packets.bpf.c, bpf/dns.bpf.h).

import type { ProbeModule } from '../module.js';
import { DnsCollector } from './collector.js';
import { DNS_EVENT_TYPE } from './event.js';
import { packetsProbe } from '../packets.js';

export const dnsModule: ProbeModule = {
  name: 'dns',
  kernelObjects: (config) => [packetsProbe(config)],
  create(ctx) {
    const { config } = ctx;
    const dns = new DnsCollector(ctx.registry, ctx.resolver, {
      unattributed: ctx.unattributed.forProbe('dns'),
      node: config.nodeName,
      timeoutMs: config.dnsTimeoutMs,
      maxDomains: config.dnsMaxDomains,
      clusterDomain: config.clusterDomain,
    });
    dns.stream = ctx.stream;
    // Unanswered queries become rcode="timeout", looked for once a second
    // while any query waits (no timer while none does: an idle daemon
    // sleeps). The kernel stamps events with CLOCK_MONOTONIC, the clock
    // process.hrtime reads.
    let timeouts: NodeJS.Timeout | undefined;
    const expire = (): void => {
      dns.expire(Number(process.hrtime.bigint()));
      if (dns.pending > 0) return;
      clearInterval(timeouts);
      timeouts = undefined;
    };
    const handle = (view: DataView, at: number, length: number): void => {
      dns.handle(view, at, length);
      if (timeouts !== undefined || dns.pending === 0) return;
      timeouts = setInterval(expire, 1000);
      timeouts.unref();
    };
    return {
      events: new Map([[DNS_EVENT_TYPE, handle]]),
      forgetPodSeries: (namespace, pod) => dns.forgetPod(namespace, pod),
      stop: () => clearInterval(timeouts),
    };
  },
};
