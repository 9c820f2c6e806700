import t from 'tap';
import { DnsMatcher } from '../../../src/probes/dns/matcher.js';

const S = 1e9; // ns per second
// A kernel clock well past 2^53 ns (about 104 days of uptime).
const BOOT = 200 * 86400 * S;

interface Ctx {
  pod: string;
  domain: string;
}

t.test('a response matches its query and yields the latency', async (t) => {
  const m = new DnsMatcher<Ctx>();
  const ctx = { pod: 'web-1', domain: 'google.com' };
  t.equal(m.query(42, 0xabcd, 1_000_000_000, ctx), true);
  t.equal(m.size, 1);
  const r = m.response(42, 0xabcd, 1_012_500_000);
  t.ok(r);
  t.equal(r!.context, ctx, 'the same context object comes back');
  t.equal(r!.latencySeconds, 0.0125);
  t.equal(m.size, 0);
  t.equal(m.stats.matched, 1);
  t.equal(m.response(42, 0xabcd, 1_013_000_000), undefined, 'a duplicate response does not match twice');
  t.equal(m.stats.unmatched, 1);
});

t.test('latency stays accurate on a clock past 2^53 ns', async (t) => {
  const m = new DnsMatcher<string>();
  m.query(1, 1, BOOT, 'x');
  const r = m.response(1, 1, BOOT + 250_000); // 250 µs
  t.ok(Math.abs(r!.latencySeconds - 0.00025) < 1e-8, `latency ${r!.latencySeconds}`);
  m.query(1, 2, BOOT + 10, 'y');
  t.equal(m.response(1, 2, BOOT)!.latencySeconds, 0, 'a response stamped before its query clamps to 0');
});

t.test('socket cookie and id both separate queries', async (t) => {
  const m = new DnsMatcher<string>();
  m.query(7, 100, 0, 'cookie7-id100');
  m.query(8, 100, 0, 'cookie8-id100');
  m.query(7, 101, 0, 'cookie7-id101');
  // Neighbouring packed keys: cookie 7 id 65535 vs cookie 8 id 0.
  m.query(7, 65535, 0, 'cookie7-id65535');
  m.query(8, 0, 0, 'cookie8-id0');
  t.equal(m.size, 5);
  t.equal(m.response(8, 100, 5)!.context, 'cookie8-id100');
  t.equal(m.response(7, 101, 5)!.context, 'cookie7-id101');
  t.equal(m.response(8, 0, 5)!.context, 'cookie8-id0');
  t.equal(m.response(7, 65535, 5)!.context, 'cookie7-id65535');
  t.equal(m.response(9, 100, 5), undefined, 'other socket, same id');
  t.equal(m.response(7, 100, 5)!.context, 'cookie7-id100');

  // Cookies too big to pack still work, through the string key.
  const big = 2 ** 40 + 3;
  m.query(big, 5, 0, 'big');
  m.query(big + 1, 5, 0, 'big+1');
  t.equal(m.response(big, 5, 1)!.context, 'big');
  t.equal(m.response(big + 1, 5, 1)!.context, 'big+1');
});

t.test('a response with no query is unmatched, not an error', async (t) => {
  const m = new DnsMatcher<string>();
  t.equal(m.response(1, 1, 0), undefined);
  t.equal(m.response(1, 2, 0), undefined);
  t.same(m.stats, { matched: 0, unmatched: 2, retransmits: 0, timedOut: 0, evicted: 0 });
});

t.test('retransmission keeps the first send', async (t) => {
  const m = new DnsMatcher<string>();
  t.equal(m.query(3, 9, BOOT, 'first'), true);
  t.equal(m.query(3, 9, BOOT + 1 * S, 'resend'), false);
  t.equal(m.stats.retransmits, 1);
  t.equal(m.size, 1);
  const r = m.response(3, 9, BOOT + 1.5 * S)!;
  t.equal(r.context, 'first');
  t.equal(r.latencySeconds, 1.5, 'measured from the first send: what the application waited');
});

t.test('queries with no response expire after the timeout', async (t) => {
  const m = new DnsMatcher<string>({ timeoutSeconds: 2 });
  m.query(1, 1, BOOT, 'a');
  m.query(1, 2, BOOT + 1 * S, 'b');
  m.query(1, 3, BOOT + 3 * S, 'c');
  const seen: Array<[string, number]> = [];
  const cb = (c: string, waited: number) => seen.push([c, waited]);

  t.equal(m.expire(BOOT + 1.9 * S, cb), 0, 'nothing is 2 s old yet');
  t.equal(m.expire(BOOT + 2 * S, cb), 1, 'exactly the timeout expires');
  t.same(seen, [['a', 2]]);
  t.equal(m.response(1, 1, BOOT + 2.1 * S), undefined, 'a late response is unmatched');
  t.equal(m.expire(BOOT + 10 * S, cb), 2);
  t.same(seen.map(([c]) => c), ['a', 'b', 'c'], 'oldest first');
  t.equal(seen[2]![1], 7);
  t.equal(m.size, 0);
  t.same(m.stats, { matched: 0, unmatched: 1, retransmits: 0, timedOut: 3, evicted: 0 });

  const d = new DnsMatcher<string>();
  t.equal(d.timeoutNs, 5 * S, 'default timeout 5 s');
  d.query(1, 1, 0, 'x');
  t.equal(d.expire(4.999 * S), 0);
  t.equal(d.expire(5 * S), 1, 'works without a callback');
});

