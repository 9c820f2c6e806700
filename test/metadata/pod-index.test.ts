import t from 'tap';
import type { V1Pod } from '@kubernetes/client-node';
import { containerIdOf, PodIndex, workloadOf } from '../../src/metadata/pod-index.js';
import { makePod, randomContainerId } from './fixtures/pods.js';

t.test('workloadOf', async (t) => {
  const table: Array<[string, V1Pod, { name: string; kind: string }]> = [
    ['bare pod', makePod({ name: 'debug' }), { name: 'debug', kind: 'Pod' }],
    [
      'deployment via replicaset',
      makePod({ name: 'web-7d9f8b6c5d-x2x7q', labels: { 'pod-template-hash': '7d9f8b6c5d' }, owner: { kind: 'ReplicaSet', name: 'web-7d9f8b6c5d' } }),
      { name: 'web', kind: 'Deployment' },
    ],
    [
      'replicaset without template hash',
      makePod({ name: 'legacy-abcde', owner: { kind: 'ReplicaSet', name: 'legacy' } }),
      { name: 'legacy', kind: 'ReplicaSet' },
    ],
    [
      'replicaset whose name does not end in the hash',
      makePod({ name: 'x-1', labels: { 'pod-template-hash': 'abc' }, owner: { kind: 'ReplicaSet', name: 'x' } }),
      { name: 'x', kind: 'ReplicaSet' },
    ],
    ['statefulset', makePod({ name: 'db-0', owner: { kind: 'StatefulSet', name: 'db' } }), { name: 'db', kind: 'StatefulSet' }],
    ['daemonset', makePod({ name: 'agent-5kq2p', owner: { kind: 'DaemonSet', name: 'agent' } }), { name: 'agent', kind: 'DaemonSet' }],
    ['job', makePod({ name: 'migrate-8x2lq', owner: { kind: 'Job', name: 'migrate' } }), { name: 'migrate', kind: 'Job' }],
    [
      'cronjob via job',
      makePod({ name: 'backup-29384710-abcde', owner: { kind: 'Job', name: 'backup-29384710' } }),
      { name: 'backup', kind: 'CronJob' },
    ],
    ['job with a short numeric suffix', makePod({ name: 'run-42-x', owner: { kind: 'Job', name: 'run-42' } }), { name: 'run-42', kind: 'Job' }],
    [
      'static pod mirrored by the kubelet',
      makePod({ name: 'kube-apiserver-node-a', nodeName: 'node-a', owner: { kind: 'Node', name: 'node-a' } }),
      { name: 'kube-apiserver', kind: 'StaticPod' },
    ],
    [
      'custom controller',
      makePod({ name: 'rollout-abc', owner: { kind: 'Rollout', name: 'rollout' } }),
      { name: 'rollout', kind: 'Rollout' },
    ],
  ];
  for (const [name, pod, want] of table) t.same(workloadOf(pod), want, name);

  const twoOwners = makePod({ name: 'p' });
  twoOwners.metadata!.ownerReferences = [
    { apiVersion: 'v1', kind: 'ConfigMap', name: 'not-controller', uid: 'a' },
    { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'the-controller', uid: 'b', controller: true },
  ];
  t.same(workloadOf(twoOwners), { name: 'the-controller', kind: 'StatefulSet' }, 'the controller reference wins');
});

t.test('containerIdOf', async (t) => {
  t.equal(containerIdOf('containerd://abc'), 'abc');
  t.equal(containerIdOf('cri-o://abc'), 'abc');
  t.equal(containerIdOf('docker://abc'), 'abc');
  t.equal(containerIdOf(undefined), '');
  t.equal(containerIdOf(''), '');
});

