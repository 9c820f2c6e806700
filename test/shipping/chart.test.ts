// charts/kubepulse renders (with test/shipping/helm-lite.ts, as helm is not
// installed here) to objects that validate against the schemas and, with
// default values, are deployments/ exactly - apart from the Namespace, which
// `helm install --create-namespace` makes, and Helm's own labels. Values
// reach the objects they should, and the toggles toggle.
//
// With helm: helm template kubepulse charts/kubepulse --namespace kubepulse
//            helm install kubepulse charts/kubepulse --namespace kubepulse --create-namespace
import t from 'tap'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import type { IDaemonSet } from 'kubernetes-models/apps/v1'
import type { IService } from 'kubernetes-models/v1'
import type { IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1'
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'
import { renderChart, type RenderOptions } from './helm-lite.js'
import { loadManifestDir, objectKey, parseYamlDocs, repoRoot, validateObject, type KubeObject } from './k8s.js'
import { checkDaemonSet, checkServiceFits, checkServiceMonitorFits, kubepulseContainer, parseArgs } from './workload-checks.js'

const chartDir = join(repoRoot, 'charts', 'kubepulse')

function render(opts: RenderOptions = {}): KubeObject[] {
  return [...renderChart(chartDir, opts)].flatMap(([file, text]) => parseYamlDocs(text, file))
}

function one<T>(objects: KubeObject[], kind: string): T & KubeObject {
  const found = objects.filter(o => o.kind === kind)
  if (found.length !== 1) throw new Error(`expected one ${kind}, rendered ${found.length}`)
  return found[0] as T & KubeObject
}

const helmOnlyLabels = ['helm.sh/chart', 'app.kubernetes.io/managed-by']

function withoutHelmLabels(o: KubeObject): KubeObject {
  const copy = structuredClone(o)
  for (const l of helmOnlyLabels) delete copy.metadata.labels?.[l]
  return copy
}

t.test('default values render deployments/ (minus the Namespace)', async t => {
  const rendered = render()
  const plain = loadManifestDir(join(repoRoot, 'deployments'))
    .map(o => o.object)
    .filter(o => o.kind !== 'Namespace')
  t.same(rendered.map(objectKey).sort(), plain.map(objectKey).sort(), 'same objects')
  for (const o of rendered) {
    t.doesNotThrow(() => validateObject(o), `${objectKey(o)} validates`)
    for (const l of helmOnlyLabels) t.ok(o.metadata.labels?.[l], `${objectKey(o)} has ${l}`)
    const twin = plain.find(p => objectKey(p) === objectKey(o))
    t.strictSame(withoutHelmLabels(o), twin, `${objectKey(o)} equals deployments/`)
  }
})

t.test('the shared DaemonSet/Service/ServiceMonitor checks pass on the chart', async t => {
  const objects = render()
  const ds = one<IDaemonSet>(objects, 'DaemonSet')
  const svc = one<IService>(objects, 'Service')
  checkDaemonSet(t, ds)
  checkServiceFits(t, svc, ds)
  checkServiceMonitorFits(t, one<IServiceMonitor>(objects, 'ServiceMonitor'), svc)
})

t.test('the PrometheusRule carries rules/kubepulse-alerts.yaml', async t => {
  const rule = one<KubeObject & { spec: unknown }>(render(), 'PrometheusRule')
  t.strictSame(rule.spec, parse(readFileSync(join(repoRoot, 'rules', 'kubepulse-alerts.yaml'), 'utf8')))
})

t.test('ServiceMonitor and PrometheusRule switch off, and take extra labels', async t => {
  const kinds = (opts: RenderOptions) => render(opts).map(o => o.kind)
  t.notOk(kinds({ values: { serviceMonitor: { enabled: false } } }).includes('ServiceMonitor'))
  t.notOk(kinds({ values: { prometheusRule: { enabled: false } } }).includes('PrometheusRule'))
  const objects = render({
    values: { serviceMonitor: { labels: { release: 'prom' }, interval: '15s' }, prometheusRule: { labels: { release: 'prom' } } },
  })
  const sm = one<IServiceMonitor>(objects, 'ServiceMonitor')
  t.equal(sm.metadata?.labels?.release, 'prom')
  t.equal(sm.spec.endpoints?.[0]?.interval, '15s')
  t.equal(one<KubeObject>(objects, 'PrometheusRule').metadata.labels?.release, 'prom')
})

t.test('values reach the DaemonSet and Service', async t => {
  const objects = render({
    values: {
      image: { repository: 'registry.example/kp', tag: 'dev' },
      port: 9102,
      logLevel: 'debug',
      ringBufferBytes: 16777216,
      dns: { timeout: '2s', maxDomains: 200 },
      extraArgs: ['--attach=tracepoint', '--dns-ports=53,5353'],
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'infra', effect: 'NoSchedule' }],
      nodeSelector: { 'kubernetes.io/arch': 'amd64' },
      priorityClassName: 'system-node-critical',
      resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
      tracefsPath: '/sys/kernel/debug',
      kubeletSeccompPath: '/var/lib/k0s/kubelet/seccomp',
      podAnnotations: { 'example.com/a': 'b' },
      audit: { checks: '-image_tag', exemptNamespaces: ['kube-system', 'batch'], allowedRegistries: ['ghcr.io/acme', 'registry.k8s.io'], ignoreOwnChecks: ['host_path', 'runs_as_root'] },
    },
  })
  for (const o of objects) t.doesNotThrow(() => validateObject(o), `${objectKey(o)} validates`)
  const ds = one<IDaemonSet>(objects, 'DaemonSet')
  const pod = ds.spec!.template.spec!
  const c = kubepulseContainer(ds)
  t.equal(c.image, 'registry.example/kp:dev')
  t.equal(c.ports?.[0]?.containerPort, 9102)
  const { flags } = parseArgs(c.args ?? [])
  t.same(Object.fromEntries(flags), {
    port: '9102',
    'log-level': 'debug',
    'path.procfs': '/host/proc',
    'path.cgroupfs': '/host/sys/fs/cgroup',
    'path.seccomp': '/host/var/lib/k0s/kubelet/seccomp',
    'ring-buffer-bytes': '16777216',
    'dns-timeout': '2s',
    'dns-max-domains': '200',
    attach: 'tracepoint',
    'dns-ports': '53,5353',
    'audit.checks': '-image_tag',
    'audit.exempt-namespaces': 'kube-system,batch',
    'audit.allowed-registries': 'ghcr.io/acme,registry.k8s.io',
  })
  t.same(pod.tolerations, [{ key: 'dedicated', operator: 'Equal', value: 'infra', effect: 'NoSchedule' }])
  t.same(pod.nodeSelector, { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux' }, 'maps merge like helm -f')
  t.equal(pod.priorityClassName, 'system-node-critical')
  t.same(c.resources, { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } })
  t.equal(pod.volumes?.find(v => v.name === 'tracefs')?.hostPath?.path, '/sys/kernel/debug')
  t.same(pod.volumes?.find(v => v.name === 'kubelet-seccomp')?.hostPath, { path: '/var/lib/k0s/kubelet/seccomp', type: 'DirectoryOrCreate' }, 'a kubelet with another root')
  t.same(c.volumeMounts?.find(m => m.name === 'kubelet-seccomp'), { name: 'kubelet-seccomp', mountPath: '/host/var/lib/k0s/kubelet/seccomp', readOnly: true })
  t.equal(c.volumeMounts?.find(m => m.name === 'tracefs')?.mountPath, '/sys/kernel/debug')
  t.same(ds.spec?.template.metadata?.annotations, { 'kubepulse.io/audit-ignore': 'host_path,runs_as_root', 'example.com/a': 'b' })
  checkServiceFits(t, one<IService>(objects, 'Service'), ds)
})

