// The posture audit of this node's pods: keeps each pod's violations current
// and serves them as metrics and as the /api/v1/violations snapshot.
//
// A pod is evaluated when it changes (the pod watch), when the NetworkPolicies
// change, and after every runtime scan (runtime.ts, on a timer, and soon
// after a pod shows a container the last scan did not see). The violation
// series change with the results, so a fixed violation or a deleted pod
// leaves no series behind.
import { Gauge, type Registry } from 'prom-client';
import { GaugeFamily } from '../metrics/cells.js';
import type { AuditCheck, PodViolations, Violation, ViolationsSnapshot } from '../api/audit.js';
import type { Logger } from '../log.js';
import type { PodIndex, PodRecord } from '../metadata/pod-index.js';
import { evaluatePod, ignoredChecks, type CheckOptions } from './checks.js';
import type { ContainerRuntimeFacts, ScanResult } from './runtime.js';

/** Who answers "which NetworkPolicies select this pod" (undefined: not known yet). */
export interface PolicySelection {
  selecting(namespace: string, labels: Readonly<Record<string, string>>): string[] | undefined;
  onChange(listener: () => void): void;
}

export interface AuditorOptions extends CheckOptions {
  node: string;
  pods: PodIndex;
  checks: ReadonlySet<AuditCheck>;
  exemptNamespaces: ReadonlySet<string>;
  policies?: PolicySelection | undefined;
  /** One runtime scan; undefined when it cannot run here (no cgroup v2). */
  scan?: (() => ScanResult) | undefined;
  /** Period of the runtime scan. */
  intervalMs: number;
  registry: Registry;
  log: Logger;
}

const RUNTIME_CHECKS: readonly AuditCheck[] = ['runs_as_root', 'seccomp_unconfined'];
/** A pod with a container the last scan did not see is scanned again this soon (once, however many pods change). */
const NEW_CONTAINER_SCAN_MS = 1000;

const VIOLATION_LABELS = ['namespace', 'workload', 'pod', 'container', 'check', 'severity'] as const;
type ViolationLabels = Record<(typeof VIOLATION_LABELS)[number], string>;

function violationLabels(p: PodViolations): ViolationLabels[] {
  return p.violations.map((v) => ({ namespace: p.namespace, workload: p.workload, pod: p.pod, container: v.container, check: v.check, severity: v.severity }));
}

export class Auditor {
  private readonly results = new Map<string, PodViolations>();
  /**
   * kubepulse_audit_violations, kept in step with the results as they
   * change, not rebuilt at every scrape: at ~900 violations the rebuild
   * through prom-client's Gauge was a sixth of a scrape in the soak.
   */
  private readonly violations: GaugeFamily<(typeof VIOLATION_LABELS)[number]>;
  private runtime = new Map<string, ContainerRuntimeFacts>();
  private scanned = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly runtimeWanted: boolean;
  /** Runtime scans done, and the last one's figures (for tests and the README's cost). */
  scans = 0;
  lastScan: { ms: number; dirs: number; processes: number } | undefined;

