// NetworkPolicy semantics, as the Kubernetes documentation and the upstream
// conformance tests (test/e2e/network/netpol, cyclonus) define them, for
// one flow at a time. Pure functions over plain API objects: the drift
// tracker (network-drift.ts) and the posture audit (no_network_policy)
// both call them.
//
// - A policy selects the pods of its own namespace that its podSelector
//   matches ({} = all of them).
// - policyTypes: as listed; when omitted, Ingress always, and Egress when
//   the policy has egress rules.
// - A pod selected by any policy with a direction's type is isolated in that
//   direction; what it may do there is the union of those policies' rules.
//   A pod no policy selects for a direction is not isolated: all is allowed.
// - A rule allows a flow when one of its peers matches (none listed = every
//   peer) and one of its ports matches (none listed = every port).
// - Peers: podSelector alone = pods of the policy's namespace;
//   namespaceSelector alone = every pod of the matching namespaces; both =
//   the matching pods of the matching namespaces; ipBlock = addresses in
//   cidr and in none of except (pod addresses included, as the e2e
//   "egress access to server in CIDR block" tests use them).
// - Ports: protocol defaults to TCP; no port = every port of the protocol;
//   a number, or a range with endPort; a name = the destination pod's
//   container port of that name and protocol.
// Flows that policies never govern are for the caller to leave out: a pod
// talking to itself and the node it runs on are always allowed.

import type { V1NetworkPolicy, V1NetworkPolicyPeer, V1NetworkPolicyPort } from '@kubernetes/client-node';
import { cidrContains } from './cidr.js';
import { selectorMatches, type Labels } from './label-selector.js';

export type PolicyDirection = 'ingress' | 'egress';
export type PolicyProtocol = 'TCP' | 'UDP' | 'SCTP';

/** The pod a policy is about: the one on this node whose flow is judged. */
export interface PolicySubject {
  namespace: string;
  labels: Labels;
}

/** A container port of the destination pod, to resolve named ports against. */
export interface NamedPort {
  name: string;
  port: number;
  protocol: PolicyProtocol;
}

/** The other end of the flow. */
export interface FlowPeerView {
  /** Its IP address, for ipBlock ('' when unknown). */
  address: string;
  /** When it is a pod (or the pods behind a Service): its namespace and labels. */
  pod?: { namespace: string; labels: Labels } | undefined;
  /** The labels of pod.namespace; when unknown, those the API server always sets (kubernetes.io/metadata.name). */
  namespaceLabels?: Labels | undefined;
}

export interface PolicyFlow {
  direction: PolicyDirection;
  protocol: PolicyProtocol;
  /** The destination port (the subject's for ingress, the peer's for egress). */
  port: number;
  peer: FlowPeerView;
  /** The destination pod's named container ports. */
  destinationPorts?: readonly NamedPort[] | undefined;
  /** The destination port's name when the flow named it (a Service's targetPort by name). */
  destinationPortName?: string | undefined;
}

export interface PolicyVerdict {
  /** Some policy isolates the subject in this direction. */
  isolated: boolean;
  allowed: boolean;
  /** `<namespace>/<name>` of the policies that isolate the subject in this direction. */
  policies: string[];
}

export const policyName = (p: V1NetworkPolicy): string => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;

/** Whether a policy governs a direction (policyTypes, or its default); allocates nothing (judged per policy per flow). */
export function policyGoverns(policy: V1NetworkPolicy, direction: PolicyDirection): boolean {
  const types = policy.spec?.policyTypes;
  if (types !== undefined && types.length > 0) return types.includes(direction === 'ingress' ? 'Ingress' : 'Egress');
  return direction === 'ingress' || (policy.spec?.egress ?? []).length > 0;
}

/** The directions a policy governs (policyTypes, or its default). */
export function policyDirections(policy: V1NetworkPolicy): ReadonlySet<PolicyDirection> {
  const types = policy.spec?.policyTypes;
  if (types !== undefined && types.length > 0) {
    const out = new Set<PolicyDirection>();
    for (const t of types) {
      if (t === 'Ingress') out.add('ingress');
      else if (t === 'Egress') out.add('egress');
    }
    return out;
  }
  return new Set<PolicyDirection>((policy.spec?.egress ?? []).length > 0 ? ['ingress', 'egress'] : ['ingress']);
}

