// `kubepulse policy network|seccomp`: fetch what the agents (or Prometheus)
// observed, build every policy in memory, and only then print or write them,
// so a failing source never leaves partial output behind.
import { parseArgs } from 'node:util';
import { generateCiliumPolicies } from '../policy/cilium-policy.js';
import { generateNetworkPolicies, toYaml, toYamlStream } from '../policy/network-policy.js';
import { writeFilesAtomically, type OutputFile } from '../policy/output.js';
import { DEFAULT_CLUSTER_DNS, type BuildOptions } from '../policy/rules.js';
import { BASELINES, generateSeccompProfiles, renderSeccompJson, renderSpoSeccompProfile, type SeccompGenerateOptions } from '../policy/seccomp.js';
import {
  fetchAgentFlows,
  fetchAgentSyscalls,
  fetchAll,
  fetchPrometheusFlows,
  PROMETHEUS_DURATION,
  SourceError,
  type HttpOptions,
} from '../policy/sources.js';
import type { Flow, Labels } from '../policy/types.js';
import { AGENT_OPTIONS, discoveredAgentUrls, parseHttpUrl, UsageError } from './agents.js';

export interface PolicyIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export const POLICY_USAGE = `Usage: kubepulse policy network|seccomp [options]

Turns the flows and syscalls the KubePulse agents observed into policies:
  network   a NetworkPolicy (or CiliumNetworkPolicy) per workload
  seccomp   a seccomp profile (or SPO SeccompProfile) per workload container

Sources (at least one):
  --agent URL              an agent's API, e.g. http://10.0.0.5:9090 (repeatable)
  --discover               find the agents as the DaemonSet's pods via the Kubernetes API
    --agent-namespace NS   where the DaemonSet runs (default kubepulse)
    --agent-selector SEL   its pods' label selector (default app.kubernetes.io/name=kubepulse)
    --agent-port PORT      agent port (default: the container port named metrics, else 9090)
    --kubeconfig FILE      kubeconfig (default: $KUBECONFIG, ~/.kube/config or in-cluster)
  --prometheus URL         Prometheus, flows only (network); labels and Service
    --range D              selectors still come from --agent/--discover if given;
                           D is a Prometheus duration (default 24h)

Selection:
  --namespace NS           only workloads in NS
  --workload W             only workload W
  --container C            only container C (seccomp)

Output:
  --output DIR             one file per workload (network: DIR/NS/WORKLOAD.yaml) or
                           container (seccomp: DIR/NS/WORKLOAD/CONTAINER.json|.yaml);
                           default: stdout
  --format k8s|cilium      network policy flavour (default k8s)
  --spo                    seccomp as Security Profiles Operator SeccompProfile objects
  --baseline runc|none     runtime start-up syscalls added to every profile (default runc)
  --dns-namespace NS       cluster DNS namespace (default kube-system)
  --dns-selector K=V,...   cluster DNS pod labels (default k8s-app=kube-dns)
  --allow-partial          write a policy even if some observed peers cannot be expressed
  --timeout D              per request, e.g. 10s or 500ms (default 10s)
  -h, --help               this text

Exit status: 0 written, 1 a source failed or nothing to write, 2 usage error.
`;

function parseDurationMs(text: string, flag: string): number {
  const m = /^([0-9]+)(ms|s|m)?$/.exec(text);
  if (m === null) throw new UsageError(`${flag}: expected a duration such as 10s or 500ms, got ${JSON.stringify(text)}`);
  const n = Number(m[1]);
  const ms = m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : m[2] === 'ms' ? n : n * 1000;
  if (ms <= 0) throw new UsageError(`${flag}: must be positive`);
  return ms;
}

