// Counters and histograms for the per-event path. prom-client's own
// labelled children re-validate and re-hash their labels on every inc() and
// observe() (the benchmark measured ~2 µs per event); these keep each label
// set's numbers in a plain cell that the hot path bumps directly, and hand
// them to prom-client's Registry only at scrape time, in its format.

import type { Registry } from 'prom-client';

type Labels<L extends string> = Record<L, string>;

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

interface MetricObject {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: MetricValue[];
  aggregator: 'sum';
}

/** What the Registry and PodReaper need of a metric. */
abstract class Family<L extends string, C> {
  private readonly cells = new Map<string, { labels: Labels<L>; cell: C }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The cell of a label set, created on first use. Bind it once; reuse it per event. */
  cell(labels: Labels<L>): C {
    const key = this.key(labels);
    let entry = this.cells.get(key);
    if (entry === undefined) {
      entry = { labels: { ...labels }, cell: this.create() };
      this.cells.set(key, entry);
    }
    return entry.cell;
  }

  remove(labels: Record<string, string | number>): void {
    this.cells.delete(this.key(labels as Labels<L>));
  }

  /** Removes the cells of one pod (the PodReaper), without building any value. */
  removePod(namespace: string, pod: string): number {
    let removed = 0;
    for (const [key, { labels }] of this.cells) {
      const l = labels as Record<string, string>;
      if (l.namespace !== namespace || l.pod !== pod) continue;
      this.cells.delete(key);
      removed++;
    }
    return removed;
  }

  reset(): void {
    this.cells.clear();
  }

  get(): MetricObject {
    const values: MetricValue[] = [];
    for (const { labels, cell } of this.cells.values()) this.emit(labels, cell, values);
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }

  protected abstract readonly type: 'counter' | 'histogram';
  protected abstract create(): C;
  protected abstract emit(labels: Labels<L>, cell: C, out: MetricValue[]): void;

  private key(labels: Labels<L>): string {
    let key = '';
    for (const n of this.labelNames) key += `${labels[n] ?? ''}\u0000`;
    return key;
  }
}

export interface CounterCell {
  value: number;
}

export class CounterFamily<L extends string> extends Family<L, CounterCell> {
  protected readonly type = 'counter';

  constructor(o: { name: string; help: string; labelNames: readonly L[]; registry: Registry }) {
    super(o.name, o.help, o.labelNames, o.registry);
  }

  protected create(): CounterCell {
    return { value: 0 };
  }

  protected emit(labels: Labels<L>, cell: CounterCell, out: MetricValue[]): void {
    out.push({ labels, value: cell.value });
  }
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
  }

  readonly buckets: readonly number[];

  protected create(): HistogramCell {
    return new HistogramCell(this.buckets);
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
}
