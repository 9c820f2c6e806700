// What the live stream carries: compact records kept in the history and
// queued for subscribers. A record holds references (the resolver's shared
// frozen PodIdentity, the peer object) and numbers; it becomes JSON only
// when a subscriber that wants it is written to, never when it is published.

import type { PodIdentity } from '../metadata/resolver.js';
import type { Peer } from '../api/v1.js';

export const EVENT_TYPES = ['tcp', 'dns', 'flow'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export class TcpRecord {
  readonly type = 'tcp' as const;
  seq = 0;
  /** The SSE message, made by the first subscriber that sends it and shared by the rest. */
  wire: string | undefined = undefined;
  constructor(
    readonly timeMs: number,
    readonly id: PodIdentity,
    readonly result: string,
    /** Connect latency for an attempt; the connection's lifetime for closed/reset. */
    readonly seconds: number,
    readonly peerPort: number,
  ) {}
}

export class DnsRecord {
  readonly type = 'dns' as const;
  seq = 0;
  /** The SSE message, made by the first subscriber that sends it and shared by the rest. */
  wire: string | undefined = undefined;
  constructor(
    readonly timeMs: number,
    readonly id: PodIdentity,
    readonly name: string,
    readonly domain: string,
    readonly qtype: string,
    readonly rcode: string,
    readonly latencySeconds: number,
    readonly serverPort: number,
  ) {}
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
    // The kernel event carries the destination port only (bpf/tcp.h has no
    // address field), so the peer is ":port".
    out.peer = `:${r.peerPort}`;
  } else if (r.type === 'dns') {
    out.name = r.name;
    out.domain = r.domain;
    out.qtype = r.qtype;
    out.rcode = r.rcode;
    if (r.rcode !== 'timeout') out.latency_seconds = r.latencySeconds;
    out.server = `:${r.serverPort}`;
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
