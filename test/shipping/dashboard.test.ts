// dashboards/kubepulse.json: a datasource variable used by every panel and
// target, node/namespace/pod variables, the panels the issue asks for, and
// every expression (panels and variables) accepted by a real Prometheus's
// parser (/api/v1/query; promtool has no query-parsing command).
import t from 'tap'
import { prometheusMissing, startPrometheus } from '../support/prometheus.js'
import { isKnownSeries, seriesNamesIn } from './daemon-contract.js'
import { allPanels, dashboardQueries, loadDashboard, variableSelector } from './dashboard.js'

const dashboard = loadDashboard()
const panels = allPanels(dashboard)

t.test('datasource and node/namespace/pod variables', async t => {
  t.equal(dashboard.uid, 'kubepulse')
  const vars = new Map(dashboard.templating.list.map(v => [v.name, v]))
  t.match(vars.get('datasource'), { type: 'datasource', query: 'prometheus' })
  for (const name of ['node', 'namespace', 'pod']) {
    const v = vars.get(name)
    t.equal(v?.type, 'query', `${name} is a query variable`)
    t.equal(v?.datasource?.uid, '${datasource}', `${name} queries the chosen datasource`)
    t.equal(v?.allValue, '.*', `${name} "All" matches every value, the empty one of host traffic too`)
    t.ok(variableSelector(v!), `${name} is label_values(selector, label)`)
  }
})

t.test('every panel and target uses the datasource variable', async t => {
  t.ok(panels.length > 10)
  const ids = new Set<number>()
  for (const p of panels) {
    t.equal(p.datasource?.uid, '${datasource}', `panel "${p.title}" datasource`)
    t.ok(p.targets && p.targets.length > 0, `panel "${p.title}" has queries`)
    for (const target of p.targets ?? []) {
      t.equal(target.datasource?.uid, '${datasource}', `"${p.title}" ${target.refId} datasource`)
      t.ok(target.expr, `"${p.title}" ${target.refId} has an expression`)
    }
    t.notOk(ids.has(p.id), `panel id ${p.id} unique`)
    ids.add(p.id)
    const g = p.gridPos
    t.ok(g && g.x >= 0 && g.w > 0 && g.x + g.w <= 24, `"${p.title}" fits the 24-column grid`)
  }
})

t.test('the panels the issue asks for', async t => {
  const titles = panels.map(p => p.title)
  for (const wanted of [
    /TCP connect latency p50 \/ p95 \/ p99 by workload/,
    /TCP connection results by workload/,
    /DNS query rate by domain/,
    /DNS latency p50 \/ p95 \/ p99/,
    /DNS error ratio by rcode/,
    /events received and dropped/i,
    /Probe attach mode/,
    /Daemon CPU/,
    /Daemon memory/,
  ]) {
    t.ok(titles.some(title => wanted.test(title)), `a panel matching ${wanted}`)
  }
})

t.test('expressions only name metrics the daemon exports', async t => {
  for (const q of dashboardQueries(dashboard)) {
    for (const name of seriesNamesIn(q.expr)) t.ok(isKnownSeries(name), `"${q.panel}" ${q.refId}: ${name}`)
  }
})

t.test('a real Prometheus parses every expression', async t => {
  const missing = prometheusMissing()
  if (missing) return t.plan(0, `skipped: ${missing}`)
  const prom = await startPrometheus()
  t.teardown(() => prom.stop())
  for (const q of dashboardQueries(dashboard)) {
    t.equal(await prom.parseError(q.expr), undefined, `"${q.panel}" ${q.refId}`)
  }
  for (const v of dashboard.templating.list) {
    const sel = variableSelector(v)
    if (sel) t.equal(await prom.parseError(sel.selector), undefined, `variable ${v.name}: ${sel.selector}`)
  }
  t.match(await prom.parseError('sum(rate(kubepulse_events_total[1m])'), /bad_data/, 'and would reject a broken one')
})
