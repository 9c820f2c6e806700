#!/usr/bin/env node
// The soak (`make soak`): the real daemon, in Kubernetes mode against the
// test API server, under steady load with pod churn for --minutes
// (SOAK_MINUTES, default 30), unattended:
// - a long-lived "loadgen" pod (kubelet-shaped cgroup) running tcp-storm at
//   --tcp-rate conn/s (5000) and dns-load at --dns-rate queries/s (1000),
//   1 in 100 of them for a name that fails (NXDOMAIN), against a DNS
//   responder outside any pod;
// - pod churn (churn.mjs): --pods pods (2000 for 30 minutes, pro rata for
//   shorter runs) created and deleted through the API server, each with a
//   process inside its container cgroup that connects and queries;
// - a scrape of /metrics every 5 s (timed), and a live subscriber of
//   /api/v1/events in a process of its own (subscriber.mjs).
// Timeline: warm-up (load, no churn; the series baseline is its last
// scrape), churn, then a tail of the series grace period plus a minute with
// the load still on, after which every churned pod's series must be gone.
// Pass criteria (report.mjs): RSS slope after warm-up ≤ 1 MiB per 10 min
// (warm-up lasting until churn is steady: a pod lifetime and a grace period
// into it),
// series back to the baseline, zero drops (kernel and stream), zero error
// log lines, every scrape ≤ 100 ms.
//
// Writes <out>/samples.jsonl (one line per scrape), <out>/run.json (the
// set-up, load generators' own reports, log lines above info), then
// <out>/report.md and its PNG plots. Needs root, `make build`.
//   node bench/soak/run.mjs [--minutes 30] [--pods N] [--out build/soak] [--cpu-prof DIR]
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { PodChurn, podCgroupDirs, podObject, removeCgroup } from './churn.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');

const { values: opt } = parseArgs({
  options: {
    minutes: { type: 'string', default: process.env.SOAK_MINUTES ?? '30' },
    pods: { type: 'string', default: process.env.SOAK_PODS },
    'tcp-rate': { type: 'string', default: '5000' },
    'dns-rate': { type: 'string', default: '1000' },
    'scrape-interval': { type: 'string', default: '5' },
    // The daemon runs as the image runs it: the Dockerfile's NODE_OPTIONS.
    'node-args': { type: 'string', default: '--max-semi-space-size=2' },
    out: { type: 'string', default: join(ROOT, 'build', 'soak') },
    // For diagnosis: write the daemon's V8 CPU profile (.cpuprofile, on its
    // exit at the end) into this directory. It costs the daemon CPU, so a
    // profiled run's figures are not the soak's.
    'cpu-prof': { type: 'string' },
  },
});

const T = Math.round(Number(opt.minutes) * 60);
if (!(T >= 60)) throw new Error(`--minutes ${opt.minutes}: at least 1`);
if (process.getuid?.() !== 0) {
  console.error('soak: needs root (BPF, cgroups)');
  process.exit(1);
}
const WARMUP = Math.min(300, Math.max(30, Math.round(T / 6)));
const GRACE = T >= 600 ? 120 : 20; // --series-grace, seconds
const TAIL = GRACE + 60;
const CHURN = T - WARMUP - TAIL;
const PODS = Number(opt.pods ?? Math.round((2000 * T) / 1800));
const LIFETIME = Math.min(60, Math.max(5, Math.round(CHURN / 4)));
const CREATE_EVERY = (CHURN - LIFETIME) / PODS; // seconds
if (!(CHURN > LIFETIME)) {
  // Shorter runs had a negative churn phase: pods created at negative intervals, a timeline that made no sense.
  console.error(`soak: --minutes ${opt.minutes} leaves no churn after warm-up (${WARMUP} s) and tail (${TAIL} s): at least 2`);
  process.exit(2);
}
const SCRAPE_EVERY = Number(opt['scrape-interval']);
const TCP_RATE = Number(opt['tcp-rate']);
const DNS_RATE = Number(opt['dns-rate']);
const id = randomBytes(3).toString('hex');
const NODE = `soak-node-${id}`;
const NAMESPACE = `soak-churn-${id}`;
const LOAD_NS = `soak-load-${id}`;

