// Observed flows → a format-neutral allow-list per workload: who may talk to
// the workload's pods (ingress) and whom they may talk to (egress), on which
// ports. NetworkPolicy and CiliumNetworkPolicy are two renderings of it.
//
// The rules allow exactly the observed (peer, port) pairs: peers that were
// seen on the same set of ports share a rule, so a rule's peers × ports never
// allows a pair that was not observed.
import { isIP } from 'node:net';
import { compareStrings, labelsKey, sortLabels, stableLabels, type PodLabelSample } from './labels.js';
import type { Flow, Labels, Protocol, ServicePort } from './types.js';

export interface SelectorPeer {
  type: 'selector';
  namespace: string;
  labels: Labels;
}

export interface CidrPeer {
  type: 'cidr';
  cidr: string;
  /** Node peers need care in Cilium, which identifies nodes as entities, not CIDRs. */
  peerKind: 'node' | 'external';
}

export type PolicyPeer = SelectorPeer | CidrPeer;

export interface PolicyPort {
  protocol: Protocol;
  /** A number, or a named container port (a Service's named targetPort). */
  port: number | string;
}

export interface PolicyRule {
  peers: PolicyPeer[];
  ports: PolicyPort[];
}

export interface WorkloadRules {
  namespace: string;
  workload: string;
  workloadKind?: string;
  /** Stable labels of the workload's pods; never empty. */
  selector: Labels;
  ingress: PolicyRule[];
  egress: PolicyRule[];
}

export interface ClusterDns {
  namespace: string;
  labels: Labels;
}

export const DEFAULT_CLUSTER_DNS: ClusterDns = { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } };

export interface BuildOptions {
  /** Where DNS queries to in-cluster peers are sent (default kube-system, k8s-app=kube-dns). */
  clusterDns?: ClusterDns;
  /** Only build rules for workloads in this namespace. */
  namespace?: string;
  /** Only build rules for this workload. */
  workload?: string;
  /**
   * Flows that only contribute metadata (pod labels, Service selectors), e.g.
   * agents' flows when the rules come from Prometheus, which has no labels.
   */
  metadata?: readonly Flow[];
  /** Write a policy even when some observed peers cannot be expressed (they are left out, with a warning). */
  allowPartial?: boolean;
}

export interface BuildResult {
  workloads: WorkloadRules[];
  warnings: string[];
}

const DNS_PORT = 53;

function workloadKey(namespace: string, workload: string): string {
  return `${namespace}/${workload}`;
}

class LabelIndex {
  private readonly samples = new Map<string, Map<string, PodLabelSample>>();

  add(namespace: string, workload: string, pod: string | undefined, labels: Labels | undefined): void {
    if (labels === undefined || Object.keys(labels).length === 0) return;
    const key = workloadKey(namespace, workload);
    let byPod = this.samples.get(key);
    if (byPod === undefined) this.samples.set(key, (byPod = new Map()));
    // Without a pod name (an aggregated source) each distinct label set counts as one sample.
    const sampleKey = pod ?? `labels:${labelsKey(labels)}`;
    if (!byPod.has(sampleKey)) byPod.set(sampleKey, pod === undefined ? { labels } : { pod, labels });
  }

  selector(namespace: string, workload: string): Labels {
    const byPod = this.samples.get(workloadKey(namespace, workload));
    if (byPod === undefined) return {};
    const samples = [...byPod.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([, s]) => s);
    return stableLabels(samples);
  }
}

interface ServiceInfo {
  selector: Labels;
  ports?: ServicePort[];
}

function indexMetadata(flows: readonly Flow[], labels: LabelIndex, services: Map<string, ServiceInfo>): void {
  for (const f of flows) {
    labels.add(f.namespace, f.workload, f.pod, f.podLabels);
    const p = f.peer;
    if (p.kind === 'pod' && p.namespace !== undefined) {
      labels.add(p.namespace, p.workload ?? (p.pod as string), p.pod, p.labels);
    }
    if (p.kind === 'service' && p.namespace !== undefined && p.name !== undefined && p.selector !== undefined) {
      const key = workloadKey(p.namespace, p.name);
      // Keep the entry that knows the Service's ports, whichever flow came first.
      if (p.ports !== undefined || !services.has(key)) services.set(key, p.ports === undefined ? { selector: p.selector } : { selector: p.selector, ports: p.ports });
    }
  }
}

function cidrOf(address: string): string {
  return isIP(address) === 6 ? `${address}/128` : `${address}/32`;
}

