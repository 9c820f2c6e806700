#!/usr/bin/env node
// What the live stream (/api/v1/events) costs the daemon (issue 13): daemon CPU under a
// 10k conn/s loopback storm with the history off and no subscriber (nothing per event),
// the default history (10,000 events) and no subscriber, and 1 and 10 subscribers that
// read every event. Configurations alternate within each repetition, so a noisy neighbour
// on the shared machine hits all of them alike; figures are medians. Run as root after
// `make build`:   node bench/stream-cost.mjs [--reps 3] [--duration 3] [--rate 10000]
// `--before PATH/dist/cmd/kubepulse.js` adds an earlier build's daemon, its runs interleaved
// with this build's (build × configuration alternate within each repetition), for ratios
// side by side. Prints one JSON object (the last line); bench/run.mjs runs it and adds a table.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuSeconds, memory } from './lib/proc.mjs';
import { installCleanup, spawnTracked, stop } from './lib/children.mjs';
import { median } from './lib/stats.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const DAEMON = join(resolve(BENCH, '..'), 'dist/cmd/kubepulse.js');

export const CONFIGS = [
  { name: 'history off, no subscriber', args: ['--api.history', '0'], subscribers: 0 },
  { name: 'history 10k, no subscriber', args: [], subscribers: 0 },
  { name: 'history 10k, 1 subscriber', args: [], subscribers: 1 },
  { name: 'history 10k, 10 subscribers', args: [], subscribers: 10 },
];

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

