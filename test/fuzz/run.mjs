#!/usr/bin/env node
// Coverage-guided fuzzing of KubePulse's parsers of outside input, on the
// compiled dist/. Each target (test/fuzz/targets/<name>.mjs) states its
// invariant and throws when it breaks; this runner replays the target's
// committed seeds (test/fuzz/corpus/<name>/), then fuzzes it for --seconds.
//
//   node test/fuzz/run.mjs [--seconds 600] [--jobs 1] [--keep-corpus] [--report build/fuzz/report.md] [target...]
//
// --jobs runs that many targets at once, each in its own worker thread (one
// CPU each): on two CPUs, --jobs 2 halves the wall time; executions per
// second are then per target on a CPU of its own, or less on a busy machine.
//
// A finding (an exception the invariant does not allow, an input slower than
// --slow-ms, a hang, the heap limit) is written to
// build/fuzz/findings/<target>/ and makes the exit status 1. --keep-corpus
// stores inputs that reached new code under build/fuzz/corpus/<name>/ and
// starts from them next time (`make fuzz`); the committed seeds stay small.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { instrumentDist } from './engine/instrument.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const { values, positionals } = parseArgs({
  options: {
    seconds: { type: 'string', default: '600' },
    'max-execs': { type: 'string', default: String(Number.MAX_SAFE_INTEGER) },
    'slow-ms': { type: 'string', default: '250' },
    'hang-ms': { type: 'string', default: '5000' },
    'heap-mb': { type: 'string', default: '256' },
    jobs: { type: 'string', default: '1' },
    'keep-corpus': { type: 'boolean', default: false },
    report: { type: 'string' },
  },
  allowPositionals: true,
});
const seconds = Number(values.seconds);
const hangMs = Number(values['hang-ms']);
const targetsDir = join(here, 'targets');
const all = readdirSync(targetsDir).filter((f) => f.endsWith('.mjs')).map((f) => basename(f, '.mjs')).sort();
const names = positionals.length > 0 ? positionals : all;
for (const n of names) if (!all.includes(n)) throw new Error(`no fuzz target ${n} (have: ${all.join(', ')})`);

const buildDir = join(root, 'build', 'fuzz');
const { out: instrumentedDir, instrumented } = instrumentDist(root, join(buildDir, 'dist'));
if (instrumented > 0) console.log(`instrumented ${instrumented} modules of dist/src`);

const sha = (b) => createHash('sha256').update(b).digest('hex').slice(0, 16);
const readDir = (dir) => (existsSync(dir) ? readdirSync(dir).sort().map((f) => readFileSync(join(dir, f))) : []);
const hex = (b) => Buffer.from(b).toString('hex');

