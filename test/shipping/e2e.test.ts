// End to end on this machine: the real daemon (dist/cmd/kubepulse.js, BPF
// probes on this kernel), a real Prometheus scraping it every second with
// rules/kubepulse-alerts.yaml loaded, and real traffic:
//  - a "pod" the daemon resolves like a kubelet's — a kubelet-shaped cgroup
//    below the cgroup v2 mount, served as a Deployment's pod (shop/checkout)
//    by the test API server the daemon watches through --kubeconfig — runs
//    dig (NOERROR, NXDOMAIN, SERVFAIL, unanswered → timeout) and TCP connects
//    (established to a listener, refused by a closed port);
//  - this process sends malformed DNS packets to the DNS port.
// Then, through Prometheus's HTTP API:
//  - every PromQL expression of dashboards/kubepulse.json returns data, with
//    the variables at "All" and set to the pod's node/namespace/pod;
//  - the dashboard variables find the node, namespace and pod;
//  - KubePulseDNSFailureRatioHigh fires for shop/checkout (for: shortened;
//    the real durations are proven by promtool tests) while the node-level
//    alerts stay silent for a healthy daemon;
// and `promtool check metrics` finds no lint problem in the daemon's /metrics.
//
// Excluded dashboard expressions: none. The metadata-cache and pod-watch
// panels need Kubernetes mode, which is why the daemon runs against the test
// API server; malformed-DNS needs a malformed packet, which is sent.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import { startDaemon, type RunningDaemon } from '../support/daemon.js'
import { startDnsServer } from '../support/dns-server.js'
import { TestKubeApiServer } from '../support/kube-api-server.js'
import { writeKubeconfig } from '../support/kubeconfig.js'
import { parseMetrics, sumOf } from '../support/metrics.js'
import { cgroup2Mount, PodCgroups } from '../support/pod-cgroups.js'
import { needsBpf } from '../support/privileges.js'
import { freePort, prometheusMissing, startPrometheus, type Prometheus, type Sample } from '../support/prometheus.js'
import { loadDashboard, trafficQueries, variableSelector } from './dashboard.js'
import { makeFakePod, startPodTraffic } from './e2e-pod.js'
import { repoRoot } from './k8s.js'

const NODE = 'e2e-node'
const promtool = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool'

function toolsMissing(): string | undefined {
  const prom = prometheusMissing()
  if (prom) return prom
  if (spawnSync(promtool, ['--version']).status !== 0) return `${promtool} not found (apt-get install prometheus, or set PROMTOOL_BIN)`
  if (spawnSync('dig', ['-v']).error) return 'dig not found (apt-get install dnsutils)'
  if (spawnSync('bash', ['-c', 'true']).error) return 'bash not found'
  if (cgroup2Mount() === undefined) return 'no cgroup v2 mount (the DNS probe and the pod cgroup need one)'
  return undefined
}

function skipReason(): { skip: string | false } {
  const bpf = needsBpf()
  if (bpf.skip) return bpf
  const missing = toolsMissing()
  if (missing) process.stdout.write(`# skipping: ${missing}\n`)
  return { skip: missing ?? false }
}

/** A TCP listener for the pod's connects (which close at once; so does the server's end). */
async function startListener(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer(conn => {
    sockets.add(conn)
    conn.on('error', () => {})
    conn.on('close', () => sockets.delete(conn))
    conn.resume()
  })
  await new Promise<void>(done => server.listen(0, '127.0.0.1', done))
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>(done => {
        for (const s of sockets) s.destroy()
        server.close(() => done())
      }),
  }
}

