import t from 'tap';
import { EventStream } from '../../src/bpf/event-stream.js';
import { frame } from '../support/batches.js';

function record(type: number, size: number, fill: number): Buffer {
  const b = Buffer.alloc(size, fill);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(size, 4);
  return b;
}

t.test('dispatches every record to its type handler, in order', async (t) => {
  const seen: Array<[number, number, number]> = [];
  const stream = new EventStream(
    new Map([
      [1, (v: DataView, at: number, len: number) => seen.push([1, len, v.getUint8(at + 8)])],
      [2, (v: DataView, at: number, len: number) => seen.push([2, len, v.getUint8(at + 8)])],
    ]),
  );
  stream.dispatch(frame([record(1, 64, 7), record(2, 13, 9), record(1, 64, 8)]));
  t.same(seen, [
    [1, 64, 7],
    [2, 13, 9],
    [1, 64, 8],
  ]);
  t.equal(stream.stats.received.get(1), 2);
  t.equal(stream.stats.received.get(2), 1);
  t.equal(stream.stats.malformed, 0);
});

t.test('unknown types and truncated frames are counted, not fatal', async (t) => {
  let handled = 0;
  const stream = new EventStream(new Map([[1, () => void handled++]]));
  const good = frame([record(1, 64, 0), record(99, 16, 0), record(1, 64, 0)]);
  stream.dispatch(good);
  t.equal(handled, 2);
  t.equal(stream.stats.malformed, 1);
  // A frame claiming more bytes than the batch holds ends the batch.
  const broken = Buffer.concat([frame([record(1, 64, 0)]), Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 1, 2])]);
  stream.dispatch(broken);
  t.equal(handled, 3);
  t.equal(stream.stats.malformed, 2);
});

t.test("the poll thread's failure is kept and reported once; batches before it are dispatched", async (t) => {
  let onBatch: ((batch: Buffer | null, error?: Error) => void) | undefined;
  const addon = {
    EventPoller: class {
      constructor(_sources: unknown, cb: typeof onBatch) {
        onBatch = cb;
      }
      start(): void {}
      stop(): void {}
    },
  };
  const failures: Error[] = [];
  let handled = 0;
  const stream = new EventStream(new Map([[1, () => void handled++]]), { onFailure: (e) => failures.push(e) });
  stream.start(addon as never, [{ streams: true, object: {} } as never]);
  t.equal(stream.failure, undefined);
  onBatch!(frame([record(1, 64, 0)]));
  onBatch!(null, new Error('ring buffer poll failed: Invalid argument'));
  t.equal(handled, 1);
  t.equal(stream.failure?.message, 'ring buffer poll failed: Invalid argument');
  t.same(failures.map((e) => e.message), ['ring buffer poll failed: Invalid argument']);
});
