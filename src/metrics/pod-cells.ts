// Label sets of per-pod series. Every probe labels its series with
// namespace, workload, pod and node; this keeps each collector's cells
// (metrics/cells.ts) per pod identity so the hot path does one Map lookup.

import { HOST_IDENTITY, type PodIdentity, type UnattributedReason } from '../metadata/resolver.js';

export const POD_LABEL_NAMES = ['namespace', 'workload', 'pod', 'node'] as const;
export type PodLabels = Record<(typeof POD_LABEL_NAMES)[number], string>;

export function podLabels(id: PodIdentity, node: string): PodLabels {
  return { namespace: id.namespace, workload: id.workload, pod: id.pod, node };
}

/** A collector's cells of one or more metrics, created once per pod identity. */
export class PodCells<T> {
  private readonly byIdentity = new Map<PodIdentity, T>();

  constructor(
    private readonly node: string,
    private readonly make: (labels: PodLabels) => T,
    /** Told of every event whose identity could not be attributed (kubepulse_unattributed_events_total). */
    private readonly unattributed?: (reason: UnattributedReason) => void,
  ) {}

  /** The cells of an event's identity; called once per event. */
  get(id: PodIdentity): T {
    if (id.unattributed !== undefined) this.unattributed?.(id.unattributed);
    // The host and every identity that names no pod (one object per unknown
    // pod UID, made afresh when the resolver's bounded cache forgets it) have
    // the same labels: one entry for all, or this map keeps one per UID for good.
    const key = id.namespace === '' && id.pod === '' && id.workload === '' ? HOST_IDENTITY : id;
    let cells = this.byIdentity.get(key);
    if (cells === undefined) {
      cells = this.make(podLabels(key, this.node));
      this.byIdentity.set(key, cells);
    }
    return cells;
  }

  /** Label sets cached (for tests). */
  get size(): number {
    return this.byIdentity.size;
  }

  /** Drops the cached cells of a pod (its series are removed elsewhere). */
  forgetPod(namespace: string, pod: string): void {
    for (const id of this.byIdentity.keys())
      if (id.namespace === namespace && id.pod === pod) this.byIdentity.delete(id);
  }
}
