import t from 'tap';
import { bufferU64, readU64, sumPerCpu, u64Key } from '../src/bytes.js';

t.test('u64 fields, from a DataView and from a Buffer', async (t) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(2n ** 40n + 12345n);
  t.equal(readU64(new DataView(b.buffer, b.byteOffset, 8), 0), 2 ** 40 + 12345);
  t.equal(bufferU64(b, 0), 2 ** 40 + 12345);
  t.same(u64Key(2 ** 40 + 12345), b);
});

t.test('per-CPU sums: one 8-byte slot per possible CPU, no more than given', async (t) => {
  const v = Buffer.alloc(24);
  v.writeBigUInt64LE(3n, 0);
  v.writeBigUInt64LE(4n, 8);
  v.writeBigUInt64LE(100n, 16);
  t.equal(sumPerCpu(v, 2), 7);
  t.equal(sumPerCpu(v, 8), 107, 'a short value stops at its end');
  t.equal(sumPerCpu(null, 2), 0, 'a missing map entry is 0');
});
