// Label sets shared between the peers that carry the same ones: a cluster
// of 10,000 pods holds a few hundred distinct sets.

export type Labels = Readonly<Record<string, string>>;

/** Frozen label sets shared by every pod that carries the same one, counted so unused ones go. */
export class LabelPool {
  private readonly sets = new Map<string, { labels: Labels; refs: number }>();

  get size(): number {
    return this.sets.size;
  }

  take(labels: Record<string, string> | undefined): Labels {
    const sorted = Object.keys(labels ?? {}).sort();
    const key = JSON.stringify(sorted.map((k) => [k, labels![k]]));
    let entry = this.sets.get(key);
    if (entry === undefined) {
      const frozen: Record<string, string> = {};
      for (const k of sorted) frozen[k] = labels![k] as string;
      this.sets.set(key, (entry = { labels: Object.freeze(frozen), refs: 0 }));
    }
    entry.refs++;
    return entry.labels;
  }

  give(labels: Labels): void {
    const key = JSON.stringify(Object.keys(labels).map((k) => [k, labels[k]]));
    const entry = this.sets.get(key);
    if (entry !== undefined && --entry.refs <= 0) this.sets.delete(key);
  }
}
