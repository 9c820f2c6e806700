// The cluster's topology from Prometheus: the same shape an agent serves at
// /api/v1/topology (src/api/topology.ts), built from the series every agent
// exports — kubepulse_flows_total for the edges, the TCP and DNS series for
// each workload's figures and health — over a range Prometheus still holds.
// Workload-granular: Prometheus has no pods or addresses (the metrics are
// low-cardinality by design), so external peers are one vertex, and an
// edge's own health stays ok: which peer refused a connect is in the agents'
// live streams, not in any series.

import type { FlowDirection, FlowProtocol } from '../api/v1.js';
import { FLOW_SERIES_LABELS } from '../api/v1.js';
import type { Topology, TopologyEdge, TopologyNode, WorkloadFigures } from '../api/topology.js';
import { workloadHealth, type HealthThresholds } from './health.js';
import type { PromSample } from './prometheus-query.js';

export type Query = (promql: string) => Promise<PromSample[]>;

/**
 * How much a counter grew over the range, by the given labels, counting a
 * series born inside the range from zero: increase() alone needs two samples
 * and misses a new series' first value (a flow seen once, a pod that just
 * started failing).
 */
export function grown(metric: string, by: readonly string[], range: string): string {
  return `sum by (${by.join(', ')}) ((${metric} * 1 unless ${metric} offset ${range}) or increase(${metric}[${range}]))`;
}

/** A connect latency quantile over the range, from the buckets' growth (so a workload new in the range has one too). */
export function connectQuantile(q: number, range: string): string {
  return `histogram_quantile(${q}, ${grown('kubepulse_tcp_latency_seconds_bucket', ['namespace', 'workload', 'le'], range)})`;
}

interface WorkloadAcc {
  namespace: string;
  name: string;
  figures: WorkloadFigures;
  dnsByRcode: Map<string, number>;
}

function workloadId(namespace: string, name: string): string {
  return `workload:${namespace}/${name}`;
}

/** The vertex at the far end of a flow series. */
function peerVertex(l: Record<string, string>): Omit<TopologyNode, 'health' | 'reasons'> {
  const ns = l.peer_namespace ?? '';
  const name = l.peer_workload ?? '';
  switch (l.peer_kind) {
    case 'pod':
      return { id: workloadId(ns, name), kind: 'workload', namespace: ns, name };
    case 'service':
      return { id: `service:${ns}/${name}`, kind: 'service', namespace: ns, name };
    case 'node':
      return { id: `node:${name || 'node'}`, kind: 'node', name: name || 'node' };
    default:
      // No address in the series: everything outside the cluster is one vertex.
      return { id: 'external:*', kind: 'external', name: name || 'external' };
  }
}

export interface ClusterTopologyOptions extends HealthThresholds {
  /** A Prometheus duration, e.g. 15m. */
  range: string;
  rangeSeconds: number;
  now?: Date;
}

