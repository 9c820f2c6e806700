// The posture audit's wiring for the daemon: the auditor and the runtime
// scan on this node's cgroups and /proc. The NetworkPolicies come from the
// daemon's one watch of them (src/drift/policy-store.ts, through
// policy-selection.ts). Not a probe: it loads nothing into the kernel and
// reads no events.
//
//   const audit = createAudit({ config, registry, pods, policies, cgroupfs, log });
//   server.route(VIOLATIONS_PATH, () => audit.snapshot());
//   audit.start(); … await audit.stop();
import type { Registry } from 'prom-client';
import type { ViolationsSnapshot } from '../api/audit.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { PodIndex } from '../metadata/pod-index.js';
import { Auditor, type PolicySelection } from './auditor.js';
import { RuntimeScanner } from './runtime.js';

export const VIOLATIONS_PATH = '/api/v1/violations';

export interface AuditOptions {
  config: Config;
  registry: Registry;
  pods: PodIndex;
  /** Which NetworkPolicies select a pod; undefined without Kubernetes (no_network_policy is then never claimed). */
  policies: PolicySelection | undefined;
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
  const policies = audit.checks.has('no_network_policy') ? options.policies : undefined;
  const cgroupfs = options.cgroupfs;
  // One scanner for the daemon's life: it remembers which processes need no status read.
  // Pods this node does not know (yet) are not evaluated, so their processes are not read.
  const scanner = cgroupfs === undefined ? undefined : new RuntimeScanner({ cgroupfs, procfs: config.procfs, wantPod: (uid) => options.pods.byUid(uid) !== undefined });
  const auditor = new Auditor({
    node: config.nodeName,
    pods: options.pods,
    checks: audit.checks,
    exemptNamespaces: audit.exemptNamespaces,
    allowedRegistries: audit.allowedRegistries,
    policies,
    scan: scanner && (() => scanner.scan()),
    intervalMs: audit.intervalMs,
    registry: options.registry,
    log,
  });
  return {
    snapshot: () => auditor.snapshot(),
    start: () => auditor.start(),
    async stop() {
      auditor.stop();
    },
  };
}
