// Pod metadata for the daemon: createMetadata() wires the cgroup index, the
// pod index, the resolution cache and the Kubernetes watch together.
//
//   const metadata = createMetadata({ nodeName, procfs: '/host/proc', registry, log });
//   metadata.recordCgroupBirths(src);  // the kernel's record of new cgroups (cgroup-births.ts), before start()
//   await metadata.start();            // returns at once; never waits for the API server
//   metadata.resolver.resolve(tgid, cgroupId);   // per event, hot path
//   metadata.isReady();                // for /readyz
//   await metadata.stop();
//
// Options:
//   nodeName      this node (spec.nodeName of the pods to watch); required with Kubernetes
//   procfs        the host's /proc (e.g. /host/proc in a container)
//   cgroupfs      the cgroup v2 mount point; default: found in <procfs>/mounts
//   kubeconfig    a kubeconfig file, for running outside the cluster
//   inCluster     undefined: use the in-cluster config when present; true: require it; false: never
//   cacheTtlMs    TTL of cached resolutions (default 60 s); cacheMax bounds their number (default 65536)
//   negativeTtlMs TTL of "unknown" answers (default 5 s); rescanIntervalMs bounds cgroup rescans (default 1 s)
//   podHoldMs     how long events of a pod the watch has not delivered yet may be held (default 1 s)
//   departedPodMs how long a deleted pod keeps the events it made before its deletion and that are read after (default 60 s;
//                 keep it below the series grace, or a late event brings back a series already removed)
//   resyncIntervalMs  full re-list period of the pod watch (default 10 min)
//   registry      the daemon's prom-client Registry (never the global one)
//   log           { debug, info, warn, error }(msg, fields?)
//
// Behaviour:
// - host processes resolve to HOST_IDENTITY (every field ''); see resolver.ts
//   for the other partial answers;
// - mode 'none' (no kubeconfig, not in a cluster): the resolver labels every
//   process as the host, isReady() is always true, nothing is watched and no
//   metadata metrics are registered;
// - mode 'kubernetes': start() never fails because of the API server. The
//   watch retries with backoff and logs once per state change. isReady() is
//   true while the watch is in sync: false until the first list succeeds and
//   again while the API server is unreachable. Meanwhile the last known pods
//   keep resolving, so labels do not go blank.
import type { Registry } from 'prom-client';
import type { CgroupPathSource } from './cgroup-births.js';
import { CgroupIndex } from './cgroup-index.js';
import { IdentityCache } from './identity-cache.js';
import { chooseKubeConfig } from './kube-config.js';
import { watchNodePods, type WatchHealth } from './kube-watch.js';
import type { Logger } from '../log.js';
import { PodIndex } from './pod-index.js';
import { PodResolver } from './pod-resolver.js';
import { hostResolver, type Resolver } from './resolver.js';

export { HOST_IDENTITY, hostResolver, type PodIdentity, type Resolver } from './resolver.js';
export type { Logger, LogFields } from '../log.js';
export type { PodIndex, PodRecord } from './pod-index.js';
export type { WatchHealth } from './kube-watch.js';

export interface MetadataOptions {
  nodeName: string;
  procfs: string;
  cgroupfs?: string | undefined;
  kubeconfig?: string | undefined;
  inCluster?: boolean | undefined;
  cacheTtlMs?: number;
  cacheMax?: number;
  negativeTtlMs?: number;
  rescanIntervalMs?: number;
  podHoldMs?: number;
  departedPodMs?: number;
  resyncIntervalMs?: number;
  /** Retry delays of the pod watch (defaults 500 ms doubling to 30 s). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  registry: Registry;
  log: Logger;
}

export type MetadataMode = 'kubernetes' | 'none';

export interface MetadataHealth extends WatchHealth {
  readonly mode: MetadataMode;
}

export interface Metadata {
  readonly mode: MetadataMode;
  readonly resolver: Resolver;
  /** The node's pods (labels, workload kinds) for exporters; empty in mode 'none'. */
  readonly pods: PodIndex;
  /** Resolve new cgroup ids from the kernel's record of cgroup births; call before start(). No-op in mode 'none'. */
  recordCgroupBirths(births: CgroupPathSource): void;
  /** For /readyz: always true in mode 'none'; in mode 'kubernetes', while the pod watch is in sync. */
  isReady(): boolean;
  /** Details for /readyz bodies and logs. */
  health(): MetadataHealth;
  /** Resolves true once the pod watch is in sync (at once in mode 'none'), false on timeout. */
  waitForSync(timeoutMs: number): Promise<boolean>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createMetadata(options: MetadataOptions): Metadata {
  const { log } = options;
  const pods = new PodIndex({ departedMs: options.departedPodMs });
  const choice = chooseKubeConfig({ kubeconfig: options.kubeconfig, inCluster: options.inCluster });

  if (choice.source === 'none') {
    log.info('no Kubernetes configuration; every process is labelled as the host', { reason: choice.reason });
    const health: MetadataHealth = {
      mode: 'none',
      state: 'idle',
      synced: true,
      everSynced: true,
      lastSyncMs: 0,
      lastError: '',
      pods: 0,
    };
    return {
      mode: 'none',
      resolver: hostResolver,
      pods,
      recordCgroupBirths: () => {},
      isReady: () => true,
      health: () => health,
      waitForSync: async () => true,
      start: async () => {},
      stop: async () => {},
    };
  }

  const where = choice.source === 'kubeconfig' ? { kubeconfig: choice.kubeconfig } : { server: choice.server };
  // Begun now, so that loading a kubeconfig's library overlaps the daemon's
  // own start-up instead of stalling its event loop once it serves.
  const endpointReady = choice.client.endpoint.ready();
  endpointReady.catch(() => {}); // awaited, and reported, by start()
  log.info('pod metadata from the Kubernetes API', { source: choice.source, ...where, node: options.nodeName });
  const cgroups = new CgroupIndex({
    procfs: options.procfs,
    cgroupfs: options.cgroupfs,
    rescanIntervalMs: options.rescanIntervalMs,
    log,
  });
  const cache = new IdentityCache({ max: options.cacheMax ?? 65_536, ttlMs: options.cacheTtlMs ?? 60_000, registry: options.registry });
  const resolver = new PodResolver({
    procfs: options.procfs,
    cgroups,
    pods,
    cache,
    negativeTtlMs: options.negativeTtlMs,
    holdMs: options.podHoldMs,
    log,
  });
  const watch = watchNodePods({
    client: choice.client,
    nodeName: options.nodeName,
    pods,
    log,
    registry: options.registry,
    resyncIntervalMs: options.resyncIntervalMs,
    backoffInitialMs: options.backoffInitialMs,
    backoffMaxMs: options.backoffMaxMs,
  });

  return {
    mode: 'kubernetes',
    resolver,
    pods,
    recordCgroupBirths: (births) => cgroups.useBirths(births),
    isReady: () => watch.isSynced(),
    health: () => ({ mode: 'kubernetes', ...watch.health() }),
    waitForSync: (timeoutMs) => watch.waitForSync(timeoutMs),
    start: async () => {
      // A kubeconfig that does not parse is a start-up error, not a retry.
      await endpointReady;
      // Learn the containers that exist already, so events of processes
      // that exit before their first lookup still resolve.
      cgroups.rescan();
      watch.start();
    },
    stop: () => watch.stop(),
  };
}
