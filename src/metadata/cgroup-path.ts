// Parsing of cgroup paths into the pod and container they belong to.
//
// Kubelet names a pod's cgroups after its QoS class and UID, and the container
// runtime names each container's cgroup after the container ID. The spelling
// depends on the cgroup driver (systemd or cgroupfs), the runtime (containerd,
// CRI-O, Docker) and on how deep the node's kubelet itself is nested (kind,
// k3s, minikube, Docker-in-Docker). Everything here is pure string work, so
// it is table-tested over real-world paths.
//
//   systemd:  /kubepods.slice/kubepods-burstable.slice/
//               kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope
//   cgroupfs: /kubepods/burstable/pod<uid>/<id>
//   guaranteed pods have no QoS level: /kubepods.slice/kubepods-pod<uid>.slice/…
//
// The pod level is recognised by its own name, whatever lies above it, which
// is what makes nested kubelets (`/kubelet.slice/kubelet-kubepods.slice/…`,
// `/docker/<id>/kubepods/…`) and paths seen from inside a cgroup namespace
// (`/../../kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/…`)
// parse.

export type ContainerRuntime = 'containerd' | 'cri-o' | 'docker' | 'unknown';
export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';

export interface CgroupInfo {
  /** Container ID (64 hex), '' for pod-level cgroups and CRI-O's conmon. */
  readonly containerId: string;
  /** Pod UID with dashes (systemd's underscores undone). Never ''. */
  readonly podUid: string;
  /** From the scope prefix; 'unknown' for the cgroupfs driver, which names none. */
  readonly runtime: ContainerRuntime;
  readonly qos: QosClass;
}

/** One parsed `/proc/<pid>/cgroup` file. */
export interface ProcCgroup {
  /** Path of the cgroup v2 (`0::`) line, if the file has one. */
  readonly unifiedPath: string | undefined;
  /** The pod the process belongs to, from the most telling line. */
  readonly pod: CgroupInfo | undefined;
  /** Which kind of line `pod` came from ('' when no line names a pod). */
  readonly podSource: 'v2' | 'v1' | '';
}

const CONTAINER_ID = /^[0-9a-f]{64}$/;
// Pod UIDs are RFC 4122 UUIDs for API pods; static pods get 32 hex digits
// without dashes. systemd slice names carry `_` where the UID has `-`.
const POD_UID = /^[0-9a-f]{8}[-_]?[0-9a-f]{4}[-_]?[0-9a-f]{4}[-_]?[0-9a-f]{4}[-_]?[0-9a-f]{12}$/;

const QOS_NAMES: Record<string, QosClass> = {
  burstable: 'burstable',
  besteffort: 'besteffort',
};

// systemd scope prefixes of container cgroups, longest first so that
// `crio-conmon-` is seen before `crio-`.
const SCOPE_PREFIXES: ReadonlyArray<readonly [string, ContainerRuntime | 'conmon']> = [
  ['cri-containerd-', 'containerd'],
  ['crio-conmon-', 'conmon'],
  ['crio-', 'cri-o'],
  ['docker-', 'docker'],
  ['containerd-', 'containerd'],
];

// A systemd pod slice names its QoS class and its kubepods ancestry itself:
// `kubepods-burstable-pod<uid_>.slice`, `kubepods-pod<uid_>.slice`, kind's
// `kubelet-kubepods-besteffort-pod<uid_>.slice`.
const SYSTEMD_POD_SLICE = /kubepods(?:-(burstable|besteffort))?-pod([0-9a-f_-]+)\.slice$/;

interface PodLevel {
  readonly podUid: string;
  readonly qos: QosClass;
}

function podLevel(segments: readonly string[], at: number): PodLevel | undefined {
  const segment = segments[at]!;
  const systemd = SYSTEMD_POD_SLICE.exec(segment);
  if (systemd !== null) {
    const uid = systemd[2]!;
    if (!POD_UID.test(uid)) return undefined;
    return { podUid: uid.replaceAll('_', '-'), qos: systemd[1] === undefined ? 'guaranteed' : QOS_NAMES[systemd[1]]! };
  }
  // cgroupfs: `kubepods/pod<uid>` or `kubepods/<qos>/pod<uid>`. Inside a
  // cgroup namespace the kubepods level may be shown as `..`.
  if (!segment.startsWith('pod') || at === 0) return undefined;
  const uid = segment.slice(3);
  if (!POD_UID.test(uid)) return undefined;
  const parent = segments[at - 1]!;
  if (parent === 'kubepods' || parent === '..') return { podUid: uid.replaceAll('_', '-'), qos: 'guaranteed' };
  const qos = QOS_NAMES[parent];
  if (qos === undefined) return undefined;
  const grandparent = at >= 2 ? segments[at - 2] : undefined;
  if (grandparent !== 'kubepods' && grandparent !== '..') return undefined;
  return { podUid: uid.replaceAll('_', '-'), qos };
}

