// Counters and histograms for the per-event path (and gauges whose series
// change with a state, not at scrape: the audit's). prom-client's own
// labelled children re-validate and re-hash their labels on every inc() and
// observe() (the benchmark measured ~2 µs per event); these keep each label
// set's numbers in a plain cell that the hot path bumps directly, and hand
// them to prom-client's Registry only at scrape time, in its format.
//
// These families hold the per-pod series (tens of thousands on a busy node),
// so they also write their own sample lines: each series' label text is
// escaped and joined once, when the series is born, and dropped with it; a
// scrape only concatenates (metrics/rendered-lines.ts). Before, every scrape
// escaped and joined every label set again inside prom-client, and built an
// object per histogram bucket line: half of a 55k-series scrape.

import { Registry } from 'prom-client';
import type { ScratchBytes } from '../stream/scratch-bytes.js';
import { escapeMetricName, labelPairs, sampleValue } from './exposition.js';
import { type LineSink, RenderedLines } from './rendered-lines.js';

type Labels<L extends string> = Record<L, string>;

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

interface MetricObject {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: MetricValue[];
  aggregator: 'sum';
}

interface Series<L extends string, C> {
  labels: Labels<L>;
  cell: C;
  /** `a="x",b="y"`: the label pairs as the page writes them, without braces; '' for none. */
  pairs: string;
  /** `a="x",b="y"} ` in UTF-8: what follows a line's head on the page (undefined when there are no pairs). */
  tail: Buffer | undefined;
  /** Where the series' lines are in the family's last written lines (Family.written), -1 when not there. */
  at: number;
  /** Their length in bytes. */
  length: number;
  /** The cell's stamp when they were written: the same stamp, the same lines. */
  stamp: number;
}

/** Room a family's kept lines may have beyond four times their size before the buffer is made again, smaller. */
const WRITTEN_SLACK = 64 * 1024;

/** A sample value into the page's bytes: counts (whole numbers) as digits directly, any other the way sampleValue spells it. */
function appendValue(out: ScratchBytes, value: number): void {
  if (Number.isInteger(value) && value >= 0 && value <= Number.MAX_SAFE_INTEGER) out.appendUint(value);
  else out.append(sampleValue(value));
}

