import t from 'tap';
import { parseCgroupPath, parseProcCgroup, type CgroupInfo } from '../../src/metadata/cgroup-path.js';

const ID = '3f1a5c0e9b7d4c2a8e6f0b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4';
const ID2 = 'aa11bb22cc33dd44ee55ff6600778899aabbccddeeff00112233445566778899';
const UID = '0a6c7e48-2f1d-4b8e-9c35-7d2e1f4a5b6c';
const UID_ = UID.replaceAll('-', '_');
// Static (mirror) pods: kubelet hashes the manifest, giving 32 hex without dashes.
const STATIC_UID = '7d4b2c1a9e8f6a5b4c3d2e1f0a9b8c7d';

const info = (containerId: string, runtime: CgroupInfo['runtime'], qos: CgroupInfo['qos'], podUid = UID): CgroupInfo => ({
  containerId,
  podUid,
  runtime,
  qos,
});

// systemd driver: every runtime × QoS.
const systemdScopes: Array<[string, CgroupInfo['runtime']]> = [
  ['cri-containerd', 'containerd'],
  ['crio', 'cri-o'],
  ['docker', 'docker'],
];
const qosClasses: Array<CgroupInfo['qos']> = ['guaranteed', 'burstable', 'besteffort'];

function systemdPodSlice(qos: CgroupInfo['qos'], prefix = 'kubepods', uid = UID_): string {
  return qos === 'guaranteed'
    ? `/${prefix}.slice/${prefix}-pod${uid}.slice`
    : `/${prefix}.slice/${prefix}-${qos}.slice/${prefix}-${qos}-pod${uid}.slice`;
}
function cgroupfsPodDir(qos: CgroupInfo['qos'], uid = UID): string {
  return qos === 'guaranteed' ? `/kubepods/pod${uid}` : `/kubepods/${qos}/pod${uid}`;
}

const cases: Array<[string, string, CgroupInfo | undefined]> = [];
for (const qos of qosClasses) {
  for (const [scope, runtime] of systemdScopes) {
    cases.push([`systemd ${scope} ${qos}`, `${systemdPodSlice(qos)}/${scope}-${ID}.scope`, info(ID, runtime, qos)]);
  }
  cases.push([`cgroupfs ${qos}`, `${cgroupfsPodDir(qos)}/${ID}`, info(ID, 'unknown', qos)]);
  cases.push([`systemd pod slice ${qos}`, systemdPodSlice(qos), info('', 'unknown', qos)]);
  cases.push([`cgroupfs pod dir ${qos}`, cgroupfsPodDir(qos), info('', 'unknown', qos)]);
  cases.push([`crio conmon ${qos}`, `${systemdPodSlice(qos)}/crio-conmon-${ID}.scope`, info('', 'cri-o', qos)]);
}

