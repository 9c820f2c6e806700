// Pod churn for the soak: what a kubelet and its container runtime do for
// each pod, against the test API server and this machine's real cgroup v2.
//
// Create: the pod object reaches the API (the daemon's watch sees it), its
// kubelet-shaped pod and container cgroups are made (systemd driver,
// containerd), and a process starts inside the container cgroup from its
// first instruction: a bash loop that connects to a TCP port and sends one
// DNS query every `periodS` seconds, so the pod has series of its own.
// Delete: the container is killed (cgroup.kill), its cgroups removed, then
// the pod object deleted, in the kubelet's order.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const hex = (n) => randomBytes(Math.ceil(n / 2)).toString('hex').slice(0, n);

/** A DNS query for name, type A, as bash printf escapes (\xHH), so bash can send it to /dev/udp. */
function queryEscapes(name) {
  const bytes = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
  for (const label of name.split('.')) bytes.push(label.length, ...Buffer.from(label, 'latin1'));
  bytes.push(0, 0, 1, 0, 1);
  return bytes.map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
}

// $1 TCP port, $2 DNS port, $3 the query (printf escapes), $4 period (s).
const CONTAINER = String.raw`
while :; do
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; exec 3>&-; } 2>/dev/null
  printf "$3" > "/dev/udp/127.0.0.1/$2"
  sleep "$4"
done`;

/** A pod object as an API server returns it for a Deployment's pod, with one running container. */
export function podObject({ name, namespace, uid, nodeName, workload, containerId }) {
  const hash = workload.hash;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      uid,
      labels: { app: workload.name, 'pod-template-hash': hash },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${workload.name}-${hash}`, uid: workload.uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: { nodeName, containers: [{ name: 'app', image: 'registry.example/soak:1' }] },
    status: {
      phase: 'Running',
      podIP: '127.0.0.1',
      containerStatuses: [
        { name: 'app', containerID: `containerd://${containerId}`, image: 'registry.example/soak:1', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt: new Date().toISOString() } } },
      ],
    },
  };
}

/** The pod's cgroup and its container's, relative to the kubepods tree's parent (systemd driver, BestEffort). */
export function podCgroupDirs(base, uid, containerId) {
  const u = uid.replaceAll('-', '_');
  const pod = join(base, 'kubepods.slice', 'kubepods-besteffort.slice', `kubepods-besteffort-pod${u}.slice`);
  return { pod, container: join(pod, `cri-containerd-${containerId}.scope`) };
}

/** Kills everything in a cgroup (cgroup.kill, Linux 5.14+) and removes it once empty. */
export async function removeCgroup(dir) {
  if (!existsSync(dir)) return;
  try {
    writeFileSync(join(dir, 'cgroup.kill'), '1');
  } catch {
    // no cgroup.kill: kill what is listed
    for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {}
    }
  }
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      if (err.code === 'ENOENT') return;
      if (attempt > 200) throw new Error(`cannot remove ${dir}: ${err.message}`);
      await sleep(25);
    }
  }
}

export class PodChurn {
  /**
   * @param {object} o
   * @param o.api TestKubeApiServer
   * @param o.base the tree's directory below the cgroup2 mount (stands for the node's cgroup root)
   * @param o.namespace the churned pods' namespace
   * @param o.nodeName
   * @param o.tcpPort, o.dnsPort where the pods' processes connect and query
   * @param o.workloads how many Deployments the pods belong to
   * @param o.periodS seconds between a pod's connects
   */
  constructor(o) {
    this.o = o;
    this.live = new Map(); // name → { uid, dirs, child }
    this.created = 0;
    this.deleted = 0;
    this.failures = [];
    this.workloads = Array.from({ length: o.workloads }, (_, i) => ({ name: `churn-w${i}`, hash: hex(10), uid: randomUUID() }));
  }

  /** One pod created (API first, then cgroups and its process), as a kubelet does. */
  create() {
    const i = this.created++;
    const workload = this.workloads[i % this.workloads.length];
    const name = `${workload.name}-${workload.hash}-${hex(5)}`;
    const uid = randomUUID();
    const containerId = hex(64);
    this.o.api.addPod(podObject({ name, namespace: this.o.namespace, uid, nodeName: this.o.nodeName, workload, containerId }));
    const dirs = podCgroupDirs(this.o.base, uid, containerId);
    mkdirSync(dirs.container, { recursive: true });
    const query = queryEscapes(`${name}.churn.soak-kubepulse.com`);
    const child = spawn(
      'sh',
      ['-c', 'echo $$ > "$0/cgroup.procs" && exec bash -c "$1" pod "$2" "$3" "$4" "$5"', dirs.container, CONTAINER, String(this.o.tcpPort), String(this.o.dnsPort), query, String(this.o.periodS)],
      { stdio: 'ignore' },
    );
    child.on('error', (err) => this.failures.push(`spawn: ${err.message}`));
    this.live.set(name, { uid, dirs, child });
    return name;
  }

  /** One pod deleted: its container killed, cgroups removed, then the object deleted. */
  async delete(name) {
    const pod = this.live.get(name);
    if (pod === undefined) return;
    this.live.delete(name);
    try {
      await removeCgroup(pod.dirs.container);
      await removeCgroup(pod.dirs.pod);
    } catch (err) {
      this.failures.push(err.message);
    }
    this.o.api.deletePod(this.o.namespace, name);
    this.deleted++;
  }

  /** Deletes every pod still alive. */
  async deleteAll() {
    for (const name of [...this.live.keys()]) await this.delete(name);
  }
}
