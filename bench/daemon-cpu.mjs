#!/usr/bin/env node
// Where an idle daemon's CPU goes, per thread, and what it costs at a fixed connection rate
// (issue 12: daemon CPU idle ≤ 0.2 % of a core, at 10k conn/s ≤ 0.5 %). Builds side by
// side: each --tree is a checkout with its own build (dist/, build/Release, build/bpf; an
// earlier commit's `git archive` built with `make daemon` will do), and their daemons run
// alternately, in the order A B, B A, A B … so a noisy neighbour on this shared machine hits
// both alike; figures are medians. Run as root:
//
//   node bench/daemon-cpu.mjs --tree /tmp/before --tree . [--rounds 3] [--idle 60] [--load 20]
//
// Per run: the daemon starts (in-cluster against the test API server with 20 pods on this
// node, as bench/run.mjs runs it; --no-kube without Kubernetes), is ready, settles (--settle,
// past start-up and the first audit scan), then
//   - idle window (--idle s): CPU time per thread from /proc/<pid>/task/<tid>/schedstat (ns,
//     not the 10 ms ticks of /proc/<pid>/stat) and wake-ups (voluntary context switches);
//   - load window (--load s, unless --rate 0): tcp-storm at --rate conn/s, same figures.
// Threads: the JavaScript thread (tid = pid), the event poll thread (named kp-events; an
// older build's is found as the one thread besides the main one sleeping in epoll or
// nanosleep), and the rest (V8 platform workers, libuv pool).
// Prints a Markdown table and, as its last line, every run as JSON.
// --profile DIR: instead, a V8 CPU profile of the JavaScript thread over each window (started
// by SIGUSR2 once the probes are loaded, bench/lib/cpu-profile-hook.cjs), written to DIR and
// summarised (self time per function; the profiler's own sampling makes the CPU figures of
// such runs meaningless, so none are given).
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { installCleanup, spawnTracked, stop } from './lib/children.mjs';
import { median, minMax } from './lib/stats.mjs';
import { startKube } from './kube.mjs';
import { summarizeProfile } from './lib/cpuprofile.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));

const { values: opt } = parseArgs({
  options: {
    tree: { type: 'string', multiple: true, default: [resolve(BENCH, '..')] },
    label: { type: 'string', multiple: true, default: [] },
    rounds: { type: 'string', default: '3' },
    idle: { type: 'string', default: '60' },
    load: { type: 'string', default: '20' },
    rate: { type: 'string', default: '10000' },
    settle: { type: 'string', default: '15' },
    'daemon-args': { type: 'string', default: '' },
    'no-kube': { type: 'boolean', default: false },
    'storm-bin': { type: 'string' },
    profile: { type: 'string' },
  },
});

const trees = opt.tree.map((t) => resolve(t));
const labels = trees.map((t, i) => opt.label[i] ?? t);
for (const t of trees) if (!existsSync(join(t, 'dist/cmd/kubepulse.js'))) die(`${t}: no dist/cmd/kubepulse.js (make build there first)`);
const ROUNDS = Number(opt.rounds);
const IDLE_S = Number(opt.idle);
const LOAD_S = Number(opt.load);
const RATE = Number(opt.rate);
const SETTLE_S = Number(opt.settle);

function die(msg) {
  process.stderr.write(`daemon-cpu: ${msg}\n`);
  process.exit(1);
}
function log(msg) {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

function stormBinary() {
  if (opt['storm-bin']) return opt['storm-bin'];
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-daemon-cpu-'));
  const bin = join(dir, 'tcp-storm');
  execFileSync('cc', ['-O2', '-Wall', '-pthread', '-o', bin, join(BENCH, 'tcp-storm.c')], { stdio: 'inherit' });
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return bin;
}

// Where an older build's poll thread sleeps: libbpf's epoll_wait, or nanosleep/clock_nanosleep
// between drains (x86_64 numbers; Node's own threads wait in futex, its main loop and its
// inspector thread in epoll_pwait).
const POLLER_SYSCALLS = new Set([232, 35, 230]);

function readTask(pid, tid) {
  try {
    const base = `/proc/${pid}/task/${tid}`;
    const ns = Number(readFileSync(`${base}/schedstat`, 'utf8').split(' ')[0]);
    const status = readFileSync(`${base}/status`, 'utf8');
    const wakeups = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
    const comm = readFileSync(`${base}/comm`, 'utf8').trim();
    return { ns, wakeups, comm };
  } catch {
    return undefined; // ended
  }
}

/** The poll thread's tid: named kp-events, or (older builds) the one non-main thread waiting in epoll or a sleep. */
async function findPoller(pid) {
  for (let i = 0; i < 50; i++) {
    const candidates = [];
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      if (tid === String(pid)) continue;
      const t = readTask(pid, tid);
      if (t?.comm === 'kp-events') return tid;
      try {
        const nr = Number(readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').split(' ')[0]);
        if (POLLER_SYSCALLS.has(nr)) candidates.push(tid);
      } catch {
        /* ended */
      }
    }
    if (candidates.length === 1) return candidates[0];
    await sleep(100);
  }
  return undefined;
}

function snapshot(pid) {
  const threads = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const t = readTask(pid, tid);
    if (t) threads.set(tid, t);
  }
  return { at: process.hrtime.bigint(), threads };
}

