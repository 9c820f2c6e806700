// The daemon's lifecycle: probe the kernel, serve HTTP, load and attach
// the probes, stream their events into the collectors; stop in reverse.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAddon, packageRoot, type Addon } from './bpf/addon.js';
import { EventStream, type EventHandler } from './bpf/event-stream.js';
import { detectKernel, type KernelFeatures } from './bpf/kernel.js';
import { loadContext, loadProbe, type LoadedProbe } from './bpf/probe.js';
import type { Config } from './config.js';
import { UserError } from './errors.js';
import { HttpServer } from './http/server.js';
import type { Logger } from './log.js';
import { createClusterPeers } from './metadata/cluster-peers.js';
import { createMetadata } from './metadata/index.js';
import { PodReaper } from './metrics/pod-reaper.js';
import { createRegistry } from './metrics/registry.js';
import { registerSelfMetrics } from './metrics/self.js';
import { DnsCollector } from './probes/dns/collector.js';
import { DNS_EVENT_TYPE } from './probes/dns/event.js';
import { FlowsCollector } from './probes/flows/collector.js';
import { addressOnlyPeers } from './probes/flows/peers.js';
import { PodRoots } from './probes/pod-roots.js';
import { probeEntries } from './probes/registry.js';
import { SyscallsCollector } from './probes/syscalls/collector.js';
import { TcpCollector } from './probes/tcp/collector.js';
import { TCP_EVENT_TYPE } from './probes/tcp/event.js';

export interface Daemon {
  port: number;
  probes: LoadedProbe[];
  stop(): Promise<void>;
}

export function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** Refuses to start where nothing could work, naming what is missing. */
export function preflight(kernel: KernelFeatures): void {
  if (!kernel.capabilities.bpf || !kernel.capabilities.perfmon)
    throw new UserError('cannot load BPF: operation not permitted (needs CAP_BPF and CAP_PERFMON, or root)');
  if (!kernel.btf)
    throw new UserError('cannot load BPF: the kernel has no BTF at /sys/kernel/btf/vmlinux (needs CONFIG_DEBUG_INFO_BTF)');
}

