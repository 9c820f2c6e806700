// What the daemon hands the probe modules for drift: the policies (when
// there is a Kubernetes API), this node's addresses, and the report the
// trackers register with. A leaf of types.

import type { PolicySource } from './network-drift.js';
import type { DriftReport } from './report.js';

export interface DriftContext {
  /** NetworkPolicies and Namespaces; undefined without Kubernetes (no network drift then). */
  policies: PolicySource | undefined;
  /** This node's own addresses: traffic with the node is always allowed. */
  nodeAddresses: ReadonlySet<string>;
  report: DriftReport;
}
