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
