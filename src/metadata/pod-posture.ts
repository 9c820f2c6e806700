// The security-relevant facts of a pod spec, kept per pod for the posture
// audit (src/audit/). The node's pod watch hands the index whole V1Pod
// objects and the index keeps none of them; this keeps only what the checks
// read: a few booleans and short strings per container, the hostPath paths
// and the audit-ignore annotation. Measured: about 0.6 KB per pod of two
// containers (test/metadata/pod-posture.test.ts prints the figure).
import type { V1Container, V1Pod } from '@kubernetes/client-node';

/** The pod annotation that turns named checks off for that pod: `kubepulse.io/audit-ignore: host_path,no_limits`. */
export const AUDIT_IGNORE_ANNOTATION = 'kubepulse.io/audit-ignore';

export type ContainerKind = 'container' | 'init' | 'ephemeral';

export interface ContainerPosture {
  readonly name: string;
  readonly kind: ContainerKind;
  readonly image: string;
  /** The spec values as given; undefined where the spec leaves them unset. */
  readonly privileged: boolean | undefined;
  readonly allowPrivilegeEscalation: boolean | undefined;
  readonly readOnlyRootFilesystem: boolean | undefined;
  /** securityContext.capabilities.add, as written. */
  readonly capabilitiesAdded: readonly string[];
  /** ports[].hostPort where set (non-zero). */
  readonly hostPorts: readonly number[];
  readonly cpuLimit: boolean;
  readonly memoryLimit: boolean;
}

export interface HostPathVolume {
  readonly volume: string;
  readonly path: string;
}

export interface PodPosture {
  readonly hostNetwork: boolean;
  readonly hostPID: boolean;
  readonly hostIPC: boolean;
  readonly hostPaths: readonly HostPathVolume[];
  readonly containers: readonly ContainerPosture[];
  /** The kubepulse.io/audit-ignore annotation, '' without. */
  readonly auditIgnore: string;
}

const NONE: readonly never[] = Object.freeze([]);

function containerPosture(c: V1Container, kind: ContainerKind): ContainerPosture {
  const sc = c.securityContext;
  const added = sc?.capabilities?.add ?? [];
  const hostPorts = (c.ports ?? []).flatMap((p) => (p.hostPort !== undefined && p.hostPort !== 0 ? [p.hostPort] : []));
  const limits = c.resources?.limits ?? {};
  return Object.freeze({
    name: c.name,
    kind,
    image: c.image ?? '',
    privileged: sc?.privileged,
    allowPrivilegeEscalation: sc?.allowPrivilegeEscalation,
    readOnlyRootFilesystem: sc?.readOnlyRootFilesystem,
    capabilitiesAdded: added.length === 0 ? NONE : Object.freeze([...added]),
    hostPorts: hostPorts.length === 0 ? NONE : Object.freeze(hostPorts),
    cpuLimit: limits['cpu'] !== undefined,
    memoryLimit: limits['memory'] !== undefined,
  });
}

/** What the audit needs of a pod spec; nothing else of the spec is kept. */
export function postureOf(pod: V1Pod): PodPosture {
  const spec = pod.spec;
  const hostPaths = (spec?.volumes ?? []).flatMap((v) => (v.hostPath !== undefined ? [Object.freeze({ volume: v.name, path: v.hostPath.path })] : []));
  const containers = [
    ...(spec?.initContainers ?? []).map((c) => containerPosture(c, 'init')),
    ...(spec?.containers ?? []).map((c) => containerPosture(c, 'container')),
    ...((spec?.ephemeralContainers ?? []) as V1Container[]).map((c) => containerPosture(c, 'ephemeral')),
  ];
  return Object.freeze({
    hostNetwork: spec?.hostNetwork === true,
    hostPID: spec?.hostPID === true,
    hostIPC: spec?.hostIPC === true,
    hostPaths: hostPaths.length === 0 ? NONE : Object.freeze(hostPaths),
    containers: Object.freeze(containers),
    auditIgnore: pod.metadata?.annotations?.[AUDIT_IGNORE_ANNOTATION] ?? '',
  });
}