/** The policy's podSelector matches the pod, in the policy's own namespace. */
export function policySelectsPod(policy: V1NetworkPolicy, pod: PolicySubject): boolean {
  if ((policy.metadata?.namespace ?? '') !== pod.namespace) return false;
  return selectorMatches(policy.spec?.podSelector ?? {}, pod.labels);
}

/** The policies that select the pod (for a direction: that isolate it there). */
export function policiesSelecting(pod: PolicySubject, policies: Iterable<V1NetworkPolicy>, direction?: PolicyDirection): V1NetworkPolicy[] {
  const out: V1NetworkPolicy[] = [];
  for (const p of policies) {
    if (!policySelectsPod(p, pod)) continue;
    if (direction !== undefined && !policyGoverns(p, direction)) continue;
    out.push(p);
  }
  return out;
}

/**
 * The posture check `no_network_policy`: true when at least one
 * NetworkPolicy (of any type) selects the pod.
 */
export function podSelectedByAnyPolicy(pod: PolicySubject, policies: Iterable<V1NetworkPolicy>): boolean {
  for (const p of policies) if (policySelectsPod(p, pod)) return true;
  return false;
}

function peerMatches(peer: V1NetworkPolicyPeer, policyNamespace: string, flow: FlowPeerView): boolean {
  if (peer.ipBlock !== undefined) {
    const { address } = flow;
    if (address === '' || !cidrContains(peer.ipBlock.cidr, address)) return false;
    return !(peer.ipBlock.except ?? []).some((e) => cidrContains(e, address));
  }
  if (peer.podSelector === undefined && peer.namespaceSelector === undefined) return false;
  const pod = flow.pod;
  if (pod === undefined) return false;
  if (peer.namespaceSelector === undefined) {
    if (pod.namespace !== policyNamespace) return false;
  } else {
    const nsLabels = flow.namespaceLabels ?? { 'kubernetes.io/metadata.name': pod.namespace };
    if (!selectorMatches(peer.namespaceSelector, nsLabels)) return false;
  }
  return peer.podSelector === undefined || selectorMatches(peer.podSelector, pod.labels);
}

function portMatches(p: V1NetworkPolicyPort, flow: PolicyFlow): boolean {
  if ((p.protocol ?? 'TCP') !== flow.protocol) return false;
  const port = p.port as number | string | undefined;
  if (port === undefined || port === null) return true;
  if (typeof port === 'number') {
    if (p.endPort !== undefined && p.endPort !== null) return flow.port >= port && flow.port <= p.endPort;
    return flow.port === port;
  }
  // IntOrString as text: digits are a number (some clients send "80").
  if (/^[0-9]+$/.test(port)) return flow.port === Number(port);
  if (flow.destinationPortName !== undefined && flow.destinationPortName === port) return true;
  return (flow.destinationPorts ?? []).some((n) => n.name === port && n.protocol === flow.protocol && n.port === flow.port);
}

/** One policy's rules of the flow's direction allow it. */
export function policyAllows(policy: V1NetworkPolicy, flow: PolicyFlow): boolean {
  const namespace = policy.metadata?.namespace ?? '';
  const rules = flow.direction === 'ingress' ? (policy.spec?.ingress ?? []) : (policy.spec?.egress ?? []);
  for (const rule of rules) {
    // The API's JSON says "from"; @kubernetes/client-node's type calls it "_from".
    const listed: V1NetworkPolicyPeer[] | undefined =
      flow.direction === 'ingress'
        ? ((rule as { from?: V1NetworkPolicyPeer[] }).from ?? (rule as { _from?: V1NetworkPolicyPeer[] })._from)
        : (rule as { to?: V1NetworkPolicyPeer[] }).to;
    const peerOk = listed === undefined || listed.length === 0 || listed.some((p) => peerMatches(p, namespace, flow.peer));
    if (!peerOk) continue;
    const ports = rule.ports;
    if (ports === undefined || ports.length === 0 || ports.some((p) => portMatches(p, flow))) return true;
  }
  return false;
}

/** The subject's flow against every policy: isolated in that direction, allowed by one of them? */
export function evaluateFlow(subject: PolicySubject, policies: Iterable<V1NetworkPolicy>, flow: PolicyFlow): PolicyVerdict {
  const isolating = policiesSelecting(subject, policies, flow.direction);
  if (isolating.length === 0) return { isolated: false, allowed: true, policies: [] };
  return { isolated: true, allowed: isolating.some((p) => policyAllows(p, flow)), policies: isolating.map(policyName).sort() };
}
