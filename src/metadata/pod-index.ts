// The pods of this node, indexed by container ID and by pod UID.
//
// Fed by the Kubernetes watch (kube-watch.ts) with V1Pod objects; read by the
// resolver. Identities are built once per pod change and shared, so a lookup
// allocates nothing.
import type { V1OwnerReference, V1Pod, V1ContainerStatus } from '@kubernetes/client-node';
import { LRUCache } from 'lru-cache';
import { postureOf, type PodPosture } from './pod-posture.js';
import type { PodIdentity } from './resolver.js';

export interface PodRecord {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  /** metadata.resourceVersion, to skip re-applying an unchanged pod. */
  readonly resourceVersion: string;
  readonly workload: string;
  /** Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, StaticPod, Pod, or the owner's kind. */
  readonly workloadKind: string;
  /** Kept for policy export (NetworkPolicy selectors). */
  readonly labels: Readonly<Record<string, string>>;
  /** The pod without a container (sandbox, or a container not yet in the status). */
  readonly identity: PodIdentity;
  /** Container ID → identity, current and previous instances of every container. */
  readonly containers: ReadonlyMap<string, PodIdentity>;
  /**
   * For a static pod's mirror: the UID the kubelet gave the static pod (the
   * config hash), which is what its cgroups are named after; '' otherwise.
   */
  readonly staticUid: string;
  /** Named container ports, for NetworkPolicy named ports (drift). */
  readonly namedPorts: readonly NamedContainerPort[];
  /** Container name → its Localhost seccomp profile path (the container's, else the pod's); others absent (drift). */
  readonly localhostProfiles: ReadonlyMap<string, string>;
  /** The spec's security-relevant facts, for the posture audit (pod-posture.ts). */
  readonly posture?: PodPosture;
}

export interface NamedContainerPort {
  readonly name: string;
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
}

/** The annotation with which the kubelet names the static pod a mirror pod stands for. */
export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

export type PodChangeListener = (uid: string, record: PodRecord | undefined) => void;

export interface Workload {
  readonly name: string;
  readonly kind: string;
}

// CronJob controllers name each Job `<cronjob>-<scheduled time in minutes
// since the epoch>` (8 digits until the year 2160).
const CRONJOB_SUFFIX = /-\d{8,}$/;

/** The controller that owns a pod, following ReplicaSet → Deployment and Job → CronJob by their naming rules. */
export function workloadOf(pod: V1Pod): Workload {
  const name = pod.metadata?.name ?? '';
  const owners = pod.metadata?.ownerReferences ?? [];
  const owner: V1OwnerReference | undefined = owners.find((o) => o.controller === true) ?? owners[0];
  if (owner === undefined) return { name, kind: 'Pod' };

  switch (owner.kind) {
    case 'ReplicaSet': {
      const hash = pod.metadata?.labels?.['pod-template-hash'];
      if (hash !== undefined && hash !== '' && owner.name.endsWith(`-${hash}`)) {
        return { name: owner.name.slice(0, -(hash.length + 1)), kind: 'Deployment' };
      }
      return { name: owner.name, kind: 'ReplicaSet' };
    }
    case 'Job':
      return CRONJOB_SUFFIX.test(owner.name)
        ? { name: owner.name.replace(CRONJOB_SUFFIX, ''), kind: 'CronJob' }
        : { name: owner.name, kind: 'Job' };
    case 'Node': {
      // Mirror pods of static manifests are named `<manifest name>-<node>`.
      const node = pod.spec?.nodeName ?? '';
      const base = node !== '' && name.endsWith(`-${node}`) ? name.slice(0, -(node.length + 1)) : name;
      return { name: base, kind: 'StaticPod' };
    }
    default:
      return { name: owner.name, kind: owner.kind };
  }
}

/** `containerd://<id>`, `cri-o://<id>`, `docker://<id>` → `<id>`; '' when absent. */
export function containerIdOf(statusId: string | undefined): string {
  if (statusId === undefined) return '';
  const at = statusId.indexOf('://');
  return at < 0 ? statusId : statusId.slice(at + 3);
}

function statusesOf(pod: V1Pod): V1ContainerStatus[] {
  const status = pod.status;
  if (status === undefined) return [];
  return [
    ...(status.initContainerStatuses ?? []),
    ...(status.containerStatuses ?? []),
    ...((status.ephemeralContainerStatuses ?? []) as V1ContainerStatus[]),
  ];
}

function namedPortsOf(pod: V1Pod): NamedContainerPort[] {
  const out: NamedContainerPort[] = [];
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    for (const p of c.ports ?? []) {
      if (p.name === undefined || p.name === '') continue;
      const protocol = p.protocol === 'UDP' || p.protocol === 'SCTP' ? p.protocol : 'TCP';
      out.push(Object.freeze({ name: p.name, port: p.containerPort, protocol }));
    }
  }
  return out;
}

