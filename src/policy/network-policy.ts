// Renders a workload's rules as a networking.k8s.io/v1 NetworkPolicy, and
// writes policies as deterministic YAML.
import { stringify } from 'yaml';
import { buildWorkloadRules, type BuildOptions, type PolicyPeer, type PolicyPort, type WorkloadRules } from './rules.js';
import type { Flow, Labels, Protocol } from './types.js';

export const MANAGED_BY: Labels = { 'app.kubernetes.io/managed-by': 'kubepulse' };

/** Object names are DNS subdomains of at most 253 characters. */
export function policyName(workload: string): string {
  return `kubepulse-${workload}`.slice(0, 253).replace(/[-.]+$/, '');
}

export function workloadAnnotations(w: WorkloadRules): Labels {
  return { 'kubepulse.io/workload': w.workloadKind === undefined ? w.workload : `${w.workloadKind}/${w.workload}` };
}

export interface K8sNetworkPolicyPeer {
  podSelector?: { matchLabels: Labels };
  namespaceSelector?: { matchLabels: Labels };
  ipBlock?: { cidr: string };
}

export interface K8sNetworkPolicyPort {
  protocol: Protocol;
  port: number | string;
}

export interface K8sNetworkPolicy {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: { name: string; namespace: string; labels: Labels; annotations: Labels };
  spec: {
    podSelector: { matchLabels: Labels };
    policyTypes: ['Ingress', 'Egress'];
    ingress: { from: K8sNetworkPolicyPeer[]; ports: K8sNetworkPolicyPort[] }[];
    egress: { to: K8sNetworkPolicyPeer[]; ports: K8sNetworkPolicyPort[] }[];
  };
}

function k8sPeer(p: PolicyPeer, policyNamespace: string): K8sNetworkPolicyPeer {
  if (p.type === 'cidr') return { ipBlock: { cidr: p.cidr } };
  // A peer with only a podSelector means "in the policy's namespace".
  if (p.namespace === policyNamespace) return { podSelector: { matchLabels: p.labels } };
  return {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': p.namespace } },
    podSelector: { matchLabels: p.labels },
  };
}

function k8sPort(p: PolicyPort): K8sNetworkPolicyPort {
  return { protocol: p.protocol, port: p.port };
}

/**
 * Both policy types are always listed: a direction with no observed traffic
 * is denied on purpose (the rule builder warns about it), not by omission.
 */
export function renderNetworkPolicy(w: WorkloadRules): K8sNetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: policyName(w.workload), namespace: w.namespace, labels: { ...MANAGED_BY }, annotations: workloadAnnotations(w) },
    spec: {
      podSelector: { matchLabels: w.selector },
      policyTypes: ['Ingress', 'Egress'],
      ingress: w.ingress.map((r) => ({ from: r.peers.map((p) => k8sPeer(p, w.namespace)), ports: r.ports.map(k8sPort) })),
      egress: w.egress.map((r) => ({ to: r.peers.map((p) => k8sPeer(p, w.namespace)), ports: r.ports.map(k8sPort) })),
    },
  };
}

/** Stable YAML: key order is the order objects were built in, no line folding, no anchors. */
export function toYaml(doc: unknown): string {
  return stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false, indentSeq: true });
}

/** Several documents as one YAML stream. */
export function toYamlStream(docs: readonly unknown[]): string {
  return docs.map(toYaml).join('---\n');
}

export interface GeneratedPolicy<T> {
  namespace: string;
  workload: string;
  object: T;
}

export interface GenerateResult<T> {
  policies: GeneratedPolicy<T>[];
  warnings: string[];
}

export function generateNetworkPolicies(flows: readonly Flow[], opts: BuildOptions = {}): GenerateResult<K8sNetworkPolicy> {
  const { workloads, warnings } = buildWorkloadRules(flows, opts);
  return {
    policies: workloads.map((w) => ({ namespace: w.namespace, workload: w.workload, object: renderNetworkPolicy(w) })),
    warnings,
  };
}