const out = resolve(opt.out);
mkdirSync(out, { recursive: true });
const samplesFile = join(out, 'samples.jsonl');
writeFileSync(samplesFile, '');
const log = (msg) => process.stdout.write(`${new Date().toISOString()} soak: ${msg}\n`);

// --- clean-up on every way out ------------------------------------------
const children = new Set();
const cleanups = [];
function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
let cleaning;
async function cleanup() {
  cleaning ??= (async () => {
    for (const c of children) c.kill('SIGKILL');
    for (const step of cleanups.reverse()) {
      try {
        await step();
      } catch (err) {
        log(`clean-up: ${err.message}`);
      }
    }
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => cleanup().then(() => process.exit(130)));

// --- the test API server, transpiled from test/support --------------------
async function testSupport(dir) {
  const ts = (await import('typescript')).default;
  const source = readFileSync(join(ROOT, 'test/support/kube-api-server.ts'), 'utf8');
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  const file = join(dir, 'kube-api-server.mjs');
  writeFileSync(file, js);
  return import(pathToFileURL(file).href);
}

function build(source, name, extra = []) {
  const bin = join(work, name);
  execFileSync('cc', ['-O2', '-pthread', '-o', bin, join(ROOT, 'bench', source), ...extra], { stdio: 'inherit' });
  return bin;
}

function cgroup2Mount() {
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[2] === 'cgroup2') return f[1];
  }
  throw new Error('no cgroup2 mount in /proc/mounts');
}

/** Removes a cgroup tree bottom-up, killing what is left in it. */
async function removeTree(dir) {
  if (!existsSync(dir)) return;
  for (const d of readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) await removeTree(join(dir, d.name));
  await removeCgroup(dir);
}

function freePort() {
  // Ports for the load: fixed offsets from a random base, checked by bind in the tools themselves.
  return 20000 + Math.floor(Math.random() * 20000);
}

const work = mkdtempSync(join(tmpdir(), 'kubepulse-soak-'));
cleanups.push(() => execFileSync('rm', ['-rf', work]));

// --- /proc readers ---------------------------------------------------------
function rssKiB(pid) {
  return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}
function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}
function hostCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  return { busy: f.reduce((a, b) => a + b, 0) - idle, total: f.reduce((a, b) => a + b, 0) };
}
/** Time the daemon's threads ran and waited runnable for a CPU (ns; /proc/<pid>/task/<tid>/schedstat): the evidence of a CPU share too small. */
function schedstat(pid) {
  let run = 0;
  let wait = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const [r, w] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      run += r;
      wait += w;
    } catch {}
  }
  return { run, wait };
}
/** The machine's CPU pressure: share of time some runnable task waited for a CPU, last 10 s (PSI). */
const cpuPressure = () => Number(/^some avg10=([\d.]+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? NaN);
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);

// --- scrape ---------------------------------------------------------------
// curl does the scrape and times it, so the figure is the daemon's answer
// time as a client sees it, whatever this process is busy with meanwhile.
function scrape(port) {
  const file = join(work, 'scrape.prom');
  return new Promise((resolve, reject) => {
    // Also when the connection was made and when the first byte came: a slow scrape's time
    // split into waiting for the answer (the daemon) and taking it in (curl, on the same CPUs).
    execFile('curl', ['-s', '-o', file, '-w', '%{http_code} %{time_total} %{time_connect} %{time_starttransfer}', '--max-time', '10', `http://127.0.0.1:${port}/metrics`], (err, stdout) => {
      const [code, seconds, connected, firstByte] = String(stdout).trim().split(' ');
      if (err !== null && !(Number(code) > 0)) return reject(new Error(`curl: ${err.message.split('\n')[0]}`));
      let body = '';
      try {
        body = readFileSync(file, 'utf8');
      } catch {}
      resolve({ status: Number(code), ms: Number(seconds) * 1000, firstByteMs: (Number(firstByte) - Number(connected)) * 1000, body });
    });
  });
}