function peerSortKey(p: PolicyPeer): string {
  if (p.type === 'selector') return `0|${p.namespace}|${labelsKey(p.labels)}`;
  const [addr = '', len = ''] = p.cidr.split('/');
  const v4 = addr.split('.');
  const ipKey = isIP(addr) === 4 ? `4|${v4.map((o) => o.padStart(3, '0')).join('.')}` : `6|${addr}`;
  return `1|${ipKey}/${len.padStart(3, '0')}`;
}

function portSortKey(p: PolicyPort): string {
  const port = typeof p.port === 'number' ? `0|${String(p.port).padStart(5, '0')}` : `1|${p.port}`;
  return `${port}|${p.protocol}`;
}

type Resolution =
  | { ok: true; peer: PolicyPeer; ports: PolicyPort[] }
  | { ok: false; reason: string };

interface Context {
  labels: LabelIndex;
  services: Map<string, ServiceInfo>;
  clusterDns: ClusterDns;
  notes: Set<string>;
}

function resolve(flow: Flow, ctx: Context): Resolution {
  const p = flow.peer;
  const observed: PolicyPort = { protocol: flow.protocol, port: flow.port };
  const inCluster = p.kind === 'pod' || p.kind === 'service';
  if (flow.direction === 'egress' && flow.port === DNS_PORT && inCluster) {
    // Resolvers retry over TCP when a UDP answer is truncated: allow both.
    return {
      ok: true,
      peer: { type: 'selector', namespace: ctx.clusterDns.namespace, labels: sortLabels(ctx.clusterDns.labels) },
      ports: [{ protocol: 'UDP', port: DNS_PORT }, { protocol: 'TCP', port: DNS_PORT }],
    };
  }
  switch (p.kind) {
    case 'pod': {
      const ns = p.namespace as string;
      const wl = p.workload ?? (p.pod as string);
      const labels = ctx.labels.selector(ns, wl);
      if (Object.keys(labels).length === 0) {
        return { ok: false, reason: `pod peer ${ns}/${wl} has no stable labels to select it by` };
      }
      return { ok: true, peer: { type: 'selector', namespace: ns, labels }, ports: [observed] };
    }
    case 'service': {
      const ns = p.namespace as string;
      const name = p.name as string;
      const known = ctx.services.get(workloadKey(ns, name));
      const selector = p.selector ?? known?.selector;
      const ports = p.ports ?? known?.ports;
      if (selector === undefined || Object.keys(selector).length === 0) {
        return {
          ok: false,
          reason: `service ${ns}/${name} has no selector (its endpoints are not pods a selector can match; allow their addresses with an ipBlock)`,
        };
      }
      // Policies are enforced after DNAT, on the backend pod's port, so the
      // Service port that the socket saw is translated to its targetPort.
      let port: number | string = flow.port;
      if (ports === undefined) {
        ctx.notes.add(`service ${ns}/${name}: no port list known, assuming targetPort = port ${flow.port}`);
      } else {
        const sp = ports.find((x) => x.port === flow.port && (x.protocol ?? 'TCP') === flow.protocol);
        if (sp === undefined) {
          ctx.notes.add(`service ${ns}/${name}: port ${flow.protocol}/${flow.port} is not in its port list, assuming targetPort = port`);
        } else {
          port = sp.targetPort ?? sp.port;
        }
      }
      return {
        ok: true,
        peer: { type: 'selector', namespace: ns, labels: sortLabels(selector) },
        ports: [{ protocol: flow.protocol, port }],
      };
    }
    case 'node':
    case 'external':
      if (p.address === undefined) {
        return { ok: false, reason: `${p.kind} peer on ${flow.protocol}/${flow.port} has no address (the source carries none)` };
      }
      return { ok: true, peer: { type: 'cidr', cidr: cidrOf(p.address), peerKind: p.kind }, ports: [observed] };
  }
}

function groupRules(byPeer: Map<string, { peer: PolicyPeer; ports: Map<string, PolicyPort> }>): PolicyRule[] {
  const byPorts = new Map<string, PolicyRule>();
  const peerKeys = [...byPeer.keys()].sort(compareStrings);
  for (const pk of peerKeys) {
    const entry = byPeer.get(pk)!;
    const portKeys = [...entry.ports.keys()].sort(compareStrings);
    const key = portKeys.join(',');
    let rule = byPorts.get(key);
    if (rule === undefined) {
      rule = { peers: [], ports: portKeys.map((k) => entry.ports.get(k)!) };
      byPorts.set(key, rule);
    }
    rule.peers.push(entry.peer);
  }
  // Peer keys were visited in order, so each rule's peers are sorted and the
  // rules are ordered by their first peer.
  return [...byPorts.values()].sort((a, b) =>
    compareStrings(peerSortKey(a.peers[0] as PolicyPeer), peerSortKey(b.peers[0] as PolicyPeer)),
  );
}

