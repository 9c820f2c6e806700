// src/http/server.ts: what the kubelet and Prometheus read from it, and what bad clients get.
import t, { type Test } from 'tap';
import { connect } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { HttpServer, type Readiness } from '../../src/http/server.js';
import { CounterFamily } from '../../src/metrics/cells.js';
import { createLogger } from '../../src/log.js';
import type { Logger } from '../../src/log.js';

// A real server on a real socket, with the daemon's scrape shape: a
// registry of a few thousand series.
async function start(t: Test): Promise<{ port: number; errors: string[] }> {
  const errors: string[] = [];
  const log: Logger = { error: (m, f) => void errors.push(`${m} ${JSON.stringify(f)}`), warn() {}, info() {}, debug() {} };
  const registry = new Registry();
  const c = new Counter({ name: 'kubepulse_test_total', help: 'test series', labelNames: ['pod', 'domain'], registers: [registry] });
  for (let i = 0; i < 5000; i++) c.inc({ pod: `pod-${i % 200}`, domain: `d${i}.example.com` });
  const server = new HttpServer({ registry, readiness: () => ({ ready: true, reasons: [] }), log });
  const port = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  return { port, errors };
}

/** Sends raw bytes; resolves with what came back once the server closes or `until` matches. */
function raw(port: number, write: (s: import('node:net').Socket) => void, until?: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = connect(port, '127.0.0.1', () => write(socket));
    socket.setTimeout(10_000, () => reject(new Error(`no answer in 10 s, got ${JSON.stringify(answer.slice(0, 100))}`)));
    socket.on('data', (d) => {
      answer += d.toString('latin1');
      if (until?.test(answer)) {
        socket.destroy();
        resolve(answer);
      }
    });
    socket.on('error', () => resolve(answer));
    socket.on('close', () => resolve(answer));
  });
}

t.test('a request target that is no URL gets 400, not a 500 and an error log line (fuzzer finding)', async (t) => {
  const { port, errors } = await start(t);
  for (const target of ['//?E', '//', '//[']) {
    const answer = await raw(port, (s) => s.end(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`));
    t.match(answer, /^HTTP\/1\.1 400 /, target);
  }
  t.same(errors, [], 'nothing logged as an error');
  const ok = await raw(port, (s) => s.end('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
  t.match(ok, /^HTTP\/1\.1 200 /, 'still serving');
});

t.test('20 concurrent scrapes of 5,000 series are all answered in time', async (t) => {
  const { port } = await start(t);
  // One scrape alone first, in the same run: timings on shared CPUs are only
  // comparable side by side.
  const t1 = performance.now();
  await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const single = performance.now() - t1;
  const started = performance.now();
  const times = await Promise.all(
    Array.from({ length: 20 }, async () => {
      const t0 = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      const body = await res.text();
      return { status: res.status, ms: performance.now() - t0, series: body.split('\n').filter((l) => l.startsWith('kubepulse_test_total{')).length };
    }),
  );
  const wall = performance.now() - started;
  t.ok(times.every((x) => x.status === 200 && x.series === 5000), 'every scrape complete');
  const slowest = Math.max(...times.map((x) => x.ms));
  t.comment(`one scrape ${single.toFixed(0)} ms; 20 at once ${wall.toFixed(0)} ms (slowest ${slowest.toFixed(0)} ms)`);
  // In time: within Prometheus's default scrape timeout, and no worse than
  // the 20 one after the other (twice that, for noise).
  t.ok(slowest < 10_000, `slowest scrape ${slowest.toFixed(0)} ms < 10 s`);
  t.ok(wall < 2 * 20 * single + 200, `20 concurrent in ${wall.toFixed(0)} ms ≤ 2 × 20 × one scrape (${single.toFixed(0)} ms)`);
});

t.test('a 10 MB request body is refused before it is read, and scrapes go on', async (t) => {
  const { port, errors } = await start(t);
  const size = 10 * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let sent = 0;
  for (const method of ['POST', 'GET']) {
    sent = 0;
    const answer = await raw(
      port,
      (s) => {
        s.write(`${method} /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
        const pump = (): void => {
          while (sent < size && !s.destroyed) {
            sent += chunk.length;
            if (!s.write(chunk)) return void s.once('drain', pump);
          }
        };
        pump();
      },
      /\r\n\r\n/,
    );
    t.match(answer, /^HTTP\/1\.1 413 /, `${method} with a body: 413`);
    t.ok(sent < size, `answered after ${(sent / 1048576).toFixed(1)} of 10 MB were sent`);
  }
  const chunked = await raw(port, (s) => s.write('POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\n'), /\r\n\r\n/);
  t.match(chunked, /^HTTP\/1\.1 413 /, 'a chunked body too');
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  t.equal(res.status, 200, 'scrapes still answered');
  await res.text();
  t.same(errors, []);
});

t.test('a scraper that reads slowly gets the page of its moment, while later scrapes are answered', async (t) => {
  // The page leaves from a reused scratch of bytes: it must not be reused
  // (by the next scrape) before the slow reader has it all. ~9 MB, more
  // than the kernel's socket buffers take from a client that reads nothing.
  const registry = new Registry();
  const family = new CounterFamily({ name: 'kubepulse_slow_total', help: 'per pod', labelNames: ['pod'], registry });
  const SERIES = 40_000;
  const cells = Array.from({ length: SERIES }, (_, i) => family.cell({ pod: `pod-${i}-${'x'.repeat(200)}` }));
  for (const c of cells) c.value = 1;
  const server = new HttpServer({ registry, readiness: () => ({ ready: true, reasons: [] }), log: createLogger('error', () => {}) });
  const port = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.close());

  const socket = connect(port, '127.0.0.1');
  socket.pause();
  const received: Buffer[] = [];
  socket.on('data', (d) => received.push(d));
  socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await new Promise((r) => setTimeout(r, 300));
  for (const c of cells) c.value = 2;
  for (let i = 0; i < 3; i++) {
    const later = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    t.equal(later.match(/^kubepulse_slow_total\{.*\} 2$/gm)?.length, SERIES, `later scrape ${i + 1}: the values of its moment`);
  }
  const closed = new Promise((r) => socket.once('close', r));
  socket.resume();
  await closed;
  const answer = Buffer.concat(received).toString('utf8');
  const [head, body = ''] = answer.split('\r\n\r\n');
  t.equal(Number(/content-length: (\d+)/i.exec(head ?? '')?.[1]), Buffer.byteLength(body), 'the whole page, as long as it said');
  t.equal(body.match(/^kubepulse_slow_total\{.*\} 1$/gm)?.length, SERIES, 'every series with the value it had when the scrape came');
  t.notMatch(body, /\} 2$/m, 'none of the later values');
});

t.test('HEAD /metrics: the headers, no body', async (t) => {
  const { port } = await start(t);
  const answer = await raw(port, (s) => s.end('HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
  t.match(answer, /^HTTP\/1\.1 200 /);
  t.match(answer, /content-length: [1-9]\d+/i);
  t.equal(answer.split('\r\n\r\n')[1], '', 'no body');
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  t.equal((await res.text()).length, Number(res.headers.get('content-length')), 'a GET after it gets the page');
});

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
