// What a /metrics scrape costs the V8 heap at the soak's series count,
// without the machine's noise: the per-pod families (metrics/cells.ts) of
// --pods pods (48 series each, as the soak's churned pods have: a TCP
// latency histogram, a DNS latency histogram, counters) in the daemon's
// registry, scraped --scrapes times by the page's two writers — the
// Registry's string page (`strings`, what /metrics served before) and the
// byte writer (`bytes`, metrics/scrape-body.ts) — each in a process of its
// own with the image's --max-semi-space-size=2. Prints GC counts and time,
// the old generation's growth between major GCs, the largest heap and RSS,
// and wall time per scrape.
//   node bench/soak/scrape-gc.mjs [dist] [pods] [scrapes]
import { spawnSync } from 'node:child_process';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const [dist = fileURLToPath(new URL('../../dist', import.meta.url)), pods = '290', scrapes = '300', mode] = process.argv.slice(2);

if (mode === undefined) {
  for (const m of ['strings', 'bytes']) {
    const r = spawnSync(process.execPath, ['--max-semi-space-size=2', fileURLToPath(import.meta.url), dist, pods, scrapes, m], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    process.stdout.write(r.stdout);
  }
  process.exit(0);
}

const { createRegistry } = await import(`${dist}/src/metrics/registry.js`);
const { CounterFamily, HistogramFamily } = await import(`${dist}/src/metrics/cells.js`);
const { scrapeBody, scrapePage } = await import(`${dist}/src/metrics/scrape-body.js`);

const registry = createRegistry();
const labelNames = ['namespace', 'workload', 'pod', 'node'];
const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const tcp = new HistogramFamily({ name: 'bench_tcp_connect_seconds', help: 'h', labelNames, buckets, registry });
const dns = new HistogramFamily({ name: 'bench_dns_seconds', help: 'h', labelNames: [...labelNames, 'rcode'], buckets, registry });
const counters = new CounterFamily({ name: 'bench_total', help: 'c', labelNames: [...labelNames, 'outcome'], registry });
for (let p = 0; p < Number(pods); p++) {
  const labels = { namespace: 'soak-churn', workload: `churn-${p}`, pod: `churn-${p}-7d9f8c6b5-x2k4q`, node: 'soak-node' };
  tcp.cell(labels).observe(0.0003 * (p % 7));
  dns.cell({ ...labels, rcode: 'NOERROR' }).observe(0.002);
  for (const outcome of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q']) counters.cell({ ...labels, outcome }).value = p;
}

const gc = { major: 0, minor: 0, majorMs: 0, minorMs: 0 };
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) {
    const k = e.detail?.kind;
    if (k === constants.NODE_PERFORMANCE_GC_MAJOR) (gc.major++, (gc.majorMs += e.duration));
    else if (k === constants.NODE_PERFORMANCE_GC_MINOR) (gc.minor++, (gc.minorMs += e.duration));
  }
}).observe({ entryTypes: ['gc'] });

// `bytes` as the server sends it: the page's chunks, released once sent (here at once);
// builds before scrapePage, the one Buffer scrapeBody wrote.
const sendPage = async () => {
  const page = await scrapePage(registry);
  page.release();
  return page;
};
const write = mode === 'bytes' ? (scrapePage ? sendPage : () => scrapeBody(registry)) : async () => Buffer.from(await registry.metrics());
let maxRss = 0;
let maxHeapUsed = 0;
let bytes = 0;
const t0 = performance.now();
for (let i = 0; i < Number(scrapes); i++) {
  bytes = (await write()).length;
  const m = process.memoryUsage();
  maxRss = Math.max(maxRss, m.rss);
  maxHeapUsed = Math.max(maxHeapUsed, m.heapUsed);
  await new Promise((r) => setImmediate(r));
}
const ms = (performance.now() - t0) / Number(scrapes);
const MiB = (b) => Math.round((b / 1048576) * 10) / 10;
const series = (await registry.metrics()).split('\n').filter((l) => l.startsWith('bench_')).length;
console.log(JSON.stringify({ mode, series, pageKiB: Math.round(bytes / 1024), scrapes: Number(scrapes), msPerScrape: Math.round(ms * 10) / 10, ...gc, majorMs: Math.round(gc.majorMs), minorMs: Math.round(gc.minorMs), maxHeapUsedMiB: MiB(maxHeapUsed), maxRssMiB: MiB(maxRss) }));
