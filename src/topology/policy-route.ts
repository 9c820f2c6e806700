// GET /api/v1/policy/network?namespace=NS&workload=W: the NetworkPolicy
// `kubepulse policy network --agent <this agent>` would write for one
// workload, for the page's copy button. The same generator (src/policy),
// fed the same flows.

import type { FlowRecord } from '../api/v1.js';
import { UserError } from '../errors.js';
import { generateNetworkPolicies, toYaml } from '../policy/network-policy.js';

export interface WorkloadPolicy {
  namespace: string;
  workload: string;
  /** Empty when nothing was observed (the warnings say why). */
  yaml: string;
  warnings: string[];
}

export function workloadPolicy(flows: readonly FlowRecord[], url: URL): WorkloadPolicy {
  const namespace = url.searchParams.get('namespace') ?? '';
  const workload = url.searchParams.get('workload') ?? '';
  if (namespace === '' || workload === '') throw new UserError('namespace and workload are both needed (?namespace=NS&workload=W)');
  const { policies, warnings } = generateNetworkPolicies(flows, { namespace, workload });
  return { namespace, workload, yaml: policies.map((p) => toYaml(p.object)).join('---\n'), warnings };
}
