// `kubepulse ui --prometheus` end to end (issue 14, cluster scope): a real
// Prometheus scrapes two agents — the real daemon on this kernel, with a
// kubelet-shaped pod making connects and failing DNS lookups, and the
// recorded /metrics of a second agent (fixtures/agent-node-b.prom, served
// as a file) — and the real CLI serves the topology of both, plus the live
// agent's events merged through its own /api/v1/events.
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Topology } from '../../src/api/topology.js';
import { makePod, randomContainerId } from '../metadata/fixtures/pods.js';
import { startBashContainer } from '../support/bash-container.js';
import { needsChromium, openBrowser, outputDir } from '../support/browser.js';
import { startCli } from '../support/cli-process.js';
import { startDaemon } from '../support/daemon.js';
import { startDnsServer } from '../support/dns-server.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { needsPodCgroups, PodCgroups } from '../support/pod-cgroups.js';
import { needsBpf } from '../support/privileges.js';
import { prometheusMissing, startPrometheus } from '../support/prometheus.js';
import { until } from '../support/until.js';

const HERE = dirname(fileURLToPath(import.meta.url));

function skipReason(): { skip: string | false } {
  const bpf = needsBpf();
  if (bpf.skip !== false) return bpf;
  const pods = needsPodCgroups();
  if (pods.skip !== false) return pods;
  const prom = prometheusMissing();
  return { skip: prom ?? false };
}

function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

