// `kubepulse audit`: posture violations and policy drift across agents (or
// from Prometheus), plus cluster-level checks, as a table or JSON, with an
// exit status for CI gates.

import { parseArgs } from 'node:util';
import { SEVERITIES, type DriftSnapshot, type Severity, type ViolationsSnapshot } from '../api/audit.js';
import { getJson, joinUrl, SourceError } from '../policy/sources.js';
import { AGENT_OPTIONS, AGENT_USAGE, agentUrls, oneOfOutput, timeoutOf, UsageError, type Io } from './agents.js';
import { DEFAULT_OWNER_ANNOTATION, fetchClusterFindings } from './audit-cluster.js';
import { atOrAbove, driftFindings, evidenceText, sortFindings, violationFindings, type Finding } from './audit-findings.js';
import { prometheusFindings } from './audit-prometheus.js';
import { colours, table } from './render.js';

export const AUDIT_USAGE = `Usage: kubepulse audit [options]

Posture violations of the pods (spec and runtime: privileged, host paths,
processes running as root, no seccomp filter, no NetworkPolicy, ...) and
drift (traffic and syscalls the pods' own NetworkPolicies and seccomp
profiles do not allow), worst first. KubePulse changes nothing.

${AGENT_USAGE}
  --prometheus URL         read the findings from Prometheus instead (or as well): every
                           agent's series, without evidence
    --range D              drift seen within this window counts (default 1h)
Cluster checks (read-only, through the Kubernetes API; --kubeconfig):
  --cluster                also: single-replica Deployments, Ingress rules for any host,
                           namespaces without an owner
    --owner-annotation K   the namespace annotation naming its owner (default ${DEFAULT_OWNER_ANNOTATION})
Gate:
  --fail-on high|medium|low  exit 1 when a finding is at or above this severity
                           (drift is high)
Output:
  -o table|json            (default table)

Exit status: 0 no finding at or above --fail-on (or no --fail-on), 1 there is one,
2 usage error, 3 a source failed or answered nothing (the others are shown).
`;

const OPTIONS = {
  ...AGENT_OPTIONS,
  prometheus: { type: 'string' },
  range: { type: 'string' },
  cluster: { type: 'boolean' },
  'owner-annotation': { type: 'string' },
  'fail-on': { type: 'string' },
} as const;

function isViolations(v: unknown): v is ViolationsSnapshot {
  const o = v as Partial<ViolationsSnapshot> | null;
  return typeof o === 'object' && o !== null && typeof o.node === 'string' && Array.isArray(o.pods);
}

function isDrift(v: unknown): v is DriftSnapshot {
  const o = v as Partial<DriftSnapshot> | null;
  return typeof o === 'object' && o !== null && typeof o.node === 'string' && Array.isArray(o.network) && Array.isArray(o.seccomp);
}

interface AgentAnswer {
  findings: Finding[];
  ignored: Array<{ node: string; namespace: string; pod: string; checks: string[] }>;
}

/** One agent's violations and drift; an agent without /api/v1/drift (older) gives violations only and a warning. */
async function fromAgent(agent: string, timeoutMs: number, warn: (line: string) => void): Promise<AgentAnswer> {
  const source = `agent ${agent}`;
  const opts = { timeoutMs, maxBytes: 64 << 20 };
  const [violations, drift] = await Promise.all([
    getJson(source, joinUrl(agent, '/api/v1/violations'), opts),
    getJson(source, joinUrl(agent, '/api/v1/drift'), opts).catch((err: unknown) => {
      if (err instanceof SourceError && /^HTTP 404 /.test(err.reason)) {
        warn(`${source}: no /api/v1/drift (an older agent): no drift data from it`);
        return undefined;
      }
      throw err;
    }),
  ]);
  if (!isViolations(violations)) throw new SourceError(source, 'unexpected answer from /api/v1/violations (is this a KubePulse agent?)');
  if (drift !== undefined && !isDrift(drift)) throw new SourceError(source, 'unexpected answer from /api/v1/drift');
  return {
    findings: [...violationFindings(violations), ...(drift === undefined ? [] : driftFindings(drift))],
    ignored: violations.pods.filter((p) => p.ignoredChecks.length > 0).map((p) => ({ node: violations.node, namespace: p.namespace, pod: p.pod, checks: p.ignoredChecks })),
  };
}

