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
  t.equal(syscallName(0), 'read');
  t.equal(syscallName(1), 'write');
  t.equal(syscallName(59), 'execve');
  t.equal(syscallName(231), 'exit_group');
  t.equal(syscallName(511), 'syscall_511', 'numbers newer than the table keep a name');
});

t.test('the API lists containers of known pods only', async (t) => {
  const { Registry } = await import('prom-client');
  const { SyscallsCollector } = await import('../../../src/probes/syscalls/collector.js');
  const { PodIndex } = await import('../../../src/metadata/pod-index.js');
  const { HOST_IDENTITY } = await import('../../../src/metadata/resolver.js');
  const key = (id: number) => {
    const k = Buffer.alloc(8);
    k.writeBigUInt64LE(BigInt(id));
    return k;
  };
  const bits = Buffer.alloc(64);
  bits.writeUInt32LE(1 << 1, 0); // write
  const known = { namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: 'uid-1' };
  const resolver = { resolve: (_: number, cgroupId: number) => (cgroupId === 1 ? known : { ...HOST_IDENTITY, podUid: 'not-known-yet' }) };
  const collector = new SyscallsCollector(new Registry(), resolver, new PodIndex(), { node: 'n' });
  const entries: Array<[Buffer, Buffer]> = [[key(1), bits], [key(2), bits]];
  collector.attach({ mapEntries: () => entries } as never);
  collector.stop();
  const snap = collector.snapshot();
  t.same(snap.containers.map((c) => `${c.namespace}/${c.pod}/${c.container}: ${c.syscalls.join(',')}`), ['shop/web-1/app: write'], "the unknown pod's container is left out");
});
