// The pod watch against the test API server (test/support/kube-api-server.ts),
// which speaks the real list+watch protocol over HTTP on loopback.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { type KubeClient, LIST_PAGE_SIZE } from '../../src/kube/client.js';
import { watchNodePods } from '../../src/metadata/kube-watch.js';
import { PodIndex, containerIdOf } from '../../src/metadata/pod-index.js';
import { chooseKubeConfig } from '../../src/metadata/kube-config.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { makePod, randomContainerId } from './fixtures/pods.js';
import { recordingLogger, sample, until } from './fixtures/harness.js';

function clientFor(kubeconfig: string): KubeClient {
  const choice = chooseKubeConfig({ kubeconfig });
  if (choice.source === 'none') throw new Error('expected a kubeconfig');
  return choice.client;
}

async function setup(t: { teardown(fn: () => unknown): void }, options: { startServer?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-watch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = new TestKubeApiServer();
  await server.start();
  t.teardown(() => server.stop());
  if (options.startServer === false) await server.stop();
  const kubeconfig = writeKubeconfig(dir, server.url, server.token);
  const pods = new PodIndex();
  const registry = new Registry();
  const log = recordingLogger();
  const client = clientFor(kubeconfig);
  // Loads @kubernetes/client-node for the kubeconfig, as metadata.start() does
  // (seconds under tap's loader on a busy machine), before anything is timed.
  await client.endpoint.ready();
  const watch = watchNodePods({
    client,
    nodeName: 'node-a',
    pods,
    log,
    registry,
    backoffInitialMs: 50,
    backoffMaxMs: 200,
  });
  t.teardown(() => watch.stop());
  const metric = async (name: string, labels = '') => sample(await registry.metrics(), name, labels);
  return { server, watch, pods, registry, log, metric };
}

t.test('list, then watch from the list version; only this node', async (t) => {
  const { server, watch, pods, metric } = await setup(t);
  const mine = server.addPod(makePod({ name: 'mine', nodeName: 'node-a', containers: { app: randomContainerId() } }));
  server.addPod(makePod({ name: 'other-node', nodeName: 'node-b' }));
  const listVersion = server.resourceVersion;

  t.notOk(watch.isSynced(), 'not synced before start');
  t.equal(await metric('kubepulse_kube_watch_synced'), 0);
  for (const type of ['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR'])
    t.equal(await metric('kubepulse_kube_watch_events_total', `type="${type}"`), 0, `${type} at 0 before the first event`);
  watch.start();
  t.ok(await watch.waitForSync(10_000), 'synced');
  t.equal(pods.size, 1, 'only pods of node-a');
  t.equal(pods.byUid(mine.metadata!.uid!)?.name, 'mine');

  await until('watch request', () => server.watchCount === 1);
  const [list, watchReq] = server.requests;
  t.equal(list!.watch, false);
  t.equal(list!.query['fieldSelector'], 'spec.nodeName=node-a');
  t.equal(watchReq!.query['fieldSelector'], 'spec.nodeName=node-a');
  t.equal(watchReq!.query['resourceVersion'], listVersion, 'watch resumes from the list');
  t.equal(watchReq!.query['allowWatchBookmarks'], 'true');

  t.equal(await metric('kubepulse_kube_watch_synced'), 1);
  const lastSync = await metric('kubepulse_kube_watch_last_sync_timestamp_seconds');
  t.ok(lastSync !== undefined && Math.abs(lastSync - Date.now() / 1000) < 60, 'last sync is now');
  t.equal(await metric('kubepulse_kube_watch_errors_total'), 0);
});

t.test('a list of several pages, changed between two pages: the watch starts from the snapshot and brings the change', async (t) => {
  const { server, watch, pods } = await setup(t);
  const total = LIST_PAGE_SIZE + 10;
  for (let i = 0; i < total; i++) server.addPod(makePod({ name: `p-${i}` }));
  const snapshot = server.resourceVersion;
  let added: string | undefined;
  server.beforeList = (request) => {
    if ((request.query['continue'] ?? '') === '' || added !== undefined) return;
    added = server.addPod(makePod({ name: 'between-pages' })).metadata!.uid!;
    server.deletePod('default', 'p-0');
  };
  watch.start();
  t.ok(await watch.waitForSync(10_000));
  const lists = server.requests.filter((r) => !r.watch);
  t.equal(lists.length, 2, 'two pages');
  t.equal(pods.size, total, 'the list is the snapshot: neither the pod added nor the one deleted between pages shows yet');
  await until('watch request', () => server.watchCount === 1);
  t.equal(server.requests.find((r) => r.watch)!.query['resourceVersion'], snapshot, 'watch from the snapshot the first page began');
  await until('the changes made between pages arrive by the watch', () => pods.byUid(added!) !== undefined && pods.byName('default', 'p-0') === undefined);
  t.equal(pods.size, total);
  t.equal(server.listCount, 1, 'no re-list');
});

t.test('a continue token expired between pages: listed again from the start, and the index is that list', async (t) => {
  const { server, watch, pods, metric } = await setup(t);
  for (let i = 0; i < LIST_PAGE_SIZE + 10; i++) server.addPod(makePod({ name: `p-${i}` }));
  let expired = false;
  server.beforeList = (request) => {
    if ((request.query['continue'] ?? '') === '' || expired) return;
    expired = true;
    server.silentlyDeletePod('default', 'p-1'); // moves the version on and compacts: the token's snapshot is gone
  };
  watch.start();
  t.ok(await watch.waitForSync(10_000));
  const lists = server.requests.filter((r) => !r.watch).map((r) => ((r.query['continue'] ?? '') === '' ? 'first' : 'continue'));
  t.same(lists, ['first', 'continue', 'first', 'continue'], 'the second page expired; the list began again');
  t.equal(pods.size, LIST_PAGE_SIZE + 9);
  t.equal(pods.byName('default', 'p-1'), undefined, 'the pod deleted meanwhile is not there');
  await until('watch request', () => server.watchCount === 1);
  t.equal(server.requests.find((r) => r.watch)!.query['resourceVersion'], server.resourceVersion, 'watch from the list that completed');
  t.equal(await metric('kubepulse_kube_watch_errors_total'), 0, 'an expired token is protocol, not a failure');
});

t.test('ADDED, MODIFIED (container restart), DELETED and BOOKMARK', async (t) => {
  const { server, watch, pods, metric } = await setup(t);
  watch.start();
  t.ok(await watch.waitForSync(10_000));
  await until('watch open', () => server.openWatchCount === 1);

  const first = randomContainerId();
  const added = server.addPod(makePod({ name: 'web-0', namespace: 'shop', containers: { app: first } }));
  const uid = added.metadata!.uid!;
  await until('ADDED applied', () => pods.byContainerId(first) !== undefined);
  t.equal(pods.byContainerId(first)?.pod, 'web-0');

  const second = randomContainerId();
  const restarted = structuredClone(added);
  const status = restarted.status!.containerStatuses![0]!;
  status.lastState = { terminated: { exitCode: 1, containerID: status.containerID } };
  status.containerID = `containerd://${second}`;
  server.modifyPod(restarted);
  await until('MODIFIED applied', () => pods.byContainerId(second) !== undefined);
  t.equal(pods.byContainerId(second)?.container, 'app');

  server.addPod(makePod({ name: 'elsewhere', nodeName: 'node-b' }));
  server.deletePod('shop', 'web-0');
  await until('DELETED applied', () => pods.byUid(uid) === undefined);
  t.equal(pods.byContainerId(second), undefined);
  t.equal(pods.size, 0, 'the other node’s pod never arrived');

  const bookmarkVersion = server.resourceVersion;
  server.bookmark();
  await until('BOOKMARK counted', async () => (await metric('kubepulse_kube_watch_events_total', 'type="BOOKMARK"')) === 1);
  t.equal(await metric('kubepulse_kube_watch_events_total', 'type="ADDED"'), 1);
  t.equal(await metric('kubepulse_kube_watch_events_total', 'type="MODIFIED"'), 1);
  t.equal(await metric('kubepulse_kube_watch_events_total', 'type="DELETED"'), 1);

  // The API server ends watches when their timeout runs out; the informer
  // resumes from the bookmark's version without listing again.
  const lists = server.listCount;
  server.endWatches();
  await until('re-watch', () => server.watchCount === 2);
  t.equal(server.requests.at(-1)!.query['resourceVersion'], bookmarkVersion, 'resumes from the bookmark');
  t.equal(server.listCount, lists, 'no re-list');
  t.ok(watch.isSynced());
});

t.test('410 Gone mid-way: re-list, and the list replaces the index', async (t) => {
  const { server, watch, pods, metric } = await setup(t);
  server.addPod(makePod({ name: 'stays' }));
  const lost = server.addPod(makePod({ name: 'deleted-unseen', containers: { app: randomContainerId() } }));
  watch.start();
  t.ok(await watch.waitForSync(10_000));
  await until('watch open', () => server.openWatchCount === 1);
  t.equal(pods.size, 2);

  // A deletion the watch never delivers, then the history is gone.
  server.silentlyDeletePod('default', 'deleted-unseen');
  server.injectGone();
  await until('re-list', () => server.listCount === 2);
  await until('lost pod removed by the re-list', () => pods.byUid(lost.metadata!.uid!) === undefined);
  t.equal(pods.size, 1);
  await until('watching again', () => server.openWatchCount === 1);
  t.equal(server.requests.at(-1)!.query['resourceVersion'], server.resourceVersion, 'watch from the new list');
  t.equal(await metric('kubepulse_kube_watch_events_total', 'type="ERROR"'), 1);
  t.equal(await metric('kubepulse_kube_watch_errors_total'), 0, '410 is protocol, not an error');
  t.ok(watch.isSynced());

  // A watch that resumes from a compacted version gets 410 too.
  server.endWatches();
  server.silentlyDeletePod('default', 'stays'); // moves the version on and compacts
  await until('re-list after expired resume', () => server.listCount === 3);
  await until('pod gone', () => pods.size === 0);
  t.equal(await metric('kubepulse_kube_watch_events_total', 'type="ERROR"'), 2);
});

t.test('API server killed: last known pods kept, errors counted, logged once; back: resync', async (t) => {
  const { server, watch, pods, log, metric } = await setup(t);
  const id = randomContainerId();
  server.addPod(makePod({ name: 'survivor', containers: { app: id } }));
  const gone = server.addPod(makePod({ name: 'deleted-during-outage' }));
  watch.start();
  t.ok(await watch.waitForSync(10_000));
  await until('watch open', () => server.openWatchCount === 1);

  await server.stop();
  await until('unsynced', () => !watch.isSynced());
  t.equal(pods.byContainerId(id)?.pod, 'survivor', 'last known pods still resolve');
  t.equal(pods.size, 2);
  await until('several retries', () => watch.health().lastError !== '' && log.lines.filter((l) => l.msg === 'pod watch still unreachable').length >= 3);
  t.equal(log.at('warn').length, 1, 'one warning for the state change, not one per retry');
  t.match(log.at('warn')[0]!.msg, /lost the API server; keeping the last known pods/);
  t.match(String(log.at('warn')[0]!.fields?.['reason']), /ECONNREFUSED|ECONNRESET|socket|closed|premature|terminated|fetch/i);
  t.ok((await metric('kubepulse_kube_watch_errors_total'))! >= 3, 'every failed attempt counted');
  t.equal(await metric('kubepulse_kube_watch_synced'), 0);
  t.equal(watch.health().state, 'unreachable');
  t.equal(watch.health().everSynced, true);

  // While it was away, a pod went and another came; its watch cache restarted.
  server.silentlyDeletePod('default', 'deleted-during-outage');
  const fresh = server.addPod(makePod({ name: 'created-during-outage' }));
  await server.restart({ loseHistory: true });
  t.ok(await watch.waitForSync(10_000), 'synced again');
  t.equal(pods.byUid(gone.metadata!.uid!), undefined, 'the re-list drops what was deleted meanwhile');
  t.ok(pods.byUid(fresh.metadata!.uid!), 'and adds what was created');
  t.equal(pods.byContainerId(id)?.pod, 'survivor');
  t.equal(await metric('kubepulse_kube_watch_synced'), 1);
  t.ok(log.at('info').some((l) => l.msg === 'pod watch back in sync with the API server'));
  t.equal(log.at('warn').length, 1);
});

t.test('unreachable from the start: not synced, one warning, syncs when it appears', async (t) => {
  const { server, watch, pods, log } = await setup(t, { startServer: false });
  server.addPod(makePod({ name: 'waiting' }));
  watch.start();
  await until('a failure', () => watch.health().lastError !== '');
  await new Promise((r) => setTimeout(r, 400));
  t.notOk(watch.isSynced());
  t.equal(watch.health().everSynced, false);
  t.equal(pods.size, 0);
  t.equal(log.at('warn').length, 1);
  t.match(log.at('warn')[0]!.msg, /cannot reach the API server; not ready/);
  await server.start();
  t.ok(await watch.waitForSync(10_000));
  t.equal(pods.size, 1);
});

t.test('a failing list (HTTP 500) is retried', async (t) => {
  const { server, watch, pods, metric } = await setup(t);
  server.addPod(makePod({ name: 'p' }));
  server.listFailure = 500;
  watch.start();
  await until('errors', () => watch.health().lastError !== '');
  t.match(watch.health().lastError, /500|Internal/);
  t.ok((await metric('kubepulse_kube_watch_errors_total'))! >= 1);
  server.listFailure = undefined;
  t.ok(await watch.waitForSync(10_000));
  t.equal(pods.size, 1);
});

t.test('a wrong token is an error, not a crash', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-watch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = new TestKubeApiServer();
  await server.start();
  t.teardown(() => server.stop());
  const client = clientFor(writeKubeconfig(dir, server.url, 'wrong-token'));
  const log = recordingLogger();
  const watch = watchNodePods({ client, nodeName: 'node-a', pods: new PodIndex(), log, backoffInitialMs: 50 });
  t.teardown(() => watch.stop());
  watch.start();
  await until('failure', () => watch.health().lastError !== '');
  t.match(watch.health().lastError, /401|Unauthorized/);
  t.notOk(watch.isSynced());
});

