// --auth=kubernetes against the test API server speaking TokenReview and
// SubjectAccessReview as the real one does (POST, status filled in, 201):
// allowed 200, unknown token 401, authenticated but not authorised 403,
// health open; decisions cached and expiring; the API server gone → 503,
// never open; the split listeners over TLS with per-path RBAC; a real
// Prometheus scraping with its service account token (credentials_file).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'node:https';
import bcrypt from 'bcryptjs';
import t, { type Test } from 'tap';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config.js';
import { KubeAuth } from '../../src/http/kube-auth.js';
import { DEFAULT_LIMITS } from '../../src/http/limits.js';
import { HttpServer } from '../../src/http/server.js';
import { API_PATHS, METRICS_PATHS, type PathFilter } from '../../src/http/split.js';
import { WebEndpoint } from '../../src/http/web-endpoint.js';
import { KubeClient } from '../../src/kube/client.js';
import { InClusterEndpoint } from '../../src/kube/in-cluster.js';
import type { Logger } from '../../src/log.js';
import { createRegistry } from '../../src/metrics/registry.js';
import { CLI } from '../support/daemon.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { inClusterEnv, serviceAccountDir } from '../support/in-cluster.js';
import { prometheusMissing, startPrometheus } from '../support/prometheus.js';
import { makePki, opensslMissing } from '../support/tls-certs.js';

const PROMETHEUS_SA = 'system:serviceaccount:monitoring:prometheus';
const OPERATOR = 'alice@example.com';

interface Setup {
  api: TestKubeApiServer;
  auth: KubeAuth;
  warnings: string[];
  dir: string;
}

async function setup(t: Test, ttl: { allowedTtlMs: number; deniedTtlMs: number }): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-kube-auth-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // HTTPS and the in-cluster endpoint (token and CA files), as the agent in its pod.
  const api = new TestKubeApiServer({ token: 'kubepulse-sa-token', tls: true });
  await api.start();
  t.teardown(() => api.stop());
  api.addUser('prometheus-token', { username: PROMETHEUS_SA, uid: 'u-1', groups: ['system:serviceaccounts', 'system:authenticated'] });
  api.addUser('operator-token', { username: OPERATOR, groups: ['ops', 'system:authenticated'] });
  api.addUser('nobody-token', { username: 'system:serviceaccount:default:nobody', groups: ['system:authenticated'] });
  // As the chart's ClusterRoles: Prometheus may get /metrics, operators /api/v1/* too.
  api.grantNonResource({ users: [PROMETHEUS_SA], verbs: ['get'], nonResourceURLs: ['/metrics'] });
  api.grantNonResource({ groups: ['ops'], verbs: ['get'], nonResourceURLs: ['/metrics', '/api/v1/*', '/'] });
  const warnings: string[] = [];
  const log: Logger = { debug: () => {}, info: () => {}, warn: (m, f) => warnings.push(`${m} ${JSON.stringify(f ?? {})}`), error: (m) => warnings.push(m) };
  const { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port } = inClusterEnv(api.url);
  const sa = serviceAccountDir(mkdtempSync(join(dir, 'sa-')), api.token, api.certificate as string);
  const client = new KubeClient(new InClusterEndpoint({ host: host as string, port: port as string, serviceAccountDir: sa.dir }));
  const auth = new KubeAuth({ client, ...ttl, log, registry: createRegistry(), timeoutMs: 2000 });
  await auth.prepare();
  return { api, auth, warnings, dir };
}

async function serve(t: Test, auth: KubeAuth, opts: { webConfig?: string; paths?: PathFilter } = {}): Promise<number> {
  const server = new HttpServer({
    registry: createRegistry(),
    readiness: () => ({ ready: true, reasons: [] }),
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    endpoint: new WebEndpoint(opts.webConfig, { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }, DEFAULT_LIMITS, auth),
    ...(opts.paths ? { paths: opts.paths } : {}),
  });
  server.route('/api/v1/flows', () => ({ flows: [] }));
  server.postRoute('/api/v1/syscalls/recording', () => ({ recording: true }));
  t.teardown(() => server.close());
  return server.listen(0, '127.0.0.1');
}

async function status(port: number, path: string, token?: string, method = 'GET'): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  await res.arrayBuffer();
  return res.status;
}

