// A pod on this machine, as far as the daemon can tell: a kubelet-shaped
// cgroup (kubepods.slice/…/cri-containerd-<id>.scope) below the cgroup v2
// mount, a V1Pod for the test API server naming that container ID, and a
// bash process moved into the cgroup before it runs anything, so every
// socket it and its children (dig) open belongs to the pod.
//
// The traffic script loops until stopped, in three loops at once so the
// alert's minimum-rate guard is passed soon even on a busy machine: twice
// DNS with dig (NOERROR, NXDOMAIN, SERVFAIL) and TCP connects to a listener
// and to a closed port; once unanswered queries, which the daemon counts as
// rcode="timeout" after --dns-timeout.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import type { V1Pod } from '@kubernetes/client-node'
import { makePod, randomContainerId } from '../metadata/fixtures/pods.js'
import { moveIntoCgroup, type PodCgroups } from '../support/pod-cgroups.js'

export interface PodIdentityNames {
  namespace: string
  /** The Deployment; the pod is owned by its ReplicaSet `<workload>-<hash>`. */
  workload: string
  node: string
}

export interface FakePod {
  namespace: string
  name: string
  workload: string
  uid: string
  containerId: string
  cgroupDir: string
  object: V1Pod
}

/** A Deployment's pod, its container's cgroup made in cgroups (removed with them). */
export function makeFakePod(cgroups: PodCgroups, names: PodIdentityNames): FakePod {
  const uid = randomUUID()
  const containerId = randomContainerId()
  const hash = randomBytes(5).toString('hex').slice(0, 9)
  const name = `${names.workload}-${hash}-${randomBytes(3).toString('hex').slice(0, 5)}`
  const cgroupDir = cgroups.container(uid, containerId).dir
  const object = makePod({
    name,
    namespace: names.namespace,
    uid,
    nodeName: names.node,
    labels: { app: names.workload, 'pod-template-hash': hash },
    owner: { kind: 'ReplicaSet', name: `${names.workload}-${hash}` },
    containers: { app: containerId },
  })
  return { namespace: names.namespace, name, workload: names.workload, uid, containerId, cgroupDir, object }
}

export interface TrafficTargets {
  dnsPort: number
  /** A TCP listener: connects that are established, then closed by us. */
  listenPort: number
  /** Nothing listens: connects that are refused. */
  closedPort: number
}

// bash for /dev/tcp. `: <>/dev/tcp/…` opens a connection and closes it.
const script = `
read -r _go
dns() { dig @127.0.0.1 -p "$DNS_PORT" +time=1 +tries=1 +short "$@" </dev/null >/dev/null 2>&1; }
mix() {
  while :; do
    dns www.example.com A
    dns api.example.com AAAA
    dns nx.example.com A
    dns fail.example.org A
    { : <>"/dev/tcp/127.0.0.1/$LISTEN_PORT"; } 2>/dev/null
    { : <>"/dev/tcp/127.0.0.1/$CLOSED_PORT"; } 2>/dev/null
    sleep 0.1
  done
}
( while :; do dns silent.example.net A; sleep 0.5; done ) &
mix &
mix
`

export interface Traffic {
  pid: number
  stop(): Promise<void>
}

/** Starts the traffic loop inside the pod's cgroup; stop() kills its process group. */
export async function startPodTraffic(pod: FakePod, targets: TrafficTargets): Promise<Traffic> {
  const child: ChildProcess = spawn('bash', ['-c', script], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true, // its own process group, so stop() reaches the dig children too
    env: {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      DNS_PORT: String(targets.dnsPort),
      LISTEN_PORT: String(targets.listenPort),
      CLOSED_PORT: String(targets.closedPort),
    },
  })
  const pid = child.pid
  if (pid === undefined) throw new Error('could not start bash for the traffic loop')
  const exited = new Promise<void>(done => child.once('exit', () => done()))
  const kill = (): void => {
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  process.once('exit', kill)
  // Into the pod's cgroup first; only then may it open a socket.
  moveIntoCgroup(pod.cgroupDir, pid)
  child.stdin?.end('go\n')
  return {
    pid,
    async stop() {
      process.off('exit', kill)
      kill()
      if (child.exitCode === null && child.signalCode === null) await exited
    },
  }
}
