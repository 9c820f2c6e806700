// Cluster-wide peer resolution (src/peers/cluster-peers.ts) against the
// test API server, which serves pods (all nodes), services and nodes over the
// real list+watch protocol on loopback.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Node, V1Service } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { ClusterPeerIndex } from '../../src/peers/address-index.js';
import { createClusterPeers } from '../../src/peers/cluster-peers.js';
import { LIST_PAGE_SIZE } from '../../src/kube/client.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { makePod } from '../metadata/fixtures/pods.js';
import { recordingLogger, sample, until } from '../metadata/fixtures/harness.js';

function withIp<T extends ReturnType<typeof makePod>>(pod: T, ip: string, extra: { hostNetwork?: boolean; phase?: string } = {}): T {
  pod.status = { ...pod.status, podIP: ip, podIPs: [{ ip }], ...(extra.phase === undefined ? {} : { phase: extra.phase }) };
  if (extra.hostNetwork === true) pod.spec = { ...pod.spec!, hostNetwork: true };
  return pod;
}

function service(namespace: string, name: string, spec: V1Service['spec']): V1Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace, name, uid: `svc-${name}` }, spec };
}

function node(name: string, addresses: { type: string; address: string }[]): V1Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, uid: `node-${name}` }, status: { addresses } };
}

async function setup(t: { teardown(fn: () => unknown): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-peers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = new TestKubeApiServer();
  await server.start();
  t.teardown(() => server.stop());
  const kubeconfig = writeKubeconfig(dir, server.url, server.token);
  const registry = new Registry();
  const log = recordingLogger();
  const peers = createClusterPeers({ kubeconfig, registry, log, backoffInitialMs: 50, backoffMaxMs: 200 });
  t.teardown(() => peers.stop());
  return { server, peers, registry, log };
}

t.test('pods of every node, services and nodes resolve; the rest is external', async (t) => {
  const { server, peers, registry } = await setup(t);
  server.addPod(
    withIp(
      makePod({
        name: 'web-6f7d9c8b5-abcde',
        namespace: 'shop',
        nodeName: 'node-b',
        labels: { app: 'web', 'pod-template-hash': '6f7d9c8b5' },
        owner: { kind: 'ReplicaSet', name: 'web-6f7d9c8b5' },
      }),
      '10.244.2.7',
    ),
  );
  server.addPod(withIp(makePod({ name: 'kube-proxy-x', namespace: 'kube-system', nodeName: 'node-b' }), '192.168.1.11', { hostNetwork: true }));
  server.addPod(withIp(makePod({ name: 'done', namespace: 'jobs', nodeName: 'node-a' }), '10.244.1.9', { phase: 'Succeeded' }));
  server.addService(
    service('shop', 'web', {
      clusterIP: '10.96.0.20',
      clusterIPs: ['10.96.0.20', 'fd00:10:96::20'],
      selector: { app: 'web' },
      ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }, { port: 443, targetPort: 'https', protocol: 'TCP' }],
    }),
  );
  server.addService(service('shop', 'headless', { clusterIP: 'None', selector: { app: 'web' } }));
  server.addService(service('default', 'kubernetes', { clusterIP: '10.96.0.1', ports: [{ port: 443, protocol: 'TCP' }] }));
  server.addNode(
    node('node-b', [
      { type: 'InternalIP', address: '192.168.1.11' },
      { type: 'ExternalIP', address: '203.0.113.11' },
      { type: 'Hostname', address: 'node-b' },
    ]),
  );

  t.notOk(peers.isSynced(), 'not synced before start');
  peers.start();
  // The first request loads @kubernetes/client-node for the kubeconfig: seconds under tap's loader on a busy machine.
  t.ok(await peers.waitForSync(60_000), 'synced');
  for (const path of ['/api/v1/pods', '/api/v1/services', '/api/v1/nodes']) {
    const list = server.requests.find((r) => r.path === path && !r.watch);
    t.ok(list, `${path} listed`);
    t.equal(list?.query['fieldSelector'], undefined, `${path}: cluster-wide, no field selector`);
    t.equal(list?.query['resourceVersion'], '0', `${path}: listed from the API server's watch cache`);
  }

  t.same(peers.peerOf('10.244.2.7'), {
    kind: 'pod',
    address: '10.244.2.7',
    namespace: 'shop',
    pod: 'web-6f7d9c8b5-abcde',
    workload: 'web',
    workloadKind: 'Deployment',
    labels: { app: 'web', 'pod-template-hash': '6f7d9c8b5' },
  });
  t.same(peers.peerOf('10.96.0.20'), {
    kind: 'service',
    address: '10.96.0.20',
    namespace: 'shop',
    name: 'web',
    selector: { app: 'web' },
    ports: [{ port: 80, targetPort: 8080, protocol: 'TCP', name: 'http' }, { port: 443, targetPort: 'https', protocol: 'TCP' }],
  });
  t.equal(peers.peerOf('fd00:10:96::20').kind, 'service', 'dual-stack ClusterIPs');
  t.same(peers.peerOf('10.96.0.1'), { kind: 'service', address: '10.96.0.1', namespace: 'default', name: 'kubernetes', ports: [{ port: 443, protocol: 'TCP' }] }, 'selector-less: no selector');
  t.same(peers.peerOf('192.168.1.11'), { kind: 'node', address: '192.168.1.11' }, 'hostNetwork pod IP is its node');
  t.same(peers.peerOf('203.0.113.11'), { kind: 'node', address: '203.0.113.11' });
  t.same(peers.peerOf('10.244.1.9'), { kind: 'external', address: '10.244.1.9' }, 'a finished pod holds no IP');
  t.same(peers.peerOf('8.8.8.8'), { kind: 'external', address: '8.8.8.8' });
  t.same(peers.peerOf('127.0.0.1'), { kind: 'external', address: '127.0.0.1' });
  t.same(peers.health().addresses, { pod: 1, service: 3, node: 2 });
  const metrics = await registry.metrics();
  t.equal(sample(metrics, 'kubepulse_cluster_peers_synced', 'resource="services"'), 1);
  t.equal(sample(metrics, 'kubepulse_cluster_peers_addresses', 'kind="service"'), 3);
});

