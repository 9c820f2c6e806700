import t from 'tap';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CounterFamily, GaugeFamily, HistogramFamily } from '../../src/metrics/cells.js';
import { scrapeBody } from '../../src/metrics/scrape-body.js';
import { seededRandom } from '../support/seeded-random.js';

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

t.test('a gauge family is the page a prom-client Gauge writes, set and removed', async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const g = new GaugeFamily({ name: 'v_present', help: 'g', labelNames: ['pod', 'check'], registry: ours });
  const pg = new Gauge({ name: 'v_present', help: 'g', labelNames: ['pod', 'check'], registers: [theirs] });
  for (const pod of ['a', 'b"', 'c']) {
    for (const check of ['x', 'y']) {
      g.cell({ pod, check }).value = 1;
      pg.set({ pod, check }, 1);
    }
  }
  g.remove({ pod: 'a', check: 'y' });
  pg.remove({ pod: 'a', check: 'y' });
  g.cell({ pod: 'c', check: 'x' }).value = 0.5;
  pg.set({ pod: 'c', check: 'x' }, 0.5);
  const page = await theirs.metrics();
  t.match(page, /# TYPE v_present gauge\n/);
  t.equal(await ours.metrics(), page, 'through the Registry');
  t.equal((await scrapeBody(ours)).toString(), page, 'as the family writes its own bytes');
});

t.test('values of every kind as prom-client writes them: whole, fractional, huge, negative, NaN, infinite', async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const g = new GaugeFamily({ name: 'v_value', help: 'g', labelNames: ['v'], registry: ours });
  const pg = new Gauge({ name: 'v_value', help: 'g', labelNames: ['v'], registers: [theirs] });
  const h = new HistogramFamily({ name: 'v_seconds', help: 'h', labelNames: ['v'], buckets, registry: ours });
  const ph = new Histogram({ name: 'v_seconds', help: 'h', labelNames: ['v'], buckets, registers: [theirs] });
  const values = [0, -0, 1, 9, 10, 1.5, 0.1 + 0.2, -3, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 1e21, 123e-20, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  values.forEach((value, i) => {
    g.cell({ v: String(i) }).value = value;
    pg.set({ v: String(i) }, value);
    if (Number.isFinite(value) && value >= 0) {
      h.cell({ v: String(i) }).observe(value);
      ph.observe({ v: String(i) }, value);
    }
  });
  t.equal((await scrapeBody(ours)).toString(), await theirs.metrics());
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

// The families write their own sample lines (getForPromString, from label text kept per
// series). These hold that text to prom-client's: its own Counter and Histogram given the same
// observations, and the same family's data (get()) written by the Registry as before.

const AWKWARD = ['plain', 'say "hi"', 'C:\\pods', 'two\nlines', '\\"\n', '', 'bücher.de'];

/** The page the Registry writes from a family's data, as before families wrote their own text. */
async function fromData(families: Array<{ name: string; help: string; get(): unknown }>, defaultLabels?: Record<string, string>): Promise<string> {
  const registry = new Registry();
  if (defaultLabels) registry.setDefaultLabels(defaultLabels);
  for (const f of families) registry.registerMetric({ name: f.name, help: f.help, get: () => f.get() } as never);
  return registry.metrics();
}

t.test('escaped label values, removal and re-birth: the page prom-client writes', async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const h = new HistogramFamily({ name: 'x_seconds', help: 'h', labelNames: ['pod', 'node'], buckets, registry: ours });
  const c = new CounterFamily({ name: 'y_total', help: 'c', labelNames: ['pod', 'result'], registry: ours });
  const ph = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['pod', 'node'], buckets, registers: [theirs] });
  const pc = new Counter({ name: 'y_total', help: 'c', labelNames: ['pod', 'result'], registers: [theirs] });
  const feed = (pod: string, k: number): void => {
    for (const v of values.slice(0, k)) {
      h.cell({ pod, node: 'n"1' }).observe(v);
      ph.observe({ pod, node: 'n"1' }, v);
    }
    c.cell({ pod, result: 'ok' }).value += k;
    pc.inc({ pod, result: 'ok' }, k);
  };
  AWKWARD.forEach((pod, i) => feed(pod, i + 1));
  t.equal(await ours.metrics(), await theirs.metrics(), 'every awkward value');
  t.equal(h.getForPromString().values.length, 1, 'the histogram wrote its own text');
  t.equal(c.getForPromString().values.length, 1, 'the counter wrote its own text');

  for (const pod of ['C:\\pods', 'plain']) {
    h.remove({ pod, node: 'n"1' });
    ph.remove({ pod, node: 'n"1' });
    c.remove({ pod, result: 'ok' });
    pc.remove({ pod, result: 'ok' });
  }
  const afterRemoval = await ours.metrics();
  t.equal(afterRemoval, await theirs.metrics(), 'removed series are gone from both');
  t.notMatch(afterRemoval, 'pod="plain"', 'no line of a removed series');
  feed('plain', 2);
  t.equal(await ours.metrics(), await theirs.metrics(), 'a series born again comes last, fresh, in both');
  t.match(await ours.metrics(), /y_total\{pod="plain",result="ok"\} 2\n$/, 'its counter starts again');
});