/** Per thread group: % of a core and wake-ups per second between two snapshots. */
function between(pid, poller, a, b) {
  const seconds = Number(b.at - a.at) / 1e9;
  const groups = { main: { ns: 0, wakeups: 0 }, poller: { ns: 0, wakeups: 0 }, others: { ns: 0, wakeups: 0 } };
  for (const [tid, end] of b.threads) {
    const start = a.threads.get(tid) ?? { ns: 0, wakeups: 0 }; // started inside the window
    const g = tid === String(pid) ? groups.main : tid === poller ? groups.poller : groups.others;
    g.ns += end.ns - start.ns;
    g.wakeups += end.wakeups - start.wakeups;
  }
  const out = { seconds };
  let ns = 0;
  let wakeups = 0;
  for (const [name, g] of Object.entries(groups)) {
    out[name] = { pctCore: (100 * g.ns) / 1e9 / seconds, wakeupsPerS: g.wakeups / seconds };
    ns += g.ns;
    wakeups += g.wakeups;
  }
  out.total = { pctCore: (100 * ns) / 1e9 / seconds, wakeupsPerS: wakeups / seconds };
  return out;
}

async function waitReady(port, child, logPath) {
  for (const t0 = Date.now(); Date.now() - t0 < 60000; await sleep(100)) {
    if (child.exitCode !== null) throw new Error(`daemon exited ${child.exitCode}: ${readFileSync(logPath, 'utf8').slice(-1500)}`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) return;
  }
  throw new Error(`daemon not ready after 60 s: ${readFileSync(logPath, 'utf8').slice(-1500)}`);
}

