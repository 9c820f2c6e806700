// Stream filters from the query string of /api/v1/events, checked once when
// a client connects (a bad value is a 400 with one line saying why) and then
// evaluated on compact records, before anything is serialised.
//
//   namespace=a,b   workload=w   pod=web-7c  (a prefix; an exact name is its own prefix)
//   type=tcp,dns,flow   rcode=NXDOMAIN,timeout   result=refused
//   domain=example.com  (the folded domain, or a query name at or below it)
//   peer=10.0.0.7 | 10.0.0.7:443 | [fd00::7]:443 | :443   (tcp: the peer, dns: the server, flow: the peer)
//   peer=ns/name   (a peer pod, Service or workload, of tcp and flow events)
//   last=N   since=5m | 2026-12-01T00:00:00Z   follow=true|false
// Every key may be repeated or carry a comma-separated list; values of one
// key are alternatives, keys combine with AND.

import type { Peer } from '../api/v1.js';
import { canonicalIp } from '../net/ip.js';
import { RCODE_LABELS } from '../probes/dns/names.js';
import { TCP_RESULTS } from '../probes/tcp/event.js';
import { EVENT_TYPES, type EventType, type StreamRecord } from './record.js';

export class FilterError extends Error {
  override name = 'FilterError';
}

export interface StreamQuery {
  matches(r: StreamRecord): boolean;
  /** Events to replay from the history first; 0 = none. */
  last: number;
  /** Replay the history from this wall-clock time (ms); undefined = not asked. */
  sinceMs: number | undefined;
  /** Keep the stream open for live events after the replay. */
  follow: boolean;
}

const KEYS = ['namespace', 'workload', 'pod', 'type', 'rcode', 'result', 'domain', 'peer', 'last', 'since', 'follow'] as const;
const RESULTS = TCP_RESULTS.filter((r) => r !== '') as string[];

function values(params: URLSearchParams, key: string): string[] {
  return params
    .getAll(key)
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function oneOf(key: string, given: string[], allowed: readonly string[], normalise: (v: string) => string = (v) => v): Set<string> {
  const out = new Set<string>();
  for (const v of given) {
    const n = normalise(v);
    if (!allowed.includes(n)) throw new FilterError(`${key}: "${v}" is not one of ${allowed.join(', ')}`);
    out.add(n);
  }
  return out;
}

/** "5m", "30s", "2h", "500ms" or an RFC 3339 time → ms since the epoch. */
export function parseSince(text: string, nowMs: number): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text);
  if (m) return nowMs - Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms'];
  const t = /^\d{4}-\d\d-\d\dT/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(t)) throw new FilterError(`since: "${text}" is neither a duration (5m, 30s) nor an RFC 3339 time`);
  return t;
}

interface PeerMatcher {
  address?: string;
  port?: number;
  namespace?: string;
  name?: string;
}

/** The form events carry (formatIp's), so "::FFFF:10.0.0.7" or "010.0.0.7" match too. */
function peerAddress(text: string, v: string): string {
  const a = canonicalIp(text);
  if (a === undefined) throw new FilterError(`peer: "${v}" is not an address, address:port, :port or namespace/name`);
  return a;
}

function parsePeer(v: string): PeerMatcher {
  const slash = v.indexOf('/');
  if (slash > 0) return { namespace: v.slice(0, slash), name: v.slice(slash + 1) };
  const portOnly = /^:(\d{1,5})$/.exec(v);
  if (portOnly) return { port: Number(portOnly[1]) };
  const bracketed = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(v);
  if (bracketed) return { address: peerAddress(bracketed[1]!, v), port: Number(bracketed[2]) };
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(v);
  if (v4port) return { address: peerAddress(v4port[1]!, v), port: Number(v4port[2]) };
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(v) || /^[0-9a-fA-F:.]+$/.test(v) && v.includes(':')) return { address: peerAddress(v, v) };
  throw new FilterError(`peer: "${v}" is not an address, address:port, :port or namespace/name`);
}

