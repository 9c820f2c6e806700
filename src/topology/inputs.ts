// What the topology is built from: counts over a range, per workload, in the
// shape of the series both producers have. The agent fills it from its own
// collectors and flows (node scope); `kubepulse ui --prometheus` can fill it
// from `increase(...[range])` of the same series (cluster scope). build.ts
// turns it into the Topology the page draws.

import type { FlowDirection, FlowProtocol, PeerKind } from '../api/v1.js';

export interface WorkloadKey {
  namespace: string;
  workload: string;
}

/** One flow aggregated to its workload: kubepulse_flows_total's labels, plus the address when an agent knows it. */
export interface FlowCount extends WorkloadKey {
  workloadKind?: string;
  direction: FlowDirection;
  protocol: FlowProtocol;
  port: number;
  peerKind: PeerKind;
  peerNamespace: string;
  /** Pod peers: their workload; Services and nodes: their name; external: empty. */
  peerName: string;
  peerWorkloadKind?: string;
  /** External peers: the address (folded into a block on the map); Prometheus has none. */
  peerAddress?: string;
  count: number;
}

/** A count of one label value of one workload (a result, an rcode, a bucket bound). */
export interface WorkloadCount<K extends string> extends WorkloadKey {
  count: number;
  key: Record<K, string>;
}

/** What went wrong towards one server port: from the agent's events (TCP and DNS carry the port only). */
export interface PortFailure extends WorkloadKey {
  protocol: FlowProtocol;
  port: number;
  what: string;
  count: number;
}

export interface TopologyInputs {
  scope: 'node' | 'cluster';
  agents: string[];
  generatedAt: string;
  rangeSeconds: number;
  flows: FlowCount[];
  /** Connect latency histogram buckets over the range, cumulative by `le` (as Prometheus keeps them). */
  connectBuckets: WorkloadCount<'le'>[];
  /** kubepulse_tcp_connections_total by result. */
  connections: WorkloadCount<'result'>[];
  /** kubepulse_dns_responses_total by rcode. */
  dnsResponses: WorkloadCount<'rcode'>[];
  /** DNS outcomes by folded domain and rcode (the agent's event history; absent from Prometheus). */
  dnsByDomain: WorkloadCount<'domain' | 'rcode'>[];
  /** kubepulse_dns_queries_total by domain, when no domain×rcode detail exists for a workload. */
  dnsQueries: WorkloadCount<'domain'>[];
  failures: PortFailure[];
  /** Connect p99 beyond this is "slow". */
  slowSeconds: number;
}