function storm(bin, rate, seconds) {
  return new Promise((res, rej) => {
    const child = spawnTracked(bin, ['--rate', String(rate), '--duration', String(seconds), '--threads', '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) => (code === 0 ? res(JSON.parse(out.trim().split('\n').pop())) : rej(new Error(`tcp-storm exited ${code}`))));
  });
}

async function metric(port, name) {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && (line[name.length] === '{' || line[name.length] === ' ')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

async function runOnce(kube, tree, label, bin) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-daemon-cpu-log-'));
  const logPath = join(dir, 'daemon.log');
  const profiling = opt.profile !== undefined;
  const args = [...(profiling ? ['--require', join(BENCH, 'lib', 'cpu-profile-hook.cjs')] : []), join(tree, 'dist/cmd/kubepulse.js'), '--port', String(port), '--listen-address', '127.0.0.1', '--log-level', 'warn', ...opt['daemon-args'].split(' ').filter(Boolean)];
  const run = kube ? kube.launch(process.execPath, args) : { command: process.execPath, args };
  const fd = openSync(logPath, 'w');
  const profileFile = join(dir, 'daemon.cpuprofile');
  const child = spawnTracked(run.command, run.args, { stdio: ['ignore', fd, fd], cwd: tree, env: { ...process.env, ...kube?.env, PROF_OUT: profileFile } });
  /** Profiles the JavaScript thread while during() runs; the summary of that window. */
  const profiled = async (window, during) => {
    if (!profiling) return during();
    child.kill('SIGUSR2');
    const began = Date.now();
    await during();
    const ms = Date.now() - began;
    child.kill('SIGUSR2');
    for (let i = 0; i < 100 && !existsSync(profileFile); i++) await sleep(100);
    if (!existsSync(profileFile)) return { error: 'no profile written' };
    const out = join(resolve(opt.profile), `${label.replace(/[^\w.-]+/g, '_')}-${window}-${Date.now()}.cpuprofile`);
    renameSync(profileFile, out);
    return summarizeProfile(out, tree, 25, { fromMs: 0, toMs: ms });
  };
  closeSync(fd);
  try {
    await waitReady(port, child, logPath);
    const pid = child.pid; // kube.launch execs its way to node: the pid stays
    await sleep(SETTLE_S * 1000);
    const poller = await findPoller(pid);
    const rec = { label, tree, pid, poller };
    const idleEvents0 = await metric(port, 'kubepulse_events_total');
    const i0 = snapshot(pid);
    const idleProfile = await profiled('idle', () => sleep(IDLE_S * 1000));
    rec.idle = between(pid, poller, i0, snapshot(pid));
    if (profiling) rec.idle.profile = idleProfile;
    // Other processes' connections and DNS on this machine reach the probes too: "idle" is this daemon's load only.
    rec.idle.events = (await metric(port, 'kubepulse_events_total')) - idleEvents0;
    if (RATE > 0 && LOAD_S > 0) {
      const events0 = await metric(port, 'kubepulse_events_total');
      const l0 = snapshot(pid);
      let w;
      const loadProfile = await profiled('load', async () => {
        w = await storm(bin, RATE, LOAD_S);
        await sleep(300); // the last batch drained
      });
      rec.load = between(pid, poller, l0, snapshot(pid));
      if (profiling) rec.load.profile = loadProfile;
      rec.load.connections = w.connections;
      rec.load.achievedRate = w.achieved_rate;
      rec.load.events = (await metric(port, 'kubepulse_events_total')) - events0;
      rec.load.dropped = await metric(port, 'kubepulse_events_dropped_total');
    }
    return rec;
  } finally {
    await stop(child, 'SIGTERM', 10000);
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d));
function cell(runs, window, group, field, d) {
  const v = runs.map((r) => r[window]?.[group]?.[field]).filter((x) => x !== undefined);
  const [lo, hi] = minMax(v);
  return v.length > 1 ? `${fmt(median(v), d)} (${fmt(lo, d)}–${fmt(hi, d)})` : fmt(median(v), d);
}

function table(runs) {
  const lines = [];
  for (const window of ['idle', 'load']) {
    if (!runs.some((r) => r[window])) continue;
    const title = window === 'idle' ? `idle, ${IDLE_S} s windows` : `tcp-storm at ${RATE} conn/s, ${LOAD_S} s windows`;
    lines.push(`\n${title} — medians (ranges) of ${ROUNDS} runs per build\n`);
    lines.push('| build | daemon % of a core | JS thread | poll thread | other threads | wake-ups/s: all | JS | poll | other | events/s |');
    lines.push('|---|---|---|---|---|---|---|---|---|---|');
    for (const label of labels) {
      const rs = runs.filter((r) => r.label === label);
      lines.push(
        `| ${label} | ${cell(rs, window, 'total', 'pctCore', 3)} | ${cell(rs, window, 'main', 'pctCore', 3)} | ${cell(rs, window, 'poller', 'pctCore', 3)} | ${cell(rs, window, 'others', 'pctCore', 3)} | ` +
          `${cell(rs, window, 'total', 'wakeupsPerS', 1)} | ${cell(rs, window, 'main', 'wakeupsPerS', 1)} | ${cell(rs, window, 'poller', 'wakeupsPerS', 1)} | ${cell(rs, window, 'others', 'wakeupsPerS', 1)} | ${fmt(median(rs.map((r) => r[window] && r[window].events / r[window].seconds)), 0)} |`,
      );
    }
  }
  return lines.join('\n');
}

async function main() {
  if (process.getuid?.() !== 0) die('needs root (BPF)');
  installCleanup();
  if (opt.profile !== undefined) mkdirSync(resolve(opt.profile), { recursive: true });
  const bin = RATE > 0 && LOAD_S > 0 ? stormBinary() : '';
  const kube = opt['no-kube'] ? null : await startKube({ localPods: 20, services: 5, nodes: 1 });
  const runs = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order = trees.map((t, i) => i);
      if (round % 2 === 1) order.reverse();
      for (const i of order) {
        log(`round ${round + 1}/${ROUNDS}: ${labels[i]}`);
        const rec = await runOnce(kube, trees[i], labels[i], bin);
        rec.round = round;
        rec.loadavg = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
        log(`  idle ${fmt(rec.idle.total.pctCore, 3)} % (JS ${fmt(rec.idle.main.pctCore, 3)}, poll ${fmt(rec.idle.poller.pctCore, 3)}, other ${fmt(rec.idle.others.pctCore, 3)}), ${fmt(rec.idle.total.wakeupsPerS, 1)} wake-ups/s, ${rec.idle.events} foreign events` +
          (rec.load ? `; load ${fmt(rec.load.total.pctCore, 3)} % (JS ${fmt(rec.load.main.pctCore, 3)}, poll ${fmt(rec.load.poller.pctCore, 3)}, other ${fmt(rec.load.others.pctCore, 3)}), ${rec.load.events} events` : '') +
          `; load average ${rec.loadavg}`);
        for (const window of ['idle', 'load']) {
          const p = rec[window]?.profile;
          if (!p) continue;
          if (p.error) log(`  ${window} profile: ${p.error}`);
          else log(`  ${window} profile (${p.file}): busy ${p.busyMs} ms of ${p.wallMs}; ${(p.functions ?? p.topFunctions ?? []).slice(0, 12).map((f) => `${f.name} ${f.ms}`).join('; ')}`);
        }
        runs.push(rec);
      }
    }
  } finally {
    await kube?.stop();
  }
  process.stdout.write(`${table(runs)}\n\n`);
  process.stdout.write(`${JSON.stringify({ rounds: ROUNDS, idleS: IDLE_S, loadS: LOAD_S, rate: RATE, kube: !opt['no-kube'], runs })}\n`);
}

main().catch((err) => {
  process.stderr.write(`daemon-cpu: ${err.stack || err.message}\n`);
  process.exit(1);
});