export async function runAudit(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true });
  if (values.help) {
    io.stdout.write(AUDIT_USAGE);
    return 0;
  }
  const output = oneOfOutput(values.output, ['table', 'json'] as const);
  const failOn = values['fail-on'];
  if (failOn !== undefined && !(SEVERITIES as readonly string[]).includes(failOn)) throw new UsageError(`--fail-on: "${failOn}" is not one of ${SEVERITIES.join(', ')}`);
  const warn = (line: string) => io.stderr.write(`kubepulse audit: ${line}\n`);
  const timeoutMs = timeoutOf(values);
  const wantsAgents = (values.agent ?? []).length > 0 || values.discover === true;
  if (!wantsAgents && values.prometheus === undefined) throw new UsageError('no source: give --agent URL, --discover or --prometheus URL');

  const tasks: Array<{ source: string; run: () => Promise<AgentAnswer> }> = [];
  if (wantsAgents) for (const u of await agentUrls(values, warn)) tasks.push({ source: `agent ${u}`, run: () => fromAgent(u, timeoutMs, warn) });
  const prometheus = values.prometheus;
  if (prometheus !== undefined) {
    tasks.push({ source: `prometheus ${prometheus}`, run: async () => ({ findings: await prometheusFindings(prometheus.replace(/\/+$/, ''), values.range ?? '1h', { timeoutMs }), ignored: [] }) });
  }
  if (values.cluster === true) {
    const ownerAnnotation = values['owner-annotation'] ?? DEFAULT_OWNER_ANNOTATION;
    tasks.push({ source: 'kubernetes API', run: async () => ({ findings: await fetchClusterFindings({ kubeconfig: values.kubeconfig, ownerAnnotation, timeoutMs }), ignored: [] }) });
  }

  const settled = await Promise.allSettled(tasks.map((t) => t.run()));
  const findings: Finding[] = [];
  const ignored: AgentAnswer['ignored'] = [];
  let failed = 0;
  settled.forEach((s, i) => {
    if (s.status === 'fulfilled') {
      findings.push(...s.value.findings);
      ignored.push(...s.value.ignored);
      return;
    }
    failed++;
    const e = s.reason as unknown;
    warn(e instanceof SourceError ? `${e.source}: ${e.reason}` : `${tasks[i]?.source}: ${String(e)}`);
  });
  sortFindings(findings);
  const gated = failOn === undefined ? [] : findings.filter((f) => atOrAbove(f, failOn as Severity));

  if (output === 'json') {
    io.stdout.write(JSON.stringify({ findings, ignored, failOn: failOn ?? null, failing: gated.length, sourcesFailed: failed }) + '\n');
  } else {
    const c = colours(io.stdout);
    const paint = (s: Severity) => (s === 'high' ? c.red(s) : s === 'medium' ? c.yellow(s) : s);
    if (findings.length > 0) {
      io.stdout.write(
        table(
          ['SEVERITY', 'CHECK', 'NAMESPACE', 'OBJECT', 'CONTAINER', 'NODE', 'EVIDENCE'],
          findings.map((f) => [paint(f.severity), f.check, f.namespace, f.object || f.workload, f.container, f.node, evidenceText(f.evidence)]),
        ),
      );
    }
    const counts = SEVERITIES.map((s) => `${findings.filter((f) => f.severity === s).length} ${s}`).join(', ');
    io.stdout.write(`${findings.length} findings (${counts})${failOn === undefined ? '' : `; ${gated.length} at or above ${failOn}`}\n`);
    for (const p of ignored) io.stdout.write(`ignored by annotation: ${p.namespace}/${p.pod}: ${p.checks.join(',')}\n`);
  }
  if (gated.length > 0) return 1;
  return failed > 0 ? 3 : 0;
}