t.test('resync re-lists periodically', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-watch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = new TestKubeApiServer();
  await server.start();
  t.teardown(() => server.stop());
  const client = clientFor(writeKubeconfig(dir, server.url, server.token));
  const pods = new PodIndex();
  const watch = watchNodePods({ client, nodeName: 'node-a', pods, log: recordingLogger(), resyncIntervalMs: 200 });
  t.teardown(() => watch.stop());
  const p = server.addPod(makePod({ name: 'p' }));
  watch.start();
  t.ok(await watch.waitForSync(10_000));
  server.silentlyDeletePod('default', 'p');
  await until('resync removed the pod', () => pods.byUid(p.metadata!.uid!) === undefined);
  t.ok(server.listCount >= 2);
  await until('old watches closed', () => server.openWatchCount <= 1);
  t.ok(watch.isSynced());
});

t.test('over HTTPS, verified against the server CA', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-watch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = new TestKubeApiServer({ tls: true });
  await server.start();
  t.teardown(() => server.stop());
  t.match(server.url, /^https:/);
  const client = clientFor(writeKubeconfig(dir, server.url, server.token, server.certificate));
  const pods = new PodIndex();
  const watch = watchNodePods({ client, nodeName: 'node-a', pods, log: recordingLogger(), backoffInitialMs: 50 });
  t.teardown(() => watch.stop());
  server.addPod(makePod({ name: 'tls-listed' }));
  watch.start();
  t.ok(await watch.waitForSync(10_000));
  await until('watch open', () => server.openWatchCount === 1);
  server.addPod(makePod({ name: 'tls-watched' }));
  await until('watched over TLS', () => pods.size === 2);

  // The wrong CA is refused, and only retried.
  const other = new TestKubeApiServer({ tls: true });
  mkdirSync(join(dir, 'bad'));
  const badClient = clientFor(writeKubeconfig(join(dir, 'bad'), server.url, server.token, other.certificate));
  const bad = watchNodePods({ client: badClient, nodeName: 'node-a', pods: new PodIndex(), log: recordingLogger(), backoffInitialMs: 50 });
  t.teardown(() => bad.stop());
  bad.start();
  await until('TLS failure', () => bad.health().lastError !== '');
  t.match(bad.health().lastError, /certificate|self.signed|verify/i);
  t.notOk(bad.isSynced());
});