t.test('watch events update the index; a re-list drops what was deleted meanwhile; a lost API server keeps the last known', async (t) => {
  const { server, peers, registry } = await setup(t);
  const pod = server.addPod(withIp(makePod({ name: 'api-0', namespace: 'a', nodeName: 'node-c', labels: { app: 'api' }, owner: { kind: 'StatefulSet', name: 'api' } }), '10.0.0.5'));
  peers.start();
  t.ok(await peers.waitForSync(60_000));
  t.equal(peers.peerOf('10.0.0.5').kind, 'pod');
  const metric = async (name: string, labels: string) => sample(await registry.metrics(), name, labels);
  for (const resource of ['pods', 'services', 'nodes']) t.equal(await metric('kubepulse_cluster_peers_watch_errors_total', `resource="${resource}"`), 0, `${resource}: 0 failures, exported from the start`);

  server.modifyPod(withIp(pod, '10.0.0.6'));
  await until('new pod IP', () => peers.peerOf('10.0.0.6').kind === 'pod');
  t.equal(peers.peerOf('10.0.0.5').kind, 'external', 'the old IP is released');

  server.addService(service('a', 'api', { clusterIP: '10.96.5.5', selector: { app: 'api' }, ports: [{ port: 80, protocol: 'TCP' }] }));
  await until('service by watch', () => peers.peerOf('10.96.5.5').kind === 'service');
  server.addNode(node('node-c', [{ type: 'InternalIP', address: '192.168.7.7' }]));
  await until('node by watch', () => peers.peerOf('192.168.7.7').kind === 'node');

  server.deleteService('a', 'api');
  await until('service deleted', () => peers.peerOf('10.96.5.5').kind === 'external');

  // Deleted while no watch was open: the 410 forces a re-list, which drops it.
  server.silentlyDeletePod('a', 'api-0');
  server.injectGone();
  await until('re-list drops the pod', () => peers.peerOf('10.0.0.6').kind === 'external');

  server.addPod(withIp(makePod({ name: 'db-0', namespace: 'a', nodeName: 'node-c', labels: { app: 'db' } }), '10.0.0.7'));
  await until('db pod', () => peers.peerOf('10.0.0.7').kind === 'pod');
  await server.stop();
  await until('unsynced', () => !peers.isSynced());
  t.equal(peers.peerOf('10.0.0.7').kind, 'pod', 'last known pods still resolve while the API server is away');
  t.equal(peers.peerOf('192.168.7.7').kind, 'node', 'and nodes');
  t.not(peers.health().lastError, '');
  // The cluster-wide watches count their failures, as the pod watch does.
  for (const resource of ['pods', 'services', 'nodes'])
    await until(`${resource} failures counted`, async () => ((await metric('kubepulse_cluster_peers_watch_errors_total', `resource="${resource}"`)) ?? 0) >= 1);
  t.equal(await metric('kubepulse_cluster_peers_watch_events_total', 'resource="services",type="DELETED"'), 1, 'events counted by resource and type');
  t.equal(await metric('kubepulse_cluster_peers_watch_events_total', 'resource="pods",type="ERROR"'), 1, 'the 410');
  await server.start();
  t.ok(await peers.waitForSync(10_000), 'back in sync');
});

