// Daemon configuration from flags and environment variables. Every flag
// `--some.flag-name` can also be set as KUBEPULSE_SOME_FLAG_NAME; a flag on
// the command line wins over the environment.

import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { UserError } from './errors.js';
import { LOG_LEVELS, type LogLevel } from './log.js';
import { ATTACH_MODES, type AttachMode } from './bpf/probe.js';
import { PROBE_NAMES, type ProbeName } from './probes/names.js';
import { parseAuditConfig, type AuditConfig } from './audit/config.js';


/** always: the sys_enter hook attached from start; on-demand: only while recording is switched on through the API. */
export const SYSCALLS_RECORDING_MODES = ['always', 'on-demand'] as const;
export type SyscallsRecording = (typeof SYSCALLS_RECORDING_MODES)[number];

/** none: the endpoints' own settings (--web.config.file) only; kubernetes: bearer tokens checked by TokenReview and SubjectAccessReview. */
export const AUTH_MODES = ['none', 'kubernetes'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

export interface Config {
  port: number;
  listenAddress: string;
  nodeName: string;
  logLevel: LogLevel;
  /** Every probe's ring buffer; undefined = each probe's own size (its ProbeSpec). */
  ringBufferBytes: number | undefined;
  procfs: string;
  sysfs: string;
  /** cgroup v2 mount; undefined = find it in <procfs>/mounts. */
  cgroupfs: string | undefined;
  attach: AttachMode;
  bpfObjectDir: string;
  dnsPorts: number[];
  dnsTimeoutMs: number;
  dnsMaxDomains: number;
  clusterDomain: string;
  kubeconfig: string | undefined;
  metadataCacheTtlMs: number;
  seriesGraceMs: number;
  probes: ProbeName[];
  flowsPerPod: number;
  syscallsRecording: SyscallsRecording;
  /** The live event stream (/api/v1/events). */
  api: { maxStreams: number; history: number; streamQueue: number; heartbeatMs: number };
  /** exporter-toolkit web config (TLS, basic auth, headers); undefined = plain HTTP. */
  webConfigFile: string | undefined;
  webMaxConnections: number;
  webHeadersTimeoutMs: number;
  /** Serve /api/v1 and the page here instead of on the main port; undefined = one listener. */
  webApiListen: { host: string; port: number } | undefined;
  /** Drift: the kubelet's seccomp root (Localhost profiles), and a `kubepulse policy seccomp` output directory to compare with too. */
  drift: { seccompRoot: string; seccompProfiles: string | undefined };
  /** Who may read /metrics and /api/v1 (health stays open); TTLs of the cached decisions. */
  auth: { mode: AuthMode; allowedTtlMs: number; deniedTtlMs: number };
  /** The posture audit (src/audit/). */
  audit: AuditConfig;
}

interface FlagSpec {
  name: string;
  help: string;
  default?: string;
  boolean?: boolean;
}

export const FLAGS: FlagSpec[] = [
  { name: 'port', default: '9090', help: 'HTTP port for /metrics, /healthz, /readyz and /api/v1' },
  { name: 'listen-address', default: '0.0.0.0', help: 'address the HTTP server binds' },
  { name: 'node-name', help: 'node label on every series (default: $NODE_NAME, else the hostname)' },
  { name: 'log-level', default: 'info', help: `one of ${LOG_LEVELS.join(', ')}` },
  { name: 'ring-buffer-bytes', help: 'size of every probe\'s ring buffer; a power of two, at least 4096 (default: each probe\'s own, sized for its event rate)' },
  { name: 'path.procfs', default: '/proc', help: 'where the host\'s /proc is mounted (/host/proc in a container)' },
  { name: 'path.sysfs', default: '/sys', help: 'where the host\'s /sys is mounted' },
  { name: 'path.cgroupfs', help: 'the cgroup v2 mount (default: found in <procfs>/mounts)' },
  { name: 'attach', default: 'auto', help: `how probes attach: ${ATTACH_MODES.join(', ')} (auto: kprobes where the kernel has them, else tracepoints; classic: no kprobes and no BTF-typed tp_btf hooks, only classic and raw tracepoints)` },
  { name: 'bpf-object-dir', help: 'directory with the compiled *.bpf.o files (default: build/bpf in the checkout)' },
  { name: 'dns-ports', default: '53', help: 'comma-separated UDP ports whose traffic is DNS' },
  { name: 'dns-timeout', default: '5s', help: 'a query unanswered this long counts as rcode="timeout"' },
  { name: 'dns-max-domains', default: '1000', help: 'distinct domain label values per node; beyond, domain="other"' },
  { name: 'cluster-domain', default: 'cluster.local', help: 'the cluster\'s DNS domain, folded into one domain label' },
  { name: 'kubeconfig', help: 'kubeconfig for running outside the cluster (default: in-cluster config, else no Kubernetes)' },
  { name: 'metadata-cache-ttl', default: '60s', help: 'how long a process-to-pod resolution is trusted' },
  { name: 'series-grace', default: '5m', help: 'how long series of a deleted pod stay before they are removed' },
  { name: 'probes', default: PROBE_NAMES.join(','), help: 'comma-separated probes to load' },
  {
    name: 'syscalls-recording',
    default: 'always',
    help: `${SYSCALLS_RECORDING_MODES.join(' or ')}: on-demand attaches the syscalls probe only while POST /api/v1/syscalls/recording?on=true is in force (every syscall of the node pays while it is attached)`,
  },
  { name: 'api.max-streams', default: '16', help: 'concurrent /api/v1/events streams; beyond, 429' },
  { name: 'api.history', default: '10000', help: 'events kept for /api/v1/events?last=N and since= (0: no history, and no cost per event without a subscriber)' },
  { name: 'api.stream-queue', default: '1000', help: 'events queued per stream while its client is slow; beyond, dropped and counted' },
  { name: 'api.heartbeat', default: '15s', help: 'an idle event stream gets a heartbeat this often' },
  { name: 'web.config.file', help: 'exporter-toolkit web config (TLS, client certificates, basic auth, headers), as for node_exporter; reloaded on change' },
  { name: 'web.max-connections', default: '1024', help: 'open HTTP connections at most; beyond, new ones are closed' },
  { name: 'web.headers-timeout', default: '10s', help: 'a client must send its request headers within this (slowloris), and start within it after connecting' },
  { name: 'web.api-listen-address', help: 'host:port for /api/v1 and the page on a listener of their own (then the main port serves only /metrics and health)' },
  { name: 'path.seccomp', default: '/var/lib/kubelet/seccomp', help: 'the kubelet\'s seccomp root, where Localhost profiles live (seccomp drift)' },
  { name: 'drift.seccomp-profiles', help: 'a `kubepulse policy seccomp --output` directory (NS/WORKLOAD/CONTAINER.json): containers are also compared with their exported profile' },
  { name: 'auth', default: 'none', help: `${AUTH_MODES.join(' or ')}: kubernetes checks bearer tokens with TokenReview and access with SubjectAccessReview (get on /metrics, /api/v1/…), as kube-rbac-proxy does` },
  { name: 'auth.cache-ttl', default: '2m', help: 'how long an allowed token and access decision is trusted before the API server is asked again' },
  { name: 'auth.denied-cache-ttl', default: '30s', help: 'how long a refused token or access decision is remembered' },
  { name: 'audit.checks', default: 'all', help: 'posture checks to run: all, none, a list (privileged,host_path) or all but some (-image_tag,-no_limits)' },
  { name: 'audit.exempt-namespaces', default: '', help: 'comma-separated namespaces the posture audit leaves out' },
  { name: 'audit.allowed-registries', default: '', help: 'comma-separated registries (ghcr.io) or name prefixes (ghcr.io/acme); an image from elsewhere is an image_registry violation (empty: not checked)' },
  { name: 'audit.interval', default: '30s', help: 'how often the audit reads the containers\' processes from /proc (runs_as_root, seccomp_unconfined)' },
  { name: 'flows-per-pod', default: '256', help: 'distinct flows kept per pod (and per workload in metrics); beyond, counted as overflow' },
];

export function envName(flag: string): string {
  return 'KUBEPULSE_' + flag.replace(/[.-]/g, '_').toUpperCase();
}

export function usage(): string {
  const lines = FLAGS.map((f) => {
    const def = f.default !== undefined ? ` (default ${f.default})` : '';
    return `  --${f.name.padEnd(20)} ${f.help}${def}\n  ${''.padEnd(22)} env ${envName(f.name)}`;
  });
  return [
    'Usage: kubepulse [run] [flags]     run the exporter daemon',
    '       kubepulse check [flags]     pre-flight: probe the kernel, load and attach every probe, print the plan, exit 0 or 1',
    '       kubepulse observe ...       follow the agents\' live TCP, DNS and flow events (kubepulse observe --help)',
    '       kubepulse flows|status|top  the agents\' flows, health, and busiest/failing workloads (each has --help)',
    '       kubepulse ui --prometheus URL  serve the topology page for the whole cluster (kubepulse ui --help)',
    '       kubepulse audit ...         posture violations and policy drift across agents, for CI gates (kubepulse audit --help)',
    '       kubepulse policy ...        export NetworkPolicies and seccomp profiles from what agents observed (kubepulse policy --help)',
    '',
    'Flags:',
    ...lines,
    '  --help                 this text',
  ].join('\n');
}

/** "5s", "250ms", "2m", "1h" → milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new UserError(`--${flag}: "${text}" is not a duration (e.g. 500ms, 5s, 2m)`, 2);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  // Durations become timers and cache TTLs, which take whole milliseconds
  // from 1 up to what setTimeout can hold; 0s, 0.4ms or 1000h would only
  // fail later with a stack trace, or fire at once (found by fuzzing).
  const ms = Math.round(Number(m[1]) * scale);
  if (!(ms >= 1 && ms <= MAX_DURATION_MS)) throw new UserError(`--${flag}: "${text}" is outside 1ms..${MAX_DURATION_MS / 3_600_000}h`, 2);
  return ms;
}

/** setTimeout's limit (2^31 - 1 ms), rounded down to whole hours. */
const MAX_DURATION_MS = 596 * 3_600_000;

function parseInteger(text: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new UserError(`--${flag}: "${text}" is not a whole number`, 2);
  const n = Number(text);
  if (n < min || n > max) throw new UserError(`--${flag}: ${n} is outside ${min}..${max}`, 2);
  return n;
}

function oneOf<T extends string>(text: string, flag: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text))
    throw new UserError(`--${flag}: "${text}" is not one of ${allowed.join(', ')}`, 2);
  return text as T;
}

