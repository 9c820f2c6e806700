// The real daemon with --web.config.file and --web.api-listen-address: the
// flags reach the listeners — /metrics over TLS with basic auth on the main
// port, /api/v1 on its own port behind the same credentials, health open.

import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import bcrypt from 'bcryptjs';
import t from 'tap';
import { stringify } from 'yaml';
import { startDaemon } from '../support/daemon.js';
import { needsBpf } from '../support/privileges.js';
import { freePort } from '../support/prometheus.js';
import { makePki, opensslMissing } from '../support/tls-certs.js';

function get(port: number, path: string, ca: Buffer, auth?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca, auth, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

const openssl = opensslMissing();
t.test('the daemon serves TLS with basic auth, the API on its own port', openssl ? { skip: openssl } : needsBpf(), async (t) => {
  const pki = makePki();
  t.teardown(() => pki.cleanup());
  pki.ca('ca');
  pki.leaf('server', 'ca', { cn: 'kubepulse', usage: 'serverAuth', san: 'IP:127.0.0.1' });
  const file = pki.path('web.yml');
  writeFileSync(file, stringify({
    tls_server_config: { cert_file: 'server.crt', key_file: 'server.key' },
    basic_auth_users: { prometheus: bcrypt.hashSync('s3cret', 10) },
  }));
  const apiPort = await freePort();
  const daemon = await startDaemon(['--probes', 'tcp,flows', '--web.config.file', file, '--web.api-listen-address', `127.0.0.1:${apiPort}`]);
  t.teardown(() => daemon.stop());
  const ca = readFileSync(pki.path('ca.crt'));
  const deadline = Date.now() + 60_000;
  while ((await get(daemon.port, '/readyz', ca).catch(() => ({ status: 0 }))).status !== 200) {
    if (Date.now() > deadline) throw new Error('daemon not ready over TLS');
    await new Promise((r) => setTimeout(r, 200));
  }

  t.equal((await get(daemon.port, '/metrics', ca)).status, 401, 'main port: /metrics needs credentials');
  const metrics = await get(daemon.port, '/metrics', ca, 'prometheus:s3cret');
  t.equal(metrics.status, 200, 'main port: /metrics with credentials');
  t.match(metrics.body, /^kubepulse_/m, 'the daemon\'s own metrics');
  t.equal((await get(daemon.port, '/api/v1/flows', ca, 'prometheus:s3cret')).status, 404, 'main port: no /api/v1');
  t.equal((await get(apiPort, '/api/v1/flows', ca)).status, 401, 'api port: /api/v1 needs credentials');
  t.equal((await get(apiPort, '/api/v1/flows', ca, 'prometheus:s3cret')).status, 200, 'api port: /api/v1 with credentials');
  t.equal((await get(apiPort, '/metrics', ca, 'prometheus:s3cret')).status, 404, 'api port: no /metrics');
  t.equal((await get(apiPort, '/healthz', ca)).status, 200, 'api port: /healthz open');
});