export async function clusterTopology(query: Query, o: ClusterTopologyOptions): Promise<Topology> {
  const r = o.range;
  const [flows, connections, p50, p99, dnsQueries, dnsResponses, agents] = await Promise.all([
    query(grown('kubepulse_flows_total', FLOW_SERIES_LABELS, r)),
    query(grown('kubepulse_tcp_connections_total', ['namespace', 'workload', 'result'], r)),
    query(connectQuantile(0.5, r)),
    query(connectQuantile(0.99, r)),
    query(grown('kubepulse_dns_queries_total', ['namespace', 'workload', 'domain'], r)),
    query(grown('kubepulse_dns_responses_total', ['namespace', 'workload', 'rcode'], r)),
    query(`count by (node) (max_over_time(kubepulse_build_info[${r}]))`),
  ]);

  const workloads = new Map<string, WorkloadAcc>();
  const workload = (l: Record<string, string>): WorkloadAcc | undefined => {
    const namespace = l.namespace ?? '';
    const name = l.workload ?? '';
    if (namespace === '' || name === '') return undefined; // the host, not a workload
    const id = workloadId(namespace, name);
    let w = workloads.get(id);
    if (!w) {
      w = {
        namespace,
        name,
        figures: { connectP50Seconds: null, connectP99Seconds: null, connections: {}, dns: [], dnsFailureRatio: null },
        dnsByRcode: new Map(),
      };
      workloads.set(id, w);
    }
    return w;
  };

  for (const s of connections) {
    const w = workload(s.labels);
    if (w && s.value > 0) w.figures.connections[s.labels.result ?? '?'] = Math.round(s.value);
  }
  for (const [samples, key] of [[p50, 'connectP50Seconds'], [p99, 'connectP99Seconds']] as const)
    for (const s of samples) {
      const w = workload(s.labels);
      if (w) w.figures[key] = s.value;
    }
  // Prometheus counts queries by domain and answers by rcode, not both
  // together: the domains come with rcode "", the rcodes with domain "".
  for (const s of dnsQueries) {
    const w = workload(s.labels);
    if (w && s.value > 0) w.figures.dns.push({ domain: s.labels.domain ?? '', rcode: '', count: Math.round(s.value) });
  }
  for (const s of dnsResponses) {
    const w = workload(s.labels);
    if (!w || s.value <= 0) continue;
    const rcode = s.labels.rcode ?? '';
    w.dnsByRcode.set(rcode, (w.dnsByRcode.get(rcode) ?? 0) + s.value);
    w.figures.dns.push({ domain: '', rcode, count: Math.round(s.value) });
  }

  const nodes = new Map<string, TopologyNode>();
  for (const [id, w] of workloads) {
    let all = 0;
    let failed = 0;
    for (const [rcode, n] of w.dnsByRcode) {
      all += n;
      if (rcode !== 'NOERROR' && rcode !== 'NXDOMAIN') failed += n;
    }
    w.figures.dnsFailureRatio = all > 0 ? failed / all : null;
    w.figures.dns.sort((a, b) => b.count - a.count || a.domain.localeCompare(b.domain) || a.rcode.localeCompare(b.rcode));
    const { health, reasons } = workloadHealth(w.figures, w.dnsByRcode, o);
    nodes.set(id, { id, kind: 'workload', namespace: w.namespace, name: w.name, health, reasons, figures: w.figures });
  }

  const edges = new Map<string, TopologyEdge>();
  for (const s of flows) {
    if (s.value <= 0) continue;
    const self = workload(s.labels);
    if (!self) continue;
    const selfId = workloadId(self.namespace, self.name);
    if (!nodes.has(selfId)) nodes.set(selfId, { id: selfId, kind: 'workload', namespace: self.namespace, name: self.name, health: 'ok', reasons: [] });
    const peer = peerVertex(s.labels);
    if (!nodes.has(peer.id)) nodes.set(peer.id, { ...peer, health: 'ok', reasons: [] });
    const direction = s.labels.direction as FlowDirection;
    const protocol = s.labels.protocol as FlowProtocol;
    const port = Number(s.labels.port);
    const [source, target] = direction === 'egress' ? [selfId, peer.id] : [peer.id, selfId];
    const id = `${source}|${target}|${protocol}/${port}`;
    // Both ends of a pod-to-pod flow report it (egress at the client, ingress
    // at the server): one edge, counted once.
    const prev = edges.get(id);
    if (prev && prev.count >= s.value) continue;
    edges.set(id, { id, source, target, direction, protocol, port, count: Math.round(s.value), ratePerSecond: s.value / o.rangeSeconds, health: 'ok' });
  }
  return {
    scope: 'cluster',
    agents: agents.map((s) => s.labels.node ?? '').filter((n) => n !== '').sort(),
    generatedAt: (o.now ?? new Date()).toISOString(),
    rangeSeconds: o.rangeSeconds,
    nodes: [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id)),
    edges: [...edges.values()].sort((a, b) => a.id.localeCompare(b.id)),
  };
}
