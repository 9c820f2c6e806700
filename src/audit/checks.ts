// The posture checks: a pod's spec facts (metadata/pod-posture.ts), what its
// processes were seen doing (runtime.ts) and whether a NetworkPolicy
// selects it → the violations, each with the evidence that proves it. Pure
// functions; severities are decided here and nowhere else.
import type { AuditCheck, Severity, Violation } from '../api/audit.js';
import type { ContainerKind, ContainerPosture, PodPosture } from '../metadata/pod-posture.js';
import { fromAllowedRegistry, parseImage } from './image.js';
import type { ContainerRuntimeFacts } from './runtime.js';

/** Added capabilities that give a container the node (or its kernel): high. */
export const HIGH_CAPABILITIES: ReadonlySet<string> = new Set(['ALL', 'SYS_ADMIN', 'SYS_MODULE', 'SYS_PTRACE', 'SYS_RAWIO', 'SYS_BOOT', 'DAC_READ_SEARCH', 'BPF']);
/** Added capabilities that reach beyond the container's own sandbox: medium. */
export const MEDIUM_CAPABILITIES: ReadonlySet<string> = new Set(['NET_ADMIN', 'NET_RAW', 'PERFMON', 'SYS_TIME', 'SYSLOG', 'MAC_ADMIN', 'MAC_OVERRIDE', 'SYS_RESOURCE', 'DAC_OVERRIDE', 'SETFCAP']);

/**
 * Host paths whose mount hands over the node: the root, its configuration,
 * the kernel's interfaces, the kubelet's state (service account tokens of
 * every pod) and the container runtimes' sockets and state. A hostPath at,
 * below or above one of them is high.
 */
export const SENSITIVE_HOST_PATHS: readonly string[] = [
  '/',
  '/etc',
  '/proc',
  '/sys',
  '/boot',
  '/root',
  '/dev',
  '/var/lib/kubelet',
  '/var/lib/docker',
  '/var/lib/containerd',
  '/var/run/docker.sock',
  '/run/docker.sock',
  '/run/containerd/containerd.sock',
  '/var/run/containerd/containerd.sock',
  '/run/crio/crio.sock',
  '/var/run/crio/crio.sock',
];

export interface CheckOptions {
  /** Registry hosts or name prefixes; empty: image_registry is not checked. */
  allowedRegistries: readonly string[];
}

export interface PodFacts {
  posture: PodPosture;
  /** By container name: what its processes were seen doing; absent when none was seen. */
  runtime: ReadonlyMap<string, ContainerRuntimeFacts>;
  /** `<namespace>/<name>` of the NetworkPolicies selecting the pod; undefined while policies are unknown. */
  networkPolicies: readonly string[] | undefined;
}

function normalPath(path: string): string {
  const p = path.replace(/\/+/g, '/').replace(/\/$/, '');
  return p === '' ? '/' : p;
}

function within(path: string, root: string): boolean {
  return root === '/' || path === root || path.startsWith(`${root}/`);
}

/** High when the path is, lies under, or contains a sensitive one (a mount of /run holds the runtime's socket). */
export function hostPathSeverity(path: string): Severity {
  const p = normalPath(path);
  const sensitive = SENSITIVE_HOST_PATHS.some((s) => (s === '/' ? p === '/' : within(p, s) || within(s, p)));
  return sensitive ? 'high' : 'medium';
}

const FIELD_OF_KIND: Record<ContainerKind, string> = { container: 'spec.containers', init: 'spec.initContainers', ephemeral: 'spec.ephemeralContainers' };

