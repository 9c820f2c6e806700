// The page over HTTP: `/` and /ui/* with their content types, ETags and
// caching (304 on revalidation, a year for hashed assets); the plain index
// of links without a built page; /metrics, health and /api/v1 untouched;
// /api/v1/topology's bad parameters are a 400 with one line.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PageAssets } from '../../src/http/page-assets.js';
import { HttpServer } from '../../src/http/server.js';
import { SILENT_LOGGER } from '../../src/log.js';
import { createRegistry } from '../../src/metrics/registry.js';
import { EventHub } from '../../src/stream/hub.js';
import { createTopologyRoutes } from '../../src/topology/index.js';

async function serve(t: Test, page?: PageAssets): Promise<string> {
  const registry = createRegistry();
  const server = new HttpServer({ registry, readiness: () => ({ ready: true, reasons: [] }), log: SILENT_LOGGER, ...(page ? { page } : {}) });
  const topology = createTopologyRoutes({ node: 'n1', registry, hub: new EventHub({ node: 'n1', historySize: 10, queueSize: 10 }) });
  topology.serve(server);
  t.teardown(async () => {
    topology.stop();
    await server.close();
  });
  return `http://127.0.0.1:${await server.listen(0, '127.0.0.1')}`;
}

t.test('the page and its assets: types, ETags, caching', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-page-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>KubePulse</title><script src="ui/app.ABC.js"></script>');
  writeFileSync(join(dir, 'app.ABC.js'), 'console.log(1)');
  writeFileSync(join(dir, 'app.ABC.css'), 'body{}');
  const base = await serve(t, new PageAssets(dir));

  const index = await fetch(`${base}/`);
  t.equal(index.status, 200);
  t.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
  t.equal(index.headers.get('cache-control'), 'no-cache', 'the page is revalidated on every load');
  const etag = index.headers.get('etag');
  t.match(etag, /^"[A-Za-z0-9_-]{22}"$/);
  t.match(await index.text(), /<title>KubePulse<\/title>/);
  const again = await fetch(`${base}/`, { headers: { 'if-none-match': etag! } });
  t.equal(again.status, 304, 'unchanged: 304');
  t.equal(await again.text(), '');

  const js = await fetch(`${base}/ui/app.ABC.js`);
  t.equal(js.status, 200);
  t.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  t.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable', 'hashed names: kept a year');
  t.equal(js.headers.get('x-content-type-options'), 'nosniff');
  t.equal(await js.text(), 'console.log(1)');
  t.equal((await fetch(`${base}/ui/app.ABC.css`)).headers.get('content-type'), 'text/css; charset=utf-8');
  const head = await fetch(`${base}/ui/app.ABC.js`, { method: 'HEAD' });
  t.equal(head.headers.get('content-length'), '14', 'HEAD: headers only');
  t.equal((await fetch(`${base}/ui/nothing.js`)).status, 404);
  t.equal((await fetch(`${base}/ui/..%2Findex.html`)).status, 404, 'files are served from memory by name: no path reaches the file system');

  const metrics = await fetch(`${base}/metrics`);
  t.equal(metrics.status, 200, '/metrics as before');
  t.match(await metrics.text(), /^# HELP /m);
  t.equal(await (await fetch(`${base}/healthz`)).text(), 'ok\n');
  const topology = await fetch(`${base}/api/v1/topology?range=5m`);
  t.equal(topology.headers.get('content-type'), 'application/json');
  t.match(await topology.json(), { scope: 'node', agents: ['n1'], nodes: [], edges: [] });
});

t.test('no built page: / is the plain index of links it always was', async (t) => {
  const base = await serve(t, new PageAssets('/nonexistent/kubepulse/page'));
  const res = await fetch(`${base}/`);
  t.equal(res.status, 200);
  t.match(await res.text(), /<h1>KubePulse<\/h1>.*href="\/metrics"/);
  t.equal((await fetch(`${base}/ui/app.js`)).status, 404);
});

t.test('bad topology parameters: 400 with one line', async (t) => {
  const base = await serve(t);
  for (const [query, line] of [
    ['range=5', 'range: "5" is not a duration from 10s to 1h (e.g. 5m)\n'],
    ['range=2h', 'range: "2h" is not a duration from 10s to 1h (e.g. 5m)\n'],
    ['slow=fast', 'slow: "fast" is not a duration (e.g. 500ms)\n'],
    ['color=red', 'unknown parameter "color" (known: range, slow)\n'],
  ] as const) {
    const res = await fetch(`${base}/api/v1/topology?${query}`);
    t.equal(res.status, 400, query);
    t.equal(await res.text(), line);
  }
  const policy = await fetch(`${base}/api/v1/policy/network?namespace=shop`);
  t.equal(policy.status, 400);
  t.equal(await policy.text(), 'namespace and workload are both needed (?namespace=NS&workload=W)\n');
});
