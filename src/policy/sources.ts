// Where observations come from: agents' JSON APIs (given by URL or found as
// the DaemonSet's pods through the Kubernetes API) and Prometheus (flows over
// a time range). Every failure becomes a SourceError naming the source and
// the reason; nothing here writes anything.
import { request, type Dispatcher } from 'undici';
import { FLOW_SERIES_LABELS, PEER_KINDS } from '../api/v1.js';
import { KubeApiError, type Query } from '../kube/client.js';
import { operatorKube, type OperatorKube } from '../kube/operator.js';
import { ContractError, parseFlowsReport, parseSyscallsReport, type Direction, type Flow, type FlowPeer, type FlowsReport, type PeerKind, type Protocol, type SyscallsReport } from './types.js';

export class SourceError extends Error {
  constructor(readonly source: string, readonly reason: string) {
    super(`${source}: ${reason}`);
    this.name = 'SourceError';
  }
}

export interface HttpOptions {
  /** Whole request, connect to last body byte. */
  timeoutMs: number;
  /** Largest body accepted. */
  maxBytes?: number;
  dispatcher?: Dispatcher;
}

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

function errorCode(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  let e: unknown = err;
  while (typeof e === 'object' && e !== null && !seen.has(e)) {
    seen.add(e);
    const o = e as { code?: unknown; cause?: unknown; errors?: unknown[] };
    if (typeof o.code === 'string' && !o.code.startsWith('UND_ERR_SOCKET')) return o.code;
    e = o.cause ?? (Array.isArray(o.errors) ? o.errors[0] : undefined);
  }
  return undefined;
}

const CODE_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_HEADERS_TIMEOUT: 'timed out waiting for the response',
  UND_ERR_BODY_TIMEOUT: 'timed out reading the response',
};

export function describeError(err: unknown, timeoutMs: number): string {
  if (err instanceof SourceError) return err.reason;
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return `timed out after ${timeoutMs}ms`;
  const code = errorCode(err);
  if (code !== undefined) {
    const reason = CODE_REASONS[code];
    if (reason === 'timed out waiting for the response' || reason === 'timed out reading the response' || reason === 'connect timed out') {
      return `${reason} (timeout ${timeoutMs}ms)`;
    }
    return reason ?? `${code}: ${(err as Error).message}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function oneLine(s: string, max = 160): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

/** GET url and parse JSON; throws SourceError(source, reason). */
export async function getJson(source: string, url: string, opts: HttpOptions): Promise<unknown> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const signal = AbortSignal.timeout(opts.timeoutMs);
  let text: string;
  try {
    const res = await request(url, {
      method: 'GET',
      headers: { accept: 'application/json' },
      signal,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      ...(opts.dispatcher === undefined ? {} : { dispatcher: opts.dispatcher }),
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) {
        res.body.destroy();
        throw new SourceError(source, `response larger than ${maxBytes} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    text = Buffer.concat(chunks).toString('utf8');
    if (res.statusCode < 200 || res.statusCode > 299) {
      const body = oneLine(text);
      throw new SourceError(source, `HTTP ${res.statusCode} from ${new URL(url).pathname}${body === '' ? '' : `: ${body}`}`);
    }
  } catch (err) {
    if (err instanceof SourceError) throw err;
    throw new SourceError(source, describeError(err, opts.timeoutMs));
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new SourceError(source, `invalid JSON from ${new URL(url).pathname}: ${(err as Error).message}`);
  }
}

function contract<T>(source: string, path: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof ContractError) throw new SourceError(source, `unexpected answer from ${path}: ${err.message}`);
    throw err;
  }
}

export async function fetchAgentFlows(base: string, opts: HttpOptions): Promise<FlowsReport> {
  const source = `agent ${base}`;
  const body = await getJson(source, joinUrl(base, '/api/v1/flows'), opts);
  return contract(source, '/api/v1/flows', () => parseFlowsReport(body));
}

export async function fetchAgentSyscalls(base: string, opts: HttpOptions): Promise<SyscallsReport> {
  const source = `agent ${base}`;
  const body = await getJson(source, joinUrl(base, '/api/v1/syscalls'), opts);
  return contract(source, '/api/v1/syscalls', () => parseSyscallsReport(body));
}

export { FLOW_SERIES_LABELS };

/** Prometheus durations: 90s, 24h, 1h30m, 7d … */
export const PROMETHEUS_DURATION = /^([0-9]+(ms|s|m|h|d|w|y))+$/;

/**
 * Every flow series that held a positive count at some point in the range.
 * Not increase(): a flow that happened once before its series was first
 * scraped (or once per daemon lifetime) never increases and would be lost.
 * The value is the largest count seen, summed over the agents (nodes).
 */
