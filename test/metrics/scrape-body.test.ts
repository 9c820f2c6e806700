import t from 'tap';
import { Counter, Gauge, Registry } from 'prom-client';
import { CounterFamily, HistogramFamily } from '../../src/metrics/cells.js';
import { createRegistry } from '../../src/metrics/registry.js';
import { scrapeBody } from '../../src/metrics/scrape-body.js';
import { seededRandom } from '../support/seeded-random.js';

const AWKWARD = ['a', 'b"q', 'c\\d', 'e\nf', 'ünï', ''];

function populate(registry: Registry, collecting = true): { h: HistogramFamily<'pod' | 'node'>; c: CounterFamily<'pod'> } {
  new Counter({ name: 'before_total', help: 'first, prom-client\'s', labelNames: ['k'], registers: [registry] }).inc({ k: 'v' }, 2);
  const h = new HistogramFamily({ name: 'x_seconds', help: 'help with \\ and\nnewline', labelNames: ['pod', 'node'], buckets: [0.001, 0.1, 1], registry });
  new CounterFamily({ name: 'empty_total', help: 'no series yet', labelNames: ['pod'], registry });
  const c = new CounterFamily({ name: 'y_total', help: 'c', labelNames: ['pod'], registry });
  new CounterFamily({ name: 'bare_total', help: 'no labels', labelNames: [], registry }).cell({}).value = 7;
  // A collect callback that changes a metric written before it: the Registry formats values after every collect ran.
  const later = new Gauge({ name: 'later', help: 'set by collect', registers: collecting ? [registry] : [] });
  new Gauge({
    name: 'collected',
    help: 'collect runs at scrape',
    registers: collecting ? [registry] : [],
    collect() {
      this.set(42);
      later.inc();
    },
  });
  for (const pod of AWKWARD) {
    for (const v of [0.0005, 0.05, 0.5, 3, Number.POSITIVE_INFINITY]) h.cell({ pod, node: 'n' }).observe(v);
    c.cell({ pod }).value += 1.5;
  }
  return { h, c };
}

t.test('the page in bytes is the Registry\'s page, byte for byte', async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  populate(ours);
  populate(theirs);
  // Two rounds: the Registry's collect callbacks run once per scrape in both.
  for (let round = 0; round < 2; round++) {
    const body = await scrapeBody(ours);
    t.ok(Buffer.isBuffer(body));
    t.equal(body.toString('utf8'), await theirs.metrics(), `round ${round}`);
  }
});

t.test('overlapping scrapes each get their whole page', async (t) => {
  const registry = new Registry();
  const { c } = populate(registry, false);
  for (let i = 0; i < 2000; i++) c.cell({ pod: `pod-${i}` }).value = i;
  const want = (await scrapeBody(registry)).toString('utf8');
  // Async collects let scrapes interleave: each must still write into a scratch of its own.
  const slow = new Gauge({
    name: 'slow',
    help: 'an async collect',
    registers: [registry],
    async collect() {
      await new Promise((r) => setTimeout(r, 5));
      this.set(1);
    },
  });
  t.ok(slow);
  const full = (await scrapeBody(registry)).toString('utf8');
  t.ok(full.startsWith(want.slice(0, -1)));
  const pages = await Promise.all(Array.from({ length: 5 }, () => scrapeBody(registry)));
  for (const page of pages) t.equal(page.toString('utf8'), full);
});

t.test("the daemon's registry (process and nodejs metrics, default labels, OpenMetrics) still the Registry's page", async (t) => {
  const registry = createRegistry();
  populate(registry);
  const body = (await scrapeBody(registry)).toString('utf8');
  t.match(body, /^# HELP process_cpu_user_seconds_total /);
  t.match(body, /\n# TYPE x_seconds histogram\nx_seconds_bucket\{le="0.001",pod="a",node="n"\} 1\n/);
  const defaults = new Registry();
  const theirs = new Registry();
  populate(defaults);
  populate(theirs);
  defaults.setDefaultLabels({ cluster: 'c1' });
  theirs.setDefaultLabels({ cluster: 'c1' });
  t.equal((await scrapeBody(defaults)).toString('utf8'), await theirs.metrics(), 'default labels: the families fall back to the Registry');
  for (const r of [defaults, theirs]) r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
  t.equal((await scrapeBody(defaults)).toString('utf8'), await theirs.metrics(), 'OpenMetrics: the Registry writes it');
});

t.test('scrape after scrape, with series changed, born and removed between them: still the Registry\'s page', async (t) => {
  // Lines of unchanged series are copied from the last scrape's; a stale copy would show here.
  const rand = seededRandom(2024);
  const ours = new Registry();
  const theirs = new Registry();
  const families = [ours, theirs].map((registry) => ({
    h: new HistogramFamily({ name: 'h_seconds', help: 'h', labelNames: ['namespace', 'pod'], buckets: [0.001, 0.1, 1], registry }),
    c: new CounterFamily({ name: 'c_total', help: 'c', labelNames: ['namespace', 'pod', 'rcode'], registry }),
    bare: new CounterFamily({ name: 'bare_total', help: 'no labels', labelNames: [], registry }),
  }));
  const pods = [...AWKWARD, ...Array.from({ length: 60 }, (_, i) => `pod-${i}`)];
  let copied = 0;
  for (let scrape = 0; scrape < 40; scrape++) {
    // Few changes between most scrapes (long runs copied), many between some.
    const ops = scrape % 7 === 0 ? 200 : rand(6);
    for (let i = 0; i < ops; i++) {
      const pod = pods[rand(pods.length)] as string;
      const op = rand(12);
      const value = [0.0005, 0.05, 0.5, 3, Number.NaN][rand(5)] as number;
      const add = [0, 1, 2.5][rand(3)] as number;
      for (const f of families) {
        if (op < 5) f.h.cell({ namespace: 'ns', pod }).observe(value);
        else if (op < 9) f.c.cell({ namespace: 'ns', pod, rcode: op % 2 === 0 ? 'NOERROR' : 'SERVFAIL' }).value += add;
        else if (op < 10) f.bare.cell({}).value += 1;
        else if (op < 11) {
          f.c.removePod('ns', pod);
          f.h.removePod('ns', pod);
        } else {
          f.h.remove({ namespace: 'ns', pod });
          f.c.remove({ namespace: 'ns', pod, rcode: 'NOERROR' });
        }
      }
    }
    const want = await theirs.metrics();
    t.equal((await scrapeBody(ours)).toString('utf8'), want, `scrape ${scrape} after ${ops} changes`);
    if (ops < 6) copied++;
  }
  t.ok(copied > 20, 'most scrapes followed few changes');
  for (const f of families) {
    f.h.reset();
    f.c.reset();
  }
  t.equal((await scrapeBody(ours)).toString('utf8'), await theirs.metrics(), 'after reset');
});