function runTarget(name) {
  const seeds = readDir(join(here, 'corpus', name));
  const keptDir = join(buildDir, 'corpus', name);
  if (values['keep-corpus']) seeds.push(...readDir(keptDir));
  const shared = new SharedArrayBuffer(16 + 65536);
  const header = new Int32Array(shared, 0, 4);
  const findings = [];
  const record = (f) => {
    const dir = join(buildDir, 'findings', name);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${f.kind}-${sha(f.input)}`);
    writeFileSync(file, f.input);
    findings.push({ kind: f.kind, message: f.message, file: file.slice(root.length + 1) });
    console.log(`  FINDING ${name} ${f.kind}: ${f.message}\n    input: ${file}${f.input.length <= 256 ? `\n    hex: ${hex(f.input)}` : ''}`);
    if (f.stack) console.log(f.stack.split('\n').slice(0, 6).map((l) => `    ${l}`).join('\n'));
  };
  const currentInput = () => Buffer.from(new Uint8Array(shared, 16, Math.min(Atomics.load(header, 1), 65536)));

  return new Promise((done) => {
    const started = Date.now();
    const worker = new Worker(join(here, 'engine', 'worker.mjs'), {
      workerData: {
        targetFile: join(targetsDir, `${name}.mjs`),
        instrumentedDir,
        seeds: seeds.map((s) => new Uint8Array(s)),
        seconds,
        maxExecs: Number(values['max-execs']),
        slowMs: Number(values['slow-ms']),
        shared,
      },
      resourceLimits: { maxOldGenerationSizeMb: Number(values['heap-mb']) },
    });
    let result;
    let lastBeat = -1;
    let lastChange = Date.now();
    const watchdog = setInterval(() => {
      const beat = Atomics.load(header, 0);
      if (beat !== lastBeat) {
        lastBeat = beat;
        lastChange = Date.now();
      } else if (Atomics.load(header, 2) > 0 && Date.now() - lastChange > hangMs) {
        record({ kind: 'hang', message: `no progress for ${hangMs} ms on one input`, input: currentInput() });
        void worker.terminate();
      }
    }, 250);
    worker.on('message', (m) => {
      if (m.type === 'finding') record({ ...m, input: Buffer.from(m.input) });
      else if (m.type === 'corpus' && values['keep-corpus']) {
        mkdirSync(keptDir, { recursive: true });
        writeFileSync(join(keptDir, sha(m.input)), m.input);
      } else if (m.type === 'done') result = m;
    });
    worker.on('error', (err) => {
      // Out of heap, or an exception thrown outside the call (a timer, a promise nobody awaited).
      record({ kind: err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'oom' : 'crash', message: String(err), stack: err.stack, input: currentInput() });
    });
    worker.on('exit', () => {
      clearInterval(watchdog);
      done({ name, seeds: seeds.length, wallSeconds: (Date.now() - started) / 1000, result, findings });
    });
  });
}

const pct = (hit, total) => (total === 0 ? '—' : `${((100 * hit) / total).toFixed(1)}%`);
async function fuzzOne(name) {
  console.log(`fuzz ${name}: ${seconds} s`);
  const r = await runTarget(name);
  const res = r.result;
  if (res) {
    const c = res.coverage;
    console.log(
      `  ${name}: ${res.execs} execs (${Math.round(res.execs / Math.max(res.fuzzSeconds, 0.001))}/s), corpus ${r.seeds} seeds + ${res.added} new, ` +
        `statements ${c.statementsHit}/${c.statements} (${pct(c.statementsHit, c.statements)}), branches ${c.branchesHit}/${c.branches} (${pct(c.branchesHit, c.branches)}), ` +
        `findings ${r.findings.length}`,
    );
  } else console.log(`  ${name}: stopped early, findings ${r.findings.length}`);
  return r;
}

const jobs = Math.max(1, Math.min(Number(values.jobs) || 1, names.length));
const rows = [];
const queue = [...names];
await Promise.all(Array.from({ length: jobs }, async () => {
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) rows.push(await fuzzOne(name));
}));
rows.sort((a, b) => a.name.localeCompare(b.name));

const table = [
  '| target | seconds | executions | exec/s | corpus (seeds + new) | statements covered | branches covered | findings |',
  '|---|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => {
    const x = r.result;
    if (!x) return `| ${r.name} | ${r.wallSeconds.toFixed(0)} | — | — | — | — | — | ${r.findings.length} |`;
    const c = x.coverage;
    const s = x.seedCoverage;
    return `| ${r.name} | ${x.fuzzSeconds.toFixed(0)} | ${x.execs} | ${Math.round(x.execs / Math.max(x.fuzzSeconds, 0.001))} | ${r.seeds} + ${x.added} | ${c.statementsHit}/${c.statements} (${pct(c.statementsHit, c.statements)}; seeds ${pct(s.statementsHit, s.statements)}) | ${c.branchesHit}/${c.branches} (${pct(c.branchesHit, c.branches)}; seeds ${pct(s.branchesHit, s.branches)}) | ${r.findings.length} |`;
  }),
].join('\n');
console.log(`\n${table}`);
if (values.report) {
  mkdirSync(dirname(resolve(values.report)), { recursive: true });
  writeFileSync(values.report, `${table}\n`);
  writeFileSync(values.report.replace(/\.md$/, '') + '.json', JSON.stringify(rows, null, 2));
}
const total = rows.reduce((n, r) => n + r.findings.length, 0);
if (total > 0) console.log(`${total} finding(s): inputs under build/fuzz/findings/`);
process.exit(total > 0 ? 1 : 0);