t.test('audit.ignoreOwnChecks: [] audits KubePulse\'s own pod like any other', async t => {
  const ds = one<IDaemonSet>(render({ values: { audit: { ignoreOwnChecks: [] } } }), 'DaemonSet')
  t.equal(ds.spec?.template.metadata?.annotations, undefined)
  t.notOk((kubepulseContainer(ds).args ?? []).some(a => a.startsWith('--audit.')), 'defaults need no flags')
})

t.test('privileged fallback values render', async t => {
  const ds = one<IDaemonSet>(
    render({
      values: {
        securityContext: {
          capabilities: ['BPF', 'PERFMON', 'NET_ADMIN', 'SYS_RESOURCE', 'SYS_ADMIN'],
          allowPrivilegeEscalation: true,
          privileged: true,
        },
      },
    }),
    'DaemonSet',
  )
  t.doesNotThrow(() => validateObject(ds as KubeObject))
  const sc = kubepulseContainer(ds).securityContext
  t.equal(sc?.privileged, true)
  t.equal(sc?.allowPrivilegeEscalation, true)
  t.ok(sc?.capabilities?.add?.includes('SYS_ADMIN'))
})

t.test('another release name names everything consistently', async t => {
  const objects = render({ releaseName: 'monitoring', namespace: 'observability' })
  const ds = one<IDaemonSet>(objects, 'DaemonSet')
  const svc = one<IService>(objects, 'Service')
  const binding = one<IClusterRoleBinding>(objects, 'ClusterRoleBinding')
  for (const o of objects) {
    t.equal(o.metadata.name, 'monitoring-kubepulse', `${o.kind} name`)
    if (!o.kind.startsWith('Cluster')) t.equal(o.metadata.namespace, 'observability', `${o.kind} namespace`)
  }
  t.equal(ds.spec?.template.spec?.serviceAccountName, 'monitoring-kubepulse')
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: 'monitoring-kubepulse', namespace: 'observability' }])
  t.equal(binding.roleRef.name, 'monitoring-kubepulse')
  checkServiceFits(t, svc, ds)
  checkServiceMonitorFits(t, one<IServiceMonitor>(objects, 'ServiceMonitor'), svc)
})

