// One row of `kubepulse audit`, whatever it came from: an agent's violation
// or drift, a Prometheus series, a cluster-level check. Drift is high: it is
// traffic or syscalls the cluster's own policies say must not happen.
import type { DriftSnapshot, Severity, ViolationsSnapshot } from '../api/audit.js';
import { SEVERITIES } from '../api/audit.js';

export type FindingKind = 'violation' | 'network_drift' | 'seccomp_drift' | 'cluster';

export interface Finding {
  kind: FindingKind;
  severity: Severity;
  check: string;
  namespace: string;
  /** The pod, or the object of a cluster check (Deployment/x, Ingress/y, Namespace/z). */
  object: string;
  workload: string;
  container: string;
  /** The agent's node; '' when the source does not say. */
  node: string;
  evidence: Record<string, string | number | boolean>;
}

/** 0 = high: lower is worse. */
export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

export function atOrAbove(f: Finding, threshold: Severity): boolean {
  return severityRank(f.severity) <= severityRank(threshold);
}

export function violationFindings(snap: ViolationsSnapshot): Finding[] {
  return snap.pods.flatMap((p) =>
    p.violations.map((v) => ({
      kind: 'violation' as const,
      severity: v.severity,
      check: v.check,
      namespace: p.namespace,
      object: p.pod,
      workload: p.workload,
      container: v.container,
      node: snap.node,
      evidence: v.evidence,
    })),
  );
}

export function driftFindings(snap: DriftSnapshot): Finding[] {
  const network = snap.network.map((d): Finding => {
    const peer = d.peer.kind === 'pod' || d.peer.kind === 'service' ? `${d.peer.kind} ${d.peer.namespace ?? ''}/${d.peer.workload ?? d.peer.name ?? d.peer.pod ?? ''}` : `${d.peer.kind} ${d.peer.address}`;
    return {
      kind: 'network_drift',
      severity: 'high',
      check: 'network_drift',
      namespace: d.namespace,
      object: d.pod,
      workload: d.workload,
      container: '',
      node: snap.node,
      evidence: { direction: d.direction, protocol: d.protocol, port: d.port, peer, count: d.count, policies: d.policies.join(',') },
    };
  });
  const seccomp = snap.seccomp.map(
    (d): Finding => ({
      kind: 'seccomp_drift',
      severity: 'high',
      check: 'seccomp_drift',
      namespace: d.namespace,
      object: d.pod,
      workload: d.workload,
      container: d.container,
      node: snap.node,
      evidence: { profile: d.profile, syscalls: d.syscalls.join(',') },
    }),
  );
  return [...network, ...seccomp];
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Worst first, then by place. */
export function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort(
    (a, b) =>
      severityRank(a.severity) - severityRank(b.severity) ||
      compare(a.namespace, b.namespace) ||
      compare(a.object, b.object) ||
      compare(a.container, b.container) ||
      compare(a.check, b.check),
  );
}

export function evidenceText(e: Finding['evidence']): string {
  return Object.entries(e)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
}
