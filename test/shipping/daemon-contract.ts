// What the shipping files rely on from the daemon: its flags and metric names
// (fixed in issue 5's brief). Tests check manifests, chart, rules and
// dashboards against these lists so a typo cannot ship.
import { FLAGS } from '../../src/config.js'

/** Long flags of `kubepulse run`, without the leading dashes: the daemon's own table. */
export const daemonFlags: ReadonlySet<string> = new Set(FLAGS.map(f => f.name))

export const daemonSubcommands = new Set(['run', 'check'])

/** Metric families the daemon exports (histograms by their base name). */
export const daemonHistograms = new Set([
  'kubepulse_tcp_latency_seconds',
  'kubepulse_tcp_connection_duration_seconds',
  'kubepulse_dns_latency_seconds',
])

export const daemonMetrics = new Set([
  'kubepulse_tcp_connections_total',
  'kubepulse_dns_queries_total',
  'kubepulse_dns_responses_total',
  'kubepulse_dns_malformed_total',
  'kubepulse_dns_domains_folded_total',
  'kubepulse_events_total',
  'kubepulse_events_dropped_total',
  'kubepulse_probe_info',
  'kubepulse_probe_attached',
  'kubepulse_ready',
  'kubepulse_build_info',
  'kubepulse_metadata_cache_hits_total',
  'kubepulse_metadata_cache_misses_total',
  'kubepulse_metadata_cache_size',
  'kubepulse_kube_watch_events_total',
  'kubepulse_kube_watch_errors_total',
  'kubepulse_kube_watch_last_sync_timestamp_seconds',
  'kubepulse_kube_watch_synced',
  // The posture audit (src/audit/) and the drift its sibling serves (issue 15).
  'kubepulse_audit_violations',
  'kubepulse_audit_pods',
  'kubepulse_policy_drift_flows_total',
  'kubepulse_seccomp_drift_syscalls',
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  ...[...daemonHistograms].flatMap(h => [`${h}_bucket`, `${h}_sum`, `${h}_count`]),
])

/** Series Prometheus itself makes for every target. */
const scrapeSeries = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped'])

/** True if a series name in a query is something the daemon (or the scrape) produces. */
export function isKnownSeries(name: string): boolean {
  return daemonMetrics.has(name) || scrapeSeries.has(name) || name.startsWith('nodejs_')
}

const promqlWords = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset',
])

/**
 * Metric names a PromQL expression selects: identifiers not followed by "("
 * (functions) that are not keywords or label names inside braces/by().
 * Good enough for our own expressions; not a PromQL parser.
 */
export function seriesNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // string literals
    .replace(/\{[^}]*\}/g, '{}') // label matchers
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // label lists
    .replace(/\[[^\]]*\]/g, '[]') // ranges
    .replace(/\boffset\s+-?[0-9smhdwy]+/g, '') // offset 15m
  const names = new Set<string>()
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0]
    const after = stripped.slice((m.index ?? 0) + word.length).trimStart()
    if (after.startsWith('(')) continue
    if (promqlWords.has(word)) continue
    if (/^(?:Inf|NaN|e\d*)$/i.test(word)) continue
    names.add(word)
  }
  return [...names]
}