/** Highest value seen of each churned pod's TCP and DNS counters. */
const churnCounts = new Map();
const churnTotal = (metric) => [...churnCounts].filter(([k]) => k.startsWith(metric)).reduce((a, [, v]) => a + v, 0);

/** Per scrape: series count, per-family counts, and sums of the counters the soak follows. */
function digest(body) {
  const families = {};
  const sums = {};
  let series = 0;
  let churnSeries = 0;
  let podSeries = 0;
  for (const line of body.split('\n')) {
    if (line === '' || line[0] === '#') continue;
    series++;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    const name = line.slice(0, brace >= 0 && brace < space ? brace : line.indexOf(' '));
    families[name] = (families[name] ?? 0) + 1;
    const value = Number(line.slice(space + 1));
    if (line.includes(`namespace="${NAMESPACE}"`)) churnSeries++;
    // Series of a pod (the host's, namespace="", also count traffic of whatever else runs on this machine).
    if (/[{,]namespace="[^"]/.test(line)) podSeries++;
    const key = (k) => (sums[k] = (sums[k] ?? 0) + value);
    if (name === 'kubepulse_events_total') key('events');
    else if (name === 'kubepulse_events_dropped_total') key('dropped');
    else if (name === 'kubepulse_stream_dropped_total') key('streamDropped');
    else if (name === 'kubepulse_ready') key('ready');
    else if (name === 'nodejs_heap_size_used_bytes') sums.heapUsedMiB = Math.round((value / 2 ** 20) * 100) / 100;
    else if (name === 'nodejs_heap_size_total_bytes') sums.heapTotalMiB = Math.round((value / 2 ** 20) * 100) / 100;
    else if (name === 'kubepulse_tcp_connections_total' && line.includes(`namespace="${LOAD_NS}"`)) key('loadTcp');
    else if (name === 'kubepulse_dns_queries_total' && line.includes(`namespace="${LOAD_NS}"`)) key('loadDns');
    else if (name === 'kubepulse_dns_responses_total' && line.includes(`namespace="${LOAD_NS}"`) && !line.includes('rcode="NOERROR"')) key('loadDnsFailed');
    else if ((name === 'kubepulse_tcp_connections_total' || name === 'kubepulse_dns_queries_total') && line.includes(`namespace="${NAMESPACE}"`)) {
      // A churned pod's series go with it: keep each one's highest value.
      const series = line.slice(0, space);
      churnCounts.set(series, Math.max(churnCounts.get(series) ?? 0, value));
    } else if (name === 'kubepulse_flows_overflow_total') key('flowsOverflow');
  }
  return { series, churnSeries, podSeries, families, sums };
}

// --- main -----------------------------------------------------------------
const startedAt = new Date();
const mount = cgroup2Mount();
const base = join(mount, `kubepulse-soak-${id}`);
cleanups.push(() => removeTree(base));

const { TestKubeApiServer } = await testSupport(work);
const api = new TestKubeApiServer();
await api.start();
cleanups.push(() => api.stop());
const kubeconfig = join(work, 'kubeconfig');
writeFileSync(
  kubeconfig,
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'soak', cluster: { server: api.url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'soak', user: { token: api.token } }],
    contexts: [{ name: 'soak', context: { cluster: 'soak', user: 'soak' } }],
    'current-context': 'soak',
  }),
);

const tcpStorm = build('tcp-storm.c', 'tcp-storm');
const dnsLoad = build('dns-load.c', 'dns-load');
const tcpPort = freePort();
const dnsPort = tcpPort + 1;

// The DNS responder: outside any pod, for the whole run.
const responder = track(spawn(dnsLoad, ['--serve', '1', '--port', String(dnsPort), '--duration', String(T + 120)], { stdio: ['ignore', 'pipe', 'inherit'] }));

