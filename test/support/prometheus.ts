// A real Prometheus server for tests: the Debian package's binary, on a free
// loopback port, with a temporary config and TSDB that stop() removes.
//
//   const reason = prometheusMissing()
//   if (reason) { t.skip(reason, () => {}); return }
//   const prom = await startPrometheus({
//     scrape: [{ job: 'kubepulse', targets: [`127.0.0.1:${port}`] }],
//     ruleFiles: ['rules/kubepulse-alerts.yaml'],
//     ruleFor: '2s', // the rules' own `for:` (minutes) is proven by promtool tests
//   })
//   t.teardown(() => prom.stop())
//   await prom.waitForTargetsUp('kubepulse')
//   await prom.waitForAlert('KubePulseDNSFailureRatioHigh', { state: 'firing' })
//
// Scrape and rule evaluation run every second. Jobs scrape with
// honor_labels: true, like the ServiceMonitor, so the daemon's own
// namespace/pod/node labels survive as they do in a cluster.
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parse, stringify } from 'yaml'

export const defaultPrometheusBinary = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus'

export interface ScrapeJob {
  /** job label of the scraped series; entries sharing a job are merged (one per node, say). */
  job: string
  /** host:port of each target. */
  targets: string[]
  metricsPath?: string
  /** Extra target labels, like the ServiceMonitor's relabelings add (e.g. node). */
  labels?: Record<string, string>
  /** Default true, as in deployments/06-servicemonitor.yaml. */
  honorLabels?: boolean
  /** More scrape_config keys, as Prometheus spells them (scheme, tls_config, basic_auth). */
  scrapeConfig?: Record<string, unknown>
}

export interface PrometheusOptions {
  scrape?: ScrapeJob[]
  /** Also scrape this Prometheus's own /metrics as job "prometheus". */
  scrapeSelf?: boolean
  /** Rule files to load (paths relative to the working directory or absolute). */
  ruleFiles?: string[]
  /**
   * Replace every alerting rule's `for:` with this duration (e.g. "1s"), so a
   * test sees `firing` within seconds. The rule files are rewritten into the
   * temporary directory; the originals are untouched.
   */
  ruleFor?: string
  scrapeIntervalSeconds?: number
  evaluationIntervalSeconds?: number
  binary?: string
  startTimeoutMs?: number
}

export interface Sample {
  metric: Record<string, string>
  value: [number, string]
}

export interface Alert {
  labels: Record<string, string>
  annotations: Record<string, string>
  state: 'pending' | 'firing' | 'inactive'
  activeAt?: string
  value: string
}

export interface Target {
  labels: Record<string, string>
  scrapeUrl: string
  health: 'up' | 'down' | 'unknown'
  lastError: string
}

interface ApiResponse<T> {
  status: 'success' | 'error'
  data?: T
  errorType?: string
  error?: string
}

export class PrometheusApiError extends Error {
  constructor(
    readonly errorType: string,
    message: string,
  ) {
    super(message)
  }
}

/** undefined if the binary can run here, else a reason to print when skipping. */
export function prometheusMissing(binary = defaultPrometheusBinary): string | undefined {
  try {
    accessSync(binary, constants.X_OK)
    return undefined
  } catch {
    return `${binary} not found or not executable (apt-get install prometheus, or set PROMETHEUS_BIN)`
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => {
        if (address && typeof address === 'object') resolvePort(address.port)
        else reject(new Error('no port from listen(0)'))
      })
    })
  })
}

function rewriteRuleFile(source: string, dir: string, index: number, ruleFor: string | undefined): string {
  if (ruleFor === undefined) return resolve(source)
  const doc = parse(readFileSync(source, 'utf8')) as { groups?: { rules?: { alert?: string; for?: string }[] }[] }
  for (const group of doc.groups ?? []) {
    for (const rule of group.rules ?? []) if (rule.alert !== undefined) rule.for = ruleFor
  }
  const target = join(dir, `rules-${index}-${basename(source)}`)
  writeFileSync(target, stringify(doc))
  return target
}

export class Prometheus {
  readonly url: string
  private exited = false
  private readonly exitPromise: Promise<void>

  constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly dir: string,
    private readonly logLines: string[],
  ) {
    this.url = `http://127.0.0.1:${port}`
    this.exitPromise = new Promise(done =>
      child.once('exit', () => {
        this.exited = true
        done()
      }),
    )
  }

  get running(): boolean {
    return !this.exited
  }

  /** The server's log so far (kept for error messages). */
  log(): string {
    return this.logLines.join('\n')
  }

  async api<T>(path: string, params: Record<string, string | string[]> = {}): Promise<T> {
    const query = new URLSearchParams()
    for (const [k, v] of Object.entries(params)) for (const one of [v].flat()) query.append(k, one)
    const res = await fetch(`${this.url}/api/v1/${path}?${query}`)
    const text = await res.text()
    let json: ApiResponse<T>
    try {
      json = JSON.parse(text) as ApiResponse<T>
    } catch {
      throw new Error(`${path}: HTTP ${res.status}: ${text.slice(0, 200)}`)
    }
    if (json.status !== 'success') {
      throw new PrometheusApiError(json.errorType ?? 'unknown', `${path}: ${json.errorType}: ${json.error}`)
    }
    return json.data as T
  }

  /** Instant query; throws PrometheusApiError (errorType "bad_data" for a parse error). */
  async query(expr: string, time: Date = new Date()): Promise<Sample[]> {
    const data = await this.api<{ resultType: string; result: unknown }>('query', {
      query: expr,
      time: String(time.getTime() / 1000),
    })
    if (data.resultType === 'vector') return data.result as Sample[]
    if (data.resultType === 'scalar') return [{ metric: {}, value: data.result as [number, string] }]
    throw new Error(`query ${expr}: unexpected result type ${data.resultType}`)
  }

  /** undefined if Prometheus accepts the expression, else its error message. */
  async parseError(expr: string): Promise<string | undefined> {
    try {
      await this.api('query', { query: expr, time: String(Date.now() / 1000) })
      return undefined
    } catch (err) {
      if (err instanceof PrometheusApiError && err.errorType === 'bad_data') return err.message
      throw err
    }
  }

  async alerts(): Promise<Alert[]> {
    return (await this.api<{ alerts: Alert[] }>('alerts')).alerts
  }

  async targets(): Promise<Target[]> {
    return (await this.api<{ activeTargets: Target[] }>('targets')).activeTargets
  }

  /** Names of all series Prometheus has stored so far. */
  async metricNames(): Promise<string[]> {
    return this.api<string[]>('label/__name__/values')
  }

  /** Polls check() until it returns something other than undefined/false. */
  async waitFor<T>(
    what: string,
    check: () => Promise<T | undefined | false>,
    { timeoutMs = 60_000, intervalMs = 500 } = {},
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs
    let lastError: unknown
    for (;;) {
      if (this.exited) throw new Error(`prometheus exited while waiting for ${what}\n${this.log()}`)
      try {
        const result = await check()
        if (result !== undefined && result !== false) return result
      } catch (err) {
        lastError = err
      }
      if (Date.now() > deadline) {
        const why = lastError ? ` (last error: ${String(lastError)})` : ''
        throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${why}`)
      }
      await sleep(intervalMs)
    }
  }

  /** Waits until the query returns at least one sample, and returns them. */
  async waitForQuery(expr: string, opts?: { timeoutMs?: number }): Promise<Sample[]> {
    return this.waitFor(`samples for ${expr}`, async () => {
      const samples = await this.query(expr)
      return samples.length > 0 && samples
    }, opts)
  }

  /** Waits until every target (of job, if given) has been scraped successfully. */
  async waitForTargetsUp(job?: string, opts?: { timeoutMs?: number }): Promise<Target[]> {
    return this.waitFor(`targets of ${job ?? 'every job'} up`, async () => {
      const targets = (await this.targets()).filter(t => job === undefined || t.labels.job === job)
      return targets.length > 0 && targets.every(t => t.health === 'up') && targets
    }, opts)
  }

  /** Waits for an alert with this name (and labels, if given) in the given state. */
  async waitForAlert(
    name: string,
    { state = 'firing', labels = {}, timeoutMs }: { state?: Alert['state']; labels?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<Alert> {
    return this.waitFor(`alert ${name} ${JSON.stringify(labels)} ${state}`, async () =>
      (await this.alerts()).find(
        a => a.labels.alertname === name && a.state === state && Object.entries(labels).every(([k, v]) => a.labels[k] === v),
      ),
    { timeoutMs })
  }

  /** SIGTERM (SIGKILL after 10 s), then removes the temporary directory. */
  async stop(): Promise<void> {
    if (!this.exited) {
      this.child.kill('SIGTERM')
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 10_000)
      await this.exitPromise
      clearTimeout(killer)
    }
    rmSync(this.dir, { recursive: true, force: true })
  }
}

const liveServers = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of liveServers) child.kill('SIGKILL')
})

// Entries with the same job name become one scrape config with one static
// config each (Prometheus refuses duplicate job names), e.g. one per node.
function scrapeConfigs(jobs: ScrapeJob[]): unknown[] {
  const byName = new Map<string, { job_name: string; honor_labels: boolean; metrics_path: string; static_configs: unknown[]; [key: string]: unknown }>()
  for (const job of jobs) {
    const honor = job.honorLabels ?? true
    const path = job.metricsPath ?? '/metrics'
    let config = byName.get(job.job)
    if (!config) {
      config = { ...job.scrapeConfig, job_name: job.job, honor_labels: honor, metrics_path: path, static_configs: [] }
      byName.set(job.job, config)
    } else if (config.honor_labels !== honor || config.metrics_path !== path) {
      throw new Error(`job ${job.job}: entries differ in honorLabels or metricsPath`)
    }
    config.static_configs.push({ targets: job.targets, labels: job.labels ?? {} })
  }
  return [...byName.values()]
}

async function startOnce(opts: PrometheusOptions, port: number): Promise<Prometheus> {
  const binary = opts.binary ?? defaultPrometheusBinary
  const scrapeInterval = `${opts.scrapeIntervalSeconds ?? 1}s`
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-prometheus-'))
  const jobs: ScrapeJob[] = [...(opts.scrape ?? [])]
  if (opts.scrapeSelf) jobs.push({ job: 'prometheus', targets: [`127.0.0.1:${port}`], honorLabels: false })
  const config = {
    global: {
      scrape_interval: scrapeInterval,
      scrape_timeout: scrapeInterval,
      evaluation_interval: `${opts.evaluationIntervalSeconds ?? 1}s`,
    },
    rule_files: (opts.ruleFiles ?? []).map((f, i) => rewriteRuleFile(f, dir, i, opts.ruleFor)),
    scrape_configs: scrapeConfigs(jobs),
  }
  const configFile = join(dir, 'prometheus.yml')
  writeFileSync(configFile, stringify(config))

  const child = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=info',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  liveServers.add(child)
  child.once('exit', () => liveServers.delete(child))
  const logLines: string[] = []
  const keep = (chunk: Buffer) => {
    logLines.push(...chunk.toString().trimEnd().split('\n'))
    if (logLines.length > 300) logLines.splice(0, logLines.length - 300)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  child.once('error', err => logLines.push(`spawn error: ${err.message}`))

  const prom = new Prometheus(child, port, dir, logLines)
  try {
    await prom.waitFor(
      `${prom.url}/-/ready`,
      async () => (await fetch(`${prom.url}/-/ready`)).ok,
      { timeoutMs: opts.startTimeoutMs ?? 30_000, intervalMs: 100 },
    )
    return prom
  } catch (err) {
    const log = prom.log()
    await prom.stop()
    throw Object.assign(new Error(`prometheus did not become ready: ${(err as Error).message}\n${log}`), {
      addressInUse: /address already in use/.test(log),
    })
  }
}

/** Starts Prometheus and resolves once /-/ready answers 200. */
export async function startPrometheus(opts: PrometheusOptions = {}): Promise<Prometheus> {
  // freePort() can race with another process taking the port; try a few.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts, await freePort())
    } catch (err) {
      if (attempt >= 3 || !(err as { addressInUse?: boolean }).addressInUse) throw err
    }
  }
}
