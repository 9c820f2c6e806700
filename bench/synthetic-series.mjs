#!/usr/bin/env node
// The benchmark's synthetic large-label-set path: the daemon's own collectors, registry and HTTP
// server (from dist/, built by `make build`), fed with decoded-layout events whose cgroup ids
// map to fake pod identities, so /metrics holds the series a busy node would have
// (--pods pods × --domains DNS domains) without a cluster. No BPF, no root.
//
//   node bench/synthetic-series.mjs --port P [--pods 1000] [--domains 5] [--dist dist] [--active 0]
//
// --dist serves another build's dist/ (a directory under the repository, so that its imports
// find node_modules): bench/scrape-ab.mjs runs two builds side by side this way. Under
// `node --expose-gc` the JSON line also gives the heap used after a full collection, once every
// series exists and before any scrape: the state the series cost.
//
// --active F: on each SIGUSR2, one more TCP connect for a share F of the pods (the next ones in
// turn), then a line `touched N` on stdout. A busy node's page between two scrapes: most pods
// idle, some with traffic (bench/scrape-ab.mjs touches before every scrape it times).
//
// Serves /metrics, /healthz, /readyz (ready once every series exists). The collectors are the
// daemon's probe modules (src/probes/index.ts) built from the same context, and every event goes
// through the event handler the module registers for its type, the one the ring buffer feeds,
// with the same byte layout (the layouts come from the decoders' exported *_EVENT_LAYOUT).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const { values: opt } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    pods: { type: 'string', default: '1000' },
    domains: { type: 'string', default: '5' },
    node: { type: 'string', default: 'bench-node' },
    dist: { type: 'string', default: 'dist' },
    active: { type: 'string', default: '0' },
  },
});
const dist = (p) => pathToFileURL(join(resolve(ROOT, opt.dist), p)).href;
const PODS = Number(opt.pods);
const DOMAINS = Number(opt.domains);
if (!(PODS >= 1 && PODS <= 100000) || !(DOMAINS >= 0 && DOMAINS <= 1000)) {
  process.stderr.write('synthetic-series: --pods 1..100000, --domains 0..1000\n');
  process.exit(2);
}

const { createRegistry } = await import(dist('src/metrics/registry.js'));
const { HttpServer } = await import(dist('src/http/server.js'));
const { createLogger } = await import(dist('src/log.js'));
const { parseConfig } = await import(dist('src/config.js'));
const { PROBE_MODULES } = await import(dist('src/probes/index.js'));
const tcpEventMod = await import(dist('src/probes/tcp/event.js'));
const dnsEventMod = await import(dist('src/probes/dns/event.js'));

// 1,000 pods over 20 namespaces and 200 workloads; cgroup id i+1 is pod i.
const identities = [];
for (let i = 0; i < PODS; i++) {
  const workload = `bench-app-${Math.floor(i / 5)}`;
  identities.push(
    Object.freeze({
      namespace: `bench-ns-${i % 20}`,
      workload,
      pod: `${workload}-${(0x5f3759df * (i + 1)).toString(36).slice(-5)}-${i}`,
      container: 'app',
      podUid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    }),
  );
}
const resolver = { resolve: (_tgid, cgroupId) => identities[(cgroupId - 1) % PODS] };

const registry = createRegistry();
const log = createLogger('warn');
const { config } = parseConfig(['--node-name', opt.node], {});
// Only what the TCP and DNS modules read: they keep no kernel object and no pod list. No stream
// history: these events are for /metrics only.
const { UnattributedEvents } = await import(dist('src/metrics/unattributed.js'));
const { EventHub } = await import(dist('src/stream/hub.js'));
const stream = new EventHub({ node: opt.node, historySize: 0, queueSize: 1000 });
const context = { config, registry, resolver, log, numCpus: 1, unattributed: new UnattributedEvents(registry), stream };
const tcp = PROBE_MODULES.tcp.create(context);
const dnsModule = PROBE_MODULES.dns.create(context);
const handleTcp = tcp.events.get(tcpEventMod.TCP_EVENT_TYPE);

// TCP: one event of every result per pod, laid out as struct kp_tcp_event.
const T = tcpEventMod.TCP_EVENT_LAYOUT;
const results = tcpEventMod.TCP_RESULTS;
const buf = Buffer.alloc(T.size);
const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
let events = 0;
for (let i = 0; i < PODS; i++) {
  for (let r = 1; r < results.length; r++) {
    buf.fill(0);
    view.setBigUint64(T.offsets.cgroup_id, BigInt(i + 1), true);
    view.setBigUint64(T.offsets.elapsed_ns, BigInt(50_000 + ((i * 7919 + r * 104729) % 5_000_000)), true);
    view.setUint32(T.offsets.tgid, 100000 + i, true);
    view.setUint32(T.offsets.pid, 100000 + i, true);
    view.setUint32(T.offsets.result, r, true);
    view.setUint16(T.offsets.family, 2, true);
    view.setUint16(T.offsets.dport, 443, true);
    handleTcp(view, 0, T.size);
    events++;
  }
}

// DNS: a query and its answer per pod and domain.
let dns = 'absent';
if (DOMAINS > 0) {
  const feed = await import(pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'lib/dns-feed.mjs')).href);
  events += await feed.feedDns({ dist, handle: dnsModule.events.get(dnsEventMod.DNS_EVENT_TYPE), pods: PODS, domains: DOMAINS });
  dns = 'fed';
}

// Touching: the same event layout, one connect each for the next pods in turn.
const ACTIVE = Math.round(Number(opt.active) * PODS);
let nextTouched = 0;
process.on('SIGUSR2', () => {
  for (let k = 0; k < ACTIVE; k++) {
    const i = nextTouched;
    nextTouched = (nextTouched + 1) % PODS;
    buf.fill(0);
    view.setBigUint64(T.offsets.cgroup_id, BigInt(i + 1), true);
    view.setBigUint64(T.offsets.elapsed_ns, BigInt(50_000 + ((i * 7919) % 5_000_000)), true);
    view.setUint32(T.offsets.tgid, 100000 + i, true);
    view.setUint32(T.offsets.pid, 100000 + i, true);
    view.setUint32(T.offsets.result, 1, true);
    view.setUint16(T.offsets.family, 2, true);
    view.setUint16(T.offsets.dport, 443, true);
    handleTcp(view, 0, T.size);
  }
  process.stdout.write(`touched ${ACTIVE}\n`);
});
const server = new HttpServer({ registry, readiness: () => ({ ready: true, reasons: [] }), log });
const port = await server.listen(Number(opt.port), '127.0.0.1');
let heapUsed;
if (typeof globalThis.gc === 'function') {
  globalThis.gc();
  heapUsed = process.memoryUsage().heapUsed;
}
process.stdout.write(`${JSON.stringify({ port, pods: PODS, domains: DOMAINS, events, dns, heapUsed })}\n`);

const stop = async () => {
  dnsModule.stop?.();
  await server.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// bounded: never outlives a forgotten harness
setTimeout(stop, 10 * 60 * 1000).unref();
