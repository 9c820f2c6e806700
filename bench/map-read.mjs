#!/usr/bin/env node
// What reading a whole kernel map costs the daemon's JavaScript thread: the
// flows map (32-byte keys, read every second for the live stream and at
// scrapes) and syscall_bits (8-byte keys, at scrapes), filled to a few sizes
// up to full, read with mapEntries (the addon's batched mapDump, sliced
// here). The daemon's own BPF objects, loaded, not attached. As root after
// `make build`:   node bench/map-read.mjs [--rounds 40]
// `--before DIR`: also an earlier build (DIR holds its dist/ and
// build/Release/kubepulse.node), its reads alternating with this build's
// over the same entries, for the ratio side by side. Prints one JSON object.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './lib/stats.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opt } = parseArgs({ options: { rounds: { type: 'string', default: '40' }, before: { type: 'string' } } });
if (process.getuid?.() !== 0) {
  process.stderr.write('map-read: needs root (loads BPF objects)\n');
  process.exit(1);
}

const MAPS = [
  { object: 'packets.bpf.o', map: 'flows', keySize: 32, valueSize: 24, sizes: [100, 1000, 16384] },
  { object: 'syscalls.bpf.o', map: 'syscall_bits', keySize: 8, valueSize: 64, sizes: [64, 1000, 8192] },
];

async function open(root, file) {
  const { loadAddon } = await import(join(root, 'dist/src/bpf/addon.js'));
  // The BPF objects are this checkout's for both builds: the same maps.
  const object = new (loadAddon().BpfObject)(join(ROOT, 'build/bpf', file));
  object.load();
  return object;
}

const builds = { after: ROOT, ...(opt.before ? { before: resolve(opt.before) } : {}) };
const results = [];
for (const spec of MAPS) {
  const objects = {};
  for (const [name, root] of Object.entries(builds)) objects[name] = await open(root, spec.object);
  for (const size of spec.sizes) {
    for (const object of Object.values(objects)) {
      for (const [k] of object.mapEntries(spec.map)) object.mapDelete(spec.map, k);
      for (let i = 0; i < size; i++) {
        const key = Buffer.alloc(spec.keySize);
        key.writeUInt32LE(i * 2654435761 % 4294967296);
        key.writeUInt32LE(i, 4);
        object.mapUpdate(spec.map, key, Buffer.alloc(spec.valueSize, i & 0xff));
      }
    }
    const times = Object.fromEntries(Object.keys(objects).map((n) => [n, []]));
    const order = Object.keys(objects);
    for (let r = 0; r < Number(opt.rounds); r++) {
      for (const name of r % 2 === 0 ? order : [...order].reverse()) {
        const t0 = performance.now();
        const n = objects[name].mapEntries(spec.map).length;
        times[name].push(performance.now() - t0);
        if (n !== size) throw new Error(`${name}: ${spec.map} read ${n} of ${size} entries`);
      }
    }
    const row = { map: spec.map, entries: size };
    for (const [name, xs] of Object.entries(times)) {
      const ms = median(xs);
      row[name] = { ms: Math.round(ms * 1000) / 1000, usPerEntry: Math.round((ms * 1e4) / size) / 10 };
    }
    if (row.before) row.ratio = Math.round((row.after.ms / row.before.ms) * 1000) / 1000;
    results.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
  for (const object of Object.values(objects)) object.close();
}
console.log(JSON.stringify({ rounds: Number(opt.rounds), results }));