t.test('kubepulse ui shows the flows and failures of two agents from Prometheus', skipReason(), async (t) => {
  const closers: Array<() => Promise<unknown> | void> = [];
  t.teardown(async () => {
    for (const close of closers.reverse()) await close();
  });
  const cgroups = new PodCgroups('kubepulse-ui');
  closers.push(() => cgroups.cleanup());

  const node = `ui-node-${randomBytes(3).toString('hex')}`;
  const ns = `ui-${randomBytes(3).toString('hex')}`;
  const dns = await startDnsServer();
  closers.push(() => dns.close());
  const listener = createServer((s) => {
    s.on('error', () => {});
    s.end();
  });
  const openPort = await listen(listener);
  closers.push(() => new Promise<void>((r) => listener.close(() => r())));

  // The second agent: its recorded /metrics, served as a file.
  const recorded = readFileSync(join(HERE, 'fixtures', 'agent-node-b.prom'), 'utf8');
  const agentB = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(recorded));
  const agentBPort = await listen(agentB);
  closers.push(() => new Promise<void>((r) => agentB.close(() => r())));

  const api = new TestKubeApiServer();
  await api.start();
  closers.push(() => api.stop());
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-ui-'));
  closers.push(() => rmSync(dir, { recursive: true, force: true }));
  const uid = randomUUID();
  const cid = randomContainerId();
  const box = startBashContainer(cgroups, uid, cid);
  api.addPod(
    makePod({ name: 'checkout-5d8f7b9c4-q7k2m', namespace: ns, uid, nodeName: node, labels: { app: 'checkout' }, owner: { kind: 'ReplicaSet', name: 'checkout-5d8f7b9c4' }, containers: { app: cid } }),
  );

  const daemon = await startDaemon(['--kubeconfig', writeKubeconfig(dir, api.url, api.token), '--node-name', node, '--dns-ports', `53,${dns.port}`, '--dns-timeout', '1s', '--api.history', '300000']);
  closers.push(() => daemon.stop());
  await daemon.waitReady(45_000);

  t.equal(await box.run(`tcp 3 ${openPort}`), 'tcp 3', 'the pod connects');
  t.equal(await box.run(`dig ${dns.port} A fail.ui-test.example`), 'dig status: SERVFAIL', 'and fails a lookup');

  const prom = await startPrometheus({
    scrape: [{ job: 'kubepulse', targets: [`127.0.0.1:${daemon.port}`, `127.0.0.1:${agentBPort}`] }],
  });
  closers.push(() => prom.stop());
  await prom.waitForTargetsUp('kubepulse');

  const ui = startCli(['ui', '--prometheus', prom.url, '--port', '0', '--agent', daemon.url('').replace(/\/$/, ''), '--range', '10m']);
  closers.push(() => ui.stop());
  await until('kubepulse ui serving', async () => ui.lines.some((l) => l.line.includes('serving http://')), { timeoutMs: 15_000, everyMs: 100 });
  const base = /serving (http:\/\/[^/]+)\//.exec(ui.lines.find((l) => l.line.includes('serving'))!.line)![1]!;

  // The workload is named as the daemon resolves it (here from the ReplicaSet).
  let me = '';
  let topology: Topology | undefined;
  await until(
    'both agents and the pod in the topology',
    async () => {
      const res = await fetch(`${base}/api/v1/topology?range=10m`);
      if (res.status !== 200) return false;
      topology = (await res.json()) as Topology;
      const mine = topology.nodes.find((n) => n.namespace === ns && n.kind === 'workload');
      me = mine?.id ?? '';
      return topology.agents.includes(node) && topology.agents.includes('node-b') && mine?.health === 'failing' && topology.edges.some((e) => e.source === me);
    },
    {
      timeoutMs: 30_000,
      everyMs: 1000,
      describe: () => JSON.stringify({ agents: topology?.agents, nodes: topology?.nodes.map((n) => `${n.id} ${n.health} ${n.reasons.join('/')}`), edges: topology?.edges.map((e) => e.id) }),
    },
  );
  const tp = topology as Topology;
  t.equal(tp.scope, 'cluster');
  const mine = tp.nodes.find((n) => n.id === me)!;
  t.ok(mine.reasons.some((r) => r.startsWith('dns SERVFAIL')), `the failing lookup is the reason: ${mine.reasons.join(', ')}`);
  t.equal(mine.figures?.connections.established, 3, 'three connects established');
  t.ok(mine.figures?.connectP99Seconds !== null, 'connect latency quantiles from the histogram');
  const edge = tp.edges.find((e) => e.source === me && e.port === openPort);
  t.ok(edge, `an edge from the pod's workload on port ${openPort}`);
  t.equal(edge?.direction, 'egress');

  // node-b's flows: both ends of ledger → postgres make one edge.
  const ledger = tp.edges.filter((e) => e.source === 'workload:payments/ledger' && e.target === 'workload:payments/postgres');
  t.equal(ledger.length, 1, 'one edge for a flow both ends report');
  t.equal(ledger[0]?.count, 42);
  t.ok(tp.edges.some((e) => e.target === 'service:kube-system/kube-dns' && e.port === 53), 'the Service peer');
  const ledgerNode = tp.nodes.find((n) => n.id === 'workload:payments/ledger');
  t.equal(ledgerNode?.health, 'failing', 'refused connects on node-b mark ledger failing');
  t.same(ledgerNode?.reasons, ['tcp refused 3']);

  // Bad input: one line, not a 500.
  const bad = await fetch(`${base}/api/v1/topology?range=forever`);
  t.equal(bad.status, 400);
  t.match(await bad.text(), /^range: "forever" is not a duration/);

  // The live agent's events through the ui's own /api/v1/events.
  const events = await fetch(`${base}/api/v1/events?namespace=${ns}&type=dns&last=10&follow=false`);
  t.equal(events.status, 200);
  t.match(events.headers.get('content-type'), /^text\/event-stream/);
  const text = await events.text();
  t.match(text, /"rcode":"SERVFAIL"/, 'the failing lookup in the merged stream');
  t.match(text, /event: end/, 'the stream ends after the history');

  // The same page the agents serve, in a real browser, drawing both agents' data.
  if (needsChromium().skip === false) {
    const { page, errors, close } = await openBrowser();
    closers.push(close);
    await page.goto(`${base}/`);
    const vertex = (id: string) => page.locator(`g.vertex[data-id="${id}"]`);
    await vertex('workload:payments/ledger').waitFor({ timeout: 15_000 });
    await vertex(me).waitFor({ timeout: 15_000 });
    t.ok(await page.locator('path[data-edge="workload:payments/ledger|workload:payments/postgres|TCP/5432"]').count(), 'the page draws node-b\'s edge');
    t.equal(await vertex(me).getAttribute('data-health'), 'failing', 'and the live agent\'s pod failing DNS');
    t.equal(await vertex('workload:payments/ledger').getAttribute('data-health'), 'failing', 'and ledger refused');
    await page.screenshot({ path: join(outputDir('ui'), 'cluster.png') });
    t.same(errors, [], 'no console errors');
  } else t.comment(String(needsChromium().skip));

  // Prometheus gone: the page is told in one line, 502.
  await prom.stop();
  await new Promise((r) => setTimeout(r, 2100)); // past the topology cache
  const down = await fetch(`${base}/api/v1/topology?range=10m`);
  t.equal(down.status, 502);
  t.match(await down.text(), /^prometheus http:\/\/127\.0\.0\.1:\d+: connection refused/);
});