t.test('stop closes the watch', async (t) => {
  const { server, watch } = await setup(t);
  watch.start();
  t.ok(await watch.waitForSync(10_000));
  await until('watch open', () => server.openWatchCount === 1);
  await watch.stop();
  await until('watch closed', () => server.openWatchCount === 0);
  t.notOk(watch.isSynced());
  t.equal(watch.health().state, 'stopped');
});

t.test('no node name is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-watch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const client = clientFor(writeKubeconfig(dir, 'http://127.0.0.1:1', 'token'));
  t.throws(() => watchNodePods({ client, nodeName: '', pods: new PodIndex(), log: recordingLogger() }), /node name/);
});

t.test('chooseKubeConfig', async (t) => {
  t.same(chooseKubeConfig({ inCluster: false }), { source: 'none', reason: 'in-cluster config disabled and no kubeconfig given' });
  const none = chooseKubeConfig({ env: {}, serviceAccountDir: '/nonexistent' });
  t.equal(none.source, 'none');
  t.match(none.source === 'none' ? none.reason : '', /KUBERNETES_SERVICE_HOST/);
  t.throws(() => chooseKubeConfig({ inCluster: true, env: {}, serviceAccountDir: '/nonexistent' }), /in-cluster config requested/);
  t.throws(() => chooseKubeConfig({ kubeconfig: '/nonexistent/kubeconfig' }), /cannot load kubeconfig \/nonexistent\/kubeconfig/);
  t.equal(containerIdOf('containerd://x'), 'x');
});

