// NetworkPolicy drift: flows of this node's pods that the NetworkPolicies
// selecting them would not allow. It means the CNI does not enforce
// NetworkPolicy, or the traffic predates the policy; either way someone
// must know.
//
// Fed by every read of the flows map (FlowsCollector.onRead: scrape time,
// /api/v1/flows, the live ticker), never per packet. Each flow is judged
// when it is new, when its peer resolves differently, and when policies or
// namespaces changed since its last verdict (PolicyStore.generation); in
// between its verdict is reused. Its count grows the counter only while
// the verdict is "not allowed", so a policy that starts allowing it stops
// the drift for new traffic, and the earlier drift stays counted.
//
// What policies never govern is never drift: a pod talking to itself
// (loopback) and the node it runs on (the docs' "traffic to and from the
// node where a Pod is running is always allowed").
//
// A Service peer (sockets see the ClusterIP before DNAT) is judged as the
// pods behind it: its selector as their labels, in its namespace, on its
// targetPort (by number, or by name against a named policy port). A
// selector-less Service is judged by its address only.

import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { Counter, type Registry } from 'prom-client';
import type { NetworkDrift } from '../api/audit.js';
import { FLOW_SERIES_LABELS, type FlowRecord, type Peer } from '../api/v1.js';
import type { NamedContainerPort, PodIndex } from '../metadata/pod-index.js';
import { isLoopback } from '../net/ip.js';
import type { Labels } from './label-selector.js';
import { evaluateFlow, type FlowPeerView, type PolicyFlow, type PolicyVerdict } from './network-policy-eval.js';

/** What the tracker needs of the policy store. */
export interface PolicySource {
  readonly generation: number;
  all(): Iterable<V1NetworkPolicy>;
  namespaceLabels(namespace: string): Labels | undefined;
  /** Listed at least once: before that, "no policy" means "not known yet". */
  isSynced(): boolean;
}

export interface NetworkDriftOptions {
  registry: Registry;
  pods: PodIndex;
  policies: PolicySource;
  /** This node's own addresses: traffic with the node is always allowed. */
  nodeAddresses: ReadonlySet<string>;
}

interface FlowState {
  generation: number;
  peerKey: string;
  verdict: PolicyVerdict;
  /** The flow's count at the last read. */
  count: number;
  series: string | undefined;
  /** Present while the flow drifts. */
  drift: NetworkDrift | undefined;
}

const flowKey = (r: FlowRecord): string => `${r.namespace}/${r.pod}|${r.direction}|${r.protocol}|${r.port}|${r.peer.address}`;
const peerKey = (p: Peer): string => `${p.kind}|${p.namespace ?? ''}|${p.pod ?? p.name ?? ''}|${JSON.stringify(p.labels ?? p.selector ?? {})}`;

export class NetworkDriftTracker {
  private readonly counter: Counter<(typeof FLOW_SERIES_LABELS)[number]>;
  private readonly flows = new Map<string, FlowState>();
  /** series key → flows feeding it, so a series goes with its last flow. */
  private readonly seriesFlows = new Map<string, { labels: Record<(typeof FLOW_SERIES_LABELS)[number], string>; flows: Set<string> }>();
  private refresh: () => void = () => {};

  constructor(private readonly options: NetworkDriftOptions) {
    this.counter = new Counter({
      name: 'kubepulse_policy_drift_flows_total',
      help:
        'Flows of a pod that none of the NetworkPolicies isolating it allows (the CNI does not enforce them, or the traffic predates them): ' +
        'connections (TCP) or packets (UDP), by direction, protocol, server port and peer.',
      labelNames: FLOW_SERIES_LABELS,
      registers: [options.registry],
      collect: () => this.refresh(),
    });
  }

  /** At scrape time, before the counter is read: a fresh read of the flows (which calls observe). */
  beforeCollect(refresh: () => void): void {
    this.refresh = refresh;
  }

  /** One read of the flows map: every flow of known pods, with its cumulative count. */
  observe(records: readonly FlowRecord[]): void {
    if (!this.options.policies.isSynced() && this.flows.size === 0) return;
    const generation = this.options.policies.generation;
    const present = new Set<string>();
    for (const r of records) {
      const key = flowKey(r);
      present.add(key);
      let st = this.flows.get(key);
      const pk = peerKey(r.peer);
      if (st === undefined || st.generation !== generation || st.peerKey !== pk) {
        const verdict = this.judge(r);
        if (st === undefined) {
          st = { generation, peerKey: pk, verdict, count: 0, series: undefined, drift: undefined };
          this.flows.set(key, st);
        } else {
          st.generation = generation;
          st.peerKey = pk;
          st.verdict = verdict;
          if (verdict.allowed) st.drift = undefined;
        }
      }
      const delta = r.count - st.count;
      st.count = r.count;
      if (st.verdict.allowed || delta <= 0) continue;
      this.countDrift(key, st, r, delta);
    }
    for (const key of [...this.flows.keys()]) if (!present.has(key)) this.forget(key);
  }

