// What the soak's live subscriber costs the V8 heap, without the machine's
// noise: the event hub (history 10,000) with one subscriber serialising every
// TCP event as stream/sse.ts does, fed in batches of 1,200 (100 ms at the
// soak's ~12k events/s, one ring-buffer batch). Prints GC counts and time
// (major, minor) and the largest heap and RSS. Compare two builds side by side:
//   node [--max-semi-space-size=2] bench/soak/hub-gc.mjs [dist] [events]
import { PerformanceObserver, constants } from 'node:perf_hooks';
const dist = process.argv[2] || new URL('../../dist', import.meta.url).pathname;
const n = process.argv[3] ?? '600000';
const { EventHub } = await import(`${dist}/src/stream/hub.js`);
const { recordJson } = await import(`${dist}/src/stream/record.js`);
const { parseStreamQuery } = await import(`${dist}/src/stream/filter.js`);
const gc = { major: 0, minor: 0, majorMs: 0, minorMs: 0 };
new PerformanceObserver((l) => { for (const e of l.getEntries()) { const k = e.detail?.kind ?? e.kind; if (k === constants.NODE_PERFORMANCE_GC_MAJOR) { gc.major++; gc.majorMs += e.duration; } else if (k === constants.NODE_PERFORMANCE_GC_MINOR) { gc.minor++; gc.minorMs += e.duration; } } }).observe({ entryTypes: ['gc'] });
const ids = Array.from({ length: 100 }, (_, i) => Object.freeze({ namespace: 'soak-load', pod: `loadgen-${i}`, workload: 'loadgen', container: 'c', podUid: `u${i}` }));
const peers = { peerOf: (address) => ({ kind: 'external', address }) };
const hub = new EventHub({ node: 'soak-node', historySize: 10000, queueSize: 4096, peers });
let bytes = 0;
hub.subscribe(parseStreamQuery(new URLSearchParams('')), {
  write(records) { let out = ''; for (const r of records) out += r.wire ??= `id: ${r.seq}\ndata: ${JSON.stringify(recordJson(r, 'soak-node'))}\n\n`; bytes += Buffer.byteLength(out); },
  get full() { return false; },
});
let maxRss = 0, maxHeapTotal = 0; const t0 = performance.now();
for (let i = 0; i < Number(n); ) {
  for (const end = i + 1200; i < end; i++) hub.publishTcp(Date.now(), ids[i % 100], 1, 0.0001, 8080, 2, 0x0100007f, 0, 0, 0);
  await new Promise((r) => setImmediate(r));
  if (i % 60000 === 0) { const m = process.memoryUsage(); maxRss = Math.max(maxRss, m.rss); maxHeapTotal = Math.max(maxHeapTotal, m.heapTotal); }
}
await new Promise((r) => setTimeout(r, 100));
const MiB = (b) => Math.round(b / 2 ** 20);
console.log(JSON.stringify({ dist, flags: process.execArgv.join(' '), events: Number(n), wallS: Math.round(performance.now() - t0) / 1000, sentMiB: MiB(bytes), maxRssMiB: MiB(maxRss), maxHeapTotalMiB: MiB(maxHeapTotal), ...gc, majorMs: Math.round(gc.majorMs), minorMs: Math.round(gc.minorMs) }));
