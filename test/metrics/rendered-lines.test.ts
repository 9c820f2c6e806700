// RenderedLines through prom-client's real Registry: the lines come out as
// written, with # HELP / # TYPE and the page around them prom-client's.
import t from 'tap';
import { Counter, Registry } from 'prom-client';
import { RenderedLines } from '../../src/metrics/rendered-lines.js';

/** A metric whose text is the given lines, registered in a fresh Registry; returns its page. */
async function page(fill: (lines: RenderedLines) => void, registry = new Registry()): Promise<string> {
  const metric = {
    name: 'm_total',
    help: 'help',
    type: 'counter',
    get() {
      const lines = new RenderedLines();
      fill(lines);
      return { name: 'm_total', help: 'help', type: 'counter', values: lines.values(), aggregator: 'sum' };
    },
  };
  registry.registerMetric(metric as never);
  return registry.metrics();
}

t.test('no line: the Registry writes HELP and TYPE only, as for an empty prom-client metric', async (t) => {
  const lines = new RenderedLines();
  t.same(lines.values(), []);
  t.equal(await page(() => {}), '# HELP m_total help\n# TYPE m_total counter\n');
});

t.test('one line and many: each as written, values spelled as prom-client spells them', async (t) => {
  t.equal(await page((l) => l.add('m_total{a="1"}', 3)), '# HELP m_total help\n# TYPE m_total counter\nm_total{a="1"} 3\n');
  const text = await page((l) => {
    l.add('m_total{a="1"}', Number.NaN);
    l.add('m_total', Number.POSITIVE_INFINITY);
    l.add('m_total{a="\\""}', 0.25);
    l.add('m_total{b="2"}', Number.NEGATIVE_INFINITY);
  });
  t.equal(text, '# HELP m_total help\n# TYPE m_total counter\nm_total{a="1"} Nan\nm_total +Inf\nm_total{a="\\""} 0.25\nm_total{b="2"} -Inf\n');
});

t.test('beside ordinary prom-client metrics, the page is joined as before', async (t) => {
  const registry = new Registry();
  new Counter({ name: 'before_total', help: 'b', registers: [registry] }).inc(2);
  const text = await page((l) => l.add('m_total{a="1"}', 1), registry);
  t.equal(text, '# HELP before_total b\n# TYPE before_total counter\nbefore_total 2\n\n# HELP m_total help\n# TYPE m_total counter\nm_total{a="1"} 1\n');
});