async function waitReady(port, child) {
  for (const t0 = Date.now(); Date.now() - t0 < 30000; await sleep(50)) {
    if (child.exitCode !== null) throw new Error(`daemon exited ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) return;
  }
  throw new Error('daemon not ready after 30 s');
}

/** A subscriber that reads everything and counts events (≈: an `id:` split across chunks is missed) and drops. */
function subscribe(port, path) {
  const s = { events: 0, missed: 0, lastAt: Date.now(), socket: connect(port, '127.0.0.1') };
  s.socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
  s.socket.setEncoding('latin1').on('data', (d) => {
    s.lastAt = Date.now();
    for (let i = d.indexOf('\nid: '); i >= 0; i = d.indexOf('\nid: ', i + 5)) s.events++;
    const m = /"missed":(\d+)/.exec(d);
    if (m) s.missed += Number(m[1]);
  });
  s.socket.on('error', () => {});
  return s;
}

/** The storm runs beside the subscribers (asynchronously: they must keep reading meanwhile). */
function storm(bin, rate, seconds, port) {
  return new Promise((res, rej) => {
    const child = spawnTracked(bin, ['--rate', String(rate), '--duration', String(seconds), '--threads', '2', '--port', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) => (code === 0 ? res(JSON.parse(out)) : rej(new Error(`tcp-storm exited ${code}`))));
  });
}

/** Until every subscriber has had nothing for 500 ms (at most 10 s): what was sent is counted. */
async function drained(subs) {
  for (const t0 = Date.now(); Date.now() - t0 < 10000; await sleep(100)) if (subs.every((x) => Date.now() - x.lastAt > 500)) return;
}

async function runOnce(config, opts, daemon = DAEMON) {
  const port = await freePort();
  const stormPort = await freePort();
  const child = spawnTracked(process.execPath, [daemon, '--port', String(port), '--listen-address', '127.0.0.1', '--probes', 'tcp', '--log-level', 'warn', ...config.args], { stdio: 'ignore' });
  try {
    await waitReady(port, child);
    const subs = Array.from({ length: config.subscribers }, () => subscribe(port, `/api/v1/events?type=tcp&peer=:${stormPort}`));
    await sleep(500);
    const cpu0 = cpuSeconds(child.pid);
    const t0 = process.hrtime.bigint();
    const s = await storm(opts.bin, opts.rate, opts.duration, stormPort);
    // CPU % is the work the storm caused (including what the daemon still
    // sends once the storm is over) over the storm's own duration.
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    await sleep(300); // the last batch (the poller gathers 100 ms)
    await drained(subs);
    const cpu = cpuSeconds(child.pid) - cpu0;
    const mem = memory(child.pid);
    for (const x of subs) x.socket.destroy();
    return {
      config: config.name,
      connections: s.connections,
      achievedRate: s.achieved_rate,
      cpuPctCore: (100 * cpu) / wall,
      cpuUsPerConn: (cpu * 1e6) / s.connections,
      rssMiB: mem.rss / 1048576,
      delivered: subs.map((x) => x.events),
      missed: subs.reduce((a, x) => a + x.missed, 0),
    };
  } finally {
    await stop(child, 'SIGTERM', 10000);
  }
}

export async function measureStreamCost(opts) {
  const runs = [];
  const builds = opts.before ? [['before', opts.before], ['after', DAEMON]] : [['after', DAEMON]];
  for (let rep = 1; rep <= opts.reps; rep++)
    for (const config of CONFIGS)
      for (const [build, daemon] of builds) {
        const r = await runOnce(config, opts, daemon);
        runs.push({ rep, build, ...r });
        opts.log?.(`  stream ${opts.before ? `${build}, ` : ''}${config.name} rep ${rep}: ${r.achievedRate.toFixed(0)} conn/s, daemon ${r.cpuPctCore.toFixed(1)}% of a core, ${r.cpuUsPerConn.toFixed(1)} µs/conn`);
      }
  const summary = builds.flatMap(([build]) => CONFIGS.map((c) => {
    const mine = runs.filter((r) => r.config === c.name && r.build === build);
    return {
      ...(opts.before ? { build } : {}),
      config: c.name,
      subscribers: c.subscribers,
      achievedRate: median(mine.map((r) => r.achievedRate)),
      cpuPctCore: median(mine.map((r) => r.cpuPctCore)),
      cpuUsPerConn: median(mine.map((r) => r.cpuUsPerConn)),
      rssMiB: median(mine.map((r) => r.rssMiB)),
      deliveredPerSubscriber: median(mine.flatMap((r) => r.delivered)),
      missed: mine.reduce((a, r) => a + r.missed, 0),
    };
  }));
  return { rate: opts.rate, durationS: opts.duration, reps: opts.reps, summary, runs };
}

export function renderStreamCost(result) {
  if (!result || result.error) return `\n## Live stream cost\n\nnot measured: ${result?.error ?? 'skipped'}\n`;
  const base = result.summary[0].cpuUsPerConn;
  const rows = result.summary.map((s) =>
    `| ${s.build ? `${s.build}: ` : ''}${s.config} | ${s.achievedRate.toFixed(0)} | ${s.cpuPctCore.toFixed(1)} % | ${s.cpuUsPerConn.toFixed(1)} µs | ${(s.cpuUsPerConn / base).toFixed(2)}× | ${s.rssMiB.toFixed(0)} MiB | ${s.subscribers ? `${s.deliveredPerSubscriber} (missed ${s.missed})` : '-'} |`);
  return [
    '',
    `## Live stream cost (${result.rate} conn/s target, ${result.durationS} s × ${result.reps}, medians)`,
    '',
    `| configuration | conn/s | daemon CPU | per connection | vs ${result.summary[0].build ? `${result.summary[0].build}, ` : ''}history off | RSS | events per subscriber |`,
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { before: { type: 'string' }, reps: { type: 'string', default: '3' }, duration: { type: 'string', default: '3' }, rate: { type: 'string', default: '10000' }, bin: { type: 'string' }, markdown: { type: 'boolean', default: false } } });
  if (process.getuid?.() !== 0) throw new Error('needs root (the daemon loads BPF)');
  if (!existsSync(DAEMON)) throw new Error(`${DAEMON} not built (make build)`);
  installCleanup();
  let bin = values.bin;
  if (!bin) {
    bin = join(mkdtempSync(join(tmpdir(), 'kubepulse-stream-bench-')), 'tcp-storm');
    execFileSync('cc', ['-O2', '-pthread', '-o', bin, join(BENCH, 'tcp-storm.c')], { stdio: 'inherit' });
  }
  if (values.before && !existsSync(values.before)) throw new Error(`--before ${values.before}: no such daemon`);
  const result = await measureStreamCost({ before: values.before, reps: Number(values.reps), duration: Number(values.duration), rate: Number(values.rate), bin, log: (l) => process.stderr.write(l + '\n') });
  if (values.markdown) process.stderr.write(renderStreamCost(result));
  process.stdout.write(JSON.stringify(result) + '\n');
}
