import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { findPodRoots, MAX_WATCHED_ROOTS, POD_ROOTS_LAYOUT, PodRoots } from '../../src/probes/pod-roots.js';
import { ROOT } from '../support/daemon.js';

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

/** A BPF object's pod_roots map, in memory, decoded as the kernel reads it: slots up to the first id 0. */
function fakeTarget() {
  let value: Buffer | undefined;
  let writes = 0;
  return {
    writes: () => writes,
    roots: () => {
      const out: Array<[number, number]> = [];
      for (let i = 0; value && i < MAX_WATCHED_ROOTS; i++) {
        const id = Number(value.readBigUInt64LE(POD_ROOTS_LAYOUT.offsets.id + 8 * i));
        if (id === 0) break;
        out.push([id, value.readUInt32LE(POD_ROOTS_LAYOUT.offsets.level + 4 * i)]);
      }
      return out.sort((a, b) => a[0] - b[0]);
    },
    mapUpdate: (map: string, key: Buffer, v: Buffer) => {
      if (map !== 'pod_roots' || key.length !== 4 || key.readUInt32LE() !== 0 || v.length !== POD_ROOTS_LAYOUT.size) throw new Error(`bad update of ${map}`);
      value = Buffer.from(v);
      writes++;
    },
  };
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

  const flows = fakeTarget();
  roots.add('flows', flows);
  t.same(flows.roots(), [[ino('kubepods.slice'), 1], [ino('test-a/kubepods.slice'), 2]].sort((a, b) => a[0]! - b[0]!), 'roots with their levels');
  t.equal(roots.size, 2);

  const syscalls = fakeTarget();
  roots.add('syscalls', syscalls);
  t.same(syscalls.roots(), flows.roots(), 'an object added later gets the roots already known');
  const writes = flows.writes();
  roots.refresh();
  t.equal(flows.writes(), writes, 'nothing changed, nothing written');

  rmSync(join(fs, 'test-a'), { recursive: true });
  mkdirSync(join(fs, 'test-b', 'x', 'kubepods'), { recursive: true });
  roots.refresh();
  const now = [[ino('kubepods.slice'), 1], [ino('test-b/x/kubepods'), 3]].sort((a, b) => a[0]! - b[0]!);
  t.same(flows.roots(), now, 'a root that went is removed, a new one added');
  t.same(syscalls.roots(), now);
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

t.test('a listener is told of the roots known and of each root that comes or goes', async (t) => {
  const fs = mkdtempSync(join(tmpdir(), 'kp-roots-'));
  t.teardown(() => rmSync(fs, { recursive: true, force: true }));
  mkdirSync(join(fs, 'kubepods.slice'), { recursive: true });
  const { lines, log } = logger();
  const roots = new PodRoots({ cgroupfs: fs, log, rescanMs: 60_000, watch: false });
  t.teardown(() => roots.stop());
  roots.add('syscalls', fakeTarget());
  const told: string[] = [];
  const target = fakeTarget();
  roots.add('flows', target, {
    rootAdded: (r) => void told.push(`+${r.path.slice(fs.length + 1)}`),
    rootGone: (r) => {
      told.push(`-${r.path.slice(fs.length + 1)}`);
      throw new Error('cgroup already gone');
    },
  });
  t.same(told, ['+kubepods.slice'], 'the roots already known, at once');
  t.equal(target.roots().length, 1, 'the kernel map is written before the listener hears of it');
  mkdirSync(join(fs, 'x', 'kubepods'), { recursive: true });
  rmSync(join(fs, 'kubepods.slice'), { recursive: true });
  roots.refresh();
  t.same(told, ['+kubepods.slice', '-kubepods.slice', '+x/kubepods']);
  t.ok(lines.some((l) => l.level === 'warn' && l.msg === 'cannot follow pod root'), 'a listener that throws is logged, not fatal');
});

t.test('POD_ROOTS_LAYOUT follows struct kp_pod_roots from bpf/pod_roots.h', { skip: existsSync(join(ROOT, 'build', 'Release', 'kubepulse.node')) ? false : 'addon not built (make build)' }, async (t) => {
  const { loadAddon } = await import('../../src/bpf/addon.js');
  const c = loadAddon().layouts().podRoots as unknown as typeof POD_ROOTS_LAYOUT & { maxRoots: number };
  t.equal(c.size, POD_ROOTS_LAYOUT.size, 'sizeof');
  t.same(c.offsets, POD_ROOTS_LAYOUT.offsets, 'offsetof every field');
  t.equal(c.maxRoots, MAX_WATCHED_ROOTS, 'KP_MAX_WATCHED_ROOTS');
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
