// The scratch that turns a stream batch into one Buffer: the same bytes as
// the text, for any mix of sizes and characters, and nothing carried over.
import t from 'tap';
import { ScratchBytes } from '../../src/stream/scratch-bytes.js';

t.test('the bytes of what was appended, UTF-8, across growth', async (t) => {
  const s = new ScratchBytes();
  const pieces = ['id: 1\ndata: {}\n\n', 'é ✓ 😀 \u0000', 'x'.repeat(70_000), '✓'.repeat(40_000), ''];
  for (const p of pieces) s.append(p);
  const out = s.take();
  t.same(out, Buffer.from(pieces.join(''), 'utf8'));
});

t.test('take starts over and hands out a copy', async (t) => {
  const s = new ScratchBytes();
  s.append('first');
  const a = s.take();
  s.append('second');
  const b = s.take();
  t.equal(a.toString(), 'first', 'the first batch is not overwritten by the second');
  t.equal(b.toString(), 'second');
  t.equal(s.take().length, 0, 'nothing carried over');
});

t.test('whole numbers as `${n}` spells them, and bytes as they are, across growth', async (t) => {
  const s = new ScratchBytes();
  const numbers = [0, -0, 7, 9, 10, 99, 100, 123456789, 2 ** 32, 1e15, Number.MAX_SAFE_INTEGER];
  for (let i = 0; i < 20_000; i++) numbers.push(Math.floor(Math.random() * 2 ** (1 + (i % 53))));
  let want = '';
  const bytes = Buffer.from('ü-{"x"} ');
  for (const n of numbers) {
    s.appendUint(n);
    s.appendBytes(bytes);
    want += `${n}${bytes.toString()}`;
  }
  t.equal(s.take().toString('utf8'), want);
});

t.test('truncate forgets the end, never grows', async (t) => {
  const s = new ScratchBytes();
  s.append('abcdef');
  s.truncate(4);
  s.truncate(10);
  s.append('!');
  t.equal(s.take().toString(), 'abcd!');
});
