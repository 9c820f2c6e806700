import t from 'tap';
import { syscallName, syscallNumbers } from '../../../src/probes/syscalls/collector.js';

t.test('bitmap words → syscall numbers', async (t) => {
  const bits = Buffer.alloc(64);
  const set = (nr: number): void => {
    const word = Math.floor(nr / 64);
    const bit = nr % 64;
    const at = word * 8 + (bit >= 32 ? 4 : 0);
    bits.writeUInt32LE((bits.readUInt32LE(at) | (1 << bit % 32)) >>> 0, at);
  };
  for (const nr of [0, 1, 31, 32, 59, 63, 64, 231, 450, 511]) set(nr);
  t.same(syscallNumbers(bits), [0, 1, 31, 32, 59, 63, 64, 231, 450, 511]);
  t.same(syscallNumbers(Buffer.alloc(64)), []);
});

t.test('names', async (t) => {
  const { syscallTable } = await import('../../../src/policy/syscall-table.js');
  const x86 = syscallTable('x86_64');
  t.equal(syscallName(0, x86), 'read');
  t.equal(syscallName(1, x86), 'write');
  t.equal(syscallName(59, x86), 'execve');
  t.equal(syscallName(231, x86), 'exit_group');
  t.equal(syscallName(511, x86), 'syscall_511', 'numbers newer than the table keep a name');
  t.equal(syscallName(59, undefined), 'syscall_59', 'an architecture without a table names numbers only');
});

const setBits = (numbers: number[]): Buffer => {
  const bits = Buffer.alloc(64);
  for (const nr of numbers) {
    const at = Math.floor(nr / 64) * 8 + (nr % 64 >= 32 ? 4 : 0);
    bits.writeUInt32LE((bits.readUInt32LE(at) | (1 << nr % 32)) >>> 0, at);
  }
  return bits;
};

// The same bitmap read on an arm64 node and on an x86_64 node: the numbers
// are the kernel's of that node, so the names must come from its table.
t.test('an arm64 node names its numbers with the arm64 table', async (t) => {
  const { Registry } = await import('prom-client');
  const { SyscallsCollector } = await import('../../../src/probes/syscalls/collector.js');
  const { PodIndex } = await import('../../../src/metadata/pod-index.js');
  const key = Buffer.alloc(8);
  key.writeBigUInt64LE(7n);
  const bits = setBits([56, 57, 63, 64, 93, 221]);
  const resolver = { resolve: () => ({ namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'uid-1' }) };
  const snapshotOn = (arch: string) => {
    const collector = new SyscallsCollector(new Registry(), resolver, new PodIndex(), { node: 'n', arch });
    collector.attach({ mapEntries: () => [[key, bits]] } as never);
    return collector.snapshot();
  };
  const arm = snapshotOn('aarch64');
  t.equal(arm.arch, 'aarch64', 'the API says which architecture the numbers are of');
  t.same(arm.containers[0]?.syscalls, ['openat', 'close', 'read', 'write', 'exit', 'execve']);
  const x86 = snapshotOn('x86_64');
  t.equal(x86.arch, 'x86_64');
  t.same(x86.containers[0]?.syscalls, ['clone', 'fork', 'uname', 'semget', 'fchown', 'fadvise64']);
});

t.test('the daemon reports its own architecture, spelled as uname -m does', async (t) => {
  const { Registry } = await import('prom-client');
  const { SyscallsCollector } = await import('../../../src/probes/syscalls/collector.js');
  const { PodIndex } = await import('../../../src/metadata/pod-index.js');
  const { HOST_IDENTITY } = await import('../../../src/metadata/resolver.js');
  const { execFileSync } = await import('node:child_process');
  const collector = new SyscallsCollector(new Registry(), { resolve: () => HOST_IDENTITY }, new PodIndex(), { node: 'n' });
  t.equal(collector.snapshot().arch, execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim());
});

/** A syscall_bits key: the cgroup ID, u64 little-endian. */
function key(id: number): Buffer {
  const k = Buffer.alloc(8);
  k.writeBigUInt64LE(BigInt(id));
  return k;
}

/** A syscall_bits value with one bit set: write (1). */
function writeOnly(): Buffer {
  const bits = Buffer.alloc(64);
  bits.writeUInt32LE(1 << 1, 0);
  return bits;
}

t.test('the API lists containers of known pods only', async (t) => {
  const { Registry } = await import('prom-client');
  const { SyscallsCollector } = await import('../../../src/probes/syscalls/collector.js');
  const { PodIndex } = await import('../../../src/metadata/pod-index.js');
  const { HOST_IDENTITY } = await import('../../../src/metadata/resolver.js');
  const bits = writeOnly();
  const known = { namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'uid-1' };
  const resolver = { resolve: (_: number, cgroupId: number) => (cgroupId === 1 ? known : { ...HOST_IDENTITY, podUid: 'not-known-yet' }) };
  const collector = new SyscallsCollector(new Registry(), resolver, new PodIndex(), { node: 'n' });
  const entries: Array<[Buffer, Buffer]> = [[key(1), bits], [key(2), bits]];
  collector.attach({ mapEntries: () => entries } as never);
  collector.stop();
  const snap = collector.snapshot();
  t.same(snap.containers.map((c) => `${c.namespace}/${c.pod}/${c.container}: ${c.syscalls.join(',')}`), ['shop/web-1/app: write'], "the unknown pod's container is left out");
});