t.test('allowed 200, unknown 401, not authorised 403, health open; the verb and path are what RBAC sees', async (t) => {
  const { api, auth } = await setup(t, { allowedTtlMs: 60_000, deniedTtlMs: 60_000 });
  const port = await serve(t, auth);
  t.equal(await status(port, '/metrics', 'prometheus-token'), 200, "Prometheus's token, granted get /metrics: 200");
  t.equal(await status(port, '/metrics', 'forged-token'), 401, 'a token TokenReview does not know: 401');
  t.equal(await status(port, '/metrics', 'nobody-token'), 403, 'authenticated, not authorised: 403');
  const reviewsBefore = api.tokenReviewCount;
  t.equal(await status(port, '/metrics'), 401, 'no token: 401');
  const basic = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } });
  t.equal(basic.status, 401, 'basic credentials: 401');
  t.equal(basic.headers.get('www-authenticate'), 'Bearer', 'with a Bearer challenge');
  t.equal(api.tokenReviewCount, reviewsBefore, 'no token, no review sent');
  t.equal(await status(port, '/healthz'), 200, '/healthz open for the kubelet');
  t.equal(await status(port, '/readyz'), 200, '/readyz open for the kubelet');
  t.equal(await status(port, '/api/v1/flows', 'prometheus-token'), 403, 'Prometheus may not read /api/v1/flows');
  t.equal(await status(port, '/api/v1/flows', 'operator-token'), 200, 'an operator granted /api/v1/* may');
  t.equal(await status(port, '/api/v1/syscalls/recording', 'operator-token', 'POST'), 403, 'POST is RBAC verb "post", not granted');
  // (operator-token's denial is cached now; another member of the group shows the grant at once.)
  api.grantNonResource({ groups: ['ops'], verbs: ['post'], nonResourceURLs: ['/api/v1/syscalls/recording'] });
  api.addUser('operator2-token', { username: 'bob@example.com', groups: ['ops'] });
  t.equal(await status(port, '/api/v1/syscalls/recording', 'operator2-token', 'POST'), 200, 'granted "post": 200');

  const sar = api.requests.filter((r) => r.path === '/apis/authorization.k8s.io/v1/subjectaccessreviews');
  t.ok(sar.length > 0 && sar.every((r) => r.method === 'POST' && r.authorization === 'Bearer kubepulse-sa-token'), "reviews are POSTed with the agent's own token");
});

t.test('decisions are cached, allowed and denied, and expire', async (t) => {
  // TTLs long enough for a busy machine to finish the cached part within them.
  const TTL = 4000;
  const { api, auth } = await setup(t, { allowedTtlMs: TTL, deniedTtlMs: TTL });
  const port = await serve(t, auth);
  const started = Date.now();
  t.equal(await status(port, '/metrics', 'prometheus-token'), 200);
  t.equal(await status(port, '/metrics', 'nobody-token'), 403);
  t.equal(await status(port, '/metrics', 'forged-token'), 401);
  const reviews = () => api.tokenReviewCount + api.accessReviewCount;
  const afterFirst = reviews();
  t.equal(afterFirst, 5, 'first time: a TokenReview each, a SubjectAccessReview for the two known users');
  const repeated: number[] = [];
  for (let i = 0; i < 5; i++) {
    repeated.push(await status(port, '/metrics', 'prometheus-token'), await status(port, '/metrics', 'nobody-token'), await status(port, '/metrics', 'forged-token'));
  }
  t.same(repeated, Array(5).fill([200, 403, 401]).flat(), 'the same answers again');
  t.equal(reviews(), afterFirst, '15 more requests within the TTL: no review sent');
  const answers = await Promise.all(Array.from({ length: 10 }, () => status(port, '/metrics', 'operator-token')));
  t.same(answers, Array(10).fill(200), '10 concurrent requests with a new token');
  t.equal(reviews(), afterFirst + 2, 'share one TokenReview and one SubjectAccessReview');

  // The grant is withdrawn (ClusterRoleBinding deleted): the cached "allowed" lives out its TTL, then 403.
  api.grants.splice(0, 1);
  t.equal(await status(port, '/metrics', 'prometheus-token'), 200, 'withdrawn grant, cached decision still in force');
  t.ok(Date.now() - started < TTL, 'all of that within the TTL');
  await sleep(TTL + 200);
  t.equal(await status(port, '/metrics', 'prometheus-token'), 403, 'after the TTL the API server is asked again: 403');
  t.ok(reviews() > afterFirst + 2, 'and a review was sent');
  // A denial expires too: a new grant is seen after the denied TTL.
  api.grantNonResource({ users: [PROMETHEUS_SA], verbs: ['get'], nonResourceURLs: ['/metrics'] });
  t.equal(await status(port, '/metrics', 'prometheus-token'), 403, 'cached denial still in force');
  await sleep(TTL + 200);
  t.equal(await status(port, '/metrics', 'prometheus-token'), 200, 'after the denied TTL the new grant counts');
});

