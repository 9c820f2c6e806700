// The kubepods roots of real node layouts, found the same way by the pod
// resolver (CgroupIndex: pods resolve) and by the probes that record pods
// only (PodRoots: flows and syscalls are recorded). The trees are the
// layouts kubelet makes with each cgroup driver and runtime, as seen from
// the host's cgroup v2 mount, with the host's own cgroups beside them.
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findKubepodsRoots } from '../../src/cgroup/kubepods.js';
import { cgroupIdOf } from '../../src/cgroup/mounts.js';
import { SILENT_LOGGER } from '../../src/log.js';
import { CgroupIndex } from '../../src/metadata/cgroup-index.js';
import { findPodRoots } from '../../src/probes/pod-roots.js';

const UID = '5f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b';
const U = UID.replaceAll('-', '_');
const CID = 'ab'.repeat(32);
const HOST = ['system.slice/containerd.service', 'system.slice/kubelet.service', 'user.slice/user-0.slice/session-1.scope', 'init.scope'];

interface Layout {
  name: string;
  dirs: string[];
  /** Roots, relative to the mount, with their level. */
  roots: Array<[string, number]>;
  /** A container cgroup of pod UID. */
  container: string;
}

const LAYOUTS: Layout[] = [
  {
    name: 'kubelet, systemd driver, containerd (kubeadm)',
    dirs: [`kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U}.slice/cri-containerd-${CID}.scope`, 'kubepods.slice/kubepods-besteffort.slice'],
    roots: [['kubepods.slice', 1]],
    container: `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U}.slice/cri-containerd-${CID}.scope`,
  },
  {
    name: 'kubelet, cgroupfs driver',
    dirs: [`kubepods/burstable/pod${UID}/${CID}`, 'kubepods/besteffort'],
    roots: [['kubepods', 1]],
    container: `kubepods/burstable/pod${UID}/${CID}`,
  },
  {
    name: 'kind: the node is a Docker container, its kubelet runs with --cgroup-root=/kubelet',
    dirs: [`system.slice/docker-${'cd'.repeat(32)}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${U}.slice/cri-containerd-${CID}.scope`],
    roots: [[`system.slice/docker-${'cd'.repeat(32)}.scope/kubelet.slice/kubelet-kubepods.slice`, 4]],
    container: `system.slice/docker-${'cd'.repeat(32)}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${U}.slice/cri-containerd-${CID}.scope`,
  },
  {
    name: 'k3s: cgroupfs driver, guaranteed pod (no QoS level)',
    dirs: [`kubepods/pod${UID}/${CID}`, 'k3s'],
    roots: [['kubepods', 1]],
    container: `kubepods/pod${UID}/${CID}`,
  },
  {
    name: 'k3s in Docker (k3d): cgroupfs driver below the node container',
    dirs: [`system.slice/docker-${'ef'.repeat(32)}.scope/kubepods/besteffort/pod${UID}/${CID}`],
    roots: [[`system.slice/docker-${'ef'.repeat(32)}.scope/kubepods`, 3]],
    container: `system.slice/docker-${'ef'.repeat(32)}.scope/kubepods/besteffort/pod${UID}/${CID}`,
  },
  {
    name: 'OpenShift: CRI-O, systemd driver, conmon beside the container',
    dirs: [
      `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U}.slice/crio-${CID}.scope`,
      `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U}.slice/crio-conmon-${CID}.scope`,
      'system.slice/crio.service',
    ],
    roots: [['kubepods.slice', 1]],
    container: `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U}.slice/crio-${CID}.scope`,
  },
  {
    // The prefix is kubelet's --cgroup-root: any name, not only "kubelet".
    name: 'kubelet with --cgroup-root=/k8s, systemd driver',
    dirs: [`k8s.slice/k8s-kubepods.slice/k8s-kubepods-burstable.slice/k8s-kubepods-burstable-pod${U}.slice/cri-containerd-${CID}.scope`],
    roots: [['k8s.slice/k8s-kubepods.slice', 2]],
    container: `k8s.slice/k8s-kubepods.slice/k8s-kubepods-burstable.slice/k8s-kubepods-burstable-pod${U}.slice/cri-containerd-${CID}.scope`,
  },
];

function tree(t: Test, dirs: string[]): string {
  const mount = mkdtempSync(join(tmpdir(), 'kp-cgroup-'));
  t.teardown(() => rmSync(mount, { recursive: true, force: true }));
  for (const d of [...HOST, ...dirs]) mkdirSync(join(mount, d), { recursive: true });
  return mount;
}

for (const layout of LAYOUTS) {
  t.test(layout.name, async (t) => {
    const mount = tree(t, layout.dirs);
    const expected = layout.roots.map(([p, level]) => [p, level, cgroupIdOf(join(mount, p))]);

    t.same(findKubepodsRoots(mount, 4).map((r) => [r.path, r.level, r.cgroupId]), expected, 'roots');

    const podRoots = findPodRoots(mount, 4).map((r) => [r.path.slice(mount.length + 1), r.level, r.cgroupId]);
    t.same(podRoots, expected, 'the probes record pods below the same roots');

    const index = new CgroupIndex({ procfs: '/nonexistent', cgroupfs: mount, log: SILENT_LOGGER });
    index.rescan();
    t.same(index.kubepodsRoots(), layout.roots.map(([p]) => `/${p}`), 'the resolver scans the same roots');
    t.equal(index.lookup(cgroupIdOf(join(mount, layout.container)))?.podUid, UID, 'and resolves the container to its pod');
  });
}

t.test('nothing deeper than the limit, nothing below a root, a missing tree is no roots', async (t) => {
  const mount = tree(t, ['a/b/c/d/kubepods', 'kubepods.slice/x/kubepods']);
  t.same(findKubepodsRoots(mount, 4).map((r) => r.path), ['kubepods.slice']);
  t.same(findKubepodsRoots(join(mount, 'missing'), 4), []);
});
