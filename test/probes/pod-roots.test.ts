import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPodRoots, PodRoots } from '../../src/probes/pod-roots.js';

t.test('finds kubepods cgroups at any depth up to the limit, systemd and cgroupfs drivers', async (t) => {
  const fs = mkdtempSync(join(tmpdir(), 'kp-roots-'));
  const dirs = [
    'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podabc.slice',
    'system.slice/docker-1234.scope/kubepods/besteffort/pod1', // kind: cgroupfs driver inside a container
    'kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice',
    'user.slice/user-0.slice',
    'a/b/c/d/kubepods', // deeper than the limit
  ];
  for (const d of dirs) mkdirSync(join(fs, d), { recursive: true });
  const roots = findPodRoots(fs, 4);
  t.same(
    roots.map((r) => [r.path.slice(fs.length + 1), r.level]).sort(),
    [
      ['kubelet.slice/kubelet-kubepods.slice', 2],
      ['kubepods.slice', 1],
      ['system.slice/docker-1234.scope/kubepods', 3],
    ],
  );
  for (const r of roots) t.equal(r.cgroupId, statSync(r.path).ino, 'cgroup id is the inode');
  t.same(findPodRoots(join(fs, 'missing'), 4), [], 'a missing tree is no roots, not an error');
});

/** A BPF object's watched_roots and cgroup_verdicts maps, in memory. */
function fakeTarget(verdicts: Array<[number, number]> = []) {
  const maps: Record<string, Map<string, Buffer>> = { watched_roots: new Map(), cgroup_verdicts: new Map() };
  for (const [id, v] of verdicts) maps.cgroup_verdicts!.set(u64(id).toString('hex'), Buffer.from([v]));
  return {
    maps,
    roots: () => [...maps.watched_roots!].map(([k, v]) => [Number(Buffer.from(k, 'hex').readBigUInt64LE()), v.readUInt32LE()] as const).sort((a, b) => a[0] - b[0]),
    verdicts: () => [...maps.cgroup_verdicts!].map(([k, v]) => [Number(Buffer.from(k, 'hex').readBigUInt64LE()), v[0]!] as const),
    mapUpdate: (map: string, key: Buffer, value: Buffer) => void maps[map]!.set(key.toString('hex'), Buffer.from(value)),
    mapDelete: (map: string, key: Buffer) => {
      if (!maps[map]!.delete(key.toString('hex'))) throw new Error('ENOENT');
    },
    mapEntries: (map: string) => [...maps[map]!].map(([k, v]) => [Buffer.from(k, 'hex'), v] as [Buffer, Buffer]),
  };
}

function u64(id: number): Buffer {
  const k = Buffer.alloc(8);
  k.writeBigUInt64LE(BigInt(id));
  return k;
}

function logger() {
  const lines: Array<{ level: string; msg: string; fields: Record<string, unknown> | undefined }> = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, fields });
  return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('PodRoots fills every object it is given, and keeps them in step with the tree', async (t) => {
  const fs = mkdtempSync(join(tmpdir(), 'kp-roots-'));
  t.teardown(() => rmSync(fs, { recursive: true, force: true }));
  mkdirSync(join(fs, 'kubepods.slice', 'pod1'), { recursive: true });
  mkdirSync(join(fs, 'test-a', 'kubepods.slice'), { recursive: true });
  const ino = (p: string) => statSync(join(fs, p)).ino;
  const { lines, log } = logger();
  const roots = new PodRoots({ cgroupfs: fs, log, rescanMs: 60_000, watch: false });
  t.teardown(() => roots.stop());

  const flows = fakeTarget([[111, 0], [222, 1]]);
  roots.add('flows', flows);
  t.same(flows.roots(), [[ino('kubepods.slice'), 1], [ino('test-a/kubepods.slice'), 2]].sort((a, b) => a[0]! - b[0]!), 'roots with their levels');
  t.same(flows.verdicts(), [[222, 1]], 'cached "not a pod" answers are forgotten, "a pod" kept');
  t.equal(roots.size, 2);

  const syscalls = fakeTarget([[333, 0]]);
  roots.add('syscalls', syscalls);
  t.same(syscalls.roots(), flows.roots(), 'an object added later gets the roots already known');
  t.same(syscalls.verdicts(), []);

  rmSync(join(fs, 'test-a'), { recursive: true });
  mkdirSync(join(fs, 'test-b', 'x', 'kubepods'), { recursive: true });
  flows.maps.cgroup_verdicts!.set(u64(444).toString('hex'), Buffer.from([0]));
  roots.refresh();
  const now = [[ino('kubepods.slice'), 1], [ino('test-b/x/kubepods'), 3]].sort((a, b) => a[0]! - b[0]!);
  t.same(flows.roots(), now, 'a root that went is removed, a new one added');
  t.same(syscalls.roots(), now);
  t.same(flows.verdicts(), [[222, 1]], 'a new root forgets the "no" answers again');
  t.match(lines.map((l) => l.msg), ['pod root found', 'pod root found', 'pod root gone', 'pod root found']);

  for (let i = 0; i < 8; i++) mkdirSync(join(fs, `more-${i}`, 'kubepods'), { recursive: true });
  roots.refresh();
  roots.refresh();
  t.equal(flows.roots().length, 8, 'at most as many roots as the kernel map holds');
  t.equal(lines.filter((l) => l.level === 'warn').length, 2, 'each root left out is warned about once');

  roots.remove(flows);
  roots.remove(syscalls);
  roots.stop();
});

t.test('PodRoots rescans soon after a cgroup appears at the top of the tree', async (t) => {
  const fs = mkdtempSync(join(tmpdir(), 'kp-roots-'));
  t.teardown(() => rmSync(fs, { recursive: true, force: true }));
  const { log } = logger();
  const roots = new PodRoots({ cgroupfs: fs, log, rescanMs: 60_000 });
  t.teardown(() => roots.stop());
  const target = fakeTarget();
  roots.add('flows', target);
  t.same(target.roots(), []);
  mkdirSync(join(fs, 'kubepulse-test-x', 'kubepods.slice', 'pod1'), { recursive: true });
  const deadline = Date.now() + 3000;
  while (target.roots().length === 0 && Date.now() < deadline) await sleep(20);
  t.same(target.roots(), [[statSync(join(fs, 'kubepulse-test-x', 'kubepods.slice')).ino, 2]], 'found without waiting for the 60 s rescan');
  t.same(new PodRoots({ cgroupfs: undefined, log }).size, 0, 'no cgroup v2 mount, no roots');
});
