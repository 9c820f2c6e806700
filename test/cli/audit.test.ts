// `kubepulse audit` against agents that speak the audit API (small HTTP
// servers: one with drift, one from before drift existed, one down), the
// cluster checks against the API stand-in, usage errors. The real agent is
// exercised in test/audit/daemon.e2e.test.ts, Prometheus in
// test/shipping/audit-dashboard.test.ts.
import t, { type Test } from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DriftSnapshot, ViolationsSnapshot } from '../../src/api/audit.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { runCli } from '../support/daemon.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(t: Test, handler: Handler): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

const violations = (node: string, severity: 'medium' | 'low'): ViolationsSnapshot => ({
  node,
  generatedAt: '2026-12-01T00:00:00.000Z',
  pods: [
    {
      namespace: 'shop',
      pod: `web-${node}`,
      workload: 'web',
      workloadKind: 'Deployment',
      ignoredChecks: ['no_limits'],
      violations: [{ check: 'writable_root_fs', severity, container: 'app', evidence: { field: 'spec.containers[0].securityContext.readOnlyRootFilesystem', value: 'unset' } }],
    },
  ],
});

const drift = (node: string): DriftSnapshot => ({
  node,
  generatedAt: '2026-12-01T00:00:00.000Z',
  network: [
    {
      namespace: 'shop', pod: `web-${node}`, workload: 'web', direction: 'egress', protocol: 'TCP', port: 5432,
      peer: { kind: 'pod', address: '10.0.0.9', namespace: 'db', workload: 'postgres' }, count: 3, firstSeen: '', lastSeen: '', policies: ['shop/web-egress'],
    },
  ],
  seccomp: [],
});