cases.push(
  // Nesting: kind (systemd inside a Docker container), k3s, minikube, DinD.
  [
    'kind, kubelet.slice',
    `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    info(ID, 'containerd', 'besteffort'),
  ],
  [
    'kind seen from the host',
    `/system.slice/docker-${ID2}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    info(ID, 'containerd', 'burstable'),
  ],
  ['k3s cgroupfs', `/kubepods/besteffort/pod${UID}/${ID}`, info(ID, 'unknown', 'besteffort')],
  ['minikube docker driver, cgroupfs', `/docker/${ID2}/kubepods/burstable/pod${UID}/${ID}`, info(ID, 'unknown', 'burstable')],
  [
    'minikube docker driver, systemd',
    `/docker/${ID2}/kubepods.slice/kubepods-pod${UID_}.slice/docker-${ID}.scope`,
    info(ID, 'docker', 'guaranteed'),
  ],
  // Seen from inside a cgroup namespace rooted at another pod's container.
  [
    'cgroup namespace, systemd',
    `/../../../kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    info(ID, 'containerd', 'besteffort'),
  ],
  ['cgroup namespace, systemd guaranteed', `/../../kubepods-pod${UID_}.slice/crio-${ID}.scope`, info(ID, 'cri-o', 'guaranteed')],
  ['cgroup namespace, cgroupfs', `/../../../besteffort/pod${UID}/${ID}`, info(ID, 'unknown', 'besteffort')],
  ['cgroup namespace, cgroupfs guaranteed', `/../../pod${UID}/${ID}`, info(ID, 'unknown', 'guaranteed')],
  [
    'kind inside a pod: the outer pod owns it',
    `${systemdPodSlice('burstable')}/cri-containerd-${ID}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod${STATIC_UID}.slice/cri-containerd-${ID2}.scope`,
    info(ID, 'containerd', 'burstable'),
  ],
  ['pod<uid> outside kubepods', `/machine.slice/pod${UID}/${ID}`, undefined],
  ['test prefix (this project\'s integration test)', `/kubepulse-test-ab12/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`, info(ID, 'containerd', 'besteffort')],
  // Below the container: crun's leaf, systemd in a container.
  ['crun container leaf', `${systemdPodSlice('burstable')}/crio-${ID}.scope/container`, info(ID, 'cri-o', 'burstable')],
  ['systemd inside a container', `${systemdPodSlice('guaranteed')}/cri-containerd-${ID}.scope/init.scope`, info(ID, 'containerd', 'guaranteed')],
  // Static pods have dashless UIDs.
  ['static pod, systemd', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${STATIC_UID}.slice/cri-containerd-${ID}.scope`, info(ID, 'containerd', 'burstable', STATIC_UID)],
  ['static pod, cgroupfs', `/kubepods/pod${STATIC_UID}/${ID}`, info(ID, 'unknown', 'guaranteed', STATIC_UID)],
  // Not pods.
  ['root', '/', undefined],
  ['host service', '/system.slice/containerd.service', undefined],
  ['user session', '/user.slice/user-1000.slice/session-3.scope', undefined],
  ['plain docker container', `/system.slice/docker-${ID}.scope`, undefined],
  ['plain docker cgroupfs', `/docker/${ID}`, undefined],
  ['kubepods level', '/kubepods.slice', undefined],
  ['qos level', '/kubepods.slice/kubepods-burstable.slice', undefined],
  ['qos level cgroupfs', '/kubepods/besteffort', undefined],
  ['bad pod uid', `/kubepods/besteffort/podnot-a-uid/${ID}`, undefined],
  ['short container id', `${systemdPodSlice('burstable')}/cri-containerd-abc123.scope`, info('', 'unknown', 'burstable')],
  ['uppercase container id', `${systemdPodSlice('burstable')}/cri-containerd-${ID.toUpperCase()}.scope`, info('', 'unknown', 'burstable')],
  ['unknown scope prefix', `${systemdPodSlice('burstable')}/rkt-${ID}.scope`, info('', 'unknown', 'burstable')],
  ['empty', '', undefined],
  ['memory v1 junk seen on this machine', '/process_api/3d825f1638f69d67bf01aac504fcb710', undefined],
);

t.test('parseCgroupPath', async (t) => {
  for (const [name, path, want] of cases) {
    t.same(parseCgroupPath(path), want, `${name}: ${path}`);
  }
});

