// `kubepulse audit --cluster`: the checks no node can make, read-only
// through the Kubernetes API (list Deployments, Ingresses and Namespaces;
// nothing is changed): Deployments of one replica (one node drain from an
// outage), Ingress rules for any host (`*.example.com`, or no host at all),
// namespaces nobody owns (no --owner-annotation). Namespaces of Kubernetes
// itself (kube-*) are left out of the owner check.
import type { V1Deployment, V1Ingress, V1Namespace } from '@kubernetes/client-node';
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
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  let source = 'kubernetes API';
  try {
    if (opts.kubeconfig !== undefined) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
    const server = kc.getCurrentCluster()?.server;
    if (server !== undefined) source = `kubernetes API ${server}`;
  } catch (err) {
    throw new SourceError(source, `cannot load kubeconfig: ${(err as Error).message}`);
  }
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const net = kc.makeApiClient(k8s.NetworkingV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SourceError(source, `timed out after ${opts.timeoutMs}ms listing deployments, ingresses and namespaces`)), opts.timeoutMs);
  });
  const step = async <T>(what: string, list: () => Promise<{ items: T[] }>): Promise<T[]> => {
    try {
      return (await list()).items;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new SourceError(source, typeof code === 'number' ? `HTTP ${code} listing ${what}` : `${describeError(err, opts.timeoutMs)} listing ${what}`);
    }
  };
  try {
    const [deployments, ingresses, namespaces] = await Promise.race([
      Promise.all([
        step('deployments', () => apps.listDeploymentForAllNamespaces()),
        step('ingresses', () => net.listIngressForAllNamespaces()),
        step('namespaces', () => core.listNamespace()),
      ]),
      timeout,
    ]);
    return clusterChecks({ deployments, ingresses, namespaces }, opts.ownerAnnotation);
  } finally {
    clearTimeout(timer);
  }
}