t.test('index by container and UID', async (t) => {
  const index = new PodIndex();
  const changes: Array<[string, boolean]> = [];
  index.onChange((uid, record) => changes.push([uid, record !== undefined]));

  const app = randomContainerId();
  const sidecar = randomContainerId();
  const init = randomContainerId();
  const pod = makePod({
    name: 'web-7d9f8b6c5d-x2x7q',
    namespace: 'shop',
    labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5d' },
    owner: { kind: 'ReplicaSet', name: 'web-7d9f8b6c5d' },
    containers: { app, sidecar },
    initContainers: { setup: init },
    runtime: 'cri-o',
  });
  const uid = pod.metadata!.uid!;
  const record = index.upsert(pod)!;
  t.equal(index.size, 1);
  t.same(record.labels, { app: 'web', 'pod-template-hash': '7d9f8b6c5d' });
  t.equal(record.workloadKind, 'Deployment');
  t.same(index.byContainerId(app), { namespace: 'shop', pod: 'web-7d9f8b6c5d-x2x7q', workload: 'web', container: 'app', podUid: uid });
  t.equal(index.byContainerId(sidecar)?.container, 'sidecar');
  t.equal(index.byContainerId(init)?.container, 'setup');
  t.equal(index.byUid(uid)?.identity.container, '');
  t.equal(index.byName('shop', 'web-7d9f8b6c5d-x2x7q'), record);
  t.ok(Object.isFrozen(index.byContainerId(app)), 'identities are shared and frozen');
  t.equal(index.byContainerId(app), index.byContainerId(app), 'same object every time');

  // Container restart: new ID, the old one is kept as lastState.
  const restarted = randomContainerId();
  const after = structuredClone(pod);
  const status = after.status!.containerStatuses![0]!;
  status.lastState = { terminated: { exitCode: 1, containerID: status.containerID } };
  status.containerID = `cri-o://${restarted}`;
  status.restartCount = 1;
  const appIdentity = index.byContainerId(app);
  const podIdentity = index.byUid(uid)!.identity;
  index.upsert(after);
  t.equal(index.byContainerId(restarted)?.container, 'app', 'new container ID resolves');
  t.equal(index.byContainerId(restarted), appIdentity, 'the same identity object across updates');
  t.equal(index.byUid(uid)!.identity, podIdentity);
  t.equal(index.byContainerId(app)?.container, 'app', 'previous instance still resolves');

  // A second restart drops the oldest instance.
  const again = structuredClone(after);
  const s2 = again.status!.containerStatuses![0]!;
  s2.lastState = { terminated: { exitCode: 1, containerID: s2.containerID } };
  s2.containerID = `cri-o://${randomContainerId()}`;
  index.upsert(again);
  t.equal(index.byContainerId(app), undefined, 'two restarts ago is forgotten');
  t.equal(index.byContainerId(restarted)?.container, 'app');

  t.ok(index.remove(pod));
  t.notOk(index.remove(pod), 'second removal is a no-op');
  t.equal(index.size, 0);
  t.equal(index.byContainerId(restarted), undefined);
  t.equal(index.byContainerId(sidecar), undefined);
  t.equal(index.byUid(uid), undefined);
  t.same(changes, [
    [uid, true],
    [uid, true],
    [uid, true],
    [uid, false],
  ]);
});

t.test('ephemeral containers', async (t) => {
  const index = new PodIndex();
  const pod = makePod({ name: 'p', containers: { app: randomContainerId() } });
  const debugId = randomContainerId();
  pod.status!.ephemeralContainerStatuses = [
    { name: 'debugger-x7k2', containerID: `containerd://${debugId}`, image: 'busybox', imageID: '', ready: false, restartCount: 0 },
  ];
  index.upsert(pod);
  t.equal(index.byContainerId(debugId)?.container, 'debugger-x7k2');
});

t.test('a renamed label does not change identities; a new workload does', async (t) => {
  const index = new PodIndex();
  const pod = makePod({ name: 'p', containers: { app: randomContainerId() }, labels: { v: '1' } });
  const before = index.upsert(pod)!;
  const relabelled = structuredClone(pod);
  relabelled.metadata!.labels = { v: '2' };
  const after = index.upsert(relabelled)!;
  t.equal(after.identity, before.identity);
  t.same(after.labels, { v: '2' });
  const adopted = structuredClone(relabelled);
  adopted.metadata!.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'set', uid: 'x', controller: true }];
  const owned = index.upsert(adopted)!;
  t.not(owned.identity, before.identity);
  t.equal(owned.identity.workload, 'set');
});