/** What the Registry and PodReaper need of a metric. */
abstract class Family<L extends string, C> {
  private readonly series = new Map<string, Series<L, C>>();
  /** The series' lines as the last scrape wrote them (after HELP and TYPE), for the series whose cells have not changed since. */
  private written: Buffer | undefined;
  /** The name the label text is written for: prom-client renames counters (drops `_total`) on OpenMetrics scrapes. */
  protected readonly textName: string;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
    private readonly registry: Registry,
  ) {
    this.textName = name;
    registry.registerMetric(this as never);
  }

  /** The cell of a label set, created on first use. Bind it once; reuse it per event. */
  cell(labels: Labels<L>): C {
    const key = this.key(labels);
    let entry = this.series.get(key);
    if (entry === undefined) {
      const own = { ...labels };
      const pairs = labelPairs(own);
      const tail = pairs === '' ? undefined : Buffer.from(`${pairs}} `);
      entry = { labels: own, cell: this.create(), pairs, tail, at: -1, length: 0, stamp: Number.NaN };
      this.series.set(key, entry);
    }
    return entry.cell;
  }

  remove(labels: Record<string, string | number>): void {
    this.series.delete(this.key(labels as Labels<L>));
  }

  /** Removes the cells of one pod (the PodReaper), without building any value. */
  removePod(namespace: string, pod: string): number {
    let removed = 0;
    for (const [key, { labels }] of this.series) {
      const l = labels as Record<string, string>;
      if (l.namespace !== namespace || l.pod !== pod) continue;
      this.series.delete(key);
      removed++;
    }
    return removed;
  }

  reset(): void {
    this.series.clear();
    this.written = undefined;
  }

  /** The samples as data: what getMetricsAsJSON, the reaper, /api/v1/status and the topology read. */
  get(): MetricObject {
    const values: MetricValue[] = [];
    for (const { labels, cell } of this.series.values()) this.emit(labels, cell, values);
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }

  /** What the Registry prints: the same samples as get(), written from each series' label text. */
  getForPromString(): MetricObject {
    if (!this.writesOwnText()) return this.get();
    const lines = new RenderedLines();
    for (const s of this.series.values()) this.render(s.pairs, s.cell, lines);
    return { name: this.name, help: this.help, type: this.type, values: lines.values(), aggregator: 'sum' };
  }

  /**
   * The family's text as the Registry would write it (HELP, TYPE, lines),
   * into bytes (metrics/scrape-body.ts); false when the Registry must
   * write it (see writesOwnText).
   */
  writeText(out: ScratchBytes): boolean {
    if (!this.writesOwnText()) return false;
    const name = escapeMetricName(this.name);
    out.append(`# HELP ${name} ${escapeMetricName(this.help)}\n# TYPE ${name} ${this.type}`);
    const linesStart = out.length;
    try {
      this.writeLines(out, linesStart);
    } catch (err) {
      // The series' places may point into lines that were never kept: start afresh next time.
      this.written = undefined;
      throw err;
    }
    // Kept for the next scrape; the buffer is reused unless the family grew past it or shrank far below it.
    const length = out.length - linesStart;
    if (this.written === undefined || this.written.length < length || this.written.length > 4 * length + WRITTEN_SLACK) {
      this.written = Buffer.allocUnsafeSlow(length + (length >> 3));
    }
    out.view(linesStart, out.length).copy(this.written);
    return true;
  }

  /**
   * The series' lines, each series' from what the last scrape wrote when
   * its cell has not changed since (copied in runs: most series of a busy
   * node's page are pods that did nothing in the last few seconds), written
   * afresh otherwise. A line written afresh is the family's head and the
   * series' tail, bytes both, and its value's digits: no string per line.
   * Building each line as a string and encoding it was most of a scrape at
   * 14k series, and its garbage brought a scavenge into every scrape (2 MiB
   * semi-spaces); writing every line afresh was still a third of a scrape's
   * CPU in the soak's churn.
   */
  private writeLines(out: ScratchBytes, linesStart: number): void {
    const before = this.written;
    // A run of unchanged series, consecutive in `before`, not copied yet.
    let runFrom = -1;
    let runTo = -1;
    const flush = (): void => {
      if (runFrom >= 0 && before !== undefined) out.appendBytes(before.subarray(runFrom, runTo));
      runFrom = -1;
    };
    let lines: LineSink | undefined;
    for (const s of this.series.values()) {
      if (s.tail === undefined) {
        // Series without labels (none per pod) take the string path, written afresh every time.
        flush();
        s.at = -1;
        lines ??= { add: (series, value) => out.append(`\n${series} ${sampleValue(value)}`) };
        this.render(s.pairs, s.cell, lines);
        continue;
      }
      const stamp = this.stamp(s.cell);
      if (before !== undefined && s.at >= 0 && s.stamp === stamp) {
        if (runFrom < 0 || s.at !== runTo) {
          flush();
          runFrom = runTo = s.at;
        }
        const at = out.length - linesStart + (runTo - runFrom);
        runTo += s.length;
        s.at = at;
      } else {
        flush();
        const start = out.length;
        this.write(s.tail, s.cell, out);
        s.at = start - linesStart;
        s.length = out.length - start;
        s.stamp = stamp;
      }
    }
    flush();
  }

  /**
   * Only for the page this text is written for. The OpenMetrics format renames counters and
   * ends differently, and a registry's default labels go onto every value: in those cases
   * prom-client writes the page from get() as it always did.
   */
  private writesOwnText(): boolean {
    if (this.registry.contentType !== Registry.PROMETHEUS_CONTENT_TYPE || this.name !== this.textName) return false;
    // Default labels have no getter; KubePulse sets none, but a registry that does must stay right.
    const defaults = (this.registry as unknown as { _defaultLabels?: object })._defaultLabels;
    return defaults === undefined || Object.keys(defaults).length === 0;
  }

  protected abstract readonly type: 'counter' | 'gauge' | 'histogram';
  protected abstract create(): C;
  /** A number that changes whenever the cell's lines would (NaN never matches: always written afresh). */
  protected abstract stamp(cell: C): number;
  protected abstract emit(labels: Labels<L>, cell: C, out: MetricValue[]): void;
  protected abstract render(pairs: string, cell: C, out: LineSink): void;
  /** The series' lines into bytes; `tail` is its `pairs} ` (render's lines, byte for byte). */
  protected abstract write(tail: Buffer, cell: C, out: ScratchBytes): void;

  private key(labels: Labels<L>): string {
    let key = '';
    for (const n of this.labelNames) key += `${labels[n] ?? ''}\u0000`;
    return key;
  }
}

/** A counter's or a gauge's cell: one number. */
export interface CounterCell {
  value: number;
}

