// The topology page end to end (issue 14), in a real browser: the real
// daemon on this kernel, kubelet-shaped pod cgroups with real processes in
// them talking over loopback aliases, the Kubernetes API stand-in, the test
// DNS server, and Debian's Chromium opening the agent's `/`.
//
//   shop/frontend (Deployment)  127.0.14.1  → shop/cart:8080, DNS NOERROR
//   shop/cart     (StatefulSet) 127.0.14.2  listens on 8080 and 9090
//   pay/checkout  (Deployment)  127.0.14.3  → shop/cart:8080, DNS SERVFAIL
//
// Proven: the map shows the workloads and the edges between them; checkout
// is marked failing (its DNS fails); the table lists exactly the flows
// /api/v1/topology answers; selecting a workload shows its connect p50/p99,
// results and DNS by domain; the NetworkPolicy button gives the policy of
// src/policy; the namespace and only-failing filters work; a new flow shows
// within 2 s without moving any vertex already drawn; no console errors.
// Screenshots: build/test-output/page/.
import t from 'tap';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { Topology } from '../../src/api/topology.js';
import { makePod, randomContainerId } from '../metadata/fixtures/pods.js';
import { needsChromium, openBrowser, outputDir } from '../support/browser.js';
import { startDaemon } from '../support/daemon.js';
import { startDnsServer } from '../support/dns-server.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { needsPodCgroups, podCgroups } from '../support/pod-cgroups.js';
import { needsBpf } from '../support/privileges.js';
import { until } from '../support/until.js';

const NODE = 'page-node';
const IP = { frontend: '127.0.14.1', cart: '127.0.14.2', checkout: '127.0.14.3', dns: '127.0.14.53' };

const SERVER_JS = `
import { createServer } from 'node:net';
const listeners = JSON.parse(process.argv[2]);
let up = 0;
for (const { host, port } of listeners)
  createServer((s) => { s.on('error', () => {}); s.end('hi\\n'); }).listen(port, host, () => { if (++up === listeners.length) console.log('listening'); });
`;

// Connects to each target and asks one DNS question per round, until stdin closes.
const CLIENT_JS = `
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
const { local, tcp, dns, intervalMs, rounds } = JSON.parse(process.argv[2]);
const query = (id, name) => {
  const labels = Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
  const q = Buffer.alloc(12 + labels.length + 4);
  q.writeUInt16BE(id, 0); q.writeUInt16BE(0x0100, 2); q.writeUInt16BE(1, 4);
  labels.copy(q, 12); q.writeUInt16BE(1, 12 + labels.length); q.writeUInt16BE(1, 14 + labels.length);
  return q;
};
const tcpOnce = ({ host, port }) => new Promise((resolve) => {
  const s = connect({ host, port, localAddress: local });
  const timer = setTimeout(() => { s.destroy(); resolve('timeout'); }, 2000);
  s.on('connect', () => { clearTimeout(timer); s.end(); resolve('ok'); });
  s.on('error', (e) => { clearTimeout(timer); resolve(e.code ?? String(e)); });
});
const dnsOnce = (id) => new Promise((resolve) => {
  if (!dns) return resolve('none');
  const s = createSocket('udp4');
  const timer = setTimeout(() => { s.close(); resolve('timeout'); }, 2000);
  s.on('message', (m) => { clearTimeout(timer); s.close(); resolve(['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN'][m.readUInt16BE(2) & 15] ?? 'other'); });
  s.bind({ address: local, port: 0 }, () => s.send(query(id, dns.name), dns.port, dns.host));
});
let stop = false;
process.stdin.on('data', () => { stop = true; });
process.stdin.on('end', () => { stop = true; });
for (let round = 1; !stop && round <= rounds; round++) {
  const results = {};
  for (const target of tcp) results[target.host + ':' + target.port] = await tcpOnce(target);
  results.dns = await dnsOnce(round & 0xffff);
  console.log(JSON.stringify({ round, results }));
  await new Promise((r) => setTimeout(r, intervalMs));
}
process.exit(0);
`;

function podWithIp(pod: V1Pod, ip: string): V1Pod {
  pod.status = { ...pod.status, podIP: ip, podIPs: [{ ip }] };
  return pod;
}

const skipBpf = needsBpf().skip;
const skip = skipBpf !== false ? skipBpf : needsPodCgroups().skip !== false ? needsPodCgroups().skip : needsChromium().skip;

