// A stand-in for the daemon's /metrics: every metric family of the contract
// (test/shipping/daemon-contract.ts), counters growing at fixed rates, in
// Prometheus text format. It lets the rules and dashboards be run against a
// real Prometheus before (and independently of) the real daemon; the
// end-to-end test replaces it with the daemon itself.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

type Labels = Record<string, string>

export interface FakeSeries {
  /** Counter: per-second rate. Gauge: the value. */
  counters?: { name: string; labels: Labels; perSecond: number }[]
  gauges?: { name: string; labels: Labels; value: number }[]
  /** Histograms: observations per second into each bucket upper bound (seconds, "+Inf" last). */
  histograms?: { name: string; labels: Labels; perSecondByBucket: [string, number][] }[]
}

const fmt = (labels: Labels) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)
  return parts.length ? `{${parts.join(',')}}` : ''
}

export function exposition(series: FakeSeries, elapsedSeconds: number): string {
  const lines: string[] = []
  const typed = new Set<string>()
  const type = (name: string, t: string) => {
    if (typed.has(name)) return
    typed.add(name)
    lines.push(`# HELP ${name} synthetic`, `# TYPE ${name} ${t}`)
  }
  for (const c of series.counters ?? []) {
    type(c.name, 'counter')
    lines.push(`${c.name}${fmt(c.labels)} ${Math.floor(c.perSecond * elapsedSeconds)}`)
  }
  for (const g of series.gauges ?? []) {
    type(g.name, 'gauge')
    lines.push(`${g.name}${fmt(g.labels)} ${g.value}`)
  }
  for (const h of series.histograms ?? []) {
    type(h.name, 'histogram')
    let cumulative = 0
    let sum = 0
    for (const [le, perSecond] of h.perSecondByBucket) {
      cumulative += Math.floor(perSecond * elapsedSeconds)
      sum += Math.floor(perSecond * elapsedSeconds) * (le === '+Inf' ? 2 : Number(le))
      lines.push(`${h.name}_bucket${fmt({ ...h.labels, le })} ${cumulative}`)
    }
    lines.push(`${h.name}_sum${fmt(h.labels)} ${sum}`, `${h.name}_count${fmt(h.labels)} ${cumulative}`)
  }
  return `${lines.join('\n')}\n`
}

export interface FakeExporter {
  address: string
  close(): Promise<void>
}

export async function startFakeExporter(series: FakeSeries): Promise<FakeExporter> {
  const started = Date.now()
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
    // Start as if a minute had already passed, so counters are well above zero.
    res.end(exposition(series, 60 + (Date.now() - started) / 1000))
  })
  await new Promise<void>(done => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as AddressInfo
  return {
    address: `127.0.0.1:${port}`,
    close: () => new Promise<void>(done => server.close(() => done())),
  }
}

const buckets = (bounds: string[], at: string, perSecond: number): [string, number][] =>
  bounds.map(b => [b, b === at ? perSecond : 0])

const latencyBounds = ['0.0001', '0.001', '0.01', '0.1', '0.5', '1', '+Inf']

/**
 * One node's worth of metrics: shop/checkout fails a third of its DNS
 * lookups (SERVFAIL), shop/frontend only gets search-path NXDOMAINs,
 * shop/search resolves slowly, shop/cart quickly; `dropping` makes the
 * kernel lose DNS events.
 */
