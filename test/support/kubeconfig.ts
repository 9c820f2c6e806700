// Writes a kubeconfig that points at a test API server: plain HTTP on
// loopback, or HTTPS verified against the server's own CA certificate. The
// user is a token unless `user` says otherwise (a client certificate, an
// exec plugin). For http:// servers insecure-skip-tls-verify is set unless
// `skipTlsVerify: false` (what kubectl proxy users write, and what
// @kubernetes/client-node refuses; the daemon accepts both).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface KubeconfigOptions {
  /** The kubeconfig user entry; default { token }. */
  user?: Record<string, unknown>;
  skipTlsVerify?: boolean;
}

export function writeKubeconfig(dir: string, server: string, token: string, caCertificate?: string, options: KubeconfigOptions = {}): string {
  const path = join(dir, 'kubeconfig');
  const skip = options.skipTlsVerify ?? (caCertificate === undefined && server.startsWith('http:'));
  const cluster = {
    server,
    ...(caCertificate === undefined ? {} : { 'certificate-authority-data': Buffer.from(caCertificate).toString('base64') }),
    ...(skip ? { 'insecure-skip-tls-verify': true } : {}),
  };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster }],
    users: [{ name: 'test', user: options.user ?? { token } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
    'current-context': 'test',
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
  return path;
}
