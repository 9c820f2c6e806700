// Who is at the other end of a flow, from the whole cluster: the flows
// collector asks `peerOf(address)` for every peer address the kernel saw.
//
//   const peers = createClusterPeers({ kubeconfig, registry, log });
//   peers.start();                       // returns at once; never waits for the API server
//   peers.peerOf('10.244.1.7');         // { kind: 'pod', namespace, pod, workload, workloadKind, labels, address }
//   peers.isSynced();                    // pods, services and nodes all listed
//   await peers.stop();
//
// Three cluster-wide list+watches, on the same machinery as the node's pod
// watch (metadata/kube-watch.ts: backoff with jitter, re-list on 410, periodic resync,
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
// Memory: each object is slimmed as it arrives (kube-objects.ts: nothing of
// spec.containers, managedFields or conditions) and no watch keeps a cache
// of its own; the index holds one
// frozen Peer per address, label sets shared between the pods that carry the
// same ones. peerOf() is a Map lookup and allocates nothing.
//
// Lists ask for resourceVersion=0: the API server answers from its watch
// cache instead of etcd, which matters when every node's agent lists every
// pod of the cluster at start-up (slightly stale answers are fine here: the
// watch that follows brings what changed).
//
// RBAC: get, list, watch on pods, services and nodes, cluster-wide.
import type { KubernetesObject, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Peer, PeerKind } from '../api/v1.js';
import type { KubeClient } from '../kube/client.js';
import type { Logger } from '../log.js';
import { chooseKubeConfig } from '../metadata/kube-config.js';
import { ResourceWatch, type WatchCounters, type WatchedResource, type WatchSink } from '../metadata/kube-watch.js';
import { workloadOf } from '../metadata/pod-index.js';
import { ClusterPeerIndex } from './address-index.js';
import { NODE_ADDRESS_TYPES, podAddresses, podContainerPorts, serviceAddresses, servicePorts, slimNode, slimPod, slimService } from './kube-objects.js';
import type { PeerResolver } from './resolver.js';

export interface ClusterPeersOptions {
  /** A client; else one from `kubeconfig` (a file), else the in-cluster one. */
  client?: KubeClient | undefined;
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
  /** Listed at least once since start (the last known objects are kept after). */
  readonly everSynced: Readonly<Record<ClusterResource, boolean>>;
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

const ownerOf = (prefix: string, obj: KubernetesObject): string => `${prefix}${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;

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
      const session = this.beginReplace!();
      for (const obj of items) session.add(obj);
      session.end();
    },
    // Each listed object goes into the index as it arrives, so a large
    // cluster's slimmed objects are never all alive at once; what was not
    // listed goes at the end.
    beginReplace() {
      const listed = new Set<string>();
      return {
        add: (obj) => {
          const owner = ownerOf(prefix, obj);
          listed.add(owner);
          owners.add(owner);
          apply(obj, owner);
        },
        restart: () => listed.clear(),
        end: () => {
          for (const owner of [...owners]) {
            if (!listed.has(owner)) {
              owners.delete(owner);
              index.delete(owner);
            }
          }
        },
      };
    },
  };
}

export function createClusterPeers(options: ClusterPeersOptions): ClusterPeers {
  const { log } = options;
  let client = options.client;
  if (client === undefined) {
    const choice = chooseKubeConfig({ kubeconfig: options.kubeconfig });
    if (choice.source === 'none') throw new Error(`cluster peers need the Kubernetes API: ${choice.reason}`);
    client = choice.client;
  }
  const index = new ClusterPeerIndex();

  const pods: WatchedResource<V1Pod> = {
    kind: 'pod',
    path: '/api/v1/pods',
    listResourceVersion: '0',
    slim: slimPod,
  };
  const services: WatchedResource<V1Service> = {
    kind: 'service',
    path: '/api/v1/services',
    listResourceVersion: '0',
    slim: slimService,
  };
  const nodes: WatchedResource<V1Node> = {
    kind: 'node',
    path: '/api/v1/nodes',
    listResourceVersion: '0',
    slim: slimNode,
  };

  const podSink = sinkFor<V1Pod>(index, 'pod:', (pod, owner) => {
    const workload = workloadOf(pod);
    const namespace = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    const containerPorts = podContainerPorts(pod);
    index.set(
      owner,
      'pod',
      podAddresses(pod),
      (address, labels) => ({
        kind: 'pod',
        address,
        namespace,
        pod: name,
        workload: workload.name,
        workloadKind: workload.kind,
        labels: labels ?? {},
        ...(containerPorts === undefined ? {} : { containerPorts }),
      }),
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

  // The cluster-wide watches count their events and failures as the pod watch does, by resource.
  let counters: (resource: ClusterResource) => WatchCounters | undefined = () => undefined;
  if (options.registry !== undefined) {
    const events = new Counter({
      name: 'kubepulse_cluster_peers_watch_events_total',
      help: 'Cluster-wide peer watch events received from the Kubernetes API server, by resource (pods, services, nodes) and event type.',
      labelNames: ['resource', 'type'] as const,
      registers: [options.registry],
    });
    const errors = new Counter({
      name: 'kubepulse_cluster_peers_watch_errors_total',
      help: 'Failed cluster-wide pod, service and node lists and watches (API server unreachable, refused, timed out), by resource.',
      labelNames: ['resource'] as const,
      registers: [options.registry],
    });
    counters = (resource) => {
      errors.inc({ resource }, 0); // 0 from the start, so rate() works from the first scrape
      return { event: (type) => events.inc({ resource, type }), failure: () => errors.inc({ resource }) };
    };
  }
  const common = {
    client,
    log,
    ...(options.resyncIntervalMs === undefined ? {} : { resyncIntervalMs: options.resyncIntervalMs }),
    ...(options.backoffInitialMs === undefined ? {} : { backoffInitialMs: options.backoffInitialMs }),
    ...(options.backoffMaxMs === undefined ? {} : { backoffMaxMs: options.backoffMaxMs }),
    ...(options.listTimeoutMs === undefined ? {} : { listTimeoutMs: options.listTimeoutMs }),
  };
  const watches: Record<ClusterResource, ResourceWatch<V1Pod> | ResourceWatch<V1Service> | ResourceWatch<V1Node>> = {
    pods: new ResourceWatch<V1Pod>({ ...common, resource: pods, sink: podSink, counters: counters('pods') }),
    services: new ResourceWatch<V1Service>({ ...common, resource: services, sink: serviceSink, counters: counters('services') }),
    nodes: new ResourceWatch<V1Node>({ ...common, resource: nodes, sink: nodeSink, counters: counters('nodes') }),
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
    peerOf: (address) => index.peerOf(address),
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
        everSynced: { pods: watches.pods.health().everSynced, services: watches.services.health().everSynced, nodes: watches.nodes.health().everSynced },
        addresses: { pod: index.addresses('pod'), service: index.addresses('service'), node: index.addresses('node') },
        lastError: all.map((w) => w.health().lastError).find((e) => e !== '') ?? '',
      };
    },
  };
}
