// The dashboard's "Posture audit and drift" row and `kubepulse audit
// --prometheus`, against a real Prometheus scraping two nodes' audit and
// drift series (stand-ins for the daemon's /metrics; the daemon's own series
// are proven in test/audit/daemon.e2e.test.ts): the all-vs-bad counts, the
// tables, the node filter, and the CLI's findings and gate from the same data.
import t from 'tap'
import { runCli } from '../support/daemon.js'
import { prometheusMissing, startPrometheus } from '../support/prometheus.js'
import { AUDIT_ROW, loadDashboard, rowPanels, substitute } from './dashboard.js'
import { startFakeExporter, type FakeSeries } from './fake-exporter.js'

const violation = (node: string, namespace: string, pod: string, container: string, check: string, severity: string) => ({
  name: 'kubepulse_audit_violations',
  labels: { namespace, workload: pod.replace(/-\w+$/, ''), pod, container, check, severity },
  value: 1,
})

function auditSeries(node: string): FakeSeries {
  const v = (ns: string, pod: string, container: string, check: string, severity: string) => violation(node, ns, `${pod}-${node}`, container, check, severity)
  return {
    gauges: [
      { name: 'kubepulse_build_info', labels: { version: '0.1.0', node }, value: 1 },
      { name: 'kubepulse_audit_pods', labels: { namespace: 'shop' }, value: 3 },
      { name: 'kubepulse_audit_pods', labels: { namespace: 'batch' }, value: 1 },
      ...(node === 'node-a'
        ? [v('shop', 'web', 'app', 'privileged', 'high'), v('shop', 'web', 'app', 'runs_as_root', 'medium'), v('shop', 'web', '', 'no_network_policy', 'medium')]
        : [v('batch', 'report', 'main', 'image_tag', 'low')]),
      ...(node === 'node-a' ? [{ name: 'kubepulse_seccomp_drift_syscalls', labels: { namespace: 'shop', workload: 'web', pod: 'web-node-a', container: 'app', syscall: 'ptrace' }, value: 1 }] : []),
    ],
    counters:
      node === 'node-b'
        ? [{ name: 'kubepulse_policy_drift_flows_total', labels: { namespace: 'batch', workload: 'report', direction: 'egress', protocol: 'TCP', port: '443', peer_kind: 'external', peer_namespace: '', peer_workload: '' }, perSecond: 0.1 }]
        : [],
  }
}

const row = () => rowPanels(loadDashboard(), AUDIT_ROW)

t.test('the row and `kubepulse audit --prometheus` on a real Prometheus', async t => {
  const missing = prometheusMissing()
  if (missing) return t.plan(0, `skipped: ${missing}`)
  const a = await startFakeExporter(auditSeries('node-a'))
  const b = await startFakeExporter(auditSeries('node-b'))
  const prom = await startPrometheus({ scrape: [{ job: 'kubepulse', targets: [a.address, b.address] }] })
  t.teardown(async () => {
    await prom.stop()
    await a.close()
    await b.close()
  })
  await prom.waitForTargetsUp('kubepulse')
  await prom.waitForQuery('kubepulse_policy_drift_flows_total')

  const panels = row()
  t.same(panels.map(p => p.title), ['Pods checked, with violations, with high-severity violations', 'Violations by check and severity', 'Violations present', 'NetworkPolicy drift flows', 'Seccomp drift syscalls'])
  const run = async (title: string, refId: string, values: Record<string, string> = {}) => {
    const target = panels.find(p => p.title === title)?.targets?.find(x => x.refId === refId)
    const samples = await prom.query(substitute(target?.expr ?? '', { node: '.*', namespace: '.*', pod: '.*', ...values }))
    return samples.map((s): Record<string, string | number> => ({ ...s.metric, value: Number(s.value[1]) }))
  }
  const allVsBad = 'Pods checked, with violations, with high-severity violations'
  t.same(await run(allVsBad, 'A'), [{ value: 8 }], 'checked: 4 pods on each of two nodes')
  t.same(await run(allVsBad, 'B'), [{ value: 2 }], 'with violations: web on node-a, report on node-b')
  t.same(await run(allVsBad, 'C'), [{ value: 1 }], 'with a high one: web')
  t.same(await run(allVsBad, 'B', { node: 'node-b' }), [{ value: 1 }], 'the node variable filters series that carry no node label')
  const byCheck = (await run('Violations by check and severity', 'A')).map(s => `${s.check}/${s.severity}=${s.value}`).sort()
  t.same(byCheck, ['image_tag/low=1', 'no_network_policy/medium=1', 'privileged/high=1', 'runs_as_root/medium=1'])
  const present = await run('Violations present', 'A', { namespace: 'shop' })
  // Prometheus drops empty labels: a pod-level check has no container label.
  t.same(present.map(s => `${s.node} ${s.pod} ${s.container ?? '-'} ${s.check}`).sort(), ['node-a web-node-a - no_network_policy', 'node-a web-node-a app privileged', 'node-a web-node-a app runs_as_root'])
  const drift = await run('NetworkPolicy drift flows', 'A')
  t.equal(drift.length, 1)
  t.match(drift[0], { namespace: 'batch', workload: 'report', direction: 'egress', port: '443', peer_kind: 'external' })
  t.same((await run('Seccomp drift syscalls', 'A')).map(s => `${s.pod}/${s.container}/${s.syscall}`), ['web-node-a/app/ptrace'])

  const cli = await runCli(['audit', '--prometheus', prom.url, '--range', '5m', '-o', 'json', '--fail-on', 'high'])
  t.equal(cli.code, 1, cli.stderr)
  const report = JSON.parse(cli.stdout) as { findings: Array<{ kind: string; severity: string; check: string; namespace: string; object: string; workload: string }> }
  t.same(
    report.findings.map(f => `${f.severity} ${f.kind} ${f.check} ${f.namespace}/${f.object || f.workload}`),
    [
      'high network_drift network_drift batch/report',
      'high violation privileged shop/web-node-a',
      'high seccomp_drift seccomp_drift shop/web-node-a',
      'medium violation no_network_policy shop/web-node-a',
      'medium violation runs_as_root shop/web-node-a',
      'low violation image_tag batch/report-node-b',
    ],
  )
  const low = await runCli(['audit', '--prometheus', prom.url, '--fail-on', 'low'])
  t.equal(low.code, 1)
  t.match(low.stdout, /6 findings \(3 high, 2 medium, 1 low\); 6 at or above low/)
})