// The load pod: in the API, with its cgroup, before the daemon starts.
const loadWorkload = { name: 'loadgen', hash: randomBytes(5).toString('hex'), uid: randomUUID() };
const loadPod = { name: `loadgen-${loadWorkload.hash}-${randomBytes(3).toString('hex')}`, uid: randomUUID(), containerId: randomBytes(32).toString('hex') };
api.addPod(podObject({ ...loadPod, namespace: LOAD_NS, nodeName: NODE, workload: loadWorkload }));
const loadDirs = podCgroupDirs(base, loadPod.uid, loadPod.containerId);
mkdirSync(loadDirs.container, { recursive: true });

// The daemon.
const daemonArgs = ['--port', '0', '--listen-address', '127.0.0.1', '--kubeconfig', kubeconfig, '--node-name', NODE, '--dns-ports', String(dnsPort), '--series-grace', `${GRACE}s`, '--log-level', 'info'];
const profileArgs = opt['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${resolve(opt['cpu-prof'])}`] : [];
const daemon = track(spawn(process.execPath, [...profileArgs, join(ROOT, 'dist/cmd/kubepulse.js'), ...daemonArgs], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_OPTIONS: opt['node-args'] } }));
cleanups.push(async () => {
  if (daemon.exitCode === null && daemon.signalCode === null) {
    daemon.kill('SIGTERM');
    await Promise.race([new Promise((r) => daemon.once('exit', r)), sleep(10_000)]);
  }
});
const logCounts = { error: 0, warn: 0, info: 0, debug: 0, other: 0 };
const notableLogs = [];
let daemonExit;
daemon.once('exit', (code, signal) => (daemonExit = { code, signal, atS: (Date.now() - startedAt) / 1000 }));
const port = await new Promise((resolvePort, reject) => {
  let pending = '';
  daemon.stderr.setEncoding('utf8').on('data', (chunk) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        entry = { level: 'other', msg: line };
      }
      logCounts[entry.level in logCounts ? entry.level : 'other']++;
      if (entry.level !== 'info' && entry.level !== 'debug' && notableLogs.length < 200) notableLogs.push(entry);
      if (entry.msg === 'serving') resolvePort(entry.port);
    }
  });
  daemon.once('exit', (code) => reject(new Error(`daemon exited with ${code} before serving`)));
});
for (const end = Date.now() + 120_000; ; await sleep(250)) {
  const r = await scrape(port).catch(() => undefined);
  if (r !== undefined && /^kubepulse_ready(\{[^}]*\})? 1$/m.test(r.body)) break;
  if (Date.now() > end) throw new Error('daemon not ready after 120 s');
}
log(`daemon ${daemon.pid} ready on port ${port}; node ${NODE}; ${T} s: warm-up ${WARMUP} s, churn ${CHURN} s (${PODS} pods, one every ${CREATE_EVERY.toFixed(2)} s, living ${LIFETIME} s), tail ${TAIL} s (series grace ${GRACE} s)`);

