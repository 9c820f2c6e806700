// The daemon's lifecycle: probe the kernel, serve HTTP, load and attach
// the kernel objects the probe modules need, stream their events into the
// modules' collectors; stop in reverse. It knows no probe by name: every
// probe is a module in src/probes/index.ts.

import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { loadAddon, packageRoot, type Addon } from './bpf/addon.js';
import { EventStream, type EventHandler } from './bpf/event-stream.js';
import { detectKernel, preflight } from './bpf/kernel.js';
import { loadContext, loadProbe, type LoadedProbe } from './bpf/probe.js';
import { NativeMemoryTrim } from './native-memory.js';
import type { Config } from './config.js';
import { PolicyStore } from './drift/policy-store.js';
import { DriftReport } from './drift/report.js';
import { UserError } from './errors.js';
import { KubeAuth } from './http/kube-auth.js';
import { DEFAULT_LIMITS } from './http/limits.js';
import { HttpServer } from './http/server.js';
import { API_PATHS, METRICS_PATHS } from './http/split.js';
import { WebEndpoint } from './http/web-endpoint.js';
import type { Logger } from './log.js';
import { createClusterPeers, type ClusterPeersHealth, type ClusterResource } from './peers/cluster-peers.js';
import { cgroupBirthsSpec, KernelCgroupBirths } from './metadata/cgroup-births.js';
import { createMetadata } from './metadata/index.js';
import { chooseKubeConfig } from './metadata/kube-config.js';
import { PodReaper } from './metrics/pod-reaper.js';
import { createRegistry } from './metrics/registry.js';
import type { Registry } from 'prom-client';
import { registerSelfMetrics } from './metrics/self.js';
import { registerHeldEvents, UnattributedEvents } from './metrics/unattributed.js';
import { addressOnlyPeers } from './peers/resolver.js';
import { kernelObjectUses, selectModules } from './probes/index.js';
import type { ProbeCollectors, ProbeContext, ProbeModule } from './probes/module.js';
import { PodRoots } from './probes/pod-roots.js';
import { StatusReporter } from './http/status.js';
import { createLiveStream } from './stream/index.js';
import type { FlowsSnapshot } from './api/v1.js';
import { PageAssets } from './http/page-assets.js';
import { createTopologyRoutes } from './topology/index.js';
import { createAudit, VIOLATIONS_PATH } from './audit/index.js';
import { policySelectionOf } from './audit/policy-selection.js';

export interface Daemon {
  port: number;
  probes: LoadedProbe[];
  stop(): Promise<void>;
}

export function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * What the cluster-wide peer watches (pods, Services, nodes of the whole
 * cluster, for flow peers) mean for /readyz.
 *
 * Until each has listed once, every flow peer it would name is called
 * external: /api/v1/flows and kubepulse_flows_total would give wrong answers
 * (a policy export would turn pods into ipBlocks), so that gates readiness.
 * After a first list, a lost watch keeps the last known peers, which stay
 * right for all but what changed since; it does not gate readiness (an API
 * server outage would otherwise turn every agent unready at once, pull its
 * correct TCP and DNS metrics from the Service and fire KubePulseNotReady
 * on every node for one cause), but /readyz says so in its body and
 * kubepulse_cluster_peers_synced{resource} shows it.
 */
export function clusterPeersReadiness(health: ClusterPeersHealth): { gate?: string; note?: string } {
  const resources = Object.keys(health.synced) as ClusterResource[];
  const error = health.lastError ? ` (${health.lastError})` : '';
  const never = resources.filter((r) => !health.everSynced[r]);
  if (never.length > 0) return { gate: `cluster peers not synced yet: ${never.join(', ')}${error}` };
  const lost = resources.filter((r) => !health.synced[r]);
  if (lost.length > 0) return { note: `cluster peers out of sync, last known kept: ${lost.join(', ')}${error}` };
  return {};
}

/** This node's addresses (the daemon runs in the host network namespace): traffic with them is never NetworkPolicy drift. */
function nodeAddresses(): Set<string> {
  return new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address)));
}

