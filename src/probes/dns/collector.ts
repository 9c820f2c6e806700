// DNS metrics from the DNS probe's events: queries by registered domain and
// type, resolution latency and response codes per pod, timeouts for
// queries that got no answer, and malformed packets counted and skipped.
//
// Per event this allocates nothing in the common case: the message is parsed
// into one reused object, a name seen recently is the same string again
// (wire.ts), the matcher keeps pending queries in typed-array slots, what
// the live stream needs of a query waits in columns beside the matcher's,
// indexed by its slot, and the stream's history stores DNS events in
// columns too (hub.publishDns).

import { Counter, type Registry } from 'prom-client';
import { HOST_IDENTITY, type PodIdentity, type Resolver } from '../../metadata/resolver.js';
import { monotonicToWallMs } from '../../stream/clock.js';
import type { EventHub } from '../../stream/hub.js';
import { counterFromTotal } from '../../metrics/total-counter.js';
import { CounterFamily, HistogramFamily, type CounterCell, type HistogramCell } from '../../metrics/cells.js';
import { POD_LABEL_NAMES, PodCells, type PodLabels } from '../../metrics/pod-cells.js';
import type { UnattributedSink } from '../../metrics/unattributed.js';
import { LATENCY_BUCKETS } from '../tcp/collector.js';
import { DomainFolder, DomainLimiter } from './domain.js';
import { DIRECTION_QUERY, DIRECTION_RESPONSE, DNS_EVENT_LAYOUT, TRANSPORT_TCP, dnsEvent } from './event.js';
import { DnsMatcher } from './matcher.js';
import { RCODE_TIMEOUT, qtypeName, rcodeName } from './names.js';
import { DNS_PARSE_ERRORS, newDnsMessageFields, readDnsMessage, type DnsParseError } from './wire.js';

/** kubepulse_dns_malformed_total's reasons: the parser's, and bad_event for a record the kernel framed wrong. */
type MalformedReason = DnsParseError | 'bad_event';
export const MALFORMED_REASONS: readonly MalformedReason[] = [...DNS_PARSE_ERRORS, 'bad_event'];

export interface DnsCollectorOptions {
  node: string;
  timeoutMs: number;
  maxDomains: number;
  clusterDomain: string;
  /** Counts queries that could not be attributed to a pod. */
  unattributed?: UnattributedSink;
}

/** A pod's cells, each created on its first use. */
interface DnsCells {
  labels: PodLabels;
  latency: HistogramCell | undefined;
  /** domain → qtype → cell */
  queries: Map<string, Map<string, CounterCell>>;
  /** rcode label → cell */
  responses: Map<string, CounterCell>;
}

const TCP_LENGTH_PREFIX = 2;

/**
 * What the live stream needs to hear of a query's end, per matcher slot: set
 * for queries sent while the stream wanted them (`streamed`). Strings are
 * references (the parser's name, the folder's domain, the qtype label).
 */
class StreamedQueries {
  streamed = new Uint8Array(0);
  id: PodIdentity[] = [];
  name: string[] = [];
  domain: string[] = [];
  qtype: string[] = [];
  serverPort = new Uint16Array(0);
  /** The server's address as the event has it (AF_INET or AF_INET6, four network-order words a slot): text only if a subscriber wants it. */
  family = new Uint16Array(0);
  server = new Uint32Array(0);

  /** At least `slots` slots (the matcher's, which only grow). */
  fit(slots: number): void {
    if (this.streamed.length >= slots) return;
    const widen = <T extends Uint8Array | Uint16Array | Uint32Array>(old: T, a: T): T => {
      a.set(old);
      return a;
    };
    this.streamed = widen(this.streamed, new Uint8Array(slots));
    this.serverPort = widen(this.serverPort, new Uint16Array(slots));
    this.family = widen(this.family, new Uint16Array(slots));
    this.server = widen(this.server, new Uint32Array(4 * slots));
    for (let s = this.name.length; s < slots; s++) {
      // Packed arrays, never holes.
      this.id.push(HOST_IDENTITY);
      this.name.push('');
      this.domain.push('');
      this.qtype.push('');
    }
  }
}

