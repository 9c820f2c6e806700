// Cumulative counters sampled over time, so a count "over the last 5
// minutes" is now minus the sample from 5 minutes ago — what Prometheus's
// increase() does, kept by the agent for its own page. Keys are interned
// once; a sample is one Float64Array, so an hour at 10 s is 360 arrays of
// numbers, not 360 maps of strings.

export interface Baseline {
  /** When the baseline was taken (the daemon's start when no sample is that old). */
  atMs: number;
  value(key: string): number;
}

export class CounterHistory {
  private readonly index = new Map<string, number>();
  private samples: { atMs: number; values: Float64Array }[] = [];

  constructor(
    /** The time counters started from zero (the daemon's start). */
    private readonly startMs: number,
    private readonly keepMs: number,
  ) {}

  get oldestMs(): number {
    return this.samples[0]?.atMs ?? this.startMs;
  }

  record(atMs: number, counters: Iterable<readonly [string, number]>): void {
    const pairs: [number, number][] = [];
    for (const [key, value] of counters) {
      let i = this.index.get(key);
      if (i === undefined) this.index.set(key, (i = this.index.size));
      pairs.push([i, value]);
    }
    const values = new Float64Array(this.index.size);
    for (const [i, v] of pairs) values[i] = v;
    this.samples.push({ atMs, values });
    const cut = this.samples.findIndex((s) => s.atMs >= atMs - this.keepMs);
    if (cut > 0) this.samples = this.samples.slice(cut);
  }

  /** The newest sample taken at or before sinceMs; zeros at the start when none is that old. */
  baseline(sinceMs: number): Baseline {
    let found: { atMs: number; values: Float64Array } | undefined;
    for (const s of this.samples) {
      if (s.atMs > sinceMs) break;
      found = s;
    }
    if (!found) return { atMs: this.startMs, value: () => 0 };
    const { values } = found;
    return {
      atMs: found.atMs,
      value: (key) => {
        const i = this.index.get(key);
        return i === undefined ? 0 : (values[i] ?? 0);
      },
    };
  }
}

/** now − then, or now when the counter restarted (a pod's series went and came back). */
export function increase(now: number, then: number): number {
  return now >= then ? now - then : now;
}
