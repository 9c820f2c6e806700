// src/http/server.ts: what the kubelet and Prometheus read from it.
import t from 'tap';
import { Registry } from 'prom-client';
import { HttpServer, type Readiness } from '../../src/http/server.js';
import { createLogger } from '../../src/log.js';

async function serve(t: { teardown(fn: () => unknown): void }, readiness: Readiness, unhealthy?: () => string | undefined) {
  const server = new HttpServer({ registry: new Registry(), readiness, log: createLogger('error', () => {}), ...(unhealthy ? { unhealthy } : {}) });
  const port = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  return async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return `${res.status} ${await res.text()}`;
  };
}

t.test('/readyz: reasons when not ready, notes either way', async (t) => {
  let state: ReturnType<Readiness> = { ready: false, reasons: ['pod metadata not synced', 'cluster peers not synced yet: nodes'] };
  const get = await serve(t, () => state);
  t.equal(await get('/readyz'), '503 not ready: pod metadata not synced; cluster peers not synced yet: nodes\n');
  state = { ready: true, reasons: [], notes: ['cluster peers out of sync, last known kept: services'] };
  t.equal(await get('/readyz'), '200 ready; cluster peers out of sync, last known kept: services\n');
  state = { ready: true, reasons: [] };
  t.equal(await get('/readyz'), '200 ready\n');
});

t.test('/healthz fails with the problem it is told', async (t) => {
  let problem: string | undefined;
  const get = await serve(t, () => ({ ready: true, reasons: [] }), () => problem);
  t.equal(await get('/healthz'), '200 ok\n');
  problem = 'event poller stopped: ring buffer poll failed: Invalid argument';
  t.equal(await get('/healthz'), '503 event poller stopped: ring buffer poll failed: Invalid argument\n');
});
