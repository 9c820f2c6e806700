// The DNS probe: queries, latency and response codes per pod, from the
// packets the packets object's DNS part copies out of DNS ports
// (bpf/packets.bpf.c, bpf/dns.bpf.h).

import type { LoadedProbe } from '../../bpf/probe.js';
import type { ProbeModule } from '../module.js';
import { DnsCollector } from './collector.js';
import { DNS_EVENT_TYPE } from './event.js';
import { DnsExpiry } from './expiry.js';
import { packetsProbe } from '../packets.js';

const EXPIRY_INTERVAL_MS = 1000;

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
    // Unanswered queries become rcode="timeout" once the events up to their
    // deadline have been handled (expiry.ts), looked for once a second while
    // any query waits (no timer while none does: an idle daemon sleeps). The
    // kernel stamps events with CLOCK_MONOTONIC, the clock process.hrtime
    // reads. A timer started again after a pause is not "on time" for the
    // expiry, so its first tick trusts only the events' own timestamps.
    let packets: LoadedProbe | undefined;
    const expiry = new DnsExpiry(
      dns,
      {
        ringEmpty: () => {
          if (packets === undefined) return undefined;
          try {
            return packets.object.ringUsage('events').used === 0;
          } catch {
            return undefined; // closed meanwhile
          }
        },
        held: () => ctx.eventsHeld?.() ?? false,
      },
      EXPIRY_INTERVAL_MS * 1e6,
    );
    let timeouts: NodeJS.Timeout | undefined;
    // After the poll phase of this loop turn: batches queued to JavaScript while the timer was due are handled first.
    const tick = (): void => {
      expiry.tick(Number(process.hrtime.bigint()));
      if (dns.pending > 0 || timeouts === undefined) return;
      clearInterval(timeouts);
      timeouts = undefined;
    };
    const handle = (view: DataView, at: number, length: number): void => {
      dns.handle(view, at, length);
      if (timeouts !== undefined || dns.pending === 0) return;
      timeouts = setInterval(() => setImmediate(tick), EXPIRY_INTERVAL_MS);
      timeouts.unref();
    };
    return {
      events: new Map([[DNS_EVENT_TYPE, handle]]),
      attached: (probe) => {
        if (probe.streams) packets = probe;
      },
      forgetPodSeries: (namespace, pod) => dns.forgetPod(namespace, pod),
      stop: () => clearInterval(timeouts),
    };
  },
};