function specChecks(c: ContainerPosture, field: string, options: CheckOptions, add: (check: AuditCheck, severity: Severity, container: string, evidence: Violation['evidence']) => void): void {
  const sc = `${field}.securityContext`;
  if (c.privileged === true) add('privileged', 'high', c.name, { field: `${sc}.privileged`, value: true });
  if (c.allowPrivilegeEscalation !== false) {
    add('privilege_escalation', 'medium', c.name, { field: `${sc}.allowPrivilegeEscalation`, value: c.allowPrivilegeEscalation === undefined ? 'unset' : true });
  }
  const dangerous = c.capabilitiesAdded.map((cap) => cap.toUpperCase().replace(/^CAP_/, '')).filter((cap) => HIGH_CAPABILITIES.has(cap) || MEDIUM_CAPABILITIES.has(cap));
  if (dangerous.length > 0) {
    add('capabilities', dangerous.some((cap) => HIGH_CAPABILITIES.has(cap)) ? 'high' : 'medium', c.name, { field: `${sc}.capabilities.add`, capabilities: dangerous.join(',') });
  }
  if (c.hostPorts.length > 0) add('host_port', 'medium', c.name, { field: `${field}.ports[].hostPort`, ports: c.hostPorts.join(',') });
  const image = parseImage(c.image);
  if (options.allowedRegistries.length > 0 && !fromAllowedRegistry(image, options.allowedRegistries)) {
    add('image_registry', 'medium', c.name, { field: `${field}.image`, image: c.image, registry: image.registry });
  }
  if (image.digest === '' && (image.tag === '' || image.tag === 'latest')) {
    add('image_tag', 'low', c.name, { field: `${field}.image`, image: c.image, tag: image.tag === '' ? 'none' : image.tag });
  }
  const missing = [...(c.cpuLimit ? [] : ['cpu']), ...(c.memoryLimit ? [] : ['memory'])];
  if (missing.length > 0) add('no_limits', 'low', c.name, { field: `${field}.resources.limits`, missing: missing.join(',') });
  if (c.readOnlyRootFilesystem !== true) {
    add('writable_root_fs', 'low', c.name, { field: `${sc}.readOnlyRootFilesystem`, value: c.readOnlyRootFilesystem === undefined ? 'unset' : false });
  }
}

/** Every violation of the pod, for the checks in `enabled`, in a stable order. */
export function evaluatePod(facts: PodFacts, enabled: ReadonlySet<AuditCheck>, options: CheckOptions): Violation[] {
  const out: Violation[] = [];
  const add = (check: AuditCheck, severity: Severity, container: string, evidence: Violation['evidence']): void => {
    if (enabled.has(check)) out.push({ check, severity, container, evidence });
  };
  const { posture } = facts;
  const hostNamespaces = [...(posture.hostPID ? ['hostPID'] : []), ...(posture.hostIPC ? ['hostIPC'] : []), ...(posture.hostNetwork ? ['hostNetwork'] : [])];
  if (hostNamespaces.length > 0) {
    add('host_namespaces', posture.hostPID || posture.hostIPC ? 'high' : 'medium', '', { field: hostNamespaces.map((n) => `spec.${n}`).join(','), namespaces: hostNamespaces.join(',') });
  }
  posture.hostPaths.forEach((v) => add('host_path', hostPathSeverity(v.path), '', { field: `spec.volumes[${v.volume}].hostPath.path`, volume: v.volume, path: v.path }));
  const index: Record<ContainerKind, number> = { container: 0, init: 0, ephemeral: 0 };
  for (const c of posture.containers) {
    specChecks(c, `${FIELD_OF_KIND[c.kind]}[${index[c.kind]++}]`, options, add);
    const seen = facts.runtime.get(c.name);
    if (seen?.root !== undefined) add('runs_as_root', 'medium', c.name, { pid: seen.root.pid, uid: 0, command: seen.root.command, processes: seen.processes });
    if (seen?.unconfined !== undefined) add('seccomp_unconfined', 'medium', c.name, { pid: seen.unconfined.pid, seccomp: 0, command: seen.unconfined.command, processes: seen.processes });
  }
  if (facts.networkPolicies !== undefined && facts.networkPolicies.length === 0) add('no_network_policy', 'medium', '', { policies: 0 });
  return out;
}

/** The checks a pod's audit-ignore annotation names, in the interface's spelling (unknown names are kept: the API shows them). */
export function ignoredChecks(annotation: string): string[] {
  return [...new Set(annotation.split(',').map((s) => s.trim()).filter((s) => s !== ''))].sort();
}
