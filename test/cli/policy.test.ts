import t from 'tap';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { AddressInfo } from 'node:net';
import { parseAllDocuments } from 'yaml';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { runPolicyCommand } from '../../src/cli/policy.js';
import { fixtureText } from '../policy/fixtures/load.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(t: Tap, handler: Handler): Promise<string> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

type Tap = { teardown(fn: () => void): void };

const json = (res: ServerResponse, status: number, body: string): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body);
};

/** An agent answering from fixture files. */
function agent(flows: string, syscalls = 'syscalls-n1.json'): Handler {
  return (req, res) => {
    if (req.url === '/api/v1/flows') return json(res, 200, fixtureText(flows));
    if (req.url === '/api/v1/syscalls') return json(res, 200, fixtureText(syscalls));
    json(res, 404, '{"error":"not found"}');
  };
}

/** A port nothing listens on any more. */
async function closedPort(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runPolicyCommand(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stdout, stderr };
}

function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

function tempDir(t: Tap): string {
  const d = mkdtempSync(join(tmpdir(), 'kubepulse-policy-cli-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

t.test('network from two agents to stdout', async (t) => {
  const a1 = await serve(t, agent('flows-n1.json'));
  const a2 = await serve(t, agent('flows-n2.json'));
  const r = await run(['network', '--agent', a1, '--agent', a2]);
  t.equal(r.code, 0, r.stderr);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as { metadata: { namespace: string; name: string } });
  t.same(docs.map((d) => `${d.metadata.namespace}/${d.metadata.name}`), ['db/kubepulse-pg', 'shop/kubepulse-migrate', 'shop/kubepulse-web']);
  for (const d of docs) t.doesNotThrow(() => new NetworkPolicy(d as never).validate());
  t.match(r.stderr, /warning: shop\/cart: no observed traffic of its own/);
  const again = await run(['network', '--agent', a2, '--agent', a1]);
  t.equal(again.stdout, r.stdout, 'byte-identical, whatever the agent order');
});

t.test('network to a directory, one file per workload, and cilium', async (t) => {
  const a1 = await serve(t, agent('flows-n1.json'));
  const a2 = await serve(t, agent('flows-n2.json'));
  const out = tempDir(t);
  const r = await run(['network', '--agent', a1, '--agent', a2, '--output', out]);
  t.equal(r.code, 0, r.stderr);
  const files = tree(out);
  t.same(Object.keys(files).sort(), ['db/pg.yaml', 'shop/migrate.yaml', 'shop/web.yaml']);
  t.match(files['shop/web.yaml'], /^apiVersion: networking.k8s.io\/v1\nkind: NetworkPolicy\n/);
  const cil = await run(['network', '--agent', a1, '--agent', a2, '--format', 'cilium', '--namespace', 'shop', '--workload', 'web']);
  t.equal(cil.code, 0, cil.stderr);
  t.match(cil.stdout, /^apiVersion: cilium.io\/v2\nkind: CiliumNetworkPolicy\n/);
  t.equal(parseAllDocuments(cil.stdout).length, 1);
});

t.test('seccomp: one profile to stdout, several to a directory, SPO objects', async (t) => {
  const a1 = await serve(t, agent('flows-n1.json'));
  const one = await run(['seccomp', '--agent', a1, '--namespace', 'shop', '--workload', 'web', '--container', 'web', '--baseline', 'none']);
  t.equal(one.code, 0, one.stderr);
  t.same(JSON.parse(one.stdout).syscalls[0].names, ['accept4', 'close', 'epoll_wait', 'futex', 'read', 'recvfrom', 'sendto', 'write']);
  const out = tempDir(t);
  const dir = await run(['seccomp', '--agent', a1, '--output', out]);
  t.equal(dir.code, 0, dir.stderr);
  t.same(Object.keys(tree(out)).sort(), ['db/pg/pg.json', 'shop/web/istio-proxy.json', 'shop/web/web.json']);
  t.match(dir.stderr, /warning: db\/pg\/sleeper: no syscalls observed/);
  const spo = await run(['seccomp', '--agent', a1, '--spo', '--workload', 'pg']);
  t.equal(spo.code, 0, spo.stderr);
  const [doc] = parseAllDocuments(spo.stdout).map((d) => d.toJS() as { kind: string; apiVersion: string; metadata: { name: string } });
  t.same([doc!.apiVersion, doc!.kind, doc!.metadata.name], ['security-profiles-operator.x-k8s.io/v1beta1', 'SeccompProfile', 'pg-pg']);
});

t.test('nothing observed for the selection: warning and non-zero exit, never a deny-all', async (t) => {
  const a1 = await serve(t, agent('flows-n1.json'));
  const out = tempDir(t);
  const r = await run(['network', '--agent', a1, '--namespace', 'shop', '--workload', 'cart', '--output', out]);
  t.equal(r.code, 1);
  t.match(r.stderr, /shop\/cart: no observed traffic/);
  t.match(r.stderr, /nothing to write/);
  t.same(tree(out), {});
});

t.test('bad sources: the source is named with the reason, exit non-zero, output untouched', async (t) => {
  const good = await serve(t, agent('flows-n1.json'));
  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    ['down', closedPort, /connection refused/],
    ['garbage', () => serve(t, (_req, res) => json(res, 200, '{"node": "n1", "flows": [')), /invalid JSON from \/api\/v1\/(flows|syscalls)/],
    ['wrong shape', () => serve(t, (_req, res) => json(res, 200, '{"node":"n1","flows":[{"namespace":"a"}],"containers":[{}]}')), /unexpected answer from \/api\/v1\/(flows|syscalls): \$\.(flows\[0\]\.pod|arch): expected a non-empty string/],
    ['500', () => serve(t, (_req, res) => json(res, 500, 'internal error: map read failed')), /HTTP 500 from \/api\/v1\/(flows|syscalls): internal error: map read failed/],
    ['hangs', () => serve(t, () => undefined), /timed out after 300ms/],
    ['headers then stalls', () => serve(t, (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.write('{"node":'); }), /timed out/],
  ];
  for (const [name, make, reason] of cases) {
    for (const what of ['network', 'seccomp']) {
      t.test(`${what}: agent ${name}`, async (t) => {
        const bad = await make();
        const out = tempDir(t);
        writeFileSync(join(out, 'keep.txt'), 'from before\n');
        const started = Date.now();
        const r = await run([what, '--agent', good, '--agent', bad, '--timeout', '300ms', '--output', out]);
        t.equal(r.code, 1);
        const lines = r.stderr.trim().split('\n').filter((l) => !l.includes('warning:'));
        t.equal(lines.length, 1, r.stderr);
        t.match(lines[0], new RegExp(`^kubepulse policy: agent ${bad.replace(/[.]/g, '\\.')} failed: `));
        t.match(lines[0], reason);
        t.same(tree(out), { 'keep.txt': 'from before\n' }, 'no partial files');
        t.equal(r.stdout, '');
        t.ok(Date.now() - started < 5000, 'bounded by the timeout');
      });
    }
  }
});

t.test('several failing sources: one line each', async (t) => {
  const down = await closedPort();
  const broken = await serve(t, (_req, res) => json(res, 503, ''));
  const r = await run(['network', '--agent', down, '--agent', broken]);
  t.equal(r.code, 1);
  t.same(r.stderr.trim().split('\n'), [
    `kubepulse policy: agent ${down} failed: connection refused`,
    `kubepulse policy: agent ${broken} failed: HTTP 503 from /api/v1/flows`,
  ]);
});

/** A Prometheus stand-in answering the flows query with the series an agent's flows would have produced. */
function prometheus(seen: string[]): Handler {
  const series = (m: Record<string, string>, v: string) => ({ metric: m, value: [1763892000, v] });
  const web = { namespace: 'shop', workload: 'web', protocol: 'TCP' };
  const body = {
    status: 'success',
    data: {
      resultType: 'vector',
      result: [
        series({ ...web, direction: 'egress', port: '5432', peer_kind: 'pod', peer_namespace: 'db', peer_workload: 'pg' }, '19'),
        series({ ...web, direction: 'egress', port: '80', peer_kind: 'service', peer_namespace: 'shop', peer_workload: 'catalog' }, '3'),
        series({ ...web, protocol: 'UDP', direction: 'egress', port: '53', peer_kind: 'service', peer_namespace: 'kube-system', peer_workload: 'kube-dns' }, '49'),
        series({ ...web, direction: 'ingress', port: '8080', peer_kind: 'pod', peer_namespace: 'ingress-nginx', peer_workload: 'ingress-nginx-controller' }, '3'),
        series({ namespace: 'db', workload: 'pg', protocol: 'TCP', direction: 'ingress', port: '5432', peer_kind: 'pod', peer_namespace: 'shop', peer_workload: 'web' }, '12'),
        series({ namespace: 'shop', workload: 'migrate', protocol: 'TCP', direction: 'egress', port: '443', peer_kind: 'external' }, '1'),
      ],
    },
  };
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/api/v1/query') return json(res, 404, '{}');
    seen.push(url.searchParams.get('query') ?? '');
    json(res, 200, JSON.stringify(body));
  };
}