t.test("a deleted pod's late syscalls leave the kernel map; an unknown pod's stay", async (t) => {
  const { Registry } = await import('prom-client');
  const { SyscallsCollector } = await import('../../../src/probes/syscalls/collector.js');
  const { PodIndex } = await import('../../../src/metadata/pod-index.js');
  const { HOST_IDENTITY } = await import('../../../src/metadata/resolver.js');
  const bits = writeOnly();
  const live = { namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'uid-1' };
  let deleted = false;
  // cgroup 1: uid-1's container (unknown to the resolver once deleted); 2: a pod the watch never knew.
  const resolver = {
    resolve: (_: number, cgroupId: number) =>
      cgroupId === 1 ? (deleted ? { ...HOST_IDENTITY, podUid: 'uid-1' } : live) : { ...HOST_IDENTITY, podUid: 'not-known-yet' },
  };
  const collector = new SyscallsCollector(new Registry(), resolver, new PodIndex(), { node: 'n' });
  const kernel = new Map<string, Buffer>([
    [key(1).toString('hex'), bits],
    [key(2).toString('hex'), bits],
  ]);
  const object = {
    mapEntries: () => [...kernel].map(([k, v]) => [Buffer.from(k, 'hex'), v]),
    mapDelete: (_map: string, k: Buffer) => kernel.delete(k.toString('hex')),
  };
  collector.attach(object as never);
  collector.stop();
  t.equal(collector.read().length, 2);
  deleted = true;
  collector.podGone('uid-1');
  t.notOk(kernel.has(key(1).toString('hex')), 'podGone empties its cgroups');
  // The dying container's exit lands after podGone.
  kernel.set(key(1).toString('hex'), bits);
  t.same(
    collector.read().map((c) => c.cgroupId),
    [2],
    'not reported',
  );
  t.same([...kernel.keys()], [key(2).toString('hex')], "the deleted pod's entry is gone from the kernel map, the unknown pod's kept");
});

t.test('one scrape walks the kernel map once; the next turn of the event loop walks it again', async (t) => {
  const { Registry } = await import('prom-client');
  const { SyscallsCollector } = await import('../../../src/probes/syscalls/collector.js');
  const { PodIndex } = await import('../../../src/metadata/pod-index.js');
  const known = { namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'uid-1' };
  const registry = new Registry();
  const collector = new SyscallsCollector(registry, { resolve: () => known }, new PodIndex(), { node: 'n' });
  let walks = 0;
  const entries: Array<[Buffer, Buffer]> = [[key(1), writeOnly()]];
  collector.attach({ mapEntries: () => (walks++, entries), mapDelete: () => true } as never);
  collector.stop();
  t.equal(walks, 0, 'attaching reads nothing');
  const first = collector.read();
  t.equal(collector.read(), first, 'asked twice in one pass: the same answer');
  t.equal(walks, 1);
  await new Promise((resolve) => setImmediate(resolve));
  entries.push([key(2), writeOnly()]);
  t.equal(collector.read().length, 2, 'a later pass sees what the kernel added since');
  t.equal(walks, 2);
  collector.podGone('uid-1');
  collector.read();
  t.equal(walks, 3, 'a pod deleted in between is not answered from the old walk');
  // The daemon's scrape: the observed gauge and seccomp drift both ask.
  const { SeccompDriftTracker } = await import('../../../src/drift/seccomp-drift.js');
  const { scrapeBody } = await import('../../../src/metrics/scrape-body.js');
  new SeccompDriftTracker({ registry, pods: new PodIndex(), seccompRoot: t.testdir(), exportedProfiles: undefined, arch: 'x86_64', log: { warn: () => {} } as never, containers: () => collector.read() });
  await new Promise((resolve) => setImmediate(resolve));
  walks = 0;
  const page = (await scrapeBody(registry)).toString();
  t.match(page, /kubepulse_syscalls_observed\{namespace="shop",workload="web",pod="web-1",container="app"\} 1/);
  t.match(page, /# TYPE kubepulse_seccomp_drift_syscalls gauge/);
  t.equal(walks, 1, 'a scrape walks the map once');
});

t.test("a container's names are decoded again only when its bits change", async (t) => {
  const { Registry } = await import('prom-client');
  const { SyscallsCollector } = await import('../../../src/probes/syscalls/collector.js');
  const { PodIndex } = await import('../../../src/metadata/pod-index.js');
  const known = { namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'uid-1' };
  const collector = new SyscallsCollector(new Registry(), { resolve: () => known }, new PodIndex(), { node: 'n', arch: 'x86_64' });
  const bits = writeOnly();
  let entries: Array<[Buffer, Buffer]> = [[key(1), Buffer.from(bits)]];
  collector.attach({ mapEntries: () => entries, mapDelete: () => true } as never);
  collector.stop();
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  const first = collector.read()[0]?.syscalls;
  t.same(first, ['write']);
  await turn();
  t.equal(collector.read()[0]?.syscalls, first, 'the same bits (a new Buffer of them): the same names, not decoded again');
  t.throws(() => (first as string[]).push('x'), TypeError, 'shared, so frozen');
  bits.writeUInt32LE((1 << 1) | (1 << 0), 0);
  entries = [[key(1), Buffer.from(bits)]];
  await turn();
  t.same(collector.read()[0]?.syscalls, ['read', 'write'], 'a new bit: decoded again');
  entries = [];
  await turn();
  collector.read();
  entries = [[key(1), writeOnly()]];
  await turn();
  t.same(collector.read()[0]?.syscalls, ['write'], 'a container gone and back (a reused cgroup id): its own bits, nothing remembered');
});
