// The text rules of src/metrics/exposition.ts against prom-client's own
// Registry: the same label value or sample value must come out as the same
// bytes prom-client writes.
import t from 'tap';
import { Gauge, Registry } from 'prom-client';
import { escapeLabelValue, escapeMetricName, labelPairs, sampleValue } from '../../src/metrics/exposition.js';

/** The sample lines (one, when all is well) prom-client writes for a gauge with these labels and this value. */
async function promClientLine(labels: Record<string, string>, value: number): Promise<string> {
  const registry = new Registry();
  const gauge = new Gauge({ name: 'g', help: 'h', labelNames: Object.keys(labels), registers: [registry] });
  if (Object.keys(labels).length === 0) gauge.set(value);
  else gauge.set(labels, value);
  return (await registry.metrics())
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .join('\n');
}

const LABEL_VALUES: Array<[string, string, string]> = [
  ['plain', 'web-7d9c-x2', 'web-7d9c-x2'],
  ['empty', '', ''],
  ['double quote', 'say "hi"', 'say \\"hi\\"'],
  ['backslash', 'C:\\pods', 'C:\\\\pods'],
  ['newline', 'two\nlines', 'two\\nlines'],
  ['backslash before n stays two characters', '\\n', '\\\\n'],
  ['all three, adjacent', '\\"\n', '\\\\\\"\\n'],
  ['carriage return and tab pass through', 'a\r\tb', 'a\r\tb'],
  ['non-ASCII passes through', 'bücher.de ☃', 'bücher.de ☃'],
  ['braces, commas and equals pass through', 'a{b="c",d}', 'a{b=\\"c\\",d}'],
];

t.test('label values are escaped as prom-client escapes them', async (t) => {
  for (const [what, value, escaped] of LABEL_VALUES) {
    t.equal(escapeLabelValue(value), escaped, what);
    t.equal(`g{${labelPairs({ v: value })}} 1`, await promClientLine({ v: value }, 1), `${what}: prom-client writes the same line`);
  }
});

t.test('label pairs keep the label set own key order, without braces', async (t) => {
  t.equal(labelPairs({}), '');
  t.equal(labelPairs({ pod: 'p', namespace: 'n' }), 'pod="p",namespace="n"', 'not sorted: the order prom-client prints');
  t.equal(labelPairs({ a: 'x"y', b: '' }), 'a="x\\"y",b=""');
  t.equal(labelPairs(Object.create({ inherited: 'no' }) as Record<string, string>), '', 'inherited keys are no labels');
  t.equal(labelPairs({ n: 3 as unknown as string }), 'n="3"', 'a number, as prom-client prints one');
});

t.test('sample values are spelled as prom-client spells them', async (t) => {
  const table: Array<[number, string]> = [
    [0, '0'],
    [-0, '0'],
    [3, '3'],
    [1.5, '1.5'],
    [0.1 + 0.2, '0.30000000000000004'],
    [1e21, '1e+21'],
    [2 ** 53 + 2, '9007199254740994'],
    [Number.NaN, 'Nan'],
    [Number.POSITIVE_INFINITY, '+Inf'],
    [Number.NEGATIVE_INFINITY, '-Inf'],
  ];
  for (const [value, text] of table) {
    t.equal(sampleValue(value), text, `${value}`);
    t.equal(`g ${sampleValue(value)}`, await promClientLine({}, value), `${value}: prom-client writes the same`);
  }
});

t.test('metric names: backslash and newline escaped, as on the Registry default sample name', async (t) => {
  t.equal(escapeMetricName('kubepulse_tcp_connections_total'), 'kubepulse_tcp_connections_total');
  t.equal(escapeMetricName('a\\b\nc'), 'a\\\\b\\nc');
});
