// The in-cluster endpoint against the test API server over TLS, with a
// service account directory laid out as the kubelet writes projected
// volumes (test/support/in-cluster.ts): the token is rotated by swapping
// ..data atomically, as the kubelet does.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { chooseKubeConfig } from '../../src/metadata/kube-config.js';
import { watchNodePods } from '../../src/metadata/kube-watch.js';
import { PodIndex } from '../../src/metadata/pod-index.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { serviceAccountDir } from '../support/in-cluster.js';
import { makePod } from '../metadata/fixtures/pods.js';
import { recordingLogger, sample, until } from '../metadata/fixtures/harness.js';

async function setup(t: { teardown(fn: () => unknown): void }) {
  const root = mkdtempSync(join(tmpdir(), 'kubepulse-sa-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const server = new TestKubeApiServer({ tls: true, token: 'token-1' });
  await server.start();
  t.teardown(() => server.stop());
  const sa = serviceAccountDir(root, 'token-1\n', server.certificate!);
  const port = new URL(server.url).port;
  const choice = chooseKubeConfig({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port }, serviceAccountDir: root });
  if (choice.source !== 'in-cluster') throw new Error(`expected in-cluster, got ${choice.source}`);
  return { server, sa, root, choice };
}

t.test('in-cluster: TLS verified against ca.crt, the token from the file', async (t) => {
  const { server, choice } = await setup(t);
  t.equal(choice.server, `https://127.0.0.1:${new URL(server.url).port}`);
  server.addPod(makePod({ name: 'p', nodeName: 'node-a' }));
  const list = await choice.client.list('/api/v1/pods', {}, (o) => o);
  t.equal(list.items.length, 1);
  t.equal(server.requests.at(-1)!.authorization, 'Bearer token-1', 'the token, trimmed of its newline');
});

t.test('in-cluster: a rotated token is read and used; the old one would now fail', async (t) => {
  const { server, sa, choice } = await setup(t);
  const pods = new PodIndex();
  const registry = new Registry();
  const watch = watchNodePods({ client: choice.client, nodeName: 'node-a', pods, log: recordingLogger(), registry, backoffInitialMs: 50, backoffMaxMs: 200 });
  t.teardown(() => watch.stop());
  server.addPod(makePod({ name: 'before', nodeName: 'node-a' }));
  watch.start();
  t.ok(await watch.waitForSync(10_000));
  await until('watch open', () => server.openWatchCount === 1);

  // The kubelet rotates the bound token; the API server stops accepting the old one.
  sa.rotate('token-2');
  server.token = 'token-2';
  // The open watch was authenticated when it began and goes on; the next
  // requests (the watch ends at its timeout; a re-list after 410) must carry the new token.
  server.endWatches();
  await until('re-watched', () => server.watchCount === 2 && server.openWatchCount === 1);
  t.equal(server.requests.at(-1)!.authorization, 'Bearer token-2', 'the watch after rotation has the new token');
  server.injectGone();
  await until('re-listed', () => server.listCount === 2);
  t.equal(server.requests.filter((r) => !r.watch).at(-1)!.authorization, 'Bearer token-2', 'the list after rotation has the new token');
  server.addPod(makePod({ name: 'after', nodeName: 'node-a' }));
  await until('watch after rotation delivers', () => pods.size === 2);
  t.ok(watch.isSynced());
  t.equal(sample(await registry.metrics(), 'kubepulse_kube_watch_errors_total'), 0, 'no request was refused');
  t.notOk(server.requests.some((r) => r.authorization === 'Bearer token-1' && server.requests.indexOf(r) > 2), 'the old token was not sent again');
});

t.test('in-cluster: a missing CA or token is a clear error, retried', async (t) => {
  const { server, root, choice } = await setup(t);
  rmSync(join(root, 'token'));
  await t.rejects(choice.client.list('/api/v1/pods', {}, (o) => o), /cannot read the service account token .*token/);
  t.equal(server.requests.length, 0, 'nothing sent without a token');
  const none = chooseKubeConfig({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '1' }, serviceAccountDir: join(root, 'nowhere') });
  t.equal(none.source, 'none');
  const empty = mkdtempSync(join(tmpdir(), 'kubepulse-sa-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  writeFileSync(join(empty, 'token'), 't');
  const noCa = chooseKubeConfig({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '1' }, serviceAccountDir: empty });
  if (noCa.source !== 'in-cluster') throw new Error('expected in-cluster');
  await t.rejects(noCa.client.endpoint.ready(), /cannot read the cluster CA .*ca\.crt/);
});

t.test('in-cluster: an IPv6 service host is bracketed', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kubepulse-sa-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'token'), 't');
  const choice = chooseKubeConfig({ env: { KUBERNETES_SERVICE_HOST: 'fd00:10:96::1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir: root });
  t.equal(choice.source === 'in-cluster' ? choice.server : '', 'https://[fd00:10:96::1]:443');
});
