// Checks shared by the deployments/ test and the chart test: both must pass
// them, whatever values the chart is rendered with.
import type { Test } from 'tap'
import type { IDaemonSet } from 'kubernetes-models/apps/v1'
import type { IContainer, IService } from 'kubernetes-models/v1'
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'
import { daemonFlags, daemonSubcommands } from './daemon-contract.js'

/** Each shown needed by test/shipping/image.test.ts (the image run without it fails, naming it). */
export const requiredCapabilities = ['BPF', 'PERFMON', 'NET_ADMIN']

/** Host paths the daemon reads, all mounted read-only. */
export const requiredHostPaths = ['/proc', '/sys/fs/cgroup', '/sys/kernel/btf', '/sys/kernel/tracing']

export function kubepulseContainer(ds: IDaemonSet): IContainer {
  const containers = ds.spec?.template.spec?.containers ?? []
  const c = containers.find(c => c.name === 'kubepulse')
  if (!c) throw new Error('DaemonSet has no container named kubepulse')
  return c
}

/** `--name=value` args as a map; throws on anything else after the subcommand. */
export function parseArgs(args: readonly string[]): { subcommand: string; flags: Map<string, string> } {
  const [first, ...rest] = args
  const subcommand = first !== undefined && !first.startsWith('-') ? first : 'run'
  const flagArgs = first !== undefined && !first.startsWith('-') ? rest : args
  const flags = new Map<string, string>()
  for (const arg of flagArgs) {
    const m = /^--([a-z.-]+)=(.*)$/.exec(arg)
    if (!m) throw new Error(`argument ${JSON.stringify(arg)} is not --flag=value`)
    flags.set(m[1]!, m[2]!)
  }
  return { subcommand, flags }
}

export function containerPort(c: IContainer, name: string): number | undefined {
  return c.ports?.find(p => p.name === name)?.containerPort
}