/** --auth=kubernetes: the reviews go to the same API server the pod watch uses. */
function createKubeAuth(config: Config, registry: Registry, log: Logger): KubeAuth {
  const kube = chooseKubeConfig({ kubeconfig: config.kubeconfig });
  if (kube.source === 'none') throw new UserError(`--auth=kubernetes needs the Kubernetes API: ${kube.reason}`, 2);
  return new KubeAuth({ client: kube.client, allowedTtlMs: config.auth.allowedTtlMs, deniedTtlMs: config.auth.deniedTtlMs, log, registry });
}

export async function startDaemon(config: Config, log: Logger, addon: Addon = loadAddon()): Promise<Daemon> {
  // First, so a bad web config file fails before any probe is loaded.
  const registry = createRegistry();
  const kubeAuth = config.auth.mode === 'kubernetes' ? createKubeAuth(config, registry, log) : undefined;
  const endpoint = new WebEndpoint(
    config.webConfigFile,
    log,
    { ...DEFAULT_LIMITS, maxConnections: config.webMaxConnections, headersTimeoutMs: config.webHeadersTimeoutMs },
    kubeAuth,
  );
  const kernel = detectKernel(config);
  preflight(kernel);
  log.info('kernel', { release: kernel.release, kprobes: kernel.kprobes, cgroup2: kernel.cgroup2, libbpf: addon.libbpfVersion() });

  const metadata = createMetadata({
    nodeName: config.nodeName,
    procfs: config.procfs,
    cgroupfs: kernel.cgroup2, // --path.cgroupfs as resolved (a hybrid host's cgroup2 is below it)
    kubeconfig: config.kubeconfig,
    cacheTtlMs: config.metadataCacheTtlMs,
    // Within the series grace, so the reaper never meets a series a late event brought back.
    departedPodMs: Math.min(60_000, config.seriesGraceMs / 2),
    registry,
    log,
  });
  // Flow peers from the whole cluster (pods, Services, nodes) when there is
  // one; without Kubernetes, loopback is this node and the rest external.
  const clusterPeers = metadata.mode === 'kubernetes' ? createClusterPeers({ kubeconfig: config.kubeconfig, registry, log }) : undefined;
  // Drift: NetworkPolicies and Namespaces watched when there is a cluster.
  const policyStore = metadata.mode === 'kubernetes' ? new PolicyStore({ kubeconfig: config.kubeconfig, log }) : undefined;
  const driftReport = new DriftReport(config.nodeName, registry, policyStore && (() => policyStore.isSynced()));
  // The posture audit of the node's pods: not a probe (src/audit/index.ts).
  // It reads the NetworkPolicies through the drift's watch: one watch for both.
  const audit = createAudit({
    config,
    registry,
    pods: metadata.pods,
    policies: policyStore && policySelectionOf(policyStore),
    cgroupfs: kernel.cgroup2,
    log,
  });
  const numCpus = addon.numPossibleCpus();
  const podRoots = new PodRoots({ cgroupfs: kernel.cgroup2, log });
  const peers = clusterPeers ?? addressOnlyPeers;
  // Before the modules: their collectors publish into it.
  const live = createLiveStream({ node: config.nodeName, registry, log, ...config.api, peers });
  const context: ProbeContext = {
    config,
    registry,
    resolver: metadata.resolver,
    pods: metadata.pods,
    peers,
    podRoots,
    unattributed: new UnattributedEvents(registry),
    numCpus,
    log,
    stream: live.hub,
    drift: { policies: policyStore, nodeAddresses: nodeAddresses(), report: driftReport },
    // Asked by timers only, after the stream below exists.
    eventsHeld: () => stream.heldRecords > 0,
  };
  const modules = selectModules(config.probes);
  // Before any collector exists: a bad flag (e.g. too many --dns-ports) fails here.
  const objectUses = kernelObjectUses(modules, config);
  const running = new Map<ProbeModule, ProbeCollectors>(modules.map((m) => [m, m.create(context)]));

  const handlers = new Map<number, EventHandler>();
  const eventTypes: Record<number, string> = {};
  for (const [module, collectors] of running) {
    for (const [type, handler] of collectors.events ?? []) {
      if (handlers.has(type)) throw new Error(`event type ${type} is handled by ${eventTypes[type]} and ${module.name}`);
      handlers.set(type, handler);
      eventTypes[type] = module.name;
    }
  }

  // Series of a deleted pod go after one grace period for every module.
  const forget = [...running.values()].flatMap((c) => (c.forgetPodSeries ? [c.forgetPodSeries.bind(c)] : []));
  const reaper = new PodReaper(registry, config.seriesGraceMs, forget, log);
  const podNames = new Map<string, { namespace: string; name: string }>();
  // A dead poll thread would leave counters flat behind a healthy-looking
  // /healthz: say it, and fail /healthz so the kubelet restarts the pod.
  const stream = new EventStream(handlers, {
    onFailure: (error) => log.error('event poller stopped: no more kernel events; /healthz fails until restart', { error: error.message }),
  });
  registerHeldEvents(registry, stream.stats);
  const nativeMemory = new NativeMemoryTrim(addon, log);
  metadata.pods.onChange((uid, record) => {
    // Events held for a pod the watch had not delivered yet may go now.
    if (record) setImmediate(() => stream.retryHeld());
    if (record) podNames.set(uid, { namespace: record.namespace, name: record.name });
    else {
      const gone = podNames.get(uid);
      podNames.delete(uid);
      if (gone) reaper.podGone(gone.namespace, gone.name);
      for (const c of running.values()) c.podDeleted?.({ uid, namespace: gone?.namespace ?? '', name: gone?.name ?? '' });
    }
  });

  const probes: LoadedProbe[] = [];
  // The self-metrics speak of probes (modules), not kernel objects: one object
  // read by several modules (packets: dns and flows) is one probe per module.
  const reported: LoadedProbe[] = [];
  const failed: string[] = [];
  let births: LoadedProbe | undefined;
  const ready = (): { ready: boolean; reasons: string[]; notes: string[] } => {
    const reasons: string[] = [];
    if (probes.length === 0) reasons.push('no probe attached');
    if (stream.failure) reasons.push(`event poller stopped: ${stream.failure.message}`);
    if (!metadata.isReady()) {
      const h = metadata.health();
      reasons.push(`pod metadata not synced${h.lastError ? ` (${h.lastError})` : ''}`);
    }
    const peers = clusterPeers ? clusterPeersReadiness(clusterPeers.health()) : {};
    if (peers.gate) reasons.push(peers.gate);
    return { ready: reasons.length === 0, reasons, notes: peers.note ? [peers.note] : [] };
  };
  registerSelfMetrics(registry, {
    version: version(),
    node: config.nodeName,
    probes: () => reported,
    failedProbes: () => failed,
    stream,
    eventTypes,
    ready: () => ready().ready,
    numCpus,
  });

  const split = config.webApiListen !== undefined;
  const unhealthy = (): string | undefined => (stream.failure ? `event poller stopped: ${stream.failure.message}` : undefined);
  // The topology page (dist/page, built by `make build`): on the listener that serves /api/v1.
  const page = new PageAssets(join(packageRoot(), 'dist', 'page'));
  const server = new HttpServer({ registry, readiness: ready, log, endpoint, unhealthy, ...(split ? { paths: METRICS_PATHS } : { page }) });
  // Same web config (TLS, users) on both listeners, each with its own watcher.
  const apiServer = split
    ? new HttpServer({ registry, readiness: ready, log, endpoint: new WebEndpoint(config.webConfigFile, log, endpoint.limits, kubeAuth), unhealthy, paths: API_PATHS, page })
    : undefined;
  const routeOwners = new Map<string, string>();
  for (const [module, collectors] of running) {
    for (const [path, answer] of Object.entries(collectors.routes ?? {})) {
      if (routeOwners.has(path)) throw new Error(`route ${path} is served by ${routeOwners.get(path)} and ${module.name}`);
      routeOwners.set(path, module.name);
      server.route(path, answer);
      apiServer?.route(path, answer);
    }
    for (const [path, change] of Object.entries(collectors.postRoutes ?? {})) {
      server.postRoute(path, change);
      apiServer?.postRoute(path, change);
    }
  }
  live.serve(server);
  if (apiServer) live.serve(apiServer);
  const flowsRoute = [...running.values()].map((c) => c.routes?.['/api/v1/flows']).find((r) => r !== undefined);
  const topology = createTopologyRoutes({
    node: config.nodeName,
    registry,
    hub: live.hub,
    ...(flowsRoute ? { flows: () => (flowsRoute() as FlowsSnapshot).flows } : {}),
  });
  topology.serve(server);
  if (apiServer) topology.serve(apiServer);
  const status = new StatusReporter({ node: config.nodeName, version: version(), registry, readiness: ready, podsKnown: () => metadata.pods.size });
  server.route('/api/v1/status', () => status.status());
  server.route('/api/v1/drift', () => driftReport.snapshot());
  apiServer?.route('/api/v1/drift', () => driftReport.snapshot());
  apiServer?.route('/api/v1/status', () => status.status());
  await kubeAuth?.prepare();
  server.route(VIOLATIONS_PATH, () => audit.snapshot());
  apiServer?.route(VIOLATIONS_PATH, () => audit.snapshot());
  const port = await server.listen(config.port, config.listenAddress);
  log.info('serving', { address: config.listenAddress, port, tls: endpoint.tls, api: !split });
  if (apiServer && config.webApiListen) {
    const apiPort = await apiServer.listen(config.webApiListen.port, config.webApiListen.host).catch(async (err: unknown) => {
      await server.close();
      throw err;
    });
    log.info('serving api', { address: config.webApiListen.host, port: apiPort });
  }

  const closeProbes = (): void => {
    live.stop();
    topology.stop();
    status.stop();
    for (const c of running.values()) c.stop?.();
    reaper.stop();
    podRoots.stop();
    stream.stop();
    reported.splice(0);
    for (const p of probes.splice(0)) p.object.close();
    births?.object.close();
    births = undefined;
  };
  try {
    const ctx = loadContext(config, kernel, addon, log);
    if (metadata.mode === 'kubernetes') {
      // Before the probes and the first rescan, so every container made from
      // now on resolves exactly from its first event (cgroup-births.ts).
      try {
        births = loadProbe(cgroupBirthsSpec, ctx);
        metadata.recordCgroupBirths(new KernelCgroupBirths(births.object));
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        log.warn('new cgroups are learned from /proc and rescans only; short-lived pods may lose their first events', { error: err.message });
      }
    }
    for (const use of objectUses) {
      try {
        const loaded = loadProbe(use.spec, ctx);
        // An object's ring is polled only when one of its readers takes events (flows alone: not).
        const probe = { ...loaded, streams: loaded.streams && use.modules.some((m) => (running.get(m)?.events?.size ?? 0) > 0) };
        probes.push(probe);
        for (const module of use.modules) {
          const collectors = running.get(module);
          reported.push({ ...probe, name: module.name, streams: probe.streams && (collectors?.events?.size ?? 0) > 0 });
          collectors?.attached?.(probe);
        }
      } catch (err) {
        // With --attach forced, the user asked for exactly this: fail. In
        // auto mode a probe that cannot attach is visible, not fatal.
        if (config.attach !== 'auto' || !(err instanceof UserError)) throw err;
        log.error('probe not attached', { probe: use.spec.name, modules: use.modules.map((m) => m.name), error: err.message });
        failed.push(...use.modules.map((m) => m.name));
      }
    }
    if (probes.length === 0) throw new UserError(`no probe could attach on this kernel (${kernel.release})`);
    stream.start(addon, probes);
    nativeMemory.start();
    // Never waits for the API server: readiness says when pods are known.
    await metadata.start();
    clusterPeers?.start();
    policyStore?.start();
    audit.start();
  } catch (err) {
    nativeMemory.stop();
    closeProbes();
    await audit.stop();
    await policyStore?.stop();
    await clusterPeers?.stop();
    await metadata.stop();
    await server.close();
    await apiServer?.close();
    throw err;
  }

  return {
    port,
    probes,
    async stop() {
      nativeMemory.stop();
      closeProbes();
      await policyStore?.stop();
      await audit.stop();
      await clusterPeers?.stop();
      await metadata.stop();
      await server.close();
      await apiServer?.close();
    },
  };
}
