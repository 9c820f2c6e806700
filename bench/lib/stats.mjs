// Small numeric and Prometheus-text helpers for the benchmark.

export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function minMax(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return v.length ? [Math.min(...v), Math.max(...v)] : [null, null];
}

/**
 * Sum of the samples of one metric in Prometheus text format, optionally only those whose
 * labels include every pair of `match`.
 */
export function promSum(text, name, match = {}) {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    let labels = '';
    let value = rest;
    if (rest[0] === '{') {
      const close = rest.lastIndexOf('}');
      labels = rest.slice(1, close);
      value = rest.slice(close + 1);
    }
    if (!Object.entries(match).every(([k, v]) => labels.includes(`${k}="${v}"`))) continue;
    const n = Number(value.trim().split(' ')[0]);
    if (Number.isFinite(n)) {
      sum += n;
      found = true;
    }
  }
  return found ? sum : null;
}

/** Number of samples (series) in a Prometheus text exposition. */
export function promSeries(text) {
  let n = 0;
  for (const line of text.split('\n')) if (line && line[0] !== '#') n++;
  return n;
}
