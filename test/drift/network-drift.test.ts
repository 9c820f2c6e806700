// The drift tracker over flow reads (src/drift/network-drift.ts): what it
// counts, when it judges again, what is never drift, and series that go
// with their flows. Policies come from a plain source; the end-to-end test
// (drift.e2e.test.ts) drives the real watches and the real kernel.
import t from 'tap';
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import type { FlowRecord, Peer } from '../../src/api/v1.js';
import { NetworkDriftTracker, type PolicySource } from '../../src/drift/network-drift.js';
import { PodIndex } from '../../src/metadata/pod-index.js';
import { makePod } from '../metadata/fixtures/pods.js';

class Policies implements PolicySource {
  generation = 1;
  synced = true;
  list: V1NetworkPolicy[] = [];
  labels: Record<string, Record<string, string>> = {};
  all() {
    return this.list;
  }
  namespaceLabels(ns: string) {
    return this.labels[ns];
  }
  isSynced() {
    return this.synced;
  }
  set(list: V1NetworkPolicy[]) {
    this.list = list;
    this.generation++;
  }
}

const onlyToApi: V1NetworkPolicy = {
  metadata: { namespace: 'web', name: 'client-egress' },
  spec: { podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { app: 'api' } } }] }] },
};
const apiIngressByName: V1NetworkPolicy = {
  metadata: { namespace: 'web', name: 'api-ingress' },
  spec: { podSelector: { matchLabels: { app: 'api' } }, ingress: [{ ports: [{ port: 'http' as unknown as number }] }] },
};

const pod = (name: string, app: string, address: string, namespace = 'web'): Peer => ({ kind: 'pod', address, namespace, pod: name, workload: app, workloadKind: 'Deployment', labels: { app } });
const flow = (from: { pod: string; app: string }, direction: 'egress' | 'ingress', port: number, peer: Peer, count: number): FlowRecord => ({
  namespace: 'web', pod: from.pod, workload: from.app, workloadKind: 'Deployment', podLabels: { app: from.app },
  direction, protocol: 'TCP', port, peer, count, firstSeen: '', lastSeen: '',
});
const CLIENT = { pod: 'client-1', app: 'client' };
const API = { pod: 'api-1', app: 'api' };

function setup() {
  const registry = new Registry();
  const pods = new PodIndex();
  const api = makePod({ name: 'api-1', namespace: 'web', labels: { app: 'api' } });
  api.spec!.containers[0]!.ports = [{ name: 'http', containerPort: 8080 }];
  pods.upsert(api);
  pods.upsert(makePod({ name: 'client-1', namespace: 'web', labels: { app: 'client' } }));
  const policies = new Policies();
  const tracker = new NetworkDriftTracker({ registry, pods, policies, nodeAddresses: new Set(['192.0.2.10']) });
  const series = async () =>
    (await registry.getSingleMetric('kubepulse_policy_drift_flows_total')!.get()).values.map((v) => ({ labels: v.labels, value: v.value }));
  return { tracker, policies, series };
}

t.test('a flow no policy allows is counted while it is not allowed', async (t) => {
  const { tracker, policies, series } = setup();
  policies.set([onlyToApi]);
  const db = pod('db-0', 'db', '10.0.0.3', 'data');
  tracker.observe([flow(CLIENT, 'egress', 8080, pod('api-1', 'api', '10.0.0.2'), 5), flow(CLIENT, 'egress', 5432, db, 3)]);
  t.same(await series(), [
    { labels: { namespace: 'web', workload: 'client', direction: 'egress', protocol: 'TCP', port: '5432', peer_kind: 'pod', peer_namespace: 'data', peer_workload: 'db' }, value: 3 },
  ]);
  t.match(tracker.list(), [{ pod: 'client-1', port: 5432, count: 3, policies: ['web/client-egress'], peer: { pod: 'db-0' } }]);
  tracker.observe([flow(CLIENT, 'egress', 5432, db, 7)]);
  t.equal((await series())[0]?.value, 7, 'the new connections only');
  // The policy now allows every egress: new traffic is no drift, what was counted stays.
  policies.set([{ ...onlyToApi, spec: { ...onlyToApi.spec, egress: [{}] } }]);
  tracker.observe([flow(CLIENT, 'egress', 5432, db, 12)]);
  t.equal((await series())[0]?.value, 7);
  t.same(tracker.list(), []);
  // Gone from the kernel map (the pod went): its series goes.
  tracker.observe([]);
  t.same(await series(), []);
});

t.test('never drift: itself, this node, loopback; not isolated; policies not listed yet', async (t) => {
  const { tracker, policies, series } = setup();
  policies.synced = false;
  policies.set([onlyToApi]);
  policies.generation = 1;
  tracker.observe([flow(CLIENT, 'egress', 1, pod('db-0', 'db', '10.0.0.3', 'data'), 1)]);
  t.same(await series(), [], 'nothing judged before the policies are known');
  policies.synced = true;
  tracker.observe([
    flow(CLIENT, 'egress', 2, pod('client-1', 'client', '10.0.0.1'), 1),
    flow(CLIENT, 'egress', 3, { kind: 'node', address: '192.0.2.10' }, 1),
    flow(CLIENT, 'egress', 4, { kind: 'external', address: '127.0.0.1' }, 1),
    flow(API, 'egress', 5, { kind: 'external', address: '8.8.8.8' }, 1),
  ]);
  t.same(await series(), []);
  tracker.observe([flow(CLIENT, 'egress', 3, { kind: 'node', address: '192.0.2.11' }, 1)]);
  t.equal((await series()).length, 1, 'another node is a peer like any other');
});

t.test('named ports and Service peers', async (t) => {
  const { tracker, policies, series } = setup();
  policies.set([apiIngressByName, onlyToApi]);
  // Ingress to api on 8080 = its container port "http": allowed; on 9090: drift.
  tracker.observe([flow(API, 'ingress', 8080, pod('client-1', 'client', '10.0.0.1'), 1), flow(API, 'ingress', 9090, pod('client-1', 'client', '10.0.0.1'), 1)]);
  t.same((await series()).map((s) => s.labels.port), ['9090']);
  // A Service in front of api: judged as its selector's pods; one in front of db is not allowed.
  const service = (name: string, app: string, address: string): Peer => ({ kind: 'service', address, namespace: 'web', name, selector: { app }, ports: [{ port: 80, targetPort: 'http', protocol: 'TCP' }] });
  tracker.observe([
    flow(CLIENT, 'egress', 80, service('api', 'api', '10.96.0.2'), 1),
    flow(CLIENT, 'egress', 80, service('db', 'db', '10.96.0.3'), 1),
  ]);
  t.same((await series()).map((s) => `${s.labels.peer_kind}/${s.labels.peer_workload}`), ['service/db']);
});
