#!/usr/bin/env node
// The daemon's user-space cost per event without the kernel: decoded-layout events fed in
// batches through the real EventStream.dispatch → TcpCollector / DnsCollector (from dist/),
// timed, with the time V8 spent in GC during the loop. Next to it, the floor: the same
// histogram and counter updates done on plain typed arrays (what the collectors would cost
// if the hot path bypassed prom-client and the values were handed to it at scrape time).
//
//   node bench/collector-micro.mjs [--events 400000] [--pods 1] [--dns-dist dist-before,dist]
// Prints one JSON object. The DNS part (queries and their responses, 100 names over 5 domains,
// with the default stream history and without it) runs once per --dns-dist build, alternating
// three times, so an earlier build's dist/ compares with this one in the same process.
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => pathToFileURL(join(ROOT, 'dist', p)).href;
const { values: opt } = parseArgs({
  options: { events: { type: 'string', default: '400000' }, pods: { type: 'string', default: '1' }, 'dns-dist': { type: 'string', default: 'dist' } },
});
const EVENTS = Math.min(5_000_000, Math.max(1000, Number(opt.events)));
const PODS = Math.min(100_000, Math.max(1, Number(opt.pods)));

const { createRegistry } = await import(dist('src/metrics/registry.js'));
const { EventStream } = await import(dist('src/bpf/event-stream.js'));
const { readU64 } = await import(dist('src/bytes.js'));
const { LATENCY_BUCKETS } = await import(dist('src/probes/tcp/collector.js'));
const { parseConfig } = await import(dist('src/config.js'));
const { PROBE_MODULES } = await import(dist('src/probes/index.js'));
const tcpMod = await import(dist('src/probes/tcp/event.js'));
const { EventHub: TcpHub } = await import(dist('src/stream/hub.js'));
const { UnattributedEvents: TcpUnattributed } = await import(dist('src/metrics/unattributed.js'));

const identities = Array.from({ length: PODS }, (_, i) =>
  Object.freeze({ namespace: `ns-${i % 20}`, workload: `app-${i}`, pod: `app-${i}-x`, container: 'c', podUid: `uid-${i}` }),
);
const resolver = { resolve: (_t, cg) => identities[(cg - 1) % PODS] };

let gcMs = 0;
const obs = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
});
obs.observe({ entryTypes: ['gc'] });

/** A batch in the addon's framing: [u32 length][u32 0][record] padded to 8. */
function tcpBatch(count, podOffset) {
  const T = tcpMod.TCP_EVENT_LAYOUT;
  const frame = 8 + ((T.size + 7) & ~7);
  const buf = Buffer.alloc(frame * count);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < count; i++) {
    const at = i * frame;
    v.setUint32(at, T.size, true);
    const r = at + 8;
    v.setUint32(r + T.offsets.hdr, tcpMod.TCP_EVENT_TYPE, true);
    v.setUint32(r + T.offsets.hdr + 4, T.size, true);
    v.setBigUint64(r + T.offsets.cgroup_id, BigInt(((podOffset + i) % PODS) + 1), true);
    v.setBigUint64(r + T.offsets.elapsed_ns, BigInt(20_000 + ((i * 7919) % 2_000_000)), true);
    v.setUint32(r + T.offsets.tgid, 1000 + i, true);
    // alternate established / closed, as a connect-then-close storm produces
    v.setUint32(r + T.offsets.result, i % 2 ? 5 : 1, true);
  }
  return buf;
}

async function measure(name, fn) {
  await new Promise((r) => setTimeout(r, 50));
  const gc0 = gcMs;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 50)); // let the observer report
  // CPU time as well as wall time: on a shared machine the wall time holds other processes' turns.
  return { name, events: EVENTS, nsPerEvent: +((ms * 1e6) / EVENTS).toFixed(1), cpuNsPerEvent: +(((c.user + c.system) * 1e3) / EVENTS).toFixed(1), gcShare: +((gcMs - gc0) / ms).toFixed(3) };
}

const BATCH = 2000; // ~ what the poller hands over at 10k conn/s with its 10 ms flush
const batches = Array.from({ length: 8 }, (_, k) => tcpBatch(BATCH, k * BATCH));
const out = { pods: PODS, batchEvents: BATCH, results: [] };

{
  const registry = createRegistry();
  const { config } = parseConfig(['--node-name', 'node'], {});
  const tcp = PROBE_MODULES.tcp.create({ config, registry, resolver, numCpus: 1, unattributed: new TcpUnattributed(registry), stream: new TcpHub({ node: 'node', historySize: 0, queueSize: 1000 }) });
  const stream = new EventStream(tcp.events);
  for (let i = 0; i < 50; i++) stream.dispatch(batches[i % batches.length]); // warm up the JIT
  out.results.push(
    await measure('EventStream.dispatch → TcpCollector.handle (prom-client children)', () => {
      for (let n = 0; n < EVENTS; n += BATCH) stream.dispatch(batches[(n / BATCH) % batches.length]);
    }),
  );
}