  /** The flows drifting now (the latest verdict is "not allowed"). */
  list(): NetworkDrift[] {
    const out: NetworkDrift[] = [];
    for (const st of this.flows.values()) if (st.drift !== undefined && !st.verdict.allowed) out.push({ ...st.drift, policies: [...st.drift.policies] });
    return out;
  }

  private judge(r: FlowRecord): PolicyVerdict {
    const notIsolated: PolicyVerdict = { isolated: false, allowed: true, policies: [] };
    const peer = r.peer;
    // Never governed: the pod itself, and this node.
    if (peer.kind === 'external' && isLoopback(peer.address)) return notIsolated;
    if (peer.kind === 'pod' && peer.namespace === r.namespace && peer.pod === r.pod) return notIsolated;
    if ((peer.kind === 'node' || peer.kind === 'external') && this.options.nodeAddresses.has(peer.address)) return notIsolated;
    const local = this.options.pods.byName(r.namespace, r.pod);
    const subject = { namespace: r.namespace, labels: r.podLabels };
    const view: FlowPeerView = { address: peer.address };
    let port = r.port;
    let destinationPortName: string | undefined;
    let destinationPorts: readonly NamedContainerPort[] | undefined;
    if (peer.kind === 'pod' && peer.namespace !== undefined) {
      view.pod = { namespace: peer.namespace, labels: peer.labels ?? {} };
      view.namespaceLabels = this.options.policies.namespaceLabels(peer.namespace);
      if (r.direction === 'egress') destinationPorts = peer.containerPorts;
    } else if (peer.kind === 'service' && peer.namespace !== undefined && peer.selector !== undefined) {
      view.pod = { namespace: peer.namespace, labels: peer.selector };
      view.namespaceLabels = this.options.policies.namespaceLabels(peer.namespace);
      if (r.direction === 'egress') {
        const sp = (peer.ports ?? []).find((p) => p.port === r.port && (p.protocol ?? 'TCP') === r.protocol);
        if (typeof sp?.targetPort === 'number') port = sp.targetPort;
        else if (typeof sp?.targetPort === 'string') destinationPortName = sp.targetPort;
      }
    }
    if (r.direction === 'ingress') destinationPorts = local?.namedPorts;
    const flow: PolicyFlow = { direction: r.direction, protocol: r.protocol, port, peer: view, destinationPorts, destinationPortName };
    return evaluateFlow(subject, this.options.policies.all(), flow);
  }

  private countDrift(key: string, st: FlowState, r: FlowRecord, delta: number): void {
    const labels = {
      namespace: r.namespace,
      workload: r.workload,
      direction: r.direction,
      protocol: r.protocol,
      port: String(r.port),
      peer_kind: r.peer.kind,
      peer_namespace: r.peer.namespace ?? '',
      peer_workload: r.peer.workload ?? r.peer.name ?? '',
    };
    const seriesKey = FLOW_SERIES_LABELS.map((l) => labels[l]).join('\u0000');
    if (st.series !== seriesKey) {
      if (st.series !== undefined) this.release(key, st.series);
      st.series = seriesKey;
      let s = this.seriesFlows.get(seriesKey);
      if (s === undefined) this.seriesFlows.set(seriesKey, (s = { labels, flows: new Set() }));
      s.flows.add(key);
    }
    this.counter.inc(labels, delta);
    const now = new Date().toISOString();
    if (st.drift === undefined) {
      st.drift = {
        namespace: r.namespace,
        pod: r.pod,
        workload: r.workload,
        direction: r.direction,
        protocol: r.protocol,
        port: r.port,
        peer: r.peer,
        count: 0,
        firstSeen: now,
        lastSeen: now,
        policies: st.verdict.policies,
      };
    }
    st.drift.count += delta;
    st.drift.lastSeen = now;
    st.drift.peer = r.peer;
    st.drift.policies = st.verdict.policies;
  }

  /** The flow is gone from the kernel map (its pod went): its series goes with the last flow feeding it. */
  private forget(key: string): void {
    const st = this.flows.get(key);
    this.flows.delete(key);
    if (st?.series !== undefined) this.release(key, st.series);
  }

  private release(key: string, seriesKey: string): void {
    const s = this.seriesFlows.get(seriesKey);
    if (s === undefined) return;
    s.flows.delete(key);
    if (s.flows.size === 0) {
      this.seriesFlows.delete(seriesKey);
      this.counter.remove(s.labels);
    }
  }
}
