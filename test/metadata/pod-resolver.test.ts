// The resolver on fixture trees: a fake procfs and a plain directory tree
// standing in for the cgroup v2 mount (directory inodes play cgroup IDs).
// The same code on this machine's real cgroup v2 is in resolver.test.ts.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { cgroupIdOf } from '../../src/cgroup/mounts.js';
import { CgroupIndex } from '../../src/metadata/cgroup-index.js';
import { IdentityCache } from '../../src/metadata/identity-cache.js';
import { PodIndex } from '../../src/metadata/pod-index.js';
import { PodResolver } from '../../src/metadata/pod-resolver.js';
import { HOST_IDENTITY, PROCESS_GONE, UNKNOWN_CGROUP } from '../../src/metadata/resolver.js';
import { SILENT_LOGGER } from '../../src/log.js';
import { makePod, randomContainerId } from './fixtures/pods.js';

interface Fixture {
  procfs: string;
  cgroupfs: string;
  clock: { now: number };
  pods: PodIndex;
  cgroups: CgroupIndex;
  cache: IdentityCache;
  resolver: PodResolver;
  registry: Registry;
  /** Creates a cgroup directory (path relative to the mount) and returns its ID. */
  mkCgroup(path: string): number;
  /** Writes /proc/<pid>/cgroup. */
  proc(pid: number, content: string): void;
  exit(pid: number): void;
}

