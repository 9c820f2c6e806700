// The event hub: collectors publish decoded events here; it keeps a bounded
// history and fans events out to subscribers.
//
// Cost by construction: collectors ask `hub.wanted` before building a
// record, and it is false when the history is off (--api.history 0) and no
// one subscribes, so then an event costs one property read. Otherwise an
// event costs one small record (shared identity and peer objects, no
// strings built) stored in a ring, plus one filter call per subscriber;
// JSON is made only for subscribers the event passed, in the writer; a TCP
// event's peer is formatted and resolved (src/peers) only then, or when a
// subscriber's peer filter asks, never for an event no one wants. TCP and
// DNS events, the frequent ones, are kept in the ring without any
// allocation: their fields go into columns (typed arrays, and references to
// strings the collectors already hold) and become records only when a
// client asks for the history (a live subscriber gets a record of its own,
// short-lived: see publishTcp).
//
// A slow subscriber never holds the daemon: each has a bounded queue of
// records and a bounded number of bytes written but not yet taken by its
// socket; while those bytes are at the bound, events beyond the queue are
// dropped and counted (kubepulse_stream_dropped_total), and the client is
// told how many it missed (an `event: dropped` message) when it reads again.

import { Gauge, type Registry } from 'prom-client';
import { counterFromTotal } from '../metrics/total-counter.js';
import type { PodIdentity } from '../metadata/resolver.js';
import { addressOnlyPeers, type PeerResolver } from '../peers/resolver.js';
import { TCP_RESULTS } from '../probes/tcp/event.js';
import type { StreamQuery } from './filter.js';
import { DnsRecord, TcpRecord, type StreamRecord } from './record.js';

/** What a ring slot without a record holds in the columns. */
const enum Stored {
  Tcp = 0,
  Dns = 1,
}

/**
 * How much older than the one published before it an event can be: a held
 * cgroup's events (src/bpf/event-stream.ts, at most 3 s) are published after
 * later ones of other cgroups, and the two rings' batches interleave within
 * the poller's flush. A since= walk, newest first, stops only this far
 * before `since`.
 */
const OUT_OF_ORDER_MS = 5000;

/** The DNS part of the columns: the strings of a DNS event, by slot. */
interface DnsColumns {
  name: string[];
  domain: string[];
  qtype: string[];
  rcode: string[];
}

/** Where a subscriber's bytes go (an HTTP response, in the SSE route). */
export interface SubscriberSink {
  /** Serialise now: the array is the subscriber's queue, emptied and reused when this returns. */
  write(records: readonly StreamRecord[], missed: number): void;
  /** The sink holds as many bytes as a subscriber may have waiting; the owner calls hub.flush when it drains. */
  readonly full: boolean;
}

export class Subscriber {
  readonly queue: StreamRecord[] = [];
  /** Dropped since the client was last told. */
  missed = 0;
  droppedTotal = 0;
  delivered = 0;
  lastWriteMs = Date.now();
  constructor(
    readonly query: StreamQuery,
    readonly sink: SubscriberSink,
  ) {}
}

export interface EventHubOptions {
  node: string;
  /** Events kept for late clients (last=N, since=…); 0 = no history. */
  historySize: number;
  /** Records queued per subscriber while its socket is full. */
  queueSize: number;
  registry?: Registry;
  /** Who a TCP event's peer is (the flows' resolver); asked only for events a subscriber wants. */
  peers?: PeerResolver;
}

export class EventHub {
  /** Collectors build and publish records only when this is true. */
  wanted: boolean;
  readonly node: string;
  readonly historySize: number;
  readonly queueSize: number;
  readonly peers: PeerResolver;
  /** A slot holds a record, or (undefined) a TCP or DNS event in the columns below. */
  private readonly ring: Array<StreamRecord | undefined>;
  private readonly col: {
    kind: Uint8Array;
    seq: Float64Array;
    timeMs: Float64Array;
    /** TCP: latency or duration; DNS: latency. */
    seconds: Float64Array;
    /** TCP: the peer's port; DNS: the server's. */
    port: Uint16Array;
    result: Uint8Array;
    family: Uint8Array;
    /** The peer's (TCP) or server's (DNS) address, four network-order words a slot. */
    addr: Uint32Array;
    id: Array<PodIdentity | undefined>;
  };
  /**
   * Made with the other columns, not at the first DNS event: at the largest
   * --api.history (1M) making them takes ~0.4 s of the JavaScript thread
   * (four packed arrays of n strings, then the GC of 32 MB), and taken at the
   * first DNS event that stall held every event behind it, on every live
   * screen, for as long.
   */
  private readonly dns: DnsColumns;
  private next = 0;
  private stored = 0;
  private seq = 0;
  published = 0;
  dropped = 0;
  private readonly subscribers = new Set<Subscriber>();
  private flushScheduled = false;