function parseLabels(text: string, flag: string): Labels {
  const out: Labels = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag}: expected key=value[,key=value], got ${JSON.stringify(text)}`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

const OPTIONS = {
  ...AGENT_OPTIONS,
  prometheus: { type: 'string' },
  range: { type: 'string' },
  namespace: { type: 'string' },
  workload: { type: 'string' },
  container: { type: 'string' },
  format: { type: 'string' },
  spo: { type: 'boolean' },
  baseline: { type: 'string' },
  'dns-namespace': { type: 'string' },
  'dns-selector': { type: 'string' },
  'allow-partial': { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

interface Sources {
  agents: string[];
  discover: boolean;
  prometheus?: string;
  range: string;
  http: HttpOptions;
  values: Values;
}

function parseSources(v: Values): Sources {
  const agents = (v.agent ?? []).map((a) => parseHttpUrl(a, '--agent'));
  const s: Sources = { agents, discover: v.discover === true, range: v.range ?? '24h', http: { timeoutMs: parseDurationMs(v.timeout ?? '10s', '--timeout') }, values: v };
  if (v.prometheus !== undefined) s.prometheus = parseHttpUrl(v.prometheus, '--prometheus');
  if (!PROMETHEUS_DURATION.test(s.range)) throw new UsageError(`--range: expected a Prometheus duration such as 24h or 7d, got ${JSON.stringify(s.range)}`);
  if (v.range !== undefined && s.prometheus === undefined) throw new UsageError('--range needs --prometheus');
  if (agents.length === 0 && !s.discover && s.prometheus === undefined) throw new UsageError('no source: give --agent URL, --discover or --prometheus URL');
  return s;
}

/** Agent URLs given plus those discovered; discovery failure is a source failure. */
async function agentUrls(s: Sources, io: PolicyIo): Promise<string[]> {
  const urls = [...s.agents];
  if (s.discover) for (const u of await discoveredAgentUrls(s.values, s.http.timeoutMs, (line) => warn(io, line))) if (!urls.includes(u)) urls.push(u);
  return urls;
}

function warn(io: PolicyIo, msg: string): void {
  io.stderr.write(`kubepulse policy: warning: ${msg}\n`);
}

function reportFailure(io: PolicyIo, err: unknown): void {
  const errs = err instanceof AggregateError ? err.errors : [err];
  for (const e of errs) {
    if (e instanceof SourceError) io.stderr.write(`kubepulse policy: ${e.source} failed: ${e.reason}\n`);
    else io.stderr.write(`kubepulse policy: ${e instanceof Error ? e.message : String(e)}\n`);
  }
}

interface Rendered {
  stdout: string;
  files: OutputFile[];
  count: number;
}

async function network(s: Sources, io: PolicyIo): Promise<Rendered> {
  const v = s.values;
  const format = v.format ?? 'k8s';
  if (format !== 'k8s' && format !== 'cilium') throw new UsageError(`--format: expected k8s or cilium, got ${JSON.stringify(format)}`);
  if (v.spo || v.baseline !== undefined || v.container !== undefined) throw new UsageError('--spo, --baseline and --container apply to seccomp');
  const urls = await agentUrls(s, io);
  const tasks: (() => Promise<Flow[]>)[] = urls.map((u) => async () => (await fetchAgentFlows(u, s.http)).flows);
  if (s.prometheus !== undefined) {
    const prom = s.prometheus;
    tasks.push(() => fetchPrometheusFlows(prom, s.range, s.http));
  }
  const results = await fetchAll(tasks);
  // With Prometheus the history is the rule source; agents add what Prometheus
  // cannot carry (pod labels, Service selectors and ports).
  const agentFlows = results.slice(0, urls.length).flat();
  const flows = s.prometheus === undefined ? agentFlows : (results[urls.length] as Flow[]);
  const opts: BuildOptions = {
    clusterDns: {
      namespace: v['dns-namespace'] ?? DEFAULT_CLUSTER_DNS.namespace,
      labels: v['dns-selector'] === undefined ? DEFAULT_CLUSTER_DNS.labels : parseLabels(v['dns-selector'], '--dns-selector'),
    },
    allowPartial: v['allow-partial'] === true,
    ...(s.prometheus === undefined ? {} : { metadata: agentFlows }),
    ...(v.namespace === undefined ? {} : { namespace: v.namespace }),
    ...(v.workload === undefined ? {} : { workload: v.workload }),
  };
  const { policies, warnings } = format === 'cilium' ? generateCiliumPolicies(flows, opts) : generateNetworkPolicies(flows, opts);
  for (const w of warnings) warn(io, w);
  const objects = policies.map((p) => p.object as unknown);
  return {
    stdout: toYamlStream(objects),
    files: policies.map((p) => ({ path: `${p.namespace}/${p.workload}.yaml`, content: toYaml(p.object) })),
    count: policies.length,
  };
}

async function seccomp(s: Sources, io: PolicyIo): Promise<Rendered> {
  const v = s.values;
  if (s.prometheus !== undefined) throw new UsageError('--prometheus holds flows only; seccomp needs --agent or --discover');
  if (v.format !== undefined || v['dns-namespace'] !== undefined || v['dns-selector'] !== undefined || v['allow-partial']) {
    throw new UsageError('--format, --dns-* and --allow-partial apply to network');
  }
  const baselineName = v.baseline ?? 'runc';
  const baseline = BASELINES[baselineName];
  if (baseline === undefined) throw new UsageError(`--baseline: expected ${Object.keys(BASELINES).join(' or ')}, got ${JSON.stringify(baselineName)}`);
  const urls = await agentUrls(s, io);
  const reports = await fetchAll(urls.map((u) => () => fetchAgentSyscalls(u, s.http)));
  const opts: SeccompGenerateOptions = { baseline };
  if (v.namespace !== undefined) opts.namespace = v.namespace;
  if (v.workload !== undefined) opts.workload = v.workload;
  if (v.container !== undefined) opts.container = v.container;
  const { profiles, warnings } = generateSeccompProfiles(reports, opts);
  for (const w of warnings) warn(io, w);
  if (v.spo) {
    const objects = profiles.map(renderSpoSeccompProfile);
    return {
      stdout: toYamlStream(objects),
      files: profiles.map((p, i) => ({ path: `${p.namespace}/${p.workload}/${p.container}.yaml`, content: toYaml(objects[i]) })),
      count: profiles.length,
    };
  }
  if (profiles.length > 1 && v.output === undefined) {
    // Several JSON documents back to back (jq reads them as a stream); say which is which.
    profiles.forEach((p, i) => io.stderr.write(`kubepulse policy: profile ${i + 1}: ${p.namespace}/${p.workload}/${p.container}\n`));
  }
  return {
    stdout: profiles.map((p) => renderSeccompJson(p.profile)).join(''),
    files: profiles.map((p) => ({ path: `${p.namespace}/${p.workload}/${p.container}.json`, content: renderSeccompJson(p.profile) })),
    count: profiles.length,
  };
}

export async function runPolicyCommand(argv: string[], io: PolicyIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (err) {
    io.stderr.write(`kubepulse policy: ${(err as Error).message}\n${POLICY_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(POLICY_USAGE);
    return 0;
  }
  const [what, ...extra] = positionals;
  if ((what !== 'network' && what !== 'seccomp') || extra.length > 0) {
    io.stderr.write(`kubepulse policy: expected "network" or "seccomp"${what === undefined ? '' : `, got ${JSON.stringify(positionals.join(' '))}`}\n${POLICY_USAGE}`);
    return 2;
  }
  let rendered: Rendered;
  try {
    const sources = parseSources(values);
    rendered = what === 'network' ? await network(sources, io) : await seccomp(sources, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`kubepulse policy: ${err.message}\n`);
      return 2;
    }
    reportFailure(io, err);
    return 1;
  }
  if (rendered.count === 0) {
    io.stderr.write('kubepulse policy: nothing to write (see the warnings above)\n');
    return 1;
  }
  if (values.output === undefined) {
    io.stdout.write(rendered.stdout);
    return 0;
  }
  try {
    const written = await writeFilesAtomically(values.output, rendered.files);
    for (const f of written) io.stderr.write(`kubepulse policy: wrote ${f}\n`);
  } catch (err) {
    io.stderr.write(`kubepulse policy: writing ${values.output} failed: ${(err as Error).message}\n`);
    return 1;
  }
  return 0;
}