t.test('no labels at all: bucket lines carry le only, sum and count no braces', async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const h = new HistogramFamily({ name: 'b_seconds', help: 'h', labelNames: [], buckets, registry: ours });
  const c = new CounterFamily({ name: 'z_total', help: 'c', labelNames: [], registry: ours });
  const ph = new Histogram({ name: 'b_seconds', help: 'h', buckets, registers: [theirs] });
  const pc = new Counter({ name: 'z_total', help: 'c', registers: [theirs] });
  for (const v of values) {
    h.cell({}).observe(v);
    ph.observe(v);
  }
  c.cell({}).value += 5;
  pc.inc(5);
  const text = await ours.metrics();
  t.equal(text, await theirs.metrics());
  t.match(text, '\nb_seconds_bucket{le="+Inf"} 8\nb_seconds_sum ');
  t.match(text, '\nz_total 5\n');
});

t.test('empty families write HELP and TYPE only, as before', async (t) => {
  const ours = new Registry();
  const h = new HistogramFamily({ name: 'e_seconds', help: 'h', labelNames: ['pod'], buckets, registry: ours });
  const c = new CounterFamily({ name: 'e_total', help: 'c', labelNames: ['pod'], registry: ours });
  t.equal(await ours.metrics(), '# HELP e_seconds h\n# TYPE e_seconds histogram\n\n# HELP e_total c\n# TYPE e_total counter\n');
  c.cell({ pod: 'a' }).value += 1;
  h.cell({ pod: 'a' }).observe(0.5);
  c.reset();
  h.reset();
  t.equal(await ours.metrics(), await fromData([h, c]), 'reset drops every series and its text');
  t.same(h.getForPromString().values, []);
});

t.test('random label values and operations: own text equals the Registry writing the data', async (t) => {
  const rand = seededRandom(12345);
  const alphabet = ['a', 'b', '"', '\\', '\n', 'ü', ' ', '{', '=', ',', 'n'];
  const word = (): string => Array.from({ length: rand(4) }, () => alphabet[rand(alphabet.length)]).join('');
  const registry = new Registry();
  const h = new HistogramFamily({ name: 'r_seconds', help: 'h', labelNames: ['namespace', 'pod', 'node'], buckets, registry });
  const c = new CounterFamily({ name: 'r_total', help: 'c', labelNames: ['namespace', 'pod', 'rcode'], registry });
  const known: string[][] = [];
  for (let i = 0; i < 600; i++) {
    const op = rand(10);
    const picked = known.length > 0 && rand(2) === 0 ? (known[rand(known.length)] as string[]) : [word(), word(), word()];
    if (!known.includes(picked)) known.push(picked);
    const [a, b, x] = picked as [string, string, string];
    if (op < 4) h.cell({ namespace: a, pod: b, node: x }).observe(values[rand(values.length)] as number);
    else if (op < 8) c.cell({ namespace: a, pod: b, rcode: x }).value += rand(3);
    else {
      h.remove({ namespace: a, pod: b, node: x });
      c.remove({ namespace: a, pod: b, rcode: x });
    }
  }
  t.comment(`series: ${h.get().values.length / (buckets.length + 3)} histograms, ${c.get().values.length} counters`);
  t.ok(h.get().values.length / (buckets.length + 3) > 30 && c.get().values.length > 30, 'many series survive');
  t.equal(await registry.metrics(), await fromData([h, c]));
});

t.test('OpenMetrics and default labels: prom-client writes the page from the data, as before', async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  // The typings bind a registry to the content type it was made with; the Registry itself switches.
  for (const r of [ours, theirs]) r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
  const h = new HistogramFamily({ name: 'o_seconds', help: 'h', labelNames: ['pod'], buckets, registry: ours });
  const c = new CounterFamily({ name: 'o_total', help: 'c', labelNames: ['pod'], registry: ours });
  const ph = new Histogram({ name: 'o_seconds', help: 'h', labelNames: ['pod'], buckets, registers: [theirs] });
  const pc = new Counter({ name: 'o_total', help: 'c', labelNames: ['pod'], registers: [theirs] });
  for (const pod of AWKWARD) {
    h.cell({ pod }).observe(0.002);
    ph.observe({ pod }, 0.002);
    c.cell({ pod }).value += 2;
    pc.inc({ pod }, 2);
  }
  const first = await ours.metrics();
  t.equal(first, await theirs.metrics(), 'OpenMetrics: counters as o_total, # EOF at the end');
  t.match(first, /\n# EOF\n$/);
  t.equal(await ours.metrics(), await theirs.metrics(), 'a second OpenMetrics scrape (prom-client has renamed the counters by now)');
  ours.setContentType(Registry.PROMETHEUS_CONTENT_TYPE);
  theirs.setContentType(Registry.PROMETHEUS_CONTENT_TYPE);
  t.equal(await ours.metrics(), await theirs.metrics(), 'back to the text format: the renamed counter as prom-client writes it');
  t.equal(h.getForPromString().values.length, 1, 'the histogram, never renamed, writes its own text again');

  // prom-client's own Histogram orders default labels differently from the families' data
  // (which they always did): the reference is the Registry writing the families' data.
  ours.setDefaultLabels({ cluster: 'c"1' });
  t.equal(await ours.metrics(), await fromData([h, c], { cluster: 'c"1' }), 'default labels on every line');
  t.ok(h.getForPromString().values.length > 1, 'with default labels the Registry writes each value');
});
