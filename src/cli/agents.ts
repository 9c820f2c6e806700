// Which agents an operator command talks to: --agent URL (repeatable) and/or
// --discover (the DaemonSet's pods, through the Kubernetes API, as
// `kubepulse policy` finds them), and the options every command shares.

import { discoverAgents } from '../policy/sources.js';

export class UsageError extends Error {}

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  stderr: NodeJS.WritableStream;
}

export const AGENT_OPTIONS = {
  agent: { type: 'string', multiple: true },
  discover: { type: 'boolean' },
  'agent-namespace': { type: 'string' },
  'agent-selector': { type: 'string' },
  'agent-port': { type: 'string' },
  kubeconfig: { type: 'string' },
  timeout: { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const AGENT_USAGE = `Agents (at least one):
  --agent URL              an agent's API, e.g. http://10.0.0.5:9090 (repeatable)
  --discover               every agent: the DaemonSet's pods, found through the Kubernetes API
    --agent-namespace NS   where the DaemonSet runs (default kubepulse)
    --agent-selector SEL   its pods' label selector (default app.kubernetes.io/name=kubepulse)
    --agent-port PORT      agent port (default: the container port named metrics, else 9090)
    --kubeconfig FILE      kubeconfig (default: $KUBECONFIG, ~/.kube/config or in-cluster)
  --timeout D              per request (default 5s)`;

export interface AgentValues {
  agent?: string[];
  discover?: boolean;
  'agent-namespace'?: string;
  'agent-selector'?: string;
  'agent-port'?: string;
  kubeconfig?: string;
  timeout?: string;
}

export function parseDurationMs(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!m) throw new UsageError(`${flag}: "${text}" is not a duration (e.g. 500ms, 5s, 2m)`);
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms'];
  if (!(ms > 0)) throw new UsageError(`${flag}: must be positive`);
  return ms;
}

/** An http(s) URL given to `flag`, without trailing slashes. */
export function parseHttpUrl(text: string, flag: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(`${flag}: not a URL: "${text}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`${flag}: expected an http(s) URL, got "${text}"`);
  return text.replace(/\/+$/, '');
}

export function parseAgentUrl(text: string): string {
  return parseHttpUrl(text, '--agent');
}

export function timeoutOf(v: AgentValues): number {
  return parseDurationMs(v.timeout ?? '5s', '--timeout');
}

/** The agents of the DaemonSet's pods (--discover), with what was skipped said through warn. */
export async function discoveredAgentUrls(v: AgentValues, timeoutMs: number, warn: (line: string) => void): Promise<string[]> {
  let port: number | undefined;
  if (v['agent-port'] !== undefined) {
    port = Number(v['agent-port']);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--agent-port: expected a port, got "${v['agent-port']}"`);
  }
  const found = await discoverAgents({
    namespace: v['agent-namespace'] ?? 'kubepulse',
    labelSelector: v['agent-selector'] ?? 'app.kubernetes.io/name=kubepulse',
    timeoutMs,
    ...(port === undefined ? {} : { port }),
    ...(v.kubeconfig === undefined ? {} : { kubeconfig: v.kubeconfig }),
  });
  for (const s of found.skipped) warn(`discovery: skipping agent pod ${s}`);
  return found.urls;
}

/** The agents' base URLs; a failed discovery is one line and no agents. */
export async function agentUrls(v: AgentValues, warn: (line: string) => void): Promise<string[]> {
  const urls = (v.agent ?? []).map(parseAgentUrl);
  if (urls.length === 0 && v.discover !== true) throw new UsageError('no agent: give --agent URL or --discover');
  if (v.discover === true) for (const u of await discoveredAgentUrls(v, timeoutOf(v), warn)) if (!urls.includes(u)) urls.push(u);
  return urls;
}

export function oneOfOutput<T extends string>(text: string | undefined, allowed: readonly T[]): T {
  const v = text ?? allowed[0];
  if (!(allowed as readonly string[]).includes(v as string)) throw new UsageError(`-o: "${text}" is not one of ${allowed.join(', ')}`);
  return v as T;
}