/** "host:port" or "[v6]:port" (":port" = every address). */
function parseHostPort(text: string | undefined, flag: string): { host: string; port: number } | undefined {
  if (text === undefined) return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d+)$/.exec(text.trim());
  if (!m) throw new UserError(`--${flag}: "${text}" is not host:port (e.g. 0.0.0.0:9091)`, 2);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: parseInteger(m[3] as string, flag, 0, 65535) };
}

export interface ParsedCommand {
  command: 'run' | 'check' | 'help';
  config: Config;
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env, defaultBpfDir = 'build/bpf'): ParsedCommand {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const f of FLAGS) options[f.name] = { type: f.boolean ? 'boolean' : 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const message = (err as Error).message;
    const unknown = /Unknown option '([^']+)'/.exec(message)?.[1];
    const line = unknown ? `unknown flag ${unknown}` : (message.split('\n')[0] ?? message).replace(/\.$/, '');
    throw new UserError(`${line} (see kubepulse --help)`, 2);
  }
  const positionals = parsed.positionals;
  const command = parsed.values.help ? 'help' : (positionals[0] ?? 'run');
  if (command !== 'run' && command !== 'check' && command !== 'help')
    throw new UserError(`unknown command "${command}" (see kubepulse --help)`, 2);
  if (positionals.length > 1) throw new UserError(`unexpected argument "${positionals[1]}" (see kubepulse --help)`, 2);

  const value = (name: string): string | undefined => {
    const v = parsed.values[name];
    if (typeof v === 'string') return v;
    const fromEnv = env[envName(name)];
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
    return FLAGS.find((f) => f.name === name)?.default;
  };
  const required = (name: string): string => value(name) as string;

  const ringFlag = value('ring-buffer-bytes');
  const ringBufferBytes = ringFlag === undefined ? undefined : parseInteger(ringFlag, 'ring-buffer-bytes', 4096, 1 << 30);
  if (ringBufferBytes !== undefined && (ringBufferBytes & (ringBufferBytes - 1)) !== 0)
    throw new UserError(`--ring-buffer-bytes: ${ringBufferBytes} is not a power of two`, 2);

  const dnsPorts = required('dns-ports')
    .split(',')
    .filter((p) => p.trim() !== '')
    .map((p) => parseInteger(p, 'dns-ports', 1, 65535));
  if (dnsPorts.length === 0) throw new UserError('--dns-ports: give at least one port', 2);
  if (dnsPorts.length > 8) throw new UserError('--dns-ports: at most 8 ports', 2);

  const probes = required('probes')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => oneOf(p, 'probes', PROBE_NAMES));
  if (probes.length === 0) throw new UserError('--probes: give at least one probe', 2);

  const config: Config = {
    port: parseInteger(required('port'), 'port', 0, 65535),
    listenAddress: required('listen-address'),
    nodeName: value('node-name') ?? env.NODE_NAME ?? hostname(),
    logLevel: oneOf(required('log-level'), 'log-level', LOG_LEVELS),
    ringBufferBytes,
    procfs: required('path.procfs'),
    sysfs: required('path.sysfs'),
    cgroupfs: value('path.cgroupfs'),
    attach: oneOf(required('attach'), 'attach', ATTACH_MODES),
    bpfObjectDir: value('bpf-object-dir') ?? defaultBpfDir,
    dnsPorts,
    dnsTimeoutMs: parseDuration(required('dns-timeout'), 'dns-timeout'),
    dnsMaxDomains: parseInteger(required('dns-max-domains'), 'dns-max-domains', 1, 1_000_000),
    clusterDomain: required('cluster-domain').replace(/\.$/, '').toLowerCase(),
    kubeconfig: value('kubeconfig'),
    metadataCacheTtlMs: parseDuration(required('metadata-cache-ttl'), 'metadata-cache-ttl'),
    seriesGraceMs: parseDuration(required('series-grace'), 'series-grace'),
    probes: [...new Set(probes)],
    flowsPerPod: parseInteger(required('flows-per-pod'), 'flows-per-pod', 1, 100_000),
    syscallsRecording: oneOf(required('syscalls-recording'), 'syscalls-recording', SYSCALLS_RECORDING_MODES),
    api: {
      maxStreams: parseInteger(required('api.max-streams'), 'api.max-streams', 0, 10_000),
      history: parseInteger(required('api.history'), 'api.history', 0, 1_000_000),
      streamQueue: parseInteger(required('api.stream-queue'), 'api.stream-queue', 1, 1_000_000),
      heartbeatMs: parseDuration(required('api.heartbeat'), 'api.heartbeat'),
    },
    webConfigFile: value('web.config.file'),
    webMaxConnections: parseInteger(required('web.max-connections'), 'web.max-connections', 1, 1_000_000),
    webHeadersTimeoutMs: parseDuration(required('web.headers-timeout'), 'web.headers-timeout'),
    webApiListen: parseHostPort(value('web.api-listen-address'), 'web.api-listen-address'),
    drift: { seccompRoot: required('path.seccomp'), seccompProfiles: value('drift.seccomp-profiles') },
    auth: {
      mode: oneOf(required('auth'), 'auth', AUTH_MODES),
      allowedTtlMs: parseDuration(required('auth.cache-ttl'), 'auth.cache-ttl'),
      deniedTtlMs: parseDuration(required('auth.denied-cache-ttl'), 'auth.denied-cache-ttl'),
    },
    audit: parseAuditConfig((f) => value(f) ?? '', parseDuration(required('audit.interval'), 'audit.interval')),
  };
  return { command, config };
}
