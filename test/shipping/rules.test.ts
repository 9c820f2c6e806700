// rules/kubepulse-alerts.yaml: promtool accepts it and its unit tests pass;
// every alert has for/severity/summary/description/runbook, a unit test
// where it fires and one where it stays silent; it only names metrics the
// daemon exports; and deployments/ and the chart take them from this one
// file (a manifest rendered by make build, a symbolic link).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { accessSync, constants, existsSync, lstatSync, readFileSync, realpathSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { parseYamlDocs, repoRoot } from './k8s.js'
import { isKnownSeries, seriesNamesIn } from './daemon-contract.js'

const rulesFile = join(repoRoot, 'rules', 'kubepulse-alerts.yaml')
const testFile = join(repoRoot, 'rules', 'kubepulse-alerts.test.yaml')
const promtool = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool'

interface Rule {
  alert?: string
  record?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}
const groups = (parse(readFileSync(rulesFile, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups
const alerts = groups.flatMap(g => g.rules).filter(r => r.alert)

function promtoolMissing(): string | undefined {
  try {
    accessSync(promtool, constants.X_OK)
    return undefined
  } catch {
    return `${promtool} not found (apt-get install prometheus, or set PROMTOOL_BIN)`
  }
}

t.test('promtool check rules', async t => {
  const missing = promtoolMissing()
  if (missing) return t.plan(0, `skipped: ${missing}`)
  const r = spawnSync(promtool, ['check', 'rules', rulesFile], { encoding: 'utf8' })
  t.equal(r.status, 0, `promtool check rules:\n${r.stdout}${r.stderr}`)
  t.match(r.stdout, new RegExp(`SUCCESS: ${alerts.length} rules found`))
})

t.test('promtool test rules', async t => {
  const missing = promtoolMissing()
  if (missing) return t.plan(0, `skipped: ${missing}`)
  const r = spawnSync(promtool, ['test', 'rules', testFile], { encoding: 'utf8', cwd: join(repoRoot, 'rules') })
  t.equal(r.status, 0, `promtool test rules:\n${r.stdout}${r.stderr}`)
  t.match(r.stdout, /SUCCESS/)
})

t.test('the alerts the issue asks for, each runbook-style', async t => {
  t.same(
    alerts.map(a => a.alert).sort(),
    [
      'KubePulseDNSFailureRatioHigh',
      'KubePulseDNSLatencyHigh',
      'KubePulseEventsDropped',
      'KubePulseHighSeverityViolation',
      'KubePulseNetworkPolicyDrift',
      'KubePulseNotReady',
      'KubePulseSeccompDrift',
      'KubePulseTargetDown',
      'KubePulseTargetMissing',
    ],
  )
  for (const a of alerts) {
    t.match(a.for, /^\d+[smh]$/, `${a.alert} has for:`)
    t.ok(['critical', 'warning', 'info'].includes(a.labels?.severity ?? ''), `${a.alert} has a severity`)
    for (const key of ['summary', 'description', 'runbook']) t.ok(a.annotations?.[key], `${a.alert} has ${key}`)
    for (const name of seriesNamesIn(a.expr)) t.ok(isKnownSeries(name), `${a.alert}: ${name} is a metric the daemon exports`)
  }
})

t.test('each alert fires in a unit test and stays silent in one', async t => {
  interface AlertTest { alertname: string; exp_alerts?: unknown[] }
  const unit = parse(readFileSync(testFile, 'utf8')) as { tests: { alert_rule_test?: AlertTest[] }[] }
  const cases = unit.tests.flatMap(u => u.alert_rule_test ?? [])
  for (const a of alerts) {
    const mine = cases.filter(c => c.alertname === a.alert)
    t.ok(mine.some(c => (c.exp_alerts ?? []).length > 0), `${a.alert} fires in a test`)
    t.ok(mine.some(c => (c.exp_alerts ?? []).length === 0), `${a.alert} is silent in a test`)
  }
})

t.test('the chart and deployments/ take the rules from rules/, never a pasted copy', async t => {
  const rulesText = readFileSync(rulesFile, 'utf8')
  const chartFile = join(repoRoot, 'charts', 'kubepulse', 'files', 'kubepulse-alerts.yaml')
  t.ok(lstatSync(chartFile).isSymbolicLink(), 'the chart file is a link, not a copy')
  t.equal(realpathSync(chartFile), realpathSync(rulesFile), 'to rules/kubepulse-alerts.yaml')
  t.equal(spawnSync('git', ['check-ignore', '-q', 'deployments/07-prometheusrule.yaml'], { cwd: repoRoot }).status, 0, 'the manifest is a build output, never committed')
  const file = join(repoRoot, 'deployments', '07-prometheusrule.yaml')
  if (!existsSync(file)) {
    t.fail(`${file} is missing: make build writes it from rules/`)
    return
  }
  const { renderPrometheusRule } = (await import(join(repoRoot, 'rules', 'prometheusrule.mjs'))) as { renderPrometheusRule(): string }
  t.equal(readFileSync(file, 'utf8'), renderPrometheusRule(), 'deployments/07-prometheusrule.yaml is what make build renders now (run make build)')
  const [rule] = parseYamlDocs(readFileSync(file, 'utf8'), file) as unknown as { spec: unknown }[]
  t.strictSame(rule?.spec, parse(rulesText), 'its spec is the rules file')
})
