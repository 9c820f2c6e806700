// The shipped alerting rules and dashboard against a real Prometheus that
// scrapes synthetic exporters shaped like the daemon (test/shipping/fake-exporter.ts),
// with the ServiceMonitor's job name, honor_labels and node label:
//  - every dashboard expression returns data,
//  - the alerts fire for the failing series and stay silent for the healthy ones.
// The end-to-end test with the real daemon and real traffic replaces the
// fake; the rules' `for:` durations are shortened here (promtool tests prove them).
import t from 'tap'
import { join } from 'node:path'
import { prometheusMissing, startPrometheus, freePort } from '../support/prometheus.js'
import { trafficQueries } from './dashboard.js'
import { nodeSeries, startFakeExporter } from './fake-exporter.js'
import { repoRoot } from './k8s.js'

const missing = prometheusMissing()
if (missing) {
  t.plan(0, `skipped: ${missing}`)
} else {
  const nodeA = await startFakeExporter(nodeSeries('node-a', { dropping: true }))
  const nodeB = await startFakeExporter(nodeSeries('node-b', { ready: false }))
  t.teardown(() => nodeA.close())
  t.teardown(() => nodeB.close())
  const deadTarget = `127.0.0.1:${await freePort()}` // nothing listens: node-c's daemon is down

  const prom = await startPrometheus({
    scrape: [
      { job: 'kubepulse', targets: [nodeA.address], labels: { node: 'node-a', namespace: 'kubepulse', pod: 'kubepulse-a' } },
      { job: 'kubepulse', targets: [nodeB.address], labels: { node: 'node-b', namespace: 'kubepulse', pod: 'kubepulse-b' } },
      { job: 'kubepulse', targets: [deadTarget], labels: { node: 'node-c', namespace: 'kubepulse', pod: 'kubepulse-c' } },
    ],
    ruleFiles: [join(repoRoot, 'rules', 'kubepulse-alerts.yaml')],
    ruleFor: '2s',
  })
  t.teardown(() => prom.stop())

  t.test('honor_labels keeps the workload namespace/pod labels', async t => {
    const both = (expr: string) =>
      prom.waitFor(`${expr} from both nodes`, async () => {
        const samples = await prom.query(expr)
        return samples.length === 2 && samples
      })
    const samples = await both('kubepulse_dns_responses_total{rcode="SERVFAIL"}')
    t.same(samples.map(s => s.metric.namespace).sort(), ['shop', 'shop'])
    const ready = await both('kubepulse_ready')
    t.same(ready.map(s => s.metric.namespace), ['kubepulse', 'kubepulse'], 'self metrics take the target namespace')
  })

  t.test('every dashboard expression returns data', async t => {
    for (const q of trafficQueries({}, '30s')) {
      const samples = await prom.waitForQuery(q.expr, { timeoutMs: 30_000 }).catch(() => [])
      t.ok(samples.length > 0, `"${q.panel}" ${q.refId} has data`)
    }
    const nodeVar = await prom.waitForQuery('count by (node) (kubepulse_build_info)')
    t.same(nodeVar.map(s => s.metric.node).sort(), ['node-a', 'node-b'], 'the node variable finds both nodes')
  })

  t.test('alerts fire on the failures', async t => {
    const opts = { timeoutMs: 60_000 }
    const dns = await prom.waitForAlert('KubePulseDNSFailureRatioHigh', { labels: { namespace: 'shop', workload: 'checkout' }, ...opts })
    t.equal(dns.labels.severity, 'warning')
    t.match(dns.annotations.description, /3[234](\.\d+)?% of the DNS responses seen by workload\s+shop\/checkout/)
    await prom.waitForAlert('KubePulseDNSLatencyHigh', { labels: { namespace: 'shop', workload: 'search' }, ...opts })
    await prom.waitForAlert('KubePulseEventsDropped', { labels: { node: 'node-a', type: 'dns' }, ...opts })
    await prom.waitForAlert('KubePulseTargetDown', { labels: { node: 'node-c' }, ...opts })
    await prom.waitForAlert('KubePulseNotReady', { labels: { node: 'node-b' }, ...opts })
    t.pass('all five fired')
  })

  t.test('and stay silent on the healthy series', async t => {
    const active = await prom.alerts()
    const key = (l: Record<string, string>) => [l.alertname, l.namespace, l.workload, l.node, l.type].join('/')
    const keys = active.map(a => key(a.labels)).sort()
    t.strictSame(
      keys,
      [
        'KubePulseDNSFailureRatioHigh/shop/checkout//',
        'KubePulseDNSLatencyHigh/shop/search//',
        'KubePulseEventsDropped/kubepulse//node-a/dns',
        'KubePulseNotReady/kubepulse//node-b/',
        'KubePulseTargetDown/kubepulse//node-c/',
      ],
      'no alert (not even pending) for shop/frontend NXDOMAINs, shop/cart latency, node-b drops, or a missing target',
    )
  })
}