function containerFrom(segment: string): { id: string; runtime: ContainerRuntime | 'conmon' } | undefined {
  if (CONTAINER_ID.test(segment)) return { id: segment, runtime: 'unknown' };
  if (!segment.endsWith('.scope')) return undefined;
  for (const [prefix, runtime] of SCOPE_PREFIXES) {
    if (segment.startsWith(prefix)) {
      const id = segment.slice(prefix.length, -'.scope'.length);
      return CONTAINER_ID.test(id) ? { id, runtime } : undefined;
    }
  }
  return undefined;
}

/**
 * Parses one cgroup path (as found in `/proc/<pid>/cgroup` or below a cgroup
 * mount point) into the pod and container it belongs to. Returns undefined
 * for anything that is not inside a pod: host services, the kubepods and QoS
 * levels themselves, non-Kubernetes containers.
 */
export function parseCgroupPath(path: string): CgroupInfo | undefined {
  const segments = path.split('/');
  // The outermost pod wins: a kubelet nested inside a pod (kind in a CI pod)
  // runs pods this node's API server does not know; their processes belong,
  // from this node's point of view, to the outer pod.
  for (let at = 0; at < segments.length; at++) {
    const pod = podLevel(segments, at);
    if (pod === undefined) continue;
    // Deeper levels than the container (crun's `container` leaf, a systemd
    // running inside the container) still belong to that container.
    const next = segments[at + 1];
    const container = next === undefined ? undefined : containerFrom(next);
    if (container === undefined || container.runtime === 'conmon') {
      // The pod's own slice, or CRI-O's conmon (a monitor process that lives
      // in the pod's slice but is no container of it).
      const runtime: ContainerRuntime = container?.runtime === 'conmon' ? 'cri-o' : 'unknown';
      return { containerId: '', podUid: pod.podUid, runtime, qos: pod.qos };
    }
    return { containerId: container.id, podUid: pod.podUid, runtime: container.runtime, qos: pod.qos };
  }
  return undefined;
}

/**
 * Parses the content of `/proc/<pid>/cgroup`. Lines are
 * `hierarchy-id:controllers:path`; cgroup v2 has a single `0::<path>` line,
 * v1 one line per hierarchy, hybrid systems both. Malformed lines are skipped.
 *
 * The pod comes from the v2 line when that names one; otherwise from the v1
 * lines (`name=systemd` first, then the others in file order), which is where
 * hybrid systems with the cgroupfs driver keep it. Lines naming a container
 * win over lines naming only a pod.
 */
export function parseProcCgroup(content: string): ProcCgroup {
  let unifiedPath: string | undefined;
  let v2: CgroupInfo | undefined;
  let systemdV1: CgroupInfo | undefined;
  let otherV1: CgroupInfo | undefined;

  for (const rawLine of content.split('\n')) {
    const line = rawLine.trim();
    const first = line.indexOf(':');
    if (first <= 0) continue;
    const second = line.indexOf(':', first + 1);
    if (second < 0) continue;
    const hierarchy = line.slice(0, first);
    if (!/^\d+$/.test(hierarchy)) continue;
    const controllers = line.slice(first + 1, second);
    let path = line.slice(second + 1);
    if (path.endsWith(' (deleted)')) path = path.slice(0, -' (deleted)'.length);
    if (!path.startsWith('/')) continue;

    const info = parseCgroupPath(path);
    if (hierarchy === '0' && controllers === '') {
      unifiedPath = path;
      v2 = info;
    } else if (controllers === 'name=systemd') {
      systemdV1 = better(systemdV1, info);
    } else {
      otherV1 = better(otherV1, info);
    }
  }

  const v1 = better(systemdV1, otherV1);
  if (v2 !== undefined && better(v2, v1) === v2) return { unifiedPath, pod: v2, podSource: 'v2' };
  if (v1 !== undefined) return { unifiedPath, pod: v1, podSource: 'v1' };
  return { unifiedPath, pod: undefined, podSource: '' };
}

function better(current: CgroupInfo | undefined, candidate: CgroupInfo | undefined): CgroupInfo | undefined {
  if (current === undefined) return candidate;
  if (candidate === undefined) return current;
  return current.containerId === '' && candidate.containerId !== '' ? candidate : current;
}
