// The agent's topology (node scope): its own flows, TCP and DNS counters,
// sampled every 10 s so any range up to an hour is "now minus then", plus
// the live stream's history for what only events carry (DNS outcome per
// domain, the server port a failure went to). Serves
// GET /api/v1/topology?range=15m&slow=500ms.

import type { Registry } from 'prom-client';
import type { Topology } from '../api/topology.js';
import type { FlowRecord } from '../api/v1.js';
import { UserError } from '../errors.js';
import { parseStreamQuery } from '../stream/filter.js';
import type { EventHub } from '../stream/hub.js';
import { buildTopology, FAILED_CONNECT_RESULTS, FAILED_DNS_RCODES } from './build.js';
import { CounterHistory, increase } from './counter-history.js';
import type { FlowCount, PortFailure, TopologyInputs, WorkloadCount } from './inputs.js';

export const MAX_RANGE_SECONDS = 3600;
export const DEFAULT_RANGE_SECONDS = 900;
const SAMPLE_EVERY_MS = 10_000;
/** Several open pages polling at once share one answer this young. */
const REUSE_MS = 500;

export interface AgentTopologyOptions {
  node: string;
  registry: Registry;
  hub: EventHub;
  /** The flows map, read now (the flows probe's /api/v1/flows); undefined without the flows probe. */
  flows?: () => FlowRecord[];
  nowMs?: () => number;
  sampleEveryMs?: number;
}

interface Sampled {
  value: number;
  flow?: Omit<FlowCount, 'count'>;
}

const SEP = '\u0000';

/** "15m", "30s", "1h" → seconds, within 10 s … 1 h. */
export function parseRange(text: string | null): number {
  if (text === null || text === '') return DEFAULT_RANGE_SECONDS;
  const m = /^(\d+)(s|m|h)$/.exec(text);
  const seconds = m ? Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's'] : NaN;
  if (!(seconds >= 10 && seconds <= MAX_RANGE_SECONDS)) throw new UserError(`range: "${text}" is not a duration from 10s to 1h (e.g. 5m)`);
  return seconds;
}

/** "500ms", "1s", "0.2" (seconds) → seconds. */
export function parseSlow(text: string | null): number {
  if (text === null || text === '') return 0.5;
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text);
  if (!m) throw new UserError(`slow: "${text}" is not a duration (e.g. 500ms)`);
  return Number(m[1]) / (m[2] === 'ms' ? 1000 : 1);
}

type Family = { get(): unknown };
interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

export class AgentTopology {
  private readonly history: CounterHistory;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private last: { key: string; atMs: number; topology: Topology } | undefined;

  constructor(private readonly o: AgentTopologyOptions) {
    this.now = o.nowMs ?? Date.now;
    this.history = new CounterHistory(this.now(), (MAX_RANGE_SECONDS * 1000) + 2 * (o.sampleEveryMs ?? SAMPLE_EVERY_MS));
  }