t.test('network from Prometheus, labels and selectors from an agent', async (t) => {
  const seen: string[] = [];
  const prom = await serve(t, prometheus(seen));
  const a1 = await serve(t, agent('flows-n1.json'));
  const r = await run(['network', '--prometheus', prom, '--range', '7d', '--agent', a1]);
  t.equal(r.code, 0, r.stderr);
  t.same(seen, [
    'sum by (namespace, workload, direction, protocol, port, peer_kind, peer_namespace, peer_workload) (max_over_time(kubepulse_flows_total[7d])) > 0',
  ]);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as { metadata: { name: string }; spec: { egress: unknown[]; ingress: unknown[] } });
  t.same(docs.map((d) => d.metadata.name), ['kubepulse-pg', 'kubepulse-web']);
  const web = docs[1]!;
  t.equal(web.spec.egress.length, 3, 'pg, catalog (targetPort from the agent), DNS — only what Prometheus counted');
  t.match(JSON.stringify(web.spec.egress), /"port":8081/);
  t.match(r.stderr, /shop\/migrate: no policy written, 1 observed peer\(s\) cannot be expressed: egress external peer on TCP\/443 has no address/);
  const alone = await run(['network', '--prometheus', prom]);
  t.equal(alone.code, 1, 'Prometheus alone has no labels to select pods by');
  t.match(alone.stderr, /shop\/web: no stable pod labels known, so no selector can pick its pods; no policy written \(this source carries no pod labels: add --agent or --discover for them\)/);
  t.match(alone.stderr, /nothing to write/);
});