t.test('the API server gone: fail closed (503), never open; cached decisions expire; back when it is', async (t) => {
  const { api, auth, warnings } = await setup(t, { allowedTtlMs: 3000, deniedTtlMs: 3000 });
  const port = await serve(t, auth);
  t.equal(await status(port, '/metrics', 'prometheus-token'), 200);
  await api.stop();
  t.equal(await status(port, '/metrics', 'prometheus-token'), 200, 'API server down: a cached decision is still used within its TTL');
  t.equal(await status(port, '/metrics', 'operator-token'), 503, 'an unchecked token: 503, not let in');
  t.equal(await status(port, '/metrics', 'forged-token'), 503, 'a forged token: 503');
  await sleep(3200);
  t.equal(await status(port, '/metrics', 'prometheus-token'), 503, 'after the TTL the cached allowance is gone: 503');
  t.equal(await status(port, '/healthz'), 200, 'health still answers');
  t.equal(warnings.length, 1, `one warning for the outage, not one per request: ${warnings[0]}`);
  t.match(warnings[0], /cannot check credentials with the Kubernetes API/);
  await api.start();
  t.equal(await status(port, '/metrics', 'prometheus-token'), 200, 'API server back: 200 (the failure was not cached)');
  t.equal(await status(port, '/metrics', 'forged-token'), 401, 'and a forged token 401');

  // The agent's own RBAC missing (no create on tokenreviews): closed too, and the log says why.
  api.reviewsForbidden = true;
  t.equal(await status(port, '/metrics', 'another-token'), 503, 'reviews forbidden to the agent: 503');
  t.match(warnings.at(-1), /cannot create resource \\"tokenreviews\\"/, 'the warning names the missing permission');
});

t.test('a flood of forged tokens: a bounded number of reviews in flight, the cached scraper keeps its 200', async (t) => {
  const { api, auth } = await setup(t, { allowedTtlMs: 60_000, deniedTtlMs: 60_000 });
  const port = await serve(t, auth);
  t.equal(await status(port, '/metrics', 'prometheus-token'), 200, 'the scraper, cached');
  api.reviewDelayMs = 1000;
  const flood = Promise.all(Array.from({ length: 300 }, (_, i) => status(port, '/metrics', `forged-${i}`)));
  await sleep(200);
  const started = Date.now();
  t.equal(await status(port, '/metrics', 'prometheus-token'), 200, 'a scrape during the flood: 200');
  t.ok(Date.now() - started < 500, `without waiting for the flood (${Date.now() - started} ms)`);
  const answers = await flood;
  t.ok(answers.every((s) => s === 401 || s === 503), 'every forged token refused (401, or 503 when too many checks wait)');
  t.ok(answers.filter((s) => s === 503).length > 0, 'the excess refused without a review');
  t.ok(api.maxReviewsInFlight <= 64, `the API server had at most 64 reviews at once (${api.maxReviewsInFlight})`);
});

t.test('cost per request: a cache hit against a miss (two reviews)', async (t) => {
  const { api, auth } = await setup(t, { allowedTtlMs: 60_000, deniedTtlMs: 60_000 });
  const N = 200;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const token = `tok-${i}`;
    api.addUser(token, { username: PROMETHEUS_SA });
    const d = await auth.decide(`Bearer ${token}`, 'get', '/metrics');
    if (d.status !== 200) throw new Error(`miss ${i}: ${d.status}`);
  }
  const t1 = process.hrtime.bigint();
  const HITS = 10 * N;
  for (let i = 0; i < HITS; i++) {
    const d = await auth.decide(`Bearer tok-${i % N}`, 'get', '/metrics');
    if (d.status !== 200) throw new Error(`hit ${i}: ${d.status}`);
  }
  const t2 = process.hrtime.bigint();
  const missUs = Number(t1 - t0) / 1000 / N;
  const hitUs = Number(t2 - t1) / 1000 / HITS;
  t.comment(`per decision: miss ${missUs.toFixed(0)} µs (TokenReview + SubjectAccessReview over HTTPS to a loopback API server), hit ${hitUs.toFixed(1)} µs; ratio ${(missUs / hitUs).toFixed(0)}x`);
  t.ok(hitUs * 5 < missUs, 'a hit costs a fraction of a miss');
  t.equal(api.tokenReviewCount, N, 'one TokenReview per new token');
});

t.test('--auth flags, and basic_auth_users refused beside it with one line', async (t) => {
  const c = parseConfig(['--auth', 'kubernetes', '--auth.cache-ttl', '30s', '--auth.denied-cache-ttl', '5s'], {}).config.auth;
  t.same(c, { mode: 'kubernetes', allowedTtlMs: 30_000, deniedTtlMs: 5000 });
  t.same(parseConfig([], {}).config.auth, { mode: 'none', allowedTtlMs: 120_000, deniedTtlMs: 30_000 }, 'defaults');
  t.throws(() => parseConfig(['--auth', 'oidc'], {}), /--auth/, 'an unknown mode: one line');
  const { auth, dir } = await setup(t, { allowedTtlMs: 1000, deniedTtlMs: 1000 });
  const file = join(dir, 'web.yml');
  writeFileSync(file, `basic_auth_users:\n  ops: "${bcrypt.hashSync('pw', 4)}"\n`);
  t.throws(() => new WebEndpoint(file, { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }, DEFAULT_LIMITS, auth), /basic_auth_users cannot be used with --auth=kubernetes/);
});

