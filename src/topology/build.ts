// Counts over a range (inputs.ts) → the Topology the page draws: one vertex
// per workload, Service, node and external address block; one edge per
// client → server port; health with the reasons for it. Pure, so the agent
// and `kubepulse ui --prometheus` give the same answer for the same counts.

import type { Health, Topology, TopologyEdge, TopologyNode, WorkloadFigures } from '../api/topology.js';
import { addressBlock } from './address-block.js';
import type { FlowCount, TopologyInputs, WorkloadKey } from './inputs.js';
import { histogramQuantile } from './quantile.js';

/** Connect results that mean the server did not take the connection. */
export const FAILED_CONNECT_RESULTS = new Set(['refused', 'timeout', 'reset', 'error']);
/** DNS outcomes that mean no usable answer (NXDOMAIN is an answer). */
export const FAILED_DNS_RCODES = new Set(['SERVFAIL', 'timeout', 'REFUSED']);

export const workloadId = (namespace: string, workload: string): string => `workload:${namespace}/${workload}`;

function peerVertex(f: FlowCount): Pick<TopologyNode, 'id' | 'kind' | 'name' | 'namespace' | 'workloadKind'> {
  switch (f.peerKind) {
    case 'pod':
      return { id: workloadId(f.peerNamespace, f.peerName), kind: 'workload', namespace: f.peerNamespace, name: f.peerName, ...(f.peerWorkloadKind ? { workloadKind: f.peerWorkloadKind } : {}) };
    case 'service':
      return { id: `service:${f.peerNamespace}/${f.peerName}`, kind: 'service', namespace: f.peerNamespace, name: f.peerName };
    case 'node':
      return { id: `node:${f.peerName || f.peerAddress || 'unknown'}`, kind: 'node', name: f.peerName || f.peerAddress || 'unknown' };
    default: {
      const block = f.peerAddress ? addressBlock(f.peerAddress) : f.peerName || 'unknown';
      return { id: `external:${block}`, kind: 'external', name: block };
    }
  }
}

function seconds(s: number): string {
  return s >= 1 ? `${s.toFixed(2)} s` : s >= 0.001 ? `${(s * 1000).toFixed(1)} ms` : `${Math.round(s * 1e6)} µs`;
}

const worse = (a: Health, b: Health): Health => (a === 'failing' || b === 'failing' ? 'failing' : a === 'slow' || b === 'slow' ? 'slow' : 'ok');

