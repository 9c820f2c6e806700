// src/bpf/addon.ts and native/bpf_object.cc: reading whole maps from the
// kernel (mapDump, and mapEntries over it) on real maps of the daemon's own
// objects, loaded but not attached.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type BpfObjectHandle, loadAddon, packageRoot } from '../../src/bpf/addon.js';
import { needsBpf } from '../support/privileges.js';

const BPF = join(packageRoot(), 'build', 'bpf');

function open(t: Test, file: string): BpfObjectHandle {
  const object = new (loadAddon().BpfObject)(join(BPF, file));
  object.load();
  t.teardown(() => object.close());
  return object;
}

const asMap = (entries: Array<[Buffer, Buffer]>) => new Map(entries.map(([k, v]) => [k.toString('hex'), v.toString('hex')]));

t.test('a hash map: every entry, empty and full, keys and values as written', needsBpf(), async (t) => {
  const object = open(t, 'syscalls.bpf.o');
  t.same(object.mapEntries('syscall_bits'), [], 'empty');
  t.same(object.mapDump('syscall_bits')[0], 0);
  // Full: 8,192 entries, every hash bucket's neighbours read in batches.
  const written = new Map<string, string>();
  for (let i = 0; i < 8192; i++) {
    const key = randomBytes(8);
    const value = randomBytes(64);
    object.mapUpdate('syscall_bits', key, value);
    written.set(key.toString('hex'), value.toString('hex'));
  }
  const full = object.mapEntries('syscall_bits');
  t.equal(full.length, 8192, 'all 8,192 entries');
  t.same(asMap(full), written, 'each key with its value');
  t.ok(full.every(([k, v]) => k.length === 8 && v.length === 64), 'sizes of the map');

  // Half deleted: the other half, nothing twice.
  let i = 0;
  for (const key of [...written.keys()]) {
    if (i++ % 2 === 0) continue;
    object.mapDelete('syscall_bits', Buffer.from(key, 'hex'));
    written.delete(key);
  }
  const half = object.mapEntries('syscall_bits');
  t.equal(half.length, 4096);
  t.same(asMap(half), written);
  const [count, keys, values] = object.mapDump('syscall_bits');
  t.equal(count, 4096, 'mapDump: the count');
  t.equal(keys.length, 4096 * 8, 'keys packed');
  t.equal(values.length, 4096 * 64, 'values packed');
});

t.test('an LRU hash map and a per-CPU array map', needsBpf(), async (t) => {
  const object = open(t, 'packets.bpf.o');
  const written = new Map<string, string>();
  for (let i = 0; i < 1000; i++) {
    const key = randomBytes(8);
    const value = Buffer.from([i % 2]);
    object.mapUpdate('udp_roles', key, value);
    written.set(key.toString('hex'), value.toString('hex'));
  }
  t.same(asMap(object.mapEntries('udp_roles')), written, 'LRU hash: as written');

  // A per-CPU array has all its indexes, each value one 8-byte slot per possible CPU.
  const cpus = loadAddon().numPossibleCpus();
  const perCpu = Buffer.alloc(8 * cpus);
  for (let c = 0; c < cpus; c++) perCpu.writeBigUInt64LE(BigInt(c + 1) * 1000n, 8 * c);
  object.mapUpdate('flow_overflow', Buffer.alloc(4), perCpu);
  const entries = object.mapEntries('flow_overflow');
  t.equal(entries.length, 1, 'max_entries 1: one index');
  t.same(entries[0]?.[0], Buffer.alloc(4), 'index 0');
  t.same(entries[0]?.[1], perCpu, 'every CPU\'s slot');
  t.same(object.mapLookup('flow_overflow', Buffer.alloc(4)), perCpu, 'as a lookup reads it');
});

t.test('a map that is not there names itself', needsBpf(), async (t) => {
  const object = open(t, 'syscalls.bpf.o');
  t.throws(() => object.mapDump('no_such_map'), /no map no_such_map in .*syscalls\.bpf\.o/);
});
