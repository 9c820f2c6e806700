// test/shipping/podman-run.ts, without podman: the DaemonSet of deployments/
// becomes the flags the image test runs it with, and anything it cannot carry
// over is refused by name. Part of `make test`, so a manifest change that the
// image test (make test-image, slow) would not understand shows at once.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { IDaemonSet } from 'kubernetes-models/apps/v1'
import { parseAllDocuments } from 'yaml'
import { repoRoot } from './k8s.js'
import { cpus, memoryBytes, podRun } from './podman-run.js'

const daemonSet = parseAllDocuments(readFileSync(join(repoRoot, 'deployments', '04-daemonset.yaml'), 'utf8'))
  .map(d => d.toJSON() as IDaemonSet)
  .find(o => o?.kind === 'DaemonSet')!

/** The value after each occurrence of a flag. */
const values = (flags: string[], name: string): string[] => flags.flatMap((f, i) => (f === name ? [flags[i + 1]!] : []))

t.test("deployments/' DaemonSet as podman run flags", async t => {
  const run = podRun(daemonSet, { nodeName: 'node-1' })
  t.same(values(run.flags, '--pid'), ['host'])
  t.same(values(run.flags, '--user'), ['0:0'])
  t.ok(run.flags.includes('--read-only') && run.flags.includes('--read-only-tmpfs=false'), 'read-only root, and no tmpfs of podman\'s own')
  t.same(values(run.flags, '--security-opt').sort(), ['no-new-privileges', 'seccomp=unconfined'])
  t.same(values(run.flags, '--cap-drop'), ['all'])
  t.same(values(run.flags, '--cap-add'), run.capabilities.map(c => `CAP_${c}`))
  t.same(values(run.flags, '--volume').sort(), [
    '/proc:/host/proc:ro',
    '/sys/fs/cgroup:/host/sys/fs/cgroup:ro',
    '/sys/kernel/btf:/sys/kernel/btf:ro',
    '/sys/kernel/tracing:/sys/kernel/tracing:ro',
    '/var/lib/kubelet/seccomp:/host/var/lib/kubelet/seccomp:ro',
  ])
  t.same(run.hostDirs, ['/var/lib/kubelet/seccomp'], 'made before the run, as the kubelet makes it')
  t.same(values(run.flags, '--mount'), [`type=tmpfs,destination=/tmp,tmpfs-size=${16 * 2 ** 20}`])
  t.same(values(run.flags, '--memory'), [String(512 * 2 ** 20)])
  t.same(values(run.flags, '--cpus'), ['1'])
  t.same(values(run.flags, '--env'), ['NODE_NAME=node-1'])
  t.equal(run.args[0], 'run')
  t.same(values(podRun(daemonSet, { nodeName: 'n', capabilities: ['BPF'] }).flags, '--cap-add'), ['CAP_BPF'], 'a capability list of its own')
})

t.test('what cannot be carried over is refused by name', async t => {
  const edit = (change: (ds: IDaemonSet) => void): IDaemonSet => {
    const ds = structuredClone(daemonSet)
    change(ds)
    return ds
  }
  const c = (ds: IDaemonSet) => ds.spec!.template.spec!.containers[0]!
  t.throws(() => podRun(edit(ds => (ds.spec!.template.spec!.hostNetwork = true)), { nodeName: 'n' }), { message: /pod spec field hostNetwork/ })
  t.throws(() => podRun(edit(ds => (c(ds).securityContext!.runAsNonRoot = true)), { nodeName: 'n' }), { message: /securityContext.runAsNonRoot/ })
  t.throws(
    () => podRun(edit(ds => {
      ds.spec!.template.spec!.volumes!.push({ name: 'web-config', secret: { secretName: 'x' } })
      c(ds).volumeMounts!.push({ name: 'web-config', mountPath: '/etc/kubepulse' })
    }), { nodeName: 'n' }),
    { message: /volume web-config: only hostPath and emptyDir/ },
  )
  t.throws(() => podRun(edit(ds => c(ds).env!.push({ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } })), { nodeName: 'n' }), { message: /env POD_IP/ })
})

t.test('Kubernetes quantities', async t => {
  t.same(['512Mi', '16Mi', '1Gi', '100M', '1000'].map(memoryBytes), [512 * 2 ** 20, 16 * 2 ** 20, 2 ** 30, 100e6, 1000])
  t.throws(() => memoryBytes('lots'), { message: /memory quantity lots/ })
  t.same(['1', '500m', '2'].map(cpus), ['1', '0.5', '2'])
})
