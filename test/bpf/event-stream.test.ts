import t from 'tap';
import { EventStream, RECORD_CGROUP_OFFSET } from '../../src/bpf/event-stream.js';
import { DNS_EVENT_LAYOUT } from '../../src/probes/dns/event.js';
import { TCP_EVENT_LAYOUT } from '../../src/probes/tcp/event.js';
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

/** A record of `cgroup` tagged `tag` (byte 8), as every event type lays them out: cgroup id at byte 16. */
function ofCgroup(cgroup: number, tag: number): Buffer {
  const b = record(1, 24, 0);
  b.writeUInt8(tag, 8);
  b.writeBigUInt64LE(BigInt(cgroup), RECORD_CGROUP_OFFSET);
  return b;
}

t.test('every event type keeps its cgroup id where holds look for it', async (t) => {
  t.equal(TCP_EVENT_LAYOUT.offsets.cgroup_id, RECORD_CGROUP_OFFSET, 'TCP');
  t.equal(DNS_EVENT_LAYOUT.offsets.cgroup_id, RECORD_CGROUP_OFFSET, 'DNS');
});

t.test("a held record waits with every later record of its cgroup, in order; other cgroups' records go on; the bound ends the wait", async (t) => {
  const { EventHold, holdable } = await import('../../src/bpf/event-hold.js');
  const clock = { now: 0 };
  const waiting = new Set([7]); // cgroups whose pod has not arrived
  const seen: string[] = [];
  const stream = new EventStream(
    new Map([
      [
        1,
        (v: DataView, at: number) => {
          const cgroup = Number(v.getBigUint64(at + RECORD_CGROUP_OFFSET, true));
          if (waiting.has(cgroup) && holdable()) throw new EventHold('test');
          seen.push(`${cgroup}:${v.getUint8(at + 8)}`);
        },
      ],
    ]),
    { retryMs: 5, maxHoldMs: 1000, now: () => clock.now },
  );
  stream.dispatch(frame([ofCgroup(5, 1), ofCgroup(7, 2), ofCgroup(5, 3), ofCgroup(7, 4)]));
  const unknownType = ofCgroup(7, 0);
  unknownType.writeUInt32LE(99, 0);
  stream.dispatch(frame([ofCgroup(7, 5), unknownType, ofCgroup(5, 6)]));
  t.same(seen, ['5:1', '5:3', '5:6'], "cgroup 7's records wait; cgroup 5's go on");
  t.equal(stream.heldRecords, 4, 'a record of no known type joins its cgroup\'s hold too');
  t.equal(stream.heldCgroups, 1);
  t.equal(stream.stats.held, 4, 'each held record counted');
  t.equal(holdable(), false, 'holding is allowed only inside a dispatch');
  await new Promise((r) => setTimeout(r, 30));
  t.same(seen, ['5:1', '5:3', '5:6'], 'retries keep holding while the handler asks');
  waiting.delete(7);
  stream.retryHeld();
  t.same(seen, ['5:1', '5:3', '5:6', '7:2', '7:4', '7:5'], "once it can answer, all of cgroup 7's, in their order");
  t.equal(stream.heldRecords, 0);
  t.equal(stream.stats.malformed, 1, 'and is counted malformed when its turn comes');
  t.equal(stream.stats.received.get(1), 6, 'each record counted once');
  t.equal(stream.stats.batches, 2);

  // Its pod arrives between batches: the held records go before the next batch's.
  waiting.add(7);
  stream.dispatch(frame([ofCgroup(7, 8)]));
  waiting.delete(7);
  stream.dispatch(frame([ofCgroup(7, 9)]));
  t.same(seen.slice(-2), ['7:8', '7:9'], 'held records first, then the new batch');

  // A wait that outlasts the bound ends with holding off.
  waiting.add(7);
  stream.dispatch(frame([ofCgroup(7, 10), ofCgroup(7, 11)]));
  clock.now += 1000;
  await new Promise((r) => setTimeout(r, 30));
  t.same(seen.slice(-2), ['7:10', '7:11'], 'handed over without holding after maxHoldMs');
  t.equal(stream.stats.holdsForced, 1);

  // stop() hands over whatever is held.
  stream.dispatch(frame([ofCgroup(7, 12), ofCgroup(7, 13)]));
  stream.stop();
  t.same(seen.slice(-2), ['7:12', '7:13'], 'nothing is lost at stop');
});

t.test('records too short to name a cgroup share one hold (the node-wide hold of a v1-only node)', async (t) => {
  const { EventHold, holdable } = await import('../../src/bpf/event-hold.js');
  let waiting = true;
  const seen: number[] = [];
  const stream = new EventStream(
    new Map([
      [
        1,
        (v: DataView, at: number) => {
          const tag = v.getUint8(at + 8);
          if (tag === 2 && waiting && holdable()) throw new EventHold('test');
          seen.push(tag);
        },
      ],
    ]),
    { retryMs: 1000 },
  );
  t.teardown(() => stream.stop());
  stream.dispatch(frame([record(1, 16, 1), record(1, 16, 2), record(1, 16, 3)]));
  t.same(seen, [1], 'the held record and every later one wait');
  waiting = false;
  stream.retryHeld();
  t.same(seen, [1, 2, 3]);
});

t.test('held records past maxHeldBytes end the oldest holds, in order; a held record keeps no batch alive', async (t) => {
  const { EventHold, holdable } = await import('../../src/bpf/event-hold.js');
  const seen: string[] = [];
  const stream = new EventStream(
    new Map([
      [
        1,
        (v: DataView, at: number) => {
          const cgroup = Number(v.getBigUint64(at + RECORD_CGROUP_OFFSET, true));
          if (holdable()) throw new EventHold('test');
          seen.push(`${cgroup}:${v.getUint8(at + 8)}`);
        },
      ],
    ]),
    { retryMs: 1000, maxHeldBytes: 3 * 4096 },
  );
  t.teardown(() => stream.stop());
  const batch = frame([ofCgroup(1, 1), ofCgroup(2, 1), ofCgroup(1, 2), ofCgroup(3, 1)]);
  stream.dispatch(batch);
  batch.fill(0); // the batch's memory is the addon's to reuse: held records are copies
  t.same(seen, [], 'three holds, 4 KiB each');
  stream.dispatch(frame([ofCgroup(4, 1)]));
  t.same(seen, ['1:1', '1:2'], 'a fourth: the oldest hold ends, its records in order');
  t.equal(stream.heldCgroups, 3);
  t.equal(stream.stats.holdsForced, 1);
  // A hold that grows past its first 4 KiB (to 16 KiB) keeps every record;
  // alone over the bound, it ends too, after the older ones.
  const many = Array.from({ length: 300 }, (_, i) => ofCgroup(5, i % 256));
  stream.dispatch(frame(many));
  t.same(seen.slice(2, 5), ['2:1', '3:1', '4:1'], 'the older holds end first, oldest first');
  t.same(seen.slice(5), many.map((_, i) => `5:${i % 256}`), 'then all 300 records of the grown hold, in order');
  t.equal(stream.heldRecords, 0);
  t.equal(stream.stats.holdsForced, 5);
});
