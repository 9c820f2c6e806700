// The resolver on this machine's real cgroup v2, all real except the API
// server (test/support/kube-api-server.ts speaks the list+watch protocol).
//
// Creates kubelet-shaped cgroups below the cgroup2 mount found in
// /proc/mounts, moves real `sleep` processes into them, and checks that
// resolve(pid, cgroupId) names the pod served by the test API server; that a
// killed process's cgroup ID still resolves; that a deleted pod stops
// resolving; and that a vanished API server leaves the last known pods in
// place. Every cgroup is removed in teardown, also when a test fails.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { cgroupIdOf } from '../../src/cgroup/mounts.js';
import { createMetadata, HOST_IDENTITY } from '../../src/metadata/index.js';
import { TestKubeApiServer } from '../support/kube-api-server.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { cgroup2Mount, killAndWait, podCgroups, podCgroupsUnavailable } from '../support/pod-cgroups.js';
import { makePod, randomContainerId } from './fixtures/pods.js';
import { recordingLogger, sample, until } from './fixtures/harness.js';

const mount = cgroup2Mount();
const skip = podCgroupsUnavailable() ?? false;
if (skip !== false) console.log(`# skipping real-cgroup resolver tests: ${skip}`);

t.test('resolution on real cgroup v2', { skip }, async (t) => {
  const cgroups = podCgroups(t);

  /** A kubelet-shaped container cgroup with a real process in it. */
  const container = (podUid: string, containerId: string) => {
    const { dir, cgroupId } = cgroups.container(podUid, containerId);
    const child = cgroups.spawnMoved(dir, ['sleep', '300'], { stdio: 'ignore' });
    return { dir, child, pid: child.pid!, cgroupId };
  };

  const server = new TestKubeApiServer();
  await server.start();
  t.teardown(() => server.stop());
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-resolver-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = writeKubeconfig(dir, server.url, server.token);

  // Pod A: resolved while its process lives. Pod B: its process dies before
  // anything looks it up.
  const uidA = randomUUID();
  const idA = randomContainerId();
  const a = container(uidA, idA);
  t.match(readFileSync(`/proc/${a.pid}/cgroup`, 'utf8'), `cri-containerd-${idA}.scope`, 'the process is in the cgroup');
  const uidB = randomUUID();
  const idB = randomContainerId();
  const b = container(uidB, idB);
  server.addPod(
    makePod({
      name: 'web-6f7d9c8b5-abcde',
      namespace: 'shop',
      uid: uidA,
      labels: { 'pod-template-hash': '6f7d9c8b5' },
      owner: { kind: 'ReplicaSet', name: 'web-6f7d9c8b5' },
      containers: { server: idA },
    }),
  );
  server.addPod(makePod({ name: 'batch-0', namespace: 'jobs', uid: uidB, owner: { kind: 'StatefulSet', name: 'batch' }, containers: { worker: idB } }));
  server.addPod(makePod({ name: 'elsewhere', nodeName: 'node-b' }));

  const registry = new Registry();
  const log = recordingLogger();
  const metadata = createMetadata({
    nodeName: 'node-a',
    procfs: '/proc',
    kubeconfig,
    cacheTtlMs: 60_000,
    cacheMax: 1000,
    registry,
    log,
    backoffInitialMs: 50,
    backoffMaxMs: 200,
  });
  t.teardown(() => metadata.stop());
  t.equal(metadata.mode, 'kubernetes');
  t.notOk(metadata.isReady(), 'not ready before the first list');

  await killAndWait(b.child); // before start: only the rescan can know its cgroup
  await metadata.start();
  t.ok(await metadata.waitForSync(10_000), 'synced with the test API server');
  t.ok(metadata.isReady());

  const wantA = { namespace: 'shop', pod: 'web-6f7d9c8b5-abcde', workload: 'web', container: 'server', podUid: uidA };
  t.same(metadata.resolver.resolve(a.pid, a.cgroupId), wantA, 'a live process in a kubelet-shaped cgroup');
  t.same(metadata.resolver.resolve(a.pid, 0), wantA, 'without a cgroup ID, through /proc/<pid>/cgroup');
  t.same(
    metadata.resolver.resolve(b.pid, b.cgroupId),
    { namespace: 'jobs', pod: 'batch-0', workload: 'batch', container: 'worker', podUid: uidB },
    'a process that exited before any lookup, by its cgroup ID',
  );
  t.same(metadata.resolver.resolve(process.pid, cgroupIdOf(join(mount!, readFileSync('/proc/self/cgroup', 'utf8').match(/^0::(.*)$/m)![1]!))), HOST_IDENTITY, 'this test process is a host process');

  await killAndWait(a.child);
  t.same(metadata.resolver.resolve(a.pid, a.cgroupId), wantA, 'still resolves after the process was killed');
  t.same(metadata.resolver.resolve(999_999, a.cgroupId), wantA, 'any PID: the cgroup ID decides');

  // Pod deletion reaches the resolver through the watch, not the TTL.
  server.deletePod('shop', 'web-6f7d9c8b5-abcde');
  await until('deleted pod no longer resolves', () => metadata.resolver.resolve(a.pid, a.cgroupId).pod === '');
  t.same(metadata.resolver.resolve(a.pid, a.cgroupId), { ...HOST_IDENTITY, podUid: uidA, unattributed: 'pod_unknown' }, 'deleted: no names, the UID from the cgroup path stays');

  // A container started while the API server is away still resolves to the
  // last known pods.
  const uidC = randomUUID();
  const idC = randomContainerId();
  server.addPod(makePod({ name: 'cache-0', namespace: 'shop', uid: uidC, containers: { redis: idC } }));
  await until('pod C known', () => metadata.pods.byUid(uidC) !== undefined);
  await server.stop();
  await until('not ready while the API server is away', () => !metadata.isReady());
  const c = container(uidC, idC);
  t.equal(metadata.resolver.resolve(c.pid, c.cgroupId).pod, 'cache-0', 'last known pods keep resolving');
  t.equal(metadata.health().state, 'unreachable');
  t.equal(metadata.health().lastError !== '', true);

  await server.restart();
  t.ok(await metadata.waitForSync(10_000), 'ready again when it is back');

  const metrics = await registry.metrics();
  t.ok(sample(metrics, 'kubepulse_metadata_cache_hits_total')! >= 1, 'cache hits counted');
  t.ok(sample(metrics, 'kubepulse_metadata_cache_misses_total')! >= 4, 'cache misses counted');
  t.ok(sample(metrics, 'kubepulse_metadata_cache_size')! >= 1);
  t.ok(sample(metrics, 'kubepulse_kube_watch_errors_total')! >= 1);
  t.equal(sample(metrics, 'kubepulse_kube_watch_synced'), 1);
});
