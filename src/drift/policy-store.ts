// The cluster's NetworkPolicies and Namespace labels, kept current by two
// cluster-wide list+watches on the daemon's watch machinery
// (metadata/kube-watch.ts: backoff, re-list on 410, resync, last known
// objects kept while the API server is away).
//
// Why Namespaces: a namespaceSelector is matched against the labels of the
// peer's namespace, which no pod carries. Cost: one more watch per agent;
// what is kept is each Namespace's name and labels (a cluster has tens to a
// few thousand), and each NetworkPolicy's namespace, name and spec, nothing
// of managedFields, annotations or status.
//
// Every change bumps `generation`: the drift tracker judges each flow once
// per generation, so a changed policy re-judges new traffic only.
//
// RBAC: get, list, watch on networkpolicies (networking.k8s.io) and
// namespaces, cluster-wide.
import type { KubernetesObject, V1Namespace, V1NetworkPolicy } from '@kubernetes/client-node';
import type { KubeClient } from '../kube/client.js';
import type { Logger } from '../log.js';
import { chooseKubeConfig } from '../metadata/kube-config.js';
import { ResourceWatch, type WatchSink } from '../metadata/kube-watch.js';
import type { Labels } from './label-selector.js';

export interface PolicyStoreOptions {
  /** A client; else one from `kubeconfig` (a file), else the in-cluster one. */
  client?: KubeClient | undefined;
  kubeconfig?: string | undefined;
  log: Logger;
  resyncIntervalMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

function slimPolicy(policy: V1NetworkPolicy): V1NetworkPolicy {
  const m = policy.metadata ?? {};
  return {
    metadata: { name: m.name, namespace: m.namespace, resourceVersion: m.resourceVersion },
    ...(policy.spec === undefined ? {} : { spec: policy.spec }),
  };
}

function slimNamespace(namespace: V1Namespace): V1Namespace {
  const m = namespace.metadata ?? {};
  return { metadata: { name: m.name, resourceVersion: m.resourceVersion, ...(m.labels === undefined ? {} : { labels: m.labels }) } };
}

const keyOf = (o: KubernetesObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/** A map sink that bumps the store's generation on every change. */
function mapSink<T extends KubernetesObject>(map: Map<string, T>, changed: () => void): WatchSink<T> {
  return {
    get size() {
      return map.size;
    },
    upsert(obj) {
      map.set(keyOf(obj), obj);
      changed();
    },
    remove(obj) {
      map.delete(keyOf(obj));
      changed();
    },
    replace(items) {
      map.clear();
      for (const o of items) map.set(keyOf(o), o);
      changed();
    },
  };
}

export class PolicyStore {
  private readonly policies = new Map<string, V1NetworkPolicy>();
  private readonly namespaces = new Map<string, V1Namespace>();
  private readonly watches: [ResourceWatch<V1NetworkPolicy>, ResourceWatch<V1Namespace>];
  private gen = 0;
  private readonly listeners: Array<() => void> = [];

  constructor(options: PolicyStoreOptions) {
    let client = options.client;
    if (client === undefined) {
      const choice = chooseKubeConfig({ kubeconfig: options.kubeconfig });
      if (choice.source === 'none') throw new Error(`NetworkPolicy drift needs the Kubernetes API: ${choice.reason}`);
      client = choice.client;
    }
    const changed = (): void => {
      this.gen++;
      for (const l of this.listeners) l();
    };
    const common = {
      client,
      log: options.log,
      resyncIntervalMs: options.resyncIntervalMs,
      backoffInitialMs: options.backoffInitialMs,
      backoffMaxMs: options.backoffMaxMs,
    };
    this.watches = [
      new ResourceWatch<V1NetworkPolicy>({
        ...common,
        resource: { kind: 'networkpolicy', path: '/apis/networking.k8s.io/v1/networkpolicies', listResourceVersion: '0', slim: slimPolicy },
        sink: mapSink(this.policies, changed),
      }),
      new ResourceWatch<V1Namespace>({
        ...common,
        resource: { kind: 'namespace', path: '/api/v1/namespaces', listResourceVersion: '0', slim: slimNamespace },
        sink: mapSink(this.namespaces, changed),
      }),
    ];
  }

  /** Bumped on every policy or namespace change. */
  get generation(): number {
    return this.gen;
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  all(): Iterable<V1NetworkPolicy> {
    return this.policies.values();
  }

  get size(): number {
    return this.policies.size;
  }

  /** The namespace's labels, or undefined before the Namespace is known. */
  namespaceLabels(namespace: string): Labels | undefined {
    return this.namespaces.get(`/${namespace}`)?.metadata?.labels;
  }

  start(): void {
    for (const w of this.watches) w.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.watches.map((w) => w.stop()));
  }

  isSynced(): boolean {
    return this.watches.every((w) => w.isSynced());
  }

  async waitForSync(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (const w of this.watches) if (!(await w.waitForSync(Math.max(0, deadline - Date.now())))) return false;
    return this.isSynced();
  }
}