  start(): void {
    const sample = (): void => {
      void this.read().then((counters) => this.history.record(this.now(), [...counters].map(([k, s]) => [k, s.value] as const)));
    };
    sample();
    this.timer = setInterval(sample, this.o.sampleEveryMs ?? SAMPLE_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The route: GET /api/v1/topology. A bad parameter is a UserError (400). */
  async answer(url: URL): Promise<Topology> {
    for (const key of url.searchParams.keys())
      if (key !== 'range' && key !== 'slow') throw new UserError(`unknown parameter "${key}" (known: range, slow)`);
    const range = parseRange(url.searchParams.get('range'));
    const slow = parseSlow(url.searchParams.get('slow'));
    const key = `${range}|${slow}`;
    const nowMs = this.now();
    if (this.last && this.last.key === key && nowMs - this.last.atMs < REUSE_MS) return this.last.topology;
    const topology = await this.topology(range, slow);
    this.last = { key, atMs: nowMs, topology };
    return topology;
  }

  async topology(rangeSeconds: number, slowSeconds: number): Promise<Topology> {
    const nowMs = this.now();
    const counters = await this.read();
    const base = this.history.baseline(nowMs - rangeSeconds * 1000);
    const window = Math.max(1, (nowMs - base.atMs) / 1000);
    const inputs: TopologyInputs = {
      scope: 'node',
      agents: [this.o.node],
      generatedAt: new Date(nowMs).toISOString(),
      rangeSeconds: Math.round(window),
      flows: [],
      connectBuckets: [],
      connections: [],
      dnsResponses: [],
      dnsByDomain: [],
      dnsQueries: [],
      failures: [],
      slowSeconds,
    };
    for (const [key, s] of counters) {
      const count = increase(s.value, base.value(key));
      if (count <= 0 && !key.startsWith('b')) continue;
      const [kind, namespace = '', workload = '', label = ''] = key.split(SEP);
      if (kind === 'f' && s.flow) inputs.flows.push({ ...s.flow, count });
      else if (kind === 'b') inputs.connectBuckets.push({ namespace, workload, count, key: { le: label } });
      else if (kind === 'c') inputs.connections.push({ namespace, workload, count, key: { result: label } });
      else if (kind === 'r') inputs.dnsResponses.push({ namespace, workload, count, key: { rcode: label } });
      else if (kind === 'q') inputs.dnsQueries.push({ namespace, workload, count, key: { domain: label } });
    }
    this.fromEvents(inputs, nowMs - rangeSeconds * 1000);
    return buildTopology(inputs);
  }

  /** DNS outcome per domain and the port each failure went to: carried by events only. */
  private fromEvents(inputs: TopologyInputs, sinceMs: number): void {
    const query = parseStreamQuery(new URLSearchParams({ since: new Date(sinceMs).toISOString(), type: 'tcp,dns', follow: 'false' }), this.now());
    const byDomain = new Map<string, WorkloadCount<'domain' | 'rcode'>>();
    const failures = new Map<string, PortFailure>();
    const fail = (namespace: string, workload: string, protocol: 'TCP' | 'UDP', port: number, what: string): void => {
      const k = [namespace, workload, protocol, port, what].join(SEP);
      const f = failures.get(k);
      if (f) f.count++;
      else failures.set(k, { namespace, workload, protocol, port, what, count: 1 });
    };
    for (const r of this.o.hub.history(query)) {
      if (r.id.namespace === '') continue;
      if (r.type === 'dns') {
        const k = [r.id.namespace, r.id.workload, r.domain, r.rcode].join(SEP);
        const d = byDomain.get(k);
        if (d) d.count++;
        else byDomain.set(k, { namespace: r.id.namespace, workload: r.id.workload, count: 1, key: { domain: r.domain, rcode: r.rcode } });
        if (FAILED_DNS_RCODES.has(r.rcode)) fail(r.id.namespace, r.id.workload, 'UDP', r.serverPort, `dns ${r.rcode}`);
      } else if (r.type === 'tcp' && FAILED_CONNECT_RESULTS.has(r.result)) fail(r.id.namespace, r.id.workload, 'TCP', r.peerPort, `connect ${r.result}`);
    }
    inputs.dnsByDomain = [...byDomain.values()];
    inputs.failures = [...failures.values()];
  }

  /** Every cumulative counter the topology needs, summed per workload. */
  private async read(): Promise<Map<string, Sampled>> {
    const out = new Map<string, Sampled>();
    const add = (key: string, value: number, flow?: Sampled['flow']): void => {
      const s = out.get(key);
      if (s) s.value += value;
      else out.set(key, flow ? { value, flow } : { value });
    };
    for (const f of this.o.flows?.() ?? []) {
      const peerName = f.peer.kind === 'pod' ? (f.peer.workload ?? f.peer.pod ?? '') : f.peer.kind === 'external' ? '' : (f.peer.name ?? '');
      const peerAddress = f.peer.kind === 'external' || (f.peer.kind === 'node' && !f.peer.name) ? f.peer.address : undefined;
      const flow: Omit<FlowCount, 'count'> = {
        namespace: f.namespace,
        workload: f.workload,
        ...(f.workloadKind ? { workloadKind: f.workloadKind } : {}),
        direction: f.direction,
        protocol: f.protocol,
        port: f.port,
        peerKind: f.peer.kind,
        peerNamespace: f.peer.namespace ?? '',
        peerName,
        ...(f.peer.workloadKind ? { peerWorkloadKind: f.peer.workloadKind } : {}),
        ...(peerAddress ? { peerAddress } : {}),
      };
      add(['f', f.namespace, f.workload, f.direction, f.protocol, f.port, f.peer.kind, flow.peerNamespace, peerName, peerAddress ?? ''].join(SEP), f.count, flow);
    }
    const values = async (name: string): Promise<MetricValue[]> => {
      const family = this.o.registry.getSingleMetric(name) as Family | undefined;
      return family ? ((await family.get()) as { values: MetricValue[] }).values : [];
    };
    const ns = (v: MetricValue) => `${v.labels.namespace ?? ''}${SEP}${v.labels.workload ?? ''}`;
    for (const v of await values('kubepulse_tcp_latency_seconds'))
      if (v.metricName?.endsWith('_bucket') && v.labels.namespace) add(`b${SEP}${ns(v)}${SEP}${v.labels.le}`, v.value);
    for (const v of await values('kubepulse_tcp_connections_total')) if (v.labels.namespace) add(`c${SEP}${ns(v)}${SEP}${v.labels.result}`, v.value);
    for (const v of await values('kubepulse_dns_responses_total')) if (v.labels.namespace) add(`r${SEP}${ns(v)}${SEP}${v.labels.rcode}`, v.value);
    for (const v of await values('kubepulse_dns_queries_total')) if (v.labels.namespace) add(`q${SEP}${ns(v)}${SEP}${v.labels.domain}`, v.value);
    return out;
  }
}
