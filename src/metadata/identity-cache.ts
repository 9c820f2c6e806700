// The resolution cache: cgroup ID or PID → PodIdentity, an LRU with a TTL.
//
// Keys are numbers: a cgroup ID as itself, a PID negated (pidKey), so one
// bound covers both. Entries remember the pod UID they were resolved under,
// so that a pod's deletion or change purges them at once instead of waiting
// for the TTL. Hits and misses are plain integers bumped on the hot path and
// turned into Prometheus counters at scrape time.
import { LRUCache } from 'lru-cache';
import { Gauge, type Registry } from 'prom-client';
import { counterFromTotal } from '../metrics/total-counter.js';
import type { PodIdentity } from './resolver.js';

export interface IdentityCacheOptions {
  max: number;
  ttlMs: number;
  registry?: Registry | undefined;
  /** Clock in milliseconds, for tests. */
  now?: () => number;
}

interface Entry {
  readonly identity: PodIdentity;
  /** The pod UID from the cgroup path ('' for host entries). */
  readonly podUid: string;
}

/** The cache key of a PID; cgroup IDs are used as they are. */
export function pidKey(tgid: number): number {
  return -tgid;
}

export class IdentityCache {
  hits = 0;
  misses = 0;
  private readonly lru: LRUCache<number, Entry>;
  private readonly keysByPod = new Map<string, Set<number>>();

  constructor(options: IdentityCacheOptions) {
    this.lru = new LRUCache<number, Entry>({
      max: options.max,
      ttl: options.ttlMs,
      // Expired entries are dropped when next read or pushed out by the bound;
      // no timers.
      ttlAutopurge: false,
      ...(options.now === undefined ? {} : { perf: { now: options.now }, ttlResolution: 0 }),
      dispose: (entry, key) => this.unindex(entry.podUid, key),
    });
    if (options.registry !== undefined) this.register(options.registry);
  }

  get size(): number {
    return this.lru.size;
  }

  /** The hot path: a hit returns a shared identity and allocates nothing. */
  get(key: number): PodIdentity | undefined {
    const entry = this.lru.get(key);
    if (entry === undefined) return undefined;
    this.hits++;
    return entry.identity;
  }

  /** Caches an identity; ttlMs overrides the default TTL (short for negative answers). */
  set(key: number, identity: PodIdentity, podUid: string, ttlMs?: number): void {
    this.lru.set(key, { identity, podUid }, ttlMs === undefined ? undefined : { ttl: ttlMs });
    if (podUid === '') return;
    let keys = this.keysByPod.get(podUid);
    if (keys === undefined) {
      keys = new Set();
      this.keysByPod.set(podUid, keys);
    }
    keys.add(key);
  }

  /** Drops every entry resolved under this pod UID. */
  purgePod(podUid: string): void {
    const keys = this.keysByPod.get(podUid);
    if (keys === undefined) return;
    for (const key of [...keys]) this.lru.delete(key);
    this.keysByPod.delete(podUid);
  }

  clear(): void {
    this.lru.clear();
    this.keysByPod.clear();
  }

  private unindex(podUid: string, key: number): void {
    if (podUid === '') return;
    const keys = this.keysByPod.get(podUid);
    if (keys === undefined) return;
    keys.delete(key);
    if (keys.size === 0) this.keysByPod.delete(podUid);
  }

  private register(registry: Registry): void {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const cache = this;
    counterFromTotal({
      name: 'kubepulse_metadata_cache_hits_total',
      help: 'Pod resolutions answered from the metadata cache.',
      registry,
      total: () => cache.hits,
    });
    counterFromTotal({
      name: 'kubepulse_metadata_cache_misses_total',
      help: 'Pod resolutions that had to look at the cgroup index, /proc or the cgroup file system.',
      registry,
      total: () => cache.misses,
    });
    new Gauge({
      name: 'kubepulse_metadata_cache_size',
      help: 'Entries in the metadata cache (cgroup IDs and PIDs).',
      registers: [registry],
      collect() {
        this.set(cache.size);
      },
    });
  }
}