export function nodeSeries(node: string, { ready = true, dropping = false } = {}): FakeSeries {
  const w = (namespace: string, workload: string) => ({ namespace, workload, pod: `${workload}-${node}`, node })
  return {
    counters: [
      { name: 'kubepulse_tcp_connections_total', labels: { ...w('shop', 'checkout'), result: 'established' }, perSecond: 20 },
      { name: 'kubepulse_tcp_connections_total', labels: { ...w('shop', 'checkout'), result: 'refused' }, perSecond: 2 },
      { name: 'kubepulse_dns_queries_total', labels: { ...w('shop', 'checkout'), domain: 'example.com', qtype: 'A' }, perSecond: 15 },
      { name: 'kubepulse_dns_queries_total', labels: { ...w('shop', 'frontend'), domain: 'cluster.local', qtype: 'A' }, perSecond: 30 },
      { name: 'kubepulse_dns_responses_total', labels: { ...w('shop', 'checkout'), rcode: 'NOERROR' }, perSecond: 10 },
      { name: 'kubepulse_dns_responses_total', labels: { ...w('shop', 'checkout'), rcode: 'SERVFAIL' }, perSecond: 5 },
      { name: 'kubepulse_dns_responses_total', labels: { ...w('shop', 'frontend'), rcode: 'NOERROR' }, perSecond: 10 },
      { name: 'kubepulse_dns_responses_total', labels: { ...w('shop', 'frontend'), rcode: 'NXDOMAIN' }, perSecond: 20 },
      { name: 'kubepulse_dns_malformed_total', labels: {}, perSecond: 0.5 },
      { name: 'kubepulse_dns_domains_folded_total', labels: {}, perSecond: 0.5 },
      { name: 'kubepulse_events_total', labels: { type: 'tcp' }, perSecond: 50 },
      { name: 'kubepulse_events_total', labels: { type: 'dns' }, perSecond: 60 },
      { name: 'kubepulse_events_dropped_total', labels: { type: 'tcp' }, perSecond: 0 },
      { name: 'kubepulse_events_dropped_total', labels: { type: 'dns' }, perSecond: dropping ? 5 : 0 },
      { name: 'kubepulse_metadata_cache_hits_total', labels: {}, perSecond: 90 },
      { name: 'kubepulse_metadata_cache_misses_total', labels: {}, perSecond: 10 },
      { name: 'kubepulse_kube_watch_events_total', labels: { type: 'ADDED' }, perSecond: 0.2 },
      { name: 'kubepulse_kube_watch_errors_total', labels: {}, perSecond: 0.1 },
      { name: 'process_cpu_seconds_total', labels: {}, perSecond: 0.05 },
    ],
    gauges: [
      { name: 'kubepulse_build_info', labels: { version: '0.1.0', node }, value: 1 },
      { name: 'kubepulse_ready', labels: {}, value: ready ? 1 : 0 },
      { name: 'kubepulse_probe_info', labels: { probe: 'tcp', hook: 'tp_btf/inet_sock_set_state' }, value: 1 },
      { name: 'kubepulse_probe_info', labels: { probe: 'dns', hook: 'cgroup_skb' }, value: 1 },
      { name: 'kubepulse_probe_attached', labels: { probe: 'tcp' }, value: 1 },
      { name: 'kubepulse_probe_attached', labels: { probe: 'dns' }, value: ready ? 1 : 0 },
      { name: 'kubepulse_metadata_cache_size', labels: {}, value: 42 },
      { name: 'kubepulse_kube_watch_synced', labels: {}, value: 1 },
      { name: 'kubepulse_kube_watch_last_sync_timestamp_seconds', labels: {}, value: Math.floor(Date.now() / 1000) },
      { name: 'process_resident_memory_bytes', labels: {}, value: 80e6 },
      { name: 'nodejs_heap_size_used_bytes', labels: {}, value: 30e6 },
    ],
    histograms: [
      { name: 'kubepulse_tcp_latency_seconds', labels: w('shop', 'checkout'), perSecondByBucket: buckets(latencyBounds, '0.001', 20) },
      { name: 'kubepulse_tcp_connection_duration_seconds', labels: w('shop', 'checkout'), perSecondByBucket: buckets(latencyBounds, '1', 20) },
      { name: 'kubepulse_dns_latency_seconds', labels: w('shop', 'search'), perSecondByBucket: buckets(latencyBounds, '1', 5) },
      { name: 'kubepulse_dns_latency_seconds', labels: w('shop', 'cart'), perSecondByBucket: buckets(latencyBounds, '0.01', 5) },
    ],
  }
}
