// `kubepulse audit --cluster`: the checks no node can make, read-only
// through the Kubernetes API (list Deployments, Ingresses and Namespaces;
// nothing is changed): Deployments of one replica (one node drain from an
// outage), Ingress rules for any host (`*.example.com`, or no host at all),
// namespaces nobody owns (no --owner-annotation). Namespaces of Kubernetes
// itself (kube-*) are left out of the owner check. The API is found as
// kubectl finds it (src/kube/operator.ts).
import type { V1Deployment, V1Ingress, V1Namespace } from '@kubernetes/client-node';
import { KubeApiError } from '../kube/client.js';
import { operatorKube, type OperatorKube } from '../kube/operator.js';
import { describeError, SourceError } from '../policy/sources.js';
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
  let kube: OperatorKube;
  try {
    kube = operatorKube(opts.kubeconfig);
  } catch (err) {
    throw new SourceError('kubernetes API', (err as Error).message);
  }
  let source = 'kubernetes API';
  // The clock starts once the kubeconfig is loaded (no network involved before).
  let signal: AbortSignal | undefined;
  const list = async <T>(what: string, path: string): Promise<T[]> => {
    try {
      return (await kube.client.list(path, {}, (o) => o as T, signal)).items;
    } catch (err) {
      if (err instanceof KubeApiError) throw new SourceError(source, `HTTP ${err.message.split('\n')[0]} listing ${what}`);
      if (signal?.aborted) throw new SourceError(source, `timed out after ${opts.timeoutMs}ms listing ${what}`);
      throw new SourceError(source, `${describeError(err, opts.timeoutMs)} listing ${what}`);
    }
  };
  try {
    await kube.client.endpoint.ready();
  } catch (err) {
    throw new SourceError(source, (err as Error).message);
  }
  source = `kubernetes API ${kube.client.endpoint.server}`;
  signal = AbortSignal.timeout(opts.timeoutMs);
  const [deployments, ingresses, namespaces] = await Promise.all([
    list<V1Deployment>('deployments', '/apis/apps/v1/deployments'),
    list<V1Ingress>('ingresses', '/apis/networking.k8s.io/v1/ingresses'),
    list<V1Namespace>('namespaces', '/api/v1/namespaces'),
  ]);
  return clusterChecks({ deployments, ingresses, namespaces }, opts.ownerAnnotation);
}
