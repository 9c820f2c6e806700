// Ring-buffer batches as the addon hands them over: the framing
// (src/bpf/event-stream.ts), the event decoders (src/probes/dns/event.ts,
// src/probes/tcp/event.ts) and the collectors behind them (DNS parsing,
// query/response matching, domain folding, TCP results). The kernel writes
// these records, but the DNS payload inside is whatever a process sent.
// Invariant: never throws; every series carries labels from the documented
// sets only (reason, qtype, rcode, result, outcome, domain ≤ the cap); the
// stream's counts add up (records handled + malformed ≤ frames in the
// batch); the DNS outcomes add up to the DNS events handled; every live-stream
// record becomes JSON whose tcp `peer` and dns `server` are ADDR:PORT or
// [ADDR]:PORT, whatever bytes the address fields hold.

import { Registry } from 'prom-client';

export default {
  sources: ['src/bpf/event-stream.js', 'src/probes/dns/event.js', 'src/probes/dns/collector.js', 'src/probes/dns/matcher.js', 'src/probes/tcp/event.js', 'src/probes/tcp/collector.js', 'src/stream/address.js', 'src/stream/record.js'],
  maxLength: 4096,
  async setup(load) {
    const { EventStream } = await load('src/bpf/event-stream.js');
    const { DnsCollector, DNS_PACKET_OUTCOMES } = await load('src/probes/dns/collector.js');
    const { TcpCollector } = await load('src/probes/tcp/collector.js');
    const { DNS_PARSE_ERRORS } = await load('src/probes/dns/wire.js');
    const { QTYPE_LABELS, RCODE_LABELS } = await load('src/probes/dns/names.js');
    const { TCP_RESULTS } = await load('src/probes/tcp/event.js');
    const { fixedDomainLabels, DOMAIN_OTHER } = await load('src/probes/dns/domain.js');
    const { EventHub } = await load('src/stream/hub.js');
    const { recordJson } = await load('src/stream/record.js');
    const { parseStreamQuery } = await load('src/stream/filter.js');
    const everything = parseStreamQuery(new URLSearchParams('last=64'));
    const HOST_PORT = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[[0-9a-f:.]+\]):\d{1,5}$/;
    const pods = [0, 1, 2].map((i) => Object.freeze({ namespace: 'ns', pod: `pod-${i}`, workload: 'w', container: 'c', podUid: `uid-${i}` }));
    const resolver = { resolve: (_tgid, cgroupId) => pods[cgroupId % 3] };
    const MAX_DOMAINS = 20;
    const allowed = {
      reason: new Set([...DNS_PARSE_ERRORS, 'bad_event']),
      qtype: new Set(QTYPE_LABELS),
      rcode: new Set(RCODE_LABELS),
      result: new Set(TCP_RESULTS.filter(Boolean)),
      outcome: new Set(DNS_PACKET_OUTCOMES),
    };
    const fixedDomains = new Set([...fixedDomainLabels('cluster.local'), DOMAIN_OTHER]);
    let registry, dns, stream, hub, jsonSeq = 0, execs = 0;
    const fresh = () => {
      registry = new Registry();
      dns = new DnsCollector(registry, resolver, { node: 'n1', timeoutMs: 5000, maxDomains: MAX_DOMAINS, clusterDomain: 'cluster.local' });
      const tcp = new TcpCollector(registry, resolver, 'n1');
      hub = new EventHub({ node: 'n1', historySize: 64, queueSize: 10 });
      jsonSeq = 0;
      tcp.stream = hub;
      dns.stream = hub;
      stream = new EventStream(new Map([[1, (v, at, len) => tcp.handle(v, at, len)], [2, (v, at, len) => dns.handle(v, at, len)]]));
    };
    fresh();
    const frames = (b) => {
      let n = 0;
      for (let o = 0; o + 8 <= b.length; n++) {
        const len = b.readUInt32LE(o);
        if (len < 8 || o + 8 + len > b.length) return n + 1;
        o += 8 + Math.ceil(len / 8) * 8;
      }
      return n;
    };
    return async (data) => {
      const before = [...stream.stats.received.values()].reduce((a, b) => a + b, 0) + stream.stats.malformed;
      // A copy at an odd place inside a larger buffer, as batches are slices of the addon's memory.
      const backing = Buffer.alloc(data.length + 16);
      data.copy(backing, 8);
      stream.dispatch(backing.subarray(8, 8 + data.length));
      const after = [...stream.stats.received.values()].reduce((a, b) => a + b, 0) + stream.stats.malformed;
      if (after - before > frames(data)) throw new Error(`stream counted ${after - before} records in ${frames(data)} frames`);
      dns.expire(Number(data.length > 0 ? data[0] : 0) * 1e9);
      for (const r of hub.history(everything)) {
        if (r.seq <= jsonSeq) continue; // made into JSON after an earlier input
        jsonSeq = r.seq;
        const json = recordJson(r, 'n1');
        const where = r.type === 'tcp' ? json.peer : r.type === 'dns' ? json.server : undefined;
        if (where !== undefined && !HOST_PORT.test(where)) throw new Error(`${r.type} record: "${where}" is not ADDR:PORT`);
        JSON.stringify(json);
      }
      if (++execs % 32 !== 0) return;
      const domains = new Set();
      let outcomes = 0;
      for (const metric of await registry.getMetricsAsJSON()) {
        if (metric.name === 'kubepulse_dns_packets_total') for (const v of metric.values) outcomes += v.value;
        for (const v of metric.values) {
          for (const [k, val] of Object.entries(v.labels)) {
            if (allowed[k] !== undefined && !allowed[k].has(String(val))) throw new Error(`${metric.name}: ${k}="${val}" outside the documented set`);
            if (k === 'domain' && !fixedDomains.has(val)) domains.add(val);
          }
        }
      }
      const dnsEvents = stream.stats.received.get(2) ?? 0;
      if (outcomes !== dnsEvents) throw new Error(`DNS outcomes add up to ${outcomes}, not the ${dnsEvents} DNS events handled`);
      if (domains.size > MAX_DOMAINS) throw new Error(`${domains.size} domain values > cap ${MAX_DOMAINS}`);
      if (execs % 4096 === 0) fresh();
    };
  },
};