/**
 * What became of each DNS event: every event ends in exactly one outcome, so
 * the outcomes add up to kubepulse_events_total{type="dns"} and nothing is
 * lost silently. `server_side`: a query arriving or a response leaving (this
 * node answers); `tcp_segment`: a TCP segment that is not one whole message.
 */
export const DNS_PACKET_OUTCOMES = ['query', 'retransmission', 'response', 'unmatched', 'server_side', 'tcp_segment', 'malformed'] as const;
const enum Outcome {
  Query,
  Retransmission,
  Response,
  Unmatched,
  ServerSide,
  TcpSegment,
  Malformed,
}

export class DnsCollector {
  readonly queries: CounterFamily<string>;
  readonly latency: HistogramFamily<string>;
  readonly responses: CounterFamily<string>;
  readonly malformed: Counter<string>;
  readonly unmatched: Counter<string>;
  private readonly folder: DomainFolder;
  private readonly limiter: DomainLimiter;
  /** Pending queries with their pod's cells (no allocation per query). */
  private readonly matcher: DnsMatcher<DnsCells>;
  private readonly streamed = new StreamedQueries();
  /** Kernel timestamp of the newest event handled: how far handling has got (expiry.ts). */
  newestEventNs = 0;
  private readonly message = newDnsMessageFields();
  /** The live stream, when the daemon has one; queries are remembered for it only while it wants them. */
  stream: EventHub | undefined;
  private readonly cells: PodCells<DnsCells>;
  private readonly malformedByReason = new Map<string, Counter.Internal>();
  /** Running totals per Outcome, read at scrape time (a number is cheaper than a prom-client child per event). */
  private readonly outcomes = new Float64Array(DNS_PACKET_OUTCOMES.length);
  private lastBuffer: ArrayBufferLike | undefined;
  private lastBytes: Uint8Array = new Uint8Array(0);