t.test('real daemon, real Prometheus, real traffic', { ...skipReason(), timeout: 120_000 }, async t => {
  const started = Date.now()
  const cleanups: (() => Promise<unknown> | unknown)[] = []
  // One teardown, in reverse order of start, so the traffic stops first and
  // the cgroup is removed only once its processes are gone.
  t.teardown(async () => {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup()
      } catch (err) {
        console.error(`# cleanup failed: ${String(err)}`)
      }
    }
  })

  const dns = await startDnsServer()
  cleanups.push(() => dns.close())
  const listener = await startListener()
  cleanups.push(() => listener.close())
  const closedPort = await freePort()

  const api = new TestKubeApiServer()
  await api.start()
  cleanups.push(() => api.stop())
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-e2e-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const kubeconfig = writeKubeconfig(dir, api.url, api.token)

  const cgroups = new PodCgroups('kubepulse-e2e')
  cleanups.push(() => cgroups.cleanup())
  const pod = makeFakePod(cgroups, { namespace: 'shop', workload: 'checkout', node: NODE })
  api.addPod(pod.object)

  const daemon: RunningDaemon = await startDaemon([
    '--dns-ports', `53,${dns.port}`,
    '--dns-timeout', '2s',
    '--node-name', NODE,
    '--kubeconfig', kubeconfig,
  ])
  cleanups.push(async () => {
    const code = await daemon.stop()
    if (code !== 0) console.error(`# daemon exited with ${code}`)
  })
  await daemon.waitReady(30_000)
  const modeLog = daemon.logs.find(l => l.msg === 'pod metadata from the Kubernetes API')
  t.ok(modeLog, 'the daemon runs in Kubernetes mode, watching the test API server')

  const prom: Prometheus = await startPrometheus({
    // As the ServiceMonitor leaves it: job kubepulse, honor_labels, and the
    // daemon pod's own namespace/pod/node on the target.
    scrape: [{ job: 'kubepulse', targets: [`127.0.0.1:${daemon.port}`], labels: { node: NODE, namespace: 'kubepulse', pod: 'kubepulse-e2e' } }],
    ruleFiles: [join(repoRoot, 'rules', 'kubepulse-alerts.yaml')],
    ruleFor: '1s',
  })
  cleanups.push(() => prom.stop())

  const traffic = await startPodTraffic(pod, { dnsPort: dns.port, listenPort: listener.port, closedPort })
  cleanups.push(() => traffic.stop())

  // Malformed DNS from a host socket, every second while the test runs: a
  // 5-byte message is shorter than a DNS header.
  const garbage = createSocket('udp4')
  const sendGarbage = () => garbage.send(Buffer.from([0x13, 0x37, 0x01, 0x00, 0x00]), dns.port, '127.0.0.1')
  sendGarbage()
  const garbageTimer = setInterval(sendGarbage, 1000)
  cleanups.push(() => {
    clearInterval(garbageTimer)
    garbage.close()
  })

  await prom.waitForTargetsUp('kubepulse', { timeoutMs: 20_000 })
  const podLabels = { namespace: pod.namespace, workload: pod.workload, pod: pod.name, node: NODE }
  const sel = `namespace="${pod.namespace}", workload="${pod.workload}", pod="${pod.name}", node="${NODE}"`

  await t.test('the pod traffic reaches Prometheus with the pod labels', async t => {
    const byResult = await prom.waitFor('established and refused connects of the pod', async () => {
      const s = await prom.query(`sum by (result) (kubepulse_tcp_connections_total{${sel}})`)
      const results = s.map(x => x.metric.result).sort()
      return results.includes('established') && results.includes('refused') && results
    }, { timeoutMs: 30_000 })
    t.ok(byResult.includes('established') && byResult.includes('refused'), `connection results: ${byResult.join(', ')}`)
    const rcodes = await prom.waitFor('NOERROR, NXDOMAIN, SERVFAIL and timeout responses of the pod', async () => {
      const s = await prom.query(`sum by (rcode) (kubepulse_dns_responses_total{${sel}})`)
      const got = s.map(x => x.metric.rcode).sort()
      return ['NOERROR', 'NXDOMAIN', 'SERVFAIL', 'timeout'].every(r => got.includes(r)) && got
    }, { timeoutMs: 30_000 })
    t.ok(rcodes, `rcodes: ${rcodes.join(', ')}`)
    const domains = (await prom.query(`sum by (domain, qtype) (kubepulse_dns_queries_total{${sel}})`)).map(
      x => `${x.metric.domain}/${x.metric.qtype}`,
    )
    for (const want of ['example.com/A', 'example.com/AAAA', 'example.org/A', 'example.net/A']) {
      t.ok(domains.includes(want), `queries counted for ${want}`)
    }
    const malformed = await prom.waitForQuery('sum by (reason) (kubepulse_dns_malformed_total) > 0', { timeoutMs: 20_000 })
    t.ok(malformed.length > 0, `the 5-byte packets are counted as malformed (${malformed.map(s => s.metric.reason).join(', ')})`)
    // honor_labels keeps an empty namespace/pod (host traffic) empty instead
    // of filling in the target's, which would blame KubePulse's own pod.
    const misattributed = await prom.query('{__name__=~"kubepulse_(tcp_connections|dns_responses)_total", pod="kubepulse-e2e"}')
    t.same(misattributed.map(s => s.metric), [], 'host traffic is not labelled with the daemon pod')
    const host = await prom.query('sum(kubepulse_tcp_connections_total{namespace=""})')
    t.ok(host.length === 1 && Number(host[0]!.value[1]) > 0, 'host traffic (Prometheus scraping, the pod watch) keeps empty pod labels')
    const ready = await prom.query('kubepulse_ready')
    t.same(ready.map(s => [s.metric.namespace, s.metric.node, s.value[1]]), [['kubepulse', NODE, '1']], 'self metrics take the target labels')
  })

  await t.test('the dashboard variables find the node, namespace and pod', async t => {
    const dashboard = loadDashboard()
    const wanted: Record<string, string> = { node: NODE, namespace: pod.namespace, pod: pod.name }
    for (const v of dashboard.templating.list) {
      const parsed = variableSelector(v)
      if (!parsed) continue
      const values = (await prom.query(`count by (${parsed.label}) (${parsed.selector})`)).map(s => s.metric[parsed.label])
      t.ok(values.includes(wanted[v.name]), `$${v.name} offers ${wanted[v.name]} (got ${values.join(', ')})`)
    }
  })

  // Every expression must have data, and a finite value (no NaN from 0/0 or
  // from a histogram without observations in the window), within a bounded
  // time: rate() over 30 s needs two scrapes in the window, the histograms
  // and ratios need the pod's connections and queries.
  const checkPanels = async (t: Test, values: Record<string, string>, timeoutMs: number) => {
    const queries = trafficQueries(values, '30s')
    const results = new Map<string, { samples: Sample[]; error?: string }>()
    const good = (r: { samples: Sample[] } | undefined) => r !== undefined && r.samples.some(s => Number.isFinite(Number(s.value[1])))
    const deadline = Date.now() + timeoutMs
    for (;;) {
      for (const q of queries) {
        const key = `${q.panel}/${q.refId}`
        if (good(results.get(key))) continue
        results.set(key, await prom.query(q.expr).then(samples => ({ samples }), (err: unknown) => ({ samples: [], error: String(err) })))
      }
      if (queries.every(q => good(results.get(`${q.panel}/${q.refId}`))) || Date.now() > deadline) break
      await sleep(1000)
    }
    for (const q of queries) {
      const r = results.get(`${q.panel}/${q.refId}`)!
      const values = r.samples.map(s => s.value[1]).join(', ')
      t.ok(good(r), `"${q.panel}" ${q.refId} has data: ${r.samples.length} series (${values.slice(0, 80)})${r.error ? ` ${r.error}` : ''}`, {
        expr: q.expr,
      })
    }
  }

  await t.test('every dashboard expression returns data (variables at All)', async t => {
    await checkPanels(t, {}, 40_000)
  })

  await t.test('every dashboard expression returns data (the pod selected)', async t => {
    await checkPanels(t, { node: NODE, namespace: pod.namespace, pod: pod.name }, 20_000)
  })

  await t.test('KubePulseDNSFailureRatioHigh fires for the pod workload', async t => {
    const alert = await prom.waitForAlert('KubePulseDNSFailureRatioHigh', {
      state: 'firing',
      labels: { namespace: pod.namespace, workload: pod.workload },
      timeoutMs: 45_000,
    })
    t.equal(alert.labels.severity, 'warning')
    t.match(alert.annotations.description, `workload\n${pod.namespace}/${pod.workload}`)
    const ratio = Number(alert.value)
    t.ok(ratio > 0.05 && ratio < 1, `failure ratio ${ratio} (SERVFAIL and timeout, not NXDOMAIN)`)
    // The guard: enough responses, and failures not counting NXDOMAIN.
    const byRcode = await prom.query(
      `sum by (rcode) (rate(kubepulse_dns_responses_total{namespace="${pod.namespace}", workload="${pod.workload}"}[5m]))`,
    )
    t.comment(`responses/s by rcode: ${byRcode.map(s => `${s.metric.rcode}=${Number(s.value[1]).toFixed(3)}`).join(' ')}`)
    const [failing] = await prom.query(
      `sum by (namespace, workload) (rate(kubepulse_dns_responses_total{namespace="${pod.namespace}", workload="${pod.workload}", rcode=~"SERVFAIL|timeout"}[5m]))`,
    )
    t.ok(failing && Number(failing.value[1]) > 0, 'SERVFAIL/timeout responses are what the alert counts')
  })

  await t.test('the node-level alerts stay silent for a healthy daemon', async t => {
    const noisy = (await prom.alerts()).filter(
      a =>
        ['KubePulseEventsDropped', 'KubePulseTargetDown', 'KubePulseTargetMissing', 'KubePulseNotReady'].includes(a.labels.alertname ?? '') ||
        (a.labels.namespace === pod.namespace && a.labels.alertname !== 'KubePulseDNSFailureRatioHigh'),
    )
    t.strictSame(noisy.map(a => `${a.labels.alertname} ${a.state}`), [], 'no drops, target up, ready, no slow DNS for the pod')
    const dropped = await prom.query(`sum(kubepulse_events_dropped_total{node="${NODE}"})`)
    t.equal(dropped[0]?.value[1], '0', 'no events dropped in the kernel')
  })

  await t.test('promtool check metrics finds no lint problem in /metrics', async t => {
    const { status, body } = await daemon.get('/metrics')
    t.equal(status, 200)
    for (const family of ['kubepulse_tcp_latency_seconds', 'kubepulse_dns_responses_total', 'kubepulse_metadata_cache_hits_total']) {
      t.match(body, `# TYPE ${family} `, `${family} is exported`)
    }
    const servfail = sumOf(parseMetrics(body), 'kubepulse_dns_responses_total', { ...podLabels, rcode: 'SERVFAIL' })
    t.ok(servfail > 0, `the pod's SERVFAIL responses are in the exposition (${servfail})`)
    const lint = spawnSync(promtool, ['check', 'metrics'], { input: body, encoding: 'utf8' })
    t.equal(lint.status, 0, `promtool exit status\n${lint.stdout}${lint.stderr}`)
    t.equal(`${lint.stdout}${lint.stderr}`.trim(), '', 'no lint output')
  })

  await traffic.stop()
  t.comment(`end to end in ${((Date.now() - started) / 1000).toFixed(1)} s`)
})
