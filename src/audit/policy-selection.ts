// The no_network_policy check's view of the daemon's NetworkPolicy watch
// (src/drift/policy-store.ts, which the drift trackers use too): which
// policies select a pod, and nothing said before the policies were listed
// once (after that, an API outage keeps the last known ones).
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { policiesSelecting, policyName } from '../drift/network-policy-eval.js';
import type { PolicySelection } from './auditor.js';

/** What the audit needs of the policy store. */
export interface PolicyStoreView {
  all(): Iterable<V1NetworkPolicy>;
  isSynced(): boolean;
  onChange(listener: () => void): void;
}

export function policySelectionOf(store: PolicyStoreView): PolicySelection {
  let listed = false;
  return {
    selecting(namespace, labels) {
      if (!listed && store.isSynced()) listed = true;
      if (!listed) return undefined;
      return policiesSelecting({ namespace, labels }, store.all()).map(policyName).sort();
    },
    // After the watch has marked itself synced: a list's replace notifies first.
    onChange: (listener) => store.onChange(() => setImmediate(listener)),
  };
}
