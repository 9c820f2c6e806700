// Where the Kubernetes API is, or that there is none.
//
// - `kubeconfig` path given: that file (for running outside the cluster); an
//   unreadable file is a configuration error and throws here, one that does
//   not parse or has no current cluster throws from the client's ready();
// - otherwise in-cluster config (service account token and CA, and the
//   KUBERNETES_SERVICE_HOST/PORT environment), which is what a DaemonSet has.
//   `inCluster: true` requires it (throws without it); `inCluster: false`
//   never uses it; unset uses it when it is there;
// - neither: no Kubernetes. The daemon runs, labels everything as the host,
//   and readiness does not wait for a cluster.
// KUBECONFIG and ~/.kube/config are deliberately not consulted: a node agent
// that silently picks up a developer's context would watch the wrong cluster.
//
// Nothing here imports @kubernetes/client-node: the in-cluster daemon never
// pays for it (see src/kube/kubeconfig.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { KubeClient } from '../kube/client.js';
import { InClusterEndpoint, SERVICE_ACCOUNT_DIR } from '../kube/in-cluster.js';
import { KubeconfigEndpoint } from '../kube/kubeconfig.js';

export { SERVICE_ACCOUNT_DIR } from '../kube/in-cluster.js';

export interface KubeConfigOptions {
  kubeconfig?: string | undefined;
  inCluster?: boolean | undefined;
  /** For tests; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** For tests; defaults to the standard service account mount. */
  serviceAccountDir?: string;
}

export type KubeConfigChoice =
  | { readonly source: 'kubeconfig'; readonly client: KubeClient; readonly kubeconfig: string }
  | { readonly source: 'in-cluster'; readonly client: KubeClient; readonly server: string }
  | { readonly source: 'none'; readonly reason: string };

export function chooseKubeConfig(options: KubeConfigOptions): KubeConfigChoice {
  if (options.kubeconfig !== undefined && options.kubeconfig !== '') {
    return { source: 'kubeconfig', client: new KubeClient(new KubeconfigEndpoint(options.kubeconfig)), kubeconfig: options.kubeconfig };
  }

  const env = options.env ?? process.env;
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const tokenPath = join(dir, 'token');
  const host = env['KUBERNETES_SERVICE_HOST'] ?? '';
  const port = env['KUBERNETES_SERVICE_PORT'] ?? '';
  const missing: string[] = [];
  if (host === '') missing.push('KUBERNETES_SERVICE_HOST');
  if (port === '') missing.push('KUBERNETES_SERVICE_PORT');
  if (!existsSync(tokenPath)) missing.push(tokenPath);

  if (options.inCluster === false) return { source: 'none', reason: 'in-cluster config disabled and no kubeconfig given' };
  if (missing.length > 0) {
    const reason = `not running in a cluster (missing ${missing.join(', ')}) and no kubeconfig given`;
    if (options.inCluster === true) throw new UserError(`in-cluster config requested but ${reason}`);
    return { source: 'none', reason };
  }
  const endpoint = new InClusterEndpoint({ host, port, serviceAccountDir: dir });
  return { source: 'in-cluster', client: new KubeClient(endpoint), server: endpoint.server };
}
