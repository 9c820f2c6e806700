// When a workload is failing or slow on the map, in one place for both
// producers of the topology. The words match the alert rules
// (rules/kubepulse-alerts.yaml): a DNS failure is any rcode but NOERROR and
// NXDOMAIN (an unanswered query is rcode "timeout"); a failed connect is
// refused, timeout or error, and an established connection torn down by
// its peer counts as reset.

import type { Health, WorkloadFigures } from '../api/topology.js';

export const FAILED_CONNECT_RESULTS = ['refused', 'timeout', 'reset', 'error'] as const;
const DNS_OK_RCODES = new Set(['NOERROR', 'NXDOMAIN']);

export function isDnsFailure(rcode: string): boolean {
  return rcode !== '' && !DNS_OK_RCODES.has(rcode);
}

export interface HealthThresholds {
  /** Connect p99 above this is slow. */
  slowConnectSeconds: number;
}

function seconds(s: number): string {
  return s >= 1 ? `${s.toFixed(1)} s` : `${Math.round(s * 1000)} ms`;
}

/** The workload's health and the short phrases that say why it is not ok. */
export function workloadHealth(f: WorkloadFigures, dnsByRcode: ReadonlyMap<string, number>, t: HealthThresholds): { health: Health; reasons: string[] } {
  const reasons: string[] = [];
  for (const r of FAILED_CONNECT_RESULTS) {
    const n = f.connections[r] ?? 0;
    if (n > 0) reasons.push(`tcp ${r} ${Math.round(n)}`);
  }
  for (const [rcode, n] of [...dnsByRcode].sort((a, b) => b[1] - a[1])) if (isDnsFailure(rcode) && n > 0) reasons.push(`dns ${rcode} ${Math.round(n)}`);
  if (reasons.length > 0) return { health: 'failing', reasons };
  if (f.connectP99Seconds !== null && f.connectP99Seconds > t.slowConnectSeconds)
    return { health: 'slow', reasons: [`connect p99 ${seconds(f.connectP99Seconds)} > ${seconds(t.slowConnectSeconds)}`] };
  return { health: 'ok', reasons };
}
