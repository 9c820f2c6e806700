// The audit contract: what an agent answers at GET /api/v1/violations and
// GET /api/v1/drift, and what `kubepulse audit` reads back from agents.
// Check names are part of the interface (metrics, flags, annotations).
// A leaf beside v1.ts: it imports only types from there.

import type { FlowDirection, FlowProtocol, Peer } from './v1.js';

export const AUDIT_CHECKS = [
  'privileged',
  'privilege_escalation',
  'capabilities',
  'host_path',
  'host_namespaces',
  'host_port',
  'image_registry',
  'image_tag',
  'no_limits',
  'writable_root_fs',
  'runs_as_root',
  'seccomp_unconfined',
  'no_network_policy',
] as const;
export type AuditCheck = (typeof AUDIT_CHECKS)[number];

export const SEVERITIES = ['high', 'medium', 'low'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface Violation {
  check: AuditCheck;
  severity: Severity;
  /** "" for a pod-level check (host_namespaces, no_network_policy, …). */
  container: string;
  /** What proves it: the spec field path, the hostPath, the observed PID and UID, … */
  evidence: Record<string, string | number | boolean>;
}

export interface PodViolations {
  namespace: string;
  pod: string;
  workload: string;
  workloadKind: string;
  /** Checks the pod's kubepulse.io/audit-ignore annotation turns off. */
  ignoredChecks: string[];
  violations: Violation[];
}

/** GET /api/v1/violations */
export interface ViolationsSnapshot {
  node: string;
  generatedAt: string;
  pods: PodViolations[];
}

/** A flow of a pod that none of the NetworkPolicies selecting it allows. */
export interface NetworkDrift {
  namespace: string;
  pod: string;
  workload: string;
  direction: FlowDirection;
  protocol: FlowProtocol;
  port: number;
  peer: Peer;
  count: number;
  firstSeen: string;
  lastSeen: string;
  /** `<namespace>/<name>` of the policies that select the pod in this direction. */
  policies: string[];
}

/** Syscalls a container made that its Localhost seccomp profile does not allow. */
export interface SeccompDrift {
  namespace: string;
  pod: string;
  workload: string;
  container: string;
  /** The profile's path under the kubelet's seccomp root, or the exported profile compared against. */
  profile: string;
  syscalls: string[];
}

/** GET /api/v1/drift */
export interface DriftSnapshot {
  node: string;
  generatedAt: string;
  network: NetworkDrift[];
  seccomp: SeccompDrift[];
}
