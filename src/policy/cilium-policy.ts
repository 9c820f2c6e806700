// Renders a workload's rules as a CiliumNetworkPolicy (cilium.io/v2).
import { buildWorkloadRules, type BuildOptions, type PolicyPeer, type PolicyPort, type PolicyRule, type WorkloadRules } from './rules.js';
import { MANAGED_BY, policyName, workloadAnnotations, type GenerateResult } from './network-policy.js';
import type { Flow, Labels } from './types.js';

/** The label Cilium gives every endpoint for its namespace. */
export const CILIUM_NAMESPACE_LABEL = 'k8s:io.kubernetes.pod.namespace';

export interface CiliumPortRule {
  ports: { port: string; protocol: string }[];
}

export interface CiliumRule {
  toEndpoints?: { matchLabels: Labels }[];
  fromEndpoints?: { matchLabels: Labels }[];
  toCIDR?: string[];
  fromCIDR?: string[];
  toPorts?: CiliumPortRule[];
}

export interface CiliumNetworkPolicy {
  apiVersion: 'cilium.io/v2';
  kind: 'CiliumNetworkPolicy';
  metadata: { name: string; namespace: string; labels: Labels; annotations: Labels };
  spec: {
    endpointSelector: { matchLabels: Labels };
    ingress: CiliumRule[];
    egress: CiliumRule[];
  };
}

function endpoint(p: Extract<PolicyPeer, { type: 'selector' }>, policyNamespace: string): { matchLabels: Labels } {
  // In a namespaced policy a selector without the namespace label is confined
  // to the policy's namespace, like a bare podSelector in a NetworkPolicy.
  if (p.namespace === policyNamespace) return { matchLabels: p.labels };
  return { matchLabels: { [CILIUM_NAMESPACE_LABEL]: p.namespace, ...p.labels } };
}

function toPorts(ports: readonly PolicyPort[]): CiliumPortRule[] {
  return [{ ports: ports.map((p) => ({ port: String(p.port), protocol: p.protocol })) }];
}

function rules(list: readonly PolicyRule[], dir: 'ingress' | 'egress', ns: string): CiliumRule[] {
  // Cilium's documented way to put an endpoint into default deny for a
  // direction with nothing allowed is one empty rule.
  if (list.length === 0) return [{}];
  const out: CiliumRule[] = [];
  for (const r of list) {
    const selectors = r.peers.filter((p): p is Extract<PolicyPeer, { type: 'selector' }> => p.type === 'selector');
    const cidrs = r.peers.filter((p): p is Extract<PolicyPeer, { type: 'cidr' }> => p.type === 'cidr');
    if (selectors.length > 0) {
      const eps = selectors.map((p) => endpoint(p, ns));
      out.push(dir === 'egress' ? { toEndpoints: eps, toPorts: toPorts(r.ports) } : { fromEndpoints: eps, toPorts: toPorts(r.ports) });
    }
    if (cidrs.length > 0) {
      const c = cidrs.map((p) => p.cidr);
      out.push(dir === 'egress' ? { toCIDR: c, toPorts: toPorts(r.ports) } : { fromCIDR: c, toPorts: toPorts(r.ports) });
    }
  }
  return out;
}

export function renderCiliumPolicy(w: WorkloadRules): CiliumNetworkPolicy {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name: policyName(w.workload), namespace: w.namespace, labels: { ...MANAGED_BY }, annotations: workloadAnnotations(w) },
    spec: {
      endpointSelector: { matchLabels: w.selector },
      ingress: rules(w.ingress, 'ingress', w.namespace),
      egress: rules(w.egress, 'egress', w.namespace),
    },
  };
}

export function generateCiliumPolicies(flows: readonly Flow[], opts: BuildOptions = {}): GenerateResult<CiliumNetworkPolicy> {
  const { workloads, warnings } = buildWorkloadRules(flows, opts);
  const nodePeers = workloads.some((w) => [...w.ingress, ...w.egress].some((r) => r.peers.some((p) => p.type === 'cidr' && p.peerKind === 'node')));
  if (nodePeers) {
    warnings.push(
      'cilium: node peers are written as CIDRs, which Cilium matches against cluster nodes only with policy-cidr-match-mode=nodes; otherwise allow them with toEntities/fromEntities (host, remote-node)',
    );
  }
  return {
    policies: workloads.map((w) => ({ namespace: w.namespace, workload: w.workload, object: renderCiliumPolicy(w) })),
    warnings,
  };
}