function localhostProfilesOf(pod: V1Pod): Map<string, string> {
  const out = new Map<string, string>();
  const podProfile = pod.spec?.securityContext?.seccompProfile;
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    // The container's own profile wins over the pod's, whatever its type.
    const profile = c.securityContext?.seccompProfile ?? podProfile;
    if (profile?.type === 'Localhost' && profile.localhostProfile !== undefined && profile.localhostProfile !== '') out.set(c.name, profile.localhostProfile);
  }
  return out;
}

function sameIdentity(a: PodIdentity, b: PodIdentity): boolean {
  return a.namespace === b.namespace && a.pod === b.pod && a.workload === b.workload && a.container === b.container && a.podUid === b.podUid;
}

/**
 * Builds a pod's record. Identities equal to those of `previous` (the same
 * pod before this change) are reused, so that consumers keying maps by
 * identity object (bound metric children) see one object per pod/container
 * for the pod's whole life.
 */
export function recordOf(pod: V1Pod, previous?: PodRecord): PodRecord | undefined {
  const uid = pod.metadata?.uid;
  const name = pod.metadata?.name;
  if (uid === undefined || uid === '' || name === undefined || name === '') return undefined;
  const namespace = pod.metadata?.namespace ?? '';
  const workload = workloadOf(pod);
  const reuse = (fresh: PodIdentity): PodIdentity => {
    if (previous === undefined) return Object.freeze(fresh);
    if (sameIdentity(previous.identity, fresh)) return previous.identity;
    for (const old of previous.containers.values()) if (sameIdentity(old, fresh)) return old;
    return Object.freeze(fresh);
  };
  const identity = reuse({ namespace, pod: name, workload: workload.name, container: '', podUid: uid });
  const containers = new Map<string, PodIdentity>();
  for (const status of statusesOf(pod)) {
    const containerIdentity = reuse({ ...identity, container: status.name });
    // The previous instance of a restarted container may still have events
    // in flight; they belong to the same container of the same pod.
    for (const raw of [status.containerID, status.lastState?.terminated?.containerID]) {
      const id = containerIdOf(raw);
      if (id !== '') containers.set(id, containerIdentity);
    }
  }
  return {
    uid,
    namespace,
    name,
    resourceVersion: pod.metadata?.resourceVersion ?? '',
    workload: workload.name,
    workloadKind: workload.kind,
    labels: Object.freeze({ ...(pod.metadata?.labels ?? {}) }),
    identity,
    containers,
    staticUid: pod.metadata?.annotations?.[MIRROR_ANNOTATION] ?? '',
    namedPorts: namedPortsOf(pod),
    localhostProfiles: localhostProfilesOf(pod),
    posture: postureOf(pod),
  };
}

export interface PodIndexOptions {
  /** How long a removed pod's events still in flight may be attributed to it (0: not at all); default 60 s. */
  departedMs?: number | undefined;
  /** Milliseconds, for the departed entries' lifetime (tests). */
  now?: () => number;
  /** The kernel's event clock (CLOCK_MONOTONIC ns, what bpf_ktime_get_ns reads), for the time of a removal (tests). */
  monotonicNs?: () => number;
}

/** A removed pod, kept a while for its events that were produced before the removal and read after it. */
interface Departed {
  readonly record: PodRecord;
  /** When the index learned of the removal, on the kernel's event clock. */
  readonly removedAtNs: number;
}

export class PodIndex {
  private readonly pods = new Map<string, PodRecord>();
  private readonly containers = new Map<string, PodIdentity>();
  /** A static pod's UID (its cgroups') → its mirror pod's UID. */
  private readonly staticUids = new Map<string, string>();
  private readonly listeners: PodChangeListener[] = [];
  /**
   * Removed pods by UID (and a static pod's own UID): a pod deleted while
   * the daemon was behind (descheduled, stopped, a flood in the rings) has
   * events in the kernel's rings that it produced before the DELETED
   * arrived. Those are still its own (departedBefore); what it does after
   * the removal is no one's.
   */
  private readonly departed: LRUCache<string, Departed> | undefined;
  private readonly monotonicNs: () => number;
  /** How long a removed pod answers for its in-flight events (0: not at all). */
  readonly departedMs: number;

  constructor(options: PodIndexOptions = {}) {
    const departedMs = options.departedMs ?? 60_000;
    this.departedMs = Math.max(0, departedMs);
    this.departed =
      departedMs > 0
        ? new LRUCache<string, Departed>({ max: 4096, ttl: departedMs, ttlAutopurge: false, ...(options.now === undefined ? {} : { perf: { now: options.now }, ttlResolution: 0 }) })
        : undefined;
    this.monotonicNs = options.monotonicNs ?? (() => Number(process.hrtime.bigint()));
  }

