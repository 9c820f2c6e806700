// test/support/prometheus.ts starts a real Prometheus that scrapes real
// targets, evaluates rule files (with `for:` shortened on request), reports
// parse errors, and leaves nothing behind when stopped.
import t from 'tap'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { prometheusMissing, startPrometheus } from '../support/prometheus.js'

const missing = prometheusMissing()
if (missing) {
  t.plan(0, `skipped: ${missing}`)
} else {
  const scratch = mkdtempSync(join(tmpdir(), 'kubepulse-rules-'))
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }))
  const ruleFile = join(scratch, 'helper-rules.yaml')
  writeFileSync(
    ruleFile,
    [
      'groups:',
      '  - name: helper',
      '    rules:',
      '      - record: helper:prometheus_up',
      '        expr: up{job="prometheus"}',
      '      - alert: HelperSelfScraped',
      '        expr: up{job="prometheus"} == 1',
      '        for: 1h # rewritten by ruleFor',
      '        labels: { severity: none }',
      '',
    ].join('\n'),
  )

  const prom = await startPrometheus({ scrapeSelf: true, ruleFiles: [ruleFile], ruleFor: '1s' })
  t.teardown(() => prom.stop())

  t.test('starts on loopback and scrapes its own /metrics', async t => {
    t.match(prom.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    const targets = await prom.waitForTargetsUp('prometheus')
    t.equal(targets.length, 1)
    const build = await prom.waitForQuery('prometheus_build_info')
    t.ok(build[0]?.metric.version, 'a real metric with a version label came from the scrape')
    t.equal(build[0]?.metric.job, 'prometheus')
    t.ok((await prom.metricNames()).includes('prometheus_tsdb_head_series'))
  })

  t.test('evaluates rule files every second', async t => {
    const recorded = await prom.waitForQuery('helper:prometheus_up')
    t.equal(recorded[0]?.value[1], '1')
    const alert = await prom.waitForAlert('HelperSelfScraped', { state: 'firing', timeoutMs: 30_000 })
    t.equal(alert.labels.severity, 'none', 'fired within seconds although the file says for: 1h')
  })

  t.test('tells parse errors from good expressions', async t => {
    t.equal(await prom.parseError('sum by (job) (rate(up[1m]))'), undefined)
    t.match(await prom.parseError('sum(rate(up[1m])'), /bad_data/)
    t.match(await prom.parseError('rate(up)'), /bad_data/, 'type errors count too')
  })

  t.test('stop() ends the server and removes its files', async t => {
    const other = await startPrometheus()
    t.ok(existsSync(other.dir))
    await other.stop()
    t.notOk(other.running, 'process exited')
    t.notOk(existsSync(other.dir), 'temporary directory removed')
    await t.rejects(fetch(`${other.url}/-/ready`), 'port closed')
  })
}
