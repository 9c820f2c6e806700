// The real daemon in in-cluster mode, as in a DaemonSet pod: the service
// account at its standard path (a private mount namespace, see
// test/support/in-cluster.ts), KUBERNETES_SERVICE_HOST/PORT, TLS verified
// against ca.crt. The kubelet rotates the token while it runs and the API
// server stops accepting the old one: the daemon must carry on with the new.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon } from '../support/daemon.js';
import { inClusterEnv, inClusterLaunch, serviceAccountDir } from '../support/in-cluster.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { needsBpf } from '../support/privileges.js';
import { until } from '../support/until.js';
import { makePod } from '../metadata/fixtures/pods.js';

const skip = needsBpf(); // prints its own reason (not root, no BTF); unshare -m needs root too

/** A module hook that records every @kubernetes/client-node module a process loads, into $KUBEPULSE_TEST_LOADED. */
function loadRecorder(dir: string): string {
  writeFileSync(
    join(dir, 'hooks.mjs'),
    [
      "import { appendFileSync } from 'node:fs';",
      'export async function resolve(specifier, context, next) {',
      '  const resolved = await next(specifier, context);',
      "  if (resolved.url.includes('/@kubernetes/client-node/')) appendFileSync(process.env.KUBEPULSE_TEST_LOADED, resolved.url + '\\n');",
      '  return resolved;',
      '}',
    ].join('\n'),
  );
  const register = join(dir, 'register.mjs');
  writeFileSync(register, "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n");
  return register;
}

const value = (samples: Array<{ name: string; labels: Record<string, string>; value: number }>, name: string, labels: Record<string, string> = {}) =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

t.test('in-cluster: the daemon syncs over TLS with the mounted token, and keeps syncing after the kubelet rotates it', skip, async (t) => {
  const node = `${hostname()}-in-cluster-e2e`;
  const api = new TestKubeApiServer({ tls: true, token: 'bound-token-1' });
  await api.start();
  t.teardown(() => api.stop());
  api.addPod(makePod({ name: 'web-0', namespace: 'e2e', nodeName: node }));
  api.addNode({ apiVersion: 'v1', kind: 'Node', metadata: { name: node }, status: { addresses: [{ type: 'InternalIP', address: '192.0.2.10' }] } });
  const root = mkdtempSync(join(tmpdir(), 'kubepulse-sa-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const sa = serviceAccountDir(root, 'bound-token-1', api.certificate!);
  const hooks = mkdtempSync(join(tmpdir(), 'kubepulse-hooks-'));
  t.teardown(() => rmSync(hooks, { recursive: true, force: true }));
  const register = loadRecorder(hooks);
  const loaded = join(hooks, 'loaded');
  // The recorder sees the library when something does load it.
  execFileSync(process.execPath, ['--import', register, '-e', "await import('@kubernetes/client-node')", '--input-type=module'], {
    env: { ...process.env, NODE_OPTIONS: '', KUBEPULSE_TEST_LOADED: loaded },
  });
  t.ok(existsSync(loaded), 'the recorder works');
  rmSync(loaded);

  const daemon = await startDaemon(
    ['--node-name', node, '--probes', 'tcp', '--log-level', 'info'],
    { ...inClusterEnv(api.url), KUBEPULSE_TEST_LOADED: loaded },
    (command, args) => inClusterLaunch(sa.dir, command, ['--import', register, ...args]),
  );
  t.teardown(() => daemon.stop());
  await daemon.waitReady(60_000);
  const started = daemon.logs.find((l) => l['msg'] === 'pod metadata from the Kubernetes API');
  t.equal(started?.['source'], 'in-cluster');
  t.equal(started?.['server'], api.url);
  await until('cluster peers synced', async () => value(await daemon.scrape(), 'kubepulse_cluster_peers_synced', { resource: 'nodes' }) === 1, 30_000);
  t.ok(api.requests.every((r) => r.authorization === 'Bearer bound-token-1'), 'every request carried the mounted token');

  // Nothing in flight: a request that read the token before the rotation
  // and arrived after it would be refused by this strict server (a real
  // one accepts the old token until it expires).
  // The node's pods; the cluster's pods, Services, nodes; NetworkPolicies and Namespaces (drift).
  await until('every watch open', () => api.openWatchCount === 6, 30_000);
  sa.rotate('bound-token-2');
  api.token = 'bound-token-2';
  const before = api.requests.length;
  api.injectGone(); // every watch ends; each one lists again
  await until('re-listed with the new token', () => api.requests.slice(before).filter((r) => !r.watch).length >= 6, 30_000);
  api.addPod(makePod({ name: 'web-1', namespace: 'e2e', nodeName: node }));
  await until('pod watch delivers after rotation', async () => value(await daemon.scrape(), 'kubepulse_kube_watch_events_total', { type: 'ADDED' }) === 1, 30_000);
  const after = api.requests.slice(before);
  t.ok(after.every((r) => r.authorization === 'Bearer bound-token-2'), 'every request after rotation carried the new token');
  const samples = await daemon.scrape();
  t.equal(value(samples, 'kubepulse_kube_watch_errors_total'), 0, 'no pod watch request was refused');
  for (const resource of ['pods', 'services', 'nodes']) t.equal(value(samples, 'kubepulse_cluster_peers_watch_errors_total', { resource }), 0, `no ${resource} request was refused`);
  t.equal((await daemon.get('/readyz')).status, 200);
  t.notOk(existsSync(loaded), `the in-cluster daemon never loaded @kubernetes/client-node${existsSync(loaded) ? `: ${readFileSync(loaded, 'utf8').split('\n')[0]}` : ''}`);
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${daemon.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  t.comment(`daemon RSS in-cluster, idle: ${rss.toFixed(1)} MiB`);
});
