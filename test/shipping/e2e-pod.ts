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
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { V1Pod } from '@kubernetes/client-node'

/** The cgroup v2 mount from /proc/self/mounts, undefined without one. */
export function cgroup2Mount(): string | undefined {
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, path, type] = line.split(' ')
    if (type === 'cgroup2' && path) return path.replace(/\\040/g, ' ')
  }
  return undefined
}

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
  /** Removes the cgroup tree (after the processes in it are gone). */
  remove(): Promise<void>
}

export function makeFakePod(mount: string, names: PodIdentityNames): FakePod {
  const uid = randomUUID()
  const containerId = randomBytes(32).toString('hex')
  const hash = randomBytes(5).toString('hex').slice(0, 9)
  const name = `${names.workload}-${hash}-${randomBytes(3).toString('hex').slice(0, 5)}`
  const base = join(mount, `kubepulse-e2e-${randomBytes(4).toString('hex')}`)
  const cgroupDir = join(
    base,
    'kubepods.slice',
    'kubepods-besteffort.slice',
    `kubepods-besteffort-pod${uid.replaceAll('-', '_')}.slice`,
    `cri-containerd-${containerId}.scope`,
  )
  mkdirSync(cgroupDir, { recursive: true })
  const object: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: names.namespace,
      uid,
      labels: { app: names.workload, 'pod-template-hash': hash },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${names.workload}-${hash}`, uid: randomUUID(), controller: true },
      ],
    },
    spec: { nodeName: names.node, containers: [{ name: 'app', image: 'registry.example/checkout:1' }] },
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'app',
          containerID: `containerd://${containerId}`,
          image: 'registry.example/checkout:1',
          imageID: '',
          ready: true,
          restartCount: 0,
          state: { running: { startedAt: new Date() } },
        },
      ],
    },
  }
  return {
    namespace: names.namespace,
    name,
    workload: names.workload,
    uid,
    containerId,
    cgroupDir,
    object,
    remove: () => removeTree(mount, base),
  }
}

// Moves stragglers to the root cgroup, then removes the tree bottom-up.
async function removeTree(mount: string, base: string): Promise<void> {
  const dirs: string[] = []
  const walk = (dir: string): void => {
    dirs.push(dir)
    let subdirs: string[] = []
    try {
      subdirs = readdirSync(dir, { withFileTypes: true }).filter(d => d.isDirectory()).map(d => d.name)
    } catch {
      return
    }
    for (const sub of subdirs) walk(join(dir, sub))
  }
  walk(base)
  for (const dir of dirs.reverse()) {
    for (let attempt = 0; ; attempt++) {
      try {
        for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
          try {
            writeFileSync(join(mount, 'cgroup.procs'), pid)
          } catch {
            // exited meanwhile
          }
        }
        rmdirSync(dir)
        break
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') break
        if (attempt >= 60) throw err
        await sleep(50)
      }
    }
  }
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
  writeFileSync(join(pod.cgroupDir, 'cgroup.procs'), String(pid))
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