/** One number per series: counters, and gauges whose series are set when the state changes (not at scrape). */
abstract class ValueFamily<L extends string> extends Family<L, CounterCell> {
  constructor(o: { name: string; help: string; labelNames: readonly L[]; registry: Registry }) {
    super(o.name, o.help, o.labelNames, o.registry);
  }

  protected create(): CounterCell {
    return { value: 0 };
  }

  protected emit(labels: Labels<L>, cell: CounterCell, out: MetricValue[]): void {
    out.push({ labels, value: cell.value });
  }

  protected stamp(cell: CounterCell): number {
    return cell.value;
  }

  private readonly sampleName = escapeMetricName(this.textName);

  protected render(pairs: string, cell: CounterCell, out: LineSink): void {
    out.add(pairs === '' ? this.sampleName : `${this.sampleName}{${pairs}}`, cell.value);
  }

  private readonly head = Buffer.from(`\n${this.sampleName}{`);

  protected write(tail: Buffer, cell: CounterCell, out: ScratchBytes): void {
    out.appendBytes(this.head);
    out.appendBytes(tail);
    appendValue(out, cell.value);
  }
}

export class CounterFamily<L extends string> extends ValueFamily<L> {
  protected readonly type = 'counter';
}

export class GaugeFamily<L extends string> extends ValueFamily<L> {
  protected readonly type = 'gauge';
}

export class HistogramCell {
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

export class HistogramFamily<L extends string> extends Family<L, HistogramCell> {
  protected readonly type = 'histogram';
  private readonly le: string[];

  constructor(o: { name: string; help: string; labelNames: readonly L[]; buckets: readonly number[]; registry: Registry }) {
    super(o.name, o.help, o.labelNames, o.registry);
    this.buckets = [...o.buckets].sort((a, b) => a - b);
    this.le = [...this.buckets.map(String), '+Inf'];
    // The start of every bucket line, once per family; a series adds its label pairs.
    this.bucketHeads = this.le.map((le) => `${this.textName}_bucket{le="${le}"`);
    this.sumName = `${this.textName}_sum`;
    this.countName = `${this.textName}_count`;
    this.bucketHeadBytes = this.bucketHeads.map((head) => Buffer.from(`\n${head},`));
    this.sumHead = Buffer.from(`\n${this.sumName}{`);
    this.countHead = Buffer.from(`\n${this.countName}{`);
  }

  private readonly bucketHeadBytes: Buffer[];
  private readonly sumHead: Buffer;
  private readonly countHead: Buffer;

  private readonly bucketHeads: string[];
  private readonly sumName: string;
  private readonly countName: string;

  readonly buckets: readonly number[];

  protected create(): HistogramCell {
    return new HistogramCell(this.buckets);
  }

  /** Every observation counts one, and only observe() changes a cell. */
  protected stamp(cell: HistogramCell): number {
    return cell.count;
  }

  protected emit(labels: Labels<L>, cell: HistogramCell, out: MetricValue[]): void {
    let cumulative = 0;
    for (let i = 0; i < this.le.length; i++) {
      cumulative += cell.counts[i] as number;
      out.push({ labels: { le: this.le[i] as string, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
    }
    out.push({ labels, value: cell.sum, metricName: `${this.name}_sum` });
    out.push({ labels, value: cell.count, metricName: `${this.name}_count` });
  }

  protected render(pairs: string, cell: HistogramCell, out: LineSink): void {
    const heads = this.bucketHeads;
    const bucketTail = pairs === '' ? '}' : `,${pairs}}`;
    let cumulative = 0;
    for (let i = 0; i < heads.length; i++) {
      cumulative += cell.counts[i] as number;
      out.add(heads[i] + bucketTail, cumulative);
    }
    const braced = pairs === '' ? '' : `{${pairs}}`;
    out.add(this.sumName + braced, cell.sum);
    out.add(this.countName + braced, cell.count);
  }

  protected write(tail: Buffer, cell: HistogramCell, out: ScratchBytes): void {
    const heads = this.bucketHeadBytes;
    let cumulative = 0;
    for (let i = 0; i < heads.length; i++) {
      cumulative += cell.counts[i] as number;
      out.appendBytes(heads[i] as Buffer);
      out.appendBytes(tail);
      appendValue(out, cumulative);
    }
    out.appendBytes(this.sumHead);
    out.appendBytes(tail);
    appendValue(out, cell.sum);
    out.appendBytes(this.countHead);
    out.appendBytes(tail);
    appendValue(out, cell.count);
  }
}
