// src/daemon.ts: what /readyz makes of the cluster-wide watches, and — with the
// real addon and a real probe, in this process so the test can reach the
// native poller — what happens when the poll thread dies.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAddon, type Addon, type EventPollerHandle } from '../src/bpf/addon.js';
import { parseConfig } from '../src/config.js';
import { clusterPeersReadiness, startDaemon } from '../src/daemon.js';
import { createLogger } from '../src/log.js';
import { ROOT } from './support/daemon.js';
import { TestKubeApiServer } from './support/kube-api-server.js';
import { writeKubeconfig } from './support/kubeconfig.js';
import { needsBpf } from './support/privileges.js';
import { until } from './support/until.js';

t.test('cluster peers gate readiness until each has listed once, then only show in the body', async (t) => {
  const health = (synced: [boolean, boolean, boolean], everSynced: [boolean, boolean, boolean], lastError = '') => ({
    synced: { pods: synced[0], services: synced[1], nodes: synced[2] },
    everSynced: { pods: everSynced[0], services: everSynced[1], nodes: everSynced[2] },
    addresses: { pod: 0, service: 0, node: 0 },
    lastError,
  });
  t.same(clusterPeersReadiness(health([true, true, true], [true, true, true])), {});
  t.same(clusterPeersReadiness(health([true, false, false], [true, false, false], 'HTTP 500')), { gate: 'cluster peers not synced yet: services, nodes (HTTP 500)' });
  t.same(clusterPeersReadiness(health([true, false, true], [true, true, true], 'ECONNREFUSED')), { note: 'cluster peers out of sync, last known kept: services (ECONNREFUSED)' });
});

// A real daemon against a test API server whose Service list fails: the
// node's own pods are synced, the cluster-wide Service watch is not.
t.test('/readyz names the cluster-wide watch that has not synced', needsBpf(), async (t) => {
  const api = new TestKubeApiServer();
  api.listFailureOf.services = 500;
  await api.start();
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-daemon-'));
  t.teardown(async () => {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const { config } = parseConfig(
    ['--port', '0', '--listen-address', '127.0.0.1', '--probes', 'tcp', '--bpf-object-dir', join(ROOT, 'build', 'bpf'),
      '--kubeconfig', writeKubeconfig(dir, api.url, api.token), '--node-name', 'readyz-node'],
    {},
  );
  const daemon = await startDaemon(config, createLogger('error', () => {}));
  t.teardown(() => daemon.stop());
  const readyz = async (): Promise<{ status: number; body: string }> => {
    const res = await fetch(`http://127.0.0.1:${daemon.port}/readyz`);
    return { status: res.status, body: await res.text() };
  };
  let last = { status: 0, body: '' };
  // The other two list within moments; services never does.
  const onlyServices = /^not ready: cluster peers not synced yet: services \(.*500.*\)\n$/;
  await until('/readyz to name the services watch alone', async () => onlyServices.test((last = await readyz()).body), {
    timeoutMs: 15_000,
    everyMs: 100,
    describe: () => JSON.stringify(last),
  });
  t.equal(last.status, 503);
  t.pass(`only services, with the reason: ${last.body.trim()}`);
  t.notMatch(last.body, /pod metadata/, 'the node\'s own pod watch is synced');

  delete api.listFailureOf.services;
  await until('/readyz 200 once services list', async () => (last = await readyz()).status === 200, {
    timeoutMs: 30_000,
    everyMs: 100,
    describe: () => JSON.stringify(last),
  });
  t.equal(last.body, 'ready\n');
});

// The failure is real: the poll thread's next epoll_wait fails in the
// kernel (its fd no longer names an epoll instance), and the thread takes
// the path any poll error takes. Nothing in the daemon is told it is a test.
t.test('a dead poll thread fails /healthz and /readyz and is logged', needsBpf(), async (t) => {
  const real = loadAddon();
  const pollers: EventPollerHandle[] = [];
  const addon: Addon = {
    ...real,
    EventPoller: class extends real.EventPoller {
      constructor(...args: ConstructorParameters<Addon['EventPoller']>) {
        super(...args);
        pollers.push(this);
      }
    },
  };
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger('info', (line) => void logs.push(JSON.parse(line) as Record<string, unknown>));
  const { config } = parseConfig(
    ['--port', '0', '--listen-address', '127.0.0.1', '--probes', 'tcp', '--bpf-object-dir', join(ROOT, 'build', 'bpf')],
    {},
  );
  const daemon = await startDaemon(config, log, addon);
  t.teardown(() => daemon.stop());
  const get = async (path: string): Promise<{ status: number; body: string }> => {
    const res = await fetch(`http://127.0.0.1:${daemon.port}${path}`);
    return { status: res.status, body: await res.text() };
  };
  t.same(await get('/healthz'), { status: 200, body: 'ok\n' }, 'healthy while the poller runs');
  t.equal((await get('/readyz')).status, 200);
  t.equal(pollers.length, 1, 'one poller for the streaming probe');

  pollers[0]!.breakPollFdForTest();
  const health = await until('/healthz to fail', async () => {
    const h = await get('/healthz');
    return h.status === 503 ? h : undefined;
  }, { timeoutMs: 5000, everyMs: 50 });
  t.equal(health.body, 'event poller stopped: ring buffer poll failed: Invalid argument\n', 'the kubelet sees why');
  t.match((await get('/readyz')).body, /^not ready: event poller stopped: ring buffer poll failed: Invalid argument/);
  const logged = logs.filter((l) => l.level === 'error' && String(l.msg).startsWith('event poller stopped'));
  t.equal(logged.length, 1, 'logged once');
  t.equal(logged[0]?.error, 'ring buffer poll failed: Invalid argument');
});