t.test('--auth=kubernetes without an API server to ask: one line at start, before probes load', { skip: existsSync(CLI) ? false : `${CLI} missing (make build)` }, async (t) => {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', NODE_V8_COVERAGE: undefined };
  delete env.KUBERNETES_SERVICE_HOST;
  delete env.KUBERNETES_SERVICE_PORT;
  const r = spawnSync(process.execPath, [CLI, '--port', '0', '--auth', 'kubernetes'], { encoding: 'utf8', timeout: 90_000, env });
  t.equal(r.status, 2, 'exits 2, as for any bad flag');
  const lines = r.stderr.trim().split('\n');
  t.equal(lines.length, 1, `one line: ${r.stderr.trim()}`);
  t.match(lines[0], /--auth=kubernetes needs the Kubernetes API: not running in a cluster .* and no kubeconfig given/);
});

const tlsMissing = opensslMissing();
t.test('split listeners over TLS: Prometheus scrapes /metrics with its token; /api/v1 needs more', { skip: tlsMissing ?? prometheusMissing() ?? false }, async (t) => {
  const { api, auth, dir } = await setup(t, { allowedTtlMs: 60_000, deniedTtlMs: 5000 });
  const pki = makePki();
  t.teardown(() => pki.cleanup());
  pki.ca('ca');
  pki.leaf('server', 'ca', { cn: 'kubepulse', usage: 'serverAuth', san: 'IP:127.0.0.1' });
  const webConfig = pki.path('web.yml');
  writeFileSync(webConfig, stringify({ tls_server_config: { cert_file: 'server.crt', key_file: 'server.key' } }));
  const main = await serve(t, auth, { webConfig, paths: METRICS_PATHS });
  const apiPort = await serve(t, auth, { webConfig, paths: API_PATHS });
  const agent = new Agent({ ca: readFileSync(pki.path('ca.crt')) });
  t.teardown(() => agent.destroy());
  const https = (port: number, path: string, token?: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, agent, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  t.equal(await https(main, '/metrics', 'prometheus-token'), 200, 'main listener, TLS, Prometheus token: 200');
  t.equal(await https(main, '/metrics'), 401, 'main listener, no token: 401');
  t.equal(await https(apiPort, '/api/v1/flows', 'prometheus-token'), 403, 'API listener: the Prometheus token is not enough');
  t.equal(await https(apiPort, '/api/v1/flows', 'operator-token'), 200, 'API listener: an operator granted /api/v1/*');
  t.equal(await https(apiPort, '/healthz'), 200, 'health open on the API listener too');

  // A real Prometheus with the token in a file, as the ServiceMonitor's authorization.credentials / bearerTokenFile does.
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'prometheus-token\n');
  const wrongFile = join(dir, 'wrong-token');
  writeFileSync(wrongFile, 'nobody-token\n');
  const prom = await startPrometheus({
    scrape: [
      { job: 'bearer', targets: [`127.0.0.1:${main}`], scrapeConfig: { scheme: 'https', tls_config: { ca_file: pki.path('ca.crt') }, authorization: { type: 'Bearer', credentials_file: tokenFile } } },
      { job: 'not-granted', targets: [`127.0.0.1:${main}`], scrapeConfig: { scheme: 'https', tls_config: { ca_file: pki.path('ca.crt') }, authorization: { credentials_file: wrongFile } } },
      { job: 'no-token', targets: [`127.0.0.1:${main}`], scrapeConfig: { scheme: 'https', tls_config: { ca_file: pki.path('ca.crt') } } },
    ],
  });
  t.teardown(() => prom.stop());
  await prom.waitForTargetsUp('bearer', { timeoutMs: 30_000 });
  const up = await prom.waitForQuery('up{job="bearer"} == 1', { timeoutMs: 30_000 });
  t.equal(up.length, 1, 'Prometheus scraped over TLS with its bearer token');
  for (const [job, code] of [['not-granted', /403/], ['no-token', /401/]] as const) {
    const down = await prom.waitFor(`${job} down`, async () => (await prom.targets()).find((x) => x.labels.job === job && x.health === 'down'));
    t.match(down.lastError, code, `${job}: ${down.lastError}`);
  }
  t.ok(api.tokenReviewCount <= 10, `reviews stay few while Prometheus scrapes every second (${api.tokenReviewCount})`);
});
