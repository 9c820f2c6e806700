// The Prometheus text format's rules for label values and sample values,
// written the way prom-client's Registry writes them (lib/registry.js and
// lib/util.js of prom-client 15), so that text rendered here is the text
// prom-client would have written, byte for byte.

/** A label value as it appears between the quotes: backslash, newline and double quote escaped. */
export function escapeLabelValue(value: unknown): string {
  if (typeof value !== 'string') return `${value}`;
  // Most values (pod names, domains) need nothing: skip the three replaces.
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

const NEEDS_ESCAPE = /[\\\n"]/;

/** `a="1",b="2"`: a label set's pairs in the object's own key order (prom-client's order), no braces. */
export function labelPairs(labels: Readonly<Record<string, unknown>>): string {
  // Pieces joined once, not `+=`: the result is kept for the series' life, and a string built
  // with + stays a tree of its pieces (~900 bytes for a 105-character label set, measured),
  // where join() writes one flat string (~150 bytes).
  const pieces: string[] = [];
  for (const name in labels) {
    if (!Object.hasOwn(labels, name)) continue;
    if (pieces.length > 0) pieces.push(',');
    pieces.push(name, '="', escapeLabelValue(labels[name]), '"');
  }
  return pieces.join('');
}

/** A sample value: Prometheus' spellings of NaN and the infinities, JavaScript's number text otherwise. */
export function sampleValue(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

/** A metric name as the Registry writes it on a sample line of its own name (it escapes backslash and newline). */
export function escapeMetricName(name: string): string {
  return name.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
