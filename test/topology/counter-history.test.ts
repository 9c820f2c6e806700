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