{
  // The floor: per pod, bucket counts + sum + count in a Float64Array and a counter per result,
  // updated with a precomputed bucket search; nothing allocated per event.
  const T = tcpMod.TCP_EVENT_LAYOUT;
  const bounds = Float64Array.from(LATENCY_BUCKETS);
  const slots = bounds.length + 3; // buckets, +Inf, sum, count
  const byPod = new Map();
  const podState = (id) => {
    let s = byPod.get(id);
    if (!s) byPod.set(id, (s = { latency: new Float64Array(slots), duration: new Float64Array(slots), results: new Float64Array(8) }));
    return s;
  };
  const observe = (h, x) => {
    let b = 0;
    while (b < bounds.length && x > bounds[b]) b++;
    h[b]++;
    h[slots - 2] += x;
    h[slots - 1]++;
  };
  const handle = (v, at) => {
    const result = v.getUint32(at + T.offsets.result, true);
    const s = podState(resolver.resolve(v.getUint32(at + T.offsets.tgid, true), readU64(v, at + T.offsets.cgroup_id)));
    const secs = readU64(v, at + T.offsets.elapsed_ns) / 1e9;
    observe(result === 1 ? s.latency : s.duration, secs);
    s.results[result]++;
  };
  const stream = new EventStream(new Map([[tcpMod.TCP_EVENT_TYPE, handle]]));
  for (let i = 0; i < 50; i++) stream.dispatch(batches[i % batches.length]);
  out.results.push(
    await measure('EventStream.dispatch → typed-array accumulation (floor)', () => {
      for (let n = 0; n < EVENTS; n += BATCH) stream.dispatch(batches[(n / BATCH) % batches.length]);
    }),
  );
}

// ── DNS: a query and its response per pair, as a resolver's traffic produces ──
function dnsMessage(id, flags, name) {
  const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
  return Buffer.from([id >> 8, id & 255, flags >> 8, flags & 255, 0, 1, 0, flags & 0x8000 ? 1 : 0, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1]);
}
async function dnsBuild(distDir) {
  const at = (p) => pathToFileURL(join(ROOT, distDir, p)).href;
  const ev = await import(at('src/probes/dns/event.js'));
  const D = ev.DNS_EVENT_LAYOUT;
  const batch = (count, base) => {
    const frames = [];
    for (let i = 0; i < count; i += 2) {
      const q = base + i;
      const name = `h${q % 20}.d${q % 5}.bench-kubepulse.com`;
      const cookie = BigInt(1000 + (q % 64));
      for (const [direction, msg, ts] of [
        [1, dnsMessage(q & 0xffff, 0x0100, name), q * 1000],
        [2, dnsMessage(q & 0xffff, 0x8180, name), q * 1000 + 500_000],
      ]) {
        const size = D.offsets.payload + msg.length;
        const frame = Buffer.alloc(8 + ((size + 7) & ~7));
        const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
        v.setUint32(0, size, true);
        v.setUint32(8 + D.offsets.hdr, ev.DNS_EVENT_TYPE, true);
        v.setUint32(8 + D.offsets.hdr + 4, size, true);
        v.setBigUint64(8 + D.offsets.ts_ns, BigInt(1e12 + ts), true);
        v.setBigUint64(8 + D.offsets.cgroup_id, BigInt((q % PODS) + 1), true);
        v.setBigUint64(8 + D.offsets.socket_cookie, cookie, true);
        v.setUint8(8 + D.offsets.direction, direction);
        v.setUint8(8 + D.offsets.transport, 1);
        v.setUint16(8 + D.offsets.dport, 53, true);
        v.setUint16(8 + D.offsets.payload_len, msg.length, true);
        v.setUint16(8 + D.offsets.wire_len, msg.length, true);
        msg.copy(frame, 8 + D.offsets.payload);
        frames.push(frame);
      }
    }
    return Buffer.concat(frames);
  };
  const { createRegistry } = await import(at('src/metrics/registry.js'));
  const { EventStream } = await import(at('src/bpf/event-stream.js'));
  const { parseConfig } = await import(at('src/config.js'));
  const { PROBE_MODULES } = await import(at('src/probes/index.js'));
  const { EventHub } = await import(at('src/stream/hub.js'));
  const { UnattributedEvents } = await import(at('src/metrics/unattributed.js'));
  const make = (history) => {
    const registry = createRegistry();
    const { config } = parseConfig(['--node-name', 'node', '--api.history', String(history)], {});
    const stream = new EventHub({ node: 'node', historySize: history, queueSize: 1000 });
    const dns = PROBE_MODULES.dns.create({ config, registry, resolver, numCpus: 1, stream, unattributed: new UnattributedEvents(registry) });
    dns.stop?.();
    return new EventStream(dns.events);
  };
  return { batches: Array.from({ length: 8 }, (_, k) => batch(BATCH, k * BATCH)), make };
}
const dnsBuilds = [];
for (const d of opt['dns-dist'].split(',')) dnsBuilds.push([d, await dnsBuild(d)]);
for (let round = 0; round < 3; round++) {
  for (const [d, b] of dnsBuilds) {
    for (const history of [10000, 0]) {
      const stream = b.make(history);
      for (let i = 0; i < 50; i++) stream.dispatch(b.batches[i % b.batches.length]);
      out.results.push(
        await measure(`${d}: EventStream.dispatch → DnsCollector.handle, history ${history}`, () => {
          for (let n = 0; n < EVENTS; n += BATCH) stream.dispatch(b.batches[(n / BATCH) % b.batches.length]);
        }),
      );
    }
  }
}

obs.disconnect();
process.stdout.write(`${JSON.stringify(out)}\n`);
