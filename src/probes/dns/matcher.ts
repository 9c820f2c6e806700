// Pairs DNS queries with their responses to measure resolution latency and
// to find queries that were never answered.
//
// Key: (socket cookie, transaction id). The cookie identifies the socket the
// query left on and the response came back to, so two processes using the
// same id never collide; the id separates queries in flight on one socket.
//
// Storage: this runs for every DNS packet, so nothing is allocated per query
// or per response. Pending queries live in slots of typed-array columns
// (cookie, id, timestamp), found through a chained hash table of slot
// indexes and kept in arrival order by a doubly linked list of slot indexes;
// the caller's context is a reference in a plain array. The columns grow by
// doubling up to maxPending and never shrink (48 bytes a slot: 3 MiB at the
// default bound, reached only by a node that really has 65k queries in
// flight). A response returns one shared match object, overwritten by the
// next call. `slot` names the slot a call used, so a caller can keep its own
// per-query data in columns beside these (the collector's stream fields).
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
// may expire a little late, never early. What "now" is for expiry is the
// caller's to say: the collector passes the kernel time up to which events
// have been processed, not the wall clock (see expiry.ts).

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

const NONE = -1;
const INITIAL_SLOTS = 256;
const TWO_32 = 4294967296;

export class DnsMatcher<C> {
  readonly timeoutNs: number;
  readonly maxPending: number;
  readonly stats: DnsMatcherStats = { matched: 0, unmatched: 0, retransmits: 0, timedOut: 0, evicted: 0 };
  /**
   * The slot the last query(), response() or expiry callback used: per-query
   * data kept beside the matcher is indexed by it, and stays readable until
   * the next query() may reuse the slot.
   */
  slot = NONE;
  private capacity = 0;
  private cookies = new Float64Array(0);
  private ids = new Uint16Array(0);
  private times = new Float64Array(0);
  /** Arrival order: the neighbours of a pending slot. */
  private older = new Int32Array(0);
  private newer = new Int32Array(0);
  /** The next slot in a hash bucket, or in the free list. */
  private chain = new Int32Array(0);
  private buckets = new Int32Array(0);
  private mask = 0;
  private contexts: Array<C | undefined> = [];
  private oldest = NONE;
  private newest = NONE;
  private free = NONE;
  /** Slots handed out at least once; the ones above are fresh. */
  private touched = 0;
  private count = 0;
  private readonly match: { context: C; latencySeconds: number } = { context: undefined as C, latencySeconds: 0 };

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
    this.grow(Math.min(maxPending, INITIAL_SLOTS));
  }

  /** Slots the columns hold now (a caller's own per-slot columns need at least this many). */
  get slots(): number {
    return this.capacity;
  }

  /**
   * A query left socket `cookie` with transaction `id` at `tsNs`. Returns
   * false if it is a retransmission of a query still pending (the first
   * send's timestamp and context are kept).
   */
  query(cookie: number, id: number, tsNs: number, context: C): boolean {
    const txid = id & 0xffff; // a stray value can never reach a neighbour's key
    const found = this.find(cookie, txid);
    if (found !== NONE) {
      this.slot = found;
      this.stats.retransmits++;
      return false;
    }
    if (this.count >= this.maxPending) {
      this.remove(this.oldest);
      this.stats.evicted++;
    }
    const s = this.take();
    this.cookies[s] = cookie;
    this.ids[s] = txid;
    this.times[s] = tsNs;
    this.contexts[s] = context;
    const b = this.bucketOf(cookie, txid);
    this.chain[s] = this.buckets[b]!;
    this.buckets[b] = s;
    this.older[s] = this.newest;
    this.newer[s] = NONE;
    if (this.newest !== NONE) this.newer[this.newest] = s;
    else this.oldest = s;
    this.newest = s;
    this.count++;
    this.slot = s;
    return true;
  }

  /**
   * A response to transaction `id` arrived on socket `cookie` at `tsNs`.
   * Returns the query's context and the latency in a match object that the
   * next call overwrites, or undefined (counted in stats.unmatched) when no
   * such query is pending.
   */
  response(cookie: number, id: number, tsNs: number): DnsMatch<C> | undefined {
    const s = this.find(cookie, id & 0xffff);
    if (s === NONE) {
      this.stats.unmatched++;
      return undefined;
    }
    const dt = tsNs - this.times[s]!;
    this.match.context = this.contexts[s] as C;
    this.match.latencySeconds = dt > 0 ? dt / 1e9 : 0;
    this.remove(s);
    this.slot = s;
    this.stats.matched++;
    return this.match;
  }

  /**
   * Remove every query sent at or before `nowNs - timeout` and pass each to
   * `onTimeout` (with how long it had been waiting, and its slot). Returns how
   * many expired. `nowNs` is on the kernel's clock: the collector passes the
   * time up to which events have been processed.
   */
  expire(nowNs: number, onTimeout?: (context: C, waitedSeconds: number, slot: number) => void): number {
    const cutoff = nowNs - this.timeoutNs;
    let n = 0;
    while (this.oldest !== NONE && this.times[this.oldest]! <= cutoff) {
      const s = this.oldest;
      const context = this.contexts[s] as C;
      const waited = (nowNs - this.times[s]!) / 1e9;
      this.remove(s);
      n++;
      this.slot = s;
      onTimeout?.(context, waited, s);
    }
    this.stats.timedOut += n;
    return n;
  }

  /** Queries waiting for a response. */
  get size(): number {
    return this.count;
  }

  private bucketOf(cookie: number, txid: number): number {
    // ToUint32 takes the low and high words of any integer-valued double.
    let h = Math.imul((cookie >>> 0) ^ Math.imul(txid, 0x9e3779b1), 0x85ebca6b) ^ Math.imul((cookie / TWO_32) >>> 0, 0xc2b2ae35);
    h ^= h >>> 15;
    return h & this.mask;
  }

  private find(cookie: number, txid: number): number {
    for (let s = this.buckets[this.bucketOf(cookie, txid)]!; s !== NONE; s = this.chain[s]!) {
      if (this.cookies[s] === cookie && this.ids[s] === txid) return s;
    }
    return NONE;
  }

  private take(): number {
    if (this.free !== NONE) {
      const s = this.free;
      this.free = this.chain[s]!;
      return s;
    }
    if (this.touched === this.capacity) this.grow(Math.min(this.maxPending, 2 * this.capacity));
    return this.touched++;
  }

  /** Unlinks a pending slot from its bucket and the arrival order, and frees it. */
  private remove(s: number): void {
    const b = this.bucketOf(this.cookies[s]!, this.ids[s]!);
    if (this.buckets[b] === s) this.buckets[b] = this.chain[s]!;
    else {
      let p = this.buckets[b]!;
      while (this.chain[p] !== s) p = this.chain[p]!;
      this.chain[p] = this.chain[s]!;
    }
    const o = this.older[s]!;
    const n = this.newer[s]!;
    if (o !== NONE) this.newer[o] = n;
    else this.oldest = n;
    if (n !== NONE) this.older[n] = o;
    else this.newest = o;
    this.contexts[s] = undefined; // the caller's object is not kept alive by a free slot
    this.chain[s] = this.free;
    this.free = s;
    this.count--;
  }

  /** Only when every slot is taken: copies the columns and rebuilds the buckets. */
  private grow(slots: number): void {
    const copy = <T extends Float64Array | Int32Array | Uint16Array>(old: T, make: (n: number) => T): T => {
      const a = make(slots);
      a.set(old);
      return a;
    };
    this.cookies = copy(this.cookies, (n) => new Float64Array(n));
    this.times = copy(this.times, (n) => new Float64Array(n));
    this.ids = copy(this.ids, (n) => new Uint16Array(n));
    this.older = copy(this.older, (n) => new Int32Array(n));
    this.newer = copy(this.newer, (n) => new Int32Array(n));
    this.chain = new Int32Array(slots);
    let buckets = 1;
    while (buckets < 2 * slots) buckets *= 2;
    this.buckets = new Int32Array(buckets).fill(NONE);
    this.mask = buckets - 1;
    for (let s = this.oldest; s !== NONE; s = this.newer[s]!) {
      const b = this.bucketOf(this.cookies[s]!, this.ids[s]!);
      this.chain[s] = this.buckets[b]!;
      this.buckets[b] = s;
    }
    for (let s = this.contexts.length; s < slots; s++) this.contexts.push(undefined); // packed, never holes
    this.capacity = slots;
  }
}
