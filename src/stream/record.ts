// What the live stream carries: compact records kept in the history and
// queued for subscribers. A record holds references (the resolver's shared
// frozen PodIdentity, the peer object) and numbers; it becomes JSON only
// when a subscriber that wants it is written to, never when it is published.

import type { PodIdentity } from '../metadata/resolver.js';
import type { Peer } from '../api/v1.js';
import type { PeerResolver } from '../peers/resolver.js';
import { addressText, hostPort } from './address.js';

export const EVENT_TYPES = ['tcp', 'dns', 'flow'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * A TCP event. The peer's address arrives as the family and four words (see
 * address.ts); its text and who it is (pod, Service, node, external) are
 * made the first time something asks — a subscriber's peer filter, or the
 * JSON for a subscriber the event passed — and kept for the others. An event
 * no subscriber wants is never resolved.
 */
export class TcpRecord {
  readonly type = 'tcp' as const;
  seq = 0;
  /** The SSE message, made by the first subscriber that sends it and shared by the rest. */
  wire: string | undefined = undefined;
  private address: string | undefined = undefined;
  private identity: Peer | undefined = undefined;
  constructor(
    readonly timeMs: number,
    readonly id: PodIdentity,
    readonly result: string,
    /** Connect latency for an attempt; the connection's lifetime for closed/reset. */
    readonly seconds: number,
    readonly peerPort: number,
    /** AF_INET or AF_INET6, and the peer's address in network-order words. */
    readonly family: number,
    readonly a0: number,
    readonly a1: number,
    readonly a2: number,
    readonly a3: number,
    private readonly peers: PeerResolver,
  ) {}

  get peerAddress(): string {
    return (this.address ??= addressText(this.family, this.a0, this.a1, this.a2, this.a3));
  }

  /** Resolved when first asked. A record made from the history's columns resolves then, with what the cluster is then. */
  get peer(): Peer {
    return (this.identity ??= this.peers.peerOf(this.peerAddress));
  }
}

export class DnsRecord {
  readonly type = 'dns' as const;
  seq = 0;
  /** The SSE message, made by the first subscriber that sends it and shared by the rest. */
  wire: string | undefined = undefined;
  private address: string | undefined = undefined;
  constructor(
    readonly timeMs: number,
    readonly id: PodIdentity,
    readonly name: string,
    readonly domain: string,
    readonly qtype: string,
    readonly rcode: string,
    readonly latencySeconds: number,
    readonly serverPort: number,
    /** The server the query went to: AF_INET or AF_INET6, and network-order words. */
    readonly family: number,
    readonly s0: number,
    readonly s1: number,
    readonly s2: number,
    readonly s3: number,
  ) {}

  get serverAddress(): string {
    return (this.address ??= addressText(this.family, this.s0, this.s1, this.s2, this.s3));
  }
}

export class FlowEventRecord {
  readonly type = 'flow' as const;
  seq = 0;
  /** The SSE message, made by the first subscriber that sends it and shared by the rest. */
  wire: string | undefined = undefined;
  constructor(
    readonly timeMs: number,
    readonly id: PodIdentity,
    readonly direction: string,
    readonly protocol: string,
    readonly port: number,
    readonly peer: Peer,
    readonly count: number,
    readonly delta: number,
  ) {}
}

export type StreamRecord = TcpRecord | DnsRecord | FlowEventRecord;

/** Results a connection attempt ends with, and how an established one ends. */
export const LATENCY_RESULTS = new Set(['established', 'refused', 'timeout', 'error']);

function peerJson(p: Peer): Record<string, unknown> {
  const out: Record<string, unknown> = { kind: p.kind, address: p.address };
  if (p.namespace !== undefined) out.namespace = p.namespace;
  if (p.name !== undefined) out.name = p.name;
  if (p.pod !== undefined) out.pod = p.pod;
  if (p.workload !== undefined) out.workload = p.workload;
  return out;
}

/** The wire form: one JSON object per event (see README, "Live events"). */
export function recordJson(r: StreamRecord, node: string): Record<string, unknown> {
  const out: Record<string, unknown> = {
    time: new Date(r.timeMs).toISOString(),
    node,
    type: r.type,
    namespace: r.id.namespace,
    workload: r.id.workload,
    pod: r.id.pod,
  };
  if (r.id.container !== '') out.container = r.id.container;
  if (r.type === 'tcp') {
    out.result = r.result;
    if (LATENCY_RESULTS.has(r.result)) out.latency_seconds = r.seconds;
    else out.duration_seconds = r.seconds;
    out.peer = hostPort(r.peerAddress, r.peerPort);
    // Who it is, as flows say it, in flat fields (jq: .peer_kind).
    const p = r.peer;
    out.peer_kind = p.kind;
    if (p.namespace !== undefined) out.peer_namespace = p.namespace;
    if (p.pod !== undefined) out.peer_pod = p.pod;
    if (p.name !== undefined) out.peer_name = p.name;
    if (p.workload !== undefined) out.peer_workload = p.workload;
  } else if (r.type === 'dns') {
    out.name = r.name;
    out.domain = r.domain;
    out.qtype = r.qtype;
    out.rcode = r.rcode;
    if (r.rcode !== 'timeout') out.latency_seconds = r.latencySeconds;
    out.server = hostPort(r.serverAddress, r.serverPort);
  } else {
    out.direction = r.direction;
    out.protocol = r.protocol;
    out.port = r.port;
    out.peer = peerJson(r.peer);
    out.count = r.count;
    out.delta = r.delta;
  }
  return out;
}
