// Who is at the other end of a flow, from the whole cluster: the flows
// collector asks `resolve(address)` for every peer address the kernel saw.
//
//   const peers = createClusterPeers({ kubeconfig, registry, log });
//   peers.start();                       // returns at once; never waits for the API server
//   peers.resolve('10.244.1.7');         // { kind: 'pod', namespace, pod, workload, workloadKind, labels, address }
//   peers.isSynced();                    // pods, services and nodes all listed
//   await peers.stop();
//
// Three cluster-wide list+watches, on the same machinery as the node's pod
// watch (kube-watch.ts: backoff with jitter, re-list on 410, periodic resync,
// the last known objects kept while the API server is away):
// - pods: status.podIP(s) → namespace, pod, workload, workloadKind, labels.
//   hostNetwork pods are left out (their IP is their node's), and so are
//   finished pods (Succeeded, Failed), whose IPs go back to the pool;
// - services: spec.clusterIP(s) → namespace, name, selector, ports with
//   targetPort. Sockets see the ClusterIP before DNAT, so a flow to a Service
//   resolves to the Service; the policy generator turns it into its selector
//   and targetPort. Headless (None) and ExternalName services have none;
// - nodes: status.addresses InternalIP and ExternalIP → kind node.
// Anything else is external, loopback included: in a pod's network namespace
// loopback is the pod itself, and the node's own addresses are known from its
// Node object. (Without Kubernetes the daemon keeps addressOnlyPeers, which
// calls loopback the node.)
//
// Memory: the informers cache slimmed objects (the fields below, nothing of
// spec.containers, managedFields or conditions), and the index holds one
// frozen Peer per address, label sets shared between the pods that carry the
// same ones. resolve() is a Map lookup and allocates nothing.
//
// Lists ask for resourceVersion=0: the API server answers from its watch
// cache instead of etcd, which matters when every node's agent lists every
// pod of the cluster at start-up (slightly stale answers are fine here: the
// watch that follows brings what changed).
//
// RBAC: get, list, watch on pods, services and nodes, cluster-wide.
import { isIP } from 'node:net';
import type { KubeConfig, KubernetesObject, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import { Gauge, type Registry } from 'prom-client';
import { formatIp } from '../net/ip.js';
import type { Peer, PeerKind, ServicePeerPort } from '../api/v1.js';
import type { PeerResolver } from '../probes/flows/peers.js';
import { chooseKubeConfig } from './kube-config.js';
import { KubeWatch, type WatchedResource, type WatchSink } from './kube-watch.js';
import type { Logger } from '../log.js';
import { workloadOf } from './pod-index.js';

export interface ClusterPeersOptions {
  /** A loaded configuration; else `kubeconfig` (a file), else the in-cluster one. */
  kubeConfig?: KubeConfig | undefined;
  kubeconfig?: string | undefined;
  /** Registers kubepulse_cluster_peers_* gauges. */
  registry?: Registry | undefined;
  log: Logger;
  resyncIntervalMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  listTimeoutMs?: number;
}

export type ClusterResource = 'pods' | 'services' | 'nodes';

export interface ClusterPeersHealth {
  readonly synced: Readonly<Record<ClusterResource, boolean>>;
  /** Addresses known, by the kind they resolve to. */
  readonly addresses: Readonly<Record<'pod' | 'service' | 'node', number>>;
  readonly lastError: string;
}

export interface ClusterPeers extends PeerResolver {
  /** Starts the three watches; returns at once. */
  start(): void;
  stop(): Promise<void>;
  /** Pods, services and nodes all listed, and no failure since. */
  isSynced(): boolean;
  /** Resolves true once synced, false on timeout or stop. */
  waitForSync(timeoutMs: number): Promise<boolean>;
  health(): ClusterPeersHealth;
}

/** The text form the flows map decoder prints (formatIp), so lookups match; undefined if not an IP. */
export function canonicalIp(text: string): string | undefined {
  const family = isIP(text);
  if (family === 4) return text.split('.').map((o) => String(Number(o))).join('.');
  if (family !== 6) return undefined;
  const bytes = new Uint8Array(16);
  let head = text;
  let tail = '';
  const gap = text.indexOf('::');
  if (gap >= 0) {
    head = text.slice(0, gap);
    tail = text.slice(gap + 2);
  }
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const h = groups(head);
  const t = groups(tail);
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return formatIp(bytes, 'ipv6');
}

type Labels = Readonly<Record<string, string>>;

/** Frozen label sets shared by every pod that carries the same one, counted so unused ones go. */
class LabelPool {
  private readonly sets = new Map<string, { labels: Labels; refs: number }>();

  get size(): number {
    return this.sets.size;
  }

  take(labels: Record<string, string> | undefined): Labels {
    const sorted = Object.keys(labels ?? {}).sort();
    const key = JSON.stringify(sorted.map((k) => [k, labels![k]]));
    let entry = this.sets.get(key);
    if (entry === undefined) {
      const frozen: Record<string, string> = {};
      for (const k of sorted) frozen[k] = labels![k] as string;
      this.sets.set(key, (entry = { labels: Object.freeze(frozen), refs: 0 }));
    }
    entry.refs++;
    return entry.labels;
  }

  give(labels: Labels): void {
    const key = JSON.stringify(Object.keys(labels).map((k) => [k, labels[k]]));
    const entry = this.sets.get(key);
    if (entry !== undefined && --entry.refs <= 0) this.sets.delete(key);
  }
}

interface Owned {
  readonly owner: string;
  readonly peer: Peer;
}

/**
 * Address → peer, fed by owners (a pod, a Service, a node) that each hold a
 * few addresses. An address claimed by two owners (a pod IP reused while the
 * old pod is still being deleted) answers with the latest claim, and falls
 * back to the other when that one goes.
 */
export class ClusterPeerIndex implements PeerResolver {
  private readonly byAddress = new Map<string, Owned[]>();
  private readonly owned = new Map<string, { peers: Peer[]; labels: Labels | undefined }>();
  private readonly counts: Record<'pod' | 'service' | 'node', number> = { pod: 0, service: 0, node: 0 };
  private readonly labels = new LabelPool();

  resolve(address: string): Peer {
    const claims = this.byAddress.get(address);
    if (claims !== undefined) return (claims[claims.length - 1] as Owned).peer;
    return { kind: 'external', address };
  }

  addresses(kind: 'pod' | 'service' | 'node'): number {
    return this.counts[kind];
  }

  /** Distinct label sets held (for tests). */
  get labelSets(): number {
    return this.labels.size;
  }

  /** Owners whose key starts with the prefix, e.g. 'pod:'. */
  owners(prefix: string): string[] {
    return [...this.owned.keys()].filter((k) => k.startsWith(prefix));
  }

  /** Replaces what the owner claims. `build` gets the shared labels and makes one peer per address. */
  set(owner: string, kind: 'pod' | 'service' | 'node', addresses: readonly string[], build: (address: string, labels: Labels | undefined) => Peer, labels?: Record<string, string>): void {
    this.delete(owner);
    const canonical = [...new Set(addresses.map(canonicalIp).filter((a): a is string => a !== undefined))];
    if (canonical.length === 0) return;
    const shared = labels === undefined ? undefined : this.labels.take(labels);
    const peers = canonical.map((a) => Object.freeze(build(a, shared)));
    this.owned.set(owner, { peers, labels: shared });
    for (const peer of peers) {
      let claims = this.byAddress.get(peer.address);
      if (claims === undefined) this.byAddress.set(peer.address, (claims = []));
      claims.push({ owner, peer });
      this.counts[kind]++;
    }
  }

  delete(owner: string): void {
    const held = this.owned.get(owner);
    if (held === undefined) return;
    this.owned.delete(owner);
    if (held.labels !== undefined) this.labels.give(held.labels);
    for (const peer of held.peers) {
      this.counts[peer.kind as 'pod' | 'service' | 'node']--;
      const claims = this.byAddress.get(peer.address);
      if (claims === undefined) continue;
      const rest = claims.filter((c) => c.owner !== owner);
      if (rest.length === 0) this.byAddress.delete(peer.address);
      else this.byAddress.set(peer.address, rest);
    }
  }
}

// What each informer keeps of an object (the rest is dropped before caching).

function slimPod(pod: V1Pod): V1Pod {
  const m = pod.metadata ?? {};
  const owner = (m.ownerReferences ?? []).find((o) => o.controller === true) ?? m.ownerReferences?.[0];
  return {
    metadata: {
      name: m.name,
      namespace: m.namespace,
      resourceVersion: m.resourceVersion,
      ...(m.labels === undefined ? {} : { labels: m.labels }),
      ...(owner === undefined ? {} : { ownerReferences: [{ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid, controller: true }] }),
    },
    spec: { containers: [], ...(pod.spec?.hostNetwork === true ? { hostNetwork: true } : {}), ...(pod.spec?.nodeName === undefined ? {} : { nodeName: pod.spec.nodeName }) },
    status: {
      ...(pod.status?.phase === undefined ? {} : { phase: pod.status.phase }),
      ...(pod.status?.podIP === undefined ? {} : { podIP: pod.status.podIP }),
      ...(pod.status?.podIPs === undefined ? {} : { podIPs: pod.status.podIPs.map((p) => ({ ip: p.ip })) }),
    },
  };
}

function slimService(service: V1Service): V1Service {
  const m = service.metadata ?? {};
  const s = service.spec ?? {};
  return {
    metadata: { name: m.name, namespace: m.namespace, resourceVersion: m.resourceVersion },
    spec: {
      ...(s.clusterIP === undefined ? {} : { clusterIP: s.clusterIP }),
      ...(s.clusterIPs === undefined ? {} : { clusterIPs: s.clusterIPs }),
      ...(s.selector === undefined ? {} : { selector: s.selector }),
      ...(s.ports === undefined
        ? {}
        : { ports: s.ports.map((p) => ({ port: p.port, targetPort: p.targetPort, protocol: p.protocol, name: p.name })) }),
    },
  };
}

const NODE_ADDRESS_TYPES = new Set(['InternalIP', 'ExternalIP']);

function slimNode(node: V1Node): V1Node {
  const m = node.metadata ?? {};
  return {
    metadata: { name: m.name, resourceVersion: m.resourceVersion },
    status: { addresses: (node.status?.addresses ?? []).filter((a) => NODE_ADDRESS_TYPES.has(a.type)).map((a) => ({ type: a.type, address: a.address })) },
  };
}

const ownerOf = (prefix: string, obj: KubernetesObject): string => `${prefix}${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;

const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP']);

function servicePorts(service: V1Service): ServicePeerPort[] | undefined {
  const ports = service.spec?.ports;
  if (ports === undefined) return undefined;
  return ports.map((p) => {
    const out: ServicePeerPort = { port: p.port };
    // The API server defaults targetPort to port; keep what it says.
    if (p.targetPort !== undefined && p.targetPort !== null && p.targetPort !== '') out.targetPort = p.targetPort;
    if (p.protocol !== undefined && PROTOCOLS.has(p.protocol)) out.protocol = p.protocol as 'TCP' | 'UDP' | 'SCTP';
    if (p.name !== undefined && p.name !== '') out.name = p.name;
    return out;
  });
}

/** Feeds one kind of object into the index: upserts claim addresses, a list replaces all of that kind. */
function sinkFor<T extends KubernetesObject>(index: ClusterPeerIndex, prefix: string, apply: (obj: T, owner: string) => void): WatchSink<T> {
  const owners = new Set<string>();
  return {
    get size() {
      return owners.size;
    },
    upsert(obj) {
      const owner = ownerOf(prefix, obj);
      owners.add(owner);
      apply(obj, owner);
    },
    remove(obj) {
      const owner = ownerOf(prefix, obj);
      owners.delete(owner);
      index.delete(owner);
    },
    replace(items) {
      const listed = new Set(items.map((o) => ownerOf(prefix, o)));
      for (const owner of [...owners]) {
        if (!listed.has(owner)) {
          owners.delete(owner);
          index.delete(owner);
        }
      }
      for (const obj of items) this.upsert(obj);
    },
  };
}

function podAddresses(pod: V1Pod): string[] {
  if (pod.spec?.hostNetwork === true) return [];
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return [];
  const ips = (pod.status?.podIPs ?? []).map((p) => p.ip);
  if (pod.status?.podIP !== undefined && pod.status.podIP !== '') ips.push(pod.status.podIP);
  return ips;
}

function serviceAddresses(service: V1Service): string[] {
  const ips = [...(service.spec?.clusterIPs ?? [])];
  if (service.spec?.clusterIP !== undefined) ips.push(service.spec.clusterIP);
  return ips.filter((ip) => ip !== '' && ip !== 'None');
}

export function createClusterPeers(options: ClusterPeersOptions): ClusterPeers {
  const { log } = options;
  let kubeConfig = options.kubeConfig;
  if (kubeConfig === undefined) {
    const choice = chooseKubeConfig({ kubeconfig: options.kubeconfig });
    if (choice.source === 'none') throw new Error(`cluster peers need the Kubernetes API: ${choice.reason}`);
    kubeConfig = choice.kubeConfig;
  }
  const index = new ClusterPeerIndex();

  const pods: WatchedResource<V1Pod> = {
    kind: 'pod',
    path: '/api/v1/pods',
    list: (api) => api.listPodForAllNamespaces({ resourceVersion: '0' }),
    slim: slimPod,
  };
  const services: WatchedResource<V1Service> = {
    kind: 'service',
    path: '/api/v1/services',
    list: (api) => api.listServiceForAllNamespaces({ resourceVersion: '0' }),
    slim: slimService,
  };
  const nodes: WatchedResource<V1Node> = {
    kind: 'node',
    path: '/api/v1/nodes',
    list: (api) => api.listNode({ resourceVersion: '0' }),
    slim: slimNode,
  };

  const podSink = sinkFor<V1Pod>(index, 'pod:', (pod, owner) => {
    const workload = workloadOf(pod);
    const namespace = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    index.set(
      owner,
      'pod',
      podAddresses(pod),
      (address, labels) => ({ kind: 'pod', address, namespace, pod: name, workload: workload.name, workloadKind: workload.kind, labels: labels ?? {} }),
      pod.metadata?.labels ?? {},
    );
  });
  const serviceSink = sinkFor<V1Service>(index, 'service:', (service, owner) => {
    const namespace = service.metadata?.namespace ?? '';
    const name = service.metadata?.name ?? '';
    const selector = service.spec?.selector;
    const ports = servicePorts(service);
    index.set(owner, 'service', serviceAddresses(service), (address) => {
      const peer: Peer = { kind: 'service', address, namespace, name };
      if (selector !== undefined && Object.keys(selector).length > 0) peer.selector = { ...selector };
      if (ports !== undefined) peer.ports = ports;
      return peer;
    });
  });
  const nodeSink = sinkFor<V1Node>(index, 'node:', (node, owner) => {
    const addresses = (node.status?.addresses ?? []).filter((a) => NODE_ADDRESS_TYPES.has(a.type)).map((a) => a.address);
    index.set(owner, 'node', addresses, (address) => ({ kind: 'node' satisfies PeerKind, address }));
  });

  const common = {
    kubeConfig,
    log,
    ...(options.resyncIntervalMs === undefined ? {} : { resyncIntervalMs: options.resyncIntervalMs }),
    ...(options.backoffInitialMs === undefined ? {} : { backoffInitialMs: options.backoffInitialMs }),
    ...(options.backoffMaxMs === undefined ? {} : { backoffMaxMs: options.backoffMaxMs }),
    ...(options.listTimeoutMs === undefined ? {} : { listTimeoutMs: options.listTimeoutMs }),
  };
  const watches: Record<ClusterResource, KubeWatch<V1Pod> | KubeWatch<V1Service> | KubeWatch<V1Node>> = {
    pods: new KubeWatch<V1Pod>({ ...common, resource: pods, sink: podSink }),
    services: new KubeWatch<V1Service>({ ...common, resource: services, sink: serviceSink }),
    nodes: new KubeWatch<V1Node>({ ...common, resource: nodes, sink: nodeSink }),
  };
  const all = Object.values(watches);
  const isSynced = (): boolean => all.every((w) => w.isSynced());

  if (options.registry !== undefined) {
    new Gauge({
      name: 'kubepulse_cluster_peers_synced',
      help: 'Cluster-wide peer resolution: 1 while the pods, services or nodes list+watch is in sync with the API server.',
      labelNames: ['resource'],
      registers: [options.registry],
      collect() {
        for (const [resource, w] of Object.entries(watches)) this.set({ resource }, w.isSynced() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'kubepulse_cluster_peers_addresses',
      help: 'Addresses the cluster-wide peer resolver knows, by the kind of peer they resolve to (pod, service, node).',
      labelNames: ['kind'],
      registers: [options.registry],
      collect() {
        for (const kind of ['pod', 'service', 'node'] as const) this.set({ kind }, index.addresses(kind));
      },
    });
  }

  return {
    resolve: (address) => index.resolve(address),
    start() {
      log.info('cluster-wide peer resolution from the Kubernetes API (pods, services, nodes)');
      for (const w of all) w.start();
    },
    async stop() {
      await Promise.all(all.map((w) => w.stop()));
    },
    isSynced,
    async waitForSync(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (const w of all) {
        if (!(await w.waitForSync(Math.max(0, deadline - Date.now())))) return false;
      }
      return isSynced();
    },
    health() {
      return {
        synced: { pods: watches.pods.isSynced(), services: watches.services.isSynced(), nodes: watches.nodes.isSynced() },
        addresses: { pod: index.addresses('pod'), service: index.addresses('service'), node: index.addresses('node') },
        lastError: all.map((w) => w.health().lastError).find((e) => e !== '') ?? '',
      };
    },
  };
}
