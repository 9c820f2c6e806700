// Loading Kubernetes YAML and validating it against the published schemas
// (kubernetes-models for built-in kinds, @kubernetes-models/prometheus-operator
// for the monitoring.coreos.com CRDs).
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { Namespace, Service, ServiceAccount } from 'kubernetes-models/v1'
import { DaemonSet } from 'kubernetes-models/apps/v1'
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1'
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1'
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'

export const repoRoot = new URL('../../', import.meta.url).pathname

export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown }
  [k: string]: unknown
}

type Validator = (obj: KubeObject) => void

// Each model's validate() throws with the JSON path of the first violation.
const validators: Record<string, Validator> = {
  'v1/Namespace': o => new Namespace(o as never).validate(),
  'v1/ServiceAccount': o => new ServiceAccount(o as never).validate(),
  'v1/Service': o => new Service(o as never).validate(),
  'apps/v1/DaemonSet': o => new DaemonSet(o as never).validate(),
  'rbac.authorization.k8s.io/v1/ClusterRole': o => new ClusterRole(o as never).validate(),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': o => new ClusterRoleBinding(o as never).validate(),
  'networking.k8s.io/v1/NetworkPolicy': o => new NetworkPolicy(o as never).validate(),
  'monitoring.coreos.com/v1/ServiceMonitor': o => new ServiceMonitor(o as never).validate(),
  'monitoring.coreos.com/v1/PrometheusRule': o => new PrometheusRule(o as never).validate(),
}

/** Throws if the object's kind is unknown here or it breaks its schema. */
export function validateObject(obj: KubeObject): void {
  const key = `${obj.apiVersion}/${obj.kind}`
  const validate = validators[key]
  if (!validate) throw new Error(`no schema known for ${key} (add its model to test/shipping/k8s.ts)`)
  validate(obj)
}

/** Every document of a (multi-document) YAML text, empty documents skipped. */
export function parseYamlDocs(text: string, source: string): KubeObject[] {
  const objects: KubeObject[] = []
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors.map(e => e.message).join('; ')}`)
    const value: unknown = doc.toJS()
    if (value === null || value === undefined) continue
    if (typeof value !== 'object' || !('kind' in value)) throw new Error(`${source}: a document without kind`)
    objects.push(value as KubeObject)
  }
  return objects
}

export interface LoadedObject {
  file: string
  object: KubeObject
}

/** All objects of the *.yaml files directly in dir, in file-name order. */
export function loadManifestDir(dir: string): LoadedObject[] {
  return readdirSync(dir)
    .filter(f => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .flatMap(file =>
      parseYamlDocs(readFileSync(join(dir, file), 'utf8'), file).map(object => ({ file, object })),
    )
}

export const objectKey = (o: KubeObject): string =>
  `${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`
