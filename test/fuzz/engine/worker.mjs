// One fuzz target, run in a worker thread: replay the seeds, then mutate
// (jsfuzz's mutator) and keep every input that reaches new statements,
// functions or branches (istanbul counters over the instrumented dist/).
//
// The input being run is mirrored into shared memory before each call, so
// that when the main thread has to kill this worker (a hang, or the heap
// limit) it still knows which input did it.

import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

const require = createRequire(import.meta.url);
const { Corpus } = require('jsfuzz/build/src/corpus.js');

const { targetFile, instrumentedDir, seeds, seconds, maxExecs, shared } = workerData;
const header = new Int32Array(shared, 0, 4); // [heartbeat, input length, phase, spare]
const inputBytes = new Uint8Array(shared, 16);

const target = (await import(pathToFileURL(targetFile).href)).default;
// `rel` may list candidates: a module that moved keeps its target working on
// both sides of the move (the first path that exists wins).
const load = (rel) => {
  const candidates = Array.isArray(rel) ? rel : [rel];
  const found = candidates.find((r) => existsSync(join(instrumentedDir, r))) ?? candidates[0];
  return import(pathToFileURL(join(instrumentedDir, found)).href);
};
const run = await target.setup(load);
const maxLength = Math.min(target.maxLength ?? 4096, inputBytes.length);
// Wall time on shared CPUs: a target doing more per input (policy
// generation) states a larger bound.
const slowMs = Math.max(workerData.slowMs, target.slowMs ?? 0);

// Counters never hit so far; an input is kept when it hits one of them.
const coverage = globalThis.__coverage__ ?? {};
let unhit = [];
for (const file of Object.values(coverage)) {
  for (const k of Object.keys(file.s)) unhit.push([file.s, k]);
  for (const k of Object.keys(file.f)) unhit.push([file.f, k]);
  for (const b of Object.values(file.b)) for (let i = 0; i < b.length; i++) unhit.push([b, i]);
}
function newCoverage() {
  const before = unhit.length;
  unhit = unhit.filter(([o, k]) => o[k] === 0);
  return before - unhit.length;
}

/** Covered/total statements and branches of the files the target is about. */
function coverageOf(sources) {
  const totals = { statements: 0, statementsHit: 0, branches: 0, branchesHit: 0, functions: 0, functionsHit: 0 };
  for (const [path, file] of Object.entries(coverage)) {
    if (!sources.some((s) => path.endsWith(join('dist', s)))) continue;
    for (const v of Object.values(file.s)) (totals.statements++, v > 0 && totals.statementsHit++);
    for (const v of Object.values(file.f)) (totals.functions++, v > 0 && totals.functionsHit++);
    for (const b of Object.values(file.b)) for (const v of b) (totals.branches++, v > 0 && totals.branchesHit++);
  }
  return totals;
}

const seen = new Set();
function finding(kind, input, err) {
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const frame = err instanceof Error ? (err.stack ?? '').split('\n').find((l) => l.includes('/dist/')) ?? '' : '';
  // One report per distinct failure, not per input that triggers it.
  const key = `${kind}|${message.split('\n')[0].replace(/\d+/g, 'N').slice(0, 200)}|${frame.replace(/:\d+:\d+\)?$/, '')}`;
  if (seen.has(key)) return;
  seen.add(key);
  parentPort.postMessage({ type: 'finding', kind, message: message.slice(0, 2000), stack: err?.stack?.slice(0, 4000), input });
}

async function exec(input) {
  inputBytes.set(input.subarray(0, inputBytes.length));
  Atomics.store(header, 1, input.length);
  Atomics.add(header, 0, 1);
  const t0 = performance.now();
  try {
    const r = run(input);
    if (r !== undefined && typeof r.then === 'function') await r;
  } catch (err) {
    finding('crash', input, err);
  }
  const ms = performance.now() - t0;
  if (ms > slowMs && (await slowAgain(input))) finding('slow', input, new Error(`one input took ${ms.toFixed(0)} ms, and as long twice more (limit ${slowMs} ms)`));
}

// The CPU is shared and the collector pauses now and then: an input is slow
// only if it stays slow when run again.
async function slowAgain(input) {
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    try {
      const r = run(input);
      if (r !== undefined && typeof r.then === 'function') await r;
    } catch {}
    if (performance.now() - t0 <= slowMs) return false;
  }
  return true;
}

const corpus = new Corpus([], false);
corpus.maxInputSize = maxLength;
let execs = 0;

Atomics.store(header, 2, 1); // replaying
for (const seed of seeds) {
  const input = Buffer.from(seed);
  await exec(input);
  execs++;
  newCoverage();
  corpus.inputs.push(input);
}
if (corpus.inputs.length === 0) corpus.inputs.push(Buffer.alloc(0));
const seedCoverage = coverageOf(target.sources);

Atomics.store(header, 2, 2); // fuzzing
const dictionary = (target.dictionary ?? []).map((d) => Buffer.from(d));
const start = performance.now();
const deadline = start + seconds * 1000;
let lastStats = start;
let added = 0;
while (performance.now() < deadline && execs < maxExecs) {
  const parent = corpus.inputs[corpus.rand(corpus.inputs.length)];
  let input = corpus.mutate(parent);
  // Dictionary tokens (libFuzzer's -dict): field names and keywords that
  // random bytes would take forever to spell.
  if (dictionary.length > 0 && corpus.rand(4) === 0) {
    const word = dictionary[corpus.rand(dictionary.length)];
    const at = corpus.rand(input.length + 1);
    input = Buffer.concat([input.subarray(0, at), word, input.subarray(corpus.rand(2) === 0 ? at : Math.min(input.length, at + word.length))]).subarray(0, maxLength);
  }
  await exec(input);
  execs++;
  if (newCoverage() > 0) {
    corpus.inputs.push(input);
    added++;
    parentPort.postMessage({ type: 'corpus', input });
  }
  const now = performance.now();
  if (now - lastStats > 2000) {
    lastStats = now;
    parentPort.postMessage({ type: 'progress', execs, corpus: corpus.inputs.length });
  }
}
parentPort.postMessage({
  type: 'done',
  execs,
  fuzzSeconds: (performance.now() - start) / 1000,
  corpus: corpus.inputs.length,
  added,
  seedCoverage,
  coverage: coverageOf(target.sources),
});
// A target may hold servers or sockets open; the thread ends here regardless.
process.exit(0);