t.test('the agent\'s page shows its workloads, flows and failures live, in Chromium', { skip, timeout: 150_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'kubepulse-page-e2e-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const shots = outputDir('page');
  const write = (name: string, text: string): string => {
    writeFileSync(join(work, name), text);
    return join(work, name);
  };

  const cgroups = podCgroups(t, 'kubepulse-page');
  const uid = { frontend: randomUUID(), cart: randomUUID(), checkout: randomUUID() };
  const cid = { frontend: randomContainerId(), cart: randomContainerId(), checkout: randomContainerId() };
  const dirs = {
    frontend: cgroups.container(uid.frontend, cid.frontend).dir,
    cart: cgroups.container(uid.cart, cid.cart).dir,
    checkout: cgroups.container(uid.checkout, cid.checkout).dir,
  };
  const run = (dir: string, argv: string[]): { child: ChildProcess; out: string[] } => {
    const child = cgroups.spawnIn(dir, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => t.comment(`pod process: ${d.trim()}`));
    const out: string[] = [];
    let pending = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      pending += d;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        out.push(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    t.teardown(() => void child.stdin?.end());
    return { child, out };
  };

  const dns = await startDnsServer({ host: IP.dns });
  t.teardown(() => dns.close());
  const api = new TestKubeApiServer();
  await api.start();
  t.teardown(() => api.stop());
  const pod = (name: string, namespace: string, key: keyof typeof uid, app: string, owner: { kind: string; name: string }) => {
    // A ReplicaSet's pods carry its hash; the workload is the Deployment.
    const hash: Record<string, string> = owner.kind === 'ReplicaSet' ? { 'pod-template-hash': owner.name.split('-').at(-1) as string } : {};
    api.addPod(podWithIp(makePod({ name, namespace, uid: uid[key], nodeName: NODE, labels: { app, ...hash }, owner, containers: { app: cid[key] } }), IP[key]));
  };
  pod('frontend-6f7d9c8b5-k2x7q', 'shop', 'frontend', 'frontend', { kind: 'ReplicaSet', name: 'frontend-6f7d9c8b5' });
  pod('cart-0', 'shop', 'cart', 'cart', { kind: 'StatefulSet', name: 'cart' });
  pod('checkout-5d8f7b9c4-q7k2m', 'pay', 'checkout', 'checkout', { kind: 'ReplicaSet', name: 'checkout-5d8f7b9c4' });
  api.addNode({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE, uid: randomUUID() }, status: { addresses: [{ type: 'InternalIP', address: '192.0.2.14' }] } });
  const kubeconfig = writeKubeconfig(work, api.url, api.token);

  const daemon = await startDaemon([
    '--kubeconfig', kubeconfig,
    '--node-name', NODE,
    '--probes', 'tcp,dns,flows',
    '--dns-ports', `53,${dns.port}`,
    '--dns-timeout', '1s',
    // Shared with every other process's events on this machine: other tests' storms must not push ours out.
    '--api.history', '200000',
    '--log-level', 'info',
  ]);
  t.teardown(() => daemon.stop());
  await daemon.waitReady(45_000);

  const cart = run(dirs.cart, [process.execPath, write('server.mjs', SERVER_JS), JSON.stringify([8080, 9090].map((port) => ({ host: IP.cart, port })))]);
  await until('cart listening', () => (cart.out.includes('listening') ? true : undefined), { timeoutMs: 10_000, everyMs: 50 });
  const client = write('client.mjs', CLIENT_JS);
  const traffic = (key: 'frontend' | 'checkout', name: string) =>
    run(dirs[key], [process.execPath, client, JSON.stringify({ local: IP[key], tcp: [{ host: IP.cart, port: 8080 }], dns: { host: IP.dns, port: dns.port, name }, intervalMs: 300, rounds: 400 })]);
  const frontend = traffic('frontend', 'api.example.com');
  const checkout = traffic('checkout', 'fail.payments.example.org');
  const firstRound = async (c: { out: string[] }) => JSON.parse(await until('a round of traffic', () => c.out[0], { timeoutMs: 10_000, everyMs: 50 })).results;
  t.same(await firstRound(frontend), { [`${IP.cart}:8080`]: 'ok', dns: 'NOERROR' }, 'frontend connects and resolves');
  t.same(await firstRound(checkout), { [`${IP.cart}:8080`]: 'ok', dns: 'SERVFAIL' }, 'checkout connects; its DNS fails');

  const edgeFrontend = 'workload:shop/frontend|workload:shop/cart|TCP/8080';
  const edgeCheckout = 'workload:pay/checkout|workload:shop/cart|TCP/8080';
  const topology = async (): Promise<Topology> => JSON.parse((await daemon.get('/api/v1/topology?range=5m')).body) as Topology;
  let last: Topology | undefined;
  await until(
    'the topology has both edges and checkout failing',
    async () => {
      const tp = (last = await topology());
      const ids = new Set(tp.edges.map((e) => e.id));
      const co = tp.nodes.find((n) => n.id === 'workload:pay/checkout');
      return ids.has(edgeFrontend) && ids.has(edgeCheckout) && co?.health === 'failing' ? true : undefined;
    },
    // The flows probe follows the pod roots it finds by rescanning: slow on a loaded machine.
    { timeoutMs: 45_000, everyMs: 250, retryErrors: true, describe: () => JSON.stringify({ nodes: last?.nodes.map((n) => [n.id, n.health, n.reasons]), edges: last?.edges.map((e) => e.id) }) },
  );

  const { page, errors, close } = await openBrowser();
  t.teardown(close);
  await page.goto(daemon.url('/range=5m').replace('/range=5m', '/'));
  await page.selectOption('#range', '5m');
  const vertex = (id: string) => page.locator(`g.vertex[data-id="${id}"]`);
  await vertex('workload:shop/frontend').waitFor({ timeout: 10_000 });
  await page.locator(`path[data-edge="${edgeFrontend}"]`).waitFor({ state: 'attached', timeout: 10_000 });
  t.ok(await vertex('workload:shop/cart').isVisible(), 'the map shows cart');
  t.ok(await page.locator(`path[data-edge="${edgeCheckout}"]`).count(), 'and the edge checkout → cart:8080');
  await until('checkout marked failing', async () => ((await vertex('workload:pay/checkout').getAttribute('data-health')) === 'failing' ? true : undefined), { timeoutMs: 5000, everyMs: 100 });
  t.pass('checkout (DNS SERVFAIL) is marked failing on the map');
  t.match(await vertex('workload:pay/checkout').locator('title').textContent(), /dns SERVFAIL \d+/, 'with the reason');
  t.equal(await vertex('workload:shop/frontend').getAttribute('data-health'), 'ok', 'frontend is healthy');
  t.ok(await page.locator('.island-title', { hasText: 'pay' }).count(), 'namespaces are islands');
  await page.screenshot({ path: join(shots, 'map.png') });

  // The table holds the same flows as the API (for the same range).
  await page.waitForTimeout(1200);
  const api5m = await topology();
  const rows = await page.locator('table.flows tbody tr').evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.edge));
  const apiIds = api5m.edges.map((e) => e.id).sort();
  t.ok(rows.includes(edgeFrontend) && rows.includes(edgeCheckout), 'the table lists both edges');
  t.same(rows.filter((r) => apiIds.includes(r as string)).length, rows.length, 'every row is a flow of /api/v1/topology');
  t.ok(Math.abs(rows.length - apiIds.length) <= 2, `the table has the API's flows (${rows.length} rows, ${apiIds.length} flows)`);
  // Sorting by client puts pay/checkout first; keyboard: Home, then Enter selects.
  await page.click('th button[data-sort="source"]');
  const firstRow = page.locator('table.flows tbody tr').first();
  t.match(await firstRow.textContent(), /^pay\/checkout/, 'sorted by client');
  t.equal(await page.locator('th:has(button[data-sort="source"])').getAttribute('aria-sort'), 'ascending', 'aria-sort says so');
  await firstRow.focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Home');
  await page.keyboard.press('Enter');
  await page.locator('#details h2', { hasText: 'pay/checkout' }).waitFor({ timeout: 5000 });
  t.pass('the keyboard selects a row\'s workload');
  await page.locator('#details td', { hasText: 'SERVFAIL' }).first().waitFor({ timeout: 5000 });
  t.match(await page.locator('#details').textContent(), /example\.org\s*SERVFAIL\s*\d+/, 'its DNS by domain and rcode');

  // Select frontend on the map: its figures.
  await vertex('workload:shop/frontend').click();
  await page.locator('#details h2', { hasText: 'shop/frontend' }).waitFor({ timeout: 5000 });
  const p50 = await page.locator('[data-figure="p50"]').textContent();
  const p99 = await page.locator('[data-figure="p99"]').textContent();
  t.match(p50, /^\d+(\.\d+)? (µs|ms|s)$/, `connect p50 ${p50}`);
  t.match(p99, /^\d+(\.\d+)? (µs|ms|s)$/, `connect p99 ${p99}`);
  t.match(await page.locator('#details').textContent(), /established\s*\d+/, 'connection results');
  await page.locator('#details .events li').first().waitFor({ timeout: 8000 });
  t.pass('the last events of frontend, from the live stream');
  await page.click('.copy-policy');
  await page.locator('pre.policy:not([hidden])').waitFor({ timeout: 5000 });
  const policy = await page.locator('pre.policy').textContent();
  t.match(policy, /kind: NetworkPolicy[\s\S]*name: kubepulse-frontend[\s\S]*namespace: shop[\s\S]*port: 8080/, 'the NetworkPolicy of src/policy, shown (and copied)');
  await page.screenshot({ path: join(shots, 'selected.png') });
  // The README's picture (docs/page.png is a copy of it): smaller, the map and the panel.
  await page.setViewportSize({ width: 1100, height: 640 });
  await page.locator('#details').evaluate((d) => d.scrollTo(0, 0));
  await page.waitForTimeout(1200);
  await page.screenshot({ path: join(shots, 'readme.png'), clip: { x: 0, y: 0, width: 1100, height: 525 } });
  await page.setViewportSize({ width: 1500, height: 1000 });

  // A new flow (frontend → cart:9090) appears within 2 s; nothing drawn moves.
  const positions = () => page.locator('g.vertex').evaluateAll((gs) => Object.fromEntries(gs.map((g) => [g.getAttribute('data-id'), g.getAttribute('transform')])));
  const before = await positions();
  const edgeNew = 'workload:shop/frontend|workload:shop/cart|TCP/9090';
  const once = run(dirs.frontend, [process.execPath, client, JSON.stringify({ local: IP.frontend, tcp: [{ host: IP.cart, port: 9090 }], dns: null, intervalMs: 100, rounds: 1 })]);
  await until('the new connection', () => once.out[0], { timeoutMs: 10_000, everyMs: 10 });
  const connectedAt = Date.now();
  await page.locator(`path[data-edge="${edgeNew}"]`).waitFor({ state: 'attached', timeout: 10_000 });
  const seenAfter = Date.now() - connectedAt;
  t.ok(seenAfter <= 2000, `the new flow is on the map ${seenAfter} ms after the connect (≤ 2 s)`);
  const after = await positions();
  t.same(Object.fromEntries(Object.entries(after).filter(([id]) => id in before)), before, 'no vertex moved');

  // Filters: namespace pay only → frontend goes, checkout and its peer stay; only failing.
  await page.click('summary:has-text("Namespaces")');
  await page.check('#namespaces input[value="pay"]');
  await vertex('workload:shop/frontend').waitFor({ state: 'detached', timeout: 3000 });
  t.ok(await vertex('workload:pay/checkout').count(), 'namespace filter: pay/checkout stays, shop/frontend is gone');
  t.ok(await vertex('workload:shop/cart').count(), 'and checkout\'s peer stays');
  t.notOk(rows.length === (await page.locator('table.flows tbody tr').count()), 'the table follows the filter');
  await page.uncheck('#namespaces input[value="pay"]');
  await page.check('#only-failing');
  await vertex('workload:shop/frontend').waitFor({ state: 'detached', timeout: 3000 });
  t.ok(await vertex('workload:pay/checkout').count(), 'only failing: checkout stays');
  await page.screenshot({ path: join(shots, 'only-failing.png') });
  await page.uncheck('#only-failing');
  // Hide a namespace.
  await page.fill('#hide-input', 'ns:pay');
  await page.click('#hide-form button');
  await vertex('workload:pay/checkout').waitFor({ state: 'detached', timeout: 3000 });
  t.pass('hiding ns:pay removes checkout');

  // Export JSON: the shown topology.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-json')]);
  const exported = JSON.parse(await new Promise<string>((resolve, reject) => {
    void download.createReadStream().then((s) => {
      let text = '';
      s.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve(text)).on('error', reject);
    });
  })) as Topology;
  t.ok(exported.edges.some((e) => e.id === edgeFrontend) && !exported.edges.some((e) => e.id === edgeCheckout), 'exported JSON is the filtered view');
  const [svg] = await Promise.all([page.waitForEvent('download'), page.click('#export-svg')]);
  t.match(svg.suggestedFilename(), /\.svg$/, 'SVG export');

  t.same(errors, [], 'no console errors');
});