t.test('answered queries do not expire', async (t) => {
  const m = new DnsMatcher<string>({ timeoutSeconds: 1 });
  m.query(1, 1, 0, 'answered');
  m.query(1, 2, 0, 'lost');
  m.response(1, 1, 0.2 * S);
  const expired: string[] = [];
  m.expire(5 * S, (c) => expired.push(c));
  t.same(expired, ['lost']);
});

t.test('the pending set is bounded; the oldest is evicted and counted', async (t) => {
  const m = new DnsMatcher<number>({ maxPending: 3 });
  for (let i = 0; i < 5; i++) m.query(1, i, i, i);
  t.equal(m.size, 3);
  t.equal(m.stats.evicted, 2);
  t.equal(m.response(1, 0, 10), undefined, 'oldest evicted');
  t.equal(m.response(1, 1, 10), undefined, 'second oldest evicted');
  t.equal(m.response(1, 2, 10)!.context, 2);
  t.equal(m.response(1, 4, 10)!.context, 4);
  // A retransmission does not evict anything.
  m.query(1, 3, 11, 99);
  t.equal(m.stats.evicted, 2);
  t.equal(m.stats.retransmits, 1);

  const big = new DnsMatcher<number>();
  t.equal(big.maxPending, 65536, 'default bound');
  for (let i = 0; i < 70000; i++) big.query(i >> 16, i & 0xffff, i, i);
  t.equal(big.size, 65536);
  t.equal(big.stats.evicted, 70000 - 65536);
});

t.test('options are checked', async (t) => {
  t.throws(() => new DnsMatcher({ timeoutSeconds: 0 }), TypeError);
  t.throws(() => new DnsMatcher({ timeoutSeconds: Number.NaN }), TypeError);
  t.throws(() => new DnsMatcher({ maxPending: 0 }), TypeError);
  t.throws(() => new DnsMatcher({ maxPending: 1.5 }), TypeError);
  t.equal(new DnsMatcher({ timeoutSeconds: 0.5 }).timeoutNs, 5e8);
});

t.test('slots are reused and the columns grow past their first size without losing a query', async (t) => {
  const m = new DnsMatcher<number>({ maxPending: 5000 });
  const first = m.slots;
  // More in flight than the first columns hold: they grow, and every query is still found.
  for (let i = 0; i < 3000; i++) t.equal(m.query(1000 + (i % 7), i, i, i), true);
  t.ok(m.slots > first, `grew from ${first} to ${m.slots} slots`);
  let found = 0;
  for (let i = 2999; i >= 0; i--) if (m.response(1000 + (i % 7), i, 5000)?.context === i) found++;
  t.equal(found, 3000);
  t.equal(m.size, 0);
  // Freed slots are taken again: the columns stay as they are.
  const slots = m.slots;
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 1000; i++) m.query(7, i, round * 1000 + i, i);
    for (let i = 0; i < 1000; i++) m.response(7, i, round * 1000 + i + 1);
  }
  t.equal(m.slots, slots);
  t.equal(m.stats.matched, 13000);
});

t.test('the slot of a query is the slot its response and its expiry report', async (t) => {
  const m = new DnsMatcher<string>({ timeoutSeconds: 1 });
  m.query(1, 1, 0, 'a');
  const a = m.slot;
  m.query(1, 2, 0, 'b');
  const b = m.slot;
  t.not(a, b);
  m.response(1, 1, 5);
  t.equal(m.slot, a);
  const slots: number[] = [];
  m.expire(2 * S, (_c, _w, slot) => slots.push(slot));
  t.same(slots, [b]);
});

t.test('a response taken out of the middle keeps the rest in arrival order', async (t) => {
  const m = new DnsMatcher<string>({ timeoutSeconds: 1 });
  for (const [id, c] of [[1, 'a'], [2, 'b'], [3, 'c'], [4, 'd']] as const) m.query(9, id, id, c);
  m.response(9, 2, 10);
  m.response(9, 4, 10);
  m.query(9, 5, 5, 'e');
  const expired: string[] = [];
  m.expire(10 * S, (c) => expired.push(c));
  t.same(expired, ['a', 'c', 'e']);
});