export function buildTopology(i: TopologyInputs): Topology {
  const nodes = new Map<string, TopologyNode>();
  const vertex = (v: Pick<TopologyNode, 'id' | 'kind' | 'name' | 'namespace' | 'workloadKind'>): TopologyNode => {
    let n = nodes.get(v.id);
    if (!n) nodes.set(v.id, (n = { ...v, health: 'ok', reasons: [] }));
    else if (!n.workloadKind && v.workloadKind) n.workloadKind = v.workloadKind;
    return n;
  };
  const figures = new Map<string, WorkloadFigures & { buckets: Map<number, number> }>();
  const figuresOf = (w: WorkloadKey): WorkloadFigures & { buckets: Map<number, number> } => {
    const id = workloadId(w.namespace, w.workload);
    vertex({ id, kind: 'workload', namespace: w.namespace, name: w.workload });
    let f = figures.get(id);
    if (!f) figures.set(id, (f = { connectP50Seconds: null, connectP99Seconds: null, connections: {}, dns: [], dnsFailureRatio: null, buckets: new Map() }));
    return f;
  };

  // Buckets of workloads that connected in the range (every bound kept: the
  // interpolation needs the bound below).
  const bucketsOf = new Map<string, { w: WorkloadKey; buckets: Map<number, number> }>();
  for (const b of i.connectBuckets) {
    const id = workloadId(b.namespace, b.workload);
    let entry = bucketsOf.get(id);
    if (!entry) bucketsOf.set(id, (entry = { w: b, buckets: new Map() }));
    const le = b.key.le === '+Inf' ? Infinity : Number(b.key.le);
    entry.buckets.set(le, (entry.buckets.get(le) ?? 0) + b.count);
  }
  for (const { w, buckets } of bucketsOf.values()) if ((buckets.get(Infinity) ?? 0) > 0) figuresOf(w).buckets = buckets;
  for (const c of i.connections) {
    if (c.count <= 0) continue;
    const f = figuresOf(c);
    f.connections[c.key.result] = (f.connections[c.key.result] ?? 0) + c.count;
  }
  const dnsTotals = new Map<string, { all: number; failed: number; byRcode: Map<string, number> }>();
  for (const r of i.dnsResponses) {
    if (r.count <= 0) continue;
    figuresOf(r);
    const id = workloadId(r.namespace, r.workload);
    let t = dnsTotals.get(id);
    if (!t) dnsTotals.set(id, (t = { all: 0, failed: 0, byRcode: new Map() }));
    t.all += r.count;
    if (FAILED_DNS_RCODES.has(r.key.rcode)) t.failed += r.count;
    t.byRcode.set(r.key.rcode, (t.byRcode.get(r.key.rcode) ?? 0) + r.count);
  }
  const withDomainDetail = new Set<string>();
  for (const d of i.dnsByDomain) {
    if (d.count <= 0) continue;
    const f = figuresOf(d);
    withDomainDetail.add(workloadId(d.namespace, d.workload));
    const row = f.dns.find((x) => x.domain === d.key.domain && x.rcode === d.key.rcode);
    if (row) row.count += d.count;
    else f.dns.push({ domain: d.key.domain, rcode: d.key.rcode, count: d.count });
  }
  for (const q of i.dnsQueries) {
    if (q.count <= 0 || withDomainDetail.has(workloadId(q.namespace, q.workload))) continue;
    const f = figuresOf(q);
    // Queries without an outcome per domain (Prometheus keeps them apart).
    const row = f.dns.find((x) => x.domain === q.key.domain && x.rcode === '');
    if (row) row.count += q.count;
    else f.dns.push({ domain: q.key.domain, rcode: '', count: q.count });
  }

  for (const [id, f] of figures) {
    const n = nodes.get(id)!;
    const buckets = [...f.buckets.entries()];
    f.connectP50Seconds = histogramQuantile(0.5, buckets);
    f.connectP99Seconds = histogramQuantile(0.99, buckets);
    for (const [result, count] of Object.entries(f.connections))
      if (FAILED_CONNECT_RESULTS.has(result) && count > 0) {
        n.health = 'failing';
        n.reasons.push(`connect ${result} ${count}`);
      }
    const dns = dnsTotals.get(id);
    if (dns) {
      f.dnsFailureRatio = dns.failed / dns.all;
      for (const [rcode, count] of [...dns.byRcode].sort()) {
        if (!FAILED_DNS_RCODES.has(rcode)) continue;
        n.health = 'failing';
        n.reasons.push(`dns ${rcode} ${count}`);
      }
    }
    if (f.connectP99Seconds !== null && f.connectP99Seconds > i.slowSeconds) {
      n.health = worse(n.health, 'slow');
      n.reasons.push(`connect p99 ${seconds(f.connectP99Seconds)} > ${seconds(i.slowSeconds)}`);
    }
    f.dns.sort((a, b) => b.count - a.count || a.domain.localeCompare(b.domain) || a.rcode.localeCompare(b.rcode));
    const { buckets: _, ...plain } = f;
    n.figures = plain;
  }

  // Edges: client → server port. Both ends of a flow between two pods of
  // this node report it (egress at one, ingress at the other): one edge, the
  // larger count.
  const failing = new Set(i.failures.filter((x) => x.count > 0).map((x) => `${workloadId(x.namespace, x.workload)}|${x.protocol}/${x.port}`));
  const edges = new Map<string, TopologyEdge>();
  for (const f of i.flows) {
    if (f.count <= 0) continue;
    const self = vertex({ id: workloadId(f.namespace, f.workload), kind: 'workload', namespace: f.namespace, name: f.workload, ...(f.workloadKind ? { workloadKind: f.workloadKind } : {}) });
    const peer = vertex(peerVertex(f));
    const [source, target] = f.direction === 'egress' ? [self.id, peer.id] : [peer.id, self.id];
    const id = `${source}|${target}|${f.protocol}/${f.port}`;
    let e = edges.get(id);
    if (!e) {
      edges.set(id, (e = { id, source, target, direction: f.direction, protocol: f.protocol, port: f.port, count: 0, ratePerSecond: 0, health: 'ok' }));
      e.count = f.count;
    } else if (f.direction === e.direction) e.count += f.count;
    else {
      e.count = Math.max(e.count, f.count);
      e.direction = 'egress';
    }
  }
  for (const e of edges.values()) {
    e.ratePerSecond = i.rangeSeconds > 0 ? e.count / i.rangeSeconds : 0;
    if (failing.has(`${e.source}|${e.protocol}/${e.port}`)) e.health = 'failing';
  }

  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  return {
    scope: i.scope,
    agents: i.agents,
    generatedAt: i.generatedAt,
    rangeSeconds: i.rangeSeconds,
    nodes: [...nodes.values()].sort(byId),
    edges: [...edges.values()].sort(byId),
  };
}
