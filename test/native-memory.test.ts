// The once-a-minute malloc_trim: the real addon, in a process of its own
// whose worker thread left tens of MiB free in its glibc arena.
import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../src/bpf/addon.js';
import { SILENT_LOGGER } from '../src/log.js';
import { NativeMemoryTrim } from '../src/native-memory.js';

const run = promisify(execFile);

// A worker allocates 1,200 Buffers of 48 KiB (below glibc's mmap threshold,
// so from the worker's arena) and frees all but every 50th, which keeps the
// arena's top in use: freed, but not given back. Then the addon trims.
const CHILD = `
import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const addon = createRequire(import.meta.url)(process.argv[1]);
const rssMiB = () => Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096 / 2 ** 20;
const worker = new Worker(\`
  const { parentPort } = require('node:worker_threads');
  let keep = [];
  for (let i = 0; i < 1200; i++) keep.push(Buffer.alloc(48 * 1024, 1));
  keep = keep.filter((_, i) => i % 50 === 49);
  // A full collection now, so the dropped Buffers are freed before the trim.
  require('node:v8').setFlagsFromString('--expose-gc');
  require('node:vm').runInNewContext('gc')();
  parentPort.postMessage('freed');
  setInterval(() => keep.length, 1000);
\`, { eval: true, execArgv: [] });
await new Promise((r) => worker.once('message', r));
const before = rssMiB();
const released = await addon.trimNativeMemory();
const after = rssMiB();
await worker.terminate();
console.log(JSON.stringify({ before, after, released }));
`;

t.test('trimNativeMemory gives a worker thread\'s freed arena memory back to the system', { skip: process.platform !== 'linux' ? 'glibc arenas: Linux only' : false }, async (t) => {
  const addonPath = join(packageRoot(), 'build', 'Release', 'kubepulse.node');
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', CHILD, addonPath]);
  const { before, after, released } = JSON.parse(stdout) as { before: number; after: number; released: boolean };
  t.comment(`RSS ${before.toFixed(1)} → ${after.toFixed(1)} MiB`);
  t.equal(released, true, 'the C library released memory');
  t.ok(before - after >= 20, `RSS fell by ${(before - after).toFixed(1)} MiB (≥ 20 of the ~55 freed)`);
});

t.test('a trim never overlaps the one before; a failing trim is a warning, not a crash', async (t) => {
  let calls = 0;
  let finish: (v: boolean) => void = () => {};
  const warnings: string[] = [];
  const log = { ...SILENT_LOGGER, warn: (msg: string) => void warnings.push(msg) };
  const trim = new NativeMemoryTrim({ trimNativeMemory: () => (calls++, new Promise<boolean>((r) => (finish = r))) }, log);
  const first = trim.trimNow();
  t.equal(await trim.trimNow(), false, 'asked again while the first runs: skipped');
  t.equal(calls, 1);
  finish(true);
  t.equal(await first, true);
  const failing = new NativeMemoryTrim({ trimNativeMemory: () => Promise.reject(new Error('no')) }, log);
  t.equal(await failing.trimNow(), false);
  t.same(warnings, ['cannot trim native memory']);
});
