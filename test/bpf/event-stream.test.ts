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

t.test('a held record waits, with every record after it, in order; the bound ends the wait', async (t) => {
  const { EventHold, holdable } = await import('../../src/bpf/event-hold.js');
  const clock = { now: 0 };
  let waiting = true;
  const seen: number[] = [];
  const stream = new EventStream(
    new Map([
      [
        1,
        (v: DataView, at: number) => {
          const tag = v.getUint8(at + 8);
          // Tag 2 needs something not there yet (a pod the watch has not delivered).
          if (tag === 2 && waiting && holdable()) throw new EventHold('test');
          seen.push(tag);
        },
      ],
    ]),
    { retryMs: 5, maxHoldMs: 1000, now: () => clock.now },
  );
  stream.dispatch(frame([record(1, 16, 1), record(1, 16, 2), record(1, 16, 3)]));
  stream.dispatch(frame([record(1, 16, 4)]));
  t.same(seen, [1], 'the record that asked and everything after it wait');
  t.equal(stream.heldBatches, 2);
  t.equal(stream.stats.held, 1);
  t.equal(holdable(), false, 'holding is allowed only inside a dispatch');
  await new Promise((r) => setTimeout(r, 30));
  t.same(seen, [1], 'retries keep holding while the handler asks');
  waiting = false;
  stream.retryHeld();
  t.same(seen, [1, 2, 3, 4], 'once it can answer, all of it, in order');
  t.equal(stream.heldBatches, 0);
  t.equal(stream.stats.received.get(1), 4, 'each record counted once');
  t.equal(stream.stats.batches, 2);

  // A wait that outlasts the bound ends with holding off.
  waiting = true;
  stream.dispatch(frame([record(1, 16, 2), record(1, 16, 5)]));
  t.same(seen, [1, 2, 3, 4]);
  clock.now += 1000;
  await new Promise((r) => setTimeout(r, 30));
  t.same(seen, [1, 2, 3, 4, 2, 5], 'handed over without holding after maxHoldMs');
  t.equal(stream.stats.holdsForced, 1);

  // stop() hands over whatever is held.
  stream.dispatch(frame([record(1, 16, 2), record(1, 16, 6)]));
  stream.stop();
  t.same(seen.slice(-2), [2, 6], 'nothing is lost at stop');
});

t.test('too many held batches end the hold', async (t) => {
  const { EventHold, holdable } = await import('../../src/bpf/event-hold.js');
  const seen: number[] = [];
  const stream = new EventStream(
    new Map([
      [
        1,
        (v: DataView, at: number) => {
          if (holdable()) throw new EventHold('test');
          seen.push(v.getUint8(at + 8));
        },
      ],
    ]),
    { retryMs: 1000, maxHeldBatches: 3 },
  );
  for (let i = 1; i <= 4; i++) stream.dispatch(frame([record(1, 16, i)]));
  t.same(seen, [1, 2, 3, 4], 'the fourth held batch releases all, in order');
  t.equal(stream.heldBatches, 0);
  stream.stop();
});
