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
// reused byte scratch, as bytes (no string per line); every
// other metric is still written by the Registry (getSingleMetricAsString)
// and its text copied into the same scratch. The page is the same bytes
// (test/metrics/scrape-body.test.ts, the golden page), in the same order
// and at the same moments: the Registry starts every metric's rendering at
// once (its collect callbacks run then, in order) and formats the values it
// awaited afterwards, and so does this.
//
// The page goes to the socket as views of the scratch, in page order, not
// copied into one Buffer first: at 23k series (3.6 MB) that copy, into
// memory the kernel had to fault in afresh every scrape, was a quarter of
// the scrape's time (the soak's CPU profile). The scratch is therefore
// the caller's until it has sent the page (release()).

import { Registry } from 'prom-client';
import { ScratchBytes } from '../stream/scratch-bytes.js';

/** A metric that can write its own page text into bytes; false when it cannot (the Registry writes it). */
export interface WritesOwnBytes {
  writeText(out: ScratchBytes): boolean;
}

function writesOwnBytes(metric: unknown): metric is WritesOwnBytes {
  return typeof (metric as Partial<WritesOwnBytes>).writeText === 'function';
}

/** Scratches of sent pages, for the next (scrapes may overlap: one each). */
const idle: ScratchBytes[] = [];
const MAX_IDLE = 2;

/** The page as chunks to send in order; they are views of a scratch that is reused once released. */
export interface ScrapePage {
  readonly chunks: readonly Buffer[];
  /** Bytes in all chunks (the Content-Length). */
  readonly length: number;
  /**
   * The page was sent (its chunks are no longer needed): its scratch goes
   * back for the next scrape. A page never released (a client gone mid-send,
   * when the socket may still hold the chunks) leaves its scratch to the GC.
   */
  release(): void;
}

type Part = { start: number; end: number } | Promise<string>;

/** The page Registry.metrics() writes, as chunks of bytes. */
export async function scrapePage(registry: Registry): Promise<ScrapePage> {
  // OpenMetrics renames counters and ends with # EOF: the Registry's own way.
  if (registry.contentType !== Registry.PROMETHEUS_CONTENT_TYPE) {
    const body = Buffer.from(await registry.metrics());
    return { chunks: [body], length: body.length, release: () => {} };
  }
  const out = idle.pop() ?? new ScratchBytes();
  try {
    const parts: Part[] = [];
    for (const metric of registry.getMetricsAsArray()) {
      const start = out.length;
      // The separator goes in front of the text, so families written one after another stay one run of bytes.
      if (parts.length > 0) out.append('\n\n');
      if (writesOwnBytes(metric) && metric.writeText(out)) parts.push({ start, end: out.length });
      else {
        out.truncate(start);
        parts.push(registry.getSingleMetricAsString(metric.name));
      }
    }
    const texts = await Promise.all(parts.map((p) => (p instanceof Promise ? p : '')));
    // The Registry's texts go after everything else in the scratch; the chunks put them in page order.
    const ranges = parts.map((p, i) => {
      if (!(p instanceof Promise)) return p;
      const start = out.length;
      out.append(i > 0 ? `\n\n${texts[i]}` : (texts[i] as string));
      return { start, end: out.length };
    });
    const last = out.length;
    out.append('\n');
    ranges.push({ start: last, end: out.length });
    // Views only now: an append may have moved the scratch's bytes.
    const chunks: Buffer[] = [];
    let run: { start: number; end: number } | undefined;
    for (const r of ranges) {
      if (run !== undefined && run.end === r.start) run.end = r.end;
      else {
        if (run !== undefined) chunks.push(out.view(run.start, run.end));
        run = { ...r };
      }
    }
    if (run !== undefined) chunks.push(out.view(run.start, run.end));
    let released = false;
    return {
      chunks,
      length: out.length,
      release: () => {
        if (released) return;
        released = true;
        out.clear();
        if (idle.length < MAX_IDLE) idle.push(out);
      },
    };
  } catch (err) {
    out.clear();
    if (idle.length < MAX_IDLE) idle.push(out);
    throw err;
  }
}

/** The whole page as one Buffer (tests, benchmarks; the server sends the chunks). */
export async function scrapeBody(registry: Registry): Promise<Buffer> {
  const page = await scrapePage(registry);
  try {
    return Buffer.concat(page.chunks, page.length);
  } finally {
    page.release();
  }
}