function fixture(t: { teardown(fn: () => void): void }, mountsLine?: (cgroupfs: string) => string): Fixture {
  const base = mkdtempSync(join(tmpdir(), 'kubepulse-resolver-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const procfs = join(base, 'proc');
  const cgroupfs = join(base, 'cgroup');
  mkdirSync(procfs);
  mkdirSync(cgroupfs);
  writeFileSync(
    join(procfs, 'mounts'),
    (mountsLine ?? ((c: string) => `cgroup2 ${c} cgroup2 rw,nosuid,nodev,noexec,relatime 0 0`))(cgroupfs) +
      '\nproc /proc proc rw 0 0\n',
  );
  const clock = { now: 1_000_000 }; // lru-cache treats a start time of 0 as "no TTL"
  const pods = new PodIndex();
  const cgroups = new CgroupIndex({ procfs, log: SILENT_LOGGER, now: () => clock.now, rootRefreshMs: 0 });
  const registry = new Registry();
  const cache = new IdentityCache({ max: 1000, ttlMs: 60_000, registry, now: () => clock.now });
  const resolver = new PodResolver({ procfs, cgroups, pods, cache, log: SILENT_LOGGER });
  return {
    procfs,
    cgroupfs,
    clock,
    pods,
    cgroups,
    cache,
    resolver,
    registry,
    mkCgroup(path) {
      mkdirSync(join(cgroupfs, path), { recursive: true });
      return cgroupIdOf(join(cgroupfs, path));
    },
    proc(pid, content) {
      mkdirSync(join(procfs, String(pid)), { recursive: true });
      writeFileSync(join(procfs, String(pid), 'cgroup'), content);
    },
    exit(pid) {
      rmSync(join(procfs, String(pid)), { recursive: true, force: true });
    },
  };
}

function podPath(uid: string, containerId: string): string {
  const u = uid.replaceAll('-', '_');
  return `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${u}.slice/cri-containerd-${containerId}.scope`;
}

t.test('a container process resolves, then hits the cache', async (t) => {
  const f = fixture(t);
  const containerId = randomContainerId();
  const pod = makePod({ name: 'web-1', namespace: 'shop', containers: { app: containerId }, owner: { kind: 'StatefulSet', name: 'web' } });
  const uid = pod.metadata!.uid!;
  f.pods.upsert(pod);
  const id = f.mkCgroup(podPath(uid, containerId));
  f.proc(100, `0::${podPath(uid, containerId)}\n`);

  const want = { namespace: 'shop', pod: 'web-1', workload: 'web', container: 'app', podUid: uid };
  t.same(f.resolver.resolve(100, id), want);
  t.equal(f.cgroups.rescans, 0, 'learned from /proc, no rescan needed');
  t.same(f.resolver.resolve(100, id), want);
  t.same(f.resolver.resolve(101, id), want, 'another process of the same cgroup hits too');
  t.equal(f.cache.hits, 2);
  t.equal(f.cache.misses, 1);

  const text = await f.registry.metrics();
  t.match(text, /kubepulse_metadata_cache_hits_total 2\n/);
  t.match(text, /kubepulse_metadata_cache_misses_total 1\n/);
  t.match(text, /kubepulse_metadata_cache_size 1\n/);
});

t.test('an exited process resolves through the rescan', async (t) => {
  const f = fixture(t);
  const containerId = randomContainerId();
  const pod = makePod({ name: 'job-x', containers: { main: containerId } });
  f.pods.upsert(pod);
  const id = f.mkCgroup(podPath(pod.metadata!.uid!, containerId));
  // No /proc/<pid> at all: the process is gone.
  t.equal(f.resolver.resolve(4242, id).pod, 'job-x');
  t.equal(f.cgroups.rescans, 1);
});

t.test('unknown cgroup IDs are negative-cached and rescans rate-limited', async (t) => {
  const f = fixture(t);
  f.mkCgroup('/kubepods.slice');
  t.equal(f.resolver.resolve(1, 999_999_999), UNKNOWN_CGROUP);
  t.equal(f.resolver.resolve(2, 999_999_998), UNKNOWN_CGROUP);
  t.equal(f.resolver.resolve(3, 999_999_997), UNKNOWN_CGROUP);
  t.equal(f.cgroups.rescans, 1, 'one rescan per interval, however many misses');
  t.equal(f.resolver.resolve(1, 999_999_999), UNKNOWN_CGROUP);
  t.equal(f.cache.misses, 3, 'the negative answer is cached');

  // A container created later is found by the next allowed rescan.
  const containerId = randomContainerId();
  const pod = makePod({ name: 'late', containers: { app: containerId } });
  f.pods.upsert(pod);
  const id = f.mkCgroup(podPath(pod.metadata!.uid!, containerId));
  t.equal(f.resolver.resolve(5, id), UNKNOWN_CGROUP, 'within the interval: not rescanned yet');
  f.clock.now += 6000; // past the rescan interval and the negative TTL
  t.equal(f.resolver.resolve(5, id).pod, 'late', 'after the negative TTL, the next rescan finds it');
  t.equal(f.cgroups.rescans, 2);
});

t.test('a new cgroup first looked up without a PID still resolves for the next event with one', async (t) => {
  const f = fixture(t);
  f.mkCgroup('/kubepods.slice');
  t.equal(f.resolver.resolve(1, 999_999_999), UNKNOWN_CGROUP);
  t.equal(f.cgroups.rescans, 1, 'the rescan interval starts');

  // A container starts; its cgroup is first asked about by cgroup ID alone
  // (a DNS event, a flows or syscalls read) while the rescan is rate-limited.
  const containerId = randomContainerId();
  const pod = makePod({ name: 'fresh', containers: { app: containerId } });
  f.pods.upsert(pod);
  const path = podPath(pod.metadata!.uid!, containerId);
  const id = f.mkCgroup(path);
  t.equal(f.resolver.resolve(0, id), UNKNOWN_CGROUP, 'no PID, no rescan: not known yet');
  t.equal(f.resolver.resolve(0, id), UNKNOWN_CGROUP, 'cached');
  f.proc(600, `0::${path}\n`);
  t.equal(f.resolver.resolve(600, id).container, 'app', 'the next event with a live PID learns the cgroup from /proc');
  t.equal(f.resolver.resolve(0, id).container, 'app', 'and the cgroup ID resolves from then on');
  t.equal(f.cgroups.rescans, 1, 'without a rescan');

  // Another one, asked about only by cgroup ID and by a PID that has exited.
  const otherId = randomContainerId();
  const other = makePod({ name: 'other', containers: { app: otherId } });
  f.pods.upsert(other);
  const id2 = f.mkCgroup(podPath(other.metadata!.uid!, otherId));
  t.equal(f.resolver.resolve(0, id2), UNKNOWN_CGROUP);
  t.equal(f.resolver.resolve(601, id2), UNKNOWN_CGROUP, 'an exited PID cannot tell');
  const misses = f.cache.misses;
  t.equal(f.resolver.resolve(602, id2), UNKNOWN_CGROUP);
  t.equal(f.cache.misses, misses, 'one second look per uninformed answer, not one per event');
  f.clock.now += 1001; // past the rescan interval, well below the negative TTL
  t.equal(f.resolver.resolve(0, id2).pod, 'other', 'the uninformed answer lasts only until the next rescan may run');
  t.equal(f.cgroups.rescans, 2);
});

t.test('host processes', async (t) => {
  const f = fixture(t);
  const id = f.mkCgroup('/system.slice/sshd.service');
  f.proc(7, '0::/system.slice/sshd.service\n');
  t.equal(f.resolver.resolve(7, id), HOST_IDENTITY);
  t.equal(f.resolver.resolve(8, id), HOST_IDENTITY);
  t.equal(f.cache.hits, 1, 'a host cgroup is cached by its ID');
  t.equal(f.resolver.resolve(9, 0), PROCESS_GONE, 'no cgroup ID and no process: host labels, counted as unattributed');
});

t.test('a pod unknown to the watch, then known, then deleted', async (t) => {
  const f = fixture(t);
  const containerId = randomContainerId();
  const uid = randomUUID();
  const id = f.mkCgroup(podPath(uid, containerId));
  f.proc(50, `0::${podPath(uid, containerId)}\n`);

  const unknown = f.resolver.resolve(50, id);
  t.same(unknown, { ...HOST_IDENTITY, podUid: uid, unattributed: 'pod_unknown' }, 'a pod cgroup without a pod: names empty, UID kept');

  // The pod is listed but its status does not name the container yet.
  const pending = makePod({ name: 'api-0', uid, containers: {} });
  f.pods.upsert(pending);
  t.same(f.resolver.resolve(50, id), { namespace: 'default', pod: 'api-0', workload: 'api-0', container: '', podUid: uid }, 'pod arrival purges');

  const running = makePod({ name: 'api-0', uid, containers: { server: containerId } });
  f.pods.upsert(running);
  t.equal(f.resolver.resolve(50, id).container, 'server', 'status update purges');

  f.pods.remove(uid);
  t.same(f.resolver.resolve(50, id), { ...HOST_IDENTITY, podUid: uid, unattributed: 'pod_unknown' }, 'deletion purges at once');
});

t.test('container restart: the new cgroup resolves to the same pod', async (t) => {
  const f = fixture(t);
  const first = randomContainerId();
  const second = randomContainerId();
  const uid = randomUUID();
  f.pods.upsert(makePod({ name: 'p', uid, containers: { app: first } }));
  const id1 = f.mkCgroup(podPath(uid, first));
  t.equal(f.resolver.resolve(1, id1).container, 'app');

  const restarted = makePod({ name: 'p', uid, containers: { app: second } });
  restarted.status!.containerStatuses![0]!.lastState = { terminated: { exitCode: 137, containerID: `containerd://${first}` } };
  f.pods.upsert(restarted);
  const id2 = f.mkCgroup(podPath(uid, second));
  f.proc(2, `0::${podPath(uid, second)}\n`);
  t.equal(f.resolver.resolve(2, id2).container, 'app');
  t.equal(f.resolver.resolve(1, id1).container, 'app', 'late events of the old instance too');
});

t.test('cgroup v1 only: resolution by PID', async (t) => {
  const f = fixture(t, () => '');
  t.equal(f.cgroups.mount, undefined);
  const containerId = randomContainerId();
  const pod = makePod({ name: 'legacy', containers: { app: containerId } });
  const uid = pod.metadata!.uid!;
  f.pods.upsert(pod);
  f.proc(300, `11:memory:/kubepods/burstable/pod${uid}/${containerId}\n1:name=systemd:/kubepods/burstable/pod${uid}/${containerId}\n`);
  t.equal(f.resolver.resolve(300, 1).pod, 'legacy');
  t.equal(f.resolver.resolve(300, 1).pod, 'legacy');
  t.equal(f.cache.hits, 1);
  f.proc(301, '11:memory:/system.slice/cron.service\n');
  t.equal(f.resolver.resolve(301, 1), HOST_IDENTITY);
});

t.test('hybrid: the root cgroup ID falls back to the PID', async (t) => {
  const f = fixture(t);
  const containerId = randomContainerId();
  const pod = makePod({ name: 'hy', containers: { app: containerId } });
  const uid = pod.metadata!.uid!;
  f.pods.upsert(pod);
  f.proc(400, `4:memory:/kubepods/besteffort/pod${uid}/${containerId}\n0::/\n`);
  t.equal(f.resolver.resolve(400, f.cgroups.rootId!).pod, 'hy');
  f.proc(401, '4:memory:/\n0::/\n');
  t.equal(f.resolver.resolve(401, f.cgroups.rootId!), HOST_IDENTITY, 'a host process in the same root cgroup');
});

t.test('hybrid: a shared non-root v2 cgroup is noticed', async (t) => {
  const f = fixture(t);
  const containerId = randomContainerId();
  const pod = makePod({ name: 'hy2', containers: { app: containerId } });
  const uid = pod.metadata!.uid!;
  f.pods.upsert(pod);
  const shared = f.mkCgroup('/system.slice/containerd.service');
  f.proc(500, '4:memory:/system.slice/containerd.service\n0::/system.slice/containerd.service\n');
  t.equal(f.resolver.resolve(500, shared), HOST_IDENTITY, 'containerd itself is a host process');
  f.proc(501, `4:memory:/kubepods/besteffort/pod${uid}/${containerId}\n0::/system.slice/containerd.service\n`);
  f.clock.now += 70_000; // past the TTL of the host answer
  t.equal(f.resolver.resolve(501, shared).pod, 'hy2', 'the container in the same v2 cgroup is told apart by PID');
  t.equal(f.resolver.resolve(500, shared), HOST_IDENTITY, 'and containerd stays host');
});

t.test('births: a new cgroup resolves exactly at its first event, also once gone, without /proc or a rescan', async (t) => {
  const f = fixture(t);
  f.mkCgroup('/kubepods.slice');
  f.cgroups.rescan(); // what start() does
  const births = new Map<number, string | null>();
  f.cgroups.useBirths({ pathOf: (id) => births.get(id) });
  const rescans = f.cgroups.rescans;

  const uid = randomUUID();
  const containerId = randomContainerId();
  f.pods.upsert(makePod({ name: 'job-1', uid, owner: { kind: 'Job', name: 'nightly' }, containers: {} }));
  // The kernel saw the mkdir (id 4242, path); the directory and the process are gone.
  births.set(4242, podPath(uid, containerId));
  const first = f.resolver.resolve(0, 4242);
  t.same(first, { namespace: 'default', pod: 'job-1', workload: 'nightly', container: '', podUid: uid }, 'attributed by the pod UID at once');
  t.equal(f.cgroups.rescans, rescans, 'no rescan');

  // The status names the container later: its label is filled in.
  f.pods.upsert(makePod({ name: 'job-1', uid, owner: { kind: 'Job', name: 'nightly' }, containers: { main: containerId } }));
  t.equal(f.resolver.resolve(0, 4242).container, 'main', 'container label once the status names it');

  // Not in the births record and not in the index: made before the daemon, outside the pods.
  t.equal(f.resolver.resolve(0, 777), HOST_IDENTITY, 'an unknown id that predates the daemon is the host, not unattributed');
  t.equal(f.cgroups.rescans, rescans, 'still no rescan');

  // A path the kernel had to cut falls through to the other means.
  births.set(4343, null);
  t.equal(f.resolver.resolve(0, 4343), HOST_IDENTITY);
});

t.test('a pod the watch has not delivered: held inside a dispatch for holdMs from its first sighting, then unattributed', async (t) => {
  const { EventHold, withHolding } = await import('../../src/bpf/event-hold.js');
  const f = fixture(t);
  const clock = { now: 0 };
  const resolver = new PodResolver({ procfs: f.procfs, cgroups: f.cgroups, pods: f.pods, cache: f.cache, holdMs: 1000, now: () => clock.now, log: SILENT_LOGGER });
  const uid = randomUUID();
  const id = f.mkCgroup(podPath(uid, randomContainerId()));
  f.proc(70, `0::${podPath(uid, randomContainerId())}\n`);
  const births = new Map<number, string>([[id, podPath(uid, randomContainerId())]]);
  f.cgroups.useBirths({ pathOf: (i) => births.get(i) });

  t.throws(() => withHolding(true, () => resolver.resolve(0, id)), EventHold, 'inside a dispatch: hold');
  t.same(resolver.resolve(0, id), { ...HOST_IDENTITY, podUid: uid, unattributed: 'pod_unknown' }, 'outside one (a scrape): answers at once');
  f.cache.clear();
  clock.now += 999;
  t.throws(() => withHolding(true, () => resolver.resolve(0, id)), EventHold, 'still within holdMs of the first sighting');
  f.pods.upsert(makePod({ name: 'late-0', uid, containers: {} }));
  t.equal(withHolding(true, () => resolver.resolve(0, id)).pod, 'late-0', 'the pod arrived: attributed');

  const other = randomUUID();
  const id2 = f.mkCgroup(podPath(other, randomContainerId()));
  births.set(id2, podPath(other, randomContainerId()));
  t.throws(() => withHolding(true, () => resolver.resolve(0, id2)), EventHold);
  clock.now += 1000;
  t.same(withHolding(true, () => resolver.resolve(0, id2)), { ...HOST_IDENTITY, podUid: other, unattributed: 'pod_unknown' }, 'after holdMs: no more waiting, counted as pod_unknown');
});

t.test("a reader outside a dispatch (the flows map's, at scrape time or by the live stream's ticker) does not end a held event's hold", async (t) => {
  // The regression of the late-pod e2e case: the flow ticker read the flows
  // map once a second, resolved the new pod's cgroup outside any dispatch and
  // cached "pod unknown"; the held event's next retry took that answer from
  // the cache and was counted as the host, 37 ms before its pod arrived.
  const { EventStream, RECORD_CGROUP_OFFSET } = await import('../../src/bpf/event-stream.js');
  const { frame } = await import('../support/batches.js');
  const f = fixture(t);
  const clock = f.clock;
  const resolver = new PodResolver({ procfs: f.procfs, cgroups: f.cgroups, pods: f.pods, cache: f.cache, holdMs: 1000, now: () => clock.now, log: SILENT_LOGGER });
  const uid = randomUUID();
  const path = podPath(uid, randomContainerId());
  const id = f.mkCgroup(path);
  f.cgroups.useBirths({ pathOf: (i) => (i === id ? path : undefined) });

  const handed: string[] = [];
  const stream = new EventStream(
    new Map([
      [
        1,
        (v: DataView, at: number) => {
          const identity = resolver.resolve(0, Number(v.getBigUint64(at + RECORD_CGROUP_OFFSET, true)));
          handed.push(identity.pod === '' ? `unattributed:${identity.unattributed}` : identity.pod);
        },
      ],
    ]),
    { retryMs: 1, now: () => clock.now },
  );
  t.teardown(() => stream.stop());
  const event = Buffer.alloc(24);
  event.writeUInt32LE(1, 0);
  event.writeUInt32LE(24, 4);
  event.writeBigUInt64LE(BigInt(id), RECORD_CGROUP_OFFSET);
  const retries = () => new Promise((r) => setTimeout(r, 10));

  stream.dispatch(frame([event]));
  t.same(handed, [], 'the event of a pod the watch has not delivered is held');
  clock.now += 300;
  t.same(resolver.resolve(0, id), { ...HOST_IDENTITY, podUid: uid, unattributed: 'pod_unknown' }, 'a map read meanwhile is answered at once (it cannot wait)');
  await retries();
  t.same(handed, [], 'and the held event stays held: its retry does not take that answer from the cache');
  clock.now += 300;
  f.pods.upsert(makePod({ name: 'late-0', uid, containers: {} }));
  await retries();
  t.same(handed, ['late-0'], 'the pod arrives within the bound: the event is attributed to it');

  // Past the bound, the cached answer stands: no second wait for a pod that never comes.
  const other = randomUUID();
  const otherPath = podPath(other, randomContainerId());
  const otherId = f.mkCgroup(otherPath);
  f.cgroups.useBirths({ pathOf: (i) => (i === otherId ? otherPath : i === id ? path : undefined) });
  const otherEvent = Buffer.from(event);
  otherEvent.writeBigUInt64LE(BigInt(otherId), RECORD_CGROUP_OFFSET);
  stream.dispatch(frame([otherEvent]));
  resolver.resolve(0, otherId);
  clock.now += 1000;
  await retries();
  t.same(handed, ['late-0', 'unattributed:pod_unknown'], 'a pod still unknown after holdMs: unattributed');
  const hits = f.cache.hits;
  stream.dispatch(frame([otherEvent, otherEvent, otherEvent]));
  t.same(handed.slice(2), ['unattributed:pod_unknown', 'unattributed:pod_unknown', 'unattributed:pod_unknown'], 'and its later events are not held again');
  t.equal(f.cache.hits - hits, 3, 'each answered from the cache: nothing more per event than for a known pod');
  t.equal(stream.heldRecords, 0);
});

t.test('holds of several pods the watch has not delivered run side by side, each for its own cgroup: a record waits at most holdMs after it arrived, and no longer than its own pod', async (t) => {
  // On a node whose watch lags (or a shared test kernel, where other
  // kubelets' pods are never delivered) several unknown pods' first events
  // are held at once. Each is held for its own cgroup: a pod the watch
  // delivers goes on when it arrives, not after the holds begun before it,
  // and each bound counts from its own event's arrival.
  const { EventStream, RECORD_CGROUP_OFFSET } = await import('../../src/bpf/event-stream.js');
  const { frame } = await import('../support/batches.js');
  const f = fixture(t);
  const clock = f.clock;
  const start = clock.now;
  const resolver = new PodResolver({ procfs: f.procfs, cgroups: f.cgroups, pods: f.pods, cache: f.cache, holdMs: 1000, now: () => clock.now, log: SILENT_LOGGER });
  const births = new Map<number, string>();
  f.cgroups.useBirths({ pathOf: (i) => births.get(i) });
  const cgroupOf = (uid: string) => {
    const path = podPath(uid, randomContainerId());
    const id = f.mkCgroup(path);
    births.set(id, path);
    return id;
  };
  const foreign = [randomUUID(), randomUUID(), randomUUID()]; // never delivered
  const late = randomUUID(); // delivered 0.5 s after its event arrived
  const cgroupIds = [...foreign.map(cgroupOf), cgroupOf(late)];

  const handed: Array<{ atMs: number; pod: string; podUid: string }> = [];
  const stream = new EventStream(
    new Map([
      [
        1,
        (v: DataView, at: number) => {
          const id = resolver.resolve(0, Number(v.getBigUint64(at + RECORD_CGROUP_OFFSET, true)));
          handed.push({ atMs: clock.now - start, pod: id.pod, podUid: id.podUid });
        },
      ],
    ]),
    { retryMs: 1, now: () => clock.now },
  );
  t.teardown(() => stream.stop());
  const event = (cgroupId: number) => {
    const b = Buffer.alloc(24);
    b.writeUInt32LE(1, 0);
    b.writeUInt32LE(24, 4);
    b.writeBigUInt64LE(BigInt(cgroupId), RECORD_CGROUP_OFFSET);
    return frame([b]);
  };
  /** Moves the clock on in 10 ms steps, letting the stream's retries run at each. */
  const advanceTo = async (ms: number) => {
    while (clock.now - start < ms) {
      clock.now += 10;
      await new Promise((r) => setTimeout(r, 2));
    }
  };

  // One event of each pod, 100 ms apart: the three foreign ones, then the late one.
  for (const [i, id] of cgroupIds.entries()) {
    await advanceTo(i * 100);
    stream.dispatch(event(id));
  }
  t.same(handed, [], 'each unknown pod\'s event is held');
  t.equal(stream.heldCgroups, 4, 'four holds, side by side');
  await advanceTo(800);
  f.pods.upsert(makePod({ name: 'late-0', uid: late, containers: {} }));
  await advanceTo(820);
  t.same(handed.map((h) => h.pod), ['late-0'], 'the pod the watch delivers goes on at once, ahead of the holds begun before it');
  await advanceTo(1400);
  t.same(handed.map((h) => h.podUid), [late, ...foreign], 'by 1.4 s every record has been handed over');
  t.same(handed.map((h) => h.pod), ['late-0', '', '', ''], 'the foreign pods unattributed after their bound');
  const arrived = new Map<string, number>([...foreign, late].map((uid, i) => [uid, i * 100]));
  for (const h of handed) t.ok(h.atMs - arrived.get(h.podUid)! <= 1000 + 20, `${h.pod || 'a foreign pod'}: waited ${h.atMs - arrived.get(h.podUid)!} ms (≤ holdMs)`);
  t.equal(stream.heldRecords, 0);
});

t.test("a static pod: its cgroups name the kubelet's UID (the config hash), the API its mirror pod", async (t) => {
  const f = fixture(t);
  const hash = 'f3a1c9e07d2b4c6a8e5f1b3d7c9a2e4f'; // 32 hex, no dashes, as the kubelet names static pods
  const containerId = randomContainerId();
  const path = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${hash}.slice/cri-containerd-${containerId}.scope`;
  const id = f.mkCgroup(path);
  f.proc(90, `0::${path}\n`);
  t.same(f.resolver.resolve(90, id), { ...HOST_IDENTITY, podUid: hash, unattributed: 'pod_unknown' }, 'before the mirror pod is known');

  const mirror = makePod({ name: 'etcd-node-a', nodeName: 'node-a', owner: { kind: 'Node', name: 'node-a' }, containers: {} });
  mirror.metadata!.annotations = { 'kubernetes.io/config.mirror': hash, 'kubernetes.io/config.hash': hash };
  f.pods.upsert(mirror);
  const known = f.resolver.resolve(90, id);
  t.equal(known.pod, 'etcd-node-a', 'the mirror arriving purges the earlier answer; found by the static UID');
  t.equal(known.workload, 'etcd');
  t.equal(known.podUid, mirror.metadata!.uid, "the identity is the mirror pod's");

  f.pods.remove(mirror.metadata!.uid!);
  t.equal(f.resolver.resolve(90, id).pod, '', 'the mirror deleted: no longer its');
  t.equal(f.pods.byUid(hash), undefined, 'and the static UID forgotten');
});

t.test('a pod deleted while its events were in flight: what it did before the deletion is its own, after it no one\'s', async (t) => {
  const { withHolding } = await import('../../src/bpf/event-hold.js');
  const f = fixture(t);
  const kernelNs = { now: 5_000_000_000 };
  const pods = new PodIndex({ departedMs: 30_000, now: () => f.clock.now, monotonicNs: () => kernelNs.now });
  const cache = new IdentityCache({ max: 1000, ttlMs: 60_000, now: () => f.clock.now });
  const resolver = new PodResolver({ procfs: f.procfs, cgroups: f.cgroups, pods, cache, holdMs: 1000, now: () => f.clock.now, log: SILENT_LOGGER });
  const uid = randomUUID();
  const containerId = randomContainerId();
  f.mkCgroup('/kubepods.slice');
  f.cgroups.rescan();
  const births = new Map<number, string>([[4242, podPath(uid, containerId)]]);
  f.cgroups.useBirths({ pathOf: (id) => births.get(id) });
  pods.upsert(makePod({ name: 'job-1', uid, owner: { kind: 'Job', name: 'nightly' }, containers: { main: containerId } }));
  const job = { namespace: 'default', pod: 'job-1', workload: 'nightly', container: 'main', podUid: uid };
  t.same(resolver.resolve(0, 4242, 4_000_000_000), job, 'known: its pod');

  pods.remove(uid); // the DELETED, read before the ring's last events
  const gone = { ...HOST_IDENTITY, podUid: uid, unattributed: 'pod_unknown' };
  // Inside a dispatch, where an unknown pod would be held: a departed one is not waited for.
  withHolding(true, () => {
    t.same(resolver.resolve(0, 4242, 4_900_000_000), job, 'an event made before the deletion: still its pod, with its container');
    t.same(resolver.resolve(0, 4242, 5_100_000_000), gone, 'one made after it: no one\'s, and not held');
    t.same(resolver.resolve(0, 4242, 4_950_000_000), job, 'an older event read after a newer one (another ring): its pod again, past the cache');
  });
  t.same(resolver.resolve(0, 4242), gone, 'without an event time (scrape-time readers): no one\'s');

  f.clock.now += 31_000; // past the departed window
  t.same(resolver.resolve(0, 4242, 4_900_000_000), gone, 'after the window: no one\'s');
  t.ok(f.cgroups.lookup(4242), 'its cgroup still in the index');
  const other = makePod({ name: 'job-2', containers: { main: randomContainerId() } });
  pods.upsert(other); // the next pod change
  t.equal(f.cgroups.lookup(4242), undefined, 'then forgotten: the index does not grow with churned pods');
});

t.test('churned pods do not accumulate in the cgroup index', async (t) => {
  const f = fixture(t);
  const pods = new PodIndex({ departedMs: 1000, now: () => f.clock.now });
  const cache = new IdentityCache({ max: 1000, ttlMs: 60_000, now: () => f.clock.now });
  const resolver = new PodResolver({ procfs: f.procfs, cgroups: f.cgroups, pods, cache, now: () => f.clock.now, log: SILENT_LOGGER });
  f.mkCgroup('/kubepods.slice');
  f.cgroups.rescan();
  const births = new Map<number, string>();
  f.cgroups.useBirths({ pathOf: (id) => births.get(id) });
  const base = f.cgroups.size;
  for (let i = 0; i < 200; i++) {
    const uid = randomUUID();
    const containerId = randomContainerId();
    births.set(10_000 + i, podPath(uid, containerId));
    pods.upsert(makePod({ name: `churn-${i}`, uid, containers: { main: containerId } }));
    t.equal(resolver.resolve(0, 10_000 + i, 1).pod, `churn-${i}`);
    pods.remove(uid);
    f.clock.now += 100;
  }
  // 100 ms apart, a 1 s window: about ten pods' cgroups are still answering for in-flight events.
  t.ok(f.cgroups.size - base <= 11, `cgroups kept: ${f.cgroups.size - base} of 200 churned pods'`);
});
