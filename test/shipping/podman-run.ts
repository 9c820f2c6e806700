// A DaemonSet's pod, as `podman run` flags: the container's securityContext
// (user, capabilities, read-only root, no privilege escalation, seccomp),
// hostPID, the volumes and their mounts, the resource limits and the env, so
// that the image test runs the image as the manifest would. Anything in the
// manifest this does not know how to carry over is an error naming it, so
// the test cannot drift from the manifest unnoticed.
//
// What it leaves to its caller, on purpose: the network (the test runs on
// the host's, where its test API server and pod traffic are; a network
// namespace does not bear on what the capabilities allow: capable() checks
// the initial user namespace, and cgroup BPF hooks are per cgroup) and the
// service account volume the kubelet adds to every pod.
import type { IDaemonSet } from 'kubernetes-models/apps/v1'
import type { IContainer, IPodSpec } from 'kubernetes-models/v1'

export interface PodRunOptions {
  /** The node name the downward API gives (spec.nodeName). */
  nodeName: string
  /** Capabilities to run with instead of the manifest's add list (to remove one). */
  capabilities?: readonly string[]
}

export interface PodRun {
  /** `podman run` flags (without the image and command). */
  flags: string[]
  /** The container's args, as in the manifest. */
  args: string[]
  /** The manifest's capabilities.add. */
  capabilities: string[]
  /** hostPath directories of type DirectoryOrCreate: the caller makes them, as the kubelet would. */
  hostDirs: string[]
}

const KNOWN_CONTAINER_SECURITY = new Set([
  'runAsUser', 'runAsGroup', 'privileged', 'allowPrivilegeEscalation', 'readOnlyRootFilesystem', 'seccompProfile', 'capabilities',
])
const KNOWN_POD_FIELDS = new Set([
  'serviceAccountName', 'hostPID', 'nodeSelector', 'tolerations', 'terminationGracePeriodSeconds', 'containers', 'volumes',
  'priorityClassName', 'automountServiceAccountToken',
])

/** Kubernetes quantities as podman takes them: bytes for memory, CPUs as a decimal. */
export function memoryBytes(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(q))
  if (!m) throw new Error(`memory quantity ${q} not understood`)
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2] ?? ''] ?? 1
  return Math.round(Number(m[1]) * unit)
}

export function cpus(q: string | number): string {
  const s = String(q)
  return s.endsWith('m') ? String(Number(s.slice(0, -1)) / 1000) : s
}

export function kubepulseContainerOf(ds: IDaemonSet): { pod: IPodSpec; container: IContainer } {
  const pod = ds.spec?.template.spec
  const container = pod?.containers.find(c => c.name === 'kubepulse')
  if (!pod || !container) throw new Error('DaemonSet has no container named kubepulse')
  if (pod.containers.length !== 1 || pod.initContainers?.length) throw new Error('the pod has other containers: carry them over too')
  return { pod, container }
}

export function podRun(ds: IDaemonSet, options: PodRunOptions): PodRun {
  const { pod, container: c } = kubepulseContainerOf(ds)
  for (const key of Object.keys(pod)) if (!KNOWN_POD_FIELDS.has(key)) throw new Error(`pod spec field ${key} is not carried over to podman run`)
  const sc = c.securityContext ?? {}
  for (const key of Object.keys(sc)) if (!KNOWN_CONTAINER_SECURITY.has(key)) throw new Error(`securityContext.${key} is not carried over to podman run`)
  const flags: string[] = []

  if (pod.hostPID) flags.push('--pid', 'host')
  if (sc.privileged) flags.push('--privileged')
  flags.push('--user', `${sc.runAsUser ?? 0}:${sc.runAsGroup ?? sc.runAsUser ?? 0}`)
  // podman's --read-only adds writable tmpfs at /tmp, /run and /var/tmp by
  // default; Kubernetes does not, so neither does this.
  if (sc.readOnlyRootFilesystem) flags.push('--read-only', '--read-only-tmpfs=false')
  if (sc.allowPrivilegeEscalation === false) flags.push('--security-opt', 'no-new-privileges')
  const seccomp = sc.seccompProfile?.type
  if (seccomp === 'Unconfined') flags.push('--security-opt', 'seccomp=unconfined')
  else if (seccomp !== undefined && seccomp !== 'RuntimeDefault') throw new Error(`seccompProfile ${seccomp} is not carried over`)
  const drop = sc.capabilities?.drop ?? []
  const manifestCaps = [...(sc.capabilities?.add ?? [])]
  if (drop.length > 0 && !(drop.length === 1 && drop[0] === 'ALL')) throw new Error(`capabilities.drop ${drop.join(',')}: only ALL is carried over`)
  if (drop[0] === 'ALL') flags.push('--cap-drop', 'all')
  for (const cap of options.capabilities ?? manifestCaps) flags.push('--cap-add', `CAP_${cap}`)

  const hostDirs: string[] = []
  const volumes = new Map((pod.volumes ?? []).map(v => [v.name, v]))
  for (const m of c.volumeMounts ?? []) {
    const v = volumes.get(m.name)
    if (!v) throw new Error(`volumeMount ${m.name} has no volume`)
    if (m.subPath || m.mountPropagation) throw new Error(`volumeMount ${m.name}: subPath/mountPropagation are not carried over`)
    if (v.hostPath) {
      flags.push('--volume', `${v.hostPath.path}:${m.mountPath}:${m.readOnly ? 'ro' : 'rw'}`)
      // The kubelet creates these before the container starts; podman does not.
      if (v.hostPath.type === 'DirectoryOrCreate') hostDirs.push(v.hostPath.path)
    }
    else if (v.emptyDir) {
      const size = v.emptyDir.sizeLimit === undefined ? '' : `,tmpfs-size=${memoryBytes(v.emptyDir.sizeLimit)}`
      flags.push('--mount', `type=tmpfs,destination=${m.mountPath}${size}`)
    } else throw new Error(`volume ${m.name}: only hostPath and emptyDir are carried over`)
  }

  const limits = c.resources?.limits ?? {}
  if (limits.memory !== undefined) flags.push('--memory', String(memoryBytes(limits.memory)))
  if (limits.cpu !== undefined) flags.push('--cpus', cpus(limits.cpu))

  for (const e of c.env ?? []) {
    if (e.value !== undefined) flags.push('--env', `${e.name}=${e.value}`)
    else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') flags.push('--env', `${e.name}=${options.nodeName}`)
    else throw new Error(`env ${e.name}: only values and spec.nodeName are carried over`)
  }
  if (c.command?.length) throw new Error('container command overrides the image entrypoint: carry it over')
  return { flags, args: [...(c.args ?? [])], capabilities: manifestCaps, hostDirs }
}
