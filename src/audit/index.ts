// The posture audit's wiring for the daemon: the auditor, the runtime scan
// on this node's cgroups and /proc, and (with Kubernetes) the NetworkPolicy
// watch. Not a probe: it loads nothing into the kernel and reads no events.
//
//   const audit = createAudit({ config, registry, pods, kubernetes, cgroupfs, log });
//   server.route(VIOLATIONS_PATH, () => audit.snapshot());
//   audit.start(); … await audit.stop();
import type { Registry } from 'prom-client';
import type { ViolationsSnapshot } from '../api/audit.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { chooseKubeConfig } from '../metadata/kube-config.js';
import type { PodIndex } from '../metadata/pod-index.js';
import { Auditor, type PolicySelection } from './auditor.js';
import { NetworkPolicyIndex, watchNetworkPolicies } from './network-policies.js';
import { scanContainers } from './runtime.js';

export const VIOLATIONS_PATH = '/api/v1/violations';

export interface AuditOptions {
  config: Config;
  registry: Registry;
  pods: PodIndex;
  /** Whether the daemon watches Kubernetes (then NetworkPolicies are watched too). */
  kubernetes: boolean;
  /** Which NetworkPolicies select a pod, from a watch the daemon already has; else the audit watches them itself. */
  policies?: PolicySelection | undefined;
  /** The cgroup v2 mount; undefined: no runtime checks. */
  cgroupfs: string | undefined;
  log: Logger;
}

export interface Audit {
  snapshot(): ViolationsSnapshot;
  start(): void;
  stop(): Promise<void>;
}

export function createAudit(options: AuditOptions): Audit {
  const { config, log } = options;
  const audit = config.audit;
  const wantsPolicies = options.kubernetes && audit.checks.has('no_network_policy');
  let policies: PolicySelection | undefined = wantsPolicies ? options.policies : undefined;
  let watch: ReturnType<typeof watchNetworkPolicies> | undefined;
  if (wantsPolicies && policies === undefined) {
    const index = new NetworkPolicyIndex();
    const choice = chooseKubeConfig({ kubeconfig: config.kubeconfig });
    if (choice.source !== 'none') watch = watchNetworkPolicies(choice.client, index, log);
    policies = index;
  }
  const cgroupfs = options.cgroupfs;
  const auditor = new Auditor({
    node: config.nodeName,
    pods: options.pods,
    checks: audit.checks,
    exemptNamespaces: audit.exemptNamespaces,
    allowedRegistries: audit.allowedRegistries,
    policies,
    scan: cgroupfs === undefined ? undefined : () => scanContainers({ cgroupfs, procfs: config.procfs }),
    intervalMs: audit.intervalMs,
    registry: options.registry,
    log,
  });
  return {
    snapshot: () => auditor.snapshot(),
    start() {
      watch?.start();
      auditor.start();
    },
    async stop() {
      auditor.stop();
      await watch?.stop();
    },
  };
}
