// The /metrics page written straight into bytes.
//
// prom-client's Registry.metrics() builds the page as strings: a family's
// lines, that family's text joined, then every family joined — at 14k
// series each a flat string of megabytes, which V8 puts in its
// large-object space, freed only by a major GC. With a scrape every 5 s
// that filled the old generation by ~2 MiB/s during the soak's pod churn
// (the heap climbing from 50 to 170 MiB and back every minute, RSS with it;
// a larger young generation, tried with 8 MiB semi-spaces, did not change it).
// Here the per-pod families (metrics/cells.ts) write their lines into a
// reused byte scratch, each line a short string that dies young; every
// other metric is still written by the Registry (getSingleMetricAsString).
// The page is the same bytes (test/metrics/scrape-body.test.ts, the golden
// page), in the same order and at the same moments: the Registry starts
// every metric's rendering at once (its collect callbacks run then, in
// order) and formats the values it awaited afterwards, and so does this.

import { Registry } from 'prom-client';
import { ScratchBytes } from '../stream/scratch-bytes.js';

/** A metric that can write its own page text into bytes; false when it cannot (the Registry writes it). */
export interface WritesOwnBytes {
  writeText(out: ScratchBytes): boolean;
}

function writesOwnBytes(metric: unknown): metric is WritesOwnBytes {
  return typeof (metric as Partial<WritesOwnBytes>).writeText === 'function';
}

/** Scratches of finished scrapes, for the next (scrapes may overlap: one each). */
const idle: ScratchBytes[] = [];
const MAX_IDLE = 2;

type Part = { start: number; end: number } | Promise<string>;

/** The page Registry.metrics() writes, as a Buffer. */
export async function scrapeBody(registry: Registry): Promise<Buffer> {
  // OpenMetrics renames counters and ends with # EOF: the Registry's own way.
  if (registry.contentType !== Registry.PROMETHEUS_CONTENT_TYPE) return Buffer.from(await registry.metrics());
  const out = idle.pop() ?? new ScratchBytes();
  try {
    const parts: Part[] = [];
    for (const metric of registry.getMetricsAsArray()) {
      const start = out.length;
      if (writesOwnBytes(metric) && metric.writeText(out)) parts.push({ start, end: out.length });
      else parts.push(registry.getSingleMetricAsString(metric.name));
    }
    const texts = await Promise.all(parts.map((p) => (p instanceof Promise ? p : '')));
    let size = 1; // the final newline
    parts.forEach((p, i) => {
      size += (i > 0 ? 2 : 0) + (p instanceof Promise ? Buffer.byteLength(texts[i] as string) : p.end - p.start);
    });
    const body = Buffer.allocUnsafe(size);
    let at = 0;
    parts.forEach((p, i) => {
      if (i > 0) at += body.write('\n\n', at, 'latin1');
      at += p instanceof Promise ? body.write(texts[i] as string, at, 'utf8') : out.view(p.start, p.end).copy(body, at);
    });
    body.write('\n', at, 'latin1');
    return body;
  } finally {
    out.clear();
    if (idle.length < MAX_IDLE) idle.push(out);
  }
}
