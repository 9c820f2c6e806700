import t from 'tap';
import { Counter, Histogram, Registry } from 'prom-client';
import { CounterFamily, HistogramFamily } from '../../src/metrics/cells.js';

const buckets = [0.001, 0.01, 0.1, 1];
const values = [0.0005, 0.001, 0.002, 0.05, 0.1, 0.7, 3, 0];

t.test('exposition is the same text prom-client writes for the same observations', async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const h = new HistogramFamily({ name: 'x_seconds', help: 'h', labelNames: ['pod', 'node'], buckets, registry: ours });
  const c = new CounterFamily({ name: 'y_total', help: 'c', labelNames: ['pod', 'result'], registry: ours });
  const ph = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['pod', 'node'], buckets, registers: [theirs] });
  const pc = new Counter({ name: 'y_total', help: 'c', labelNames: ['pod', 'result'], registers: [theirs] });
  for (const pod of ['a', 'b']) {
    const cell = h.cell({ pod, node: 'n' });
    for (const v of values) {
      cell.observe(v);
      ph.observe({ pod, node: 'n' }, v);
    }
    c.cell({ pod, result: 'ok' }).value += 3;
    pc.inc({ pod, result: 'ok' }, 3);
  }
  t.equal(await ours.metrics(), await theirs.metrics());
});

t.test('a cell is bound once and reused; remove drops a label set', async (t) => {
  const registry = new Registry();
  const c = new CounterFamily({ name: 'z_total', help: 'c', labelNames: ['pod'], registry });
  t.equal(c.cell({ pod: 'a' }), c.cell({ pod: 'a' }), 'same cell for the same labels');
  c.cell({ pod: 'a' }).value += 1;
  c.cell({ pod: 'b' }).value += 2;
  c.remove({ pod: 'a' });
  t.same(
    c.get().values.map((v) => [v.labels.pod, v.value]),
    [['b', 2]],
  );
  t.same(c.labelNames, ['pod']);
});

t.test('boundaries: a value equal to a bound lands in that bucket (le is inclusive)', async (t) => {
  const registry = new Registry();
  const h = new HistogramFamily({ name: 'b_seconds', help: 'h', labelNames: [], buckets, registry });
  const cell = h.cell({});
  cell.observe(0.01);
  const le = Object.fromEntries(h.get().values.filter((v) => v.metricName === 'b_seconds_bucket').map((v) => [v.labels.le, v.value]));
  t.same(le, { '0.001': 0, '0.01': 1, '0.1': 1, '1': 1, '+Inf': 1 });
});
