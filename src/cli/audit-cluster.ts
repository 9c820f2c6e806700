// `kubepulse audit --cluster`: the checks no node can make, read-only
// through the Kubernetes API (list Deployments, Ingresses and Namespaces;
// nothing is changed): Deployments of one replica (one node drain from an
// outage), Ingress rules for any host (`*.example.com`, or no host at all),
// namespaces nobody owns (no --owner-annotation). Namespaces of Kubernetes
// itself (kube-*) are left out of the owner check. The API is found as
// kubectl finds it (src/kube/operator.ts).
import type { V1Deployment, V1Ingress, V1Namespace } from '@kubernetes/client-node';
import { operatorLister } from '../policy/sources.js';
import type { Finding } from './audit-findings.js';

export const DEFAULT_OWNER_ANNOTATION = 'owner';

const finding = (check: string, severity: Finding['severity'], namespace: string, object: string, evidence: Finding['evidence']): Finding => ({
  kind: 'cluster',
  severity,
  check,
  namespace,
  object,
  workload: '',
  container: '',
  node: '',
  evidence,
});

export function clusterChecks(input: { deployments: V1Deployment[]; ingresses: V1Ingress[]; namespaces: V1Namespace[] }, ownerAnnotation: string): Finding[] {
  const out: Finding[] = [];
  for (const d of input.deployments) {
    const replicas = d.spec?.replicas ?? 1; // the API's default
    if (replicas === 1) out.push(finding('single_replica', 'low', d.metadata?.namespace ?? '', `Deployment/${d.metadata?.name ?? ''}`, { field: 'spec.replicas', replicas }));
  }
  for (const ing of input.ingresses) {
    (ing.spec?.rules ?? []).forEach((r, i) => {
      const host = r.host ?? '';
      if (host === '' || host.startsWith('*')) {
        out.push(finding('ingress_wildcard_host', 'medium', ing.metadata?.namespace ?? '', `Ingress/${ing.metadata?.name ?? ''}`, { field: `spec.rules[${i}].host`, host: host === '' ? '(none: every host)' : host }));
      }
    });
  }
  for (const ns of input.namespaces) {
    const name = ns.metadata?.name ?? '';
    if (name.startsWith('kube-')) continue;
    const owner = ns.metadata?.annotations?.[ownerAnnotation] ?? '';
    if (owner.trim() === '') out.push(finding('namespace_owner', 'low', name, `Namespace/${name}`, { field: `metadata.annotations[${ownerAnnotation}]`, value: 'missing' }));
  }
  return out;
}

export async function fetchClusterFindings(opts: { kubeconfig?: string | undefined; ownerAnnotation: string; timeoutMs: number }): Promise<Finding[]> {
  const api = await operatorLister(opts.kubeconfig, opts.timeoutMs);
  const [deployments, ingresses, namespaces] = await Promise.all([
    api.list('deployments', '/apis/apps/v1/deployments', {}, (o) => o as V1Deployment),
    api.list('ingresses', '/apis/networking.k8s.io/v1/ingresses', {}, (o) => o as V1Ingress),
    api.list('namespaces', '/api/v1/namespaces', {}, (o) => o as V1Namespace),
  ]);
  return clusterChecks({ deployments, ingresses, namespaces }, opts.ownerAnnotation);
}
