// Where the Kubernetes API is, or that there is none.
//
// - `kubeconfig` path given: that file (for running outside the cluster); an
//   unreadable or incomplete file is a configuration error and throws.
// - otherwise in-cluster config (service account token and the
//   KUBERNETES_SERVICE_HOST/PORT environment), which is what a DaemonSet has.
//   `inCluster: true` requires it (throws without it); `inCluster: false`
//   never uses it; unset uses it when it is there.
// - neither: no Kubernetes. The daemon runs, labels everything as the host,
//   and readiness does not wait for a cluster.
// KUBECONFIG and ~/.kube/config are deliberately not consulted: a node agent
// that silently picks up a developer's context would watch the wrong cluster.
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface KubeConfigOptions {
  kubeconfig?: string | undefined;
  inCluster?: boolean | undefined;
  /** For tests; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** For tests; defaults to the standard service account token path. */
  tokenPath?: string;
}

export type KubeConfigChoice =
  | { readonly source: 'kubeconfig' | 'in-cluster'; readonly kubeConfig: KubeConfig; readonly server: string }
  | { readonly source: 'none'; readonly reason: string };

export function chooseKubeConfig(options: KubeConfigOptions): KubeConfigChoice {
  if (options.kubeconfig !== undefined && options.kubeconfig !== '') {
    const kubeConfig = new KubeConfig();
    try {
      kubeConfig.loadFromFile(options.kubeconfig);
    } catch (err) {
      throw new Error(`cannot load kubeconfig ${options.kubeconfig}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const cluster = kubeConfig.getCurrentCluster();
    if (cluster === null) throw new Error(`kubeconfig ${options.kubeconfig} has no current context with a cluster`);
    return { source: 'kubeconfig', kubeConfig, server: cluster.server };
  }

  const env = options.env ?? process.env;
  const tokenPath = options.tokenPath ?? SERVICE_ACCOUNT_TOKEN;
  const missing: string[] = [];
  if (env['KUBERNETES_SERVICE_HOST'] === undefined || env['KUBERNETES_SERVICE_HOST'] === '') missing.push('KUBERNETES_SERVICE_HOST');
  if (env['KUBERNETES_SERVICE_PORT'] === undefined || env['KUBERNETES_SERVICE_PORT'] === '') missing.push('KUBERNETES_SERVICE_PORT');
  if (!existsSync(tokenPath)) missing.push(tokenPath);

  if (options.inCluster === false) return { source: 'none', reason: 'in-cluster config disabled and no kubeconfig given' };
  if (missing.length > 0) {
    const reason = `not running in a cluster (missing ${missing.join(', ')}) and no kubeconfig given`;
    if (options.inCluster === true) throw new Error(`in-cluster config requested but ${reason}`);
    return { source: 'none', reason };
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromCluster();
  return { source: 'in-cluster', kubeConfig, server: kubeConfig.getCurrentCluster()?.server ?? '' };
}
