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

/** Below this many keys the index is never compacted. */
const COMPACT_FLOOR = 256;

export class CounterHistory {
  private index = new Map<string, number>();
  private samples: { atMs: number; values: Float64Array }[] = [];
  /** Keys left by the last compaction: the index is compacted again at twice that. */
  private compactedTo = 0;

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
    if (this.index.size > 2 * Math.max(COMPACT_FLOOR, this.compactedTo)) this.compact();
  }

  /** Keys interned (for tests). */
  get keys(): number {
    return this.index.size;
  }

  /**
   * Drops keys that are 0 in every sample still kept (a deleted pod's, a
   * peer talked to an hour ago): the index only grew, and every new sample
   * was an array as long as all keys ever seen — a pod calling ever-new
   * external addresses grew each of the 360 samples without bound. A key
   * at 0 everywhere reads as absent anyway.
   */
  private compact(): void {
    const live: number[] = [];
    const index = new Map<string, number>();
    for (const [key, i] of this.index) {
      if (this.samples.some((s) => (s.values[i] ?? 0) !== 0)) {
        index.set(key, live.length);
        live.push(i);
      }
    }
    this.samples = this.samples.map(({ atMs, values }) => ({ atMs, values: Float64Array.from(live, (i) => values[i] ?? 0) }));
    this.index = index;
    this.compactedTo = index.size;
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