export async function startDaemon(config: Config, log: Logger, addon: Addon = loadAddon()): Promise<Daemon> {
  const kernel = detectKernel(config);
  preflight(kernel);
  log.info('kernel', { release: kernel.release, kprobes: kernel.kprobes, cgroup2: kernel.cgroup2, libbpf: addon.libbpfVersion() });

  const registry = createRegistry();
  const metadata = createMetadata({
    nodeName: config.nodeName,
    procfs: config.procfs,
    cgroupfs: config.cgroupfs,
    kubeconfig: config.kubeconfig,
    cacheTtlMs: config.metadataCacheTtlMs,
    registry,
    log,
  });
  const resolver = metadata.resolver;
  // Flow peers from the whole cluster (pods, Services, nodes) when there is
  // one; without Kubernetes, loopback is this node and the rest external.
  const clusterPeers = metadata.mode === 'kubernetes' ? createClusterPeers({ kubeconfig: config.kubeconfig, registry, log }) : undefined;
  const tcp = new TcpCollector(registry, resolver, config.nodeName);
  const dns = new DnsCollector(registry, resolver, {
    node: config.nodeName,
    timeoutMs: config.dnsTimeoutMs,
    maxDomains: config.dnsMaxDomains,
    clusterDomain: config.clusterDomain,
  });
  const handlers = new Map<number, EventHandler>([
    [TCP_EVENT_TYPE, (view, at, length) => void tcp.handle(view, at, length)],
    [DNS_EVENT_TYPE, (view, at, length) => void dns.handle(view, at, length)],
  ]);
  const numCpus = addon.numPossibleCpus();
  const podRoots = new PodRoots({ cgroupfs: kernel.cgroup2, log });
  const flows = new FlowsCollector(registry, resolver, clusterPeers ?? addressOnlyPeers, metadata.pods, {
    node: config.nodeName,
    maxFlowsPerPod: config.flowsPerPod,
    numCpus,
    podRoots,
  });
  const syscalls = new SyscallsCollector(registry, resolver, metadata.pods, { node: config.nodeName, podRoots });
  // Map-only probes hand their object to the collector that reads it.
  const onAttached: Record<string, (p: LoadedProbe) => void> = {
    flows: (p) => flows.attach(p.object),
    syscalls: (p) => syscalls.attach(p.object),
  };
  const entries = probeEntries(config);

  // Series of a deleted pod go after a grace period, not at the TTL.
  const reaper = new PodReaper(registry, config.seriesGraceMs, [tcp.forgetPod.bind(tcp), dns.forgetPod.bind(dns)], log);
  const podNames = new Map<string, { namespace: string; name: string }>();
  metadata.pods.onChange((uid, record) => {
    if (record) podNames.set(uid, { namespace: record.namespace, name: record.name });
    else {
      const gone = podNames.get(uid);
      podNames.delete(uid);
      if (gone) reaper.podGone(gone.namespace, gone.name);
      flows.podGone(uid);
      syscalls.podGone(uid);
    }
  });
  const stream = new EventStream(handlers);

  const probes: LoadedProbe[] = [];
  const failed: string[] = [];
  const ready = (): { ready: boolean; reasons: string[] } => {
    const reasons: string[] = [];
    if (probes.length === 0) reasons.push('no probe attached');
    if (!metadata.isReady()) {
      const h = metadata.health();
      reasons.push(`pod metadata not synced${h.lastError ? ` (${h.lastError})` : ''}`);
    }
    return { ready: reasons.length === 0, reasons };
  };
  registerSelfMetrics(registry, {
    version: version(),
    node: config.nodeName,
    probes: () => probes,
    failedProbes: () => failed,
    stream,
    eventTypes: Object.fromEntries(entries.filter((p) => p.eventType !== undefined).map((p) => [p.eventType, p.spec.name])),
    ready: () => ready().ready,
    numCpus,
  });

  const server = new HttpServer({ registry, readiness: ready, log });
  server.route('/api/v1/flows', () => flows.snapshot());
  server.route('/api/v1/syscalls', () => syscalls.snapshot());
  const port = await server.listen(config.port, config.listenAddress);
  log.info('serving', { address: config.listenAddress, port });

  // Unanswered queries become rcode="timeout". The kernel stamps events
  // with CLOCK_MONOTONIC, the clock process.hrtime reads.
  const dnsTimeouts = setInterval(() => dns.expire(Number(process.hrtime.bigint())), 1000);
  dnsTimeouts.unref();

  const closeProbes = (): void => {
    clearInterval(dnsTimeouts);
    reaper.stop();
    podRoots.stop();
    stream.stop();
    for (const p of probes.splice(0)) p.object.close();
  };
  try {
    const ctx = loadContext(config, kernel, addon, log);
    for (const entry of entries) {
      try {
        const probe = loadProbe(entry.spec, ctx);
        probes.push(probe);
        onAttached[probe.name]?.(probe);
      } catch (err) {
        // With --attach forced, the user asked for exactly this: fail. In
        // auto mode a probe that cannot attach is visible, not fatal.
        if (config.attach !== 'auto' || !(err instanceof UserError)) throw err;
        log.error('probe not attached', { probe: entry.spec.name, error: err.message });
        failed.push(entry.spec.name);
      }
    }
    if (probes.length === 0) throw new UserError(`no probe could attach on this kernel (${kernel.release})`);
    stream.start(addon, probes);
    // Never waits for the API server: readiness says when pods are known.
    await metadata.start();
    clusterPeers?.start();
  } catch (err) {
    closeProbes();
    await clusterPeers?.stop();
    await metadata.stop();
    await server.close();
    throw err;
  }

  return {
    port,
    probes,
    async stop() {
      closeProbes();
      await clusterPeers?.stop();
      await metadata.stop();
      await server.close();
    },
  };
}
