import t from 'tap';
import { CounterHistory, increase } from '../../src/topology/counter-history.js';

t.test('a range is now minus the newest sample at or before its start', async (t) => {
  const h = new CounterHistory(1000, 60_000);
  h.record(1000, [['a', 0]]);
  h.record(11_000, [['a', 5], ['b', 1]]);
  h.record(21_000, [['a', 9], ['b', 4]]);
  t.equal(h.baseline(15_000).atMs, 11_000);
  t.equal(h.baseline(15_000).value('a'), 5);
  t.equal(h.baseline(15_000).value('b'), 1);
  t.equal(h.baseline(15_000).value('new'), 0, 'a key first seen later started from zero');
  t.equal(h.baseline(500).atMs, 1000, 'older than anything: the start, zeros');
  t.equal(h.baseline(500).value('a'), 0);
});

t.test('samples older than the window go', async (t) => {
  const h = new CounterHistory(0, 20_000);
  for (let at = 0; at <= 100_000; at += 10_000) h.record(at, [['a', at]]);
  t.equal(h.oldestMs, 80_000);
});

t.test('a counter that restarted counts from zero', async (t) => {
  t.equal(increase(10, 4), 6);
  t.equal(increase(3, 10), 3);
});

t.test('keys no sample still holds are dropped: ever-new peers do not grow every sample', async (t) => {
  const h = new CounterHistory(0, 60_000);
  // Every 10 s a pod talks to 100 addresses it never talks to again, and to one it always does.
  for (let n = 0; n < 200; n++) {
    const at = n * 10_000;
    const counters: [string, number][] = [['steady', n + 1]];
    for (let p = 0; p < 100; p++) counters.push([`peer-${n}-${p}`, 3]);
    h.record(at, counters);
  }
  // The window keeps 7 samples of 101 keys each: ~700 live keys, not 20,001.
  t.ok(h.keys <= 2 * 7 * 101 + 1, `keys interned: ${h.keys}`);
  const base = h.baseline(1_950_000);
  t.equal(base.atMs, 1_950_000);
  t.equal(base.value('steady'), 196, 'kept keys keep their values through compactions');
  t.equal(base.value('peer-195-7'), 3);
  t.equal(base.value('peer-3-7'), 0, 'a dropped key reads as zero, as before');
});
