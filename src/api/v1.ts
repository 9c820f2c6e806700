// The /api/v1 contract: what an agent serves at /api/v1/flows and
// /api/v1/syscalls, and the label names of kubepulse_flows_total. The
// collectors that produce it (src/probes/flows, src/probes/syscalls) and
// the policy exporter that consumes it (src/policy) both import it from
// here, so the two sides cannot drift apart. A leaf: it imports nothing.

export const PEER_KINDS = ['pod', 'service', 'node', 'external'] as const;
/** Who is at the other end of a flow. */
export type PeerKind = (typeof PEER_KINDS)[number];
export type FlowDirection = 'egress' | 'ingress';
/** What the flows probe sees. */
export type FlowProtocol = 'TCP' | 'UDP';
/** What a Service port may name. */
export type ServiceProtocol = 'TCP' | 'UDP' | 'SCTP';

export interface ServicePeerPort {
  port: number;
  /** A number, or the name of a container port; absent means the same as port. */
  targetPort?: number | string;
  protocol?: ServiceProtocol;
  name?: string;
}

export interface Peer {
  kind: PeerKind;
  address: string;
  namespace?: string;
  /** pod name */
  pod?: string;
  /** Service name (kind service) */
  name?: string;
  workload?: string;
  workloadKind?: string;
  labels?: Record<string, string>;
  /** Service peers: the selector behind the ClusterIP; absent for selector-less Services. */
  selector?: Record<string, string>;
  /** Service peers: their ports, to translate the port a socket saw to the pods' targetPort */
  ports?: ServicePeerPort[];
  /** Pod peers: their named container ports, for NetworkPolicy named ports (absent when none). */
  containerPorts?: PeerContainerPort[];
}

export interface PeerContainerPort {
  name: string;
  port: number;
  protocol: ServiceProtocol;
}

/** GET /api/v1/flows: one flow of one pod. */
export interface FlowRecord {
  namespace: string;
  pod: string;
  workload: string;
  workloadKind: string;
  podLabels: Record<string, string>;
  direction: FlowDirection;
  protocol: FlowProtocol;
  /** The server port: remote port for egress, local port for ingress. */
  port: number;
  peer: Peer;
  count: number;
  firstSeen: string;
  lastSeen: string;
}

export interface FlowsSnapshot {
  node: string;
  generatedAt: string;
  flows: FlowRecord[];
  /** Flows not kept: the node map was full, or a pod hit its limit. */
  overflow: number;
}

/** The labels of kubepulse_flows_total, which `kubepulse policy --prometheus` reads back. */
export const FLOW_SERIES_LABELS = ['namespace', 'workload', 'direction', 'protocol', 'port', 'peer_kind', 'peer_namespace', 'peer_workload'] as const;

/** GET /api/v1/syscalls: the syscalls one container has made. */
export interface ContainerSyscalls {
  namespace: string;
  pod: string;
  workload: string;
  workloadKind: string;
  container: string;
  podLabels: Record<string, string>;
  /** cgroup v2 id the bitmap was kept under */
  cgroupId: number;
  syscalls: string[];
}

export interface SyscallsSnapshot {
  node: string;
  arch: string;
  containers: ContainerSyscalls[];
}