function agent(v: ViolationsSnapshot, d: DriftSnapshot | undefined): Handler {
  return (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const body = path === '/api/v1/violations' ? v : path === '/api/v1/drift' ? d : undefined;
    if (body === undefined) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
}

t.test('agents: drift is high, an older agent is a warning, --fail-on gates', async (t) => {
  const withDrift = await serve(t, agent(violations('node-a', 'low'), drift('node-a')));
  const older = await serve(t, agent(violations('node-b', 'medium'), undefined));

  const both = await runCli(['audit', '--agent', withDrift, '--agent', older, '-o', 'json']);
  t.equal(both.code, 0, 'no --fail-on: 0');
  t.equal(both.stderr, `kubepulse audit: agent ${older}: no /api/v1/drift (an older agent): no drift data from it\n`);
  const report = JSON.parse(both.stdout) as { findings: Array<{ kind: string; severity: string; check: string; node: string; evidence: Record<string, unknown> }>; ignored: unknown[] };
  t.same(report.findings.map((f) => `${f.severity}/${f.kind}/${f.node}`), ['high/network_drift/node-a', 'medium/violation/node-b', 'low/violation/node-a']);
  t.same(report.findings[0]?.evidence, { direction: 'egress', protocol: 'TCP', port: 5432, peer: 'pod db/postgres', count: 3, policies: 'shop/web-egress' });
  t.equal(report.ignored.length, 2);

  t.equal((await runCli(['audit', '--agent', withDrift, '--fail-on', 'high'])).code, 1, 'drift fails --fail-on high');
  t.equal((await runCli(['audit', '--agent', older, '--fail-on', 'high'])).code, 0, 'a medium violation passes --fail-on high');
  t.equal((await runCli(['audit', '--agent', older, '--fail-on', 'medium'])).code, 1, 'and fails --fail-on medium');
  const table = await runCli(['audit', '--agent', older, '--fail-on', 'low']);
  t.equal(table.code, 1);
  t.match(table.stdout, /^SEVERITY\s+CHECK\s+NAMESPACE\s+OBJECT\s+CONTAINER\s+NODE\s+EVIDENCE\n/);
  t.match(table.stdout, /medium\s+writable_root_fs\s+shop\s+web-node-b\s+app\s+node-b\s+field=spec.containers\[0\].securityContext.readOnlyRootFilesystem value=unset/);
  t.match(table.stdout, /1 findings \(0 high, 1 medium, 0 low\); 1 at or above low\n/);
  t.match(table.stdout, /ignored by annotation: shop\/web-node-b: no_limits/);
});

t.test('a source down: its line, the others shown, exit 3 (1 when the gate fails anyway)', async (t) => {
  const ok = await serve(t, agent(violations('node-a', 'low'), { node: 'node-a', generatedAt: '', network: [], seccomp: [] }));
  const html = await serve(t, (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>'));
  const down = 'http://127.0.0.1:1';
  const r = await runCli(['audit', '--agent', ok, '--agent', down, '--agent', html, '--fail-on', 'high']);
  t.equal(r.code, 3);
  t.match(r.stderr, new RegExp(`agent ${down}: connection refused`));
  t.match(r.stderr, /unexpected answer from \/api\/v1\/violations|invalid JSON from \/api\/v1\/violations/);
  t.match(r.stdout, /1 findings/);
  t.equal((await runCli(['audit', '--agent', ok, '--agent', down, '--fail-on', 'low'])).code, 1);
});

t.test('usage errors: one line, exit 2', async (t) => {
  for (const [args, message] of [
    [['audit'], /no source: give --agent URL, --discover or --prometheus URL/],
    [['audit', '--agent', 'http://x', '--fail-on', 'critical'], /--fail-on: "critical" is not one of high, medium, low/],
    [['audit', '--agent', 'ftp://x'], /--agent: expected an http\(s\) URL/],
    [['audit', '--agent', 'http://x', '-o', 'yaml'], /-o: "yaml" is not one of table, json/],
  ] as const) {
    const r = await runCli([...args]);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, message);
    t.equal(r.stderr.split('\n').length, 2, 'one line');
  }
});

t.test('--cluster: single replicas, wildcard ingress hosts, namespaces without owner, read-only', async (t) => {
  const api = new TestKubeApiServer();
  await api.start();
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-audit-cli-'));
  t.teardown(async () => {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const deployment = (name: string, replicas: number | undefined) => ({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'shop' },
    spec: { ...(replicas === undefined ? {} : { replicas }), selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'x' }] } } },
  });
  api.addObject('deployments', deployment('web', 3));
  api.addObject('deployments', deployment('worker', undefined)); // the API's default: 1
  api.addObject('deployments', deployment('paused', 0));
  api.addObject('ingresses', { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'wild', namespace: 'shop' }, spec: { rules: [{ host: 'shop.example.com' }, { host: '*.example.com' }] } });
  api.addObject('ingresses', { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'named', namespace: 'shop' }, spec: { rules: [{ host: 'api.example.com' }] } });
  api.addObject('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', annotations: { 'example.com/team': 'payments' } } });
  api.addObject('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab' } });
  api.addObject('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } });
  const kubeconfig = writeKubeconfig(dir, api.url, api.token);
  const agentOk = await serve(t, agent({ node: 'n', generatedAt: '', pods: [] }, { node: 'n', generatedAt: '', network: [], seccomp: [] }));

  const r = await runCli(['audit', '--agent', agentOk, '--cluster', '--kubeconfig', kubeconfig, '--owner-annotation', 'example.com/team', '-o', 'json', '--fail-on', 'medium']);
  t.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as { findings: Array<{ check: string; namespace: string; object: string; evidence: Record<string, unknown> }> };
  t.same(
    report.findings.map((f) => `${f.check} ${f.namespace} ${f.object} ${JSON.stringify(f.evidence)}`),
    [
      'ingress_wildcard_host shop Ingress/wild {"field":"spec.rules[1].host","host":"*.example.com"}',
      'namespace_owner lab Namespace/lab {"field":"metadata.annotations[example.com/team]","value":"missing"}',
      'single_replica shop Deployment/worker {"field":"spec.replicas","replicas":1}',
    ],
  );
  t.ok(api.requests.every((q) => q.method === 'GET'), 'nothing but reads');
  t.ok(['/apis/apps/v1/deployments', '/apis/networking.k8s.io/v1/ingresses', '/api/v1/namespaces'].every((p) => api.requests.some((q) => q.path === p)));
});