  constructor(private readonly options: AuditorOptions) {
    this.runtimeWanted = options.scan !== undefined && RUNTIME_CHECKS.some((c) => options.checks.has(c));
    const { registry } = options;
    const results = this.results;
    this.violations = new GaugeFamily({
      name: 'kubepulse_audit_violations',
      help: 'Posture violations present on this node: 1 per pod, container ("" for pod-level checks), check and severity; gone once fixed or the pod is gone.',
      labelNames: VIOLATION_LABELS,
      registry,
    });
    new Gauge({
      name: 'kubepulse_audit_pods',
      help: 'Pods of this node the posture audit checks (exempt namespaces left out), by namespace.',
      labelNames: ['namespace'] as const,
      registers: [registry],
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const p of results.values()) counts.set(p.namespace, (counts.get(p.namespace) ?? 0) + 1);
        for (const [namespace, n] of counts) this.set({ namespace }, n);
      },
    });
    options.pods.onChange((uid, record) => this.podChanged(uid, record));
    options.policies?.onChange(() => this.evaluateAll());
  }

  start(): void {
    this.evaluateAll();
    if (!this.runtimeWanted) return;
    this.scanNow();
    this.timer = setInterval(() => this.scanNow(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.soon);
  }

  snapshot(): ViolationsSnapshot {
    const pods = [...this.results.values()].sort((a, b) => (a.namespace === b.namespace ? compare(a.pod, b.pod) : compare(a.namespace, b.namespace)));
    return { node: this.options.node, generatedAt: new Date().toISOString(), pods };
  }

  /** Scans the containers' processes and re-evaluates every pod. */
  scanNow(): void {
    // No pods (no Kubernetes, or none scheduled yet): nothing to attribute processes to.
    if (this.stopped || this.options.scan === undefined || this.options.pods.size === 0) return;
    const began = performance.now();
    let result: ScanResult;
    try {
      result = this.options.scan();
    } catch (err) {
      this.options.log.warn('audit: runtime scan failed; runs_as_root and seccomp_unconfined keep the last results', { error: String(err) });
      return;
    }
    this.scans++;
    this.lastScan = { ms: performance.now() - began, dirs: result.dirs, processes: result.processes };
    this.runtime = result.containers;
    this.scanned = new Set(result.containers.keys());
    this.evaluateAll();
  }

  evaluateAll(): void {
    for (const record of this.options.pods.all()) this.evaluate(record);
  }

  private podChanged(uid: string, record: PodRecord | undefined): void {
    if (record === undefined) {
      this.setResult(uid, undefined);
      return;
    }
    this.evaluate(record);
    if (this.runtimeWanted && this.soon === undefined && [...record.containers.keys()].some((id) => !this.scanned.has(id))) {
      this.soon = setTimeout(() => {
        this.soon = undefined;
        this.scanNow();
      }, NEW_CONTAINER_SCAN_MS);
      this.soon.unref();
    }
  }

  private evaluate(record: PodRecord): void {
    const { options } = this;
    if (record.posture === undefined || options.exemptNamespaces.has(record.namespace)) {
      this.setResult(record.uid, undefined);
      return;
    }
    const ignored = ignoredChecks(record.posture.auditIgnore);
    const enabled = new Set([...options.checks].filter((c) => !ignored.includes(c)));
    const runtime = new Map<string, ContainerRuntimeFacts>();
    for (const [id, identity] of record.containers) {
      const facts = this.runtime.get(id);
      // The current instance (listed first) wins over a previous one that lingers.
      if (facts !== undefined && !runtime.has(identity.container)) runtime.set(identity.container, facts);
    }
    const violations: Violation[] = evaluatePod(
      { posture: record.posture, runtime, networkPolicies: options.policies?.selecting(record.namespace, record.labels) },
      enabled,
      options,
    );
    this.setResult(record.uid, {
      namespace: record.namespace,
      pod: record.name,
      workload: record.workload,
      workloadKind: record.workloadKind,
      ignoredChecks: ignored,
      violations,
    });
  }

  /** A pod's result (undefined: none any more), and its series with it. */
  private setResult(uid: string, result: PodViolations | undefined): void {
    const before = this.results.get(uid);
    const old = before === undefined ? [] : violationLabels(before);
    const now = result === undefined ? [] : violationLabels(result);
    if (result === undefined) this.results.delete(uid);
    else this.results.set(uid, result);
    // Most evaluations (every pod after each runtime scan) change nothing.
    const key = (l: ViolationLabels) => VIOLATION_LABELS.map((n) => l[n]).join('\u0000');
    const kept = new Set(now.map(key));
    for (const l of old) if (!kept.has(key(l))) this.violations.remove(l);
    for (const l of now) this.violations.cell(l).value = 1;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