export function buildWorkloadRules(flows: readonly Flow[], opts: BuildOptions = {}): BuildResult {
  const labels = new LabelIndex();
  const services = new Map<string, ServiceInfo>();
  indexMetadata(opts.metadata ?? [], labels, services);
  indexMetadata(flows, labels, services);
  const ctx: Context = { labels, services, clusterDns: opts.clusterDns ?? DEFAULT_CLUSTER_DNS, notes: new Set() };

  const wanted = (ns: string, wl: string): boolean =>
    (opts.namespace === undefined || opts.namespace === ns) && (opts.workload === undefined || opts.workload === wl);

  const subjects = new Map<string, Flow[]>();
  const known = new Set<string>();
  for (const f of flows) {
    const key = workloadKey(f.namespace, f.workload);
    known.add(key);
    if (f.peer.kind === 'pod' && f.peer.namespace !== undefined) {
      known.add(workloadKey(f.peer.namespace, f.peer.workload ?? (f.peer.pod as string)));
    }
    if (!wanted(f.namespace, f.workload)) continue;
    let list = subjects.get(key);
    if (list === undefined) subjects.set(key, (list = []));
    list.push(f);
  }

  const warnings: string[] = [];
  const wantedKey = (k: string): boolean => {
    const slash = k.indexOf('/');
    return wanted(k.slice(0, slash), k.slice(slash + 1));
  };
  const silent = [...known].filter((k) => !subjects.has(k) && wantedKey(k));
  if (opts.workload !== undefined && ![...known].some(wantedKey)) {
    silent.push(workloadKey(opts.namespace ?? '*', opts.workload));
  }
  for (const k of silent.sort(compareStrings)) {
    warnings.push(`${k}: no observed traffic of its own; no policy written (a policy from no traffic would deny everything)`);
  }

  const workloads: WorkloadRules[] = [];
  for (const key of [...subjects.keys()].sort(compareStrings)) {
    const wflows = subjects.get(key)!;
    const first = wflows[0] as Flow;
    const selector = labels.selector(first.namespace, first.workload);
    if (Object.keys(selector).length === 0) {
      const hint = first.podLabels === undefined ? ' (this source carries no pod labels: add --agent or --discover for them)' : '';
      warnings.push(`${key}: no stable pod labels known, so no selector can pick its pods; no policy written${hint}`);
      continue;
    }
    const dirs = { ingress: new Map(), egress: new Map() } as Record<
      'ingress' | 'egress',
      Map<string, { peer: PolicyPeer; ports: Map<string, PolicyPort> }>
    >;
    const unresolved = new Set<string>();
    for (const f of wflows) {
      const r = resolve(f, ctx);
      if (!r.ok) {
        unresolved.add(`${f.direction} ${r.reason}`);
        continue;
      }
      const pk = peerSortKey(r.peer);
      const byPeer = dirs[f.direction];
      let entry = byPeer.get(pk);
      if (entry === undefined) byPeer.set(pk, (entry = { peer: r.peer, ports: new Map() }));
      for (const port of r.ports) entry.ports.set(portSortKey(port), port);
    }
    if (unresolved.size > 0) {
      const reasons = [...unresolved].sort(compareStrings);
      if (!opts.allowPartial) {
        warnings.push(`${key}: no policy written, ${reasons.length} observed peer(s) cannot be expressed: ${reasons.join('; ')}`);
        continue;
      }
      warnings.push(`${key}: policy leaves out ${reasons.length} observed peer(s) (--allow-partial): ${reasons.join('; ')}`);
    }
    const wr: WorkloadRules = {
      namespace: first.namespace,
      workload: first.workload,
      selector,
      ingress: groupRules(dirs.ingress),
      egress: groupRules(dirs.egress),
    };
    const kind = wflows.map((f) => f.workloadKind).find((k) => k !== undefined);
    if (kind !== undefined) wr.workloadKind = kind;
    for (const dir of ['ingress', 'egress'] as const) {
      if (wr[dir].length === 0) warnings.push(`${key}: no ${dir} observed; the policy denies all ${dir}`);
    }
    workloads.push(wr);
  }
  warnings.push(...[...ctx.notes].sort(compareStrings));
  return { workloads, warnings };
}
