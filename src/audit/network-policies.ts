// Which NetworkPolicies select a pod, for the no_network_policy check: a
// cluster-wide list+watch of NetworkPolicies (metadata/kube-watch.ts: backoff,
// re-list on 410, the last known kept while the API server is away), each
// kept as its namespace, name and podSelector only.
//
// RBAC: get, list, watch on networking.k8s.io networkpolicies.
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import type { KubeClient } from '../kube/client.js';
import type { Logger } from '../log.js';
import { ResourceWatch, type WatchSink } from '../metadata/kube-watch.js';
import { selectorMatches, type LabelSelector } from './selector.js';

interface SlimPolicy {
  readonly key: string;
  readonly podSelector: LabelSelector | undefined;
}

const keyOf = (p: V1NetworkPolicy): string => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;

/** The policies by namespace; a sink for the watch. */
export class NetworkPolicyIndex implements WatchSink<V1NetworkPolicy> {
  private readonly byNamespace = new Map<string, Map<string, SlimPolicy>>();
  private readonly listeners: Array<() => void> = [];
  private listed = false;

  get size(): number {
    let n = 0;
    for (const m of this.byNamespace.values()) n += m.size;
    return n;
  }

  /** After every change (the audit re-evaluates every pod: policies change rarely). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** `<namespace>/<name>` of the policies selecting a pod; undefined until the first list. */
  selecting(namespace: string, labels: Readonly<Record<string, string>>): string[] | undefined {
    if (!this.listed) return undefined;
    const out: string[] = [];
    for (const p of this.byNamespace.get(namespace)?.values() ?? []) if (selectorMatches(p.podSelector, labels)) out.push(p.key);
    return out.sort();
  }

  upsert(p: V1NetworkPolicy): void {
    const namespace = p.metadata?.namespace ?? '';
    let m = this.byNamespace.get(namespace);
    if (m === undefined) this.byNamespace.set(namespace, (m = new Map()));
    m.set(keyOf(p), { key: keyOf(p), podSelector: p.spec?.podSelector as LabelSelector | undefined });
    this.notify();
  }

  remove(p: V1NetworkPolicy): void {
    this.byNamespace.get(p.metadata?.namespace ?? '')?.delete(keyOf(p));
    this.notify();
  }

  replace(items: readonly V1NetworkPolicy[]): void {
    this.byNamespace.clear();
    this.listed = true;
    const quiet = this.listeners.splice(0);
    for (const p of items) this.upsert(p);
    this.listeners.push(...quiet);
    this.notify();
  }

  private notify(): void {
    for (const l of this.listeners) l();
  }
}

/** The watch that keeps the index current; start() returns at once. */
export function watchNetworkPolicies(client: KubeClient, index: NetworkPolicyIndex, log: Logger): ResourceWatch<V1NetworkPolicy> {
  return new ResourceWatch<V1NetworkPolicy>({
    client,
    log,
    sink: index,
    resource: { kind: 'networkpolicy', path: '/apis/networking.k8s.io/v1/networkpolicies', listResourceVersion: '0' },
  });
}
