// The topology contract: what GET /api/v1/topology answers and what the
// page draws. An agent builds it from its own flows and collectors (node
// scope); `kubepulse ui --prometheus` builds the same shape from
// Prometheus series (cluster scope). One shape, two producers, one page.
// A leaf beside v1.ts: it imports only types from there.

import type { FlowDirection, FlowProtocol } from './v1.js';

/** What a vertex of the map stands for. */
export type TopologyNodeKind = 'workload' | 'service' | 'node' | 'external';

/** Colour on the map: failing (refused/timeout/reset connects, DNS SERVFAIL/timeout), slow (connect p99 over the threshold). */
export type Health = 'ok' | 'slow' | 'failing';

/** A workload's figures over the range, shown when it is selected. */
export interface WorkloadFigures {
  /** Connect latency quantiles from the histogram; null with no connects. */
  connectP50Seconds: number | null;
  connectP99Seconds: number | null;
  /** Connection results over the range: result → count. */
  connections: Record<string, number>;
  /**
   * DNS queries over the range by folded domain and rcode. A source that
   * counts them apart (Prometheus: queries by domain, answers by rcode)
   * gives the domains with rcode "" and the rcodes with domain "".
   */
  dns: { domain: string; rcode: string; count: number }[];
  /** Failed (SERVFAIL, timeout, REFUSED) ÷ all DNS responses; null with no DNS. */
  dnsFailureRatio: number | null;
}

export interface TopologyNode {
  /**
   * Stable across refreshes, so the layout does not jump:
   * `workload:<ns>/<name>`, `service:<ns>/<name>`, `node:<name>`,
   * `external:<domain or address block>`.
   */
  id: string;
  kind: TopologyNodeKind;
  /** Workloads and Services. */
  namespace?: string;
  name: string;
  /** Workloads: Deployment, StatefulSet, DaemonSet, Job, Pod, … */
  workloadKind?: string;
  health: Health;
  /** Why the health is not ok, one short phrase each ("dns SERVFAIL 3", "connect p99 1.2 s > 0.5 s"). */
  reasons: string[];
  /** Workloads seen by an agent only. */
  figures?: WorkloadFigures;
}

export interface TopologyEdge {
  /** `<source>|<target>|<protocol>/<port>` */
  id: string;
  /** The side that opened the flow (the client). */
  source: string;
  /** The server side; `port` is its port. */
  target: string;
  /** As the reporting pod saw it (egress from the source, or ingress at the target). */
  direction: FlowDirection;
  protocol: FlowProtocol;
  port: number;
  /** What kubepulse_flows_total counted for this edge over the range. */
  count: number;
  ratePerSecond: number;
  health: Health;
}

export interface Topology {
  scope: 'node' | 'cluster';
  /** The agents (Kubernetes node names) whose data is in it. */
  agents: string[];
  generatedAt: string;
  /** The window the counts and figures cover. */
  rangeSeconds: number;
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}
