// The Kubernetes API as an operator's command finds it (kubectl's order):
// --kubeconfig, else the first existing file of $KUBECONFIG, else
// ~/.kube/config, else the pod's service account (a command run in the
// cluster). The daemon chooses differently (src/metadata/kube-config.ts: it
// never reads a developer's kubeconfig). $KUBECONFIG's files are not merged
// as kubectl merges them: the first that exists is the one used.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { KubeClient } from './client.js';
import { InClusterEndpoint, SERVICE_ACCOUNT_DIR } from './in-cluster.js';
import { KubeconfigEndpoint } from './kubeconfig.js';

export interface OperatorKube {
  client: KubeClient;
  /** For messages: "kubeconfig ~/.kube/config" or "in-cluster service account". */
  source: string;
}

export function operatorKube(kubeconfig: string | undefined, env: NodeJS.ProcessEnv = process.env, home = homedir()): OperatorKube {
  const fromEnv = (env.KUBECONFIG ?? '').split(':').find((p) => p !== '' && existsSync(p));
  const file = kubeconfig ?? fromEnv ?? (existsSync(join(home, '.kube', 'config')) ? join(home, '.kube', 'config') : undefined);
  if (file !== undefined) return { client: new KubeClient(new KubeconfigEndpoint(file)), source: `kubeconfig ${file}` };
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '';
  if (host === '' || port === '' || !existsSync(join(SERVICE_ACCOUNT_DIR, 'token')))
    throw new UserError('no Kubernetes API: give --kubeconfig, set KUBECONFIG, or create ~/.kube/config');
  return { client: new KubeClient(new InClusterEndpoint({ host, port })), source: 'in-cluster service account' };
}