t.test('Prometheus failures name Prometheus', async (t) => {
  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    ['down', closedPort, /connection refused/],
    ['garbage', () => serve(t, (_req, res) => json(res, 200, 'not json')), /invalid JSON from \/api\/v1\/query/],
    ['query error', () => serve(t, (_req, res) => json(res, 400, '{"status":"error","errorType":"bad_data","error":"parse error"}')), /HTTP 400 from \/api\/v1\/query: .*parse error/],
    ['not a vector', () => serve(t, (_req, res) => json(res, 200, '{"status":"success","data":{"resultType":"matrix","result":[]}}')), /unexpected answer from \/api\/v1\/query: \$\.data\.resultType: expected vector/],
    ['hangs', () => serve(t, () => undefined), /timed out after 300ms/],
  ];
  for (const [name, make, reason] of cases) {
    t.test(name, async (t) => {
      const prom = await make();
      const out = tempDir(t);
      const r = await run(['network', '--prometheus', prom, '--timeout', '300ms', '--output', out]);
      t.equal(r.code, 1);
      t.match(r.stderr, new RegExp(`^kubepulse policy: prometheus ${prom.replace(/[.]/g, '\\.')} failed: `));
      t.match(r.stderr, reason);
      t.same(tree(out), {});
    });
  }
});

t.test('--discover finds the agents through the Kubernetes API', async (t) => {
  const a1 = await serve(t, agent('flows-n1.json'));
  const agentPort = Number(new URL(a1).port);
  const requests: string[] = [];
  const api = await serve(t, (req, res) => {
    requests.push(req.url ?? '');
    const pod = (name: string, phase: string, podIP?: string) => ({
      metadata: { name, namespace: 'kubepulse' },
      spec: { containers: [{ name: 'kubepulse', ports: [{ name: 'metrics', containerPort: agentPort }] }] },
      status: { phase, ...(podIP === undefined ? {} : { podIP }) },
    });
    json(res, 200, JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [pod('kubepulse-a', 'Running', '127.0.0.1'), pod('kubepulse-b', 'Pending')] }));
  });
  const dir = tempDir(t);
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
      // Plain HTTP on loopback (as from `kubectl proxy`), accepted as kubectl does, without skip-TLS-verify.
      clusters: [{ name: 'test', cluster: { server: api } }],
      users: [{ name: 'test', user: { token: 'test-token' } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
    }),
  );
  const r = await run(['network', '--discover', '--kubeconfig', kubeconfig, '--workload', 'migrate']);
  t.equal(r.code, 0, r.stderr);
  t.match(requests[0], /^\/api\/v1\/namespaces\/kubepulse\/pods\?.*labelSelector=app\.kubernetes\.io%2Fname%3Dkubepulse/);
  t.match(r.stderr, /discovery: skipping agent pod kubepulse-b \(Pending, no IP\)/);
  t.match(r.stdout, /name: kubepulse-migrate/);

  const downApi = await closedPort();
  writeFileSync(kubeconfig, readFileSync(kubeconfig, 'utf8').replace(api, downApi));
  const down = await run(['network', '--discover', '--kubeconfig', kubeconfig, '--timeout', '2s']);
  t.equal(down.code, 1);
  t.match(down.stderr, new RegExp(`^kubepulse policy: kubernetes API ${downApi.replace(/[.]/g, '\\.')} failed: `));
});

t.test('usage', async (t) => {
  const help = await run(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage: kubepulse policy network\|seccomp/);
  const cases: Array<[string[], RegExp]> = [
    [[], /expected "network" or "seccomp"/],
    [['network'], /no source: give --agent URL, --discover or --prometheus URL/],
    [['network', '--agent', 'ftp://x'], /--agent: expected an http\(s\) URL/],
    [['network', '--agent', 'http://127.0.0.1:1', '--format', 'calico'], /--format: expected k8s or cilium/],
    [['network', '--prometheus', 'http://127.0.0.1:1', '--range', 'yesterday'], /--range: expected a Prometheus duration/],
    [['seccomp', '--prometheus', 'http://127.0.0.1:1'], /--prometheus holds flows only/],
    [['seccomp', '--agent', 'http://127.0.0.1:1', '--baseline', 'docker'], /--baseline: expected runc or none/],
    [['network', '--agent', 'http://127.0.0.1:1', '--timeout', 'soon'], /--timeout: expected a duration/],
    [['network', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [argv, msg] of cases) {
    const r = await run(argv);
    t.equal(r.code, 2, argv.join(' '));
    t.match(r.stderr, msg, argv.join(' '));
  }
});
