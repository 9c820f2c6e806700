// What the soak's live subscriber costs the V8 heap, without the machine's
// noise: the event hub (history 10,000) and the real /api/v1/events route
// (stream/sse.ts) on a real HTTP server, one subscriber reading the stream
// over loopback from a child process, fed in batches of 1,200 TCP events
// (100 ms at the soak's ~12k events/s, one ring-buffer batch) every 100 ms.
// Prints GC counts and time (major, minor), the largest heap and RSS, and
// what the client received. [pause-ms] makes the client stop reading that
// long out of every 250 ms, as a subscriber on a busy machine does (the
// soak's did: its bytes waited in the daemon's socket buffers). Compare two
// builds side by side:
//   node [--max-semi-space-size=2] bench/soak/hub-gc.mjs [dist] [events] [pause-ms] [batch]
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { PerformanceObserver, constants } from 'node:perf_hooks';

const dist = process.argv[2] || new URL('../../dist', import.meta.url).pathname;
const n = Number(process.argv[3] ?? '300000');
const pauseMs = Number(process.argv[4] ?? '0');
const batch = Number(process.argv[5] ?? '1200');
const { EventHub } = await import(`${dist}/src/stream/hub.js`);
const { EventsRoute } = await import(`${dist}/src/stream/sse.js`);

const gc = { major: 0, minor: 0, majorMs: 0, minorMs: 0 };
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) {
    const k = e.detail?.kind ?? e.kind;
    if (k === constants.NODE_PERFORMANCE_GC_MAJOR) (gc.major++, (gc.majorMs += e.duration));
    else if (k === constants.NODE_PERFORMANCE_GC_MINOR) (gc.minor++, (gc.minorMs += e.duration));
  }
}).observe({ entryTypes: ['gc'] });

const ids = Array.from({ length: 100 }, (_, i) => Object.freeze({ namespace: 'soak-load', pod: `loadgen-${i}`, workload: 'loadgen', container: 'c', podUid: `u${i}` }));
const peers = { peerOf: (address) => ({ kind: 'external', address }) };
const hub = new EventHub({ node: 'soak-node', historySize: 10000, queueSize: 1000, peers });
const log = { debug() {}, info() {}, warn() {}, error() {} };
const route = new EventsRoute(hub, { maxStreams: 4, heartbeatMs: 15000, log });
const server = createServer((req, res) => route.handle(req, res, new URL(req.url, 'http://x')));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/api/v1/events?follow=1`;

// The subscriber: counts bytes and `id:` lines, in a process of its own.
const clientCode = `
  const http = require('node:http');
  let bytes = 0, events = 0, missed = 0;
  http.get(process.argv[1], (res) => {
    process.send('open');
    const pause = Number(process.argv[2]);
    if (pause > 0) setInterval(() => { res.pause(); setTimeout(() => res.resume(), pause); }, 250);
    res.on('data', (c) => { bytes += c.length; for (let i = c.indexOf('id: '); i >= 0; i = c.indexOf('id: ', i + 4)) events++; const m = /"missed":(\\d+)/.exec(c); if (m) missed += Number(m[1]); });
  });
  process.on('message', () => { process.send(JSON.stringify({ bytes, events, missed })); process.exit(0); });`;
const client = spawn(process.execPath, ['-e', clientCode, url, String(pauseMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
await new Promise((r) => client.once('message', r));
while (hub.subscriberCount === 0) await new Promise((r) => setTimeout(r, 10));

let maxRss = 0;
let maxHeapTotal = 0;
const t0 = performance.now();
for (let i = 0; i < n; ) {
  for (const end = i + batch; i < end; i++) hub.publishTcp(Date.now(), ids[i % 100], 1, 0.0001, 8080, 2, 0x0100007f, 0, 0, 0);
  await new Promise((r) => setTimeout(r, 100));
  const m = process.memoryUsage();
  maxRss = Math.max(maxRss, m.rss);
  maxHeapTotal = Math.max(maxHeapTotal, m.heapTotal);
}
await new Promise((r) => setTimeout(r, 500));
const received = await new Promise((r) => {
  client.once('message', (m) => r(JSON.parse(m)));
  client.send('done');
});
route.close();
server.close();
const MiB = (b) => Math.round(b / 2 ** 20);
console.log(JSON.stringify({ dist, flags: process.execArgv.join(' '), events: n, pauseMs, batch, wallS: Math.round(performance.now() - t0) / 1000, received: received.events, missed: received.missed, sentMiB: MiB(received.bytes), maxRssMiB: MiB(maxRss), maxHeapTotalMiB: MiB(maxHeapTotal), ...gc, majorMs: Math.round(gc.majorMs), minorMs: Math.round(gc.minorMs) }));
