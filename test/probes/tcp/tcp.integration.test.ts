// The TCP probe end to end on this machine's kernel: real connections in,
// /metrics out, and a clean exit that leaves no BPF program behind.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createServer, connect, type Server } from 'node:net';
import { startDaemon } from '../../support/daemon.js';
import { sumOf, type Sample } from '../../support/metrics.js';
import { needsBpf } from '../../support/privileges.js';

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

function connectOnce(port: number): Promise<'established' | string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.end();
      resolve('established');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

async function closedPort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

const programExists = (id: number): boolean => {
  try {
    execFileSync('bpftool', ['prog', 'show', 'id', String(id)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

t.test('TCP connects and refusals show up on /metrics', needsBpf(), async (t) => {
  const daemon = await startDaemon();
  t.teardown(() => daemon.stop());
  await daemon.waitReady();

  t.equal((await daemon.get('/healthz')).status, 200, '/healthz');
  t.equal((await daemon.get('/readyz')).status, 200, '/readyz');

  const server = createServer((s) => s.end());
  const port = await listen(server);
  t.teardown(() => server.close());
  const refusedPort = await closedPort();

  const before = await daemon.scrape();
  const N = 25;
  const M = 7;
  for (let i = 0; i < N; i++) t.equal(await connectOnce(port), 'established');
  for (let i = 0; i < M; i++) t.equal(await connectOnce(refusedPort), 'ECONNREFUSED');

  const host = { namespace: '', pod: '' };
  const grown = (after: Sample[], name: string, labels: Record<string, string>): number =>
    sumOf(after, name, { ...host, ...labels }) - sumOf(before, name, { ...host, ...labels });
  let after: Sample[] = before;
  await until(async () => {
    after = await daemon.scrape();
    return (
      grown(after, 'kubepulse_tcp_connections_total', { result: 'refused' }) >= M &&
      grown(after, 'kubepulse_tcp_connection_duration_seconds_count', {}) >= N
    );
  });
  t.ok(grown(after, 'kubepulse_tcp_latency_seconds_count', {}) >= N, `latency histogram count grew by ≥ ${N}`);
  t.ok(grown(after, 'kubepulse_tcp_connections_total', { result: 'established' }) >= N, `established grew by ≥ ${N}`);
  t.ok(grown(after, 'kubepulse_tcp_connections_total', { result: 'refused' }) >= M, `refused grew by ≥ ${M}`);
  t.ok(grown(after, 'kubepulse_tcp_connection_duration_seconds_count', {}) >= N, `durations observed for ≥ ${N} closed connections`);
  t.ok(grown(after, 'kubepulse_tcp_latency_seconds_bucket', { le: '1' }) >= N, 'loopback connects are faster than 1 s');

  const info = after.find((s) => s.name === 'kubepulse_probe_info' && s.labels.probe === 'tcp');
  t.ok(info, 'kubepulse_probe_info names the tcp hook');
  t.comment(`tcp hook on this kernel: ${info?.labels.hook}`);
  t.equal(sumOf(after, 'kubepulse_events_dropped_total', { type: 'tcp' }), 0, 'nothing dropped');
  t.ok(sumOf(after, 'kubepulse_events_total', { type: 'tcp' }) >= N + M, 'events counted');
  t.equal(sumOf(after, 'kubepulse_ready'), 1);
});

t.test('SIGTERM detaches everything and exits 0', needsBpf(), async (t) => {
  const daemon = await startDaemon();
  await daemon.waitReady();
  const attached = daemon.logs.filter((l) => l.msg === 'probe attached');
  const ids = attached.flatMap((l) => Object.values(l.programs as Record<string, number>));
  t.ok(ids.length > 0, `program ids ${ids.join(', ')}`);
  t.ok(ids.every(programExists), 'programs are loaded while running');
  t.equal(await daemon.stop(), 0, 'exit code 0');
  // The kernel frees programs asynchronously (RCU, deferred work) once the
  // last reference is gone, so a program may still be listed for a moment
  // after the process exited: poll, bounded, before asserting.
  const left = async (): Promise<number[]> => ids.filter(programExists);
  await until(async () => (await left()).length === 0, 3000);
  t.same(await left(), [], 'no program left after exit');
});