t.test('parseProcCgroup', async (t) => {
  const v2 = (path: string) => `0::${path}\n`;
  const v1Lines = (path: string, unified = '/') =>
    [
      `12:pids:${path}`,
      `11:memory:${path}`,
      `10:cpu,cpuacct:${path}`,
      `9:devices:${path}`,
      `1:name=systemd:${path}`,
      `0::${unified}`,
      '',
    ].join('\n');
  const pure_v1 = (path: string) => v1Lines(path).split('\n').filter((l) => !l.startsWith('0::')).join('\n');

  const table: Array<[string, string, { unifiedPath: string | undefined; pod: CgroupInfo | undefined; podSource: string }]> = [];
  for (const qos of qosClasses) {
    for (const [scope, runtime] of systemdScopes) {
      const systemdPath = `${systemdPodSlice(qos)}/${scope}-${ID}.scope`;
      table.push([`v2 systemd ${scope} ${qos}`, v2(systemdPath), { unifiedPath: systemdPath, pod: info(ID, runtime, qos), podSource: 'v2' }]);
      table.push([`v1 systemd ${scope} ${qos}`, pure_v1(systemdPath), { unifiedPath: undefined, pod: info(ID, runtime, qos), podSource: 'v1' }]);
      table.push([
        `hybrid systemd ${scope} ${qos}`,
        v1Lines(systemdPath, systemdPath),
        { unifiedPath: systemdPath, pod: info(ID, runtime, qos), podSource: 'v2' },
      ]);
    }
    const cgroupfsPath = `${cgroupfsPodDir(qos)}/${ID}`;
    table.push([`v2 cgroupfs ${qos}`, v2(cgroupfsPath), { unifiedPath: cgroupfsPath, pod: info(ID, 'unknown', qos), podSource: 'v2' }]);
    table.push([`v1 cgroupfs ${qos}`, pure_v1(cgroupfsPath), { unifiedPath: undefined, pod: info(ID, 'unknown', qos), podSource: 'v1' }]);
    // Hybrid with the cgroupfs driver: the unified line stays at the root.
    table.push([`hybrid cgroupfs ${qos}`, v1Lines(cgroupfsPath), { unifiedPath: '/', pod: info(ID, 'unknown', qos), podSource: 'v1' }]);
  }
  table.push(
    ['host, v2', v2('/system.slice/sshd.service'), { unifiedPath: '/system.slice/sshd.service', pod: undefined, podSource: '' }],
    ['host, hybrid', v1Lines('/system.slice/sshd.service', '/system.slice/sshd.service'), { unifiedPath: '/system.slice/sshd.service', pod: undefined, podSource: '' }],
    [
      'this machine',
      '9:name=systemd:/\n8:pids:/\n4:memory:/process_api/3d825f1638f69d67bf01aac504fcb710\n1:cpu:/\n0::/\n',
      { unifiedPath: '/', pod: undefined, podSource: '' },
    ],
    [
      'junk lines around a pod',
      `garbage\n\n:::\nx:y:/kubepods\n0:cpu:relative/path\n${v2(`${systemdPodSlice('burstable')}/cri-containerd-${ID}.scope`)}trailing junk`,
      { unifiedPath: `${systemdPodSlice('burstable')}/cri-containerd-${ID}.scope`, pod: info(ID, 'containerd', 'burstable'), podSource: 'v2' },
    ],
    [
      'v2 names only the pod, v1 names the container',
      `1:name=systemd:${systemdPodSlice('burstable')}/docker-${ID}.scope\n0::${systemdPodSlice('burstable')}\n`,
      { unifiedPath: systemdPodSlice('burstable'), pod: info(ID, 'docker', 'burstable'), podSource: 'v1' },
    ],
    [
      'v1 memory controller names the container, name=systemd only the pod',
      `11:memory:${cgroupfsPodDir('besteffort')}/${ID}\n1:name=systemd:${cgroupfsPodDir('besteffort')}\n0::/\n`,
      { unifiedPath: '/', pod: info(ID, 'unknown', 'besteffort'), podSource: 'v1' },
    ],
    [
      'deleted cgroup',
      `0::${systemdPodSlice('besteffort')}/cri-containerd-${ID}.scope (deleted)\n`,
      { unifiedPath: `${systemdPodSlice('besteffort')}/cri-containerd-${ID}.scope`, pod: info(ID, 'containerd', 'besteffort'), podSource: 'v2' },
    ],
    ['empty file', '', { unifiedPath: undefined, pod: undefined, podSource: '' }],
  );

  for (const [name, content, want] of table) {
    t.same(parseProcCgroup(content), want, name);
  }
});
