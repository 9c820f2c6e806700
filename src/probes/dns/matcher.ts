// Pairs DNS queries with their responses to measure resolution latency and
// to find queries that were never answered.
//
// Key: (socket cookie, transaction id). The cookie identifies the socket the
// query left on and the response came back to, so two processes using the
// same id never collide; the id separates queries in flight on one socket.
// The pair is packed into one number, cookie * 65536 + id, which is exact
// while cookie < 2^37 (socket cookies count up from 1 per boot, so that is
// 137 billion sockets). Bigger cookies fall back to a string key, which is
// correct but allocates.
//
// Timestamps are the kernel's monotonic clock (bpf_ktime_get_ns) as JS
// numbers. A double holds every integer nanosecond up to 2^53 ns, 104 days of
// uptime; after that the spacing between representable values grows to 2 ns
// (until 208 days), 4 ns, … 64 ns at 18 years. A latency is the difference of
// two such values, so its error stays below that spacing, far below the
// 100 µs first histogram bucket.
//
// Retransmissions: a resolver that gets no answer resends the same query,
// often with the same id on the same socket. The first send is kept, so the
// latency is what the application waited, and the resend is counted.
//
// Expiry walks pending queries oldest first and stops at the first one that
// is not yet due. Queries are stored in arrival order, which is timestamp
// order up to the small skew between CPUs' ring-buffer commits, so a query
// may expire a little late, never early.

export interface DnsMatcherOptions {
  /** A query with no response after this long counts as a timeout. Default 5 s. */
  timeoutSeconds?: number;
  /** Most queries waiting for a response; beyond it the oldest is evicted. Default 65536. */
  maxPending?: number;
}

export interface DnsMatch<C> {
  /** What the caller passed with the query. */
  readonly context: C;
  /** From the first send of the query to the response, never negative. */
  readonly latencySeconds: number;
}

export interface DnsMatcherStats {
  /** Responses paired with their query. */
  matched: number;
  /** Responses with no pending query: none seen, already answered, or already expired. */
  unmatched: number;
  /** Queries seen again while already pending (same cookie and id). */
  retransmits: number;
  /** Queries expired without a response (to be counted as rcode="timeout"). */
  timedOut: number;
  /** Queries dropped to stay within maxPending (neither answered nor timed out). */
  evicted: number;
}

interface Pending<C> {
  readonly tsNs: number;
  readonly context: C;
}

const MAX_PACKED_COOKIE = 2 ** 37;

function key(cookie: number, id: number): number | string {
  // id is masked so that a stray value can never reach a neighbour's key.
  return cookie >= 0 && cookie < MAX_PACKED_COOKIE && Number.isInteger(cookie)
    ? cookie * 65536 + (id & 0xffff)
    : `${cookie}:${id & 0xffff}`;
}

export class DnsMatcher<C> {
  readonly timeoutNs: number;
  readonly maxPending: number;
  readonly stats: DnsMatcherStats = { matched: 0, unmatched: 0, retransmits: 0, timedOut: 0, evicted: 0 };
  // Map iteration order is insertion order: the first entry is the oldest.
  private readonly pending = new Map<number | string, Pending<C>>();

  constructor(options: DnsMatcherOptions = {}) {
    const timeoutSeconds = options.timeoutSeconds ?? 5;
    const maxPending = options.maxPending ?? 65536;
    if (!(timeoutSeconds > 0) || !Number.isFinite(timeoutSeconds)) {
      throw new TypeError(`timeoutSeconds must be a positive number, got ${timeoutSeconds}`);
    }
    if (!Number.isInteger(maxPending) || maxPending < 1) {
      throw new TypeError(`maxPending must be a positive integer, got ${maxPending}`);
    }
    this.timeoutNs = timeoutSeconds * 1e9;
    this.maxPending = maxPending;
  }

  /**
   * A query left socket `cookie` with transaction `id` at `tsNs`. Returns
   * false if it is a retransmission of a query still pending (the first
   * send's timestamp and context are kept).
   */
  query(cookie: number, id: number, tsNs: number, context: C): boolean {
    const k = key(cookie, id);
    if (this.pending.has(k)) {
      this.stats.retransmits++;
      return false;
    }
    if (this.pending.size >= this.maxPending) {
      // The Map's first key is the oldest pending query.
      const oldest = this.pending.keys().next();
      if (!oldest.done) this.pending.delete(oldest.value);
      this.stats.evicted++;
    }
    this.pending.set(k, { tsNs, context });
    return true;
  }

  /**
   * A response to transaction `id` arrived on socket `cookie` at `tsNs`.
   * Returns the query's context and the latency, or undefined (counted in
   * stats.unmatched) when no such query is pending.
   */
  response(cookie: number, id: number, tsNs: number): DnsMatch<C> | undefined {
    const k = key(cookie, id);
    const p = this.pending.get(k);
    if (p === undefined) {
      this.stats.unmatched++;
      return undefined;
    }
    this.pending.delete(k);
    this.stats.matched++;
    const dt = tsNs - p.tsNs;
    return { context: p.context, latencySeconds: dt > 0 ? dt / 1e9 : 0 };
  }

  /**
   * Remove every query sent at or before `nowNs - timeout` and pass each to
   * `onTimeout` (with how long it had been waiting). Returns how many
   * expired. Call it periodically, e.g. once a second, with the kernel clock.
   */
  expire(nowNs: number, onTimeout?: (context: C, waitedSeconds: number) => void): number {
    const cutoff = nowNs - this.timeoutNs;
    let n = 0;
    for (const [k, p] of this.pending) {
      if (p.tsNs > cutoff) break;
      this.pending.delete(k);
      n++;
      onTimeout?.(p.context, (nowNs - p.tsNs) / 1e9);
    }
    this.stats.timedOut += n;
    return n;
  }

  /** Queries waiting for a response. */
  get size(): number {
    return this.pending.size;
  }
}
