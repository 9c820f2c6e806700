#!/usr/bin/env node
// KubePulse benchmark harness (issue 6): what the daemon costs the node, measured side by side
// with the same load without it and with the bpftrace peer. Run as root from the repository
// root after `make build`:   node bench/run.mjs [--reps 5] [--duration 3] [--quick] ...
// Writes bench/results/results-<date>.json and bench/results/latest.md. See bench/README.md.
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { request } from 'node:http';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, writeFileSync, closeSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

import { bpfDelta, bpfProgramIdsNamed, bpfProgramNames, bpfPrograms, cpuSeconds, memory, threadCpuSeconds } from './lib/proc.mjs';
import { median, minMax, promSeries, promSum } from './lib/stats.mjs';
import { ensureTracefs, installCleanup, setSysctl, spawnTracked, stop, waitExit } from './lib/children.mjs';
import { summarizeProfile } from './lib/cpuprofile.mjs';
import { renderMarkdown } from './lib/report.mjs';
import { measureLargeCluster, startKube } from './kube.mjs';
import { measureSyscalls } from './lib/syscall-bench.mjs';
import { renderStreamCost } from './stream-cost.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH, '..');
const DAEMON = join(ROOT, 'dist/cmd/kubepulse.js');

const SCENARIOS = {
  'tcp-1k': { kind: 'tcp', rate: 1000 },
  'tcp-10k': { kind: 'tcp', rate: 10000 },
  'tcp-50k': { kind: 'tcp', rate: 50000 },
  'tcp-max': { kind: 'tcp', rate: 0 },
  'dns-1k': { kind: 'dns', rate: 1000 },
  'dns-10k': { kind: 'dns', rate: 10000 },
  'dns-max': { kind: 'dns', rate: 0 },
};

const { values: opt } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    duration: { type: 'string', default: '3' },
    settle: { type: 'string', default: '0.3' },
    scenarios: { type: 'string', default: Object.keys(SCENARIOS).join(',') },
    'dns-port': { type: 'string', default: '15353' },
    'daemon-args': { type: 'string', default: '' },
    // As the image runs the daemon (NODE_OPTIONS in the Dockerfile); --node-args= for plain node.
    'node-args': { type: 'string', default: '--max-semi-space-size=2' },
    'before-objects': { type: 'string' },
    'before-args': { type: 'string' },
    'before-dist': { type: 'string' },
    'no-syscalls': { type: 'boolean', default: false },
    'syscall-calls': { type: 'string', default: '20000' },
    'no-peer': { type: 'boolean', default: false },
    'no-daemon': { type: 'boolean', default: false },
    'no-profile': { type: 'boolean', default: false },
    'no-scrape': { type: 'boolean', default: false },
    'no-kube': { type: 'boolean', default: false },
    'no-large-cluster': { type: 'boolean', default: false },
    'large-cluster': { type: 'string', default: '10000,2000,500' },
    'no-stream': { type: 'boolean', default: false },
    'profile-duration': { type: 'string', default: '5' },
    'profile-scenario': { type: 'string', default: 'tcp-max' },
    'scrape-pods': { type: 'string', default: '1000' },
    'scrape-domains': { type: 'string', default: '5' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: join(BENCH, 'results') },
    render: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opt.help) {
  process.stdout.write(readFileSync(join(BENCH, 'README.md'), 'utf8'));
  process.exit(0);
}

if (opt.render) {
  // re-render the Markdown of an earlier results file
  process.stdout.write(renderMarkdown(JSON.parse(readFileSync(opt.render, 'utf8'))));
  process.exit(0);
}

const REPS = opt.quick ? 2 : Number(opt.reps);
const DURATION = opt.quick ? 1 : Number(opt.duration);
const SETTLE = Number(opt.settle);
const DNS_PORT = Number(opt['dns-port']);
const OUT = resolve(opt.out);
const BIN = join(OUT, 'bin');
const TMP = join(OUT, 'tmp');
// A second KubePulse column: the same daemon with the BPF objects of an earlier build
// (e.g. main's build/bpf), so kernel-side changes are measured side by side in one run.
const BEFORE = opt['before-objects'] ? resolve(opt['before-objects']) : null;
if (BEFORE && !existsSync(join(BEFORE, 'tcp.bpf.o'))) die(`--before-objects ${BEFORE}: no tcp.bpf.o there`);
// Or the same daemon with other flags (e.g. --before-args '--ring-buffer-bytes 4194304'); both may be given.
const BEFORE_ARGS = opt['before-args'] ? opt['before-args'].split(' ').filter(Boolean) : null;
const beforeFlags = [...(BEFORE ? ['--bpf-object-dir', BEFORE] : []), ...(BEFORE_ARGS ?? [])];
// Or the daemon of an earlier build's dist/ (its JavaScript; the addon and BPF objects are this
// checkout's: a copy of dist/ inside the checkout finds them), for user-space changes.
const BEFORE_DAEMON = opt['before-dist'] ? join(resolve(opt['before-dist']), 'cmd/kubepulse.js') : null;
if (BEFORE_DAEMON && !existsSync(BEFORE_DAEMON)) die(`--before-dist: no ${BEFORE_DAEMON}`);
const HAS_BEFORE = BEFORE !== null || BEFORE_ARGS !== null || BEFORE_DAEMON !== null;
if (!SCENARIOS[opt['profile-scenario']]) die(`--profile-scenario ${opt['profile-scenario']}: unknown scenario`);
const scenarioNames = opt.scenarios.split(',').filter(Boolean);
for (const s of scenarioNames) if (!SCENARIOS[s]) die(`unknown scenario ${s} (known: ${Object.keys(SCENARIOS).join(', ')})`);
if (!(REPS >= 1 && REPS <= 50) || !(DURATION > 0 && DURATION <= 60)) die('--reps must be 1..50 and --duration 0..60 s');