t.test('pods without status or identity', async (t) => {
  const index = new PodIndex();
  const pending = makePod({ name: 'pending' });
  delete pending.status;
  const record = index.upsert(pending)!;
  t.equal(record.containers.size, 0, 'a pending pod has no containers yet');
  t.equal(index.byUid(record.uid)?.name, 'pending');

  const waiting = makePod({ name: 'waiting', containers: { app: '' } });
  t.equal(index.upsert(waiting)!.containers.size, 0, 'an empty containerID is not indexed');

  const nameless = makePod({ name: 'x' });
  delete nameless.metadata!.uid;
  t.equal(index.upsert(nameless), undefined, 'a pod without UID is ignored');
});

t.test('replace keeps exactly the listed pods', async (t) => {
  const index = new PodIndex();
  const keep = makePod({ name: 'keep', containers: { app: randomContainerId() } });
  const gone = makePod({ name: 'gone', containers: { app: randomContainerId() } });
  const goneId = containerIdOf(gone.status!.containerStatuses![0]!.containerID);
  index.upsert(keep);
  index.upsert(gone);
  const removed: string[] = [];
  index.onChange((uid, record) => {
    if (record === undefined) removed.push(uid);
  });
  const fresh = makePod({ name: 'fresh' });
  index.replace([keep, fresh]);
  t.equal(index.size, 2);
  t.same(removed, [gone.metadata!.uid]);
  t.equal(index.byContainerId(goneId), undefined);
  t.ok(index.byUid(fresh.metadata!.uid!));
});

t.test('an unchanged resourceVersion is not re-applied', async (t) => {
  const index = new PodIndex();
  let changes = 0;
  index.onChange(() => changes++);
  const pod = makePod({ name: 'p' });
  pod.metadata!.resourceVersion = '7';
  const first = index.upsert(pod);
  t.equal(index.upsert(structuredClone(pod)), first, 'same record back');
  t.equal(changes, 1);
  pod.metadata!.resourceVersion = '8';
  t.not(index.upsert(pod), first);
  t.equal(changes, 2);
});

t.test('a removed pod is kept for its events older than the removal, for departedMs', async (t) => {
  const clock = { ms: 1_000_000, ns: 7_000 };
  const index = new PodIndex({ departedMs: 1000, now: () => clock.ms, monotonicNs: () => clock.ns });
  const pod = makePod({ name: 'p', containers: { app: randomContainerId() } });
  const uid = pod.metadata!.uid!;
  index.upsert(pod);
  t.equal(index.departedBefore(uid, 6_000), undefined, 'a live pod is not departed');
  t.notOk(index.isDeparted(uid));
  index.remove(uid);
  t.equal(index.byUid(uid), undefined, 'removed from the live index at once');
  t.equal(index.departedBefore(uid, 6_000)?.name, 'p', 'an event older than the removal finds it');
  t.equal(index.departedBefore(uid, 7_000), undefined, 'one at or after the removal does not');
  t.ok(index.isDeparted(uid));
  clock.ms += 1001;
  t.equal(index.departedBefore(uid, 6_000), undefined, 'gone after departedMs');
  t.notOk(index.isDeparted(uid));

  index.upsert(pod);
  index.remove(uid);
  index.upsert(pod); // listed again (a re-list that still had it)
  t.notOk(index.isDeparted(uid), 'a pod added again is live, not departed');
  const off = new PodIndex({ departedMs: 0 });
  off.upsert(pod);
  off.remove(uid);
  t.equal(off.departedBefore(uid, 0), undefined, 'departedMs 0: not kept');
});

t.test('pods removed longer than departedMs ago are not retained', async (t) => {
  const clock = { ms: 1_000_000, ns: 7_000 };
  const index = new PodIndex({ departedMs: 1000, now: () => clock.ms, monotonicNs: () => clock.ns });
  // Churn: pods come and go, and nothing ever asks for a deleted one again.
  for (let i = 0; i < 50; i++) {
    const pod = makePod({ name: `churn-${i}`, containers: { app: randomContainerId() } });
    index.upsert(pod);
    index.remove(pod.metadata!.uid!);
    clock.ms += 100;
  }
  // 100 ms apart with a 1 s window: the ten newest are kept, not all fifty.
  t.ok(index.departedSize <= 11, `departed kept: ${index.departedSize}`);
  t.ok(index.departedSize >= 10);
});
