// Writes a kubeconfig that points at a test API server: plain HTTP on
// loopback (client-node accepts http:// only with insecure-skip-tls-verify),
// or HTTPS verified against the server's own CA certificate.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export function writeKubeconfig(dir: string, server: string, token: string, caCertificate?: string): string {
  const path = join(dir, 'kubeconfig');
  const cluster =
    caCertificate === undefined
      ? { server, 'insecure-skip-tls-verify': true }
      : { server, 'certificate-authority-data': Buffer.from(caCertificate).toString('base64') };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster }],
    users: [{ name: 'test', user: { token } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
    'current-context': 'test',
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
  return path;
}
