// GET /api/v1/drift: what the drift trackers of this agent find, in one
// answer (the contract is src/api/audit.ts). The flows and syscalls probe
// modules each register their tracker here; the daemon serves it.

import { Gauge, type Registry } from 'prom-client';
import type { DriftSnapshot, NetworkDrift, SeccompDrift } from '../api/audit.js';

export class DriftReport {
  private readonly network: Array<() => NetworkDrift[]> = [];
  private readonly seccomp: Array<() => SeccompDrift[]> = [];

  constructor(
    private readonly node: string,
    registry: Registry,
    /** The NetworkPolicy and Namespace watches are in sync (undefined without Kubernetes). */
    policiesSynced: (() => boolean) | undefined,
  ) {
    if (policiesSynced !== undefined) {
      new Gauge({
        name: 'kubepulse_policy_drift_policies_synced',
        help: 'NetworkPolicy drift: 1 while the NetworkPolicy and Namespace list+watches are in sync with the API server.',
        registers: [registry],
        collect() {
          this.set(policiesSynced() ? 1 : 0);
        },
      });
    }
  }

  addNetwork(source: () => NetworkDrift[]): void {
    this.network.push(source);
  }

  addSeccomp(source: () => SeccompDrift[]): void {
    this.seccomp.push(source);
  }

  snapshot(): DriftSnapshot {
    return {
      node: this.node,
      generatedAt: new Date().toISOString(),
      network: this.network.flatMap((f) => f()),
      seccomp: this.seccomp.flatMap((f) => f()),
    };
  }
}
