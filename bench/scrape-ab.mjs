#!/usr/bin/env node
// /metrics of two builds side by side: bench/synthetic-series.mjs serves each build's dist/
// with the same fake pods, both at once, and the scrapes alternate (the order flips every
// round), so both see the same machine at the same moments — on a shared machine separate runs
// are not comparable. Before timing, the two pages must be the same bytes (the process_* and
// nodejs_* metrics, which measure each process, left out).
//
//   node bench/scrape-ab.mjs --before build/dist-before [--after dist] [--pods 1000] [--domains 5] [--rounds 20] [--active 0]
//
// --active F: before every scrape, a share F of the pods gets one more connect in both builds
// (synthetic-series.mjs --active), as on a node where most pods are idle between two scrapes and
// some are not; 0 scrapes the same values every time.
// --before/--after: directories under the repository holding a build's dist/ tree (e.g. main's,
// built with `npx tsc -p tsconfig.json --outDir build/dist-before`). Per build: median and p90
// wall time of a scrape (request to last byte), median CPU time of the serving process per
// scrape (/proc/<pid>/stat, less disturbed by neighbours than wall time), RSS before the first
// scrape and after the last, peak RSS, and the heap after a full GC once every series exists
// (node --expose-gc), from which the state per series follows. Prints one JSON object.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuSeconds, memory } from './lib/proc.mjs';
import { median, promSeries } from './lib/stats.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH, '..');
const { values: opt } = parseArgs({
  options: {
    before: { type: 'string' },
    after: { type: 'string', default: 'dist' },
    pods: { type: 'string', default: '1000' },
    domains: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    active: { type: 'string', default: '0' },
  },
});
if (!opt.before) {
  process.stderr.write('scrape-ab: --before DIR (the dist/ of the build to compare with, under the repository)\n');
  process.exit(2);
}
const ROUNDS = Number(opt.rounds);

function get(port, path) {
  return new Promise((res, rej) => {
    const t0 = process.hrtime.bigint();
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 60000 }, (resp) => {
      const chunks = [];
      resp.on('data', (c) => chunks.push(c));
      resp.on('end', () => res({ status: resp.statusCode, body: Buffer.concat(chunks).toString('utf8'), ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
      resp.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', rej);
    req.end();
  });
}

/** Starts the synthetic server on a build's dist; resolves once it serves, with what it printed. */
function start(name, distDir) {
  const child = spawn(process.execPath, ['--expose-gc', join(BENCH, 'synthetic-series.mjs'), '--dist', distDir, '--pods', opt.pods, '--domains', opt.domains, '--active', opt.active], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let started = false;
  child.stderr.on('data', (d) => (err += d));
  return new Promise((res, rej) => {
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0 && !started) {
        started = true;
        res({ name, child, fed: JSON.parse(out.slice(0, nl)), lines: () => out });
      }
    });
    child.once('exit', (code) => rej(new Error(`${name}: synthetic-series exited ${code}: ${err.slice(-2000)}`)));
    setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`${name}: not serving after 120 s`));
    }, 120000).unref();
  });
}

/** The page without the metrics that measure the serving process itself. */
function ownMetricsOnly(text) {
  return text
    .split('\n')
    .filter((l) => !/^(# (HELP|TYPE) )?(process|nodejs)_/.test(l))
    .join('\n');
}

/** Label sets: every sample but the bucket and sum lines of histograms (one _count per histogram series). */
function labelSets(text) {
  let n = 0;
  for (const line of text.split('\n')) if (line && line[0] !== '#' && !/^[^{ ]*_(bucket|sum)[{ ]/.test(line)) n++;
  return n;
}

/** Traffic in a share of the build's pods (--active), before a timed scrape. */
async function touch(build) {
  if (Number(opt.active) <= 0) return;
  const want = (build.touches = (build.touches ?? 0) + 1);
  build.child.kill('SIGUSR2');
  while ((build.lines().match(/^touched /gm) ?? []).length < want) await new Promise((r) => setTimeout(r, 2));
}

async function scrape(build) {
  await touch(build);
  const cpu0 = cpuSeconds(build.child.pid);
  const r = await get(build.fed.port, '/metrics');
  if (r.status !== 200) throw new Error(`${build.name}: /metrics answered ${r.status}`);
  return { ms: r.ms, cpuMs: (cpuSeconds(build.child.pid) - cpu0) * 1000, body: r.body };
}

const builds = [];
try {
  // One after the other: building 55k series is itself heavy, and it is not what is measured.
  builds.push(await start('before', opt.before));
  builds.push(await start('after', opt.after));
  for (const b of builds) b.rssBeforeScrape = memory(b.child.pid).rss;
  const pages = [];
  for (const b of builds) pages.push((await scrape(b)).body);
  const [beforePage, afterPage] = pages.map(ownMetricsOnly);
  const identical = beforePage === afterPage;
  if (!identical) {
    const a = beforePage.split('\n');
    const b = afterPage.split('\n');
    const i = a.findIndex((line, k) => line !== b[k]);
    throw new Error(`the pages differ (line ${i + 1}): before ${JSON.stringify(a[i])}, after ${JSON.stringify(b[i])}`);
  }
  for (let i = 0; i < Number(opt.warmup); i++) for (const b of builds) await scrape(b);
  for (const b of builds) b.runs = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? builds : [...builds].reverse();
    for (const b of order) {
      const { ms, cpuMs } = await scrape(b);
      b.runs.push({ ms, cpuMs });
    }
  }
  const series = promSeries(pages[1]);
  const sets = labelSets(ownMetricsOnly(pages[1]));
  const result = { pods: Number(opt.pods), domains: Number(opt.domains), active: Number(opt.active), rounds: ROUNDS, series, labelSets: sets, bytes: Buffer.byteLength(pages[1]), identical };
  for (const b of builds) {
    const ms = b.runs.map((r) => r.ms).sort((x, y) => x - y);
    const mem = memory(b.child.pid);
    result[b.name] = {
      dist: b.name === 'before' ? opt.before : opt.after,
      medianMs: median(ms),
      p90Ms: ms[Math.floor(ms.length * 0.9)],
      minMs: ms[0],
      medianCpuMs: median(b.runs.map((r) => r.cpuMs)),
      // /proc counts CPU in clock ticks (10 ms): the mean over every round is the finer figure.
      meanCpuMs: b.runs.reduce((a, r) => a + r.cpuMs, 0) / b.runs.length,
      heapUsedAfterGc: b.fed.heapUsed,
      rssBeforeScrape: b.rssBeforeScrape,
      rssAfterScrapes: mem.rss,
      rssPeak: mem.peak,
    };
  }
  result.ratioMedianMs = result.after.medianMs / result.before.medianMs;
  result.ratioMeanCpuMs = result.after.meanCpuMs / result.before.meanCpuMs;
  result.heapBytesPerLabelSet = (result.after.heapUsedAfterGc - result.before.heapUsedAfterGc) / sets;
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  for (const b of builds) b.child.kill('SIGTERM');
}