t.test('a large list goes into the index page by page; an expired continue token lists again and the index is the last list', async (t) => {
  const { server, peers } = await setup(t);
  const total = 2 * LIST_PAGE_SIZE + 5;
  const ip = (i: number) => `10.1.${i >> 8}.${i & 255}`;
  for (let i = 0; i < total; i++) server.addPod(withIp(makePod({ name: `p-${i}`, namespace: 'big', nodeName: `node-${i % 7}` }), ip(i)));
  let expired = false;
  let seenMidList: string | undefined;
  server.beforeList = (request) => {
    if (request.path !== '/api/v1/pods' || (request.query['continue'] ?? '') === '') return;
    // Before the second page, the first page's pods already resolve: they went in as they arrived.
    seenMidList ??= peers.peerOf(ip(0)).kind;
    if (expired) return;
    expired = true;
    server.silentlyDeletePod('big', 'p-3'); // the version moves on, compaction: the token expires
  };
  peers.start();
  t.ok(await peers.waitForSync(60_000));
  t.equal(seenMidList, 'pod', 'the first page was in the index before the second was asked for');
  const pages = server.requests.filter((r) => !r.watch && r.path === '/api/v1/pods').map((r) => ((r.query['continue'] ?? '') === '' ? 'first' : 'continue'));
  t.same(pages, ['first', 'continue', 'first', 'continue', 'continue'], 'expired on the second page, then listed again in pages');
  t.equal(peers.health().addresses.pod, total - 1);
  t.equal(peers.peerOf(ip(3)).kind, 'external', 'the pod deleted while the list was begun again is gone: it was in the first attempt only');
  t.equal(peers.peerOf(ip(total - 1)).kind, 'pod');
});

t.test('index: shared label sets, reused addresses, canonical IPv6', async (t) => {
  const index = new ClusterPeerIndex();
  const pod = (owner: string, ip: string, labels: Record<string, string>) =>
    index.set(owner, 'pod', [ip], (address, l) => ({ kind: 'pod', address, namespace: 'n', pod: owner, labels: l ?? {} }), labels);
  pod('a', '10.1.0.1', { app: 'x', tier: 'web' });
  pod('b', '10.1.0.2', { tier: 'web', app: 'x' });
  t.equal(index.labelSets, 1, 'equal label sets are stored once');
  t.equal(index.peerOf('10.1.0.1').labels, index.peerOf('10.1.0.2').labels, 'the same object');
  t.ok(Object.isFrozen(index.peerOf('10.1.0.1')), 'peers are frozen');
  index.delete('a');
  index.delete('b');
  t.equal(index.labelSets, 0, 'unused label sets go');

  pod('old', '10.1.0.3', { app: 'old' });
  pod('new', '10.1.0.3', { app: 'new' });
  t.equal(index.peerOf('10.1.0.3').pod, 'new', 'the latest claim wins');
  index.delete('new');
  t.equal(index.peerOf('10.1.0.3').pod, 'old', 'the earlier claim is back when the later goes');

  index.set('svc', 'service', ['FD00::0:10'], (address) => ({ kind: 'service', address, namespace: 'n', name: 's' }));
  t.equal(index.peerOf('fd00::10').kind, 'service');
});
