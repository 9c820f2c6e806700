// Removes the series of pods that are gone, so per-pod cardinality follows
// the node's pods. Removal waits a grace period: the pod's last increments
// must still reach a scrape or two before the series disappears.

import type { Registry } from 'prom-client';
import type { Logger } from '../log.js';

export type ForgetPod = (namespace: string, pod: string) => void;

interface Removable {
  get(): Promise<{ values: Array<{ labels: Record<string, string | number> }> }> | { values: Array<{ labels: Record<string, string | number> }> };
  remove(labels: Record<string, string | number>): void;
  labelNames?: readonly string[];
  /** metrics/cells.ts families: their cells of one pod, removed in place. */
  removePod?(namespace: string, pod: string): number;
  /** prom-client's Counter, Gauge, Histogram and Summary keep their children here, each with its labels. */
  hashMap?: Record<string, { labels: Record<string, string | number> }>;
}

export class PodReaper {
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly registry: Registry,
    private readonly graceMs: number,
    /** Collectors drop their cached cells of the pod. */
    private readonly forget: ForgetPod[],
    private readonly log: Logger,
  ) {}

  podGone(namespace: string, pod: string): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.reap(namespace, pod).catch((err: unknown) => this.log.warn('cannot remove series of a deleted pod', { namespace, pod, error: String(err) }));
    }, this.graceMs);
    timer.unref();
    this.timers.add(timer);
  }

  /** Removes every series labelled with this pod, now. */
  async reap(namespace: string, pod: string): Promise<number> {
    for (const f of this.forget) f(namespace, pod);
    let removed = 0;
    for (const metric of this.registry.getMetricsAsArray() as unknown as Removable[]) {
      const names = metric.labelNames ?? [];
      if (!names.includes('pod') || !names.includes('namespace')) continue;
      removed += await this.reapMetric(metric, names, namespace, pod);
    }
    this.log.debug('removed series of a deleted pod', { namespace, pod, series: removed });
    return removed;
  }

  /**
   * The series of one pod in one metric. Read from where the metric keeps
   * its children, never through get(): get() runs the metric's collect
   * callback (the flows collector reads the whole kernel map there, the
   * drift judges every flow), and builds every series' value — at 14k
   * series and a pod deleted every second, that was a scrape's work without
   * the text, once per deleted pod, on the event loop.
   */
  private async reapMetric(metric: Removable, names: readonly string[], namespace: string, pod: string): Promise<number> {
    if (metric.removePod) return metric.removePod(namespace, pod);
    const children = metric.hashMap !== undefined ? Object.values(metric.hashMap) : (await metric.get()).values;
    const seen = new Set<string>();
    let removed = 0;
    for (const v of children) {
      if (v.labels.namespace !== namespace || v.labels.pod !== pod) continue;
      // Histogram values carry `le`; remove() takes the metric's own labels.
      const labels = Object.fromEntries(names.map((n) => [n, v.labels[n] ?? '']));
      const key = JSON.stringify(labels);
      if (seen.has(key)) continue;
      seen.add(key);
      metric.remove(labels);
      removed++;
    }
    return removed;
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
