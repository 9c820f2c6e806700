// deployments/: every object validates against the Kubernetes and
// prometheus-operator schemas, and the objects fit together (selectors,
// ports, RBAC, privileges, mounts, probes, daemon flags).
import t from 'tap'
import { join } from 'node:path'
import type { IDaemonSet } from 'kubernetes-models/apps/v1'
import type { IService } from 'kubernetes-models/v1'
import type { IClusterRole, IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1'
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'
import { loadManifestDir, objectKey, repoRoot, validateObject, type KubeObject } from './k8s.js'
import { checkDaemonSet, checkServiceFits, checkServiceMonitorFits } from './workload-checks.js'

const objects = loadManifestDir(join(repoRoot, 'deployments'))

t.test('every object validates against its schema', async t => {
  t.ok(objects.length > 0, 'deployments/ has objects')
  for (const { file, object } of objects) {
    t.doesNotThrow(() => validateObject(object), `${file}: ${objectKey(object)}`)
  }
})

function only<T>(kind: string): T & KubeObject {
  const found = objects.filter(o => o.object.kind === kind)
  if (found.length !== 1) throw new Error(`expected one ${kind} in deployments/, found ${found.length}`)
  return found[0]!.object as T & KubeObject
}

t.test('the expected objects, all in namespace kubepulse', async t => {
  t.same(
    objects.map(o => o.object.kind).sort(),
    ['ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'Namespace', 'PrometheusRule', 'Service', 'ServiceAccount', 'ServiceMonitor'],
  )
  const ns = only<KubeObject>('Namespace')
  t.equal(ns.metadata.name, 'kubepulse')
  t.equal(ns.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged', 'pod security admits hostPID/hostPath')
  t.equal(objects[0]?.object.kind, 'Namespace', 'the Namespace is applied first by kubectl apply -f deployments/')
  for (const { object } of objects) {
    if (object.kind.startsWith('Cluster') || object.kind === 'Namespace') {
      t.notOk(object.metadata.namespace, `${object.kind} is cluster-scoped`)
    } else {
      t.equal(object.metadata.namespace, 'kubepulse', `${objectKey(object)} namespace`)
    }
  }
})

t.test('RBAC: read-only access to pods, services and nodes, bound to the DaemonSet service account', async t => {
  const role = only<IClusterRole>('ClusterRole')
  // Issue 5 (pod metadata) needed pods only. Issue 8 resolves flow peers
  // cluster-wide (src/peers/cluster-peers.ts): pod IPs, Service ClusterIPs
  // and node addresses, so services and nodes are read too. Still read-only.
  t.same(role.rules, [
    { apiGroups: [''], resources: ['pods', 'services', 'nodes'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'watch'] },
  ])
  const binding = only<IClusterRoleBinding>('ClusterRoleBinding')
  const sa = only<KubeObject>('ServiceAccount')
  const ds = only<IDaemonSet>('DaemonSet')
  t.same(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name })
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }])
  t.equal(ds.spec?.template.spec?.serviceAccountName, sa.metadata.name)
})

t.test('DaemonSet: privileges, mounts, probes, flags', async t => {
  checkDaemonSet(t, only<IDaemonSet>('DaemonSet'))
})

t.test('Service and ServiceMonitor reach the DaemonSet pods', async t => {
  const ds = only<IDaemonSet>('DaemonSet')
  const svc = only<IService>('Service')
  checkServiceFits(t, svc, ds)
  checkServiceMonitorFits(t, only<IServiceMonitor>('ServiceMonitor'), svc)
})

t.test('the validators reject broken objects (they are armed)', async t => {
  const ds = structuredClone(only<KubeObject>('DaemonSet')) as KubeObject & { spec: { template: { spec: { containers: unknown[] } } } }
  ds.spec.template.spec.containers = [{ name: 'kubepulse', ports: [{ containerPort: '9090' }] }]
  t.throws(() => validateObject(ds), 'a string containerPort is refused')
  const sm = structuredClone(only<KubeObject>('ServiceMonitor')) as KubeObject & { spec: Record<string, unknown> }
  sm.spec.endpoints = [{ port: 'metrics', honorLabels: 'yes' }]
  t.throws(() => validateObject(sm), 'a string honorLabels is refused by the CRD schema')
  t.throws(() => validateObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } }), 'an unexpected kind is refused')
})
