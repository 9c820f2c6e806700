// `kubepulse audit --prometheus`: the cluster's findings as Prometheus holds
// them (every agent's series), without evidence (labels only). Violations
// present now; drift seen at any point in --range (max_over_time, as the
// policy export reads flows: a drift counted once before its first scrape
// never increases).
import type { Severity } from '../api/audit.js';
import { SEVERITIES } from '../api/audit.js';
import { getJson, joinUrl, PROMETHEUS_DURATION, SourceError, type HttpOptions } from '../policy/sources.js';
import type { Finding } from './audit-findings.js';

export const VIOLATIONS_QUERY = 'max by (namespace, workload, pod, container, check, severity) (kubepulse_audit_violations) > 0';
const NETWORK_DRIFT_LABELS = 'namespace, workload, direction, protocol, port, peer_kind, peer_namespace, peer_workload';
const SECCOMP_DRIFT_LABELS = 'namespace, workload, pod, container, syscall';

export function networkDriftQuery(range: string): string {
  return `sum by (${NETWORK_DRIFT_LABELS}) (max_over_time(kubepulse_policy_drift_flows_total[${range}])) > 0`;
}

export function seccompDriftQuery(range: string): string {
  return `max by (${SECCOMP_DRIFT_LABELS}) (max_over_time(kubepulse_seccomp_drift_syscalls[${range}])) > 0`;
}

type Series = { metric: Record<string, string>; value: number };

async function query(base: string, expr: string, opts: HttpOptions): Promise<Series[]> {
  const source = `prometheus ${base}`;
  const body = (await getJson(source, `${joinUrl(base, '/api/v1/query')}?query=${encodeURIComponent(expr)}`, opts)) as {
    status?: unknown;
    error?: unknown;
    data?: { resultType?: unknown; result?: unknown };
  } | null;
  if (typeof body !== 'object' || body === null || body.status !== 'success') {
    throw new SourceError(source, `query failed: ${typeof body?.error === 'string' ? body.error : 'unexpected answer (is this Prometheus?)'}`);
  }
  if (body.data?.resultType !== 'vector' || !Array.isArray(body.data.result)) throw new SourceError(source, 'unexpected answer: not an instant vector');
  return (body.data.result as Array<{ metric?: Record<string, string>; value?: [number, string] }>).map((r) => ({ metric: r.metric ?? {}, value: Number(r.value?.[1]) }));
}

export async function prometheusFindings(base: string, range: string, opts: HttpOptions): Promise<Finding[]> {
  if (!PROMETHEUS_DURATION.test(range)) throw new SourceError('--range', `"${range}" is not a Prometheus duration (e.g. 1h, 24h)`);
  const [violations, network, seccomp] = await Promise.all([
    query(base, VIOLATIONS_QUERY, opts),
    query(base, networkDriftQuery(range), opts),
    query(base, seccompDriftQuery(range), opts),
  ]);
  const l = (s: Series, k: string) => s.metric[k] ?? '';
  return [
    ...violations.map(
      (s): Finding => ({
        kind: 'violation',
        severity: (SEVERITIES as readonly string[]).includes(l(s, 'severity')) ? (l(s, 'severity') as Severity) : 'high',
        check: l(s, 'check'),
        namespace: l(s, 'namespace'),
        object: l(s, 'pod'),
        workload: l(s, 'workload'),
        container: l(s, 'container'),
        node: '',
        evidence: {},
      }),
    ),
    ...network.map(
      (s): Finding => ({
        kind: 'network_drift',
        severity: 'high',
        check: 'network_drift',
        namespace: l(s, 'namespace'),
        object: '',
        workload: l(s, 'workload'),
        container: '',
        node: '',
        evidence: {
          direction: l(s, 'direction'),
          protocol: l(s, 'protocol'),
          port: l(s, 'port'),
          peer: `${l(s, 'peer_kind')}${l(s, 'peer_namespace') === '' ? '' : ` ${l(s, 'peer_namespace')}/${l(s, 'peer_workload')}`}`,
          count: s.value,
        },
      }),
    ),
    ...seccomp.map(
      (s): Finding => ({
        kind: 'seccomp_drift',
        severity: 'high',
        check: 'seccomp_drift',
        namespace: l(s, 'namespace'),
        object: l(s, 'pod'),
        workload: l(s, 'workload'),
        container: l(s, 'container'),
        node: '',
        evidence: { syscalls: l(s, 'syscall') },
      }),
    ),
  ];
}