t.test('auth.kubernetes and networkPolicy render deployments/optional/, the flag and the token', async t => {
  const values = { auth: { kubernetes: { enabled: true } }, networkPolicy: { enabled: true, apiServer: { cidrs: ['10.0.0.1/32'] } } }
  const base = new Set(render().map(objectKey))
  const objects = render({ values })
  const added = objects.filter(o => !base.has(objectKey(o)))
  const optional = loadManifestDir(join(repoRoot, 'deployments', 'optional')).map(o => o.object)
  t.same(added.map(objectKey).sort(), optional.map(objectKey).sort(), 'the same extra objects')
  for (const o of added) {
    t.doesNotThrow(() => validateObject(o), `${objectKey(o)} validates`)
    t.strictSame(withoutHelmLabels(o), optional.find(p => objectKey(p) === objectKey(o)), `${objectKey(o)} equals deployments/optional/`)
  }
  const ds = one<IDaemonSet>(objects, 'DaemonSet')
  const { flags } = parseArgs(kubepulseContainer(ds).args ?? [])
  t.equal(flags.get('auth'), 'kubernetes', 'the daemon runs with --auth=kubernetes')
  const ep = one<IServiceMonitor>(objects, 'ServiceMonitor').spec.endpoints?.[0]
  t.equal(ep?.bearerTokenFile, '/var/run/secrets/kubernetes.io/serviceaccount/token', "Prometheus sends its own service account token")
  const binding = objects.find(o => objectKey(o) === 'ClusterRoleBinding/kubepulse-auth') as IClusterRoleBinding & KubeObject
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: ds.spec?.template.spec?.serviceAccountName, namespace: 'kubepulse' }], "the review grant is the DaemonSet's service account's")
  t.notOk(render().some(o => o.kind === 'NetworkPolicy' || objectKey(o).endsWith('-auth')), 'both off by default')
  const tls = one<IServiceMonitor>(render({ values: { serviceMonitor: { scheme: 'https', tlsConfig: { serverName: 'kubepulse', ca: { secret: { name: 'kp-ca', key: 'ca.crt' } } } } } }), 'ServiceMonitor')
  t.equal(tls.spec.endpoints?.[0]?.scheme, 'https')
  t.same(tls.spec.endpoints?.[0]?.tlsConfig, { serverName: 'kubepulse', ca: { secret: { name: 'kp-ca', key: 'ca.crt' } } })
  t.throws(() => render({ values: { networkPolicy: { enabled: true } } }), /apiServer.cidrs/, "a NetworkPolicy without the API server's address is refused")
})

t.test('helm-lite refuses what it does not understand', async t => {
  t.throws(() => renderChart(join(repoRoot, 'test', 'shipping', 'no-such-chart')), 'missing chart')
})
