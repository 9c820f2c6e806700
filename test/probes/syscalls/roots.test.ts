import t from 'tap';
import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPodRoots } from '../../../src/probes/syscalls/roots.js';

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
