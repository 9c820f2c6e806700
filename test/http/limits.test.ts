// Hostile clients against the real HTTP server while a real Prometheus
// scrapes it every second: 500 connections that never speak, a slowloris
// client trickling headers, oversized headers, and more connections than the
// cap. Every scrape must still succeed within its 1 s timeout, and the
// hostile connections must be cut off by the limits, not linger.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { DEFAULT_LIMITS, type ServerLimits } from '../../src/http/limits.js';
import { HttpServer } from '../../src/http/server.js';
import { WebEndpoint } from '../../src/http/web-endpoint.js';
import { SILENT_LOGGER } from '../../src/log.js';
import { createRegistry } from '../../src/metrics/registry.js';
import { prometheusMissing, startPrometheus } from '../support/prometheus.js';

const HEADERS_TIMEOUT_MS = 3000;

async function serve(limits: Partial<ServerLimits>): Promise<{ port: number; close: () => Promise<void> }> {
  const endpoint = new WebEndpoint(undefined, SILENT_LOGGER, { ...DEFAULT_LIMITS, ...limits });
  const server = new HttpServer({ registry: createRegistry(), readiness: () => ({ ready: true, reasons: [] }), log: SILENT_LOGGER, endpoint });
  const port = await server.listen(0, '127.0.0.1');
  return { port, close: () => server.close() };
}

interface Tracked {
  socket: Socket;
  closedAfterMs: number | undefined;
  received: string;
}

function open(port: number): Promise<Tracked> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tracked: Tracked = { socket: connect(port, '127.0.0.1'), closedAfterMs: undefined, received: '' };
    tracked.socket.on('data', (d) => (tracked.received += d.toString()));
    tracked.socket.on('close', () => (tracked.closedAfterMs = Date.now() - started));
    tracked.socket.on('error', () => {});
    tracked.socket.once('connect', () => resolve(tracked));
    tracked.socket.once('error', reject);
  });
}

const missing = prometheusMissing();
if (missing) {
  t.skip(missing, () => {});
} else {
  t.test('500 idle connections and a slowloris client: every scrape still succeeds', async (t) => {
    const { port, close } = await serve({ headersTimeoutMs: HEADERS_TIMEOUT_MS });
    t.teardown(close);
    const prom = await startPrometheus({ scrape: [{ job: 'hostile', targets: [`127.0.0.1:${port}`] }] });
    t.teardown(() => prom.stop());
    await prom.waitForTargetsUp('hostile', { timeoutMs: 30_000 });

    const attackStart = Date.now();
    const idle = await Promise.all(Array.from({ length: 500 }, () => open(port)));
    const slow = await open(port);
    slow.socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => slow.socket.writable && slow.socket.write('X-Slow: 1\r\n'), 500);
    t.teardown(() => clearInterval(drip));
    const big = await open(port);
    big.socket.write(`GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(32 * 1024)}\r\n\r\n`);

    // Hold the attack for longer than the headers timeout, scraping all along.
    await sleep(HEADERS_TIMEOUT_MS + 5000);
    clearInterval(drip);
    const windowS = Math.floor((Date.now() - attackStart) / 1000);

    const scrapes = await prom.query(`count_over_time(up{job="hostile"}[${windowS}s])`);
    const failures = await prom.query(`count_over_time((up{job="hostile"} == 0)[${windowS}s:])`);
    const slowest = await prom.query(`max_over_time(scrape_duration_seconds{job="hostile"}[${windowS}s])`);
    const n = Number(scrapes[0]?.value[1] ?? 0);
    t.ok(n >= windowS - 2, `Prometheus scraped ${n} times in ${windowS} s of attack`);
    t.equal(failures.length, 0, 'no scrape failed');
    t.ok(Number(slowest[0]?.value[1]) < 1, `slowest scrape ${slowest[0]?.value[1]} s, within the 1 s scrape timeout`);

    t.match(slow.received, /^HTTP\/1\.1 408/, 'the slowloris client got 408');
    // Node checks for late headers every 750 ms here; on a machine at load
    // average 30 the 408 was seen 5.2 s in, so allow what the idle ones get.
    t.ok(slow.closedAfterMs !== undefined && slow.closedAfterMs < HEADERS_TIMEOUT_MS + 3000, `and was cut off after ${slow.closedAfterMs} ms`);
    t.match(big.received, /^HTTP\/1\.1 431/, 'oversized headers: 431');
    const lingering = idle.filter((c) => c.closedAfterMs === undefined).length;
    const latest = Math.max(...idle.map((c) => c.closedAfterMs ?? Number.POSITIVE_INFINITY));
    t.equal(lingering, 0, 'every silent connection was closed');
    t.ok(latest < HEADERS_TIMEOUT_MS + 3000, `the last one after ${latest} ms (headers timeout ${HEADERS_TIMEOUT_MS} ms, then a grace second)`);
  });
}

t.test('connections beyond --web.max-connections are closed at once', async (t) => {
  const { port, close } = await serve({ maxConnections: 5, headersTimeoutMs: 20_000 });
  t.teardown(close);
  const held = await Promise.all(Array.from({ length: 5 }, () => open(port)));
  await sleep(200);
  const extra = await open(port);
  await sleep(500);
  t.ok(extra.closedAfterMs !== undefined && extra.closedAfterMs < 1000, 'the sixth connection was closed');
  t.ok(held.every((c) => c.closedAfterMs === undefined), 'the first five stay open');
  for (const c of held) c.socket.destroy();
  await sleep(200);
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  t.equal(res.status, 200, 'once they are gone, new clients are served');
});

t.test('a flood of wrong passwords does not starve an authenticated scraper', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-flood-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'web.yml');
  writeFileSync(file, `basic_auth_users:\n  prometheus: "${bcrypt.hashSync('s3cret', 10)}"\n`);
  const endpoint = new WebEndpoint(file, SILENT_LOGGER, DEFAULT_LIMITS);
  const server = new HttpServer({ registry: createRegistry(), readiness: () => ({ ready: true, reasons: [] }), log: SILENT_LOGGER, endpoint });
  const port = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  const as = (cred: string) => ({ authorization: `Basic ${Buffer.from(cred).toString('base64')}` });
  const url = `http://127.0.0.1:${port}/metrics`;
  t.equal((await fetch(url, { headers: as('prometheus:s3cret') })).status, 200, 'the scraper logs in once (bcrypt, then cached)');

  let flooding = true;
  let refused = 0;
  const attacker = async (): Promise<void> => {
    while (flooding) {
      const res = await fetch(url, { headers: as(`prometheus:guess-${Math.random()}`) });
      await res.text();
      if (res.status === 401) refused++;
    }
  };
  const attackers = Array.from({ length: 50 }, attacker);
  await sleep(1000);
  const latencies: number[] = [];
  for (let i = 0; i < 8; i++) {
    const started = Date.now();
    const res = await fetch(url, { headers: as('prometheus:s3cret') });
    await res.text();
    t.equal(res.status, 200, 'scrape during the flood: 200');
    latencies.push(Date.now() - started);
    await sleep(250);
  }
  flooding = false;
  await Promise.all(attackers);
  latencies.sort((a, b) => a - b);
  const median = latencies[Math.floor(latencies.length / 2)] as number;
  t.ok(refused > 0, `${refused} wrong guesses refused with 401`);
  t.ok(median < 1000, `median scrape ${median} ms under the flood (all: ${latencies.join(', ')} ms)`);
  t.ok((latencies.at(-1) as number) < 2000, `slowest ${latencies.at(-1)} ms`);
});