export function checkDaemonSet(t: Test, ds: IDaemonSet): void {
  const pod = ds.spec?.template.spec
  if (!pod) throw new Error('DaemonSet without pod spec')
  const c = kubepulseContainer(ds)

  t.equal(pod.hostPID, true, 'hostPID: reads every process /proc/<pid>/cgroup')
  t.notOk(pod.hostNetwork, 'no hostNetwork: probes are global, metrics go out on the pod IP')
  const podLabels = ds.spec?.template.metadata?.labels ?? {}
  for (const [k, v] of Object.entries(ds.spec?.selector.matchLabels ?? {})) {
    t.equal(podLabels[k], v, `selector label ${k} is on the pod template`)
  }
  t.ok(
    pod.tolerations?.some(tol => tol.operator === 'Exists' && !tol.key && !tol.effect),
    'tolerates every taint',
  )

  const sc = c.securityContext ?? {}
  t.not(sc.privileged, true, 'not privileged by default')
  t.equal(sc.readOnlyRootFilesystem, true, 'read-only root filesystem')
  t.same(sc.capabilities?.drop, ['ALL'], 'drops all capabilities')
  t.same([...(sc.capabilities?.add ?? [])].sort(), [...requiredCapabilities].sort(), 'adds exactly the capabilities it needs')
  t.notOk(sc.capabilities?.add?.includes('SYS_ADMIN'), 'no CAP_SYS_ADMIN by default')

  t.same(
    c.env?.find(e => e.name === 'NODE_NAME')?.valueFrom,
    { fieldRef: { fieldPath: 'spec.nodeName' } },
    'NODE_NAME from the downward API',
  )

  const port = containerPort(c, 'metrics')
  t.type(port, 'number', 'a container port named metrics')
  const { subcommand, flags } = parseArgs(c.args ?? [])
  t.ok(daemonSubcommands.has(subcommand), `subcommand ${subcommand} exists`)
  for (const name of flags.keys()) t.ok(daemonFlags.has(name), `--${name} is a daemon flag`)
  t.equal(flags.get('port'), String(port), '--port matches the container port')

  for (const [probeName, path] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']] as const) {
    const probe = c[probeName]?.httpGet
    t.equal(probe?.path, path, `${probeName} path`)
    t.ok(probe?.port === 'metrics' || probe?.port === port, `${probeName} on the metrics port`)
  }

  const volumes = new Map((pod.volumes ?? []).map(v => [v.name, v]))
  const mountOfHostPath = (hostPath: string) => {
    const vol = [...volumes.values()].find(v => v.hostPath?.path === hostPath)
    return vol && c.volumeMounts?.find(m => m.name === vol.name)
  }
  for (const hostPath of requiredHostPaths) {
    const mount = mountOfHostPath(hostPath)
    t.ok(mount, `host ${hostPath} is mounted`)
    t.equal(mount?.readOnly, true, `host ${hostPath} is mounted read-only`)
  }
  for (const m of c.volumeMounts ?? []) {
    if (volumes.get(m.name)?.hostPath) t.equal(m.readOnly, true, `hostPath mount ${m.mountPath} is read-only`)
  }
  t.notOk(mountOfHostPath('/sys/fs/bpf'), 'no bpffs: nothing is pinned')
  t.equal(flags.get('path.procfs'), mountOfHostPath('/proc')?.mountPath, '--path.procfs points at the host /proc mount')
  t.equal(flags.get('path.cgroupfs'), mountOfHostPath('/sys/fs/cgroup')?.mountPath, '--path.cgroupfs points at the host cgroup mount')
  // libbpf has fixed paths for these two, so they go where it looks.
  t.equal(mountOfHostPath('/sys/kernel/btf')?.mountPath, '/sys/kernel/btf')
  t.equal(mountOfHostPath('/sys/kernel/tracing')?.mountPath, '/sys/kernel/tracing')

  for (const kind of ['requests', 'limits'] as const) {
    t.ok(c.resources?.[kind]?.cpu !== undefined || kind === 'limits', `cpu ${kind}`)
    t.ok(c.resources?.[kind]?.memory, `memory ${kind}`)
  }
}

export function checkServiceFits(t: Test, svc: IService, ds: IDaemonSet): void {
  const c = kubepulseContainer(ds)
  t.same(svc.spec?.selector, ds.spec?.selector.matchLabels, 'Service selects the DaemonSet pods')
  t.equal(svc.metadata?.namespace, ds.metadata?.namespace)
  const port = svc.spec?.ports?.find(p => p.name === 'metrics')
  t.ok(port, 'Service port named metrics')
  t.equal(port?.targetPort, 'metrics', 'targets the container port by name')
  t.equal(port?.port, containerPort(c, 'metrics'), 'same number as the container port')
}

export function checkServiceMonitorFits(t: Test, sm: IServiceMonitor, svc: IService): void {
  const svcLabels = svc.metadata?.labels ?? {}
  for (const [k, v] of Object.entries(sm.spec.selector.matchLabels ?? {})) {
    t.equal(svcLabels[k], v, `ServiceMonitor selector ${k} matches the Service`)
  }
  t.ok(sm.spec.namespaceSelector?.matchNames?.includes(svc.metadata?.namespace ?? ''), 'looks in the Service namespace')
  const endpoints = sm.spec.endpoints ?? []
  t.equal(endpoints.length, 1)
  const ep = endpoints[0]
  t.equal(ep?.port, 'metrics', 'scrapes the metrics port')
  t.equal(ep?.path ?? '/metrics', '/metrics')
  t.equal(ep?.honorLabels, true, "honorLabels keeps the daemon's namespace/pod labels")
  t.ok(sm.spec.jobLabel, 'jobLabel set')
  t.equal(svcLabels[sm.spec.jobLabel ?? ''], 'kubepulse', 'job="kubepulse", as the alerting rules expect')
}
