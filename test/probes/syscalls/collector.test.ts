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
