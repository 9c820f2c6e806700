#!/usr/bin/env node
// The daemon's user-space cost per event without the kernel: decoded-layout events fed in
// batches through the real EventStream.dispatch → TcpCollector / DnsCollector (from dist/),
// timed, with the time V8 spent in GC during the loop. Next to it, the floor: the same
// histogram and counter updates done on plain typed arrays (what the collectors would cost
// if the hot path bypassed prom-client and the values were handed to it at scrape time).
//
//   node bench/collector-micro.mjs [--events 400000] [--pods 1]
// Prints one JSON object.
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => pathToFileURL(join(ROOT, 'dist', p)).href;
const { values: opt } = parseArgs({
  options: { events: { type: 'string', default: '400000' }, pods: { type: 'string', default: '1' } },
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
  fn();
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 50)); // let the observer report
  return { name, events: EVENTS, nsPerEvent: +((ms * 1e6) / EVENTS).toFixed(1), gcShare: +((gcMs - gc0) / ms).toFixed(3) };
}

const BATCH = 2000; // ~ what the poller hands over at 10k conn/s with its 10 ms flush
const batches = Array.from({ length: 8 }, (_, k) => tcpBatch(BATCH, k * BATCH));
const out = { pods: PODS, batchEvents: BATCH, results: [] };

{
  const registry = createRegistry();
  const { config } = parseConfig(['--node-name', 'node'], {});
  const tcp = PROBE_MODULES.tcp.create({ config, registry, resolver, numCpus: 1 });
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

obs.disconnect();
process.stdout.write(`${JSON.stringify(out)}\n`);