t.test('a watch that hangs open without data: pods kept, still synced, the periodic re-list catches up', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-watch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = new TestKubeApiServer();
  await server.start();
  t.teardown(() => server.stop());
  const client = clientFor(writeKubeconfig(dir, server.url, server.token));
  await client.endpoint.ready();
  const pods = new PodIndex();
  const watch = watchNodePods({ client, nodeName: 'node-a', pods, log: recordingLogger(), resyncIntervalMs: 1500 });
  t.teardown(() => watch.stop());
  const id = randomContainerId();
  server.addPod(makePod({ name: 'before', containers: { app: id } }));
  watch.start();
  t.ok(await watch.waitForSync(10_000));
  await until('watch open', () => server.openWatchCount === 1);

  // Stuck: the open watch gets nothing more, and a pod comes meanwhile.
  server.hangWatches = true;
  const lists = server.listCount;
  const during = server.addPod(makePod({ name: 'during-hang' }));
  t.equal(pods.byUid(during.metadata!.uid!), undefined, 'the silent watch did not deliver it');
  t.equal(pods.byContainerId(id)?.pod, 'before', 'the last known pods still resolve');
  t.ok(watch.isSynced(), 'a quiet watch cannot be told from a stuck one: still synced on the last list');
  // The re-list (lists still answer) delivers what the watch did not.
  await until('re-listed', () => server.listCount > lists, 10_000);
  await until('the pod added during the hang is known', () => pods.byUid(during.metadata!.uid!) !== undefined, 10_000);
  t.ok(watch.isSynced());
});