  constructor(
    registry: Registry,
    private readonly resolver: Resolver,
    options: DnsCollectorOptions,
  ) {
    this.folder = new DomainFolder({ clusterDomain: options.clusterDomain });
    this.limiter = new DomainLimiter({ maxDomains: options.maxDomains, reserved: this.folder.fixedLabels });
    this.matcher = new DnsMatcher({ timeoutSeconds: options.timeoutMs / 1000 });
    this.queries = new CounterFamily({
      name: 'kubepulse_dns_queries_total',
      help: 'DNS queries sent, by registered domain (per the Public Suffix List, see README) and query type.',
      labelNames: [...POD_LABEL_NAMES, 'domain', 'qtype'],
      registry,
    });
    this.latency = new HistogramFamily({
      name: 'kubepulse_dns_latency_seconds',
      help: 'Time from a DNS query leaving its socket to the response arriving, in seconds.',
      labelNames: POD_LABEL_NAMES,
      buckets: LATENCY_BUCKETS,
      registry,
    });
    this.responses = new CounterFamily({
      name: 'kubepulse_dns_responses_total',
      help: 'Outcomes of DNS queries: the response code (NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...) or timeout when none came in time.',
      labelNames: [...POD_LABEL_NAMES, 'rcode'],
      registry,
    });
    this.malformed = new Counter({
      name: 'kubepulse_dns_malformed_total',
      help: 'DNS packets that could not be parsed (counted and skipped), by reason.',
      labelNames: ['reason'],
      registers: [registry],
    });
    // Every reason at 0 from the start: "0" on a dashboard, and rate() over
    // the first malformed packet, rather than a series that appears with it.
    for (const reason of MALFORMED_REASONS) this.countMalformed(reason, 0);
    this.unmatched = new Counter({
      name: 'kubepulse_dns_unmatched_responses_total',
      help: 'DNS responses with no pending query: late (after the timeout), duplicated, or for a query sent before start.',
      registers: [registry],
    });
    const outcomes = this.outcomes;
    const reported = new Float64Array(DNS_PACKET_OUTCOMES.length);
    new Counter({
      name: 'kubepulse_dns_packets_total',
      help: 'DNS events by what became of them (query, retransmission, response, unmatched, server_side, tcp_segment, malformed); they add up to kubepulse_events_total{type="dns"}.',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        DNS_PACKET_OUTCOMES.forEach((outcome, i) => {
          this.inc({ outcome }, outcomes[i]! - reported[i]!);
          reported[i] = outcomes[i]!;
        });
      },
    });
    const limiter = this.limiter;
    counterFromTotal({
      name: 'kubepulse_dns_domains_folded_total',
      help: 'Queries whose domain label became "other" because --dns-max-domains distinct domains were already in use.',
      registry,
      total: () => limiter.folded,
    });
    this.cells = new PodCells(options.node, (labels) => ({ labels, latency: undefined, queries: new Map(), responses: new Map() }), options.unattributed);
  }

  handle(view: DataView, at: number, length: number): boolean {
    // A record too short for its own header: its fields are not there to read (past the batch's end, a RangeError).
    if (length < DNS_EVENT_LAYOUT.offsets.payload) {
      this.countMalformed('bad_event');
      return false;
    }
    const payloadLength = dnsEvent.payloadLength(view, at);
    if (length < DNS_EVENT_LAYOUT.offsets.payload + payloadLength || payloadLength > DNS_EVENT_LAYOUT.maxPayload) {
      this.countMalformed('bad_event');
      return false;
    }
    const ts = dnsEvent.tsNs(view, at);
    if (ts > this.newestEventNs) this.newestEventNs = ts;
    let offset = dnsEvent.payloadOffset(view, at);
    let size = payloadLength;
    if (dnsEvent.transport(view, at) === TRANSPORT_TCP) {
      // One whole message per segment is what we read; a message spread
      // over several segments is not DNS we can parse, and not malformed.
      if (size < TCP_LENGTH_PREFIX) return this.outcome(Outcome.TcpSegment);
      const declared = view.getUint16(offset - view.byteOffset, false);
      if (declared !== dnsEvent.wireLength(view, at) - TCP_LENGTH_PREFIX) return this.outcome(Outcome.TcpSegment);
      offset += TCP_LENGTH_PREFIX;
      size -= TCP_LENGTH_PREFIX;
    }
    const direction = dnsEvent.direction(view, at);
    // Only a query leaving needs its name: a response's comes with its query.
    const message = this.message;
    const error = readDnsMessage(this.bytesOf(view), offset, size, direction === DIRECTION_QUERY, message);
    if (error !== null) {
      this.countMalformed(error);
      return false;
    }
    const cookie = dnsEvent.socketCookie(view, at);
    if (direction === DIRECTION_QUERY && !message.isResponse) {
      const id = this.resolver.resolve(dnsEvent.tgid(view, at), dnsEvent.cgroupId(view, at), ts);
      const pod = this.cells.get(id);
      const qtype = qtypeName(message.qtype);
      const domain = this.folder.fold(message.qname);
      // A retransmission is the same query: count it once, time it from the first send.
      if (this.matcher.query(cookie, message.id, ts, pod)) {
        this.remember(this.matcher.slot, id, message.qname, domain, qtype, view, at);
        this.queryCell(pod, this.limiter.limit(domain), qtype).value += 1;
        this.count(Outcome.Query);
      } else this.count(Outcome.Retransmission);
      return true;
    }
    if (direction === DIRECTION_RESPONSE && message.isResponse) {
      const match = this.matcher.response(cookie, message.id, ts);
      if (match === undefined) {
        this.unmatched.inc();
        this.count(Outcome.Unmatched);
        return true;
      }
      const pod = match.context;
      const latency = match.latencySeconds;
      const rcode = rcodeName(message.rcode);
      (pod.latency ??= this.latency.cell(pod.labels)).observe(latency);
      this.responseCell(pod, rcode).value += 1;
      this.count(Outcome.Response);
      const slot = this.matcher.slot;
      if (this.streamed.streamed[slot] === 1) this.publish(slot, monotonicToWallMs(ts), rcode, latency);
      return true;
    }
    this.count(Outcome.ServerSide);
    return true; // a response leaving or a query arriving: this node is the server
  }

  /** Queries waiting for a response (or for expire). */
  get pending(): number {
    return this.matcher.size;
  }

  /**
   * Counts queries whose timeout ended at or before `throughNs` as
   * rcode="timeout". throughNs: kernel time (CLOCK_MONOTONIC, as events are
   * stamped) before which every event has been handled — not the wall clock:
   * an answer may still wait in the ring buffer (expiry.ts decides). nowNs:
   * when this is decided, the time a timeout's stream record carries.
   */
  expire(throughNs: number, nowNs = throughNs): number {
    return this.matcher.expire(throughNs, (pod, waited, slot) => {
      this.responseCell(pod, RCODE_TIMEOUT).value += 1;
      // Its latency, as before: how long it had waited when declared (JSON leaves it out).
      if (this.streamed.streamed[slot] === 1) this.publish(slot, monotonicToWallMs(nowNs), RCODE_TIMEOUT, waited + (nowNs - throughNs) / 1e9);
    });
  }

  /** Keeps what the stream will need of the query in `slot`, if it wants queries now. */
  private remember(slot: number, id: PodIdentity, name: string, domain: string, qtype: string, view: DataView, at: number): void {
    const q = this.streamed;
    q.fit(this.matcher.slots);
    if (!this.stream?.wanted) {
      q.streamed[slot] = 0;
      return;
    }
    q.streamed[slot] = 1;
    q.id[slot] = id;
    q.name[slot] = name;
    q.domain[slot] = domain;
    q.qtype[slot] = qtype;
    q.serverPort[slot] = dnsEvent.dport(view, at);
    q.family[slot] = dnsEvent.family(view, at);
    for (let w = 0; w < 4; w++) q.server[4 * slot + w] = dnsEvent.serverWord(view, at, w);
  }

  private publish(slot: number, timeMs: number, rcode: string, latencySeconds: number): void {
    const hub = this.stream;
    const q = this.streamed;
    q.streamed[slot] = 0;
    const a = 4 * slot;
    if (hub?.wanted)
      hub.publishDns(timeMs, q.id[slot]!, q.name[slot]!, q.domain[slot]!, q.qtype[slot]!, rcode, latencySeconds, q.serverPort[slot]!, q.family[slot]!,
        q.server[a]!, q.server[a + 1]!, q.server[a + 2]!, q.server[a + 3]!);
  }

  forgetPod(namespace: string, pod: string): void {
    this.cells.forgetPod(namespace, pod);
  }

  private queryCell(pod: DnsCells, domain: string, qtype: string): CounterCell {
    let byType = pod.queries.get(domain);
    if (byType === undefined) pod.queries.set(domain, (byType = new Map()));
    let cell = byType.get(qtype);
    if (cell === undefined) byType.set(qtype, (cell = this.queries.cell({ ...pod.labels, domain, qtype })));
    return cell;
  }

  private responseCell(pod: DnsCells, rcode: string): CounterCell {
    let cell = pod.responses.get(rcode);
    if (cell === undefined) pod.responses.set(rcode, (cell = this.responses.cell({ ...pod.labels, rcode })));
    return cell;
  }

  /** One byte view per batch buffer, not per event. */
  private bytesOf(view: DataView): Uint8Array {
    if (this.lastBuffer !== view.buffer) {
      this.lastBuffer = view.buffer;
      this.lastBytes = new Uint8Array(view.buffer);
    }
    return this.lastBytes;
  }

  private outcome(o: Outcome): false {
    this.count(o);
    return false;
  }

  private count(o: Outcome, n = 1): void {
    this.outcomes[o] = this.outcomes[o]! + n;
  }

  private countMalformed(reason: MalformedReason, by = 1): void {
    this.count(Outcome.Malformed, by);
    let child = this.malformedByReason.get(reason);
    if (child === undefined) this.malformedByReason.set(reason, (child = this.malformed.labels({ reason })));
    child.inc(by);
  }
}