/** A namespace/name matcher against a resolved peer: its Service or pod name, or its workload. */
function identityMatches(m: PeerMatcher, p: Peer): boolean {
  return p.namespace === m.namespace && (p.name === m.name || p.pod === m.name || p.workload === m.name);
}

// Cheap tests first: a port or an address rules most records out before
// the peer is resolved (a TCP record resolves only here or in its JSON).
function peerMatches(m: PeerMatcher, r: StreamRecord): boolean {
  if (r.type === 'flow') {
    if (m.port !== undefined && r.port !== m.port) return false;
    if (m.address !== undefined && r.peer.address !== m.address) return false;
    return m.name === undefined || identityMatches(m, r.peer);
  }
  if (r.type === 'tcp') {
    if (m.port !== undefined && r.peerPort !== m.port) return false;
    if (m.address !== undefined && r.peerAddress !== m.address) return false;
    return m.name === undefined || identityMatches(m, r.peer);
  }
  // dns: the server's address and port; the server is not resolved to a name.
  if (m.name !== undefined) return false;
  if (m.port !== undefined && r.serverPort !== m.port) return false;
  return m.address === undefined || r.serverAddress === m.address;
}

export function parseStreamQuery(params: URLSearchParams, nowMs = Date.now()): StreamQuery {
  for (const key of params.keys())
    if (!(KEYS as readonly string[]).includes(key)) throw new FilterError(`unknown filter "${key}" (known: ${KEYS.join(', ')})`);

  const namespaces = new Set(values(params, 'namespace'));
  const workloads = new Set(values(params, 'workload'));
  const pods = values(params, 'pod');
  const types = oneOf('type', values(params, 'type'), EVENT_TYPES) as Set<EventType>;
  const rcodes = oneOf('rcode', values(params, 'rcode'), RCODE_LABELS, (v) => (v.toLowerCase() === 'timeout' || v.toLowerCase() === 'other' ? v.toLowerCase() : v.toUpperCase()));
  const results = oneOf('result', values(params, 'result'), RESULTS, (v) => v.toLowerCase());
  const domains = values(params, 'domain').map((d) => d.toLowerCase().replace(/\.$/, ''));
  const peers = values(params, 'peer').map(parsePeer);

  const lastText = params.get('last');
  let last = 0;
  if (lastText !== null) {
    if (!/^\d{1,9}$/.test(lastText)) throw new FilterError(`last: "${lastText}" is not a whole number`);
    last = Number(lastText);
  }
  const sinceText = params.get('since');
  const sinceMs = sinceText === null ? undefined : parseSince(sinceText, nowMs);
  const followText = params.get('follow');
  if (followText !== null && !['true', 'false', '1', '0'].includes(followText)) throw new FilterError(`follow: "${followText}" is not true or false`);
  const follow = followText === null ? lastText === null && sinceText === null : followText === 'true' || followText === '1';

  // A filter on a field only some types have selects those types.
  const matches = (r: StreamRecord): boolean => {
    if (types.size > 0 && !types.has(r.type)) return false;
    if (namespaces.size > 0 && !namespaces.has(r.id.namespace)) return false;
    if (workloads.size > 0 && !workloads.has(r.id.workload)) return false;
    if (pods.length > 0 && !pods.some((p) => r.id.pod.startsWith(p))) return false;
    if (rcodes.size > 0 && (r.type !== 'dns' || !rcodes.has(r.rcode))) return false;
    if (results.size > 0 && (r.type !== 'tcp' || !results.has(r.result))) return false;
    if (domains.length > 0) {
      if (r.type !== 'dns') return false;
      const name = r.name.toLowerCase();
      if (!domains.some((d) => r.domain === d || name === d || name.endsWith('.' + d))) return false;
    }
    if (peers.length > 0 && !peers.some((m) => peerMatches(m, r))) return false;
    return true;
  };
  return { matches, last, sinceMs, follow };
}