export function flowsQuery(range: string): string {
  if (!PROMETHEUS_DURATION.test(range)) throw new Error(`invalid range ${JSON.stringify(range)} (a Prometheus duration such as 24h or 7d)`);
  return `sum by (${FLOW_SERIES_LABELS.join(', ')}) (max_over_time(kubepulse_flows_total[${range}])) > 0`;
}

function promLabel(metric: Record<string, unknown>, key: string, path: string, required: boolean): string | undefined {
  const v = metric[key];
  if (v === undefined || v === '') {
    if (required) throw new ContractError(`${path}.metric.${key}`, 'missing');
    return undefined;
  }
  if (typeof v !== 'string') throw new ContractError(`${path}.metric.${key}`, 'expected a string');
  return v;
}

function oneOfLabel<T extends string>(v: string, allowed: readonly T[], path: string): T {
  if (!(allowed as readonly string[]).includes(v)) throw new ContractError(path, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** Turns an instant-vector answer of flowsQuery into workload-granular flows (no pods, labels or addresses). */
export function parsePrometheusFlows(body: unknown): Flow[] {
  const o = body as { status?: unknown; error?: unknown; data?: { resultType?: unknown; result?: unknown } } | null;
  if (typeof o !== 'object' || o === null) throw new ContractError('$', 'expected an object');
  if (o.status !== 'success') throw new ContractError('$.status', `query failed: ${typeof o.error === 'string' ? o.error : JSON.stringify(o.status)}`);
  if (o.data?.resultType !== 'vector') throw new ContractError('$.data.resultType', `expected vector, got ${JSON.stringify(o.data?.resultType)}`);
  const result = o.data.result;
  if (!Array.isArray(result)) throw new ContractError('$.data.result', 'expected an array');
  return result.map((r: unknown, i: number): Flow => {
    const path = `$.data.result[${i}]`;
    const metric = (r as { metric?: unknown } | null)?.metric;
    if (typeof metric !== 'object' || metric === null) throw new ContractError(`${path}.metric`, 'expected an object');
    const m = metric as Record<string, unknown>;
    const portText = promLabel(m, 'port', path, true) as string;
    const port = Number(portText);
    if (!/^[0-9]+$/.test(portText) || port < 1 || port > 65535) throw new ContractError(`${path}.metric.port`, `expected a port 1-65535, got ${JSON.stringify(portText)}`);
    const kind = oneOfLabel<PeerKind>(promLabel(m, 'peer_kind', path, true) as string, PEER_KINDS, `${path}.metric.peer_kind`);
    const peer: FlowPeer = { kind };
    if (kind === 'pod' || kind === 'service') {
      peer.namespace = promLabel(m, 'peer_namespace', path, true) as string;
      const name = promLabel(m, 'peer_workload', path, true) as string;
      if (kind === 'pod') peer.workload = name;
      else peer.name = name;
    }
    const value = (r as { value?: unknown }).value;
    const count = Array.isArray(value) ? Number(value[1]) : NaN;
    const flow: Flow = {
      namespace: promLabel(m, 'namespace', path, true) as string,
      workload: promLabel(m, 'workload', path, true) as string,
      direction: oneOfLabel<Direction>(promLabel(m, 'direction', path, true) as string, ['ingress', 'egress'], `${path}.metric.direction`),
      protocol: oneOfLabel<Protocol>(promLabel(m, 'protocol', path, true) as string, ['TCP', 'UDP', 'SCTP'], `${path}.metric.protocol`),
      port,
      peer,
    };
    if (Number.isFinite(count)) flow.count = count;
    return flow;
  });
}

export async function fetchPrometheusFlows(base: string, range: string, opts: HttpOptions): Promise<Flow[]> {
  const source = `prometheus ${base}`;
  const url = `${joinUrl(base, '/api/v1/query')}?query=${encodeURIComponent(flowsQuery(range))}`;
  const body = await getJson(source, url, opts);
  return contract(source, '/api/v1/query', () => parsePrometheusFlows(body));
}

export interface DiscoveryOptions {
  namespace: string;
  labelSelector: string;
  /** Agent port; default: the container port named "api", "http" or "metrics", else 9090. */
  port?: number;
  kubeconfig?: string;
  timeoutMs: number;
}

export interface DiscoveredPod {
  name: string;
  phase?: string;
  podIP?: string;
  ports: { name?: string; containerPort: number }[];
}

export const DEFAULT_AGENT_PORT = 9090;

function agentUrl(ip: string, port: number): string {
  return ip.includes(':') ? `http://[${ip}]:${port}` : `http://${ip}:${port}`;
}

/** Picks the agent URLs out of the listed pods; running pods without an IP are reported, not guessed. */
export function agentUrlsFromPods(pods: readonly DiscoveredPod[], port: number | undefined): { urls: string[]; skipped: string[] } {
  const urls: string[] = [];
  const skipped: string[] = [];
  for (const p of [...pods].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (p.phase !== 'Running' || p.podIP === undefined || p.podIP === '') {
      skipped.push(`${p.name} (${p.phase ?? 'unknown phase'}${p.podIP ? '' : ', no IP'})`);
      continue;
    }
    const named = ['api', 'http', 'metrics'].map((n) => p.ports.find((x) => x.name === n)).find((x) => x !== undefined);
    urls.push(agentUrl(p.podIP, port ?? named?.containerPort ?? DEFAULT_AGENT_PORT));
  }
  return { urls, skipped };
}

/** The Kubernetes API as an operator's command lists from it: one timeout, every failure a SourceError naming the server. */
export interface OperatorLister {
  /** "kubernetes API https://…" */
  readonly source: string;
  list<T>(what: string, path: string, query: Query, each: (obj: unknown) => T): Promise<T[]>;
}

/** Loads the kubeconfig (kubectl's order, src/kube/operator.ts); the clock starts after. */
export async function operatorLister(kubeconfig: string | undefined, timeoutMs: number): Promise<OperatorLister> {
  let kube: OperatorKube;
  try {
    kube = operatorKube(kubeconfig);
    // Loading the kubeconfig imports @kubernetes/client-node, seconds on a
    // busy machine, no network involved: not part of the timeout.
    await kube.client.endpoint.ready();
  } catch (err) {
    throw new SourceError('kubernetes API', (err as Error).message);
  }
  const source = `kubernetes API ${kube.client.endpoint.server}`;
  const signal = AbortSignal.timeout(timeoutMs);
  return {
    source,
    async list<T>(what: string, path: string, query: Query, each: (obj: unknown) => T): Promise<T[]> {
      try {
        return (await kube.client.list(path, query, each, signal)).items;
      } catch (err) {
        if (err instanceof KubeApiError) throw new SourceError(source, `HTTP ${oneLine(err.message)} listing ${what}`);
        if (signal.aborted) throw new SourceError(source, `timed out after ${timeoutMs}ms listing ${what}`);
        throw new SourceError(source, `${describeError(err, timeoutMs)} listing ${what}`);
      }
    },
  };
}

/** Lists the agent DaemonSet's pods through the Kubernetes API (kubeconfig or in-cluster, as kubectl finds it). */
export async function discoverAgents(opts: DiscoveryOptions): Promise<{ urls: string[]; skipped: string[] }> {
  const api = await operatorLister(opts.kubeconfig, opts.timeoutMs);
  const pods = await api.list(
    'pods',
    `/api/v1/namespaces/${encodeURIComponent(opts.namespace)}/pods`,
    { labelSelector: opts.labelSelector, timeoutSeconds: Math.max(1, Math.ceil(opts.timeoutMs / 1000)) },
    (o) => discoveredPod(o as ListedPod),
  );
  const found = agentUrlsFromPods(pods, opts.port);
  if (found.urls.length === 0) {
    const why = pods.length === 0 ? 'no pods' : `no running pods with an IP (${found.skipped.join(', ')})`;
    throw new SourceError(api.source, `${why} in namespace ${opts.namespace} match ${opts.labelSelector}`);
  }
  return found;
}

interface ListedPod {
  metadata?: { name?: string };
  spec?: { containers?: { ports?: { name?: string; containerPort: number }[] }[] };
  status?: { phase?: string; podIP?: string };
}

function discoveredPod(p: ListedPod): DiscoveredPod {
  const dp: DiscoveredPod = {
    name: p.metadata?.name ?? '?',
    ports: (p.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).map((x) => (x.name === undefined ? { containerPort: x.containerPort } : { name: x.name, containerPort: x.containerPort }))),
  };
  if (p.status?.phase !== undefined) dp.phase = p.status.phase;
  if (p.status?.podIP !== undefined) dp.podIP = p.status.podIP;
  return dp;
}

/**
 * Runs every fetch, so one dead agent does not hide another's problem, and
 * throws an AggregateError of SourceErrors if any failed.
 */
export async function fetchAll<T>(tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const settled = await Promise.allSettled(tasks.map((t) => t()));
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  if (failures.length > 0) throw new AggregateError(failures, `${failures.length} source(s) failed`);
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}
