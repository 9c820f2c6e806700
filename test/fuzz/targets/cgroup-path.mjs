// Cgroup path parser (src/metadata/cgroup-path.ts) and the /proc/<pid>/cgroup
// reader built on it. Paths come from the kernel but are named by whoever
// creates cgroups: kubelet, the runtime, systemd, or a process with
// delegated cgroups. Input: the bytes as a path, and as a whole
// /proc/<pid>/cgroup file.
// Invariant: never throws; a result has a 64-hex container id or '', a pod
// UID of hex with dashes (never ''), runtime and qos from their sets;
// parseProcCgroup's pod is one of the lines' parses; bounded time (the
// regexes are linear on any path).

const RUNTIMES = new Set(['containerd', 'cri-o', 'docker', 'unknown']);
const QOS = new Set(['guaranteed', 'burstable', 'besteffort']);

export default {
  sources: ['src/metadata/cgroup-path.js'],
  maxLength: 2048,
  dictionary: ['/kubepods.slice', '/kubepods-burstable.slice', '/kubepods-besteffort-pod', '_', '.slice', '/cri-containerd-', '/crio-', '/crio-conmon-', '/docker-', '.scope', '/kubepods/', 'burstable/', 'besteffort/', 'pod', '/..', '0::', '1:name=systemd:', ' (deleted)', '\n', 'a'.repeat(64), '0123456789abcdef'.repeat(4), '12345678-1234-1234-1234-123456789abc'],
  async setup(load) {
    const m = await load('src/metadata/cgroup-path.js');
    const check = (info, what) => {
      if (info === undefined) return;
      if (info.containerId !== '' && !/^[0-9a-f]{64}$/.test(info.containerId)) throw new Error(`${what}: container id ${JSON.stringify(info.containerId)}`);
      if (!/^[0-9a-f-]{32,36}$/.test(info.podUid)) throw new Error(`${what}: pod uid ${JSON.stringify(info.podUid)}`);
      if (!RUNTIMES.has(info.runtime) || !QOS.has(info.qos)) throw new Error(`${what}: runtime ${info.runtime} qos ${info.qos}`);
    };
    return (data) => {
      const text = data.toString('utf8');
      check(m.parseCgroupPath(text), 'path');
      const proc = m.parseProcCgroup(text);
      check(proc.pod, 'proc');
      if (!['v1', 'v2', ''].includes(proc.podSource) || (proc.podSource === '') !== (proc.pod === undefined)) throw new Error(`podSource ${proc.podSource} with pod ${JSON.stringify(proc.pod)}`);
      if (proc.unifiedPath !== undefined && !proc.unifiedPath.startsWith('/')) throw new Error(`unified path ${proc.unifiedPath}`);
      // The same path under a 0:: line must be seen as the v2 path.
      const line = `0::${text.split('\n')[0]}`;
      const v2 = m.parseProcCgroup(line);
      if (text.startsWith('/') && !text.split('\n')[0].includes('\r') && v2.unifiedPath === undefined && text.split('\n')[0].trim().startsWith('/')) throw new Error(`0::${JSON.stringify(text.split('\n')[0])} gave no unified path`);
    };
  },
};