  get size(): number {
    return this.pods.size;
  }

  /** Removed pods still kept for their in-flight events (expired ones may linger until the next removal). */
  get departedSize(): number {
    return this.departed?.size ?? 0;
  }

  /** Called after every change, with the pod's UID and its new record (undefined when removed). */
  onChange(listener: PodChangeListener): void {
    this.listeners.push(listener);
  }

  byContainerId(containerId: string): PodIdentity | undefined {
    return this.containers.get(containerId);
  }

  /** By the pod's UID, or by a static pod's own UID (the one its cgroups name) for its mirror. */
  byUid(uid: string): PodRecord | undefined {
    const record = this.pods.get(uid);
    if (record !== undefined || this.staticUids.size === 0) return record;
    const mirror = this.staticUids.get(uid);
    return mirror === undefined ? undefined : this.pods.get(mirror);
  }

  /**
   * A pod removed from the index after the kernel time eventTimeNs (its
   * event was produced while the pod still existed for the daemon), within
   * the departed window; undefined otherwise.
   */
  departedBefore(uid: string, eventTimeNs: number): PodRecord | undefined {
    const gone = this.departed?.get(uid);
    return gone !== undefined && eventTimeNs < gone.removedAtNs ? gone.record : undefined;
  }

  /** Whether a pod with this UID was removed within the departed window (it will not be added again). */
  isDeparted(uid: string): boolean {
    return this.departed?.has(uid) ?? false;
  }

  byName(namespace: string, name: string): PodRecord | undefined {
    for (const record of this.pods.values()) {
      if (record.namespace === namespace && record.name === name) return record;
    }
    return undefined;
  }

  all(): IterableIterator<PodRecord> {
    return this.pods.values();
  }

  /** Adds or replaces a pod; container IDs it no longer lists are forgotten. Same resourceVersion: no-op. */
  upsert(pod: V1Pod): PodRecord | undefined {
    const known = pod.metadata?.uid === undefined ? undefined : this.pods.get(pod.metadata.uid);
    const version = pod.metadata?.resourceVersion ?? '';
    // A re-list repeats every pod; unchanged ones need no work and no purge.
    if (known !== undefined && version !== '' && known.resourceVersion === version) return known;
    const record = recordOf(pod, known);
    if (record === undefined) return undefined;
    const previous = this.pods.get(record.uid);
    this.dropContainers(previous);
    if (previous !== undefined && previous.staticUid !== '' && previous.staticUid !== record.staticUid) this.staticUids.delete(previous.staticUid);
    this.pods.set(record.uid, record);
    this.departed?.delete(record.uid);
    for (const [id, identity] of record.containers) this.containers.set(id, identity);
    if (record.staticUid !== '') this.staticUids.set(record.staticUid, record.uid);
    this.notify(record.uid, record);
    return record;
  }

  /** Removes a pod by object or UID; returns whether it was known. */
  remove(podOrUid: V1Pod | string): boolean {
    const uid = typeof podOrUid === 'string' ? podOrUid : podOrUid.metadata?.uid;
    if (uid === undefined) return false;
    const record = this.pods.get(uid);
    if (record === undefined) return false;
    this.dropContainers(record);
    if (record.staticUid !== '' && this.staticUids.get(record.staticUid) === uid) this.staticUids.delete(record.staticUid);
    this.pods.delete(uid);
    if (this.departed !== undefined) {
      // Expired entries are not dropped by reads (has() leaves them) and
      // nothing asks for a long-gone UID again: without this the LRU held
      // every deleted pod's whole record up to its 4096 bound (the soak's
      // RSS climbed ~2 KiB per churned pod).
      this.departed.purgeStale();
      const gone: Departed = { record, removedAtNs: this.monotonicNs() };
      this.departed.set(uid, gone);
      if (record.staticUid !== '') this.departed.set(record.staticUid, gone);
    }
    this.notify(uid, undefined);
    return true;
  }

  /** Makes the index hold exactly these pods (a full list from the API server). */
  replace(pods: readonly V1Pod[]): void {
    const seen = new Set<string>();
    for (const pod of pods) {
      const record = this.upsert(pod);
      if (record !== undefined) seen.add(record.uid);
    }
    for (const uid of [...this.pods.keys()]) {
      if (!seen.has(uid)) this.remove(uid);
    }
  }

  private dropContainers(record: PodRecord | undefined): void {
    if (record === undefined) return;
    for (const id of record.containers.keys()) {
      // Only if it still points at this pod (IDs are unique, but be safe).
      if (this.containers.get(id)?.podUid === record.uid) this.containers.delete(id);
    }
  }

  private notify(uid: string, record: PodRecord | undefined): void {
    for (const listener of this.listeners) listener(uid, record);
  }
}