// The subscriber.
const subscriber = track(spawn(process.execPath, [join(HERE, 'subscriber.mjs'), `http://127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'inherit'] }));
let subscribed = { events: 0, missed: 0, reconnects: 0, bytes: 0 };
subscriber.stdout.setEncoding('utf8').on('data', (chunk) => {
  const lines = chunk.trim().split('\n');
  try {
    subscribed = JSON.parse(lines[lines.length - 1]);
  } catch {}
});

// The load, inside the loadgen pod from its first instruction.
const inPod = (argv) => spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', loadDirs.container, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
const loadSeconds = String(T); // they end by themselves, with their reports
const storm = track(inPod([tcpStorm, '--rate', String(TCP_RATE), '--duration', loadSeconds, '--threads', '2', '--port', String(tcpPort), '--max-conns', String(TCP_RATE * (T + 60))]));
const dns = track(inPod([dnsLoad, '--port', String(dnsPort), '--rate', String(DNS_RATE), '--duration', loadSeconds, '--nx-every', '100', '--max-queries', String(DNS_RATE * (T + 60)), '--names', '1000']));
const reports = {};
const reported = {};
for (const [name, child] of [['tcp-storm', storm], ['dns-load', dns], ['dns-responder', responder]]) {
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (c) => (text += c));
  // 'close', not 'exit': a process can exit before its last output is read (a 10-minute run lost dns-load's report so).
  reported[name] = new Promise((resolve) =>
    child.once('close', (code, signal) => {
      try {
        reports[name] = { ...JSON.parse(text), exit: code ?? signal };
      } catch {
        reports[name] = { exit: code ?? signal, output: text.slice(0, 500) };
      }
      resolve();
    }),
  );
}

// The churn.
const churn = new PodChurn({ api, base, namespace: NAMESPACE, nodeName: NODE, tcpPort, dnsPort, workloads: 10, periodS: 5 });
cleanups.push(() => churn.deleteAll());
const t0 = Date.now();
const now = () => (Date.now() - t0) / 1000;
const deletions = [];
async function runChurn() {
  await sleep(WARMUP * 1000);
  const churnStart = now();
  for (let i = 0; i < PODS; i++) {
    const due = churnStart + i * CREATE_EVERY;
    if (due > now()) await sleep((due - now()) * 1000);
    const name = churn.create();
    deletions.push(sleep(LIFETIME * 1000).then(() => churn.delete(name)));
  }
  await Promise.all(deletions);
  await churn.deleteAll();
  return now();
}
let churnEndedAt;
const churnDone = runChurn().then((at) => {
  churnEndedAt = at;
  log(`churn done at ${at.toFixed(0)} s: ${churn.created} created, ${churn.deleted} deleted`);
});

// Sampling.
let last = { t: 0, ticks: cpuTicks(daemon.pid), sched: schedstat(daemon.pid), host: hostCpu(), events: 0, subscribed: 0 };
let baseline;
let final;
let scrapeFailures = 0;
const phaseAt = (t) => (t < WARMUP ? 'warm-up' : churnEndedAt === undefined ? 'churn' : 'tail');
for (let next = 0; ; ) {
  // A slow scrape skips the slots it overran (no burst of scrapes to catch up).
  next = Math.max(next + SCRAPE_EVERY, Math.ceil(now() / SCRAPE_EVERY) * SCRAPE_EVERY);
  const wait = t0 + next * 1000 - Date.now();
  if (wait > 0) await sleep(wait);
  if (daemonExit !== undefined) {
    log(`daemon exited: ${JSON.stringify(daemonExit)}`);
    break;
  }
  const t = now();
  let r;
  try {
    r = await scrape(port);
  } catch (err) {
    scrapeFailures++;
    log(`scrape failed: ${err.message}`);
    continue;
  }
  const d = digest(r.body);
  const ticks = cpuTicks(daemon.pid);
  const sched = schedstat(daemon.pid);
  const host = hostCpu();
  const dt = t - last.t;
  const sample = {
    t: Math.round(t * 10) / 10,
    phase: phaseAt(t),
    scrapeMs: Math.round(r.ms * 10) / 10,
    // From the connection made to the first byte of the answer (the rest of scrapeMs: connecting, and taking the page in).
    scrapeFirstByteMs: Math.round(r.firstByteMs * 10) / 10,
    scrapeStatus: r.status,
    scrapeBytes: r.body.length,
    rssMiB: Math.round((rssKiB(daemon.pid) / 1024) * 100) / 100,
    cpuPct: Math.round(((ticks - last.ticks) / 100 / dt) * 1000) / 10,
    // ms per second the daemon's threads ran, and waited runnable for a CPU.
    runMsPerS: Math.round((sched.run - last.sched.run) / 1e6 / dt),
    waitMsPerS: Math.round((sched.wait - last.sched.wait) / 1e6 / dt),
    cpuPressure: cpuPressure(),
    hostBusyPct: Math.round(((host.busy - last.host.busy) / (host.total - last.host.total)) * 1000) / 10,
    load1: loadavg()[0],
    series: d.series,
    churnSeries: d.churnSeries,
    podSeries: d.podSeries,
    eventsPerS: Math.round((d.sums.events - last.events) / dt),
    subscribedPerS: Math.round((subscribed.events - last.subscribed) / dt),
    ...d.sums,
    churnTcp: churnTotal('kubepulse_tcp_connections_total'),
    churnDns: churnTotal('kubepulse_dns_queries_total'),
    subscribed: subscribed.events,
    subscriberMissed: subscribed.missed,
    subscriberReconnects: subscribed.reconnects,
    podsAlive: churn.live.size,
    podsCreated: churn.created,
    podsDeleted: churn.deleted,
    errorLogs: logCounts.error + logCounts.other,
    warnLogs: logCounts.warn,
  };
  appendFileSync(samplesFile, `${JSON.stringify(sample)}\n`);
  const previousT = last.t;
  last = { t, ticks, sched, host, events: d.sums.events ?? 0, subscribed: subscribed.events };
  if (t < WARMUP) {
    baseline = { t, series: d.series, podSeries: d.podSeries, families: d.families };
    writeFileSync(join(out, 'baseline.prom'), r.body);
  }
  final = { t, series: d.series, podSeries: d.podSeries, churnSeries: d.churnSeries, families: d.families };
  writeFileSync(join(out, 'final.prom'), r.body);
  if (Math.floor(t / 60) !== Math.floor(previousT / 60))
    log(`t=${t.toFixed(0)}s ${sample.phase} rss=${sample.rssMiB}MiB cpu=${sample.cpuPct}% (waited ${sample.waitMsPerS} ms/s) series=${d.series} (churn ${d.churnSeries}) pods=${churn.live.size} ev/s=${sample.eventsPerS} scrape=${sample.scrapeMs}ms load=${sample.load1}`);
  if (churnEndedAt !== undefined && t >= Math.max(T - SCRAPE_EVERY / 2, churnEndedAt + TAIL)) break;
}
await churnDone;

// The end: the load generators end by themselves (their reports), then the
// daemon is stopped as a kubelet would (SIGTERM), then everything else.
const exited = (c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r)));
await Promise.race([Promise.all([storm, dns].map(exited)), sleep(60_000)]);
await Promise.race([Promise.all([reported['tcp-storm'], reported['dns-load']]), sleep(5_000)]);
daemon.kill('SIGTERM');
await Promise.race([exited(daemon), sleep(15_000)]);
await cleanup();

const run = {
  started: startedAt.toISOString(),
  ended: new Date().toISOString(),
  host: hostname(),
  kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
  cpus: readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('processor')).length,
  node: process.version,
  commit: (() => {
    try {
      return execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  })(),
  seconds: T,
  warmupS: WARMUP,
  churnS: CHURN,
  tailS: TAIL,
  graceS: GRACE,
  pods: PODS,
  podLifetimeS: LIFETIME,
  tcpRate: TCP_RATE,
  dnsRate: DNS_RATE,
  scrapeEveryS: SCRAPE_EVERY,
  daemonArgs,
  nodeOptions: opt['node-args'],
  loadNamespace: LOAD_NS,
  cpuProfiled: Boolean(opt['cpu-prof']),
  daemonExit,
  churnCreated: churn.created,
  churnDeleted: churn.deleted,
  churnFailures: churn.failures.slice(0, 50),
  scrapeFailures,
  logCounts,
  notableLogs,
  baseline,
  final,
  generators: reports,
};
writeFileSync(join(out, 'run.json'), `${JSON.stringify(run, null, 2)}\n`);
log(`samples in ${samplesFile}; writing the report`);
const { writeReport } = await import('./report.mjs');
const verdict = writeReport(out);
log(`report: ${join(out, 'report.md')} — ${verdict.pass ? 'PASS' : 'FAIL'}`);
process.exit(verdict.pass ? 0 : 1);