function die(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(1);
}
function log(msg) {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ───────────────────────── set-up ─────────────────────────

function compiler() {
  for (const cc of ['cc', 'gcc', 'clang']) {
    try {
      execFileSync(cc, ['--version'], { stdio: 'ignore' });
      return cc;
    } catch {
      /* next */
    }
  }
  die('no C compiler (cc, gcc or clang) to build the load generators');
}

function buildGenerators() {
  mkdirSync(BIN, { recursive: true });
  let cc = null;
  for (const [name, flags] of [
    ['tcp-storm', ['-pthread']],
    ['dns-load', []],
    ['syscall-loop', []],
  ]) {
    const src = join(BENCH, `${name}.c`);
    const bin = join(BIN, name);
    if (existsSync(bin) && statSync(bin).mtimeMs > statSync(src).mtimeMs) continue;
    cc ??= compiler();
    execFileSync(cc, ['-O2', '-Wall', ...flags, '-o', bin, src], { stdio: 'inherit' });
  }
}

function freeTcpPort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

function httpGet(port, path, timeoutMs = 5000) {
  return new Promise((res, rej) => {
    const t0 = process.hrtime.bigint();
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (resp) => {
      const chunks = [];
      resp.on('data', (c) => chunks.push(c));
      resp.on('end', () => {
        const body = Buffer.concat(chunks);
        res({ status: resp.statusCode, body: body.toString('utf8'), bytes: body.length, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
      });
      resp.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', rej);
    req.end();
  });
}

function runJson(cmd, args, timeoutMs) {
  return new Promise((res, rej) => {
    const child = spawnTracked(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      try {
        res(JSON.parse(out.trim().split('\n').pop()));
      } catch {
        rej(new Error(`${cmd} exited ${code}: ${err.trim() || out.trim()}`));
      }
    });
  });
}

// DNS server for the DNS loads: dnsmasq answering from a hosts file, or dns-load --serve.
async function startDnsServer(totalBudgetS) {
  mkdirSync(TMP, { recursive: true });
  const hosts = join(TMP, 'bench-hosts');
  let text = '';
  for (let i = 0; i < 100; i++) text += `127.0.0.1 h${i}.d${i % 5}.bench-kubepulse.com\n`;
  writeFileSync(hosts, text);
  let child;
  let server;
  let dnsmasq = null;
  for (const p of ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq']) if (existsSync(p)) dnsmasq = p;
  if (dnsmasq) {
    server = 'dnsmasq';
    child = spawnTracked(
      dnsmasq,
      ['-k', '--conf-file=/dev/null', `--port=${DNS_PORT}`, '--listen-address=127.0.0.1', '--bind-interfaces',
        '--no-resolv', '--no-hosts', `--addn-hosts=${hosts}`, '--cache-size=1000', '--log-facility=/dev/null',
        '--pid-file=', '--user=root'],
      { stdio: 'ignore' },
    );
  } else {
    server = 'dns-load --serve';
    child = spawnTracked(join(BIN, 'dns-load'), ['--serve', '1', '--port', String(DNS_PORT), '--duration', String(totalBudgetS)], { stdio: 'ignore' });
  }
  for (let i = 0; i < 50; i++) {
    await sleep(100);
    if (child.exitCode !== null) die(`${server} exited at start (is 127.0.0.1:${DNS_PORT} in use?)`);
    try {
      const r = await runJson(join(BIN, 'dns-load'), ['--port', String(DNS_PORT), '--rate', '100', '--duration', '0.05', '--grace', '0.2'], 5000);
      if (r.answered > 0) return { child, server };
    } catch {
      /* not up yet */
    }
  }
  die(`${server} did not answer on 127.0.0.1:${DNS_PORT}`);
}

// ───────────────────────── the tools under test ─────────────────────────

/** The test API server the daemons run against (in-cluster), unless --no-kube. */
let kube = null;

async function startDaemon(extraNodeArgs = [], tag = 'daemon', daemonArgs = [], daemon = DAEMON) {
  const port = await freeTcpPort();
  const logPath = join(TMP, `${tag}.log`);
  const logFd = openSync(logPath, 'w');
  const args = [...opt['node-args'].split(' ').filter(Boolean), ...extraNodeArgs, daemon, '--port', String(port), '--dns-ports', String(DNS_PORT), '--log-level', 'warn',
    ...opt['daemon-args'].split(' ').filter(Boolean), ...daemonArgs];
  const spawnedAt = process.hrtime.bigint();
  // Kubernetes mode (bench/kube.mjs): in-cluster config against the test API server.
  const run = kube ? kube.launch(process.execPath, args) : { command: process.execPath, args };
  const child = spawnTracked(run.command, run.args, { stdio: ['ignore', logFd, logFd], cwd: ROOT, env: { ...process.env, ...kube?.env } });
  closeSync(logFd);
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`daemon exited ${child.exitCode} at start: ${readFileSync(logPath, 'utf8').slice(-2000)}`);
    if (Date.now() - t0 > 30000) {
      await stop(child, 'SIGKILL');
      throw new Error(`daemon not ready after 30 s: ${readFileSync(logPath, 'utf8').slice(-2000)}`);
    }
    try {
      const r = await httpGet(port, '/readyz', 1000);
      if (r.status === 200) break;
    } catch {
      /* not listening yet */
    }
    await sleep(50);
  }
  return { kind: 'kubepulse', child, pid: child.pid, port, startMs: Date.now() - t0, logPath, spawnedAt };
}

async function startPeer() {
  const child = spawnTracked('bpftrace', [join(BENCH, 'peer-connlat.bt')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const tool = { kind: 'bpftrace', child, pid: child.pid, out: '', err: '' };
  child.stdout.on('data', (d) => (tool.out += d));
  child.stderr.on('data', (d) => (tool.err += d));
  const t0 = Date.now();
  // attached once both programs are loaded and bpftrace said so; then a moment for the attach
  while (!(tool.out.includes('Attaching') && bpfPrograms(child.pid).size >= 2)) {
    if (child.exitCode !== null) throw new Error(`bpftrace exited ${child.exitCode}: ${tool.err.trim()}`);
    if (Date.now() - t0 > 30000) throw new Error(`bpftrace did not attach in 30 s: ${tool.err.trim()}`);
    await sleep(50);
  }
  await sleep(200);
  tool.startMs = Date.now() - t0;
  return tool;
}

async function snapshotBefore(tool) {
  const s = {};
  if (tool.kind === 'kubepulse') s.metrics = (await httpGet(tool.port, '/metrics')).body;
  s.cpu = cpuSeconds(tool.pid);
  s.threads = threadCpuSeconds(tool.pid);
  s.bpf = bpfPrograms(tool.pid);
  s.t = process.hrtime.bigint();
  return s;
}

async function snapshotAfter(tool) {
  const s = {};
  s.t = process.hrtime.bigint();
  s.cpu = cpuSeconds(tool.pid);
  s.threads = threadCpuSeconds(tool.pid);
  s.bpf = bpfPrograms(tool.pid);
  s.mem = memory(tool.pid);
  if (tool.kind === 'kubepulse') s.metrics = (await httpGet(tool.port, '/metrics')).body;
  return s;
}

function generator(scenario, duration, label) {
  const d = String(duration);
  if (scenario.kind === 'tcp')
    return [join(BIN, 'tcp-storm'), ['--rate', String(scenario.rate), '--duration', d, '--threads', '2', '--label', label]];
  return [join(BIN, 'dns-load'), ['--port', String(DNS_PORT), '--rate', String(scenario.rate), '--duration', d,
    '--sockets', '4', '--names', '100', '--domains', '5', '--label', label]];
}

function workItems(scenario, w) {
  return scenario.kind === 'tcp' ? w.connections : w.sent;
}
function throughput(scenario, w) {
  return scenario.kind === 'tcp' ? w.achieved_rate : w.answered_qps;
}
function cpuPerItemUs(scenario, w) {
  return scenario.kind === 'tcp' ? w.cpu_us_per_conn : w.cpu_us_per_query;
}

async function runOnce(name, mode, rep, names) {
  const scenario = SCENARIOS[name];
  let tool = null;
  if (mode === 'kubepulse') tool = await startDaemon([], `daemon-${name}-${rep}`);
  if (mode === 'before') tool = await startDaemon([], `before-${name}-${rep}`, beforeFlags, BEFORE_DAEMON ?? DAEMON);
  if (mode === 'bpftrace') tool = await startPeer();
  const before = tool ? await snapshotBefore(tool) : null;
  // Another KubePulse on the machine (a test suite's daemon) would run its probes in this
  // run's workload too: count its programs so such runs can be recognised.
  const mine = tool ? new Set(bpfPrograms(tool.pid).keys()) : new Set();
  const foreign = [...bpfProgramIdsNamed('kp_')].filter((id) => !mine.has(id)).length;
  const [cmd, args] = generator(scenario, DURATION, `${name}/${mode}/${rep}`);
  const workload = await runJson(cmd, args, (DURATION + 30) * 1000);
  await sleep(SETTLE * 1000); // let the tool drain what the load left in its buffers
  const rec = {
    scenario: name, mode, rep,
    items: workItems(scenario, workload),
    throughput: throughput(scenario, workload),
    cpuPerItemUs: cpuPerItemUs(scenario, workload),
    // tcp-storm's connect() latency (TCP_CRR-like: connect, accept, close per connection)
    connectP99Us: workload.connect_us?.p99 ?? null,
    foreignKpPrograms: foreign,
    workload,
  };
  if (!tool) return rec;
  const after = await snapshotAfter(tool);
  const wallS = Number(after.t - before.t) / 1e9;
  const cpuS = after.cpu - before.cpu;
  const bpf = bpfDelta(before.bpf, after.bpf, names());
  const bpfNs = bpf.reduce((a, p) => a + p.runTimeNs, 0);
  const t = {
    startMs: tool.startMs,
    wallS,
    cpuS,
    cpuPctCore: (100 * cpuS) / wallS,
    // threads that ended inside the window are in cpuS but in neither part
    mainThreadPctCore: (100 * (after.threads.main - before.threads.main)) / wallS,
    otherThreadsPctCore: (100 * (after.threads.others - before.threads.others)) / wallS,
    rssPeak: after.mem.peak,
    rssNow: after.mem.rss,
    bpf,
    bpfHits: bpf.reduce((a, p) => a + p.runCnt, 0),
    bpfNsPerItem: rec.items ? bpfNs / rec.items : null,
  };
  if (tool.kind === 'kubepulse') {
    const delta = (metric) => {
      const a = promSum(after.metrics, metric);
      const b = promSum(before.metrics, metric);
      return a === null ? null : a - (b ?? 0);
    };
    t.events = delta('kubepulse_events_total');
    t.dropped = delta('kubepulse_events_dropped_total') ?? 0;
    t.produced = t.events === null ? null : t.events + t.dropped;
    t.dropRatio = t.produced ? t.dropped / t.produced : t.produced === 0 ? 0 : null;
    t.cpuMsPer1kEvents = t.events ? (cpuS * 1000) / (t.events / 1000) : null;
    t.eventsPerItem = rec.items && t.events !== null ? t.events / rec.items : null;
    t.metricsBytes = after.metrics.length;
    const ex = await stop(tool.child, 'SIGTERM', 10000);
    t.exit = ex;
    t.leftPrograms = bpfPrograms(tool.pid).size; // process gone: 0
  } else {
    const ex = await stop(tool.child, 'SIGINT', 10000);
    t.exit = ex;
    const m = /@established:\s+(\d+)/.exec(tool.out);
    t.events = m ? Number(m[1]) : null;
    t.cpuMsPer1kEvents = t.events ? (cpuS * 1000) / (t.events / 1000) : null;
  }
  rec.tool = t;
  return rec;
}

// ───────────────────────── summaries ─────────────────────────

function summarize(name, runs) {
  const by = (mode) => runs.filter((r) => r.mode === mode);
  const base = by('baseline');
  const out = { scenario: name, ...SCENARIOS[name], modes: {} };
  out.baseline = {
    throughput: median(base.map((r) => r.throughput)),
    cpuPerItemUs: median(base.map((r) => r.cpuPerItemUs)),
    connectP99Us: median(base.map((r) => r.connectP99Us)),
  };
  for (const mode of ['kubepulse', 'before', 'bpftrace']) {
    const rs = by(mode);
    if (!rs.length) continue;
    // pair by repetition: each run against the baseline run just before it
    const pair = (f) =>
      rs.map((r) => {
        const b = base.find((x) => x.rep === r.rep);
        return b && f(b) ? f(r) / f(b) : null;
      });
    const ratios = pair((r) => r.throughput);
    const cpuRatios = pair((r) => r.cpuPerItemUs);
    const p99Ratios = pair((r) => r.connectP99Us);
    const progs = {};
    for (const r of rs)
      for (const p of r.tool.bpf) (progs[p.name] ??= []).push(p);
    const m = {
      throughput: median(rs.map((r) => r.throughput)),
      throughputRatio: median(ratios),
      throughputRatioRange: minMax(ratios),
      throughputRatios: ratios.map((x) => (x === null ? null : +x.toFixed(4))),
      workloadCpuPerItemRatio: median(cpuRatios),
      workloadCpuPerItemRatios: cpuRatios.map((x) => (x === null ? null : +x.toFixed(4))),
      connectP99Us: median(rs.map((r) => r.connectP99Us)),
      connectP99Ratio: median(p99Ratios),
      cpuPctCore: median(rs.map((r) => r.tool.cpuPctCore)),
      cpuPctCoreRange: minMax(rs.map((r) => r.tool.cpuPctCore)),
      mainThreadPctCore: median(rs.map((r) => r.tool.mainThreadPctCore)),
      otherThreadsPctCore: median(rs.map((r) => r.tool.otherThreadsPctCore)),
      cpuMsPer1kEvents: median(rs.map((r) => r.tool.cpuMsPer1kEvents)),
      events: median(rs.map((r) => r.tool.events)),
      rssPeakMax: minMax(rs.map((r) => r.tool.rssPeak))[1],
      rssSteady: median(rs.map((r) => r.tool.rssNow)),
      startMs: median(rs.map((r) => r.tool.startMs)),
      bpfNsPerItem: median(rs.map((r) => r.tool.bpfNsPerItem)),
      bpfHitsPerItem: median(rs.map((r) => (r.items ? r.tool.bpfHits / r.items : null))),
      // the BPF time the workload pays, as a share of the workload's own CPU time per item
      bpfShareOfWorkload: median(rs.map((r) => (r.tool.bpfNsPerItem !== null && out.baseline.cpuPerItemUs ? r.tool.bpfNsPerItem / (out.baseline.cpuPerItemUs * 1000) : null))),
      programs: Object.entries(progs).map(([pname, ps]) => ({
        name: pname,
        nsPerHit: median(ps.map((p) => p.nsPerHit)),
        hitsPerRun: median(ps.map((p) => p.runCnt)),
      })),
      exits: rs.map((r) => r.tool.exit),
    };
    if (mode !== 'bpftrace') {
      const produced = rs.reduce((a, r) => a + (r.tool.produced ?? 0), 0);
      const dropped = rs.reduce((a, r) => a + (r.tool.dropped ?? 0), 0);
      m.dropped = dropped;
      m.produced = produced;
      m.dropRatio = produced ? dropped / produced : null;
      m.dropRatioWorstRun = minMax(rs.map((r) => r.tool.dropRatio))[1];
      m.eventsPerItem = median(rs.map((r) => r.tool.eventsPerItem));
    }
    out.modes[mode] = m;
  }
  return out;
}

// ───────────────────────── large label set and profile ─────────────────────────

// The /metrics scrape with a large label set: a synthetic path through the daemon's own
// collectors, registry and HTTP server with fake pod identities (bench/synthetic-series.mjs, or
// the lead's dist/bench/synthetic-series.js when a build has one). It prints one JSON line
// (its port and what it fed) when it serves.
async function measureScrape(pods, domains) {
  const candidates = [join(ROOT, 'dist/bench/synthetic-series.js'), join(BENCH, 'synthetic-series.mjs')];
  const script = candidates.find((p) => existsSync(p));
  const port = await freeTcpPort();
  const child = spawnTracked(process.execPath, [script, '--port', String(port), '--pods', String(pods), '--domains', String(domains)], {
    stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT,
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) return { error: `synthetic path exited ${child.exitCode}: ${err.slice(-1000)}` };
    if (Date.now() - t0 > 60000) {
      await stop(child, 'SIGKILL');
      return { error: 'synthetic path not ready in 60 s' };
    }
    try {
      if ((await httpGet(port, '/readyz', 1000)).status === 200) break;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  let fed = null;
  try {
    fed = JSON.parse(out.trim().split('\n')[0]);
  } catch {
    /* the lead's script may print nothing */
  }
  const first = await httpGet(port, '/metrics', 30000);
  const times = [];
  let bytes = first.bytes;
  for (let i = 0; i < 20; i++) {
    const r = await httpGet(port, '/metrics', 30000);
    times.push(r.ms);
    bytes = r.bytes;
  }
  const mem = memory(child.pid);
  await stop(child, 'SIGTERM');
  const byMetric = {};
  for (const line of first.body.split('\n')) {
    if (!line || line[0] === '#') continue;
    const name = line.slice(0, line.search(/[{ ]/)).replace(/_(bucket|sum|count)$/, '');
    byMetric[name] = (byMetric[name] ?? 0) + 1;
  }
  const sorted = [...times].sort((a, b) => a - b);
  return {
    script: script.slice(ROOT.length + 1),
    fed,
    pods,
    domains,
    series: promSeries(first.body),
    seriesByMetric: Object.fromEntries(Object.entries(byMetric).filter(([, n]) => n >= 100)),
    bytes,
    firstMs: first.ms,
    medianMs: median(times),
    p90Ms: sorted[Math.floor(sorted.length * 0.9)],
    msPer10kSeries: (median(times) * 10000) / promSeries(first.body),
    rssPeak: mem.peak,
  };
}

// The daemon's fixed cost: CPU over a window with no load at all (its timers, the poller's
// wake-ups, its own scrapes), to tell the per-event cost from the floor.
async function measureIdle(seconds) {
  const tool = await startDaemon([], 'daemon-idle');
  await sleep(2000); // past the start-up's own tail (lazy compilation, first GCs)
  const before = await snapshotBefore(tool);
  await sleep(seconds * 1000);
  const after = await snapshotAfter(tool);
  await stop(tool.child, 'SIGTERM', 10000);
  const wallS = Number(after.t - before.t) / 1e9;
  return {
    seconds: wallS,
    cpuPctCore: (100 * (after.cpu - before.cpu)) / wallS,
    mainThreadPctCore: (100 * (after.threads.main - before.threads.main)) / wallS,
    otherThreadsPctCore: (100 * (after.threads.others - before.threads.others)) / wallS,
    events: (promSum(after.metrics, 'kubepulse_events_total') ?? 0) - (promSum(before.metrics, 'kubepulse_events_total') ?? 0),
    rssPeak: after.mem.peak,
    rssNow: after.mem.rss,
    startMs: tool.startMs,
  };
}

/** Shares of the daemon's samples by DSO and by symbol, from perf report. */
function perfSummary(file) {
  const report = (sort) => {
    try {
      const text = execFileSync('perf', ['report', '-i', file, '--no-children', '--sort', sort, '--stdio', '-g', 'none'], {
        encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20,
      });
      const rows = [];
      for (const line of text.split('\n')) {
        const m = /^\s+([\d.]+)%\s+(.+?)\s*$/.exec(line);
        if (m) rows.push({ pct: Number(m[1]), name: m[2].replace(/\s+/g, ' ').replace(/ - - ?$/, '').trim() });
      }
      return rows.slice(0, 12);
    } catch (err) {
      return [{ pct: 0, name: `perf report failed: ${err.message.split('\n')[0]}` }];
    }
  };
  return { byDso: report('dso'), bySymbol: report('dso,sym') };
}

async function profileDaemon(stamp) {
  const dir = join(OUT, `profile-${stamp}`);
  mkdirSync(dir, { recursive: true });
  const profile = join(dir, 'daemon.cpuprofile');
  process.env.PROF_OUT = profile; // read by bench/lib/cpu-profile-hook.cjs in the daemon
  const tool = await startDaemon(['--require', join(BENCH, 'lib', 'cpu-profile-hook.cjs')], 'daemon-profile');
  delete process.env.PROF_OUT;
  tool.child.kill('SIGUSR2'); // the profiler starts once every probe is loaded
  const before = await snapshotBefore(tool);
  const dur = Number(opt['profile-duration']);
  const [cmd, args] = generator(SCENARIOS[opt['profile-scenario']], dur, 'profile');
  // perf (when installed) sees every thread, native and kernel included, not only JavaScript
  const perfData = join(dir, 'perf.data');
  let perf = null;
  try {
    execFileSync('perf', ['--version'], { stdio: 'ignore' });
    perf = spawnTracked('perf', ['record', '-F', '499', '-g', '-o', perfData, '-p', String(tool.pid), '--', 'sleep', String(dur)], { stdio: 'ignore' });
  } catch {
    /* no perf */
  }
  const workload = await runJson(cmd, args, (dur + 30) * 1000);
  if (perf) await waitExit(perf, 15000);
  await sleep(SETTLE * 1000);
  const after = await snapshotAfter(tool);
  tool.child.kill('SIGUSR2');
  for (let i = 0; i < 100 && !existsSync(profile); i++) await sleep(100);
  const ex = await stop(tool.child, 'SIGTERM', 20000);
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const cpuS = after.cpu - before.cpu;
  const res = {
    load: `${opt['profile-scenario']} for ${dur} s`,
    connections: workload.connections ?? workload.sent,
    events: (promSum(after.metrics, 'kubepulse_events_total') ?? 0) - (promSum(before.metrics, 'kubepulse_events_total') ?? 0),
    cpuPctCore: (100 * cpuS) / (Number(after.t - before.t) / 1e9),
    mainThreadPctCore: (100 * (after.threads.main - before.threads.main)) / (Number(after.t - before.t) / 1e9),
    otherThreadsPctCore: (100 * (after.threads.others - before.threads.others)) / (Number(after.t - before.t) / 1e9),
    exit: ex,
  };
  if (perf) res.perf = perfSummary(perfData);
  if (!files.length) return { ...res, error: 'no .cpuprofile written (the daemon did not answer SIGUSR2)' };
  // The profile covers the load window only: started before the load, stopped after the drain.
  return { ...res, ...summarizeProfile(join(dir, files[0]), ROOT, 15) };
}

// ───────────────────────── main ─────────────────────────

async function main() {
  if (process.getuid?.() !== 0) die('needs root (BPF, sysctl kernel.bpf_stats_enabled, bpftrace)');
  const withDaemon = !opt['no-daemon'] && existsSync(DAEMON);
  if (!opt['no-daemon'] && !withDaemon) log(`${DAEMON} not built: measuring without the daemon (run make build)`);
  let withPeer = !opt['no-peer'];
  try {
    execFileSync('bpftrace', ['--version'], { stdio: 'ignore' });
  } catch {
    log('bpftrace not installed: no peer column');
    withPeer = false;
  }
  installCleanup();
  mkdirSync(TMP, { recursive: true });
  buildGenerators();
  setSysctl('kernel.bpf_stats_enabled', 1);
  if (withPeer && ensureTracefs()) log('mounted tracefs on /sys/kernel/tracing for bpftrace (unmounted at the end)');

  const started = Date.now();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const modes = ['baseline', ...(withDaemon ? ['kubepulse'] : []), ...(withDaemon && HAS_BEFORE ? ['before'] : []), ...(withPeer ? ['bpftrace'] : [])];
  const profileDns = withDaemon && !opt['no-profile'] && SCENARIOS[opt['profile-scenario']].kind === 'dns';
  const dns = profileDns || scenarioNames.some((s) => SCENARIOS[s].kind === 'dns') ? await startDnsServer(1200) : null;
  if (withDaemon && !opt['no-kube']) {
    kube = await startKube({ pods: 20, localPods: 20, services: 5, nodes: 1 });
    log(`Kubernetes mode: daemons run in-cluster against the test API server (${kube.server.url}, 20 pods on this node)`);
  }
  let progNames = null;
  const names = () => (progNames ??= bpfProgramNames());

  const results = {
    date: new Date().toISOString(),
    machine: {
      kernel: release(),
      cpu: cpus()[0]?.model ?? 'unknown',
      cpus: cpus().length,
      node: process.version,
      memMiB: Math.round(Number(readFileSync('/proc/meminfo', 'utf8').match(/MemTotal:\s+(\d+)/)[1]) / 1024),
    },
    loadavgBefore: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    config: { reps: REPS, durationS: DURATION, settleS: SETTLE, modes, dnsServer: dns?.server ?? null, daemonArgs: opt['daemon-args'], nodeArgs: opt['node-args'], kube: kube ? 'in-cluster' : null, beforeObjects: BEFORE, beforeArgs: BEFORE_ARGS, beforeDaemon: BEFORE_DAEMON },
    scenarios: [],
    runs: [],
  };
  try {
    results.commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    /* not a checkout */
  }

  if (withDaemon) {
    try {
      results.idle = await measureIdle(DURATION);
      log(`idle daemon: ${results.idle.cpuPctCore.toFixed(2)} % of a core, ${results.idle.events} events, ready in ${results.idle.startMs} ms`);
    } catch (err) {
      results.idle = { error: err.message };
    }
  }

  for (const name of scenarioNames) {
    const runs = [];
    const here = modes.filter((m) => m !== 'bpftrace' || SCENARIOS[name].kind === 'tcp');
    log(`${name}: ${REPS} × (${here.join(', ')}), ${DURATION} s each`);
    for (let rep = 1; rep <= REPS; rep++) {
      // The two KubePulse columns swap places every other repetition: neither always runs
      // right after the baseline (or right before it).
      const order = rep % 2 === 0 && modes.includes('before') ? modes.map((m) => (m === 'kubepulse' ? 'before' : m === 'before' ? 'kubepulse' : m)) : modes;
      for (const mode of order) {
        // the peer measures TCP connect latency: no peer column for DNS loads
        if (mode === 'bpftrace' && SCENARIOS[name].kind !== 'tcp') continue;
        progNames = null;
        try {
          const r = await runOnce(name, mode, rep, names);
          runs.push(r);
          const extra = r.tool
            ? ` | ${mode} cpu ${r.tool.cpuPctCore.toFixed(2)}% events ${r.tool.events ?? '?'}${r.tool.dropped ? ` dropped ${r.tool.dropped}` : ''} bpf ${r.tool.bpfNsPerItem?.toFixed(0) ?? '?'} ns/item`
            : '';
          log(`  ${name} rep ${rep} ${mode}: ${r.throughput.toFixed(0)}/s${extra}`);
        } catch (err) {
          log(`  ${name} rep ${rep} ${mode}: FAILED ${err.message.split('\n')[0]}`);
          runs.push({ scenario: name, mode, rep, error: err.message });
        }
      }
    }
    const disturbed = runs.filter((r) => r.foreignKpPrograms > 0).length;
    if (disturbed) log(`  ${name}: ${disturbed} runs had another process's KubePulse programs attached`);
    results.runs.push(...runs);
    results.scenarios.push(summarize(name, runs.filter((r) => !r.error)));
    const failed = runs.filter((r) => r.error).length;
    if (failed) log(`  ${name}: ${failed} runs failed`);
  }

  if (withDaemon && !opt['no-syscalls']) {
    log('syscall microbenchmark: getppid() outside any pod and inside a pod cgroup');
    try {
      results.syscalls = await measureSyscalls({
        // on-demand: the daemon with --syscalls-recording=on-demand while nothing records
        conditions: ['without', 'kubepulse', 'on-demand', ...(HAS_BEFORE ? ['before'] : [])],
        startTool: async (condition) => {
          if (condition === 'without') return null;
          const args = { before: beforeFlags, 'on-demand': ['--syscalls-recording', 'on-demand'] }[condition] ?? [];
          const d = await startDaemon([], `syscalls-${condition}`, args);
          await sleep(300); // the pod root registered and the programs attached
          return { stop: () => stop(d.child, 'SIGTERM', 10000) };
        },
        runJson,
        loopBin: join(BIN, 'syscall-loop'),
        reps: REPS,
        calls: Number(opt['syscall-calls']),
        log,
      });
    } catch (err) {
      results.syscalls = { error: err.message };
    }
  }

  if (withDaemon && !opt['no-scrape']) {
    log('large label set: /metrics scrape');
    try {
      // the issue's shape (1,000 pods × 5 domains), then the pod count that gives ~20k series
      const pods = Number(opt['scrape-pods']);
      const domains = Number(opt['scrape-domains']);
      results.scrape = await measureScrape(pods, domains);
      if (results.scrape.series) {
        const pods20k = Math.max(1, Math.round((pods * 20000) / results.scrape.series));
        results.scrape20k = await measureScrape(pods20k, domains);
      }
    } catch (err) {
      results.scrape = { error: err.message };
    }
  }
  if (withDaemon && !opt['no-large-cluster']) {
    const [pods, services, nodes] = opt['large-cluster'].split(',').map(Number);
    log(`large cluster: daemon RSS and sync time with ${pods} pods, ${services} Services, ${nodes} nodes`);
    try {
      results.largeCluster = await measureLargeCluster({ pods, services, nodes, daemon: DAEMON, nodeArgs: opt['node-args'].split(' ').filter(Boolean) });
    } catch (err) {
      results.largeCluster = { error: err.message };
    }
  }
  if (withDaemon) {
    log('user-space cost per event (collector micro-benchmark)');
    results.micro = [];
    for (const pods of [1, 1000]) {
      try {
        results.micro.push(await runJson(process.execPath, [join(BENCH, 'collector-micro.mjs'), '--pods', String(pods)], 120000));
      } catch (err) {
        results.micro.push({ pods, error: err.message });
      }
    }
    log('first event of a new cgroup (bench/new-cgroup.mjs)');
    try {
      results.newCgroup = await runJson(process.execPath, [join(BENCH, 'new-cgroup.mjs')], 120000);
    } catch (err) {
      results.newCgroup = { error: err.message };
    }
  }
  if (withDaemon && !opt['no-stream']) {
    log('live stream: daemon CPU at 10k conn/s with 0, 1 and 10 subscribers (bench/stream-cost.mjs)');
    try {
      results.stream = await runJson(process.execPath, [join(BENCH, 'stream-cost.mjs'), '--bin', join(BIN, 'tcp-storm'), '--reps', String(Math.min(REPS, 3)), '--duration', String(DURATION)], 600000);
    } catch (err) {
      results.stream = { error: err.message };
    }
  }
  if (withDaemon && !opt['no-profile']) {
    log(`profile: V8 CPU profile under ${opt['profile-scenario']} for ${opt['profile-duration']} s`);
    try {
      results.profile = await profileDaemon(stamp);
    } catch (err) {
      results.profile = { error: err.message };
    }
  }
  if (dns) await stop(dns.child, 'SIGTERM', 5000);
  await kube?.stop();
  results.loadavgAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  results.elapsedS = Math.round((Date.now() - started) / 1000);

  const jsonPath = join(OUT, `results-${stamp}.json`);
  writeFileSync(jsonPath, JSON.stringify(results, (k, v) => (v instanceof Map ? Object.fromEntries(v) : v), 2));
  const md = renderMarkdown(results) + (results.stream ? renderStreamCost(results.stream) : '');
  writeFileSync(join(OUT, 'latest.md'), md);
  process.stdout.write(md);
  log(`wrote ${jsonPath} and ${join(OUT, 'latest.md')} in ${results.elapsedS} s`);
}

main().catch((err) => {
  process.stderr.write(`bench: ${err.stack || err.message}\n`);
  process.exit(1);
});
