// The HTTP server behind an exporter-toolkit web config: a real Prometheus
// scrapes it over TLS with basic auth and over mutual TLS using its own
// scrape options (tls_config, basic_auth); clients without credentials, with
// wrong ones, with an expired or foreign-CA certificate are refused; the file
// is reloaded when it changes, and a bad one keeps the old settings.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcryptjs';
import { Counter } from 'prom-client';
import t, { type Test } from 'tap';
import { stringify } from 'yaml';
import { DEFAULT_LIMITS } from '../../src/http/limits.js';
import { HttpServer } from '../../src/http/server.js';
import { WebEndpoint } from '../../src/http/web-endpoint.js';
import type { Logger } from '../../src/log.js';
import { createRegistry } from '../../src/metrics/registry.js';
import { prometheusMissing, startPrometheus } from '../support/prometheus.js';
import { makePki, opensslMissing, type Pki } from '../support/tls-certs.js';

const missing = opensslMissing() ?? prometheusMissing();
if (missing) {
  t.skip(missing, () => {});
} else {
  const pki = makePki();
  t.teardown(() => pki.cleanup());
  pki.ca('ca');
  pki.ca('rogue-ca');
  pki.leaf('server', 'ca', { cn: 'kubepulse', usage: 'serverAuth', san: 'IP:127.0.0.1' });
  pki.leaf('prometheus', 'ca', { cn: 'prometheus', usage: 'clientAuth' });
  pki.leaf('expired', 'ca', { cn: 'prometheus', usage: 'clientAuth', days: -1 });
  pki.leaf('rogue', 'rogue-ca', { cn: 'prometheus', usage: 'clientAuth' });
  // htpasswd writes $2y$ hashes; bcryptjs $2b$: the same algorithm, both accepted.
  const hash = bcrypt.hashSync('s3cret', 10).replace(/^\$2b\$/, '$2y$');
  const otherHash = bcrypt.hashSync('other', 10);

  t.test('TLS with basic auth: Prometheus scrapes with its basic_auth; others get 401', async (t) => {
    const { port, errors } = await serve(t, pki, {
      tls_server_config: { cert_file: 'server.crt', key_file: 'server.key' },
      basic_auth_users: { prometheus: hash },
      http_server_config: { headers: { 'X-Content-Type-Options': 'nosniff', 'Strict-Transport-Security': 'max-age=31536000' } },
    });
    const ca = pki.path('ca.crt');

    const none = await get(port, '/metrics', { ca });
    t.equal(none.status, 401, 'no credentials: 401');
    t.equal(none.headers['www-authenticate'], 'Basic', 'and a Basic challenge');
    t.equal((await get(port, '/metrics', { ca, auth: 'prometheus:wrong' })).status, 401, 'wrong password: 401');
    t.equal((await get(port, '/metrics', { ca, auth: 'nobody:s3cret' })).status, 401, 'unknown user: 401');
    t.equal((await get(port, '/api/v1/anything', { ca })).status, 401, '/api/v1 is behind the same auth');
    const right = await get(port, '/metrics', { ca, auth: 'prometheus:s3cret' });
    t.equal(right.status, 200, 'right credentials: 200');
    t.match(right.body, /kubepulse_test_requests_total/, 'the metrics');
    t.equal(right.headers['x-content-type-options'], 'nosniff', 'configured header sent');
    t.equal(right.headers['strict-transport-security'], 'max-age=31536000', 'configured header sent');
    t.equal((await get(port, '/healthz', { ca })).status, 200, '/healthz answers the kubelet without credentials');
    t.equal((await get(port, '/readyz', { ca })).status, 200, '/readyz answers the kubelet without credentials');
    await t.rejects(plainHttp(port), 'plain HTTP is not served');

    const prom = await startPrometheus({
      scrape: [
        { job: 'tls-basic', targets: [`127.0.0.1:${port}`], scrapeConfig: { scheme: 'https', tls_config: { ca_file: ca }, basic_auth: { username: 'prometheus', password: 's3cret' } } },
        { job: 'tls-wrong-password', targets: [`127.0.0.1:${port}`], scrapeConfig: { scheme: 'https', tls_config: { ca_file: ca }, basic_auth: { username: 'prometheus', password: 'nope' } } },
      ],
    });
    t.teardown(() => prom.stop());
    await prom.waitForTargetsUp('tls-basic', { timeoutMs: 30_000 });
    const samples = await prom.waitForQuery('kubepulse_test_requests_total{job="tls-basic"}', { timeoutMs: 30_000 });
    t.ok(Number(samples[0]?.value[1]) > 0, 'Prometheus stored a series it scraped over TLS with basic auth');
    // A wrong password costs a bcrypt comparison; on a loaded machine one can
    // outlast the 1 s scrape timeout, so a scrape may first fail by timing
    // out. The refusal must still come: wait for a 401, not for any failure.
    const wrong = await prom.waitFor('the wrong-password target to be down with 401', async () =>
      (await prom.targets()).find((x) => x.labels.job === 'tls-wrong-password' && x.health === 'down' && /401/.test(x.lastError)),
    );
    t.match(wrong.lastError, /401/, `the wrong password is refused: ${wrong.lastError}`);
    t.same(errors, [], 'nothing logged at error');
  });

  t.test('mutual TLS: only a client certificate from client_ca_file gets in', async (t) => {
    const { port } = await serve(t, pki, {
      tls_server_config: {
        cert_file: 'server.crt',
        key_file: 'server.key',
        client_auth_type: 'RequireAndVerifyClientCert',
        client_ca_file: 'ca.crt',
        min_version: 'TLS12',
        cipher_suites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'],
      },
    });
    const ca = pki.path('ca.crt');
    const good = { ca, cert: pki.path('prometheus.crt'), key: pki.path('prometheus.key') };
    t.equal((await get(port, '/metrics', good)).status, 200, 'a certificate from the CA: 200');
    await t.rejects(get(port, '/metrics', { ca }), 'no client certificate: refused');
    await t.rejects(get(port, '/metrics', { ca, cert: pki.path('expired.crt'), key: pki.path('expired.key') }), 'an expired certificate: refused');
    await t.rejects(get(port, '/metrics', { ca, cert: pki.path('rogue.crt'), key: pki.path('rogue.key') }), 'a certificate from another CA: refused');
    await t.rejects(get(port, '/metrics', { ...good, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }), 'TLS 1.1: refused (min_version TLS12)');
    t.equal((await get(port, '/metrics', { ...good, maxVersion: 'TLSv1.2' })).status, 200, 'TLS 1.2 with a configured suite: 200');
    await t.rejects(
      get(port, '/metrics', { ...good, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305' }),
      'TLS 1.2 with a suite not in cipher_suites: refused',
    );

    const prom = await startPrometheus({
      scrape: [
        { job: 'mtls', targets: [`127.0.0.1:${port}`], scrapeConfig: { scheme: 'https', tls_config: { ca_file: ca, cert_file: good.cert, key_file: good.key } } },
        { job: 'mtls-expired', targets: [`127.0.0.1:${port}`], scrapeConfig: { scheme: 'https', tls_config: { ca_file: ca, cert_file: pki.path('expired.crt'), key_file: pki.path('expired.key') } } },
        { job: 'mtls-none', targets: [`127.0.0.1:${port}`], scrapeConfig: { scheme: 'https', tls_config: { ca_file: ca } } },
      ],
    });
    t.teardown(() => prom.stop());
    await prom.waitForTargetsUp('mtls', { timeoutMs: 30_000 });
    await prom.waitForQuery('kubepulse_test_requests_total{job="mtls"}', { timeoutMs: 30_000 });
    t.pass('Prometheus scraped over mutual TLS with its tls_config');
    for (const job of ['mtls-expired', 'mtls-none']) {
      const down = await prom.waitFor(`${job} down`, async () =>
        (await prom.targets()).find((x) => x.labels.job === job && x.health === 'down'),
      );
      t.ok(down.lastError !== '', `${job}: refused (${down.lastError})`);
    }
  });

  t.test('the other client_auth_types and client_allowed_sans mean what they mean in Go', async (t) => {
    pki.leaf('san-ok', 'ca', { cn: 'scraper', usage: 'clientAuth', san: 'DNS:prometheus.monitoring.svc' });
    const ca = pki.path('ca.crt');
    const good = { ca, cert: pki.path('prometheus.crt'), key: pki.path('prometheus.key') };
    const rogue = { ca, cert: pki.path('rogue.crt'), key: pki.path('rogue.key') };
    const expired = { ca, cert: pki.path('expired.crt'), key: pki.path('expired.key') };
    const base = { cert_file: 'server.crt', key_file: 'server.key' };
    const status = (p: Promise<Reply>): Promise<number | 'refused'> => p.then((r) => r.status, () => 'refused' as const);

    const request = await serve(t, pki, { tls_server_config: { ...base, client_auth_type: 'RequestClientCert' } });
    t.equal(await status(get(request.port, '/metrics', { ca })), 200, 'RequestClientCert: none is fine');
    t.equal(await status(get(request.port, '/metrics', rogue)), 200, 'RequestClientCert: any certificate is fine, unverified');

    const any = await serve(t, pki, { tls_server_config: { ...base, client_auth_type: 'RequireAnyClientCert' } });
    t.equal(await status(get(any.port, '/metrics', { ca })), 'refused', 'RequireAnyClientCert: none is refused');
    t.equal(await status(get(any.port, '/metrics', rogue)), 200, 'RequireAnyClientCert: an unverified one is fine');

    const ifGiven = await serve(t, pki, { tls_server_config: { ...base, client_auth_type: 'VerifyClientCertIfGiven', client_ca_file: 'ca.crt' } });
    t.equal(await status(get(ifGiven.port, '/metrics', { ca })), 200, 'VerifyClientCertIfGiven: none is fine');
    t.equal(await status(get(ifGiven.port, '/metrics', good)), 200, 'VerifyClientCertIfGiven: a good one is fine');
    t.equal(await status(get(ifGiven.port, '/metrics', rogue)), 'refused', 'VerifyClientCertIfGiven: a foreign one is refused');
    t.equal(await status(get(ifGiven.port, '/metrics', expired)), 'refused', 'VerifyClientCertIfGiven: an expired one is refused');

    const sans = await serve(t, pki, {
      tls_server_config: { ...base, client_auth_type: 'RequireAndVerifyClientCert', client_ca_file: 'ca.crt', client_allowed_sans: ['prometheus.monitoring.svc'] },
    });
    t.equal(await status(get(sans.port, '/metrics', { ca, cert: pki.path('san-ok.crt'), key: pki.path('san-ok.key') })), 200, 'client_allowed_sans: a listed SAN gets in');
    t.equal(await status(get(sans.port, '/metrics', good)), 'refused', 'client_allowed_sans: a good certificate without a listed SAN is refused');
  });

  t.test('the file is reloaded on change; a bad file keeps the previous settings', async (t) => {
    const { port, write, errors } = await serve(t, pki, {
      tls_server_config: { cert_file: 'server.crt', key_file: 'server.key' },
      basic_auth_users: { prometheus: hash },
    });
    const ca = pki.path('ca.crt');
    t.equal((await get(port, '/metrics', { ca, auth: 'prometheus:s3cret' })).status, 200, 'before: prometheus gets in');
    write({
      tls_server_config: { cert_file: 'server.crt', key_file: 'server.key' },
      basic_auth_users: { grafana: otherHash },
    });
    await until(async () => (await get(port, '/metrics', { ca, auth: 'grafana:other' })).status === 200);
    t.equal((await get(port, '/metrics', { ca, auth: 'prometheus:s3cret' })).status, 401, 'after: the removed user is refused');
    t.equal((await get(port, '/metrics', { ca, auth: 'grafana:other' })).status, 200, 'after: the new user gets in');

    write('basic_auth_users: [this is not: a mapping');
    await until(async () => errors.length > 0);
    // One line per reload attempt (a busy machine may see the write as two events).
    t.ok(errors.every((e) => /not reloaded, keeping the previous one .*not YAML/.test(e)), `the bad file logged as one line: ${errors[0]}`);
    t.equal((await get(port, '/metrics', { ca, auth: 'grafana:other' })).status, 200, 'the previous settings stay');

    // Client certificates switched on at run time apply to new connections.
    write({
      tls_server_config: { cert_file: 'server.crt', key_file: 'server.key', client_auth_type: 'RequireAndVerifyClientCert', client_ca_file: 'ca.crt' },
    });
    await until(async () => (await get(port, '/metrics', { ca }).catch(() => ({ status: 0 }))).status === 0);
    t.equal((await get(port, '/metrics', { ca, cert: pki.path('prometheus.crt'), key: pki.path('prometheus.key') })).status, 200, 'now a client certificate is needed, and enough');

    // The server certificate rotated in place (cert-manager renewing a Secret).
    const client = { cert: pki.path('prometheus.crt'), key: pki.path('prometheus.key') };
    pki.leaf('renewed', 'rogue-ca', { cn: 'kubepulse', usage: 'serverAuth', san: 'IP:127.0.0.1' });
    renameSync(pki.path('renewed.key'), pki.path('server.key'));
    renameSync(pki.path('renewed.crt'), pki.path('server.crt'));
    await until(async () => (await get(port, '/metrics', { ca: pki.path('rogue-ca.crt'), ...client }).catch(() => ({ status: 0 }))).status === 200);
    await t.rejects(get(port, '/metrics', { ca, ...client }), 'the old CA no longer verifies the server: the new certificate is served');
  });
}

function silent(): void {}

async function serve(t: Test, pki: Pki, doc: unknown): Promise<{ port: number; write: (doc: unknown) => void; errors: string[] }> {
  const file = pki.path(`web-${Math.random().toString(36).slice(2)}.yml`);
  // Written beside and renamed, as editors and Secret volumes do.
  const write = (next: unknown): void => {
    writeFileSync(`${file}.tmp`, typeof next === 'string' ? next : stringify(next));
    renameSync(`${file}.tmp`, file);
  };
  write(doc);
  const errors: string[] = [];
  const log: Logger = { debug: silent, info: silent, warn: silent, error: (msg, fields) => errors.push(`${msg} ${JSON.stringify(fields ?? {})}`) };
  const registry = createRegistry();
  new Counter({
    name: 'kubepulse_test_requests_total',
    help: 'scrapes served',
    registers: [registry],
    collect() {
      this.inc();
    },
  });
  const endpoint = new WebEndpoint(file, log, DEFAULT_LIMITS);
  const server = new HttpServer({ registry, readiness: () => ({ ready: true, reasons: [] }), log, endpoint });
  server.route('/api/v1/anything', () => ({ ok: true }));
  const port = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  return { port, write, errors };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

async function get(
  port: number,
  path: string,
  opts: { ca: string; auth?: string; cert?: string; key?: string } & Pick<RequestOptions, 'minVersion' | 'maxVersion' | 'ciphers'>,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        ca: readFileSync(opts.ca),
        cert: opts.cert ? readFileSync(opts.cert) : undefined,
        key: opts.key ? readFileSync(opts.key) : undefined,
        auth: opts.auth,
        minVersion: opts.minVersion,
        maxVersion: opts.maxVersion,
        ciphers: opts.ciphers,
        agent: false,
        timeout: 15_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function plainHttp(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  return res.status;
}

async function until(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(100);
  }
}