  constructor(options: EventHubOptions) {
    this.node = options.node;
    this.historySize = options.historySize;
    this.queueSize = options.queueSize;
    this.peers = options.peers ?? addressOnlyPeers;
    const n = options.historySize;
    this.ring = new Array<StreamRecord | undefined>(n);
    this.col = { kind: new Uint8Array(n), seq: new Float64Array(n), timeMs: new Float64Array(n), seconds: new Float64Array(n), port: new Uint16Array(n), result: new Uint8Array(n), family: new Uint8Array(n), addr: new Uint32Array(4 * n), id: new Array(n) };
    // Packed arrays of n strings (new Array(n) is a holey array).
    const strings = (): string[] => Array.from({ length: n }, () => '');
    this.dns = { name: strings(), domain: strings(), qtype: strings(), rcode: strings() };
    this.wanted = options.historySize > 0;
    if (options.registry) this.registerMetrics(options.registry);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  publish(r: StreamRecord): void {
    r.seq = ++this.seq;
    this.published++;
    if (this.historySize > 0) {
      this.ring[this.next] = r;
      this.next = (this.next + 1) % this.historySize;
      if (this.stored < this.historySize) this.stored++;
    }
    this.fanOut(r);
  }

  private fanOut(r: StreamRecord): void {
    for (const s of this.subscribers) {
      if (!s.query.matches(r)) continue;
      // One ring-buffer batch can hold more events than a queue: a client
      // that keeps up takes them now instead of losing them.
      if (s.queue.length >= this.queueSize && !s.sink.full) this.flush(s);
      if (s.queue.length >= this.queueSize) {
        s.missed++;
        s.droppedTotal++;
        this.dropped++;
        continue;
      }
      s.queue.push(r);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flushAll());
      }
    }
  }

  /**
   * A TCP event (result: enum kp_tcp_result; the peer's address as AF_INET or
   * AF_INET6 and four network-order words). The history keeps it in the
   * columns, without allocating, its peer neither formatted nor resolved;
   * subscribers get a record of it that nothing else holds. Were the ring to
   * hold that record (and its JSON, made for the subscribers), every TCP
   * event would outlive two scavenges while the ring goes round (10,000
   * events: under a second at the soak's rate) and be promoted to the old
   * generation, to die there: ~7 MB/s of old-space garbage with one live
   * subscriber, which V8 let grow to ~250 MiB of heap between major GCs.
   */
  publishTcp(timeMs: number, id: PodIdentity, result: number, seconds: number, peerPort: number, family: number, a0: number, a1: number, a2: number, a3: number): void {
    this.published++;
    const seq = ++this.seq;
    if (this.historySize > 0) this.col.result[this.store(Stored.Tcp, seq, timeMs, id, seconds, peerPort, family, a0, a1, a2, a3)] = result;
    if (this.subscribers.size === 0) return;
    const r = new TcpRecord(timeMs, id, TCP_RESULTS[result] ?? 'error', seconds, peerPort, family, a0, a1, a2, a3, this.peers);
    r.seq = seq;
    this.fanOut(r);
  }

  /**
   * A DNS query's end (an rcode, or timeout); the server's address as
   * AF_INET or AF_INET6 and four network-order words. Like publishTcp: the
   * history keeps it in the columns without allocating (the strings are the
   * collector's own), subscribers get a record of it that nothing else holds.
   */
  publishDns(timeMs: number, id: PodIdentity, name: string, domain: string, qtype: string, rcode: string, latencySeconds: number, serverPort: number, family: number, s0: number, s1: number, s2: number, s3: number): void {
    this.published++;
    const seq = ++this.seq;
    if (this.historySize > 0) {
      const i = this.store(Stored.Dns, seq, timeMs, id, latencySeconds, serverPort, family, s0, s1, s2, s3);
      const d = this.dns;
      d.name[i] = name;
      d.domain[i] = domain;
      d.qtype[i] = qtype;
      d.rcode[i] = rcode;
    }
    if (this.subscribers.size === 0) return;
    const r = new DnsRecord(timeMs, id, name, domain, qtype, rcode, latencySeconds, serverPort, family, s0, s1, s2, s3);
    r.seq = seq;
    this.fanOut(r);
  }

  /** The fields every column-stored event has, in the next slot of the ring; returns the slot. */
  private store(kind: Stored, seq: number, timeMs: number, id: PodIdentity, seconds: number, port: number, family: number, a0: number, a1: number, a2: number, a3: number): number {
    const i = this.next;
    const c = this.col;
    this.ring[i] = undefined;
    c.kind[i] = kind;
    c.seq[i] = seq;
    c.timeMs[i] = timeMs;
    c.seconds[i] = seconds;
    c.port[i] = port;
    c.family[i] = family;
    c.addr[4 * i] = a0;
    c.addr[4 * i + 1] = a1;
    c.addr[4 * i + 2] = a2;
    c.addr[4 * i + 3] = a3;
    c.id[i] = id;
    this.next = (i + 1) % this.historySize;
    if (this.stored < this.historySize) this.stored++;
    return i;
  }

  /** The record at a ring slot, made from the columns (once) when it was stored as one. */
  private at(slot: number): StreamRecord {
    let r = this.ring[slot];
    if (r === undefined) {
      const c = this.col;
      const a = 4 * slot;
      const d = this.dns;
      r = c.kind[slot] === Stored.Dns
        ? new DnsRecord(c.timeMs[slot] as number, c.id[slot] as PodIdentity, d.name[slot] as string, d.domain[slot] as string, d.qtype[slot] as string, d.rcode[slot] as string,
            c.seconds[slot] as number, c.port[slot] as number, c.family[slot] as number, c.addr[a] as number, c.addr[a + 1] as number, c.addr[a + 2] as number, c.addr[a + 3] as number)
        : new TcpRecord(c.timeMs[slot] as number, c.id[slot] as PodIdentity, TCP_RESULTS[c.result[slot] as number] ?? 'error', c.seconds[slot] as number, c.port[slot] as number,
            c.family[slot] as number, c.addr[a] as number, c.addr[a + 1] as number, c.addr[a + 2] as number, c.addr[a + 3] as number, this.peers);
      r.seq = c.seq[slot] as number;
      this.ring[slot] = r;
    }
    return r;
  }

  /** The history that matches, oldest first: the last N, or since a time. */
  history(query: StreamQuery): StreamRecord[] {
    if (query.last === 0 && query.sinceMs === undefined) return [];
    const out: StreamRecord[] = [];
    // Newest first, so `last` stops early.
    for (let i = 1; i <= this.stored; i++) {
      const slot = (this.next - i + this.historySize) % this.historySize;
      if (query.sinceMs !== undefined) {
        const timeMs = this.ring[slot]?.timeMs ?? (this.col.timeMs[slot] as number);
        if (timeMs < query.sinceMs - OUT_OF_ORDER_MS) break;
        if (timeMs < query.sinceMs) continue;
      }
      const r = this.at(slot);
      if (!query.matches(r)) continue;
      out.push(r);
      if (query.last > 0 && out.length >= query.last) break;
    }
    return out.reverse();
  }

  subscribe(query: StreamQuery, sink: SubscriberSink): Subscriber {
    const s = new Subscriber(query, sink);
    this.subscribers.add(s);
    this.wanted = true;
    return s;
  }

  unsubscribe(s: Subscriber): void {
    this.subscribers.delete(s);
    this.wanted = this.historySize > 0 || this.subscribers.size > 0;
  }

  /** The sink can take more: write what waited. */
  flush(s: Subscriber): void {
    if (s.sink.full || (s.queue.length === 0 && s.missed === 0)) return;
    const missed = s.missed;
    s.missed = 0;
    s.delivered += s.queue.length;
    s.lastWriteMs = Date.now();
    // The queue itself, not a copy of it: one array less per write, at every batch of every subscriber.
    s.sink.write(s.queue, missed);
    s.queue.length = 0;
  }

  private flushAll(): void {
    this.flushScheduled = false;
    for (const s of this.subscribers) this.flush(s);
  }

  private registerMetrics(registry: Registry): void {
    const hub = this;
    counterFromTotal({
      name: 'kubepulse_stream_dropped_total',
      help: 'Events not sent to a live-stream subscriber because its queue was full (the client was too slow); the client is told how many it missed.',
      registry,
      total: () => hub.dropped,
    });
    counterFromTotal({
      name: 'kubepulse_stream_events_total',
      help: 'Events published to the live stream (history and subscribers).',
      registry,
      total: () => hub.published,
    });
    new Gauge({
      name: 'kubepulse_stream_subscribers',
      help: 'Clients following /api/v1/events now.',
      registers: [registry],
      collect() {
        this.set(hub.subscribers.size);
      },
    });
    new Gauge({
      name: 'kubepulse_stream_history_events',
      help: 'Events held in the live stream\'s history (at most --api.history).',
      registers: [registry],
      collect() {
        this.set(hub.stored);
      },
    });
  }
}