t.test('a watch still open past its timeout is stuck: cut, counted, not synced until the list, pods learned long before the resync', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-watch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = new TestKubeApiServer();
  await server.start();
  t.teardown(() => server.stop());
  const client = clientFor(writeKubeconfig(dir, server.url, server.token));
  await client.endpoint.ready();
  const pods = new PodIndex();
  const registry = new Registry();
  const log = recordingLogger();
  const watch = watchNodePods({ client, nodeName: 'node-a', pods, log, registry, watchTimeoutSeconds: 1, watchOverrunMs: 500, backoffInitialMs: 50, backoffMaxMs: 200 });
  t.teardown(() => watch.stop());
  const errors = async () => sample(await registry.metrics(), 'kubepulse_kube_watch_errors_total') ?? 0;
  server.addPod(makePod({ name: 'before' }));
  watch.start();
  t.ok(await watch.waitForSync(10_000));

  // A server that keeps its word ends each watch at 1 s; the watch resumes, no failure.
  const watches = () => server.requests.filter((r) => r.watch).length;
  await until('three watches in turn', () => watches() >= 3, 10_000);
  t.equal(await errors(), 0, 'watches the server ends on time are no failure');
  t.ok(watch.isSynced());

  // Stuck: the open watch goes silent and is never ended; a pod comes meanwhile.
  server.hangWatches = true;
  const during = server.addPod(makePod({ name: 'during-hang' }));
  const lists = server.listCount;
  await until('the stuck watch counted as a failure', async () => (await errors()) >= 1, 10_000);
  const warning = log.at('warn').find((l) => /still open 0\.5 s after its 1 s timeout: the connection is stuck/.test(String(l.fields?.['reason'])));
  t.ok(warning, `one warning names it: ${JSON.stringify(log.at('warn').map((l) => l.fields?.['reason']))}`);
  t.match(warning?.msg, /lost the API server; keeping the last known pods/, 'the last known pods are kept');
  // The run starts over with a list (lists still answer), which brings the pod the watch did not.
  await until('listed again', () => server.listCount > lists, 10_000);
  await until('the pod added during the hang is known', () => pods.byUid(during.metadata!.uid!) !== undefined, 10_000);
  server.hangWatches = false;
  t.ok(await watch.waitForSync(10_000), 'synced again');
});
